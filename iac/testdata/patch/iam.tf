# IAM of acme-prod.

locals {
  impersonators = [
    "user:carol@acme.example", # contractor until March
    "user:dave@acme.example",
  ]
}

resource "google_project_iam_member" "impersonators" {
  for_each = toset(local.impersonators)
  project  = "acme-prod"
  role     = "roles/iam.serviceAccountUser"
  member   = each.value
}


# Bob cuts releases.
resource "google_project_iam_member" "bob" {
  project = "acme-prod"
  role    = "roles/iam.serviceAccountUser"
  member  = "user:bob@acme.example"
}


resource "google_project_iam_binding" "compute_admins" {
  project = "acme-prod"
  role    = "roles/compute.admin"
  members = [
    # The network team.
    "group:netops@acme.example",
    "user:ivan@acme.example",
  ]
}

resource "google_project_iam_binding" "security_admin" {
  project = "acme-prod"
  role    = "roles/iam.securityAdmin"
  members = ["serviceAccount:secbot@acme-prod.iam.gserviceaccount.com"]
}

resource "google_project_iam_binding" "inline" {
  project = "acme-prod"
  role    = "roles/logging.admin"
  members = ["user:judy@acme.example", "user:kim@acme.example", "user:lee@acme.example"]
}

module "project_iam" {
  source   = "terraform-google-modules/iam/google//modules/projects_iam"
  version  = "~> 8.0"
  projects = ["acme-prod"]

  bindings = {
    "roles/editor"                 = ["serviceAccount:deployer@acme-prod.iam.gserviceaccount.com"]
    "roles/iam.serviceAccountUser" = ["user:mia@acme.example"]
    "roles/viewer" = [
      "group:sre@acme.example",
      "user:ned@acme.example",
    ]
  }

  conditional_bindings = [
    {
      role        = "roles/storage.admin"
      title       = "expires"
      description = "temporary"
      expression  = "request.time < timestamp(\"2027-01-01T00:00:00Z\")"
      members     = ["user:gina@acme.example"]
    },
  ]
}
