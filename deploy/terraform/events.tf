# Event mode (zerodrift serve --events): Cloud Asset Inventory real-time feeds publish every
# change of the assets zerodrift's rules read to a Pub/Sub topic, and zerodrift consumes
# the topic's subscription. Nothing here is created unless var.events is true.

locals {
  events_project = coalesce(var.events_project, var.project)

  # The feeds, one per content type, each with the asset types whose content of that type
  # zerodrift's rules read: the resources of firewalls, networks and service account keys,
  # and the IAM policies of projects, folders and the organization. `go test ./deploy`
  # checks these lists against the rules (rules.Default).
  event_feeds = {
    resource = {
      content_type = "RESOURCE"
      asset_types = [
        "compute.googleapis.com/Firewall",
        "compute.googleapis.com/Instance",
        "compute.googleapis.com/Network",
        "compute.googleapis.com/Project",
        "compute.googleapis.com/Subnetwork",
        "iam.googleapis.com/ServiceAccountKey",
      ]
    }
    iam-policy = {
      content_type = "IAM_POLICY"
      asset_types = [
        "cloudresourcemanager.googleapis.com/Folder",
        "cloudresourcemanager.googleapis.com/Organization",
        "cloudresourcemanager.googleapis.com/Project",
      ]
    }
  }

  # The organization's feeds or, when zerodrift is granted one folder, the folder's: it
  # could not read, nor fix, what changes outside it.
  organization_feeds = { for k, f in local.event_feeds : k => f if var.events && var.folder_id == "" }
  folder_feeds       = { for k, f in local.event_feeds : k => f if var.events && var.folder_id != "" }
}

resource "google_pubsub_topic" "events" {
  count   = var.events ? 1 : 0
  project = local.events_project
  name    = var.events_name
}

resource "google_pubsub_subscription" "events" {
  count   = var.events ? 1 : 0
  project = local.events_project
  name    = var.events_name
  topic   = google_pubsub_topic.events[0].id

  # The Pub/Sub client extends the deadline while a change is being handled.
  ack_deadline_seconds = var.events_ack_deadline_seconds
  # A change not acknowledged by then is dropped: the scheduled runs catch up with it.
  message_retention_duration = var.events_message_retention

  # A change that could not be handled (the ledger or an API unreachable) comes back after
  # a pause, not at once.
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # Never deleted: Pub/Sub deletes a subscription no one pulled from for 31 days by default.
  expiration_policy {
    ttl = ""
  }
}

# The project's Cloud Asset service agent publishes the feeds' messages.
data "google_project" "events" {
  count      = var.events ? 1 : 0
  project_id = local.events_project
}

resource "google_pubsub_topic_iam_member" "cloud_asset_publisher" {
  count   = var.events ? 1 : 0
  project = local.events_project
  topic   = google_pubsub_topic.events[0].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:service-${data.google_project.events[0].number}@gcp-sa-cloudasset.iam.gserviceaccount.com"
}

# zerodrift consumes the subscription, and no other.
resource "google_pubsub_subscription_iam_member" "events" {
  count        = var.events ? 1 : 0
  project      = local.events_project
  subscription = google_pubsub_subscription.events[0].name
  role         = google_organization_iam_custom_role.event_consumer.name
  member       = local.member
}

resource "google_cloud_asset_organization_feed" "events" {
  for_each        = local.organization_feeds
  billing_project = local.events_project
  org_id          = var.org_id
  feed_id         = "${var.events_name}-${each.key}"
  content_type    = each.value.content_type
  asset_types     = each.value.asset_types

  feed_output_config {
    pubsub_destination {
      topic = google_pubsub_topic.events[0].id
    }
  }

  # The feed publishes as soon as it exists.
  depends_on = [google_pubsub_topic_iam_member.cloud_asset_publisher]
}

resource "google_cloud_asset_folder_feed" "events" {
  for_each        = local.folder_feeds
  billing_project = local.events_project
  folder          = var.folder_id
  feed_id         = "${var.events_name}-${each.key}"
  content_type    = each.value.content_type
  asset_types     = each.value.asset_types

  feed_output_config {
    pubsub_destination {
      topic = google_pubsub_topic.events[0].id
    }
  }

  # The feed publishes as soon as it exists.
  depends_on = [google_pubsub_topic_iam_member.cloud_asset_publisher]
}
