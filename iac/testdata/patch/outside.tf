# IAM of acme-data, with accounts from outside acme.example.

resource "google_project_iam_member" "jane_viewer" {
  project = "acme-data"
  role    = "roles/viewer"
  member  = "user:jane.freelance@gmail.com"
}

# Jane reads the load job logs.
resource "google_project_iam_member" "jane_logs" {
  project = "acme-data"
  role    = "roles/logging.viewer"
  member  = "user:jane.freelance@gmail.com"
}

resource "google_project_iam_binding" "bq_viewers" {
  project = "acme-data"
  role    = "roles/bigquery.dataViewer"
  members = [
    "group:analysts@acme.example",
    "user:jane.freelance@gmail.com", # until the audit
  ]
}

resource "google_project_iam_member" "max" {
  for_each = toset(["roles/monitoring.viewer", "roles/storage.objectViewer", "roles/cloudsql.client"])
  project  = "acme-data"
  role     = each.value
  member   = "user:max@googlemail.com"
}

resource "google_project_iam_member" "pat_viewer" {
  project = "acme-data"
  role    = "roles/viewer"
  member  = "user:pat@gmail.com"
}

module "data_iam" {
  source   = "terraform-google-modules/iam/google//modules/projects_iam"
  version  = "~> 8.0"
  projects = ["acme-data"]

  bindings = {
    "roles/bigquery.jobUser" = ["user:sam@gmail.com"]
    "roles/bigquery.user" = [
      "group:analysts@acme.example",
      "user:sam@gmail.com",
    ]
    "roles/browser"         = ["user:sam@gmail.com"]
    "roles/dataflow.viewer" = ["group:analysts@acme.example"]
  }

  conditional_bindings = [
    {
      role        = "roles/storage.admin"
      title       = "expires"
      description = "temporary"
      expression  = "request.time < timestamp(\"2027-01-01T00:00:00Z\")"
      members     = ["user:sam@gmail.com"]
    },
  ]
}
