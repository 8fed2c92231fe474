package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// identityCase is one policy, judged under env (testEnv() when nil), and the evidence and
// severities of the findings it must produce, in order.
type identityCase struct {
	name     string
	env      *Env
	asset    *inventory.Asset
	evidence []string
	severity []Severity // per finding; the rule's default when nil
}

func runIdentityCases(t *testing.T, r Rule, cases []identityCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if env == nil {
				env = testEnv()
			}
			out := evaluate(t, r, env, tc.asset)
			if len(out.Skipped) != 0 || len(out.Findings) != len(tc.evidence) {
				t.Fatalf("got %d findings %s and skips %+v, want %d findings",
					len(out.Findings), jsonOf(t, out.Findings), out.Skipped, len(tc.evidence))
			}
			for i, f := range out.Findings {
				if got := jsonOf(t, f.Evidence); got != tc.evidence[i] {
					t.Errorf("finding %d evidence\n got %s\nwant %s", i, got, tc.evidence[i])
				}
				m := r.Meta()
				if f.Rule != m.ID || f.Title != m.Title || f.Category != m.Category ||
					f.Resource != tc.asset.Name || f.AssetType != tc.asset.AssetType || len(f.ID) != 16 {
					t.Errorf("finding %d: %+v", i, f)
				}
				want := m.Severity
				if tc.severity != nil {
					want = tc.severity[i]
				}
				if f.Severity != want {
					t.Errorf("finding %d: severity %s, want %s", i, f.Severity, want)
				}
			}
		})
	}
}

func folderPolicy(bindings ...inventory.Binding) *inventory.Asset {
	return policyAsset(inventory.TypeFolder, folderName, bindings...)
}

func orgPolicy(bindings ...inventory.Binding) *inventory.Asset {
	return policyAsset(inventory.TypeOrganization, orgName, bindings...)
}

// envAllowing is the test baseline with the given allowed domains.
func envAllowing(domains ...string) *Env {
	env := testEnv()
	env.AllowedDomains = domains
	return env
}

