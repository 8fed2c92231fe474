# zerodrift's Google service account, its custom roles and the Workload Identity binding
# that lets its Kubernetes ServiceAccount act as it; with var.events, what event mode needs
# (events.tf). See README.md beside this file, and docs/permissions.md for why each
# permission is needed.

locals {
  # The permissions of zerodrift's roles. deploy/permissions.go is the source of truth:
  # `go test ./deploy/` fails when these lists drift from it, and the engine's tests prove
  # against the sandbox that a full remediation cycle needs every one of them.

  # zerodriftScanner: scans and dry runs (plans included), org-wide scans and asset
  # exports through Cloud Asset Inventory. Read-only.
  scanner_permissions = [
    "cloudasset.assets.exportIamPolicy",
    "cloudasset.assets.exportResource",
    "cloudasset.assets.listIamPolicy",
    "cloudasset.assets.listResource",
    "compute.firewalls.get",
    "compute.firewalls.list",
    "compute.forwardingRules.list",
    "compute.instanceTemplates.list",
    "compute.instances.get",
    "compute.instances.list",
    "compute.networks.get",
    "compute.networks.list",
    "compute.projects.get",
    "compute.routers.list",
    "compute.routes.list",
    "compute.subnetworks.get",
    "compute.subnetworks.list",
    "compute.targetVpnGateways.list",
    "compute.vpnGateways.list",
    "compute.vpnTunnels.list",
    "iam.serviceAccountKeys.get",
    "iam.serviceAccountKeys.list",
    "iam.serviceAccounts.list",
    "resourcemanager.folders.get",
    "resourcemanager.folders.getIamPolicy",
    "resourcemanager.organizations.get",
    "resourcemanager.organizations.getIamPolicy",
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
  ]

  # zerodriftRemediator: the scanner's permissions, and the writes of the built-in
  # playbooks and of their rollbacks.
  remediator_permissions = concat(local.scanner_permissions, [
    "compute.firewalls.create",
    "compute.firewalls.delete",
    "compute.firewalls.update",
    "compute.globalOperations.get",
    "compute.instances.addAccessConfig",
    "compute.instances.deleteAccessConfig",
    "compute.instances.setMetadata",
    "compute.networks.create",
    "compute.networks.delete",
    "compute.networks.updatePolicy",
    "compute.projects.setCommonInstanceMetadata",
    "compute.regionOperations.get",
    "compute.subnetworks.setPrivateIpGoogleAccess",
    "compute.subnetworks.update",
    "compute.subnetworks.useExternalIp",
    "compute.zoneOperations.get",
    "iam.serviceAccountKeys.disable",
    "iam.serviceAccountKeys.enable",
    "resourcemanager.folders.setIamPolicy",
    "resourcemanager.organizations.setIamPolicy",
    "resourcemanager.projects.setIamPolicy",
  ])

  # zerodriftStateReader: granted on the Terraform state buckets only. Granted on the
  # organization it would read every object of every bucket.
  state_reader_permissions = [
    "storage.objects.get",
  ]

  # zerodriftExportWriter: granted on the asset export bucket only. ExportAssets writes
  # the export there with zerodrift's permission; zerodrift reads it back and deletes it.
  export_writer_permissions = [
    "storage.objects.create",
    "storage.objects.delete",
    "storage.objects.get",
  ]

  # zerodriftQuotaUser: granted on the quota project only. Resource Manager and Cloud Asset
  # Inventory are client-based APIs, whose calls are charged to the caller's quota project.
  quota_user_permissions = [
    "serviceusage.services.use",
  ]

  # zerodriftEventConsumer: granted on the event feed's subscription only.
  event_consumer_permissions = [
    "pubsub.subscriptions.consume",
  ]

  role          = var.mode == "remediate" ? google_organization_iam_custom_role.remediator.name : google_organization_iam_custom_role.scanner.name
  member        = "serviceAccount:${google_service_account.zerodrift.email}"
  workload_pool = "${coalesce(var.workload_identity_project, var.project)}.svc.id.goog"
  quota_project = coalesce(var.quota_project, var.project)
}

