package playbooks

import (
	"fmt"
	"slices"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the three catalogues a playbook is checked against: the actions it may
// run (with their typed parameters), the preconditions it may name, and the Terraform edits
// it may describe. Each is a literal built afresh on every call, so no caller can change
// what another sees.

// ParamType is the type of an action parameter's value.
type ParamType string

// Parameter types. YAML values must have exactly the type: a quoted "5" is not an int.
const (
	TypeString     ParamType = "string"
	TypeStringList ParamType = "[]string"
	TypeBool       ParamType = "bool"
	TypeInt        ParamType = "int"
	// TypeNumber is a number, integer or not (0.5, 1); NaN and the infinities are refused.
	TypeNumber ParamType = "number"
)

// Format constrains the text of a string parameter (or of each entry of a list).
type Format string

// Formats of string parameters.
const (
	// FormatNone accepts any text.
	FormatNone Format = ""
	// FormatCIDR is an IPv4 or IPv6 range such as 35.235.240.0/20; the whole internet, or
	// ranges that together cover it, are refused.
	FormatCIDR Format = "cidr"
	// FormatPort is a port or port range with an optional protocol: "22", "20-30",
	// "udp:3389". Without a protocol the port is a tcp port.
	FormatPort Format = "port"
	// FormatRole is an IAM role name: roles/NAME, projects/P/roles/NAME or
	// organizations/O/roles/NAME.
	FormatRole Format = "role"
	// FormatResourceName is a Compute Engine resource name, such as a firewall rule's: 1 to
	// 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a
	// hyphen (RFC 1035).
	FormatResourceName Format = "resource-name"
)

// NumberRange bounds a number parameter, inclusive unless MinExclusive says otherwise.
type NumberRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// MinExclusive excludes Min itself: flowSampling is more than 0 and at most 1.
	MinExclusive bool `json:"minExclusive,omitempty"`
}

// Contains reports whether f is in the range.
func (r NumberRange) Contains(f float64) bool {
	return f <= r.Max && (f > r.Min || !r.MinExclusive && f == r.Min)
}

// String says the range for people: "more than 0 and at most 1", "from 0 to 1".
func (r NumberRange) String() string {
	if r.MinExclusive {
		return fmt.Sprintf("more than %v and at most %v", r.Min, r.Max)
	}
	return fmt.Sprintf("from %v to %v", r.Min, r.Max)
}

// ParamSpec describes one parameter of an action.
type ParamSpec struct {
	Name     string    `json:"name"`
	Type     ParamType `json:"type"`
	Required bool      `json:"required"`
	// Enum, when set, lists the only values a string parameter may take.
	Enum   []string `json:"enum,omitempty"`
	Format Format   `json:"format,omitempty"`
	// Min and Max bound an int parameter, inclusive.
	Min int `json:"min,omitempty"`
	Max int `json:"max,omitempty"`
	// Range bounds a number parameter.
	Range *NumberRange `json:"range,omitempty"`
	// Default says, for people, what an omitted optional parameter means.
	Default string `json:"default,omitempty"`
	// DefaultFrom names the configuration value an omitted parameter takes (see
	// Step.Resolve), e.g. "baseline.trustedSourceRanges"; "" when the action decides.
	DefaultFrom string `json:"defaultFrom,omitempty"`
	Description string `json:"description"`
}

// ActionSpec describes an action playbooks may run: its name, the kind of resource it
// changes and its parameters. The code behind it is a remediators.Action of the same name.
type ActionSpec struct {
	Name string `json:"name"`
	// AssetTypes are the CAI asset types the action changes; every rule a playbook fixes
	// must judge one of them.
	AssetTypes  []string    `json:"assetTypes"`
	Description string      `json:"description"`
	Params      []ParamSpec `json:"params"`
}

// Param returns the parameter named name.
func (a ActionSpec) Param(name string) (ParamSpec, bool) {
	i := slices.IndexFunc(a.Params, func(p ParamSpec) bool { return p.Name == name })
	if i < 0 {
		return ParamSpec{}, false
	}
	return a.Params[i], true
}

// baselineTrustedSourceRanges is the configuration path firewall.restrictSources' ranges
// default to.
const baselineTrustedSourceRanges = "baseline.trustedSourceRanges"

// hierarchyTypes are the asset types whose IAM policies the IAM rules judge.
func hierarchyTypes() []string {
	return []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}
}

