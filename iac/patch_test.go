package iac

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/zerodrift/zerodrift/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files of the patch tests")

// patchCase is one edit of one fixture file.
type patchCase struct {
	name      string // golden file: testdata/patch/NAME.golden
	file      string // input: testdata/patch/FILE
	assetType string
	resource  string
	evidence  map[string]any
	edit      string
	params    map[string]any
	// warning, when set, must appear in one of the patch's warnings.
	warning string
	// blocks is how many top-level blocks the patch may change (0: one); a finding that
	// lists several roles may have its grants declared in several.
	blocks int
	// creates and destroys are the patch's Creates and Destroys; updates, when set, its
	// Updates (unset: the matched declaration alone when it creates and destroys nothing).
	creates, destroys, updates []string
	inputs                     []string // module call inputs changed
}

// iap returns the parameters of replace-world-source-ranges with IAP's range.
func iap() map[string]any { return map[string]any{"ranges": []string{"35.235.240.0/20"}} }

func patchCases() []patchCase {
	fw := func(project, name string) string { return fwName(project, name) }
	prod := func(role, member string) map[string]any { return iamEv(role, member) }
	return []patchCase{
		{name: "fw_replace_single", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-ssh"),
			edit: EditReplaceWorldSourceRanges, params: iap()},
		{name: "fw_replace_multiline", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-multi"),
			evidence: map[string]any{"worldRanges": []any{"0.0.0.0/1", "128.0.0.0/1"}},
			edit:     EditReplaceWorldSourceRanges, params: map[string]any{"ranges": []any{"35.235.240.0/20", "2001:db8::/32"}}},
		{name: "fw_replace_implied", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-implied"),
			edit: EditReplaceWorldSourceRanges, params: iap()},
		{name: "fw_replace_local", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-disabled-false"),
			edit: EditReplaceWorldSourceRanges, params: iap()},
		{name: "fw_disable", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-ssh"),
			edit: EditDisableFirewall},
		{name: "fw_disable_existing", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-disabled-false"),
			edit: EditDisableFirewall},
		{name: "fw_logging", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-ssh"),
			edit: EditEnableFirewallLogging},
		{name: "fw_logging_existing", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-disabled-false"),
			edit: EditEnableFirewallLogging, params: map[string]any{"metadata": "INCLUDE_ALL_METADATA"}},
		{name: "fw_logging_legacy", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-legacy-logging"),
			edit: EditEnableFirewallLogging, params: map[string]any{"metadata": "EXCLUDE_ALL_METADATA"}, warning: "enable_logging is deprecated"},
		{name: "fw_add_deny", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-implied"),
			edit: EditAddDenyFirewall, creates: []string{`google_compute_firewall.implied_deny_world`}, params: map[string]any{"ports": []string{"3389", "udp:3389"}}},
		{name: "fw_add_deny_evidence", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-legacy-logging"),
			evidence: map[string]any{"exposed": []map[string]any{{"protocol": "all", "ports": "all"}}},
			edit:     EditAddDenyFirewall, creates: []string{`google_compute_firewall.legacy_logging_deny_world`}, params: map[string]any{"priorityOffset": 10}},
		{name: "fw_remove", file: "firewall.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-ssh"),
			edit: EditRemoveResource, destroys: []string{`google_compute_firewall.ssh`}},
		{name: "var_replace", file: "variables.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-admin"),
			edit: EditReplaceWorldSourceRanges, params: iap()},
		{name: "mod_replace", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-rdp-split"),
			evidence: map[string]any{"worldRanges": []string{"0.0.0.0/1", "128.0.0.0/1"}},
			edit:     EditReplaceWorldSourceRanges, params: iap()},
		{name: "mod_replace_missing", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-no-ranges"),
			edit: EditReplaceWorldSourceRanges, params: iap()},
		{name: "mod_replace_ingress", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-web"),
			edit: EditReplaceWorldSourceRanges, params: map[string]any{"ranges": []string{"2001:db8::/32"}}},
		{name: "mod_disable", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-rdp-split"),
			edit: EditDisableFirewall, warning: "check the module version"},
		{name: "mod_logging", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-no-ranges"),
			edit: EditEnableFirewallLogging},
		{name: "mod_logging_multiline", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-rdp-split"),
			edit: EditEnableFirewallLogging},
		{name: "mod_remove", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-rdp-split"),
			edit: EditRemoveResource},
		{name: "mod_add_deny", file: "module_rules.tf", assetType: inventory.TypeFirewall, resource: fw("acme-prod", "allow-rdp-split"),
			evidence: map[string]any{"exposed": []any{map[string]any{"protocol": "tcp", "ports": []any{"3389"}}}},
			edit:     EditAddDenyFirewall},
		{name: "iam_foreach_remove", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/iam.serviceAccountUser", "user:carol@acme.example"), edit: EditRemoveIAMMember, destroys: []string{`google_project_iam_member.impersonators["user:carol@acme.example"]`}},
		{name: "iam_member_remove", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/iam.serviceAccountUser", "user:bob@acme.example"), edit: EditRemoveIAMMember, destroys: []string{`google_project_iam_member.bob`}},
		{name: "iam_binding_remove", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/compute.admin", "user:ivan@acme.example"), edit: EditRemoveIAMMember},
		{name: "iam_binding_remove_commented", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/compute.admin", "group:netops@acme.example"), edit: EditRemoveIAMMember},
		{name: "iam_binding_last", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/iam.securityAdmin", "serviceAccount:secbot@acme-prod.iam.gserviceaccount.com"), edit: EditRemoveIAMMember, destroys: []string{`google_project_iam_binding.security_admin`}},
		{name: "iam_binding_inline", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/logging.admin", "user:kim@acme.example"), edit: EditRemoveIAMMember},
		{name: "iam_module_entry", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/iam.serviceAccountUser", "user:mia@acme.example"), edit: EditRemoveIAMMember},
		{name: "iam_module_member", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: prod("roles/viewer", "user:ned@acme.example"), edit: EditRemoveIAMMember},
		{name: "iam_module_conditional", file: "iam.tf", assetType: inventory.TypeProject, resource: prodIAM,
			evidence: map[string]any{"role": "roles/storage.admin", "member": "user:gina@acme.example", "project": "acme-prod",
				"condition": map[string]string{"title": "expires", "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")"}},
			edit: EditRemoveIAMMember},
		{name: "policy_remove_last", file: "policy.tf", assetType: inventory.TypeProject,
			resource: "//cloudresourcemanager.googleapis.com/projects/acme-legacy",
			evidence: map[string]any{"role": "roles/editor", "member": "user:eve@acme.example"}, edit: EditRemoveIAMMember},
		{name: "policy_remove", file: "policy.tf", assetType: inventory.TypeProject,
			resource: "//cloudresourcemanager.googleapis.com/projects/acme-legacy",
			evidence: map[string]any{"role": "roles/viewer", "member": "user:pat@acme.example"}, edit: EditRemoveIAMMember},
		{name: "outside_members", file: "outside.tf", assetType: inventory.TypeProject, resource: dataIAM,
			evidence: outsideEv("user:jane.freelance@gmail.com", "roles/bigquery.dataViewer", "roles/logging.viewer", "roles/viewer"),
			edit:     EditRemoveIAMMember, updates: []string{`google_project_iam_binding.bq_viewers`}, destroys: []string{`google_project_iam_member.jane_viewer`, `google_project_iam_member.jane_logs`}, blocks: 3},
		{name: "outside_for_each", file: "outside.tf", assetType: inventory.TypeProject, resource: dataIAM,
			evidence: outsideEv("user:max@googlemail.com", "roles/storage.objectViewer", "roles/monitoring.viewer"), edit: EditRemoveIAMMember, destroys: []string{`google_project_iam_member.max["roles/monitoring.viewer"]`, `google_project_iam_member.max["roles/storage.objectViewer"]`}},
		{name: "outside_module", file: "outside.tf", assetType: inventory.TypeProject, resource: dataIAM,
			evidence: withConditions(outsideEv("user:sam@gmail.com", "roles/bigquery.jobUser", "roles/bigquery.user", "roles/browser", "roles/storage.admin"),
				map[string]string{"role": "roles/storage.admin", "title": "expires", "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")"}),
			edit: EditRemoveIAMMember, inputs: []string{`module.data_iam.bindings["roles/bigquery.jobUser"]`, `module.data_iam.bindings["roles/bigquery.user"]`, `module.data_iam.bindings["roles/browser"]`, `module.data_iam.conditional_bindings[0]`}},
		{name: "network_remove", file: "network.tf", assetType: inventory.TypeNetwork,
			resource: "//compute.googleapis.com/projects/acme-dev/global/networks/default", edit: EditRemoveResource, destroys: []string{`google_compute_network.default`},
			warning: "still refers to google_compute_network.default"},
		{name: "key_remove", file: "network.tf", assetType: inventory.TypeServiceAccountKey,
			resource: "//iam.googleapis.com/projects/acme-dev/serviceAccounts/ci@acme-dev.iam.gserviceaccount.com/keys/abc",
			edit:     EditRemoveResource, destroys: []string{`google_service_account_key.ci`}},

		{name: "subnet_flow_logs", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "app-ew1"),
			evidence: subnetEv("app-ew1", "europe-west1", "shared-vpc"), edit: EditEnableSubnetFlowLogs, params: flowLogs()},
		{name: "subnet_flow_logs_update", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west4", "batch-ew4"),
			evidence: subnetEv("batch-ew4", "europe-west4", "shared-vpc"), edit: EditEnableSubnetFlowLogs, params: flowLogs()},
		{name: "subnet_flow_logs_legacy", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "legacy-ew1"),
			evidence: subnetEv("legacy-ew1", "europe-west1", "shared-vpc"), edit: EditEnableSubnetFlowLogs,
			params:  map[string]any{"aggregationInterval": "INTERVAL_30_SEC", "flowSampling": 1, "metadata": "EXCLUDE_ALL_METADATA"},
			warning: "enable_flow_logs is deprecated"},
		{name: "subnet_private_access", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west4", "batch-ew4"),
			edit: EditEnablePrivateAccess},
		{name: "subnet_private_access_add", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "app-ew1"),
			edit: EditEnablePrivateAccess},
		{name: "mod_subnet_flow_logs", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "edge-ew1"),
			evidence: subnetEv("edge-ew1", "europe-west1", "data-vpc"), edit: EditEnableSubnetFlowLogs, params: flowLogs()},
		{name: "mod_subnet_private_access", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "data-ew1"),
			edit: EditEnablePrivateAccess},
		{name: "mod_subnets_inline", file: "subnet.tf", assetType: inventory.TypeSubnetwork, resource: subnetName("acme-net", "europe-west1", "ops-ew1"),
			edit: EditEnableSubnetFlowLogs, params: map[string]any{"flowSampling": "0.25"}},
		{name: "network_egress_deny", file: "subnet.tf", assetType: inventory.TypeNetwork, resource: fwPrefix + "acme-net/global/networks/shared-vpc",
			evidence: map[string]any{"network": "shared-vpc", "project": "acme-net", "egressDenyRules": []string{}},
			edit:     EditAddEgressDeny, creates: []string{`google_compute_firewall.shared_deny_all_egress`}, params: map[string]any{"priority": 65535}},
		{name: "network_egress_deny_named", file: "network.tf", assetType: inventory.TypeNetwork, resource: fwPrefix + "acme-dev/global/networks/default",
			edit: EditAddEgressDeny, creates: []string{`google_compute_firewall.default_deny_all_egress`}, params: map[string]any{"name": "deny-all-egress", "priority": 65000}},

		{name: "instance_serial_port", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "bastion-1"),
			evidence: metadataEv("serial-port-enable"), edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "instance_os_login", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "bastion-1"),
			evidence: metadataEv("enable-oslogin"), edit: EditSetInstanceMetadata, params: metadataParam("enable-oslogin", "TRUE")},
		{name: "instance_block_project_ssh_keys", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "bastion-1"),
			evidence: map[string]any{"instance": "bastion-1", "zone": "europe-west1-b", "level": "instance", "metadataKey": "block-project-ssh-keys", "state": "absent"},
			edit:     EditSetInstanceMetadata, params: metadataParam("block-project-ssh-keys", "TRUE")},
		{name: "instance_metadata_merge", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-c", "web-1"),
			evidence: metadataEv("serial-port-enable"), edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "instance_metadata_add", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "worker-1"),
			edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "instance_remove_ip", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "bastion-1"),
			evidence: map[string]any{"instance": "bastion-1", "zone": "europe-west1-b", "interfaces": []string{"nic0"},
				"accessConfigs": []string{"nic0/External NAT"}, "externalIPs": []string{"203.0.113.7"}},
			edit: EditRemoveExternalIP},
		{name: "instance_remove_ip_nic1", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-c", "web-1"),
			evidence: map[string]any{"interfaces": []any{"nic1"}, "accessConfigs": []any{"nic1/External NAT", "nic1/external-ipv6"}},
			edit:     EditRemoveExternalIP, warning: "keeps its ipv6_access_config"},
		{name: "project_metadata_item", file: "compute.tf", assetType: inventory.TypeComputeProject, resource: computeProject("acme-prod"),
			evidence: projectMetadataEv("acme-prod", "enable-oslogin"), edit: EditSetInstanceMetadata, params: metadataParam("enable-oslogin", "TRUE")},
		{name: "project_metadata_new", file: "compute.tf", assetType: inventory.TypeComputeProject, resource: computeProject("acme-prod"),
			evidence: projectMetadataEv("acme-prod", "serial-port-enable"), edit: EditSetInstanceMetadata, creates: []string{`google_compute_project_metadata_item.acme_prod_serial_port_enable`}, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "project_metadata_map", file: "compute.tf", assetType: inventory.TypeComputeProject, resource: computeProject("acme-legacy"),
			evidence: projectMetadataEv("acme-legacy", "serial-port-enable"), edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		// metadata = merge(...): last-wins (see metadata_merge_test.go for what is already set).
		{name: "metadata_merge_local_opposite", file: "metadata_merge.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "debug-1"),
			evidence: metadataEv("serial-port-enable"), edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "metadata_merge_last_opposite", file: "metadata_merge.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "override-1"),
			evidence: metadataEv("serial-port-enable"), edit: EditSetInstanceMetadata, params: metadataParam("serial-port-enable", "FALSE")},
		{name: "metadata_merge_var_after", file: "metadata_merge.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "env-1"),
			evidence: metadataEv("block-project-ssh-keys"), edit: EditSetInstanceMetadata, params: metadataParam("block-project-ssh-keys", "TRUE"),
			warning: "local.hardened sets block-project-ssh-keys = \"TRUE\" in the metadata of google_compute_instance.env, but var.extra_metadata, merged after it, could not be evaluated and may override it"},
		{name: "metadata_merge_var_before_last", file: "metadata_merge.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "env-script-1"),
			evidence: metadataEv("block-project-ssh-keys"), edit: EditSetInstanceMetadata, params: metadataParam("block-project-ssh-keys", "TRUE"),
			warning: "var.extra_metadata, merged after it, could not be evaluated"},
		{name: "metadata_merge_var_unset", file: "metadata_merge.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-b", "env-1"),
			evidence: metadataEv("enable-oslogin"), edit: EditSetInstanceMetadata, params: metadataParam("enable-oslogin", "TRUE"),
			warning: "merges var.extra_metadata, which could not be evaluated and may already set enable-oslogin = \"TRUE\""},
		{name: "instance_metadata_merge_local_opposite", file: "compute.tf", assetType: inventory.TypeInstance, resource: instanceName("acme-prod", "europe-west1-c", "web-1"),
			evidence: metadataEv("block-project-ssh-keys"), edit: EditSetInstanceMetadata, params: metadataParam("block-project-ssh-keys", "FALSE")},

		{name: "audit_existing", file: "audit.tf", assetType: inventory.TypeProject, resource: "//cloudresourcemanager.googleapis.com/projects/100000000001",
			evidence: auditEv("acme-prod", []string{"DATA_WRITE"}, []string{"DATA_READ serviceAccount:scanner@acme-prod.iam.gserviceaccount.com"}),
			edit:     EditSetAuditConfig, params: auditParams()},
		{name: "audit_new_iam", file: "audit.tf", assetType: inventory.TypeProject, resource: "//cloudresourcemanager.googleapis.com/projects/acme-dev",
			evidence: auditEv("", []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"}, nil), edit: EditSetAuditConfig, creates: []string{`google_project_iam_audit_config.acme_dev_all_services`}, params: auditParams()},
		{name: "audit_new_project", file: "audit.tf", assetType: inventory.TypeProject, resource: "//cloudresourcemanager.googleapis.com/projects/acme-sandbox",
			evidence: auditEv("", []string{"DATA_READ"}, nil), edit: EditSetAuditConfig, creates: []string{`google_project_iam_audit_config.acme_sandbox_all_services`}, params: map[string]any{"logTypes": []any{"DATA_READ", "DATA_WRITE", "ADMIN_READ"}}},
	}
}

