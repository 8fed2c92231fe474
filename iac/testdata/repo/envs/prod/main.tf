/*
 * Production.
 */

provider "google" {
  project = var.project
}

provider "google" {
  alias   = "net"
  project = "acme-net"
}

locals {
  env = "prod"

  ci_email = "ci@${var.project}.iam.gserviceaccount.com"

  web_ports = toset(["http", "https"])

  # Humans allowed to impersonate the deployer.
  impersonators = [
    "user:carol@acme.example",
    "user:dave@acme.example",
  ]

  fw_rules = [
    {
      name   = "${local.env}-allow-db"
      ranges = ["10.0.0.0/8"]
      allow  = [{ protocol = "tcp", ports = ["5432"] }]
    },
  ]
}

module "base" {
  source  = "../../modules/base"
  project = var.project
  name    = "${var.prefix}-base"
}
