package iac

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func loadRepo(t testing.TB) *Index {
	t.Helper()
	ix, err := Load(os.DirFS("testdata/repo"), []string{"envs/prod", "envs/staging", "envs/sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Problems) > 0 {
		t.Fatalf("problems: %v", ix.Problems)
	}
	return ix
}

const (
	fwPrefix  = "//compute.googleapis.com/projects/"
	prodIAM   = "//cloudresourcemanager.googleapis.com/projects/100000000001"
	keyPrefix = "//iam.googleapis.com/projects/acme-prod/serviceAccounts/"
)

func fwName(project, name string) string { return fwPrefix + project + "/global/firewalls/" + name }

func iamEv(role, member string) map[string]any {
	return map[string]any{"role": role, "member": member, "project": "acme-prod"}
}

// where renders a match for comparison: status, then file:line address, or the candidates.
func where(m Match) string {
	if m.Status == Managed {
		return string(m.Status) + " " + m.File + ":" + strconv.Itoa(m.Line) + " " + m.Address
	}
	var cs []string
	for _, c := range m.Candidates {
		cs = append(cs, c.File+":"+strconv.Itoa(c.Line)+" "+c.Address)
	}
	return string(m.Status) + " [" + strings.Join(cs, ", ") + "]"
}

func TestOwner(t *testing.T) {
	ix := loadRepo(t)
	tests := []struct {
		name      string
		assetType string
		resource  string
		evidence  map[string]any
		want      string
	}{
		{"interpolated name, auto.tfvars wins over terraform.tfvars over the default",
			inventory.TypeFirewall, fwName("acme-prod", "acme-ssh"), nil,
			"managed envs/prod/firewall.tf:3 google_compute_firewall.ssh"},
		{"tfvars value is not the default", inventory.TypeFirewall, fwName("acme-wrong", "acme-ssh"), nil, "unmanaged []"},
		{"terraform.tfvars value overridden by auto.tfvars", inventory.TypeFirewall, fwName("acme-prod", "tfvars-ssh"), nil, "unmanaged []"},
		{"network given and matching", inventory.TypeFirewall, fwName("acme-prod", "acme-ssh"),
			map[string]any{"network": "https://www.googleapis.com/compute/v1/projects/acme-prod/global/networks/prod-vpc"},
			"managed envs/prod/firewall.tf:3 google_compute_firewall.ssh"},
		{"network given and different", inventory.TypeFirewall, fwName("acme-prod", "acme-ssh"),
			map[string]any{"network": "projects/acme-prod/global/networks/other"}, "unmanaged []"},
		{"for_each over a toset local", inventory.TypeFirewall, fwName("acme-prod", "allow-https"), nil,
			"managed envs/prod/main.tf:19 google_compute_firewall.web[\"https\"]"},
		{"aliased provider's project", inventory.TypeFirewall, fwName("acme-net", "shared-ssh"), nil,
			"managed envs/prod/firewall.tf:27 google_compute_firewall.shared"},
		{"aliased provider: not the default project", inventory.TypeFirewall, fwName("acme-prod", "shared-ssh"), nil, "unmanaged []"},
		{"count", inventory.TypeFirewall, fwName("acme-prod", "counted-1"), nil,
			"managed envs/prod/firewall.tf:37 google_compute_firewall.counted[1]"},
		{"count beyond the last index", inventory.TypeFirewall, fwName("acme-prod", "counted-2"), nil, "unmanaged []"},
		{"firewall-rules module via git source", inventory.TypeFirewall, fwName("acme-prod", "rules-ssh"), nil,
			"managed envs/prod/firewall.tf:63 module.fw_rules.rules[0]"},
		{"module rule from a local", inventory.TypeFirewall, fwName("acme-qa", "prod-allow-db"), nil, "unmanaged []"},
		{"module rule from a local, and a root whose name cannot be evaluated",
			inventory.TypeFirewall, fwName("acme-prod", "prod-allow-db"), nil,
			"ambiguous [envs/prod/firewall.tf:68 module.fw_rules.rules[1], envs/sandbox/main.tf:5 google_compute_firewall.db]"},
		{"name with an unknown variable", inventory.TypeFirewall, fwName("acme-prod", "qa-allow-db"), nil,
			"unresolved [envs/sandbox/main.tf:5 google_compute_firewall.db]"},
		{"literal parts of a template rule it out", inventory.TypeFirewall, fwName("acme-prod", "qa-allow-web"), nil, "unmanaged []"},
		{"vendored module by local path, ingress_rules", inventory.TypeFirewall, fwName("acme-prod", "vendored-rdp"), nil,
			"managed envs/prod/firewall.tf:78 module.fw_vendored.ingress_rules[0]"},
		{"module rules that cannot be evaluated", inventory.TypeFirewall, fwName("acme-sandbox", "anything"), nil,
			"unresolved [envs/sandbox/main.tf:16 module.fw.rules]"},
		{"unrecognised module mentioning the name", inventory.TypeFirewall, fwName("acme-prod", "opaque-ssh"), nil,
			"unresolved [envs/prod/firewall.tf:85 module.vpc]"},
		{"two roots declare it", inventory.TypeFirewall, fwName("acme-prod", "acme-dup"), nil,
			"ambiguous [envs/prod/firewall.tf:47 google_compute_firewall.dup, envs/staging/main.tf:6 google_compute_firewall.dup]"},
		{"staging default project", inventory.TypeFirewall, fwName("acme-staging", "staging-ssh"), nil,
			"managed envs/staging/main.tf:16 google_compute_firewall.staging_ssh"},
		{"local module instance", inventory.TypeFirewall, fwName("acme-prod", "acme-base"), nil,
			"managed modules/base/main.tf:9 module.base.google_compute_firewall.deny"},
		{".terraform is skipped; not declared", inventory.TypeFirewall, fwName("acme-prod", "not-declared"), nil, "unmanaged []"},
		{"network", inventory.TypeNetwork, fwPrefix + "acme-prod/global/networks/default", nil,
			"managed envs/prod/network.tf:1 google_compute_network.default"},
		{"network in another project", inventory.TypeNetwork, fwPrefix + "acme-dev/global/networks/default", nil, "unmanaged []"},
		{"network of an unrecognised module", inventory.TypeNetwork, fwPrefix + "acme-prod/global/networks/opaque-vpc", nil,
			"unresolved [envs/prod/firewall.tf:85 module.vpc]"},

		{"iam_member", inventory.TypeProject, prodIAM, iamEv("roles/iam.serviceAccountUser", "user:bob@acme.example"),
			"managed envs/prod/iam.tf:1 google_project_iam_member.bob"},
		{"iam_member: member compared without case", inventory.TypeProject, prodIAM, iamEv("roles/iam.serviceAccountUser", "user:Bob@ACME.example"),
			"managed envs/prod/iam.tf:1 google_project_iam_member.bob"},
		{"iam_member: project ID unknown, number only", inventory.TypeProject, prodIAM,
			map[string]any{"role": "roles/iam.serviceAccountUser", "member": "user:bob@acme.example"},
			"unresolved [envs/prod/iam.tf:1 google_project_iam_member.bob]"},
		{"iam_member: other role", inventory.TypeProject, prodIAM, iamEv("roles/owner", "user:bob@acme.example"), "unmanaged []"},
		{"iam_member with condition", inventory.TypeProject, prodIAM,
			map[string]any{"role": "roles/iam.serviceAccountTokenCreator", "member": "group:ci@acme.example", "project": "acme-prod",
				"condition": map[string]string{"title": "business hours", "expression": "request.time.getHours('Europe/Berlin') >= 8"}},
			"managed envs/prod/iam.tf:7 google_project_iam_member.ci_tokens"},
		{"iam_member: the condition differs", inventory.TypeProject, prodIAM,
			map[string]any{"role": "roles/iam.serviceAccountTokenCreator", "member": "group:ci@acme.example", "project": "acme-prod",
				"condition": map[string]any{"title": "business hours", "expression": "true"}},
			"unmanaged []"},
		{"iam_member: unconditional grant is not the conditional one", inventory.TypeProject, prodIAM,
			iamEv("roles/iam.serviceAccountTokenCreator", "group:ci@acme.example"), "unmanaged []"},
		{"iam_member with for_each over a local list", inventory.TypeProject, prodIAM, iamEv("roles/iam.serviceAccountUser", "user:dave@acme.example"),
			"managed envs/prod/main.tf:24 google_project_iam_member.impersonators[\"user:dave@acme.example\"]"},
		{"iam_binding member interpolated from a local", inventory.TypeProject, prodIAM,
			iamEv("roles/compute.admin", "serviceAccount:ci@acme-prod.iam.gserviceaccount.com"),
			"managed envs/prod/iam.tf:31 google_project_iam_binding.admins"},
		{"iam_binding: member not in members", inventory.TypeProject, prodIAM, iamEv("roles/compute.admin", "user:x@acme.example"), "unmanaged []"},
		{"iam_policy binding", inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/acme-legacy",
			map[string]any{"role": "roles/editor", "member": "user:eve@acme.example"},
			"managed envs/prod/iam.tf:49 google_project_iam_policy.legacy"},
		{"projects_iam module", inventory.TypeProject, prodIAM, iamEv("roles/viewer", "user:frank@acme.example"),
			"managed envs/prod/iam.tf:62 module.iam.bindings[\"roles/viewer\"]"},
		{"projects_iam module, second project", inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/100000000004",
			map[string]any{"role": "roles/editor", "member": "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com", "project": "acme-analytics"},
			"managed envs/prod/iam.tf:59 module.iam.bindings[\"roles/editor\"]"},
		{"projects_iam module, conditional binding", inventory.TypeProject, prodIAM,
			map[string]any{"role": "roles/storage.admin", "member": "user:gina@acme.example", "project": "acme-prod",
				"condition": map[string]any{"title": "expires", "expression": "request.time < timestamp(\"2027-01-01T00:00:00Z\")"}},
			"managed envs/prod/iam.tf:72 module.iam.conditional_bindings[0]"},
		{"folder IAM is not declared", inventory.TypeFolder, "//cloudresourcemanager.googleapis.com/folders/1",
			iamEv("roles/owner", "user:x@acme.example"), "unmanaged []"},

		{"the only key of an account", inventory.TypeServiceAccountKey, keyPrefix + "110000000000000000001/keys/k1",
			map[string]any{"serviceAccount": "deployer@acme-prod.iam.gserviceaccount.com"},
			"managed envs/prod/iam.tf:81 google_service_account_key.deployer"},
		{"two key resources for one account", inventory.TypeServiceAccountKey, keyPrefix + "ci@acme-prod.iam.gserviceaccount.com/keys/k2", nil,
			"ambiguous [envs/prod/iam.tf:85 google_service_account_key.ci_a, envs/prod/iam.tf:89 google_service_account_key.ci_b]"},
		{"key of an undeclared account", inventory.TypeServiceAccountKey, keyPrefix + "secbot@acme-prod.iam.gserviceaccount.com/keys/k3", nil, "unmanaged []"},
		{"key: account known only by unique ID", inventory.TypeServiceAccountKey, keyPrefix + "110000000000000000009/keys/k4", nil,
			"unresolved [envs/prod/iam.tf:81 google_service_account_key.deployer, envs/prod/iam.tf:85 google_service_account_key.ci_a, envs/prod/iam.tf:89 google_service_account_key.ci_b]"},
		{"service account", inventory.TypeServiceAccount, keyPrefix + "110000000000000000001",
			map[string]any{"email": "deployer@acme-prod.iam.gserviceaccount.com"},
			"managed envs/prod/iam.tf:77 google_service_account.deployer"},
		{"unsupported asset type", "storage.googleapis.com/Bucket", "//storage.googleapis.com/acme-logs", nil, "unresolved []"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.want {
				t.Errorf("got  %s\nwant %s\nwhy: %s", got, tc.want, m.Why)
				for _, c := range m.Candidates {
					t.Logf("candidate %s:%d %s: %s", c.File, c.Line, c.Address, c.Why)
				}
			}
		})
	}
}

// TestOwnerConcurrent runs Owner from many goroutines; with -race it proves the index is
// read-only after Load.
func TestOwnerConcurrent(t *testing.T) {
	ix := loadRepo(t)
	done := make(chan string)
	for i := range 8 {
		go func() {
			var out []string
			for j := range 20 {
				m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", []string{"acme-ssh", "allow-http", "prod-allow-db"}[(i+j)%3]), nil)
				out = append(out, where(m))
				m = ix.Owner(inventory.TypeProject, prodIAM, iamEv("roles/viewer", "group:sre@acme.example"))
				out = append(out, where(m))
			}
			done <- strings.Join(out, "\n")
		}()
	}
	for range 8 {
		<-done
	}
}

func BenchmarkOwner(b *testing.B) {
	ix := loadRepo(b)
	for b.Loop() {
		ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "acme-ssh"), nil)
		ix.Owner(inventory.TypeProject, prodIAM, iamEv("roles/viewer", "user:frank@acme.example"))
	}
}