// dataIAM is the policy of the project of outside.tf, named by its ID.
const dataIAM = "//cloudresourcemanager.googleapis.com/projects/acme-data"

// outsideEv is the evidence of iam-non-org-member: a member and every role it holds.
func outsideEv(member string, roles ...string) map[string]any {
	return map[string]any{"member": member, "domain": member[strings.LastIndexByte(member, '@')+1:], "roles": roles,
		"allowedDomains": []string{}, "policyOf": dataIAM, "conditional": false, "project": "acme-data"}
}

// withConditions adds the conditions of the roles held only conditionally to a finding's
// evidence, as iam-non-org-member reports them.
func withConditions(ev map[string]any, conds ...map[string]string) map[string]any {
	ev["conditions"] = conds
	return ev
}

func subnetName(project, region, name string) string {
	return fwPrefix + project + "/regions/" + region + "/subnetworks/" + name
}

func instanceName(project, zone, name string) string {
	return fwPrefix + project + "/zones/" + zone + "/instances/" + name
}

func computeProject(project string) string { return fwPrefix + project }

// subnetEv is the evidence of subnet-flow-logs-disabled.
func subnetEv(name, region, network string) map[string]any {
	return map[string]any{"subnetwork": name, "region": region, "network": network, "logConfigPresent": false}
}