// Actions returns the action catalogue, sorted by name.
func Actions() []ActionSpec {
	return []ActionSpec{
		{
			Name:       "compute.setMetadata",
			AssetTypes: []string{inventory.TypeInstance, inventory.TypeComputeProject},
			Description: "Set one boolean metadata key on an instance (instances.setMetadata) or in a project's common instance " +
				"metadata (projects.setCommonInstanceMetadata), every other item kept, guarded by the metadata's fingerprint; " +
				"a key that already has the value (TRUE, true and 1 are one value) is left alone. Rolling back puts the key's " +
				"old value back, or removes the key if it was absent.",
			Params: []ParamSpec{
				{Name: "key", Type: TypeString, Required: true, Enum: []string{"enable-oslogin", "serial-port-enable", "block-project-ssh-keys"},
					Description: "the metadata key to set"},
				{Name: "value", Type: TypeString, Required: true,
					Description: "the value to set, a boolean Compute Engine reads: \"TRUE\" or \"FALSE\", quoted (YAML reads a bare TRUE as a boolean)"},
			},
		},
		{
			Name:       "firewall.createEgressDeny",
			AssetTypes: []string{inventory.TypeNetwork},
			Description: "Create, on the network, an enabled and logged EGRESS rule denying protocol all to 0.0.0.0/0 for every " +
				"instance, the default-deny baseline; a network that has one already is left alone. It can cut traffic: " +
				"every outbound connection of the network's instances, internal ones included, that no higher-priority EGRESS " +
				"allow rule permits is dropped. Rolling back deletes the rule.",
			Params: []ParamSpec{
				{Name: "priority", Type: TypeInt, Min: 0, Max: 65535,
					Default:     "65535",
					Description: "the rule's priority; 65535, the lowest, lets every EGRESS allow rule of the network go first"},
				{Name: "name", Type: TypeString, Format: FormatResourceName,
					Default:     "zerodrift-deny-all-egress, or zerodrift-deny-all-egress-NETWORK when another network's rule holds that name",
					Description: "the rule's name; firewall names are unique in a project, and a name another rule holds is refused"},
			},
		},
		{
			Name:       "firewall.denyPorts",
			AssetTypes: []string{inventory.TypeFirewall},
			Description: "Create a DENY ingress rule from 0.0.0.0/0 and ::/0 for the exposed ports, on the open rule's " +
				"network and targets, at a higher priority than the open rule; the open rule itself is not touched.",
			Params: []ParamSpec{
				{Name: "ports", Type: TypeStringList, Format: FormatPort,
					Default:     "the finding's exposed SSH and RDP ports, from evidence.exposed",
					Description: "ports to deny, each \"22\", \"20-30\" or \"udp:3389\" (tcp when no protocol is given)"},
				{Name: "priorityOffset", Type: TypeInt, Min: 1, Max: 65535,
					Default:     "1",
					Description: "how much higher than the open rule the deny rule's priority is (its priority number is that much lower)"},
			},
		},
		{
			Name:        "firewall.disable",
			AssetTypes:  []string{inventory.TypeFirewall},
			Description: "Disable the firewall rule (disabled: true); it is kept, and enabling it again undoes the fix.",
		},
		{
			Name:        "firewall.enableLogging",
			AssetTypes:  []string{inventory.TypeFirewall},
			Description: "Turn on firewall rules logging for the rule, so connections it admits are recorded.",
			Params: []ParamSpec{
				{Name: "metadata", Type: TypeString, Enum: []string{"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"},
					Default:     "INCLUDE_ALL_METADATA",
					Description: "whether log entries carry VM and network metadata"},
			},
		},
		{
			Name:       "firewall.restrictSources",
			AssetTypes: []string{inventory.TypeFirewall},
			Description: "Replace the source ranges that open the rule to the whole internet (0.0.0.0/0, ::/0 or ranges " +
				"that together cover it) with trusted ranges; the rest of the rule is kept.",
			Params: []ParamSpec{
				{Name: "ranges", Type: TypeStringList, Format: FormatCIDR,
					Default:     "the baseline's trusted source ranges",
					DefaultFrom: baselineTrustedSourceRanges,
					Description: "the trusted source ranges, e.g. [35.235.240.0/20]"},
			},
		},
		{
			Name:       "iam.removeBinding",
			AssetTypes: hierarchyTypes(),
			Description: "Remove the finding's member from the finding's role (and condition), or from each of the roles it lists, " +
				"in the resource's IAM policy, in one read-modify-write with the etag; it refuses to remove a last owner " +
				"or zerodrift's own access.",
			Params: []ParamSpec{
				{Name: "replaceWith", Type: TypeString, Format: FormatRole,
					Default: "none: the member loses the role outright",
					Description: "a narrower role to grant the member instead, e.g. roles/compute.viewer; never an owner, editor or admin role, " +
						"and only when the finding names one role"},
			},
		},
		{
			Name:       "iam.setAuditConfig",
			AssetTypes: hierarchyTypes(),
			Description: "Make the allServices audit config of the resource's IAM policy enable the Data Access log types with " +
				"nobody exempted, read-modify-write with the etag and the update mask auditConfigs,etag: every binding and " +
				"every other service's audit config is kept. Rolling back puts the old allServices config back.",
			Params: []ParamSpec{
				{Name: "logTypes", Type: TypeStringList, Enum: []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"},
					Default:     "ADMIN_READ, DATA_READ and DATA_WRITE",
					Description: "the log types to enable for allServices, with their exempted members removed"},
			},
		},
		{
			Name:       "instance.removeExternalIP",
			AssetTypes: []string{inventory.TypeInstance},
			Description: "Delete the instance's external IPv4 access configs: those the finding names (evidence.accessConfigs), " +
				"or all of them. IPv6 access configs are left. An ephemeral address is lost for good: rolling back re-adds " +
				"each access config, and only a reserved static address comes back; an ephemeral one is replaced by a new one.",
		},
		{
			Name:        "network.deleteDefault",
			AssetTypes:  []string{inventory.TypeNetwork},
			Description: "Delete the default network and its firewall rules; it refuses while anything (instances, subnets in use, custom routes, peerings, VPN gateways) still uses the network.",
		},
		{
			Name:        "serviceAccountKey.disable",
			AssetTypes:  []string{inventory.TypeServiceAccountKey},
			Description: "Disable the service account key; it is never deleted, so enabling it again undoes the fix.",
		},
		{
			Name:       "subnetwork.enableFlowLogs",
			AssetTypes: []string{inventory.TypeSubnetwork},
			Description: "Turn VPC flow logs on for the subnetwork (subnetworks.patch with its fingerprint); a subnetwork whose " +
				"flow logs are on already is left alone, and one Google manages for a service (proxy-only, Private Service " +
				"Connect...) is refused. Rolling back turns them off.",
			Params: []ParamSpec{
				{Name: "aggregationInterval", Type: TypeString,
					Enum:        []string{"INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN", "INTERVAL_10_MIN", "INTERVAL_15_MIN"},
					Default:     "INTERVAL_5_SEC",
					Description: "how long flows are aggregated into one log entry"},
				{Name: "flowSampling", Type: TypeNumber, Range: &NumberRange{Min: 0, Max: 1, MinExclusive: true},
					Default:     "0.5",
					Description: "the share of flows logged, more than 0 and at most 1"},
				{Name: "metadata", Type: TypeString, Enum: []string{"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"},
					Default:     "INCLUDE_ALL_METADATA",
					Description: "whether log entries carry VM and network metadata"},
			},
		},
		{
			Name:       "subnetwork.enablePrivateGoogleAccess",
			AssetTypes: []string{inventory.TypeSubnetwork},
			Description: "Turn Private Google Access on for the subnetwork (subnetworks.setPrivateIpGoogleAccess), so its " +
				"instances without an external address reach Google APIs; rolling back turns it off.",
		},
	}
}

