variable "env" {
  type = string
}

resource "google_compute_firewall" "db" {
  project = "acme-prod"
  name    = "${var.env}-allow-db"
  network = "prod-vpc"

  allow {
    protocol = "tcp"
    ports    = ["5432"]
  }
}

module "fw" {
  source  = "terraform-google-modules/network/google//modules/firewall-rules"
  version = "~> 9.0"

  project_id   = "acme-sandbox"
  network_name = "prod-vpc"

  rules = concat([], []) # not evaluated: zerodrift does not run functions
}
