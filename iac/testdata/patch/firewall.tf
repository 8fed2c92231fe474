# Copyright Acme. Keep this header.

terraform {
  required_version = ">= 1.6"
}

provider "google" {
  project = "acme-prod"
}

locals {
  anywhere = "0.0.0.0/0" # do not use
}

/* An unrelated rule, oddly formatted, must not change. */
resource "google_compute_firewall" "other" {
  name="other"
  network   =  "prod-vpc"
  source_ranges = [ "0.0.0.0/0" ]
  allow { protocol = "icmp" }
}

# SSH from anywhere (INC-1).
resource "google_compute_firewall" "ssh" {
  name    = "allow-ssh" # the live name
  network = "prod-vpc"

  source_ranges = ["0.0.0.0/0", "10.0.0.0/8"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "multi" {
  name    = "allow-multi"
  network = "prod-vpc"

  source_ranges = [
    # Office.
    "198.51.100.0/24",
    "0.0.0.0/1",   # half the internet
    "128.0.0.0/1", # and the other half

    "::/0",
    local.anywhere,
  ]

  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
}

resource "google_compute_firewall" "implied" {
  name     = "allow-implied"
  network  = "prod-vpc"
  priority = 900

  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
  target_tags = ["windows"]
}

resource "google_compute_firewall" "disabled_false" {
  name     = "allow-disabled-false"
  network  = "prod-vpc"
  disabled = false

  source_ranges = [local.anywhere]

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }

  allow {
    protocol = "udp"
  }
}

resource "google_compute_firewall" "legacy_logging" {
  name           = "allow-legacy-logging"
  network        = "prod-vpc"
  enable_logging = false
  source_ranges  = ["::/0"]

  allow {
    protocol = "all"
  }
}

# Trailing comment of the file.
