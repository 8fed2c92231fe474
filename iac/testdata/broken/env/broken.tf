resource "google_compute_firewall" "oops" {
  name = "oops"
  allow {
