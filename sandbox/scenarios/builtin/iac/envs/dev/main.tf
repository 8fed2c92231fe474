# Development environment.
#
# The project still runs on the auto-mode "default" network someone created by hand;
# dev-vpc below replaces it and has not been applied yet (PLAT-412).

provider "google" {
  project = var.project_id
  region  = var.region
}

resource "google_compute_network" "dev" {
  name                    = "dev-vpc"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "dev_usc1" {
  name          = "dev-usc1"
  network       = google_compute_network.dev.id
  ip_cidr_range = "10.30.0.0/20"
}

resource "google_compute_firewall" "dev_iap" {
  name          = "dev-allow-ssh-iap"
  network       = google_compute_network.dev.self_link
  source_ranges = ["35.235.240.0/20"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
