# Instances whose metadata is a merge(...) of maps, in acme-prod.

provider "google" {
  project = "acme-prod"
  zone    = "europe-west1-b"
}

variable "extra_metadata" {
  description = "Metadata each environment adds."
  type        = map(string)
}

variable "base_metadata" {
  type = map(string)
  default = {
    enable-oslogin = "TRUE"
  }
}

locals {
  hardened = {
    block-project-ssh-keys = "TRUE"
    serial-port-enable     = "FALSE"
  }
  debug = {
    serial-port-enable = "TRUE" # the kernel team's serial console
  }
  combined = merge(local.hardened, {
    enable-oslogin = "TRUE"
  })
}

resource "google_compute_instance" "hardened" {
  name         = "hardened-1"
  machine_type = "e2-small"

  metadata = merge(local.hardened, {
    startup-script = "echo hardened"
  })
}

resource "google_compute_instance" "debug" {
  name         = "debug-1"
  machine_type = "e2-small"

  metadata = merge(local.hardened, local.debug, {
    startup-script = "echo debug"
  })
}

resource "google_compute_instance" "override" {
  name         = "override-1"
  machine_type = "e2-small"

  metadata = merge(local.hardened, {
    serial-port-enable = "TRUE" # INC-2042
    startup-script     = "echo override"
  })
}

resource "google_compute_instance" "env" {
  name         = "env-1"
  machine_type = "e2-small"

  metadata = merge(local.hardened, var.extra_metadata)
}

resource "google_compute_instance" "env_script" {
  name         = "env-script-1"
  machine_type = "e2-small"

  metadata = merge(local.hardened, var.extra_metadata, {
    startup-script = "echo env"
  })
}

resource "google_compute_instance" "oslogin" {
  name         = "oslogin-1"
  machine_type = "e2-small"

  metadata = merge(var.base_metadata, null, {
    startup-script = "echo oslogin"
  })
}

resource "google_compute_instance" "combined" {
  name         = "combined-1"
  machine_type = "e2-small"

  metadata = merge(local.combined, { startup-script = "echo combined" })
}