// flowLogs are subnet-enable-flow-logs' parameters.
func flowLogs() map[string]any {
	return map[string]any{"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"}
}

// metadataEv is the evidence of an instance's compute-serial-port-enabled or
// compute-os-login-disabled finding.
func metadataEv(key string) map[string]any {
	return map[string]any{"level": "instance", "metadataKey": key, "state": "true", "value": "TRUE"}
}

func projectMetadataEv(project, key string) map[string]any {
	return map[string]any{"level": "project", "metadataKey": key, "state": "absent", "project": project}
}

func metadataParam(key, value string) map[string]any {
	return map[string]any{"key": key, "value": value}
}

// auditEv is the evidence of audit-logging-disabled; project is the finding's Project.
func auditEv(project string, missing, exempted []string) map[string]any {
	ev := map[string]any{"missingLogTypes": missing, "exemptedMembers": exempted, "configuredOn": []string{},
		"ancestorPoliciesRead": []string{}, "ancestorPoliciesNotRead": []string{"organizations/1"}}
	if exempted == nil {
		ev["exemptedMembers"] = []string{}
	}
	if project != "" {
		ev["project"] = project
	}
	return ev
}

func auditParams() map[string]any {
	return map[string]any{"logTypes": []string{"DATA_READ", "DATA_WRITE", "ADMIN_READ"}}
}

