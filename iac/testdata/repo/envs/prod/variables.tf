variable "project" {
  description = "Overridden by terraform.tfvars."
  type        = string
  default     = "acme-wrong"
}

variable "prefix" {
  type    = string
  default = "prod" # extra.auto.tfvars says otherwise
}

variable "admin_ranges" {
  type    = list(string)
  default = ["192.0.2.0/24"]
}

variable "no_default" {
  type = string
}
