variable "project_id" {
  description = "The production project."
  type        = string
}

variable "region" {
  description = "Default region for regional resources."
  type        = string
  default     = "us-central1"
}

variable "iap_range" {
  description = "Identity-Aware Proxy's TCP forwarding range."
  type        = string
  default     = "35.235.240.0/20"
}