// LookupAction returns the catalogue entry of the action named name.
func LookupAction(name string) (ActionSpec, bool) {
	as := Actions()
	i := slices.IndexFunc(as, func(a ActionSpec) bool { return a.Name == name })
	if i < 0 {
		return ActionSpec{}, false
	}
	return as[i], true
}

// PreconditionSpec describes a precondition: a named check the engine evaluates on the
// freshly re-read resource and the finding before it runs a playbook's actions. A playbook
// whose precondition fails is not run; the finding is reported with the reason.
type PreconditionSpec struct {
	Name string `json:"name"`
	// AssetTypes are the asset types the check means something for; nil means every type.
	AssetTypes  []string `json:"assetTypes,omitempty"`
	Description string   `json:"description"`
}

// Preconditions returns the precondition catalogue, sorted by name.
func Preconditions() []PreconditionSpec {
	return []PreconditionSpec{
		{
			Name: "notExempt",
			Description: "No unexpired exemption in the configuration and no zerodrift-exempt label covers the resource " +
				"for the finding's rule. The engine enforces exemptions before every change whether or not a playbook names " +
				"this; naming it makes the guard visible.",
		},
		{
			Name:       "notManagedByGKE",
			AssetTypes: []string{inventory.TypeFirewall},
			Description: "The firewall rule is not one GKE or a Kubernetes controller creates and reconciles (gke-*, k8s-fw-*, " +
				"k8s2-*, k8s-*-http-hc): the controller would undo the change; fix the cluster's Service or Ingress instead.",
		},
		{
			Name:       "notOwnAccess",
			AssetTypes: append(hierarchyTypes(), inventory.TypeServiceAccountKey),
			Description: "The change does not touch zerodrift's own access: a grant to the identity zerodrift runs as, " +
				"or a key of that service account.",
		},
		{
			Name:       "unconditionalGrant",
			AssetTypes: hierarchyTypes(),
			Description: "The offending grant has no IAM condition (evidence.conditional is false); conditional grants are " +
				"often deliberate, time-bound exceptions and are left to a person.",
		},
	}
}

