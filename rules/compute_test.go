package rules

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

const (
	computeDefaultSAEmail = "123456789012-compute@developer.gserviceaccount.com"
	computeZoneURL        = "https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b"
	computeInstancePrefix = "//compute.googleapis.com/projects/p1/zones/europe-west1-b/instances/"
	computeProjectName    = "//compute.googleapis.com/projects/p1"
)

// computeInstanceAsset builds an instance asset of project p1, zone europe-west1-b, from
// its REST representation.
func computeInstanceAsset(name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeInstance, computeInstancePrefix+name, data)
}

// computeVM builds an instance vm1 in europe-west1-b with the given extra fields of its REST
// representation (without the leading comma).
func computeVM(fields string) *inventory.Asset {
	data := `{"name":"vm1","zone":"` + computeZoneURL + `","status":"RUNNING"`
	if fields != "" {
		data += "," + fields
	}
	return computeInstanceAsset("vm1", data+"}")
}

// computeProjectAsset builds the compute project asset of p1 from its REST representation.
func computeProjectAsset(data string) *inventory.Asset {
	return resourceAsset(inventory.TypeComputeProject, computeProjectName, data)
}

// computeProjectMeta builds the compute project of p1 with the given common instance
// metadata items (JSON objects, comma-separated).
func computeProjectMeta(items string) *inventory.Asset {
	return computeProjectAsset(`{"name":"p1","commonInstanceMetadata":{"fingerprint":"abc=","items":[` + items + `]}}`)
}

// computeMetadata renders instance metadata holding the given items.
func computeMetadata(items string) string {
	return `"metadata":{"fingerprint":"xyz=","items":[` + items + `]}`
}

// computeGKELabels and computeGKEMetadata mark an instance as a GKE node.
const (
	computeGKELabels   = `"labels":{"goog-gke-node":"","goog-k8s-cluster-name":"prod"}`
	computeGKEMetadata = `{"key":"kube-env","value":"ALLOCATE_NODE_CIDRS: true"},{"key":"cluster-name","value":"prod"}`
)

// computeCase is one asset given to a compute rule and what it must produce.
type computeCase struct {
	name  string
	asset *inventory.Asset
	// evidence is the finding's evidence as JSON; "" when the rule finds nothing.
	evidence string
	// skip is a text the skip reason must hold; "" when the asset must not be skipped.
	skip string
}

// runComputeCases evaluates r on each case's asset and checks the outcome.
func runComputeCases(t *testing.T, r Rule, cases []computeCase) {
	t.Helper()
	m := r.Meta()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			switch {
			case tc.skip != "":
				if len(out.Findings) != 0 || len(out.Skipped) != 1 {
					t.Fatalf("want one skip and no finding, got findings %+v and skips %+v", out.Findings, out.Skipped)
				}
				s := out.Skipped[0]
				if s.Rule != m.ID || s.Resource != tc.asset.Name || s.Project != "p1" {
					t.Errorf("skip %+v, want rule %s, resource %s, project p1", s, m.ID, tc.asset.Name)
				}
				if !strings.Contains(s.Reason, "node pool") || !strings.Contains(s.Reason, tc.skip) {
					t.Errorf("skip reason %q does not name the node pool and %q", s.Reason, tc.skip)
				}
			case tc.evidence == "":
				noResults(t, out)
			default:
				f := onlyFinding(t, out)
				if f.Rule != m.ID || f.Title != m.Title || f.Category != m.Category || f.Severity != m.Severity ||
					f.Resource != tc.asset.Name || f.AssetType != tc.asset.AssetType || f.Project != "p1" || f.Playbook != "" {
					t.Errorf("finding %+v does not match rule %s on %s in p1", f, m.ID, tc.asset.Name)
				}
				if got := jsonOf(t, f.Evidence); got != tc.evidence {
					t.Errorf("evidence\n got %s\nwant %s", got, tc.evidence)
				}
			}
		})
	}
}

