# Production landing zone for acme.example.
#
# Applied by the platform team's pipeline (deployer service account); see
# ../../README.md for what is and is not managed here.

provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  # Every firewall rule name starts with its action.
  fw_prefix = "allow"

  # RFC 1918 space used inside prod-vpc.
  internal_ranges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
}
