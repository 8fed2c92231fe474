resource "google_compute_firewall" "hidden" {
  name    = "acme-ssh"
  project = "acme-prod"
}
