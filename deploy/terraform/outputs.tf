output "service_account_email" {
  description = "Email of zerodrift's Google service account: the Helm chart's gcp.serviceAccount, and (as serviceAccount:EMAIL) its config.gcp.identity, so no change ever removes zerodrift's own access."
  value       = google_service_account.zerodrift.email
}

output "role" {
  description = "Name of the custom role granted, per var.mode (organizations/ORG/roles/zerodriftScanner or zerodriftRemediator)."
  value       = local.role
}

output "events_subscription" {
  description = "Full name of the event feed's subscription (projects/P/subscriptions/S), for zerodrift serve --events and the chart's events.subscription; empty unless var.events."
  value       = var.events ? google_pubsub_subscription.events[0].id : ""
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
    events = {
      subscription = var.events ? google_pubsub_subscription.events[0].id : ""
    }
    config = {
      gcp = {
        identity = [local.member]
      }
    }
  }
}