// loadOne indexes one fixture file as the only file of root "env".
func loadOne(t testing.TB, name string, src []byte) *Index {
	t.Helper()
	ix, err := Load(fstest.MapFS{"env/" + name: {Data: src}}, []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestPatchGolden(t *testing.T) {
	for _, tc := range patchCases() {
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(path.Join("testdata/patch", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ix := loadOne(t, tc.file, src)
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			if m.Status != Managed {
				t.Fatalf("owner: %s (%s) %+v", m.Status, m.Why, m.Candidates)
			}
			p, err := ix.Patch(m, tc.edit, tc.params, tc.evidence)
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if p.File != "env/"+tc.file || !bytes.Equal(p.Before, src) {
				t.Errorf("patch of %s, want env/%s with the original bytes as Before", p.File, tc.file)
			}
			golden := path.Join("testdata/patch", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, p.After, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(p.After, want) {
				t.Errorf("patched file differs from %s:\n%s", golden, unifiedDiff(golden, want, p.After))
			}
			checkPatchBlocks(t, p, max(tc.blocks, 1))
			checkIntent(t, m, patchRequest{tc.assetType, tc.resource, tc.edit, tc.params, tc.evidence}, p)
			if p.Summary == "" || !strings.HasPrefix(p.Diff, "--- a/env/"+tc.file+"\n+++ b/env/"+tc.file+"\n@@ ") {
				t.Errorf("summary %q, diff:\n%s", p.Summary, p.Diff)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(p.Warnings, "\n"), tc.warning) {
				t.Errorf("warnings %q, want one mentioning %q", p.Warnings, tc.warning)
			}
			if tc.warning == "" && len(p.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", p.Warnings)
			}
			// By default the match's declaration changes in place: a module call's input
			// (module.NAME.INPUT..., no resource type in the address) or a resource.
			updates, inputs := tc.updates, tc.inputs
			if updates == nil && inputs == nil && tc.creates == nil && tc.destroys == nil {
				if isModuleInputAddress(m.Address) {
					inputs = []string{m.Address}
				} else {
					updates = []string{m.Address}
				}
			}
			if !slices.Equal(p.Creates, tc.creates) || !slices.Equal(p.Destroys, tc.destroys) || !slices.Equal(p.Updates, updates) ||
				!slices.Equal(p.ModuleInputs, inputs) {
				t.Errorf("creates %q, destroys %q, updates %q, module inputs %q; want %q, %q, %q, %q",
					p.Creates, p.Destroys, p.Updates, p.ModuleInputs, tc.creates, tc.destroys, updates, inputs)
			}
		})
	}
}

// checkPatch asserts that the patched file parses and that the change is confined to one
// top-level block (or the space between two): every other block, and every comment and byte
// outside the changed region, is unchanged.
func checkPatch(t testing.TB, p *Patch) {
	t.Helper()
	checkPatchBlocks(t, p, 1)
}

// checkPatchBlocks is checkPatch for a patch that may change up to maxBlocks top-level
// blocks.
func checkPatchBlocks(t testing.TB, p *Patch, maxBlocks int) {
	t.Helper()
	if _, diags := hclsyntax.ParseConfig(p.After, p.File, hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("patched file does not parse: %v\n%s", diags, p.After)
	}
	f, diags := hclsyntax.ParseConfig(p.Before, p.File, hcl.InitialPos)
	if diags.HasErrors() {
		return
	}
	if len(p.edits) == 0 {
		t.Fatal("a patch without edits")
	}
	var touched []string
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		r := b.Range()
		shift := 0
		overlaps := false
		for _, e := range p.edits {
			if e.touches(r) {
				overlaps = true
			}
			if e.end <= r.Start.Byte {
				shift += len(e.text) - (e.end - e.start)
			}
		}
		if overlaps {
			touched = append(touched, b.Type+" "+strings.Join(b.Labels, "."))
			continue
		}
		start, end := r.Start.Byte+shift, r.End.Byte+shift
		if end > len(p.After) || !bytes.Equal(p.After[start:end], p.Before[r.Start.Byte:r.End.Byte]) {
			t.Errorf("block %s %v changed or moved", b.Type, b.Labels)
		}
	}
	if len(touched) > maxBlocks {
		t.Errorf("the patch changes more than %d block(s): %v", maxBlocks, touched)
	}
	// Changed and new blocks are formatted as terraform fmt (hclwrite) formats them.
	canonical := func(text string) string { return string(hclwrite.Format([]byte(text))) }
	wasAligned := map[string]bool{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		r := b.Range()
		text := string(p.Before[r.Start.Byte:r.End.Byte])
		key := b.Type + " " + strings.Join(b.Labels, ".")
		// Blocks that share an address (a file Terraform rejects) count as aligned when all were.
		aligned, seen := wasAligned[key]
		wasAligned[key] = (aligned || !seen) && canonical(text) == text
	}
	fa, diags := hclsyntax.ParseConfig(p.After, p.File, hcl.InitialPos)
	if !diags.HasErrors() {
		for _, b := range fa.Body.(*hclsyntax.Body).Blocks {
			r := b.Range()
			text := string(p.After[r.Start.Byte:r.End.Byte])
			aligned, known := wasAligned[b.Type+" "+strings.Join(b.Labels, ".")]
			if strings.Contains(string(p.Before), text) || r.Start.Column != 1 || (known && !aligned) {
				continue
			}
			if aligned := canonical(text); aligned != text {
				t.Errorf("block %s %v is not formatted as terraform fmt would:\n%s", b.Type, b.Labels, unifiedDiff("block", []byte(text), []byte(aligned)))
			}
		}
	}
	// Outside the edits, the bytes are the same.
	var rebuilt []byte
	at := 0
	for _, e := range sortedEdits(p.edits) {
		rebuilt = append(rebuilt, p.Before[at:e.start]...)
		rebuilt = append(rebuilt, e.text...)
		at = e.end
	}
	rebuilt = append(rebuilt, p.Before[at:]...)
	if !bytes.Equal(rebuilt, p.After) {
		t.Error("After is not Before with the patch's edits applied")
	}
}

func sortedEdits(es []edit) []edit {
	out := append([]edit(nil), es...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].start < out[j-1].start; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// TestPatchIdempotent re-indexes patched files: the resource is still declared in the same
// place, and the same edit has nothing left to do.
func TestPatchIdempotent(t *testing.T) {
	for _, tc := range patchCases() {
		if tc.edit == EditRemoveResource || tc.edit == EditRemoveIAMMember || tc.edit == EditAddDenyFirewall {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(path.Join("testdata/patch", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ix := loadOne(t, tc.file, src)
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			p, err := ix.Patch(m, tc.edit, tc.params, tc.evidence)
			if err != nil {
				t.Fatal(err)
			}
			ix2 := loadOne(t, tc.file, p.After)
			m2 := ix2.Owner(tc.assetType, tc.resource, tc.evidence)
			if m2.Status != Managed || m2.Address != m.Address {
				t.Fatalf("after the patch: %s %s (%s), want managed %s", m2.Status, m2.Address, m2.Why, m.Address)
			}
			p2, err := ix2.Patch(m2, tc.edit, tc.params, tc.evidence)
			if err == nil && !bytes.Equal(p2.After, p.After) {
				t.Errorf("a second patch changes the file again:\n%s", p2.Diff)
			}
		})
	}
}

func TestPatchRemovalsUndeclare(t *testing.T) {
	for _, tc := range patchCases() {
		if tc.edit != EditRemoveResource && tc.edit != EditRemoveIAMMember {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			src, err := os.ReadFile(path.Join("testdata/patch", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ix := loadOne(t, tc.file, src)
			p, err := ix.Patch(ix.Owner(tc.assetType, tc.resource, tc.evidence), tc.edit, tc.params, tc.evidence)
			if err != nil {
				t.Fatal(err)
			}
			if m := loadOne(t, tc.file, p.After).Owner(tc.assetType, tc.resource, tc.evidence); m.Status != Unmanaged {
				t.Errorf("after removal: %s %s (%s)", m.Status, m.Address, m.Why)
			}
		})
	}
}

func TestPatchErrors(t *testing.T) {
	src, err := os.ReadFile("testdata/patch/module_rules.tf")
	if err != nil {
		t.Fatal(err)
	}
	ix := loadOne(t, "module_rules.tf", src)
	fwSrc, err := os.ReadFile("testdata/patch/firewall.tf")
	if err != nil {
		t.Fatal(err)
	}
	fwIx := loadOne(t, "firewall.tf", fwSrc)
	ssh := fwIx.Owner(inventory.TypeFirewall, fwName("acme-prod", "allow-ssh"), nil)
	tests := []struct {
		name   string
		ix     *Index
		m      Match
		edit   string
		params map[string]any
		want   string
	}{
		{"egress rule", ix, ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "allow-egress-all"), nil),
			EditReplaceWorldSourceRanges, iap(), "egress rule"},
		{"not managed", ix, ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "nope"), nil), EditDisableFirewall, nil, "not managed"},
		{"unknown edit", fwIx, ssh, "make-it-safe", nil, "unknown Terraform edit"},
		{"no ranges", fwIx, ssh, EditReplaceWorldSourceRanges, nil, "needs params.ranges"},
		{"world as trusted", fwIx, ssh, EditReplaceWorldSourceRanges, map[string]any{"ranges": []string{"0.0.0.0/1", "128.0.0.0/1"}}, "cover the whole internet"},
		{"not a CIDR", fwIx, ssh, EditReplaceWorldSourceRanges, map[string]any{"ranges": []string{"10.0.0.1"}}, "not a CIDR"},
		{"bad metadata", fwIx, ssh, EditEnableFirewallLogging, map[string]any{"metadata": "ALL"}, "parameter metadata"},
		{"iam edit on a firewall", fwIx, ssh, EditRemoveIAMMember, nil, "does not grant IAM roles"},
		{"bad port", fwIx, ssh, EditAddDenyFirewall, map[string]any{"ports": []string{"22;"}}, "not a port"},
		{"match of another index", ix, ssh, EditDisableFirewall, nil, "not made by this index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.ix.Patch(tc.m, tc.edit, tc.params, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
			// A refusal to edit a declaration says which edit of which declaration, where.
			if place := fmt.Sprintf("iac: %s of %s (%s:%d): ", tc.edit, tc.m.Address, tc.m.File, tc.m.Line); err != nil &&
				tc.m.Status == Managed && !strings.HasPrefix(err.Error(), place) {
				t.Errorf("got %q, want it to start with %q", err, place)
			}
		})
	}
	repo := loadRepo(t)
	web := repo.Owner(inventory.TypeFirewall, fwName("acme-prod", "allow-https"), nil)
	counted := repo.Owner(inventory.TypeFirewall, fwName("acme-prod", "counted-1"), nil)
	for _, tc := range []struct {
		m          Match
		edit, want string
	}{
		{web, EditDisableFirewall, "every instance of google_compute_firewall.web"},
		{web, EditReplaceWorldSourceRanges, "every instance shares it"},
		{web, EditAddDenyFirewall, "add the deny rule by hand"},
		{counted, EditRemoveResource, "one instance of a block with count"},
	} {
		_, err := repo.Patch(tc.m, tc.edit, iap(), map[string]any{"exposed": []any{map[string]any{"protocol": "tcp"}}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: got %v, want an error mentioning %q", tc.m.Address, tc.edit, err, tc.want)
		}
	}
	p, err := repo.Patch(web, EditEnableFirewallLogging, nil, nil)
	if err != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "every instance") {
		t.Errorf("logging a for_each rule: %v %q", err, p.Warnings)
	}
	// Removing one for_each instance removes its element.
	p, err = repo.Patch(web, EditRemoveResource, nil, nil)
	if err != nil || !strings.Contains(p.Diff, "-  web_ports = toset([\"http\", \"https\"])\n+  web_ports = toset([\"http\"])") {
		t.Errorf("removing a for_each instance: %v\n%s", err, p.Diff)
	}
	if _, err := ix.Patch(Match{Status: Unmanaged}, EditDisableFirewall, nil, nil); !errors.Is(err, ErrNotManaged) {
		t.Errorf("got %v, want ErrNotManaged", err)
	}
}

