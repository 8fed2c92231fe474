package rules

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestDefaultRulesMeta(t *testing.T) {
	hierarchy := []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}
	want := []struct {
		id       string
		category string
		severity Severity
		cis      CIS
		types    []string
		set      bool // judged over the whole scan: a SetRule
	}{
		{"firewall-open-ingress", "OPEN_FIREWALL", SeverityHigh, CIS{"1.1": {"3.6", "3.7"}}, []string{inventory.TypeFirewall}, false},
		{"network-default", "DEFAULT_NETWORK", SeverityMedium, CIS{"1.1": {"3.1"}}, []string{inventory.TypeNetwork}, false},
		{"network-legacy", "LEGACY_NETWORK", SeverityHigh, CIS{"1.1": {"3.2"}}, []string{inventory.TypeNetwork}, false},
		{"sa-admin-role", "ADMIN_SERVICE_ACCOUNT", SeverityHigh, CIS{"1.1": {"1.5"}, "5.0": {"1.6"}}, hierarchy, false},
		{"sa-user-project-level", "OVER_PRIVILEGED_SERVICE_ACCOUNT_USER", SeverityMedium, CIS{"1.1": {"1.6"}, "5.0": {"1.7"}},
			[]string{inventory.TypeProject}, false},
		{"sa-user-managed-key", "USER_MANAGED_SERVICE_ACCOUNT_KEY", SeverityMedium, CIS{"1.1": {"1.4"}, "5.0": {"1.5"}},
			[]string{inventory.TypeServiceAccountKey}, false},
		{"sa-key-not-rotated", "SERVICE_ACCOUNT_KEY_NOT_ROTATED", SeverityMedium, CIS{"1.1": {"1.7"}, "5.0": {"1.8"}},
			[]string{inventory.TypeServiceAccountKey}, false},
		{"iam-public-member", "PUBLIC_IAM_POLICY", SeverityHigh, nil, hierarchy, false},
		// monitoringRules
		{"firewall-logging-disabled", "FIREWALL_RULE_LOGGING_DISABLED", SeverityMedium, nil, []string{inventory.TypeFirewall}, false},
		{"subnet-flow-logs-disabled", "FLOW_LOGS_DISABLED", SeverityLow, CIS{"1.1": {"3.8"}, "5.0": {"3.10"}},
			[]string{inventory.TypeSubnetwork}, false},
		{"audit-logging-disabled", "AUDIT_LOGGING_DISABLED", SeverityLow, CIS{"1.1": {"2.1"}}, hierarchy, true},
		// segmentationRules
		{"egress-deny-not-set", "EGRESS_DENY_RULE_NOT_SET", SeverityLow, nil,
			[]string{inventory.TypeNetwork, inventory.TypeFirewall}, true},
		{"private-google-access-disabled", "PRIVATE_GOOGLE_ACCESS_DISABLED", SeverityLow, nil,
			[]string{inventory.TypeSubnetwork}, false},
		{"network-too-many", "ZERODRIFT_TOO_MANY_NETWORKS", SeverityLow, nil, []string{inventory.TypeNetwork}, true},
		{"firewall-overly-broad-internal", "ZERODRIFT_OVERLY_BROAD_INTERNAL_FIREWALL", SeverityMedium, nil,
			[]string{inventory.TypeFirewall}, false},
		// computeRules
		{"compute-default-sa", "DEFAULT_SERVICE_ACCOUNT_USED", SeverityMedium, CIS{"1.1": {"4.1"}},
			[]string{inventory.TypeInstance}, false},
		{"compute-default-sa-full-scope", "FULL_API_ACCESS", SeverityMedium, CIS{"1.1": {"4.2"}},
			[]string{inventory.TypeInstance}, false},
		{"compute-public-ip", "PUBLIC_IP_ADDRESS", SeverityHigh, CIS{"1.1": {"4.9"}}, []string{inventory.TypeInstance}, false},
		{"compute-os-login-disabled", "OS_LOGIN_DISABLED", SeverityMedium, CIS{"1.1": {"4.4"}},
			[]string{inventory.TypeInstance, inventory.TypeComputeProject}, false},
		{"compute-serial-port-enabled", "SERIAL_PORT_ENABLED", SeverityMedium, CIS{"1.1": {"4.5"}},
			[]string{inventory.TypeInstance, inventory.TypeComputeProject}, false},
		{"compute-project-ssh-keys-allowed", "COMPUTE_PROJECT_WIDE_SSH_KEYS_ALLOWED", SeverityMedium, CIS{"1.1": {"4.3"}},
			[]string{inventory.TypeInstance}, false},
		{"compute-ip-forwarding", "IP_FORWARDING_ENABLED", SeverityMedium, CIS{"1.1": {"4.6"}},
			[]string{inventory.TypeInstance}, false},
		{"compute-shielded-vm-disabled", "SHIELDED_VM_DISABLED", SeverityLow, CIS{"1.1": {"4.8"}},
			[]string{inventory.TypeInstance}, false},
		// identityRules
		{"sa-role-separation", "SERVICE_ACCOUNT_ROLE_SEPARATION", SeverityMedium, CIS{"1.1": {"1.8"}, "5.0": {"1.9"}}, hierarchy, false},
		{"iam-non-org-member", "NON_ORG_IAM_MEMBER", SeverityHigh, CIS{"1.1": {"1.1"}}, hierarchy, false},
		{"iam-primitive-role-user", "PRIMITIVE_ROLES_USED", SeverityMedium, nil, hierarchy, false},
	}
	rs := Default()
	if len(rs) != len(want) {
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.Meta().ID)
		}
		t.Fatalf("Default() has %d rules, want %d: %v", len(rs), len(want), ids)
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity ||
			!reflect.DeepEqual(m.CIS, w.cis) || !slices.Equal(m.AssetTypes, w.types) {
			t.Errorf("rule %d = %s %s %s %v %v, want %s %s %s %v %v", i,
				m.ID, m.Category, m.Severity, m.CIS, m.AssetTypes, w.id, w.category, w.severity, w.cis, w.types)
		}
		if _, set := rs[i].(SetRule); set != w.set {
			t.Errorf("%s: is a SetRule = %t, want %t", m.ID, set, w.set)
		}
		if m.Title == "" || m.Description == "" || m.Remediation == "" {
			t.Errorf("%s: title, description and remediation are required", m.ID)
		}
		if m.Playbook != "" {
			t.Errorf("%s: Playbook is %q; playbooks set it, not rules", m.ID, m.Playbook)
		}
		if strings.Contains(m.Description, "\n") || strings.Contains(m.Remediation, "\n") {
			t.Errorf("%s: description and remediation are one paragraph of plain text", m.ID)
		}
	}
	if got := ByID(rs); len(got) != len(rs) {
		t.Errorf("ByID has %d entries for %d rules: duplicate IDs", len(got), len(rs))
	}
}

