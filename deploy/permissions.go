// Package deploy holds what running zerodrift on Google Cloud needs: the IAM permissions of
// its Google service account, in two roles, scan-only (zerodriftScanner) and remediate
// (zerodriftRemediator), and the narrower grants on single resources (state buckets, the
// asset export bucket, the quota project, the event feed's subscription) beside them.
//
// This file is the single source of truth for those permissions. The Terraform under
// terraform/ and docs/permissions.md list the same permissions, and tests hold them to it;
// engine/permissions_test.go proves, against the sandbox enforcing exactly the permissions
// of the remediation cycle (FeatureCycle), that the cycle needs every one of them and
// nothing more.
package deploy

import (
	"slices"
)

// Role names one of zerodrift's two roles, by the ID of its custom role.
type Role string

// zerodrift's roles.
const (
	// Scanner reads everything zerodrift reads: scans, dry runs (plans included), Terraform
	// state, asset exports and the event feed. It changes nothing it watches: its only
	// writes are the objects of its own asset exports, in the export bucket.
	Scanner Role = "zerodriftScanner"
	// Remediator is Scanner and the writes the built-in playbooks make, and their rollbacks.
	Remediator Role = "zerodriftRemediator"
)

// Scope says where a permission is granted.
type Scope string

// Scopes of permissions.
const (
	// ScopeOrganization permissions are in the custom role granted on the organization (or
	// the folder zerodrift watches).
	ScopeOrganization Scope = "organization"
	// ScopeStateBucket permissions are granted on the Terraform state buckets only, by the
	// zerodriftStateReader role: granted on the organization they would read every
	// object of every bucket.
	ScopeStateBucket Scope = "state bucket"
	// ScopeExportBucket permissions are granted on the asset export bucket only (--export-to
	// gs://BUCKET/PREFIX), by the zerodriftExportWriter role: granted on the organization
	// they would write and delete the objects of every bucket.
	ScopeExportBucket Scope = "export bucket"
	// ScopeQuotaProject permissions are granted on the quota project only, by the
	// zerodriftQuotaUser role: granted on the organization they would let zerodrift charge
	// its API calls to any project.
	ScopeQuotaProject Scope = "quota project"
	// ScopeEventSubscription permissions are granted on the Pub/Sub subscription of the
	// event feed only (serve --events), by the zerodriftEventConsumer role: granted on the
	// organization they would consume every subscription.
	ScopeEventSubscription Scope = "event subscription"
)

// IDs of the custom roles granted on single resources.
const (
	// StateReaderRoleID is the ID of the custom role granted on each Terraform state bucket.
	StateReaderRoleID = "zerodriftStateReader"
	// ExportWriterRoleID is the ID of the custom role granted on the asset export bucket.
	ExportWriterRoleID = "zerodriftExportWriter"
	// QuotaUserRoleID is the ID of the custom role granted on the quota project.
	QuotaUserRoleID = "zerodriftQuotaUser"
	// EventConsumerRoleID is the ID of the custom role granted on the event subscription.
	EventConsumerRoleID = "zerodriftEventConsumer"
)

// Scopes returns every scope, the organization's first. The caller owns the slice.
func Scopes() []Scope {
	return []Scope{ScopeOrganization, ScopeStateBucket, ScopeExportBucket, ScopeQuotaProject, ScopeEventSubscription}
}

// RoleID returns the ID of the custom role that grants the permissions of a scope on its
// resources, the same for both roles; "" for ScopeOrganization, whose permissions are those
// of the Scanner or Remediator role itself, and for an unknown scope.
func (s Scope) RoleID() string {
	switch s {
	case ScopeStateBucket:
		return StateReaderRoleID
	case ScopeExportBucket:
		return ExportWriterRoleID
	case ScopeQuotaProject:
		return QuotaUserRoleID
	case ScopeEventSubscription:
		return EventConsumerRoleID
	}
	return ""
}

// Feature names what of zerodrift needs a permission.
type Feature string