// LookupPrecondition returns the catalogue entry of the precondition named name.
func LookupPrecondition(name string) (PreconditionSpec, bool) {
	ps := Preconditions()
	i := slices.IndexFunc(ps, func(p PreconditionSpec) bool { return p.Name == name })
	if i < 0 {
		return PreconditionSpec{}, false
	}
	return ps[i], true
}

// EditSpec describes a Terraform edit: how the pull-request feature writes a playbook's fix
// into the Terraform block that declares the resource.
type EditSpec struct {
	Name string `json:"name"`
	// ResourceTypes are the Terraform resource types the edit applies to; nil means any
	// google_* type.
	ResourceTypes []string `json:"resourceTypes,omitempty"`
	Description   string   `json:"description"`
}

// iamResourceTypes are the Terraform resources that grant roles on projects, folders and
// organizations.
func iamResourceTypes() []string {
	var out []string
	for _, scope := range []string{"project", "folder", "organization"} {
		for _, kind := range []string{"iam_member", "iam_binding", "iam_policy"} {
			out = append(out, "google_"+scope+"_"+kind)
		}
	}
	return out
}

// TerraformEdits returns the Terraform edit catalogue, sorted by name.
func TerraformEdits() []EditSpec {
	firewall := []string{"google_compute_firewall"}
	return []EditSpec{
		{Name: "add-deny-firewall", ResourceTypes: firewall,
			Description: "Add a google_compute_firewall with a deny block for the exposed ports from 0.0.0.0/0 and ::/0, " +
				"on the open rule's network and targets, at a higher priority (lower number) than the open rule."},
		{Name: "add-egress-deny", ResourceTypes: []string{"google_compute_network"},
			Description: "Add, next to the google_compute_network, a google_compute_firewall on that network: EGRESS, deny protocol all " +
				"to 0.0.0.0/0, at the playbook's priority (65535 unless it says otherwise), logged."},
		{Name: "disable-firewall", ResourceTypes: firewall,
			Description: "Set disabled = true on the google_compute_firewall."},
		{Name: "enable-firewall-logging", ResourceTypes: firewall,
			Description: "Add a log_config block (metadata = INCLUDE_ALL_METADATA unless the playbook says otherwise) to the google_compute_firewall."},
		{Name: "enable-private-google-access", ResourceTypes: []string{"google_compute_subnetwork"},
			Description: "Set private_ip_google_access = true on the google_compute_subnetwork (subnet_private_access = \"true\" for a subnet of terraform-google-modules/network)."},
		{Name: "enable-subnet-flow-logs", ResourceTypes: []string{"google_compute_subnetwork"},
			Description: "Add or update the google_compute_subnetwork's log_config with the playbook's aggregation interval, sampling and " +
				"metadata (subnet_flow_logs and its settings for a subnet of terraform-google-modules/network)."},
		{Name: "remove-external-ip", ResourceTypes: []string{"google_compute_instance"},
			Description: "Remove the access_config blocks of the google_compute_instance's network_interface blocks the finding names; ipv6_access_config blocks are kept."},
		{Name: "remove-iam-member", ResourceTypes: iamResourceTypes(),
			Description: "Remove the member from the role: delete a *_iam_member resource, or drop the member from the members of a *_iam_binding or *_iam_policy."},
		{Name: "remove-resource",
			Description: "Delete the resource block that declares the resource."},
		{Name: "replace-world-source-ranges", ResourceTypes: firewall,
			Description: "Replace 0.0.0.0/0 and ::/0 in source_ranges with the trusted source ranges."},
		{Name: "set-audit-config", ResourceTypes: []string{"google_project_iam_audit_config"},
			Description: "Give the project's google_project_iam_audit_config for allServices an audit_log_config for each of the playbook's " +
				"log types, without exempted_members; add one next to the project's IAM (or its google_project) when none exists."},
		{Name: "set-instance-metadata", ResourceTypes: []string{"google_compute_instance", "google_compute_project_metadata_item", "google_compute_project_metadata"},
			Description: "Set the key to the value in the google_compute_instance's metadata map; for a project, in its " +
				"google_compute_project_metadata_item for the key (a new one next to its other items or its google_project) " +
				"or its google_compute_project_metadata."},
	}
}

// LookupTerraformEdit returns the catalogue entry of the Terraform edit named name.
func LookupTerraformEdit(name string) (EditSpec, bool) {
	es := TerraformEdits()
	i := slices.IndexFunc(es, func(e EditSpec) bool { return e.Name == name })
	if i < 0 {
		return EditSpec{}, false
	}
	return es[i], true
}
