resource "google_project_iam_policy" "legacy" {
  project     = "acme-legacy"
  policy_data = data.google_iam_policy.legacy.policy_data
}

data "google_iam_policy" "legacy" {
  binding {
    role    = "roles/owner"
    members = ["group:legacy-owners@acme.example"]
  }

  # Temporary editors.
  binding {
    role = "roles/editor"
    members = [
      "user:eve@acme.example",
    ]
  }

  binding {
    role    = "roles/viewer"
    members = ["user:oscar@acme.example", "user:pat@acme.example"]
  }
}