func TestSARoleSeparation(t *testing.T) {
	const (
		admin = "roles/iam.serviceAccountAdmin"
		user  = "roles/iam.serviceAccountUser"
		cond1 = `request.time < timestamp("2027-01-01T00:00:00Z")`
		cond2 = `resource.name.startsWith("projects/p1/serviceAccounts/ci@")`
	)
	ev := func(name, member, extra string) string {
		return `{"conditional":` + fmt.Sprint(extra != "") + `,` + extra + `"member":"` + member + `","policyOf":"` + name +
			`","roles":["roles/iam.serviceAccountAdmin","roles/iam.serviceAccountUser"]}`
	}
	cond := func(role, title, expr string) string {
		return `{"expression":` + strings.ReplaceAll(fmt.Sprintf("%q", expr), "<", `\u003c`) + `,"role":"` + role + `","title":"` + title + `"}`
	}
	conds := func(cs ...string) string { return `"conditions":[` + strings.Join(cs, ",") + `],` }
	runIdentityCases(t, newSARoleSeparation(), []identityCase{
		{name: "user with both roles",
			asset:    projectPolicy(bind(admin, []string{"user:alice@acme.example"}), bind(user, []string{"user:alice@acme.example"})),
			evidence: []string{ev(projectName, "user:alice@acme.example", "")}},
		{name: "user with both roles in the order user, admin",
			asset:    projectPolicy(bind(user, []string{"user:alice@acme.example"}), bind(admin, []string{"user:alice@acme.example"})),
			evidence: []string{ev(projectName, "user:alice@acme.example", "")}},
		{name: "user with only Service Account User",
			asset: projectPolicy(bind(user, []string{"user:alice@acme.example"}))},
		{name: "user with only Service Account Admin",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}))},
		{name: "two users, one role each",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}), bind(user, []string{"user:bob@acme.example"}))},
		{name: "Service Account User under a condition",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}),
				bind(user, []string{"user:alice@acme.example"}, "ci only", cond2)),
			evidence: []string{ev(projectName, "user:alice@acme.example", conds(cond(user, "ci only", cond2)))}},
		{name: "both roles under conditions, admin under two",
			asset: projectPolicy(
				bind(admin, []string{"user:alice@acme.example"}, "until 2027", cond1),
				bind(admin, []string{"user:alice@acme.example"}, "ci only", cond2),
				bind(user, []string{"user:alice@acme.example"}, "until 2027", cond1)),
			evidence: []string{ev(projectName, "user:alice@acme.example",
				conds(cond(admin, "until 2027", cond1), cond(admin, "ci only", cond2), cond(user, "until 2027", cond1)))}},
		{name: "a role held also unconditionally needs no condition",
			asset: projectPolicy(
				bind(admin, []string{"user:alice@acme.example"}),
				bind(admin, []string{"user:alice@acme.example"}, "until 2027", cond1),
				bind(user, []string{"user:alice@acme.example"})),
			evidence: []string{ev(projectName, "user:alice@acme.example", "")}},
		{name: "group with both roles",
			asset:    projectPolicy(bind(admin, []string{"group:sre@acme.example"}), bind(user, []string{"group:sre@acme.example"})),
			evidence: []string{ev(projectName, "group:sre@acme.example", "")}},
		{name: "domain with both roles",
			asset:    projectPolicy(bind(admin, []string{"domain:acme.example"}), bind(user, []string{"domain:acme.example"})),
			evidence: []string{ev(projectName, "domain:acme.example", "")}},
		{name: "service account with both roles is not this rule",
			asset: projectPolicy(bind(admin, []string{"serviceAccount:tf@p1.iam.gserviceaccount.com"}),
				bind(user, []string{"serviceAccount:tf@p1.iam.gserviceaccount.com"}))},
		{name: "federated identity with both roles is not this rule",
			asset: projectPolicy(bind(admin, []string{"principalSet://iam.googleapis.com/locations/global/workforcePools/p/*"}),
				bind(user, []string{"principalSet://iam.googleapis.com/locations/global/workforcePools/p/*"}))},
		{name: "deleted user with both roles",
			asset: projectPolicy(bind(admin, []string{"deleted:user:old@acme.example?uid=1"}),
				bind(user, []string{"deleted:user:old@acme.example?uid=1"}))},
		{name: "one role directly, the other through a group",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}), bind(user, []string{"group:devs@acme.example"}))},
		{name: "one role to the user, the other to the user's domain",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}), bind(user, []string{"domain:acme.example"}))},
		{name: "Token Creator is not Service Account User",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}),
				bind("roles/iam.serviceAccountTokenCreator", []string{"user:alice@acme.example"}))},
		{name: "custom role named like the predefined one",
			asset: projectPolicy(bind(admin, []string{"user:alice@acme.example"}),
				bind("projects/p1/roles/iam.serviceAccountUser", []string{"user:alice@acme.example"}))},
		{name: "members compared case-insensitively, reported as first spelled",
			asset:    projectPolicy(bind(admin, []string{"user:Alice@Acme.example"}), bind(user, []string{"user:alice@acme.example"})),
			evidence: []string{ev(projectName, "user:Alice@Acme.example", "")}},
		{name: "one finding per member, in policy order",
			asset: folderPolicy(
				bind(admin, []string{"user:carol@acme.example", "user:bob@acme.example", "user:alice@acme.example", "user:alice@acme.example"}),
				bind(admin, []string{"user:alice@acme.example"}),
				bind(user, []string{"user:alice@acme.example", "user:carol@acme.example", "user:dave@acme.example"})),
			evidence: []string{ev(folderName, "user:carol@acme.example", ""), ev(folderName, "user:alice@acme.example", "")}},
		{name: "organization policy",
			asset:    orgPolicy(bind(user, []string{"group:platform@acme.example"}), bind(admin, []string{"group:platform@acme.example"})),
			evidence: []string{ev(orgName, "group:platform@acme.example", "")}},
		{name: "empty policy", asset: projectPolicy()},
	})
}

// TestSARoleSeparationLargePolicy runs the rule on policies too large for the pairwise
// pre-check, which then groups members.
func TestSARoleSeparationLargePolicy(t *testing.T) {
	var admins, users []string
	for i := range 50 {
		admins = append(admins, fmt.Sprintf("user:a%d@acme.example", i))
		users = append(users, fmt.Sprintf("user:u%d@acme.example", i))
	}
	r := newSARoleSeparation()
	a := projectPolicy(bind("roles/iam.serviceAccountAdmin", admins), bind("roles/iam.serviceAccountUser", users))
	noResults(t, evaluate(t, r, testEnv(), a))
	if !saRoleSeparationBroken(a.IAMPolicy) {
		t.Error("the pre-check compared 2,500 pairs one by one instead of leaving them to the grouping")
	}
	a.IAMPolicy.Bindings[1].Members = append(slices.Clone(users), "user:A7@acme.example")
	if f := onlyFinding(t, evaluate(t, r, testEnv(), a)); f.Evidence["member"] != "user:a7@acme.example" {
		t.Errorf("finding for %v, want user:a7@acme.example", f.Evidence["member"])
	}
}