// zerodrift's features, as far as permissions go.
const (
	// FeatureCycle is the remediation cycle: scans of projects through their own APIs, dry
	// runs, live fixes and their rollbacks, and Terraform state reads.
	// engine/permissions_test.go runs it against the sandbox and proves each of its
	// permissions needed.
	FeatureCycle Feature = "cycle"
	// FeatureOrgScan is reading a whole organization or folder through Cloud Asset
	// Inventory ListAssets (--organization, --folder, scope.organization, scope.folders).
	FeatureOrgScan Feature = "org-wide scan"
	// FeatureExport is Cloud Asset Inventory ExportAssets to Cloud Storage (--export-to).
	FeatureExport Feature = "asset export"
	// FeatureEvents is event mode: consuming the Pub/Sub subscription of a Cloud Asset
	// Inventory real-time feed (serve --events).
	FeatureEvents Feature = "event mode"
	// FeatureQuota is charging the calls of client-based APIs (Resource Manager, Cloud
	// Asset Inventory) to the quota project.
	FeatureQuota Feature = "quota project"
)

// Features returns every feature, the cycle's first. The caller owns the slice.
func Features() []Feature {
	return []Feature{FeatureCycle, FeatureOrgScan, FeatureExport, FeatureEvents, FeatureQuota}
}

// Permission is one IAM permission zerodrift's service account needs.
type Permission struct {
	// Name is the permission, e.g. "compute.firewalls.list".
	Name string
	// Role is the least role that has it: Scanner permissions are in Remediator too.
	Role Role
	// Scope says where it is granted.
	Scope Scope
	// Feature says what of zerodrift needs it.
	Feature Feature
	// Why says which step of zerodrift uses it.
	Why string
}

