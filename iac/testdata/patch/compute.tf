# Compute Engine in acme-prod.

provider "google" {
  project = "acme-prod"
  zone    = "europe-west1-b"
}

locals {
  common_metadata = {
    block-project-ssh-keys = "TRUE"
  }
}

resource "google_compute_instance" "bastion" {
  name         = "bastion-1"
  machine_type = "e2-small"
  tags         = ["ssh"]

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    subnetwork = "app-ew1"

    # Ephemeral public address for the vendor's SFTP pushes (INC-1988).
    access_config {
      network_tier = "PREMIUM"
    }
  }

  metadata = {
    enable-oslogin     = "FALSE" # the vendor's key
    serial-port-enable = "TRUE"
  }
}

resource "google_compute_address" "web" {
  name   = "web-1-ip"
  region = "europe-west1"
}

resource "google_compute_instance" "web" {
  name         = "web-1"
  zone         = "europe-west1-c"
  machine_type = "e2-medium"

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    network = "default"
  }

  network_interface {
    subnetwork = "dmz-ew1"
    stack_type = "IPV4_IPV6"
    access_config {
      nat_ip = google_compute_address.web.address
    }
    ipv6_access_config {
      network_tier = "PREMIUM"
    }
  }

  metadata = merge(local.common_metadata, {
    startup-script = file("${path.module}/web.sh")
  })
}

resource "google_compute_instance" "worker" {
  name         = "worker-1"
  machine_type = "e2-standard-4"

  boot_disk {
    initialize_params {
      image = "debian-cloud/debian-12"
    }
  }

  network_interface {
    network = "default"
  }
}

# OS Login for the whole project (CIS 4.4).
resource "google_compute_project_metadata_item" "oslogin" {
  key   = "enable-oslogin"
  value = "FALSE" # until the vendor moves to IAP
}

resource "google_compute_project_metadata" "legacy" {
  project = "acme-legacy"
  metadata = {
    ssh-keys           = "admin:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin"
    serial-port-enable = "TRUE"
  }
}