func TestComputeRulesMeta(t *testing.T) {
	want := []struct {
		id       string
		category string
		severity Severity
		cis      CIS
		types    []string
	}{
		{"compute-default-sa", "DEFAULT_SERVICE_ACCOUNT_USED", SeverityMedium, CIS{"1.1": {"4.1"}}, []string{inventory.TypeInstance}},
		{"compute-default-sa-full-scope", "FULL_API_ACCESS", SeverityMedium, CIS{"1.1": {"4.2"}}, []string{inventory.TypeInstance}},
		{"compute-public-ip", "PUBLIC_IP_ADDRESS", SeverityHigh, CIS{"1.1": {"4.9"}}, []string{inventory.TypeInstance}},
		{"compute-os-login-disabled", "OS_LOGIN_DISABLED", SeverityMedium, CIS{"1.1": {"4.4"}},
			[]string{inventory.TypeInstance, inventory.TypeComputeProject}},
		{"compute-serial-port-enabled", "SERIAL_PORT_ENABLED", SeverityMedium, CIS{"1.1": {"4.5"}},
			[]string{inventory.TypeInstance, inventory.TypeComputeProject}},
		{"compute-project-ssh-keys-allowed", "COMPUTE_PROJECT_WIDE_SSH_KEYS_ALLOWED", SeverityMedium, CIS{"1.1": {"4.3"}},
			[]string{inventory.TypeInstance}},
		{"compute-ip-forwarding", "IP_FORWARDING_ENABLED", SeverityMedium, CIS{"1.1": {"4.6"}}, []string{inventory.TypeInstance}},
		{"compute-shielded-vm-disabled", "SHIELDED_VM_DISABLED", SeverityLow, CIS{"1.1": {"4.8"}}, []string{inventory.TypeInstance}},
	}
	rs := computeRules()
	if len(rs) != len(want) {
		t.Fatalf("computeRules() has %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity ||
			!reflect.DeepEqual(m.CIS, w.cis) || !slices.Equal(m.AssetTypes, w.types) {
			t.Errorf("rule %d = %s %s %s %v %v, want %s %s %s %v %v", i,
				m.ID, m.Category, m.Severity, m.CIS, m.AssetTypes, w.id, w.category, w.severity, w.cis, w.types)
		}
		if m.Title == "" || m.Description == "" || m.Remediation == "" || m.Flags == "" {
			t.Errorf("%s: title, description, remediation and flags are required", m.ID)
		}
		if m.Playbook != "" {
			t.Errorf("%s: Playbook is %q; playbooks set it, not rules", m.ID, m.Playbook)
		}
		for what, s := range map[string]string{"description": m.Description, "remediation": m.Remediation, "flags": m.Flags} {
			if strings.Contains(s, "\n") {
				t.Errorf("%s: %s is not one paragraph", m.ID, what)
			}
		}
		if strings.Contains(m.Description, "`") || strings.Contains(m.Remediation, "`") {
			t.Errorf("%s: description and remediation are plain text", m.ID)
		}
		if !strings.Contains(m.Flags, "`") || strings.Count(m.Flags, "`")%2 != 0 {
			t.Errorf("%s: flags %q should put literal values in balanced code spans", m.ID, m.Flags)
		}
		// The controls are numbered alike in every benchmark version.
		for _, v := range CISVersions {
			if got := m.CIS.Controls(v); !slices.Equal(got, w.cis["1.1"]) {
				t.Errorf("%s in CIS %s: %v, want %v", m.ID, v, got, w.cis["1.1"])
			}
		}
	}
	if got := ByID(rs); len(got) != len(rs) {
		t.Errorf("ByID has %d entries for %d rules: duplicate IDs", len(got), len(rs))
	}
	a, b := computeRules(), computeRules()
	a[0].Meta().AssetTypes[0] = "changed"
	a[3].Meta().AssetTypes[0] = "changed"
	if b[0].Meta().AssetTypes[0] == "changed" || b[3].Meta().AssetTypes[0] == "changed" || a[4].Meta().AssetTypes[0] == "changed" {
		t.Error("compute rules share their AssetTypes")
	}
}

func TestParseMetaBool(t *testing.T) {
	for _, v := range []string{"TRUE", "true", "True", "1", "y", "Y", "yes", "YES"} {
		if got := parseMetaBool(v); got != metaTrue {
			t.Errorf("parseMetaBool(%q) = %s, want true", v, got.state())
		}
	}
	for _, v := range []string{"FALSE", "false", "0", "n", "N", "no", "NO"} {
		if got := parseMetaBool(v); got != metaFalse {
			t.Errorf("parseMetaBool(%q) = %s, want false", v, got.state())
		}
	}
	for _, v := range []string{"", " true", "true ", "tRUE", "on", "enabled", "2", "t", "Yes", "yess", "nope"} {
		if got := parseMetaBool(v); got != metaInvalid {
			t.Errorf("parseMetaBool(%q) = %s, want invalid", v, got.state())
		}
	}
	if _, b := metadataBool(nil, metadataOSLogin); b != metaAbsent {
		t.Errorf("nil metadata reads %s, want absent", b.state())
	}
}

func TestComputeDefaultSA(t *testing.T) {
	ev := `{"instance":"vm1","serviceAccount":"` + computeDefaultSAEmail + `","zone":"europe-west1-b"}`
	runComputeCases(t, newComputeDefaultSA(), []computeCase{
		{"default SA with full scope",
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]`), ev, ""},
		{"default SA with narrow scopes only",
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/devstorage.read_only","https://www.googleapis.com/auth/logging.write"]}]`),
			ev, ""},
		{"default SA without scopes", computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `"}]`), ev, ""},
		{"terminated instance is still judged",
			computeInstanceAsset("vm1", `{"name":"vm1","zone":"`+computeZoneURL+`","status":"TERMINATED","serviceAccounts":[{"email":"`+computeDefaultSAEmail+`"}]}`),
			ev, ""},
		{"name and zone from the asset name",
			computeInstanceAsset("vm1", `{"serviceAccounts":[{"email":"`+computeDefaultSAEmail+`"}]}`), ev, ""},
		{"upper-case default SA",
			computeVM(`"serviceAccounts":[{"email":"123456789012-COMPUTE@developer.gserviceaccount.com"}]`),
			`{"instance":"vm1","serviceAccount":"123456789012-COMPUTE@developer.gserviceaccount.com","zone":"europe-west1-b"}`, ""},
		{"user-managed SA", computeVM(`"serviceAccounts":[{"email":"app@p1.iam.gserviceaccount.com","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]`), "", ""},
		{"legacy user-managed developer SA", computeVM(`"serviceAccounts":[{"email":"123456789012-app@developer.gserviceaccount.com"}]`), "", ""},
		{"compute in a name is not the default SA", computeVM(`"serviceAccounts":[{"email":"compute@p1.iam.gserviceaccount.com"}]`), "", ""},
		{"no service account", computeVM(`"serviceAccounts":[]`), "", ""},
		{"no service account field", computeVM(""), "", ""},
		{"GKE node by label",
			computeVM(computeGKELabels + `,"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `"}]`), "", "service account"},
		{"GKE node by kube-env, cluster named",
			computeVM(computeMetadata(computeGKEMetadata) + `,"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `"}]`), "", "cluster prod"},
		{"GKE node with a dedicated SA is neither flagged nor skipped",
			computeVM(computeGKELabels + `,"serviceAccounts":[{"email":"gke-nodes@p1.iam.gserviceaccount.com"}]`), "", ""},
		{"GKE look-alike label is not a GKE node",
			computeVM(`"labels":{"goog-gke-node-pool":"x"},"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `"}]`), ev, ""},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance,
			IAMPolicy: &inventory.Policy{Bindings: []inventory.Binding{{Role: "roles/compute.admin", Members: []string{"user:a@acme.example"}}}}}, "", ""},
	})
}

func TestComputeDefaultSAFullScope(t *testing.T) {
	runComputeCases(t, newComputeDefaultSAFullScope(), []computeCase{
		{"default SA with cloud-platform",
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/logging.write","https://www.googleapis.com/auth/cloud-platform"]}]`),
			`{"instance":"vm1","scopes":["https://www.googleapis.com/auth/logging.write","https://www.googleapis.com/auth/cloud-platform"],` +
				`"serviceAccount":"` + computeDefaultSAEmail + `","zone":"europe-west1-b"}`, ""},
		{"terminated instance is still judged",
			computeInstanceAsset("vm2", `{"name":"vm2","status":"TERMINATED","serviceAccounts":[{"email":"`+computeDefaultSAEmail+`","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]}`),
			`{"instance":"vm2","scopes":["https://www.googleapis.com/auth/cloud-platform"],"serviceAccount":"` + computeDefaultSAEmail + `","zone":"europe-west1-b"}`, ""},
		{"default SA with narrow scopes only",
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/devstorage.read_only"]}]`), "", ""},
		{"read-only cloud-platform is not full access",
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/cloud-platform.read-only"]}]`), "", ""},
		{"user-managed SA with cloud-platform",
			computeVM(`"serviceAccounts":[{"email":"app@p1.iam.gserviceaccount.com","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]`), "", ""},
		{"no service account", computeVM(""), "", ""},
		{"GKE node",
			computeVM(computeGKELabels + `,"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]`),
			"", "OAuth scopes"},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance}, "", ""},
	})
}

func TestComputePublicIP(t *testing.T) {
	runComputeCases(t, newComputePublicIP(), []computeCase{
		{"internal-only NIC",
			computeVM(`"networkInterfaces":[{"name":"nic0","network":"n","networkIP":"10.0.0.2"}]`), "", ""},
		{"empty access config lists",
			computeVM(`"networkInterfaces":[{"name":"nic0","networkIP":"10.0.0.2","accessConfigs":[],"ipv6AccessConfigs":[]}]`), "", ""},
		{"no NIC", computeVM(""), "", ""},
		{"NIC with an external IPv4",
			computeVM(`"networkInterfaces":[{"name":"nic0","networkIP":"10.0.0.2","accessConfigs":[{"name":"External NAT","type":"ONE_TO_ONE_NAT","natIP":"34.1.2.3"}]}]`),
			`{"accessConfigs":["nic0/External NAT"],"externalIPs":["34.1.2.3"],"instance":"vm1","interfaces":["nic0"],"zone":"europe-west1-b"}`, ""},
		{"terminated instance with an ephemeral address not yet assigned",
			computeInstanceAsset("vm1", `{"name":"vm1","status":"TERMINATED","networkInterfaces":[{"name":"nic0","accessConfigs":[{"name":"External NAT","type":"ONE_TO_ONE_NAT"}]}]}`),
			`{"accessConfigs":["nic0/External NAT"],"externalIPs":[],"instance":"vm1","interfaces":["nic0"],"zone":"europe-west1-b"}`, ""},
		{"NIC with an external IPv6 only",
			computeVM(`"networkInterfaces":[{"name":"nic0","ipv6AccessConfigs":[{"name":"external-ipv6","type":"DIRECT_IPV6","externalIpv6":"2600:1900:4000:1::"}]}]`),
			`{"accessConfigs":["nic0/external-ipv6"],"externalIPs":["2600:1900:4000:1::"],"instance":"vm1","interfaces":["nic0"],"zone":"europe-west1-b"}`, ""},
		{"second NIC external, first internal",
			computeVM(`"networkInterfaces":[{"name":"nic0","networkIP":"10.0.0.2"},` +
				`{"name":"nic1","accessConfigs":[{"name":"nat","natIP":"35.9.9.9"}],"ipv6AccessConfigs":[{"name":"external-ipv6","externalIpv6":"2600::1"}]}]`),
			`{"accessConfigs":["nic1/external-ipv6","nic1/nat"],"externalIPs":["2600::1","35.9.9.9"],"instance":"vm1","interfaces":["nic1"],"zone":"europe-west1-b"}`, ""},
		{"unnamed NIC and access configs",
			computeVM(`"networkInterfaces":[{"accessConfigs":[{"type":"ONE_TO_ONE_NAT"},{}]}]`),
			`{"accessConfigs":["nic0/ONE_TO_ONE_NAT","nic0/accessConfigs[1]"],"externalIPs":[],"instance":"vm1","interfaces":["nic0"],"zone":"europe-west1-b"}`, ""},
		{"GKE node",
			computeVM(computeGKELabels + `,"networkInterfaces":[{"name":"nic0","accessConfigs":[{"name":"external-nat","natIP":"34.1.2.3"}]}]`),
			"", "private nodes"},
		{"GKE node without external IP is not skipped",
			computeVM(computeGKELabels + `,"networkInterfaces":[{"name":"nic0","networkIP":"10.0.0.2"}]`), "", ""},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance}, "", ""},
	})
}

