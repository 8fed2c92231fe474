resource "google_service_account" "deployer" {
  account_id   = "deployer"
  display_name = "CI deployer"
}

# The CI system cannot use workload identity yet (TICKET-118).
resource "google_service_account_key" "deployer" {
  service_account_id = google_service_account.deployer.name
}

resource "google_service_account" "monitoring" {
  account_id   = "monitoring"
  display_name = "Metrics exporter"
}
