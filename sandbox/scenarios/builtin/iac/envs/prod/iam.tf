# Project-level IAM of acme-prod, and the access to its exports in acme-analytics.

module "project_iam" {
  source  = "terraform-google-modules/iam/google//modules/projects_iam"
  version = "~> 8.0"

  projects = [var.project_id]
  mode     = "additive"

  bindings = {
    # The deployer applies this repository.
    "roles/editor" = [
      "serviceAccount:${google_service_account.deployer.email}",
    ]

    "roles/viewer" = [
      "serviceAccount:${google_service_account.monitoring.email}",
      "group:sre@acme.example",
    ]
  }
}

# Bob cuts releases by impersonating the deployer.
resource "google_project_iam_member" "bob_sa_user" {
  project = var.project_id
  role    = "roles/iam.serviceAccountUser"
  member  = "user:bob@acme.example"
}

# Jane, a contractor at Northwind Analytics, reads the prod exports that land in
# acme-analytics for the churn study (DATA-231); Northwind has no acme.example accounts.
resource "google_project_iam_member" "jane_exports_viewer" {
  project = "acme-analytics"
  role    = "roles/bigquery.dataViewer"
  member  = "user:jane.freelance@gmail.com"
}
