project = "acme-prod"
prefix  = "tfvars"
