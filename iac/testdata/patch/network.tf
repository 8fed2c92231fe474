provider "google" {
  project = "acme-dev"
}

# Created by the project factory; replaced by dev-vpc (PLAT-412).
resource "google_compute_network" "default" {
  name                    = "default"
  auto_create_subnetworks = true
}

resource "google_compute_firewall" "default_ssh" {
  name    = "default-allow-ssh"
  network = google_compute_network.default.name

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_service_account" "ci" {
  account_id = "ci"
}

resource "google_service_account_key" "ci" {
  service_account_id = google_service_account.ci.name
}
