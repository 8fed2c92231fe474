provider "google" {
  project = "acme-prod"
}

resource "google_compute_firewall" "fine" {
  name = "fine"
}