// Permissions returns every permission zerodrift's service account may need, the
// scanner's first, each with its role, scope, feature and why; the caller owns the slice.
// A permission granted in two scopes (storage.objects.get) is listed once per scope.
func Permissions() []Permission {
	s := func(name, why string) Permission {
		return Permission{Name: name, Role: Scanner, Scope: ScopeOrganization, Feature: FeatureCycle, Why: why}
	}
	r := func(name, why string) Permission {
		return Permission{Name: name, Role: Remediator, Scope: ScopeOrganization, Feature: FeatureCycle, Why: why}
	}
	// f is a scanner permission of a feature other than the cycle.
	f := func(name string, scope Scope, feature Feature, why string) Permission {
		return Permission{Name: name, Role: Scanner, Scope: scope, Feature: feature, Why: why}
	}
	const dependents = "network.deleteDefault (network-delete-default) looks for what still uses the default network before planning and again before deleting it"
	return []Permission{
		// Scan: resource manager.
		s("resourcemanager.projects.get", "Scan: reads each project in scope (number, parent, labels such as zerodrift-exempt)."),
		s("resourcemanager.projects.getIamPolicy", "Scan: reads each project's IAM policy (rules sa-admin-role, sa-user-project-level, iam-public-member, audit-logging-disabled); iam.removeBinding and iam.setAuditConfig re-read it before and after a change."),
		s("resourcemanager.folders.get", "Scan: reads each folder above a project, for its parent (ancestry, scope by folder)."),
		s("resourcemanager.folders.getIamPolicy", "Scan: reads each folder's IAM policy (grants and audit configs inherited by projects); iam.removeBinding and iam.setAuditConfig re-read it."),
		s("resourcemanager.organizations.get", "Scan: reads the organization at the top of the ancestry."),
		s("resourcemanager.organizations.getIamPolicy", "Scan: reads the organization's IAM policy; iam.removeBinding and iam.setAuditConfig re-read it."),
		// Scan: compute.
		s("compute.firewalls.list", "Scan: lists each project's firewall rules; firewall.denyPorts reads them to skip a deny rule that exists already, and firewall.createEgressDeny to skip a network that denies all egress already and to pick a free name; network.deleteDefault snapshots the default rules and those zerodrift created on the network; "+dependents+" (rules other than those)."),
		s("compute.firewalls.get", "Firewall actions (restrictSources, disable, enableLogging, denyPorts) read the rule before planning, before writing and to verify; firewall.createEgressDeny reads back the rule it created, and before deleting it on rollback; network.deleteDefault re-reads the rules it deletes with the network."),
		s("compute.networks.list", "Scan: lists each project's VPC networks (rules network-default, network-legacy)."),
		s("compute.networks.get", "network.deleteDefault reads the network to snapshot it, re-reads it before deleting and checks it is gone; firewall.createEgressDeny (egress-deny-not-set) reads the network to snapshot it and before creating its rule."),
		s("compute.subnetworks.list", "Scan: lists subnetworks (aggregated list); "+dependents+"."),
		s("compute.subnetworks.get", "subnetwork.enableFlowLogs and subnetwork.enablePrivateGoogleAccess read the subnetwork before planning, before writing and to verify."),
		s("compute.instances.list", "Scan: lists instances (aggregated list; the compute-* rules); "+dependents+"."),
		s("compute.instances.get", "compute.setMetadata on an instance and instance.removeExternalIP read the instance before planning, before writing and to verify."),
		s("compute.projects.get", "Scan: reads each project's Compute Engine settings, whose common instance metadata the rules compute-os-login-disabled and compute-serial-port-enabled judge; compute.setMetadata on a project re-reads them before writing and to verify."),
		s("compute.instanceTemplates.list", dependents+"."),
		s("compute.forwardingRules.list", dependents+"."),
		s("compute.routers.list", dependents+"."),
		s("compute.vpnGateways.list", dependents+"."),
		s("compute.targetVpnGateways.list", dependents+"."),
		s("compute.vpnTunnels.list", dependents+"."),
		s("compute.routes.list", dependents+"."),
		// Scan: IAM.
		s("iam.serviceAccounts.list", "Scan: lists each project's service accounts."),
		s("iam.serviceAccountKeys.list", "Scan: lists each service account's user-managed keys (rules sa-user-managed-key, sa-key-not-rotated)."),
		s("iam.serviceAccountKeys.get", "serviceAccountKey.disable (sa-key-disable) reads the key before planning and to verify."),
		// Terraform state.
		{Name: "storage.objects.get", Role: Scanner, Scope: ScopeStateBucket, Feature: FeatureCycle,
			Why: "Reads the Terraform state of each root with a gcs backend, to map live resources to their Terraform addresses (pull requests instead of live fixes)."},
		// Org-wide scans.
		f("cloudasset.assets.listResource", ScopeOrganization, FeatureOrgScan, "Org-wide scans (--organization, --folder, scope.organization, scope.folders): ListAssets of content type RESOURCE, a paged listing of the resources of the types the enabled rules read."),
		f("cloudasset.assets.listIamPolicy", ScopeOrganization, FeatureOrgScan, "Org-wide scans: ListAssets of content type IAM_POLICY, the IAM policies of the projects, folders and organization in scope."),
		// The quota project.
		f("serviceusage.services.use", ScopeQuotaProject, FeatureQuota, "Resource Manager and Cloud Asset Inventory are client-based APIs: each call is charged to the caller's quota project (the GSA's own project, unless GOOGLE_CLOUD_QUOTA_PROJECT names another), which must let the caller use its services."),
		// Asset exports.
		f("cloudasset.assets.exportResource", ScopeOrganization, FeatureExport, "Asset exports (--export-to gs://BUCKET/PREFIX): ExportAssets of content type RESOURCE into the export bucket."),
		f("cloudasset.assets.exportIamPolicy", ScopeOrganization, FeatureExport, "Asset exports: ExportAssets of content type IAM_POLICY into the export bucket."),
		f("storage.objects.create", ScopeExportBucket, FeatureExport, "Asset exports: ExportAssets writes the export's object into the bucket with the caller's permission, and its operation fails without it."),
		f("storage.objects.get", ScopeExportBucket, FeatureExport, "Asset exports: reads the export's object once the ExportAssets operation is done."),
		f("storage.objects.delete", ScopeExportBucket, FeatureExport, "Asset exports: deletes the export's object once read; Cloud Storage also requires it to overwrite an object of the same name."),
		// Event mode.
		f("pubsub.subscriptions.consume", ScopeEventSubscription, FeatureEvents, "Event mode (serve --events): pulls the messages of the Cloud Asset Inventory feed from its subscription (StreamingPull) and acknowledges each once the ledger holds its decision."),

		// Remediate: compute.
		r("compute.firewalls.update", "firewall.restrictSources, firewall.disable and firewall.enableLogging patch the rule (update when a field must be cleared); their rollbacks write it back."),
		r("compute.firewalls.create", "firewall.denyPorts (firewall-deny-ports) creates its deny rule and firewall.createEgressDeny its egress deny-all rule; rolling back network.deleteDefault re-creates the default rules."),
		r("compute.firewalls.delete", "network.deleteDefault deletes the default rules, and those zerodrift created on the network, before the network; rolling back firewall.denyPorts or firewall.createEgressDeny deletes the rule it created."),
		r("compute.networks.updatePolicy", "Compute Engine requires it, on the rule's network, of every firewall rule create, update and delete above."),
		r("compute.networks.delete", "network.deleteDefault (network-delete-default) deletes the unused default network."),
		r("compute.networks.create", "Rolling back network.deleteDefault re-creates the network from its snapshot."),
		r("compute.globalOperations.get", "Every compute write of a global resource (firewall rules, networks, a project's common instance metadata) waits for its global operation, polling it until it is done."),
		r("compute.subnetworks.update", "subnetwork.enableFlowLogs turns VPC flow logs on (subnetworks.patch, with the subnetwork's fingerprint); its rollback turns them off."),
		r("compute.subnetworks.setPrivateIpGoogleAccess", "subnetwork.enablePrivateGoogleAccess turns Private Google Access on; its rollback turns it off."),
		r("compute.regionOperations.get", "The subnetwork actions wait for their region operation, polling it until it is done."),
		r("compute.instances.setMetadata", "compute.setMetadata on an instance (OS Login, serial port, project SSH keys) sets one metadata key, with the metadata's fingerprint; its rollback puts the key's old value back. Compute Engine also requires iam.serviceAccounts.actAs on an instance's service account, which is not granted here: prefer the project-level setting."),
		r("compute.projects.setCommonInstanceMetadata", "compute.setMetadata on a project sets one key of its common instance metadata, with the metadata's fingerprint; its rollback puts the key's old value back."),
		r("compute.instances.deleteAccessConfig", "instance.removeExternalIP (compute-public-ip) deletes an instance's external IPv4 access configs."),
		r("compute.instances.addAccessConfig", "Rolling back instance.removeExternalIP re-adds the access configs it deleted, asking for their old addresses (a static address also needs compute.addresses.use, not granted here)."),
		r("compute.subnetworks.useExternalIp", "Compute Engine requires it, on the interface's subnetwork, of the addAccessConfig of the rollback above."),
		r("compute.zoneOperations.get", "The instance actions (compute.setMetadata on an instance, instance.removeExternalIP) wait for their zone operation, polling it until it is done."),
		// Remediate: IAM policies.
		r("resourcemanager.projects.setIamPolicy", "iam.removeBinding (iam-remove-admin-binding, iam-remove-outside-member, iam-remove-primitive-role, iam-remove-project-sa-user, iam-remove-public-member) writes a project's policy, and iam.setAuditConfig its audit configs (update mask auditConfigs,etag); their rollbacks write them back."),
		r("resourcemanager.folders.setIamPolicy", "iam.removeBinding and iam.setAuditConfig on a folder's policy, and their rollbacks."),
		r("resourcemanager.organizations.setIamPolicy", "iam.removeBinding and iam.setAuditConfig on the organization's policy, and their rollbacks."),
		// Remediate: service account keys.
		r("iam.serviceAccountKeys.disable", "serviceAccountKey.disable (sa-key-disable) disables a user-managed key; it never deletes one."),
		r("iam.serviceAccountKeys.enable", "Rolling back serviceAccountKey.disable enables the key again."),
	}
}