func TestIAMNonOrgMember(t *testing.T) {
	ev := func(name, member, domain, allowed, roles string) string {
		return `{"allowedDomains":[` + allowed + `],"conditional":false,"domain":"` + domain + `","member":"` + member +
			`","policyOf":"` + name + `","roles":[` + roles + `]}`
	}
	example := envAllowing("example.com")
	runIdentityCases(t, newIAMNonOrgMember(), []identityCase{
		// No allowed domains: only personal Google accounts.
		{name: "gmail user, roles sorted",
			asset: projectPolicy(bind("roles/viewer", []string{"user:bob@gmail.com", "user:alice@corp.example"}),
				bind("roles/editor", []string{"user:bob@gmail.com"})),
			evidence: []string{ev(projectName, "user:bob@gmail.com", "gmail.com", "", `"roles/editor","roles/viewer"`)}},
		{name: "googlemail group, any case",
			asset:    folderPolicy(bind("roles/viewer", []string{"group:Friends@GoogleMail.COM"})),
			evidence: []string{ev(folderName, "group:Friends@GoogleMail.COM", "GoogleMail.COM", "", `"roles/viewer"`)}},
		{name: "corporate user without allowed domains",
			asset: projectPolicy(bind("roles/owner", []string{"user:alice@corp.example", "group:gmail.com@corp.example"}))},
		{name: "gmail look-alikes",
			asset: projectPolicy(bind("roles/owner", []string{"user:alice@gmail.com.corp.example", "user:alice@notgmail.com",
				"serviceAccount:x@gmail.com", "domain:gmail.com", "deleted:user:x@gmail.com?uid=1"}))},
		// Allowed domains configured.
		{name: "allowed domain, any case", env: example,
			asset: projectPolicy(bind("roles/owner", []string{"user:user@example.com", "user:user@EXAMPLE.com", "group:g@Example.Com"}))},
		{name: "subdomain of an allowed domain", env: example,
			asset:    projectPolicy(bind("roles/viewer", []string{"user:user@sub.example.com"})),
			evidence: []string{ev(projectName, "user:user@sub.example.com", "sub.example.com", `"example.com"`, `"roles/viewer"`)}},
		{name: "other domains and look-alikes", env: example,
			asset: projectPolicy(bind("roles/viewer", []string{"user:user@other.com", "group:team@other.com",
				"user:alice@notexample.com", "user:example.com@evil.example", "user:alice@example.com.evil.example"})),
			evidence: []string{
				ev(projectName, "user:user@other.com", "other.com", `"example.com"`, `"roles/viewer"`),
				ev(projectName, "group:team@other.com", "other.com", `"example.com"`, `"roles/viewer"`),
				ev(projectName, "user:alice@notexample.com", "notexample.com", `"example.com"`, `"roles/viewer"`),
				ev(projectName, "user:example.com@evil.example", "evil.example", `"example.com"`, `"roles/viewer"`),
				ev(projectName, "user:alice@example.com.evil.example", "example.com.evil.example", `"example.com"`, `"roles/viewer"`),
			}},
		{name: "gmail with allowed domains", env: example,
			asset:    projectPolicy(bind("roles/viewer", []string{"user:bob@gmail.com"})),
			evidence: []string{ev(projectName, "user:bob@gmail.com", "gmail.com", `"example.com"`, `"roles/viewer"`)}},
		{name: "email without a domain", env: example,
			asset:    projectPolicy(bind("roles/viewer", []string{"user:nobody"})),
			evidence: []string{ev(projectName, "user:nobody", "", `"example.com"`, `"roles/viewer"`)}},
		{name: "not people of a domain", env: example,
			asset: orgPolicy(bind("roles/owner", []string{"serviceAccount:ci@p1.iam.gserviceaccount.com",
				"serviceAccount:x@other.com", "domain:other.com", "deleted:user:x@gmail.com?uid=1", "allUsers",
				"allAuthenticatedUsers", "principal://iam.googleapis.com/locations/global/workforcePools/p/subject/x@other.com",
				"principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*"}))},
		{name: "several allowed domains", env: envAllowing("corp.example", "Example.com"),
			asset:    orgPolicy(bind("roles/viewer", []string{"user:a@corp.example", "user:b@example.com", "user:c@other.com"})),
			evidence: []string{ev(orgName, "user:c@other.com", "other.com", `"corp.example","Example.com"`, `"roles/viewer"`)}},
		{name: "one finding per member, spelled as first granted", env: example,
			asset: projectPolicy(bind("roles/viewer", []string{"user:Bob@Other.com"}), bind("roles/editor", []string{"user:bob@other.com"}),
				bind("roles/viewer", []string{"user:bob@other.com"})),
			evidence: []string{ev(projectName, "user:Bob@Other.com", "Other.com", `"example.com"`, `"roles/editor","roles/viewer"`)}},
		{name: "roles held only under conditions", env: example,
			asset: projectPolicy(bind("roles/viewer", []string{"user:bob@other.com"}, "until 2027", "request.time < timestamp(\"2027-01-01T00:00:00Z\")"),
				bind("roles/viewer", []string{"user:carol@other.com"}, "t", "true"),
				bind("roles/editor", []string{"user:carol@other.com"})),
			evidence: []string{
				`{"allowedDomains":["example.com"],"conditional":true,"conditions":[{"expression":"request.time \u003c timestamp(\"2027-01-01T00:00:00Z\")","role":"roles/viewer","title":"until 2027"}],"domain":"other.com","member":"user:bob@other.com","policyOf":"` + projectName + `","roles":["roles/viewer"]}`,
				`{"allowedDomains":["example.com"],"conditional":false,"conditions":[{"expression":"true","role":"roles/viewer","title":"t"}],"domain":"other.com","member":"user:carol@other.com","policyOf":"` + projectName + `","roles":["roles/editor","roles/viewer"]}`,
			}},
		{name: "empty policy", env: example, asset: projectPolicy()},
	})
}

