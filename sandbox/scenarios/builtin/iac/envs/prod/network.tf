resource "google_compute_network" "prod" {
  name                    = "prod-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
}

resource "google_compute_subnetwork" "prod_ew1" {
  name                     = "prod-ew1"
  network                  = google_compute_network.prod.id
  region                   = var.region
  ip_cidr_range            = "10.10.0.0/20"
  private_ip_google_access = true
}
