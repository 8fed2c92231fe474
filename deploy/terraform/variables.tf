variable "org_id" {
  description = "Numeric ID of the organization zerodrift watches. The custom roles zerodriftScanner, zerodriftRemediator and zerodriftStateReader are created in it."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.org_id))
    error_message = "org_id is the organization's numeric ID, e.g. \"123456789012\"."
  }
}

variable "project" {
  description = "ID of the project that holds zerodrift's Google service account (usually the project of the GKE cluster it runs on)."
  type        = string
}

variable "mode" {
  description = "What zerodrift may do: \"scan\" grants zerodriftScanner (scans and dry runs, read-only); \"remediate\" grants zerodriftRemediator (the scanner's reads and the built-in playbooks' writes and rollbacks)."
  type        = string
  default     = "scan"

  validation {
    condition     = contains(["scan", "remediate"], var.mode)
    error_message = "mode is \"scan\" or \"remediate\"."
  }
}

variable "folder_id" {
  description = "Numeric ID of a folder to grant the role on instead of the whole organization. zerodrift then sees only the projects under that folder; reading the organization (and folders above this one) fails, and each scan reports it."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[0-9]*$", var.folder_id))
    error_message = "folder_id is a folder's numeric ID, e.g. \"111111111111\", or empty."
  }
}

variable "service_account_id" {
  description = "Account ID (the part before @) of zerodrift's Google service account."
  type        = string
  default     = "zerodrift"
}

variable "workload_identity_project" {
  description = "ID of the project of the GKE cluster zerodrift runs on, whose workload identity pool (PROJECT.svc.id.goog) the binding names. Empty means var.project."
  type        = string
  default     = ""
}

variable "namespace" {
  description = "Kubernetes namespace zerodrift's Helm release runs in."
  type        = string
  default     = "zerodrift"
}

variable "k8s_service_account" {
  description = "Name of zerodrift's Kubernetes ServiceAccount (the Helm chart's serviceAccount.name; by default the chart names it after the release)."
  type        = string
  default     = "zerodrift"
}

variable "state_buckets" {
  description = "Cloud Storage buckets holding the Terraform state zerodrift reads (gcs backends of the IaC roots, or iac.states in its configuration). zerodriftStateReader (storage.objects.get only) is granted on each, and on nothing else."
  type        = list(string)
  default     = []
}

variable "quota_project" {
  description = "ID of the quota project: the project zerodrift's calls to client-based APIs (Resource Manager, Cloud Asset Inventory) are charged to, which must have the Cloud Asset API enabled for org-wide scans. zerodriftQuotaUser (serviceusage.services.use) is granted on it, and on no other project. Empty means var.project, the GSA's own project, where a service account's calls are charged unless GOOGLE_CLOUD_QUOTA_PROJECT names another."
  type        = string
  default     = ""
}

variable "export_bucket" {
  description = "Cloud Storage bucket zerodrift exports Cloud Asset Inventory to (--export-to gs://BUCKET/PREFIX). zerodriftExportWriter (storage.objects.create, get and delete) is granted on it, and on no other bucket. Empty: no export bucket."
  type        = string
  default     = ""
}

variable "events" {
  description = "Create what event mode (zerodrift serve --events) needs: a Pub/Sub topic and its subscription in var.events_project; Cloud Asset Inventory feeds of the organization (or of var.folder_id), one for resources and one for IAM policies, publishing to the topic the changes of the asset types zerodrift's rules read; the Cloud Asset service agent allowed to publish to the topic; and zerodriftEventConsumer (pubsub.subscriptions.consume) granted to the GSA on the subscription."
  type        = bool
  default     = false
}

variable "events_project" {
  description = "ID of the project that holds the event topic and subscription and pays for the feeds, whose Cloud Asset service agent publishes; the Cloud Asset and Pub/Sub APIs must be enabled in it. Empty means var.project."
  type        = string
  default     = ""
}

variable "events_name" {
  description = "Name of the event topic and subscription; the feeds are named after it, with -resource and -iam-policy."
  type        = string
  default     = "zerodrift-asset-feed"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,62}$", var.events_name))
    error_message = "events_name is 3 to 63 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "events_ack_deadline_seconds" {
  description = "Seconds zerodrift has to acknowledge an event before Pub/Sub delivers it again (the client extends it while a change is being handled)."
  type        = number
  default     = 60

  validation {
    condition     = var.events_ack_deadline_seconds >= 10 && var.events_ack_deadline_seconds <= 600
    error_message = "events_ack_deadline_seconds is between 10 and 600."
  }
}

variable "events_message_retention" {
  description = "How long the subscription keeps an event not yet acknowledged, e.g. \"86400s\"; older events are dropped, and the scheduled runs catch up with them."
  type        = string
  default     = "86400s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.events_message_retention))
    error_message = "events_message_retention is a number of seconds with the unit, e.g. \"86400s\" (600s to 2678400s)."
  }
}