func TestCISControlsByVersion(t *testing.T) {
	m := ByID(Default())
	for _, tc := range []struct {
		id, version string
		want        []string
	}{
		{"sa-admin-role", "1.3", []string{"1.5"}},
		{"sa-admin-role", "5.0", []string{"1.6"}},
		{"sa-key-not-rotated", "4.0", []string{"1.7"}},
		{"sa-key-not-rotated", DefaultCISVersion, []string{"1.8"}},
		{"firewall-open-ingress", "5.0", []string{"3.6", "3.7"}},
		{"network-default", "2.0", []string{"3.1"}},
		{"iam-public-member", "5.0", nil},
		{"subnet-flow-logs-disabled", "4.0", []string{"3.8"}},
		{"subnet-flow-logs-disabled", "5.0", []string{"3.10"}},
		{"sa-role-separation", "3.0", []string{"1.8"}},
		{"sa-role-separation", "5.0", []string{"1.9"}},
		{"compute-public-ip", "5.0", []string{"4.9"}},
		{"compute-project-ssh-keys-allowed", "5.0", []string{"4.3"}},
		{"iam-primitive-role-user", "5.0", nil},
	} {
		if got := m[tc.id].Meta().CIS.Controls(tc.version); !slices.Equal(got, tc.want) {
			t.Errorf("%s in CIS %s: %v, want %v", tc.id, tc.version, got, tc.want)
		}
	}
}