// TestIAMNonOrgMemberEvidenceIsACopy checks that a finding's evidence does not share the
// baseline's slice.
func TestIAMNonOrgMemberEvidenceIsACopy(t *testing.T) {
	env := envAllowing("example.com")
	f := onlyFinding(t, evaluate(t, newIAMNonOrgMember(), env, projectPolicy(bind("roles/viewer", []string{"user:x@other.com"}))))
	env.AllowedDomains[0] = "changed"
	if got := f.Evidence["allowedDomains"].([]string); !slices.Equal(got, []string{"example.com"}) {
		t.Errorf("allowedDomains evidence %q changed with the Env", got)
	}
}

func TestIAMPrimitiveRoleUser(t *testing.T) {
	ev := func(name, member, role string) string {
		return `{"conditional":false,"member":"` + member + `","policyOf":"` + name + `","role":"` + role + `"}`
	}
	runIdentityCases(t, newIAMPrimitiveRoleUser(), []identityCase{
		{name: "owner, editor and viewer to user, group and domain",
			asset: projectPolicy(
				bind("roles/owner", []string{"user:alice@acme.example"}),
				bind("roles/editor", []string{"group:devs@acme.example"}),
				bind("roles/viewer", []string{"domain:acme.example"})),
			evidence: []string{
				ev(projectName, "user:alice@acme.example", "roles/owner"),
				ev(projectName, "group:devs@acme.example", "roles/editor"),
				ev(projectName, "domain:acme.example", "roles/viewer"),
			},
			severity: []Severity{SeverityHigh, SeverityMedium, SeverityLow}},
		{name: "owner to group and domain on a folder",
			asset: folderPolicy(bind("roles/owner", []string{"group:admins@acme.example", "domain:acme.example"})),
			evidence: []string{
				ev(folderName, "group:admins@acme.example", "roles/owner"),
				ev(folderName, "domain:acme.example", "roles/owner"),
			},
			severity: []Severity{SeverityHigh, SeverityHigh}},
		{name: "editor and viewer to a user on the organization",
			asset: orgPolicy(bind("roles/viewer", []string{"user:alice@acme.example"}), bind("roles/editor", []string{"user:alice@acme.example"})),
			evidence: []string{
				ev(orgName, "user:alice@acme.example", "roles/viewer"),
				ev(orgName, "user:alice@acme.example", "roles/editor"),
			},
			severity: []Severity{SeverityLow, SeverityMedium}},
		{name: "conditional owner",
			asset: projectPolicy(bind("roles/owner", []string{"user:alice@acme.example"}, "break glass", "request.time < timestamp(\"2027-01-01T00:00:00Z\")")),
			evidence: []string{`{"condition":{"expression":"request.time \u003c timestamp(\"2027-01-01T00:00:00Z\")","title":"break glass"},"conditional":true,"member":"user:alice@acme.example","policyOf":"` +
				projectName + `","role":"roles/owner"}`},
			severity: []Severity{SeverityHigh}},
		{name: "the same grant twice is one finding",
			asset: projectPolicy(bind("roles/editor", []string{"user:alice@acme.example", "user:alice@acme.example"}),
				bind("roles/editor", []string{"user:alice@acme.example"})),
			evidence: []string{ev(projectName, "user:alice@acme.example", "roles/editor")},
			severity: []Severity{SeverityMedium}},
		{name: "service accounts with basic roles are not this rule",
			asset: projectPolicy(
				bind("roles/owner", []string{"serviceAccount:tf@p1.iam.gserviceaccount.com"}),
				bind("roles/editor", []string{"serviceAccount:123-compute@developer.gserviceaccount.com"}),
				bind("roles/viewer", []string{"serviceAccount:mon@p1.iam.gserviceaccount.com"}))},
		{name: "other members with basic roles",
			asset: projectPolicy(bind("roles/viewer", []string{"allUsers", "allAuthenticatedUsers", "deleted:user:old@acme.example?uid=1",
				"principalSet://iam.googleapis.com/locations/global/workforcePools/p/*"}))},
		{name: "look-alike roles",
			asset: projectPolicy(
				bind("roles/compute.viewer", []string{"user:alice@acme.example"}),
				bind("roles/bigquery.dataEditor", []string{"group:devs@acme.example"}),
				bind("projects/p1/roles/owner", []string{"user:alice@acme.example"}),
				bind("roles/Owner", []string{"user:alice@acme.example"}),
				bind("roles/browser", []string{"domain:acme.example"}))},
		{name: "empty policy", asset: projectPolicy()},
	})
}