func TestComputeOSLoginDisabled(t *testing.T) {
	runComputeCases(t, newComputeOSLoginDisabled(), []computeCase{
		{"project TRUE", computeProjectMeta(`{"key":"enable-oslogin","value":"TRUE"}`), "", ""},
		{"project true", computeProjectMeta(`{"key":"ssh-keys","value":"x"},{"key":"enable-oslogin","value":"true"}`), "", ""},
		{"project 1", computeProjectMeta(`{"key":"enable-oslogin","value":"1"}`), "", ""},
		{"project without metadata", computeProjectAsset(`{"name":"p1"}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"absent"}`, ""},
		{"project without the key", computeProjectMeta(`{"key":"enable-oslogin-2fa","value":"TRUE"}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"absent"}`, ""},
		{"project false", computeProjectMeta(`{"key":"enable-oslogin","value":"false"}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"false","value":"false"}`, ""},
		{"project invalid value", computeProjectMeta(`{"key":"enable-oslogin","value":"enabled"}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"invalid","value":"enabled"}`, ""},
		{"project empty value", computeProjectMeta(`{"key":"enable-oslogin"}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"invalid","value":""}`, ""},
		{"project name from the asset", computeProjectAsset(`{}`),
			`{"level":"project","metadataKey":"enable-oslogin","project":"p1","state":"absent"}`, ""},
		{"instance overrides with FALSE", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"FALSE"}`)),
			`{"instance":"vm1","level":"instance","metadataKey":"enable-oslogin","state":"false","value":"FALSE","zone":"europe-west1-b"}`, ""},
		{"terminated instance with no", computeInstanceAsset("vm1", `{"status":"TERMINATED",`+computeMetadata(`{"key":"enable-oslogin","value":"no"}`)+`}`),
			`{"instance":"vm1","level":"instance","metadataKey":"enable-oslogin","state":"false","value":"no","zone":"europe-west1-b"}`, ""},
		{"instance TRUE", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"TRUE"}`)), "", ""},
		{"instance inherits", computeVM(computeMetadata(`{"key":"startup-script","value":"echo false"}`)), "", ""},
		{"instance without metadata", computeVM(""), "", ""},
		{"instance invalid value falls back to the project", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"off"}`)), "", ""},
		{"GKE node with FALSE",
			computeVM(computeMetadata(computeGKEMetadata + `,{"key":"enable-oslogin","value":"false"}`)), "", "enable-oslogin"},
		{"IAM policy only instance", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance}, "", ""},
		{"IAM policy only project", &inventory.Asset{Name: computeProjectName, AssetType: inventory.TypeComputeProject}, "", ""},
	})
}

func TestComputeSerialPortEnabled(t *testing.T) {
	runComputeCases(t, newComputeSerialPortEnabled(), []computeCase{
		{"project true", computeProjectMeta(`{"key":"serial-port-enable","value":"true"}`),
			`{"level":"project","metadataKey":"serial-port-enable","project":"p1","state":"true","value":"true"}`, ""},
		{"project 1", computeProjectMeta(`{"key":"enable-oslogin","value":"TRUE"},{"key":"serial-port-enable","value":"1"}`),
			`{"level":"project","metadataKey":"serial-port-enable","project":"p1","state":"true","value":"1"}`, ""},
		{"project false", computeProjectMeta(`{"key":"serial-port-enable","value":"false"}`), "", ""},
		{"project absent", computeProjectMeta(`{"key":"enable-oslogin","value":"TRUE"}`), "", ""},
		{"project without metadata", computeProjectAsset(`{"name":"p1"}`), "", ""},
		{"project invalid", computeProjectMeta(`{"key":"serial-port-enable","value":"on"}`), "", ""},
		{"instance true", computeVM(computeMetadata(`{"key":"serial-port-enable","value":"true"}`)),
			`{"instance":"vm1","level":"instance","metadataKey":"serial-port-enable","state":"true","value":"true","zone":"europe-west1-b"}`, ""},
		{"instance 1", computeVM(computeMetadata(`{"key":"serial-port-enable","value":"1"}`)),
			`{"instance":"vm1","level":"instance","metadataKey":"serial-port-enable","state":"true","value":"1","zone":"europe-west1-b"}`, ""},
		{"instance false", computeVM(computeMetadata(`{"key":"serial-port-enable","value":"false"}`)), "", ""},
		{"instance absent", computeVM(computeMetadata(`{"key":"serial-port-logging-enable","value":"true"}`)), "", ""},
		{"instance invalid", computeVM(computeMetadata(`{"key":"serial-port-enable","value":"yes please"}`)), "", ""},
		{"GKE node is judged like any instance",
			computeVM(computeGKELabels + "," + computeMetadata(`{"key":"serial-port-enable","value":"TRUE"}`)),
			`{"instance":"vm1","level":"instance","metadataKey":"serial-port-enable","state":"true","value":"TRUE","zone":"europe-west1-b"}`, ""},
		{"IAM policy only project", &inventory.Asset{Name: computeProjectName, AssetType: inventory.TypeComputeProject}, "", ""},
	})
}

func TestComputeProjectSSHKeysAllowed(t *testing.T) {
	ev := func(state, value string) string {
		if state == "absent" {
			return `{"instance":"vm1","level":"instance","metadataKey":"block-project-ssh-keys","state":"absent","zone":"europe-west1-b"}`
		}
		return `{"instance":"vm1","level":"instance","metadataKey":"block-project-ssh-keys","state":"` + state + `","value":"` + value + `","zone":"europe-west1-b"}`
	}
	block := func(value string) string { return `{"key":"block-project-ssh-keys","value":"` + value + `"}` }
	var cases []computeCase
	for _, v := range []string{"TRUE", "true", "True", "1", "y", "Y", "yes", "YES"} {
		cases = append(cases, computeCase{"blocked with " + v, computeVM(computeMetadata(block(v))), "", ""})
	}
	for _, v := range []string{"FALSE", "false", "0", "n", "N", "no", "NO"} {
		cases = append(cases, computeCase{"set to " + v, computeVM(computeMetadata(block(v))), ev("false", v), ""})
	}
	runComputeCases(t, newComputeProjectSSHKeysAllowed(), append(cases, []computeCase{
		{"no metadata", computeVM(""), ev("absent", ""), ""},
		{"metadata without the key", computeVM(computeMetadata(`{"key":"startup-script","value":"echo block-project-ssh-keys=TRUE"}`)),
			ev("absent", ""), ""},
		{"terminated instance is still judged",
			computeInstanceAsset("vm1", `{"status":"TERMINATED",`+computeMetadata(`{"key":"ssh-keys","value":"alice:ssh-ed25519 AAAA alice"}`)+`}`),
			ev("absent", ""), ""},
		{"look-alike key", computeVM(computeMetadata(`{"key":"block-project-ssh-key","value":"TRUE"}`)), ev("absent", ""), ""},
		{"upper-case key", computeVM(computeMetadata(`{"key":"BLOCK-PROJECT-SSH-KEYS","value":"TRUE"}`)), ev("absent", ""), ""},
		{"odd case value", computeVM(computeMetadata(block("tRUE"))), ev("invalid", "tRUE"), ""},
		{"value with a space", computeVM(computeMetadata(block(" TRUE"))), ev("invalid", " TRUE"), ""},
		{"empty value", computeVM(computeMetadata(`{"key":"block-project-ssh-keys"}`)), ev("invalid", ""), ""},
		{"OS Login on the instance", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"TRUE"}`)), "", ""},
		{"OS Login 1 on the instance, the key false",
			computeVM(computeMetadata(block("FALSE") + `,{"key":"enable-oslogin","value":"1"}`)), "", ""},
		{"OS Login off on the instance", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"FALSE"}`)), ev("absent", ""), ""},
		{"OS Login invalid on the instance", computeVM(computeMetadata(`{"key":"enable-oslogin","value":"on"}`)), ev("absent", ""), ""},
		{"OS Login 2FA only is not OS Login", computeVM(computeMetadata(`{"key":"enable-oslogin-2fa","value":"TRUE"}`)), ev("absent", ""), ""},
		{"GKE node by label", computeVM(computeGKELabels), "", "block-project-ssh-keys"},
		{"GKE node by kube-env, cluster named", computeVM(computeMetadata(computeGKEMetadata)), "", "cluster prod"},
		{"GKE node that blocks the keys is neither flagged nor skipped",
			computeVM(computeGKELabels + "," + computeMetadata(block("TRUE"))), "", ""},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance,
			IAMPolicy: &inventory.Policy{Bindings: []inventory.Binding{{Role: "roles/compute.osAdminLogin", Members: []string{"user:a@acme.example"}}}}}, "", ""},
	}...))
}

func TestComputeIPForwarding(t *testing.T) {
	runComputeCases(t, newComputeIPForwarding(), []computeCase{
		{"canIpForward true", computeVM(`"canIpForward":true`),
			`{"canIpForward":true,"instance":"vm1","zone":"europe-west1-b"}`, ""},
		{"terminated", computeInstanceAsset("nat-1", `{"name":"nat-1","zone":"`+computeZoneURL+`","status":"TERMINATED","canIpForward":true}`),
			`{"canIpForward":true,"instance":"nat-1","zone":"europe-west1-b"}`, ""},
		{"canIpForward false", computeVM(`"canIpForward":false`), "", ""},
		{"canIpForward absent", computeVM(""), "", ""},
		{"GKE node", computeVM(computeGKELabels + `,"canIpForward":true`), "", "IP forwarding"},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance}, "", ""},
	})
}

func TestComputeShieldedVMDisabled(t *testing.T) {
	runComputeCases(t, newComputeShieldedVMDisabled(), []computeCase{
		{"all on", computeVM(`"shieldedInstanceConfig":{"enableSecureBoot":true,"enableVtpm":true,"enableIntegrityMonitoring":true}`), "", ""},
		{"secure boot off is not required",
			computeVM(`"shieldedInstanceConfig":{"enableSecureBoot":false,"enableVtpm":true,"enableIntegrityMonitoring":true}`), "", ""},
		{"vTPM off",
			computeVM(`"shieldedInstanceConfig":{"enableSecureBoot":true,"enableVtpm":false,"enableIntegrityMonitoring":true}`),
			`{"disabled":["enableVtpm"],"enableSecureBoot":true,"instance":"vm1","shieldedInstanceConfig":true,"zone":"europe-west1-b"}`, ""},
		{"integrity monitoring absent",
			computeVM(`"shieldedInstanceConfig":{"enableVtpm":true}`),
			`{"disabled":["enableIntegrityMonitoring"],"enableSecureBoot":false,"instance":"vm1","shieldedInstanceConfig":true,"zone":"europe-west1-b"}`, ""},
		{"no config", computeVM(`"status":"TERMINATED"`),
			`{"disabled":["enableIntegrityMonitoring","enableVtpm"],"instance":"vm1","shieldedInstanceConfig":false,"zone":"europe-west1-b"}`, ""},
		{"GKE node is judged like any instance", computeVM(computeGKELabels),
			`{"disabled":["enableIntegrityMonitoring","enableVtpm"],"instance":"vm1","shieldedInstanceConfig":false,"zone":"europe-west1-b"}`, ""},
		{"IAM policy only", &inventory.Asset{Name: computeInstancePrefix + "vm1", AssetType: inventory.TypeInstance}, "", ""},
	})
}

// TestComputeFindingIDs checks that IDs hash the documented offending part: stable across
// runs and ephemeral details, distinct for distinct drifts.
func TestComputeFindingIDs(t *testing.T) {
	one := func(r Rule, a *inventory.Asset) Finding {
		t.Helper()
		return onlyFinding(t, evaluate(t, r, testEnv(), a))
	}
	for _, tc := range []struct {
		rule      Rule
		asset     *inventory.Asset
		offending string
	}{
		{newComputeDefaultSA(), computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `"}]`), computeDefaultSAEmail},
		{newComputeDefaultSAFullScope(),
			computeVM(`"serviceAccounts":[{"email":"` + computeDefaultSAEmail + `","scopes":["https://www.googleapis.com/auth/cloud-platform"]}]`),
			computeDefaultSAEmail + " https://www.googleapis.com/auth/cloud-platform"},
		{newComputePublicIP(),
			computeVM(`"networkInterfaces":[{"name":"nic1","ipv6AccessConfigs":[{"name":"v6"}]},{"name":"nic0","accessConfigs":[{"name":"External NAT","natIP":"34.1.2.3"}]}]`),
			"nic0/External NAT,nic1/v6"},
		{newComputeOSLoginDisabled(), computeProjectAsset(`{}`), "enable-oslogin"},
		{newComputeOSLoginDisabled(), computeVM(computeMetadata(`{"key":"enable-oslogin","value":"0"}`)), "enable-oslogin"},
		{newComputeSerialPortEnabled(), computeProjectMeta(`{"key":"serial-port-enable","value":"TRUE"}`), "serial-port-enable"},
		{newComputeProjectSSHKeysAllowed(), computeVM(""), "block-project-ssh-keys"},
		{newComputeIPForwarding(), computeVM(`"canIpForward":true`), "canIpForward"},
		{newComputeShieldedVMDisabled(), computeVM(""), "enableIntegrityMonitoring,enableVtpm"},
	} {
		f := one(tc.rule, tc.asset)
		if want := FindingID(tc.rule.Meta().ID, tc.asset.Name, tc.offending); f.ID != want {
			t.Errorf("%s on %s: ID %s, want %s (offending %q)", tc.rule.Meta().ID, tc.asset.Name, f.ID, want, tc.offending)
		}
		if again := one(tc.rule, tc.asset); again.ID != f.ID {
			t.Errorf("%s: ID changed between evaluations: %s then %s", tc.rule.Meta().ID, f.ID, again.ID)
		}
	}

	// A new ephemeral address or a restart keeps the finding; another access config is a new one.
	r := newComputePublicIP()
	base := one(r, computeVM(`"networkInterfaces":[{"name":"nic0","accessConfigs":[{"name":"External NAT","natIP":"34.1.2.3"}]}]`))
	moved := one(r, computeVM(`"status":"TERMINATED","networkInterfaces":[{"name":"nic0","accessConfigs":[{"name":"External NAT","natIP":"34.9.9.9"}]}]`))
	other := one(r, computeVM(`"networkInterfaces":[{"name":"nic0","ipv6AccessConfigs":[{"name":"External NAT"}]},{"name":"nic1","accessConfigs":[{"name":"External NAT"}]}]`))
	if base.ID != moved.ID {
		t.Errorf("a new address changed the ID: %s then %s", base.ID, moved.ID)
	}
	if other.ID == base.ID {
		t.Error("another NIC's access config has the same ID")
	}
	// The same drift on two instances, and two drifts on one instance, differ.
	vm2 := one(r, computeInstanceAsset("vm2", `{"name":"vm2","networkInterfaces":[{"name":"nic0","accessConfigs":[{"name":"External NAT"}]}]}`))
	if vm2.ID == base.ID {
		t.Error("two instances share a finding ID")
	}
	s := newComputeShieldedVMDisabled()
	if one(s, computeVM(`"shieldedInstanceConfig":{"enableVtpm":true}`)).ID == one(s, computeVM("")).ID {
		t.Error("different Shielded VM drifts share an ID")
	}
	// The project's and an instance's OS Login findings differ.
	o := newComputeOSLoginDisabled()
	if one(o, computeProjectAsset(`{}`)).ID == one(o, computeVM(computeMetadata(`{"key":"enable-oslogin","value":"0"}`))).ID {
		t.Error("project and instance OS Login findings share an ID")
	}
}

