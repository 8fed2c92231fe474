package iac

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

const scenarioDir = "../sandbox/scenarios/builtin"

// scenarioAssets reads the built-in scenario's assets, merging the resource and IAM-policy
// lines of the same name as the engine does.
func scenarioAssets(t *testing.T) []*inventory.Asset {
	t.Helper()
	f, err := os.Open(scenarioDir + "/assets.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*inventory.Asset
	byName := map[string]*inventory.Asset{}
	_, err = inventory.DecodeCAI(context.Background(), f, inventory.DecodeOptions{Name: "assets.json"}, func(a *inventory.Asset) error {
		if prev := byName[a.Name]; prev != nil {
			if a.Resource != nil {
				prev.Resource = a.Resource
			}
			if a.IAMPolicy != nil {
				prev.IAMPolicy = a.IAMPolicy
			}
			return nil
		}
		byName[a.Name] = a
		out = append(out, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadScenario(t *testing.T) *Index {
	t.Helper()
	ix, err := Load(os.DirFS(scenarioDir+"/iac"), []string{"envs/prod", "envs/dev"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Problems) > 0 {
		t.Fatalf("problems: %v", ix.Problems)
	}
	return ix
}

// scenarioQuery is one Owner query about a resource or an IAM grant of the built-in
// scenario's assets; key names it in test failures.
type scenarioQuery struct {
	key, assetType, resource string
	evidence                 map[string]any
}

// scenarioQueries returns the Owner queries of the built-in scenario's firewalls, networks,
// service accounts, their keys and every member of every IAM binding, with the evidence the
// rules report of them.
func scenarioQueries(t *testing.T) []scenarioQuery {
	t.Helper()
	var out []scenarioQuery
	numberToID := map[string]string{}
	assets := scenarioAssets(t)
	for _, a := range assets {
		if a.AssetType == inventory.TypeProject {
			p, err := a.ProjectData()
			if err != nil {
				t.Fatal(err)
			}
			numberToID[strings.TrimPrefix(a.Name, "//cloudresourcemanager.googleapis.com/projects/")] = p.ProjectID
		}
	}
	for _, a := range assets {
		switch a.AssetType {
		case inventory.TypeFirewall:
			fw, err := a.Firewall()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, scenarioQuery{"firewall " + a.ShortName(), a.AssetType, a.Name, map[string]any{"network": fw.Network}})
		case inventory.TypeNetwork:
			out = append(out, scenarioQuery{"network " + a.ShortName(), a.AssetType, a.Name, nil})
		case inventory.TypeServiceAccount:
			sa, err := a.ServiceAccount()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, scenarioQuery{"serviceAccount " + sa.Email, a.AssetType, a.Name, map[string]any{"email": sa.Email}})
		case inventory.TypeServiceAccountKey:
			k, err := a.ServiceAccountKey()
			if err != nil {
				t.Fatal(err)
			}
			email, _, ok := rules.ParseKeyName(k.Name)
			if !ok {
				t.Fatalf("key name %s", k.Name)
			}
			out = append(out, scenarioQuery{"key " + email, a.AssetType, a.Name, map[string]any{"serviceAccount": email}})
		}
		if a.IAMPolicy != nil {
			project := ""
			if a.AssetType == inventory.TypeProject {
				project = numberToID[strings.TrimPrefix(a.Name, "//cloudresourcemanager.googleapis.com/projects/")]
			}
			for _, b := range a.IAMPolicy.Bindings {
				for _, member := range b.Members {
					ev := map[string]any{"role": b.Role, "member": member, "project": project}
					if b.Condition != nil {
						ev["condition"] = map[string]string{"title": b.Condition.Title, "expression": b.Condition.Expression}
					}
					out = append(out, scenarioQuery{"iam " + project + " " + b.Role + " " + member, a.AssetType, a.Name, ev})
				}
			}
		}
	}
	return out
}

// scenarioFindings runs the rules over the built-in scenario's assets as a scan does (set
// rules over all of it) and returns their findings.
func scenarioFindings(t *testing.T) []rules.Finding {
	t.Helper()
	env := rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	rs := rules.Default()
	tallies := make([]rules.Tally, len(rs))
	for i, r := range rs {
		if sr, ok := r.(rules.SetRule); ok {
			tallies[i] = sr.Tally(env)
		}
	}
	var res rules.Results
	for _, a := range scenarioAssets(t) {
		for i, r := range rs {
			if !slices.Contains(r.Meta().AssetTypes, a.AssetType) {
				continue
			}
			var err error
			if tallies[i] != nil {
				err = tallies[i].Add(a)
			} else {
				err = r.Evaluate(env, a, &res)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tl := range tallies {
		if tl != nil {
			if err := tl.Finish(&res); err != nil {
				t.Fatal(err)
			}
		}
	}
	return res.Findings
}

// findingEvidence is the evidence Owner and Patch get for a finding: its own, with its
// project.
func findingEvidence(f rules.Finding) map[string]any {
	ev := map[string]any{"project": f.Project}
	for k, v := range f.Evidence {
		ev[k] = v
	}
	return ev
}

// TestScenarioOwnership checks that the built-in Terraform declares exactly the resources
// its README says, and nothing else of the demo organisation.
func TestScenarioOwnership(t *testing.T) {
	ix := loadScenario(t)
	managed := map[string]string{
		"firewall allow-ssh-world":                                    "envs/prod/firewall.tf:39 google_compute_firewall.ssh_world",
		"firewall allow-rdp-split":                                    "envs/prod/firewall.tf:80 module.firewall_rules.rules[1]",
		"firewall allow-egress-all":                                   "envs/prod/firewall.tf:74 module.firewall_rules.rules[0]",
		"firewall allow-ssh-iap":                                      "envs/prod/firewall.tf:6 google_compute_firewall.baseline[\"allow-ssh-iap\"]",
		"firewall allow-internal":                                     "envs/prod/firewall.tf:10 google_compute_firewall.baseline[\"allow-internal\"]",
		"firewall deny-all-ingress":                                   "envs/prod/firewall.tf:53 google_compute_firewall.deny_all_ingress",
		"network prod-vpc":                                            "envs/prod/network.tf:1 google_compute_network.prod",
		"serviceAccount deployer@acme-prod.iam.gserviceaccount.com":   "envs/prod/service_accounts.tf:1 google_service_account.deployer",
		"serviceAccount monitoring@acme-prod.iam.gserviceaccount.com": "envs/prod/service_accounts.tf:11 google_service_account.monitoring",
		"key deployer@acme-prod.iam.gserviceaccount.com":              "envs/prod/service_accounts.tf:7 google_service_account_key.deployer",
		"iam acme-prod roles/editor serviceAccount:deployer@acme-prod.iam.gserviceaccount.com":   "envs/prod/iam.tf:13 module.project_iam.bindings[\"roles/editor\"]",
		"iam acme-prod roles/viewer serviceAccount:monitoring@acme-prod.iam.gserviceaccount.com": "envs/prod/iam.tf:17 module.project_iam.bindings[\"roles/viewer\"]",
		"iam acme-prod roles/viewer group:sre@acme.example":                                      "envs/prod/iam.tf:18 module.project_iam.bindings[\"roles/viewer\"]",
		"iam acme-prod roles/iam.serviceAccountUser user:bob@acme.example":                       "envs/prod/iam.tf:24 google_project_iam_member.bob_sa_user",
		// Declared in the prod root with an explicit project: the only grant of acme-analytics
		// the Terraform declares.
		"iam acme-analytics roles/bigquery.dataViewer user:jane.freelance@gmail.com": "envs/prod/iam.tf:32 google_project_iam_member.jane_exports_viewer",
	}
	seen := map[string]bool{}
	for _, q := range scenarioQueries(t) {
		m := ix.Owner(q.assetType, q.resource, q.evidence)
		want, ok := managed[q.key]
		switch {
		case ok:
			seen[q.key] = true
			got := m.File + ":" + strconv.Itoa(m.Line) + " " + m.Address
			if m.Status != Managed || got != want {
				t.Errorf("%s: got %s %s (%s) %+v, want managed %s", q.key, m.Status, got, m.Why, m.Candidates, want)
			}
		case m.Status != Unmanaged:
			t.Errorf("%s: got %s at %s:%d %s (%s) %+v, want unmanaged", q.key, m.Status, m.File, m.Line, m.Address, m.Why, m.Candidates)
		}
	}
	for key := range managed {
		if !seen[key] {
			t.Errorf("%s: not in the scenario's assets", key)
		}
	}
}

// TestScenarioFindings runs the rules over the scenario as a scan does (set rules over all
// of it) and maps every finding: the drifting resources the README calls declared are
// Managed; those zerodrift cannot map to Terraform are Unresolved; the rest Unmanaged.
func TestScenarioFindings(t *testing.T) {
	ix := loadScenario(t)
	declared := map[string]bool{
		"firewall-open-ingress allow-ssh-world":                                                true,
		"firewall-open-ingress allow-rdp-split":                                                true,
		"firewall-logging-disabled allow-ssh-world":                                            true,
		"firewall-overly-broad-internal allow-internal":                                        true,
		"sa-admin-role roles/editor serviceAccount:deployer@acme-prod.iam.gserviceaccount.com": true,
		"sa-user-project-level roles/iam.serviceAccountUser user:bob@acme.example":             true,
		"iam-primitive-role-user roles/viewer group:sre@acme.example":                          true,
		"sa-user-managed-key 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567":                         true,
		"sa-key-not-rotated 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567":                          true,
		// jane.freelance@gmail.com on acme-analytics: her one role, roles/bigquery.dataViewer,
		// is declared (google_project_iam_member.jane_exports_viewer), so all of her grants are.
		"iam-non-org-member 100000000004": true,
	}
	// Findings zerodrift does not map to Terraform: those on a project, folder or
	// organization that name no role (nor list of roles) and member and are not about its
	// audit configuration (a project's networks). Subnetworks, instances, compute projects,
	// audit configurations and a member's roles (sa-role-separation, iam-non-org-member) are
	// mapped: of these, only jane.freelance@gmail.com's roles on acme-analytics are declared
	// (above); the rest are unmanaged.
	unresolved := map[string]bool{
		"network-too-many 100000000001": true,
	}
	found := map[string]bool{}
	for _, f := range scenarioFindings(t) {
		key := f.Rule + " " + f.Resource[strings.LastIndexByte(f.Resource, '/')+1:]
		if role, ok := f.Evidence["role"].(string); ok {
			key = f.Rule + " " + role + " " + f.Evidence["member"].(string)
		}
		m := ix.Owner(f.AssetType, f.Resource, findingEvidence(f))
		want := Unmanaged
		switch {
		case declared[key]:
			want = Managed
			found[key] = true
		case unresolved[key]:
			want = Unresolved
			found[key] = true
		}
		if m.Status != want {
			t.Errorf("%s: got %s (%s), want %s", key, m.Status, m.Why, want)
		}
	}
	for key := range declared {
		if !found[key] {
			t.Errorf("no finding %s", key)
		}
	}
	for key := range unresolved {
		if !found[key] {
			t.Errorf("no finding %s", key)
		}
	}
}
