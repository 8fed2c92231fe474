# Firewalls.

resource "google_compute_firewall" "ssh" {
  name    = "${var.prefix}-ssh"
  network = "prod-vpc"

  source_ranges = ["0.0.0.0/0"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "web" {
  for_each = local.web_ports

  name          = "allow-${each.key}"
  network       = "prod-vpc"
  source_ranges = ["0.0.0.0/0"]

  allow {
    protocol = "tcp"
  }
}

resource "google_compute_firewall" "shared" {
  provider = google.net
  name     = "shared-ssh"
  network  = "shared-vpc"

  allow {
    protocol = "tcp"
  }
}

resource "google_compute_firewall" "counted" {
  count   = 2
  name    = "counted-${count.index}"
  network = "prod-vpc"

  allow {
    protocol = "icmp"
  }
}

resource "google_compute_firewall" "dup" {
  name    = "acme-dup"
  network = "prod-vpc"

  allow {
    protocol = "icmp"
  }
}

module "fw_rules" {
  source  = "git::https://github.com/terraform-google-modules/terraform-google-network.git//modules/firewall-rules?ref=v9.1.0"

  project_id   = var.project
  network_name = "prod-vpc"

  rules = [
    {
      name   = "rules-ssh"
      ranges = ["0.0.0.0/0"]
      allow  = [{ protocol = "tcp", ports = ["22"] }]
    },
    local.fw_rules[0],
  ]
}

module "fw_vendored" {
  source = "../../vendor/terraform-google-network/modules/firewall-rules"

  project_id   = var.project
  network_name = "prod-vpc"

  ingress_rules = [{
    name          = "vendored-rdp"
    source_ranges = ["0.0.0.0/0"]
    allow         = [{ protocol = "tcp", ports = ["3389"] }]
  }]
}

module "vpc" {
  source  = "terraform-google-modules/network/google"
  version = "~> 9.0"

  project_id   = var.project
  network_name = "opaque-vpc"

  firewall_rules = [{ name = "opaque-ssh" }]
}
