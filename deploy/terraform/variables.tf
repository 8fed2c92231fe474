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
