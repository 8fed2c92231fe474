provider "google" {
  project = "acme-staging"
}

# Someone copied prod's rule here, with prod's project.
resource "google_compute_firewall" "dup" {
  project = "acme-prod"
  name    = "acme-dup"
  network = "prod-vpc"

  allow {
    protocol = "icmp"
  }
}

resource "google_compute_firewall" "staging_ssh" {
  name = "staging-ssh"

  allow {
    protocol = "tcp"
  }
}
