project_id = "acme-dev"
