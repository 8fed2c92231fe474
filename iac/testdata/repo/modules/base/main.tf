variable "project" {
  type = string
}

variable "name" {
  type = string
}

resource "google_compute_firewall" "deny" {
  project = var.project
  name    = var.name
  network = "prod-vpc"

  deny {
    protocol = "all"
  }
}
