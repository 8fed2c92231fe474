package rules

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestDefaultRulesMeta(t *testing.T) {
	want := []struct {
		id       string
		category string
		severity Severity
		cis      CIS
		types    []string
	}{
		{"firewall-open-ingress", "OPEN_FIREWALL", SeverityHigh, CIS{"1.1": {"3.6", "3.7"}}, []string{inventory.TypeFirewall}},
		{"network-default", "DEFAULT_NETWORK", SeverityMedium, CIS{"1.1": {"3.1"}}, []string{inventory.TypeNetwork}},
		{"network-legacy", "LEGACY_NETWORK", SeverityHigh, CIS{"1.1": {"3.2"}}, []string{inventory.TypeNetwork}},
		{"sa-admin-role", "ADMIN_SERVICE_ACCOUNT", SeverityHigh, CIS{"1.1": {"1.5"}, "5.0": {"1.6"}},
			[]string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}},
		{"sa-user-project-level", "OVER_PRIVILEGED_SERVICE_ACCOUNT_USER", SeverityMedium, CIS{"1.1": {"1.6"}, "5.0": {"1.7"}},
			[]string{inventory.TypeProject}},
		{"sa-user-managed-key", "USER_MANAGED_SERVICE_ACCOUNT_KEY", SeverityMedium, CIS{"1.1": {"1.4"}, "5.0": {"1.5"}},
			[]string{inventory.TypeServiceAccountKey}},
		{"sa-key-not-rotated", "SERVICE_ACCOUNT_KEY_NOT_ROTATED", SeverityMedium, CIS{"1.1": {"1.7"}, "5.0": {"1.8"}},
			[]string{inventory.TypeServiceAccountKey}},
		{"iam-public-member", "PUBLIC_IAM_POLICY", SeverityHigh, nil,
			[]string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}},
	}
	rs := Default()
	if len(rs) != len(want) {
		t.Fatalf("Default() has %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity ||
			!reflect.DeepEqual(m.CIS, w.cis) || !slices.Equal(m.AssetTypes, w.types) {
			t.Errorf("rule %d = %s %s %s %v %v, want %s %s %s %v %v", i,
				m.ID, m.Category, m.Severity, m.CIS, m.AssetTypes, w.id, w.category, w.severity, w.cis, w.types)
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
	} {
		if got := m[tc.id].Meta().CIS.Controls(tc.version); !slices.Equal(got, tc.want) {
			t.Errorf("%s in CIS %s: %v, want %v", tc.id, tc.version, got, tc.want)
		}
	}
}

func TestDefaultReturnsFreshRules(t *testing.T) {
	a, b := Default(), Default()
	a[0].Meta().Title = "changed"
	a[0].Meta().AssetTypes[0] = "changed"
	a[3].Meta().AssetTypes[0] = "changed"
	if b[0].Meta().Title == "changed" || b[0].Meta().AssetTypes[0] == "changed" || b[3].Meta().AssetTypes[0] == "changed" {
		t.Error("rules from two Default calls share their Meta")
	}
	if a[7].Meta().AssetTypes[0] == "changed" {
		t.Error("two rules of one Default call share their AssetTypes")
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
			for what, a := range quiet {
				t.Run(r.Meta().ID+"/"+typ+"/"+what, func(t *testing.T) {
					noResults(t, evaluate(t, r, testEnv(), a))
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
		"network-default DEFAULT_NETWORK p1",
		// An export's IAM policy line carries no project data, so only the number is known.
		"sa-admin-role ADMIN_SERVICE_ACCOUNT projects/123",
		"sa-user-project-level OVER_PRIVILEGED_SERVICE_ACCOUNT_USER projects/123",
		"iam-public-member PUBLIC_IAM_POLICY projects/123",
		"sa-user-managed-key USER_MANAGED_SERVICE_ACCOUNT_KEY p1",
		"sa-key-not-rotated SERVICE_ACCOUNT_KEY_NOT_ROTATED p1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n got %q\nwant %q", got, want)
	}
	if len(out.Skipped) != 1 || !strings.HasSuffix(out.Skipped[0].Resource, "/k8s-fw-a1b2c3") {
		t.Errorf("skipped %+v, want the k8s-fw rule", out.Skipped)
	}
}