// TestEveryEditIsPatched: Patch knows every edit Edits lists (an unknown one is an error
// naming it as unknown).
func TestEveryEditIsPatched(t *testing.T) {
	ix := loadOne(t, "main.tf", []byte("resource \"google_compute_firewall\" \"x\" {\n  project = \"p\"\n  name    = \"fw\"\n}\n"))
	m := ix.Owner(inventory.TypeFirewall, fwName("p", "fw"), nil)
	for _, e := range Edits() {
		if _, err := ix.Patch(m, e, nil, nil); err != nil && strings.Contains(err.Error(), "unknown Terraform edit") {
			t.Errorf("Edits lists %s, which Patch does not know", e)
		}
	}
	if _, err := ix.Patch(m, "no-such-edit", nil, nil); err == nil || !strings.Contains(err.Error(), "unknown Terraform edit") {
		t.Errorf("an unknown edit: %v", err)
	}
}

// isModuleInputAddress reports whether addr names a module call's input
// (module.NAME.INPUT or module.NAME.INPUT[KEY]) rather than a resource (whose type, after
// the module path, starts with the provider's name).
func isModuleInputAddress(addr string) bool {
	rest, ok := strings.CutPrefix(addr, "module.")
	if !ok {
		return false
	}
	_, after, ok := strings.Cut(rest, ".")
	return ok && !strings.HasPrefix(after, "google_") && !strings.HasPrefix(after, "module.")
}

// A module Terraform rejects for a block name that is not a Terraform name is not edited:
// an edit that refers to that block would write a reference that does not parse as one.
func TestPatchRefusesAModuleWithABadBlockName(t *testing.T) {
	ix := loadOne(t, "main.tf", []byte("resource \"google_project\" \"0\" {\n  project_id = \"acme-sandbox\"\n}\n\n"+
		"resource \"google_compute_firewall\" \"fw\" {\n  project       = \"acme-sandbox\"\n  name          = \"fw\"\n  source_ranges = [\"0.0.0.0/0\"]\n}\n"))
	m := ix.Owner(inventory.TypeFirewall, fwName("acme-sandbox", "fw"), nil)
	if m.Status != Managed {
		t.Fatalf("owner: %s (%s)", m.Status, m.Why)
	}
	_, err := ix.Patch(m, EditReplaceWorldSourceRanges, iap(), nil)
	if err == nil || !strings.Contains(err.Error(), `main.tf:1 names a resource block "0", which is not a Terraform name`) {
		t.Errorf("got %v, want a refusal naming main.tf:1 and the block", err)
	}
}
