variable "project_id" {
  description = "The development project."
  type        = string
}

variable "region" {
  type    = string
  default = "us-central1"
}