func TestDefaultReturnsFreshRules(t *testing.T) {
	a, b := Default(), Default()
	// Every rule of one call gets its own marks: a Meta, AssetTypes or CIS shared with
	// another rule of the call, or with the other call, shows as a mark overwritten or
	// leaked.
	mark := func(i int) string { return "changed-" + strconv.Itoa(i) }
	for i, r := range a {
		m := r.Meta()
		m.Title = mark(i)
		m.AssetTypes[0] = mark(i)
		if m.CIS != nil {
			m.CIS[mark(i)] = []string{mark(i)}
		}
	}
	for i, r := range b {
		m := r.Meta()
		if strings.HasPrefix(m.Title, "changed") || slices.ContainsFunc(m.AssetTypes, func(s string) bool { return strings.HasPrefix(s, "changed") }) {
			t.Errorf("%s: rules from two Default calls share their Meta", m.ID)
		}
		for v := range m.CIS {
			if strings.HasPrefix(v, "changed") {
				t.Errorf("%s: rules from two Default calls share their CIS", m.ID)
			}
		}
		if got := a[i].Meta(); got.Title != mark(i) || got.AssetTypes[0] != mark(i) {
			t.Errorf("%s: two rules of one Default call share their Meta or AssetTypes: title %q, types %v, want %q",
				m.ID, got.Title, got.AssetTypes, mark(i))
		}
		if got := a[i].Meta().CIS; got != nil && len(got) != len(m.CIS)+1 {
			t.Errorf("%s: two rules of one Default call share their CIS: %v", m.ID, got)
		}
	}
}

func TestByID(t *testing.T) {
	rs := append(Default(), nil)
	m := ByID(rs)
	if m["network-default"] != rs[1] || len(m) != len(rs)-1 {
		t.Errorf("ByID = %v", m)
	}
	if len(ByID(nil)) != 0 {
		t.Error("ByID(nil) is not empty")
	}
}

// TestRulesSurviveOddAssets hands every rule odd but well-typed assets: none may panic, and
// the ones without resource data or policy produce nothing and no error.
func TestRulesSurviveOddAssets(t *testing.T) {
	for _, r := range Default() {
		for _, typ := range r.Meta().AssetTypes {
			name := "//example.googleapis.com/projects/p1/things/x"
			quiet := map[string]*inventory.Asset{
				"bare":               {Name: name, AssetType: typ},
				"empty data":         {Name: name, AssetType: typ, Resource: &inventory.Resource{}},
				"policy, no binding": {Name: name, AssetType: typ, IAMPolicy: &inventory.Policy{}},
				"binding, no member": {Name: name, AssetType: typ, IAMPolicy: &inventory.Policy{Bindings: []inventory.Binding{{Role: "roles/owner"}}}},
				"empty name":         {AssetType: typ},
			}
			// audit-logging-disabled judges a project by the auditConfigs of its IAM policy,
			// and a project policy without any (with or without bindings) lacks every Data
			// Access log: that is the drift, not noise. Such a policy must give exactly that
			// finding; folders' and organizations' policies are only read, never flagged.
			auditDrift := func(what string) bool {
				return r.Meta().ID == "audit-logging-disabled" && typ == inventory.TypeProject &&
					(what == "policy, no binding" || what == "binding, no member")
			}
			for what, a := range quiet {
				t.Run(r.Meta().ID+"/"+typ+"/"+what, func(t *testing.T) {
					out := evaluate(t, r, testEnv(), a)
					if !auditDrift(what) {
						noResults(t, out)
						return
					}
					f := onlyFinding(t, out)
					if f.Rule != "audit-logging-disabled" || f.Resource != name ||
						!slices.Equal(f.Evidence["missingLogTypes"].([]string), []string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"}) {
						t.Errorf("a project policy without auditConfigs: finding %+v, want every log type missing", f)
					}
				})
			}
			for _, data := range []string{`null`, `[]`, `"x"`, `{`, `{"name":7}`, `{}`} {
				a := &inventory.Asset{Name: name, AssetType: typ, Resource: &inventory.Resource{Data: json.RawMessage(data)}}
				var out Results
				_ = r.Evaluate(testEnv(), a, &out) // an error is fine; a panic is not
			}
		}
	}
}