func TestComputeRulesErrors(t *testing.T) {
	bad := map[string][]string{
		inventory.TypeInstance: {
			`{"name":`,
			`{"name":"vm1","canIpForward":"yes"}`,
			`{"name":"vm1","serviceAccounts":{"email":"x"}}`,
			`{"name":"vm1","metadata":{"items":[{"key":"enable-oslogin","value":false}]}}`,
			`{"name":"vm1","networkInterfaces":[{"accessConfigs":"ONE_TO_ONE_NAT"}]}`,
			`{"name":"vm1","shieldedInstanceConfig":{"enableVtpm":"true"}}`,
			`[]`,
		},
		inventory.TypeComputeProject: {
			`{"name":`,
			`{"name":"p1","commonInstanceMetadata":{"items":"enable-oslogin"}}`,
			`{"name":"p1","commonInstanceMetadata":{"items":[{"key":"serial-port-enable","value":1}]}}`,
		},
	}
	for _, r := range computeRules() {
		id := r.Meta().ID
		for _, typ := range r.Meta().AssetTypes {
			for _, data := range bad[typ] {
				a := resourceAsset(typ, computeInstancePrefix+"vm1", data)
				if typ == inventory.TypeComputeProject {
					a = computeProjectAsset(data)
				}
				var out Results
				err := r.Evaluate(testEnv(), a, &out)
				errorNames(t, err, a)
				if err != nil && !strings.Contains(err.Error(), id) {
					t.Errorf("%s on %s: error %q does not name the rule", id, data, err)
				}
				noResults(t, out)
			}
		}
		a := firewallAsset("fw", `{"name":"fw"}`)
		errorNames(t, r.Evaluate(testEnv(), a, &Results{}), a)
		vm := computeVM("")
		if err := r.Evaluate(nil, vm, &Results{}); err == nil {
			t.Errorf("%s: no error without an Env", id)
		}
		if err := r.Evaluate(testEnv(), vm, nil); err == nil {
			t.Errorf("%s: no error without Results", id)
		}
	}
}

