resource "google_compute_network" "default" {
  name = "default"
}
