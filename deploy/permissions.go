// Package deploy holds what running zerodrift on Google Cloud needs: the IAM permissions of
// its Google service account, in two roles, scan-only (zerodriftScanner) and remediate
// (zerodriftRemediator).
//
// This file is the single source of truth for those permissions. The Terraform under
// terraform/ and docs/permissions.md list the same permissions, and tests hold them to it;
// engine/permissions_test.go proves, against the sandbox enforcing exactly these
// permissions, that a full remediation cycle needs every one of them and nothing more.
package deploy

import (
	"slices"
)

// Role names one of zerodrift's two roles, by the ID of its custom role.
type Role string

// zerodrift's roles.
const (
	// Scanner reads everything zerodrift reads: scans, dry runs (plans included) and
	// Terraform state. It changes nothing.
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
)

// StateReaderRoleID is the ID of the custom role granted on each Terraform state bucket.
const StateReaderRoleID = "zerodriftStateReader"

// Permission is one IAM permission zerodrift's service account needs.
type Permission struct {
	// Name is the permission, e.g. "compute.firewalls.list".
	Name string
	// Role is the least role that has it: Scanner permissions are in Remediator too.
	Role Role
	// Scope says where it is granted.
	Scope Scope
	// Why says which step of zerodrift uses it.
	Why string
}

// Permissions returns every permission zerodrift's service account may need, the
// scanner's first, each with its role and why; the caller owns the slice.
func Permissions() []Permission {
	s := func(name, why string) Permission {
		return Permission{Name: name, Role: Scanner, Scope: ScopeOrganization, Why: why}
	}
	r := func(name, why string) Permission {
		return Permission{Name: name, Role: Remediator, Scope: ScopeOrganization, Why: why}
	}
	const dependents = "network.deleteDefault (network-delete-default) looks for what still uses the default network before planning and again before deleting it"
	return []Permission{
		// Scan: resource manager.
		s("resourcemanager.projects.get", "Scan: reads each project in scope (number, parent, labels such as zerodrift-exempt)."),
		s("resourcemanager.projects.getIamPolicy", "Scan: reads each project's IAM policy (rules sa-admin-role, sa-user-project-level, iam-public-member); iam.removeBinding re-reads it before and after a change."),
		s("resourcemanager.folders.get", "Scan: reads each folder above a project, for its parent (ancestry, scope by folder)."),
		s("resourcemanager.folders.getIamPolicy", "Scan: reads each folder's IAM policy (grants inherited by projects); iam.removeBinding re-reads it."),
		s("resourcemanager.organizations.get", "Scan: reads the organization at the top of the ancestry."),
		s("resourcemanager.organizations.getIamPolicy", "Scan: reads the organization's IAM policy; iam.removeBinding re-reads it."),
		// Scan: compute.
		s("compute.firewalls.list", "Scan: lists each project's firewall rules; firewall.denyPorts reads them to skip a deny rule that exists already; "+dependents+" (rules other than the default ones)."),
		s("compute.firewalls.get", "Firewall actions (restrictSources, disable, enableLogging, denyPorts) read the rule before planning, before writing and to verify; network.deleteDefault snapshots the default rules."),
		s("compute.networks.list", "Scan: lists each project's VPC networks (rules network-default, network-legacy)."),
		s("compute.networks.get", "network.deleteDefault reads the network to snapshot it, re-reads it before deleting and checks it is gone."),
		s("compute.subnetworks.list", "Scan: lists subnetworks (aggregated list); "+dependents+"."),
		s("compute.instances.list", "Scan: lists instances (aggregated list); "+dependents+"."),
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
		{Name: "storage.objects.get", Role: Scanner, Scope: ScopeStateBucket,
			Why: "Reads the Terraform state of each root with a gcs backend, to map live resources to their Terraform addresses (pull requests instead of live fixes)."},

		// Remediate: compute.
		r("compute.firewalls.update", "firewall.restrictSources, firewall.disable and firewall.enableLogging patch the rule (update when a field must be cleared); their rollbacks write it back."),
		r("compute.firewalls.create", "firewall.denyPorts (firewall-deny-ports) creates its deny rule; rolling back network.deleteDefault re-creates the default rules."),
		r("compute.firewalls.delete", "network.deleteDefault deletes the default rules before the network; rolling back firewall.denyPorts deletes its deny rule."),
		r("compute.networks.updatePolicy", "Compute Engine requires it, on the rule's network, of every firewall rule create, update and delete above."),
		r("compute.networks.delete", "network.deleteDefault (network-delete-default) deletes the unused default network."),
		r("compute.networks.create", "Rolling back network.deleteDefault re-creates the network from its snapshot."),
		r("compute.globalOperations.get", "Every compute write waits for its global operation, polling it until it is done."),
		// Remediate: IAM policies.
		r("resourcemanager.projects.setIamPolicy", "iam.removeBinding (iam-remove-admin-binding, iam-remove-project-sa-user, iam-remove-public-member) writes a project's policy; its rollback writes the binding back."),
		r("resourcemanager.folders.setIamPolicy", "iam.removeBinding on a folder's policy, and its rollback."),
		r("resourcemanager.organizations.setIamPolicy", "iam.removeBinding on the organization's policy, and its rollback."),
		// Remediate: service account keys.
		r("iam.serviceAccountKeys.disable", "serviceAccountKey.disable (sa-key-disable) disables a user-managed key; it never deletes one."),
		r("iam.serviceAccountKeys.enable", "Rolling back serviceAccountKey.disable enables the key again."),
	}
}

// ScannerPermissions returns, sorted, every permission of the scan-only identity, in all
// scopes: what a scan and a dry run need. The caller owns the slice.
func ScannerPermissions() []string {
	return names(func(p Permission) bool { return p.Role == Scanner })
}

// RemediatorPermissions returns, sorted, every permission of the remediating identity, in
// all scopes: the scanner's and the writes. The caller owns the slice.
func RemediatorPermissions() []string { return names(func(Permission) bool { return true }) }

// RolePermissions returns, sorted, the permissions of role that are granted in scope: for
// ScopeOrganization, those of the custom role with the role's ID; for ScopeStateBucket,
// those of zerodriftStateReader (the same for both roles). The caller owns the slice.
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