// caiExport is a small `gcloud asset export` file: resource and IAM policy lines, snake_case,
// as Cloud Asset Inventory writes them.
const caiExport = `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/allow-ssh","asset_type":"compute.googleapis.com/Firewall","ancestors":["projects/123","organizations/9"],"resource":{"version":"v1","discovery_name":"Firewall","parent":"//cloudresourcemanager.googleapis.com/projects/123","data":{"name":"allow-ssh","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/default","direction":"INGRESS","priority":1000,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}
{"name":"//compute.googleapis.com/projects/p1/global/firewalls/allow-iap","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"allow-iap","sourceRanges":["35.235.240.0/20"],"allowed":[{"IPProtocol":"tcp","ports":["22","3389"]}]}}}
{"name":"//compute.googleapis.com/projects/p1/global/firewalls/k8s-fw-a1b2c3","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"k8s-fw-a1b2c3","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["443"]}]}}}
{"name":"//compute.googleapis.com/projects/p1/global/networks/default","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"default","autoCreateSubnetworks":true}}}
{"name":"//cloudresourcemanager.googleapis.com/projects/123","asset_type":"cloudresourcemanager.googleapis.com/Project","resource":{"data":{"projectId":"p1","projectNumber":"123"}}}
{"name":"//cloudresourcemanager.googleapis.com/projects/123","asset_type":"cloudresourcemanager.googleapis.com/Project","iam_policy":{"version":3,"bindings":[{"role":"roles/editor","members":["serviceAccount:123-compute@developer.gserviceaccount.com","serviceAccount:123@cloudservices.gserviceaccount.com"]},{"role":"roles/iam.serviceAccountUser","members":["user:alice@acme.example"]},{"role":"roles/viewer","members":["allUsers"]}]}}
{"name":"//iam.googleapis.com/projects/p1/serviceAccounts/ci@p1.iam.gserviceaccount.com/keys/abc","asset_type":"iam.googleapis.com/ServiceAccountKey","resource":{"data":{"name":"projects/p1/serviceAccounts/ci@p1.iam.gserviceaccount.com/keys/abc","keyType":"USER_MANAGED","keyOrigin":"GOOGLE_PROVIDED","validAfterTime":"2025-01-01T00:00:00Z"}}}
`

// TestCAIExport runs every default rule over a decoded CAI export, the way the engine does.
func TestCAIExport(t *testing.T) {
	rs := Default()
	var out Results
	_, err := inventory.DecodeCAI(context.Background(), strings.NewReader(caiExport), inventory.DecodeOptions{Name: "export"},
		func(a *inventory.Asset) error {
			for _, r := range rs {
				if slices.Contains(r.Meta().AssetTypes, a.AssetType) {
					if err := r.Evaluate(testEnv(), a, &out); err != nil {
						t.Errorf("%s on %s: %v", r.Meta().ID, a.Name, err)
					}
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range out.Findings {
		got = append(got, f.Rule+" "+f.Category+" "+f.Project)
	}
	want := []string{
		"firewall-open-ingress OPEN_SSH_PORT p1",
		// Neither allow-ssh nor allow-iap has a logConfig.
		"firewall-logging-disabled FIREWALL_RULE_LOGGING_DISABLED p1",
		"firewall-logging-disabled FIREWALL_RULE_LOGGING_DISABLED p1",
		"network-default DEFAULT_NETWORK p1",
		// Set rules judge each asset alone here: the default network has no egress deny
		// rule, and no firewall of the export denies egress anyway.
		"egress-deny-not-set EGRESS_DENY_RULE_NOT_SET p1",
		// An export's IAM policy line carries no project data, so only the number is known.
		"sa-admin-role ADMIN_SERVICE_ACCOUNT projects/123",
		"sa-user-project-level OVER_PRIVILEGED_SERVICE_ACCOUNT_USER projects/123",
		"iam-public-member PUBLIC_IAM_POLICY projects/123",
		// The project's policy has no auditConfigs, and nothing above it is in the export.
		"audit-logging-disabled AUDIT_LOGGING_DISABLED projects/123",
		"sa-user-managed-key USER_MANAGED_SERVICE_ACCOUNT_KEY p1",
		"sa-key-not-rotated SERVICE_ACCOUNT_KEY_NOT_ROTATED p1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n got %q\nwant %q", got, want)
	}
	var skipped []string
	for _, s := range out.Skipped {
		if !strings.HasSuffix(s.Resource, "/k8s-fw-a1b2c3") {
			t.Errorf("skipped %+v, want only the k8s-fw rule", s)
		}
		skipped = append(skipped, s.Rule)
	}
	// The managed rule is skipped by every firewall rule that would flag it.
	if !slices.Equal(skipped, []string{"firewall-open-ingress", "firewall-logging-disabled"}) {
		t.Errorf("skipped by %q, want firewall-open-ingress and firewall-logging-disabled", skipped)
	}
}
