# *.auto.tfvars come after terraform.tfvars.
prefix = "acme"