// TestComputeRulesSurviveOddAssets mirrors TestRulesSurviveOddAssets until the compute
// rules are in Default.
func TestComputeRulesSurviveOddAssets(t *testing.T) {
	for _, r := range computeRules() {
		for _, typ := range r.Meta().AssetTypes {
			name := "//example.googleapis.com/projects/p1/things/x"
			for what, a := range map[string]*inventory.Asset{
				"bare":        {Name: name, AssetType: typ},
				"empty data":  {Name: name, AssetType: typ, Resource: &inventory.Resource{}},
				"policy only": {Name: name, AssetType: typ, IAMPolicy: &inventory.Policy{}},
				"empty name":  {AssetType: typ},
			} {
				t.Run(r.Meta().ID+"/"+typ+"/"+what, func(t *testing.T) {
					noResults(t, evaluate(t, r, testEnv(), a))
				})
			}
			for _, data := range []string{`null`, `[]`, `"x"`, `{`, `{"name":7}`, `{}`,
				`{"networkInterfaces":[null],"serviceAccounts":[null],"metadata":{"items":[null]},"labels":null}`} {
				a := &inventory.Asset{Name: name, AssetType: typ, Resource: &inventory.Resource{Data: json.RawMessage(data)}}
				var out Results
				_ = r.Evaluate(testEnv(), a, &out) // an error is fine; a panic is not
			}
		}
	}
}

// computeBenchVM is a compliant instance of the usual shape.
const computeBenchVM = `{"name":"vm1","zone":"` + computeZoneURL + `","status":"RUNNING","canIpForward":false,` +
	`"networkInterfaces":[{"name":"nic0","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/prod","networkIP":"10.0.0.2"}],` +
	`"serviceAccounts":[{"email":"app@p1.iam.gserviceaccount.com","scopes":["https://www.googleapis.com/auth/cloud-platform"]}],` +
	`"metadata":{"fingerprint":"x","items":[{"key":"enable-oslogin","value":"TRUE"}]},` +
	`"shieldedInstanceConfig":{"enableSecureBoot":true,"enableVtpm":true,"enableIntegrityMonitoring":true},"labels":{"env":"prod"}}`

func BenchmarkComputeRulesCompliant(b *testing.B) {
	a := computeInstanceAsset("vm1", computeBenchVM)
	rs := computeRules()
	env := testEnv()
	var out Results
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rs {
			if err := r.Evaluate(env, a, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
	if len(out.Findings) != 0 || len(out.Skipped) != 0 {
		b.Fatalf("compliant instance produced %+v", out)
	}
}
