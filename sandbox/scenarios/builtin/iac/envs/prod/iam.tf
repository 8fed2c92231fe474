# Project-level IAM of acme-prod.

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