func TestIdentityRulesMeta(t *testing.T) {
	want := []struct {
		id, category string
		severity     Severity
		note         string
		cis          map[string][]string // version -> controls
	}{
		{"sa-role-separation", "SERVICE_ACCOUNT_ROLE_SEPARATION", SeverityMedium, "",
			map[string][]string{"1.0": nil, "1.1": {"1.8"}, "4.0": {"1.8"}, "5.0": {"1.9"}}},
		{"iam-non-org-member", "NON_ORG_IAM_MEMBER", SeverityHigh, "",
			map[string][]string{"1.0": nil, "1.1": {"1.1"}, "3.0": {"1.1"}, "5.0": {"1.1"}}},
		{"iam-primitive-role-user", "PRIMITIVE_ROLES_USED", SeverityMedium,
			"high (roles/owner), medium (roles/editor), low (roles/viewer)",
			map[string][]string{"1.1": nil, "5.0": nil}},
	}
	rs := identityRules()
	if len(rs) != len(want) {
		t.Fatalf("identityRules() has %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity || m.SeverityNote != w.note {
			t.Errorf("rule %d = %s %s %s %q, want %s %s %s %q", i, m.ID, m.Category, m.Severity, m.SeverityNote,
				w.id, w.category, w.severity, w.note)
		}
		for v, controls := range w.cis {
			if got := m.CIS.Controls(v); !slices.Equal(got, controls) {
				t.Errorf("%s in CIS %s: %v, want %v", m.ID, v, got, controls)
			}
		}
		if w.id == "iam-primitive-role-user" && m.CIS != nil {
			t.Errorf("%s has CIS %v, want nil", m.ID, m.CIS)
		}
		if !slices.Equal(m.AssetTypes, hierarchyTypes()) {
			t.Errorf("%s: asset types %v", m.ID, m.AssetTypes)
		}
		if m.Title == "" || m.Description == "" || m.Remediation == "" || m.Flags == "" {
			t.Errorf("%s: title, description, remediation and flags are required", m.ID)
		}
		for _, s := range []string{m.Title, m.Description, m.Remediation, m.Flags} {
			if strings.Contains(s, "\n") {
				t.Errorf("%s: %q is not one paragraph", m.ID, s)
			}
		}
		if strings.Contains(m.Description, "`") || strings.Contains(m.Remediation, "`") {
			t.Errorf("%s: description and remediation are plain text", m.ID)
		}
		if !strings.Contains(m.Flags, "`deleted:`") || strings.Count(m.Flags, "`")%2 != 0 {
			t.Errorf("%s: flags %q do not put literal values in code spans", m.ID, m.Flags)
		}
		if m.Playbook != "" || m.Categories != nil {
			t.Errorf("%s: playbook %q, categories %v", m.ID, m.Playbook, m.Categories)
		}
	}
	if got := ByID(rs); len(got) != len(rs) {
		t.Error("identityRules has duplicate IDs")
	}
	for _, r := range rs {
		for _, d := range Default() {
			if d.Meta().ID == r.Meta().ID && reflect.TypeOf(d) != reflect.TypeOf(r) {
				t.Errorf("%s: default rule %T has this ID too", r.Meta().ID, d)
			}
		}
	}
	a, b := identityRules(), identityRules()
	a[0].Meta().AssetTypes[0] = "changed"
	a[1].Meta().Title = "changed"
	if b[0].Meta().AssetTypes[0] == "changed" || b[1].Meta().Title == "changed" || a[2].Meta().AssetTypes[0] == "changed" {
		t.Error("identityRules shares Meta between calls or rules")
	}
}

