# Firewall rules of prod-vpc.

locals {
  # Rules every VPC gets. Keyed by rule name.
  baseline_rules = {
    "allow-ssh-iap" = {
      ranges = [var.iap_range]
      allow  = [{ protocol = "tcp", ports = ["22", "3389"] }]
    }
    "allow-internal" = {
      ranges = local.internal_ranges
      allow = [
        { protocol = "tcp", ports = [] },
        { protocol = "udp", ports = [] },
        { protocol = "icmp", ports = [] },
      ]
    }
  }
}

resource "google_compute_firewall" "baseline" {
  for_each = local.baseline_rules

  name          = each.key
  network       = google_compute_network.prod.self_link
  direction     = "INGRESS"
  source_ranges = each.value.ranges

  dynamic "allow" {
    for_each = each.value.allow
    content {
      protocol = allow.value.protocol
      ports    = allow.value.ports
    }
  }
}

# Debug access for the March incident. Remove after INC-2231 is closed.
resource "google_compute_firewall" "ssh_world" {
  name        = "${local.fw_prefix}-ssh-world"
  description = "temporary: debug access"
  network     = google_compute_network.prod.self_link
  direction   = "INGRESS"

  source_ranges = ["0.0.0.0/0"]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "deny_all_ingress" {
  name          = "deny-all-ingress"
  network       = google_compute_network.prod.self_link
  direction     = "INGRESS"
  priority      = 65000
  source_ranges = ["0.0.0.0/0"]

  deny {
    protocol = "all"
  }
}

# Rules owned by the Windows team, kept in the community module's format.
module "firewall_rules" {
  source  = "terraform-google-modules/network/google//modules/firewall-rules"
  version = "~> 9.0"

  project_id   = var.project_id
  network_name = google_compute_network.prod.name

  rules = [
    {
      name      = "allow-egress-all"
      direction = "EGRESS"
      ranges    = ["0.0.0.0/0"]
      allow     = [{ protocol = "all" }]
    },
    {
      # Jump hosts for the Windows fleet.
      name      = "allow-rdp-split"
      direction = "INGRESS"
      ranges    = ["0.0.0.0/1", "128.0.0.0/1"]
      allow = [{
        protocol = "tcp"
        ports    = ["3389"]
      }]
    },
  ]
}
