resource "google_project_iam_member" "bob" {
  project = var.project
  role    = "roles/iam.serviceAccountUser"
  member  = "user:bob@acme.example"
}

resource "google_project_iam_member" "ci_tokens" {
  project = "acme-prod"
  role    = "roles/iam.serviceAccountTokenCreator"
  member  = "group:ci@acme.example"

  condition {
    title      = "business hours"
    expression = "request.time.getHours('Europe/Berlin') >= 8"
  }
}

resource "google_project_iam_member" "impersonators" {
  for_each = toset(local.impersonators)

  project = var.project
  role    = "roles/iam.serviceAccountUser"
  member  = each.value
}

resource "google_project_iam_binding" "admins" {
  project = var.project
  role    = "roles/compute.admin"
  members = [
    "group:netops@acme.example",
    "serviceAccount:${local.ci_email}",
  ]
}

resource "google_project_iam_policy" "legacy" {
  project     = "acme-legacy"
  policy_data = data.google_iam_policy.legacy.policy_data
}

data "google_iam_policy" "legacy" {
  binding {
    role    = "roles/owner"
    members = ["group:legacy-owners@acme.example"]
  }

  binding {
    role = "roles/editor"
    members = [
      "user:eve@acme.example",
    ]
  }
}

module "iam" {
  source   = "terraform-google-modules/iam/google//modules/projects_iam"
  projects = ["acme-prod", "acme-analytics"]

  bindings = {
    "roles/editor" = ["serviceAccount:deployer@acme-prod.iam.gserviceaccount.com"]
    "roles/viewer" = [
      "group:sre@acme.example",
      "user:frank@acme.example",
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

resource "google_service_account" "deployer" {
  account_id = "deployer"
}

resource "google_service_account_key" "deployer" {
  service_account_id = google_service_account.deployer.name
}

resource "google_service_account_key" "ci_a" {
  service_account_id = "projects/acme-prod/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com"
}

resource "google_service_account_key" "ci_b" {
  service_account_id = local.ci_email
}
