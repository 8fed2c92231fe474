# Audit logging and IAM of the landing zone's projects.

resource "google_project_iam_audit_config" "prod" {
  project = "acme-prod"
  service = "allServices"

  audit_log_config {
    log_type = "ADMIN_READ"
  }
  audit_log_config {
    log_type = "DATA_READ"
    exempted_members = [
      "serviceAccount:scanner@acme-prod.iam.gserviceaccount.com", # noisy
    ]
  }
}

# acme-dev has no audit configuration yet.
resource "google_project_iam_member" "dev_viewers" {
  project = var.dev_project
  role    = "roles/viewer"
  member  = "group:dev@acme.example"
}

module "dev_iam" {
  source   = "terraform-google-modules/iam/google//modules/projects_iam"
  version  = "~> 8.0"
  projects = [var.dev_project]

  bindings = {
    "roles/editor" = ["group:dev-leads@acme.example"]
  }
}

resource "google_project" "sandbox" {
  name       = "Sandbox"
  project_id = "acme-sandbox"
  folder_id  = "folders/1234"
}

variable "dev_project" {
  type    = string
  default = "acme-dev"
}
