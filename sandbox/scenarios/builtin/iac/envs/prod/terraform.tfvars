project_id = "acme-prod"
region     = "europe-west1"
