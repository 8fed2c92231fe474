# Shared VPC host project acme-net: networks and subnets.

provider "google" {
  project = "acme-net"
  region  = "europe-west1"
}

resource "google_compute_network" "shared" {
  name                    = "shared-vpc"
  auto_create_subnetworks = false
  routing_mode            = "GLOBAL"
}

resource "google_compute_subnetwork" "app" {
  name          = "app-ew1"
  network       = google_compute_network.shared.id
  ip_cidr_range = "10.10.0.0/20"

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = "10.64.0.0/14"
  }
}

# Batch jobs: sampled lightly to keep the bill down.
resource "google_compute_subnetwork" "batch" {
  name                     = "batch-ew4"
  region                   = "europe-west4"
  network                  = google_compute_network.shared.id
  ip_cidr_range            = "10.20.0.0/20"
  private_ip_google_access = false # TODO(PLAT-77): the proxy VMs first

  log_config {
    aggregation_interval = "INTERVAL_10_MIN" # cost review 2025
    flow_sampling        = 0.1
  }
}

resource "google_compute_subnetwork" "legacy" {
  name             = "legacy-ew1"
  network          = google_compute_network.shared.id
  ip_cidr_range    = "10.30.0.0/24"
  enable_flow_logs = false
}

resource "google_compute_firewall" "iap" {
  name          = "shared-allow-iap"
  network       = google_compute_network.shared.name
  source_ranges = ["35.235.240.0/20"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

# The data platform's network, in the community module's format.
module "vpc" {
  source  = "terraform-google-modules/network/google"
  version = "~> 9.1"

  project_id   = "acme-net"
  network_name = "data-vpc"

  subnets = [
    {
      subnet_name           = "data-ew1"
      subnet_ip             = "10.40.0.0/20"
      subnet_region         = "europe-west1"
      subnet_private_access = "false"
    },
    {
      subnet_name   = "edge-ew1"
      subnet_ip     = "10.50.0.0/24"
      subnet_region = "europe-west1"
      # Flow logs were turned off in the 2025 cost review.
      subnet_flow_logs = "false"
    },
  ]
}

module "extra_subnets" {
  source  = "terraform-google-modules/network/google//modules/subnets"
  version = "~> 9.1"

  project_id   = "acme-net"
  network_name = module.vpc.network_name

  subnets = [{ subnet_name = "ops-ew1", subnet_ip = "10.60.0.0/24", subnet_region = "europe-west1" }]
}
