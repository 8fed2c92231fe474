output "service_account_email" {
  description = "Email of zerodrift's Google service account: the Helm chart's gcp.serviceAccount, and (as serviceAccount:EMAIL) its config.gcp.identity, so no change ever removes zerodrift's own access."
  value       = google_service_account.zerodrift.email
}

output "role" {
  description = "Name of the custom role granted, per var.mode (organizations/ORG/roles/zerodriftScanner or zerodriftRemediator)."
  value       = local.role
}

output "helm_values" {
  description = "Values for the zerodrift Helm chart that match this deployment, e.g. `terraform output -json helm_values > gcp-values.json`, then `helm install -f gcp-values.json`."
  value = {
    serviceAccount = {
      create = true
      name   = var.k8s_service_account
    }
    gcp = {
      serviceAccount = google_service_account.zerodrift.email
    }
    config = {
      gcp = {
        identity = [local.member]
      }
    }
  }
}