resource "google_organization_iam_custom_role" "scanner" {
  org_id      = var.org_id
  role_id     = "zerodriftScanner"
  title       = "zerodrift scanner"
  description = "Read-only: what zerodrift reads to scan and to plan its fixes in dry runs."
  stage       = "GA"
  permissions = local.scanner_permissions
}

resource "google_organization_iam_custom_role" "remediator" {
  org_id      = var.org_id
  role_id     = "zerodriftRemediator"
  title       = "zerodrift remediator"
  description = "zerodrift scanner, and the writes of zerodrift's built-in playbooks and their rollbacks."
  stage       = "GA"
  permissions = local.remediator_permissions
}

resource "google_organization_iam_custom_role" "state_reader" {
  org_id      = var.org_id
  role_id     = "zerodriftStateReader"
  title       = "zerodrift Terraform state reader"
  description = "Reads Terraform state objects; granted on the state buckets only."
  stage       = "GA"
  permissions = local.state_reader_permissions
}

# The roles granted on single resources always exist, whether granted or not: a deleted
# custom role's ID cannot be used again for weeks, so turning a feature off and on again
# would fail.
resource "google_organization_iam_custom_role" "export_writer" {
  org_id      = var.org_id
  role_id     = "zerodriftExportWriter"
  title       = "zerodrift asset export writer"
  description = "Writes, reads and deletes Cloud Asset Inventory exports; granted on the export bucket only."
  stage       = "GA"
  permissions = local.export_writer_permissions
}

resource "google_organization_iam_custom_role" "quota_user" {
  org_id      = var.org_id
  role_id     = "zerodriftQuotaUser"
  title       = "zerodrift quota user"
  description = "Charges zerodrift's Resource Manager and Cloud Asset Inventory calls to a project; granted on the quota project only."
  stage       = "GA"
  permissions = local.quota_user_permissions
}

resource "google_organization_iam_custom_role" "event_consumer" {
  org_id      = var.org_id
  role_id     = "zerodriftEventConsumer"
  title       = "zerodrift event consumer"
  description = "Pulls and acknowledges the messages of the Cloud Asset Inventory feed; granted on its subscription only."
  stage       = "GA"
  permissions = local.event_consumer_permissions
}

resource "google_service_account" "zerodrift" {
  project      = var.project
  account_id   = var.service_account_id
  display_name = "zerodrift"
  description  = "zerodrift (${var.mode} mode), through GKE Workload Identity from ${var.namespace}/${var.k8s_service_account}."
}

# The role, on the organization...
resource "google_organization_iam_member" "zerodrift" {
  count  = var.folder_id == "" ? 1 : 0
  org_id = var.org_id
  role   = local.role
  member = local.member
}

# ...or on one folder.
resource "google_folder_iam_member" "zerodrift" {
  count  = var.folder_id == "" ? 0 : 1
  folder = "folders/${var.folder_id}"
  role   = local.role
  member = local.member
}

resource "google_storage_bucket_iam_member" "state" {
  for_each = toset(var.state_buckets)
  bucket   = each.value
  role     = google_organization_iam_custom_role.state_reader.name
  member   = local.member
}

resource "google_storage_bucket_iam_member" "export" {
  count  = var.export_bucket == "" ? 0 : 1
  bucket = var.export_bucket
  role   = google_organization_iam_custom_role.export_writer.name
  member = local.member
}

# The quota project of the client-based APIs, in both modes: a grant on the organization
# would let zerodrift charge any project.
resource "google_project_iam_member" "quota" {
  project = local.quota_project
  role    = google_organization_iam_custom_role.quota_user.name
  member  = local.member
}

# Workload Identity: zerodrift's Kubernetes ServiceAccount may act as the Google one.
resource "google_service_account_iam_member" "workload_identity" {
  service_account_id = google_service_account.zerodrift.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${local.workload_pool}[${var.namespace}/${var.k8s_service_account}]"
}