func TestIdentityFindingIDs(t *testing.T) {
	env := envAllowing("acme.example")
	for _, tc := range []struct {
		rule Rule
		// drift and same are policies with the same one drift; other has one different drift.
		drift, same, other []inventory.Binding
	}{
		{newSARoleSeparation(),
			[]inventory.Binding{bind("roles/iam.serviceAccountAdmin", []string{"user:alice@acme.example"}),
				bind("roles/iam.serviceAccountUser", []string{"user:alice@acme.example"})},
			[]inventory.Binding{bind("roles/iam.serviceAccountUser", []string{"user:bob@acme.example", "user:alice@acme.example"}, "t", "true"),
				bind("roles/viewer", []string{"user:alice@acme.example"}),
				bind("roles/iam.serviceAccountAdmin", []string{"user:alice@acme.example"})},
			[]inventory.Binding{bind("roles/iam.serviceAccountAdmin", []string{"user:bob@acme.example"}),
				bind("roles/iam.serviceAccountUser", []string{"user:bob@acme.example"})}},
		{newIAMNonOrgMember(),
			[]inventory.Binding{bind("roles/viewer", []string{"user:eve@other.example"})},
			[]inventory.Binding{bind("roles/editor", []string{"user:alice@acme.example", "user:eve@other.example"}),
				bind("roles/viewer", []string{"user:eve@other.example"}, "t", "true")},
			[]inventory.Binding{bind("roles/viewer", []string{"user:mallory@other.example"})}},
		{newIAMPrimitiveRoleUser(),
			[]inventory.Binding{bind("roles/editor", []string{"user:alice@acme.example"})},
			[]inventory.Binding{bind("roles/compute.admin", []string{"user:bob@acme.example"}),
				bind("roles/editor", []string{"serviceAccount:ci@p1.iam.gserviceaccount.com", "user:alice@acme.example"})},
			[]inventory.Binding{bind("roles/editor", []string{"user:bob@acme.example"})}},
	} {
		t.Run(tc.rule.Meta().ID, func(t *testing.T) {
			id := func(bs []inventory.Binding) string {
				return onlyFinding(t, evaluate(t, tc.rule, env, projectPolicy(bs...))).ID
			}
			base := id(tc.drift)
			if again := id(tc.drift); again != base {
				t.Errorf("ID changed between runs: %s then %s", base, again)
			}
			if same := id(tc.same); same != base {
				t.Errorf("ID changed with the rest of the policy: %s then %s", base, same)
			}
			if other := id(tc.other); other == base {
				t.Errorf("another member's drift has the same ID %s", base)
			}
			both := evaluate(t, tc.rule, env, projectPolicy(append(slices.Clone(tc.drift), tc.other...)...))
			if len(both.Findings) != 2 || both.Findings[0].ID == both.Findings[1].ID {
				t.Errorf("two drifts on one policy: %s", jsonOf(t, both.Findings))
			}
			folder := onlyFinding(t, evaluate(t, tc.rule, env, folderPolicy(tc.drift...))).ID
			if folder == base {
				t.Errorf("the same drift on another resource has the same ID %s", base)
			}
		})
	}
	// Different conditions on the same basic role and member are different grants.
	r := newIAMPrimitiveRoleUser()
	out := evaluate(t, r, env, projectPolicy(bind("roles/owner", []string{"user:alice@acme.example"}, "a", "true"),
		bind("roles/owner", []string{"user:alice@acme.example"}, "b", "false")))
	if len(out.Findings) != 2 || out.Findings[0].ID == out.Findings[1].ID {
		t.Errorf("two conditions: %s", jsonOf(t, out.Findings))
	}
}

