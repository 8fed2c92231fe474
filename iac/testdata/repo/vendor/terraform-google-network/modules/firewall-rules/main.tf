# A vendored copy of the community module: never indexed as a root.
variable "ingress_rules" {
  default = []
}

resource "google_compute_firewall" "rules" {
  for_each = { for r in var.ingress_rules : r.name => r }
  name     = each.value.name
}