// ScannerPermissions returns, sorted, the permissions of the scan-only identity that the
// remediation cycle uses (FeatureCycle), in all scopes: what a scan of projects and a dry
// run need. engine/permissions_test.go proves them against the sandbox. The other
// features' permissions are in Permissions and RolePermissions. The caller owns the slice.
func ScannerPermissions() []string {
	return names(func(p Permission) bool { return p.Role == Scanner && p.Feature == FeatureCycle })
}

// RemediatorPermissions returns, sorted, the permissions of the remediating identity that
// the remediation cycle uses (FeatureCycle), in all scopes: the scanner's and the writes.
// engine/permissions_test.go proves each needed against the sandbox. The other features'
// permissions are in Permissions and RolePermissions. The caller owns the slice.
func RemediatorPermissions() []string {
	return names(func(p Permission) bool { return p.Feature == FeatureCycle })
}

// RolePermissions returns, sorted, the permissions of role that are granted in scope, for
// every feature: for ScopeOrganization, those of the custom role with the role's ID; for
// the other scopes, those of the custom role scope.RoleID() names (the same for both
// roles). The caller owns the slice.
func RolePermissions(role Role, scope Scope) []string {
	return names(func(p Permission) bool {
		return p.Scope == scope && (p.Role == Scanner || role == Remediator)
	})
}

func names(keep func(Permission) bool) []string {
	var out []string
	for _, p := range Permissions() {
		if keep(p) {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