func TestIdentityRulesWithoutPolicy(t *testing.T) {
	for _, r := range identityRules() {
		t.Run(r.Meta().ID, func(t *testing.T) {
			for _, typ := range hierarchyTypes() {
				a := &inventory.Asset{Name: projectName, AssetType: typ,
					Resource: &inventory.Resource{Data: json.RawMessage(`{"projectId":"p1","projectNumber":"123"}`)}}
				noResults(t, evaluate(t, r, envAllowing("acme.example"), a))
				// Malformed resource data beside a policy: these rules read only the policy.
				a.Resource.Data = json.RawMessage(`{"projectId":`)
				a.IAMPolicy = &inventory.Policy{Bindings: []inventory.Binding{bind("roles/compute.viewer", []string{"user:alice@acme.example"})}}
				noResults(t, evaluate(t, r, envAllowing("acme.example"), a))
			}
			fw := firewallAsset("x", `{}`)
			errorNames(t, r.Evaluate(testEnv(), fw, &Results{}), fw)
			p := projectPolicy()
			errorNames(t, r.Evaluate(nil, p, &Results{}), p)
			errorNames(t, r.Evaluate(testEnv(), p, nil), p)
			if err := r.Evaluate(testEnv(), nil, &Results{}); err == nil {
				t.Error("no error for a nil asset")
			}
		})
	}
}

// identityCompliant is a large policy none of the identity rules flags under
// envAllowing("acme.example").
func identityCompliant() *inventory.Asset {
	return projectPolicy(
		bind("roles/iam.serviceAccountAdmin", []string{"group:sa-admins@acme.example", "serviceAccount:tf@p1.iam.gserviceaccount.com"}),
		bind("roles/iam.serviceAccountUser", []string{"group:deployers@acme.example", "serviceAccount:tf@p1.iam.gserviceaccount.com"}),
		bind("roles/owner", []string{"serviceAccount:tf@p1.iam.gserviceaccount.com"}),
		bind("roles/editor", []string{"serviceAccount:123-compute@developer.gserviceaccount.com", "serviceAccount:123@cloudservices.gserviceaccount.com"}),
		bind("roles/compute.viewer", []string{"user:alice@acme.example", "user:Bob@ACME.example", "domain:acme.example"}),
		bind("roles/storage.admin", []string{"group:data@acme.example"}, "t", `resource.name.startsWith("projects/_/buckets/x")`),
		bind("roles/viewer", []string{"deleted:user:old@gmail.com?uid=1", "principalSet://iam.googleapis.com/locations/global/workforcePools/p/*"}),
	)
}

func TestIdentityRulesDoNotAllocateOnCompliantPolicies(t *testing.T) {
	env := envAllowing("acme.example")
	a := identityCompliant()
	for _, r := range identityRules() {
		var out Results
		noResults(t, evaluate(t, r, env, a))
		if n := testing.AllocsPerRun(100, func() { _ = r.Evaluate(env, a, &out) }); n != 0 {
			t.Errorf("%s: %v allocations per compliant policy", r.Meta().ID, n)
		}
	}
	// Without allowed domains, the consumer-domain check must not allocate either.
	r, consumer := newIAMNonOrgMember(), testEnv()
	var out Results
	if n := testing.AllocsPerRun(100, func() { _ = r.Evaluate(consumer, a, &out) }); n != 0 {
		t.Errorf("iam-non-org-member without allowed domains: %v allocations", n)
	}
	if len(out.Findings) != 0 {
		t.Errorf("findings on a compliant policy: %s", jsonOf(t, out.Findings))
	}
}

func BenchmarkIdentityRulesCompliant(b *testing.B) {
	env := envAllowing("acme.example")
	a := identityCompliant()
	rs := identityRules()
	var out Results
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range rs {
			_ = r.Evaluate(env, a, &out)
		}
	}
}
