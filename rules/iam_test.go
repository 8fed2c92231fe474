package rules

import (
	"encoding/json"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

const (
	projectName = "//cloudresourcemanager.googleapis.com/projects/123"
	folderName  = "//cloudresourcemanager.googleapis.com/folders/456"
	orgName     = "//cloudresourcemanager.googleapis.com/organizations/9"
)

// bind builds a binding; cond, when given, is {title, expression}.
func bind(role string, members []string, cond ...string) inventory.Binding {
	b := inventory.Binding{Role: role, Members: members}
	if len(cond) == 2 {
		b.Condition = &inventory.Condition{Title: cond[0], Expression: cond[1]}
	}
	return b
}

func projectPolicy(bindings ...inventory.Binding) *inventory.Asset {
	return policyAsset(inventory.TypeProject, projectName, bindings...)
}

// iamCase is one policy and the evidence of the findings it must produce, in order.
type iamCase struct {
	name     string
	asset    *inventory.Asset
	evidence []string
	severity []Severity // per finding; checked when set
}

func runIAMCases(t *testing.T, r Rule, cases []iamCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			if len(out.Skipped) != 0 || len(out.Findings) != len(tc.evidence) {
				t.Fatalf("got %d findings %s and skips %+v, want %d findings",
					len(out.Findings), jsonOf(t, out.Findings), out.Skipped, len(tc.evidence))
			}
			for i, f := range out.Findings {
				if got := jsonOf(t, f.Evidence); got != tc.evidence[i] {
					t.Errorf("finding %d evidence\n got %s\nwant %s", i, got, tc.evidence[i])
				}
				if f.Category != r.Meta().Category || f.Resource != tc.asset.Name {
					t.Errorf("finding %d: category %s resource %s", i, f.Category, f.Resource)
				}
				want := r.Meta().Severity
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

func TestSAAdminRole(t *testing.T) {
	const cond = `request.time < timestamp("2027-01-01T00:00:00Z")`
	runIAMCases(t, ruleByID(t, "sa-admin-role"), []iamCase{
		{"user-managed account with editor",
			projectPolicy(bind("roles/editor", []string{"user:alice@acme.example", "serviceAccount:ci@p1.iam.gserviceaccount.com"})),
			[]string{`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:ci@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/editor"}`}, nil},
		{"owner, and admin roles by name",
			projectPolicy(
				bind("roles/owner", []string{"serviceAccount:a@p1.iam.gserviceaccount.com"}),
				bind("roles/iam.securityAdmin", []string{"serviceAccount:b@p1.iam.gserviceaccount.com"}),
				bind("roles/compute.admin", []string{"serviceAccount:c@p1.iam.gserviceaccount.com"}),
				bind("projects/p1/roles/netAdmin", []string{"serviceAccount:d@p1.iam.gserviceaccount.com"}),
				bind("roles/viewer", []string{"serviceAccount:e@p1.iam.gserviceaccount.com"}),
				bind("roles/iam.serviceAccountUser", []string{"serviceAccount:f@p1.iam.gserviceaccount.com"}),
			),
			[]string{
				`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:a@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/owner"}`,
				`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:b@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/iam.securityAdmin"}`,
				`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:c@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/compute.admin"}`,
				`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:d@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"projects/p1/roles/netAdmin"}`,
			}, nil},
		{"organization admin on the organization",
			policyAsset(inventory.TypeOrganization, orgName,
				bind("roles/resourcemanager.organizationAdmin", []string{"serviceAccount:tf@seed.iam.gserviceaccount.com"})),
			[]string{`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:tf@seed.iam.gserviceaccount.com","policyOf":"` + orgName + `","role":"roles/resourcemanager.organizationAdmin"}`}, nil},
		{"folder policy",
			policyAsset(inventory.TypeFolder, folderName, bind("roles/editor", []string{"serviceAccount:x@p2.iam.gserviceaccount.com"})),
			[]string{`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:x@p2.iam.gserviceaccount.com","policyOf":"` + folderName + `","role":"roles/editor"}`}, nil},
		{"default compute account with editor",
			projectPolicy(bind("roles/editor", []string{"serviceAccount:123-compute@developer.gserviceaccount.com"})),
			[]string{`{"accountKind":"default-compute","conditional":false,"member":"serviceAccount:123-compute@developer.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/editor"}`}, nil},
		{"App Engine default account with editor",
			projectPolicy(bind("roles/editor", []string{"serviceAccount:p1@appspot.gserviceaccount.com"})),
			[]string{`{"accountKind":"default-appengine","conditional":false,"member":"serviceAccount:p1@appspot.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/editor"}`}, nil},
		{"conditional binding is reported with its condition",
			projectPolicy(bind("roles/owner", []string{"serviceAccount:break-glass@p1.iam.gserviceaccount.com"}, "until 2027", cond)),
			[]string{`{"accountKind":"user-managed","condition":{"expression":"request.time \u003c timestamp(\"2027-01-01T00:00:00Z\")","title":"until 2027"},"conditional":true,"member":"serviceAccount:break-glass@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/owner"}`}, nil},
		{"an account named like a service agent but without its number",
			projectPolicy(bind("roles/owner", []string{"serviceAccount:service-admin@p1.iam.gserviceaccount.com"})),
			[]string{`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:service-admin@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/owner"}`}, nil},
		{"an address no service account has is reported, not trusted",
			projectPolicy(bind("roles/owner", []string{"serviceAccount:robot@acme.example"})),
			[]string{`{"accountKind":"unrecognized","conditional":false,"member":"serviceAccount:robot@acme.example","policyOf":"` + projectName + `","role":"roles/owner"}`}, nil},
		{"same grant listed twice is one finding",
			projectPolicy(
				bind("roles/editor", []string{"serviceAccount:ci@p1.iam.gserviceaccount.com", "serviceAccount:ci@p1.iam.gserviceaccount.com"}),
				bind("roles/editor", []string{"serviceAccount:ci@p1.iam.gserviceaccount.com"})),
			[]string{`{"accountKind":"user-managed","conditional":false,"member":"serviceAccount:ci@p1.iam.gserviceaccount.com","policyOf":"` + projectName + `","role":"roles/editor"}`}, nil},
		{"Google service agents with editor are not reported",
			projectPolicy(bind("roles/editor", []string{
				"serviceAccount:123@cloudservices.gserviceaccount.com",
				"serviceAccount:service-123@gcp-sa-artifactregistry.iam.gserviceaccount.com",
				"serviceAccount:service-123@compute-system.iam.gserviceaccount.com",
				"serviceAccount:service-123@container-engine-robot.iam.gserviceaccount.com",
				"serviceAccount:service-org-9@gcp-sa-ktd-hpsa.iam.gserviceaccount.com",
				"serviceAccount:p123-456@gcp-sa-logging.iam.gserviceaccount.com",
				"serviceAccount:123@cloudbuild.gserviceaccount.com",
			})), nil, nil},
		{"deleted members are ignored",
			projectPolicy(bind("roles/owner", []string{"deleted:serviceAccount:old@p1.iam.gserviceaccount.com?uid=1234567890"})), nil, nil},
		{"people with owner are not this rule",
			projectPolicy(bind("roles/owner", []string{"user:alice@acme.example", "group:admins@acme.example"})), nil, nil},
		{"no policy", &inventory.Asset{Name: projectName, AssetType: inventory.TypeProject,
			Resource: &inventory.Resource{Data: json.RawMessage(`{"projectId":"p1","projectNumber":"123"}`)}}, nil, nil},
		{"empty policy", projectPolicy(), nil, nil},
	})
}

func TestClassifyServiceAccount(t *testing.T) {
	for email, want := range map[string]AccountKind{
		"ci@p1.iam.gserviceaccount.com":                              AccountUserManaged,
		"CI@P1.IAM.GSERVICEACCOUNT.COM":                              AccountUserManaged,
		"sa@proj.example.com.iam.gserviceaccount.com":                AccountUserManaged,
		"123-abc@developer.gserviceaccount.com":                      AccountUserManaged,
		"service-admin@p1.iam.gserviceaccount.com":                   AccountUserManaged,
		"123-compute@developer.gserviceaccount.com":                  AccountDefaultCompute,
		"p1@appspot.gserviceaccount.com":                             AccountDefaultAppEngine,
		"123@cloudservices.gserviceaccount.com":                      AccountGoogleManaged,
		"service-123@gcp-sa-pubsub.iam.gserviceaccount.com":          AccountGoogleManaged,
		"service-123@gs-project-accounts.iam.gserviceaccount.com":    AccountGoogleManaged,
		"service-folder-456@gcp-sa-ktd-hpsa.iam.gserviceaccount.com": AccountGoogleManaged,
		"any@gcp-sa-aiplatform.iam.gserviceaccount.com":              AccountGoogleManaged,
		"any@compute-system.iam.gserviceaccount.com":                 AccountGoogleManaged,
		"123@cloudbuild.gserviceaccount.com":                         AccountGoogleManaged,
		"cloud-logs@system.gserviceaccount.com":                      AccountGoogleManaged,
		"robot@acme.example":                                         AccountUnrecognized,
		"no-at-sign":                                                 AccountUnrecognized,
		"@p1.iam.gserviceaccount.com":                                AccountUnrecognized,
		"x@":                                                         AccountUnrecognized,
		"":                                                           AccountUnrecognized,
	} {
		if got := ClassifyServiceAccount(email); got != want {
			t.Errorf("ClassifyServiceAccount(%q) = %s, want %s", email, got, want)
		}
	}
}

func TestIsPrivilegedRole(t *testing.T) {
	for role, want := range map[string]bool{
		"roles/owner": true, "roles/editor": true, "roles/viewer": false,
		"roles/iam.securityAdmin": true, "roles/compute.admin": true, "roles/resourcemanager.organizationAdmin": true,
		"organizations/9/roles/networkAdmin": true, "roles/iam.serviceAccountUser": false, "roles/admin": true,
		"roles/iam.securityReviewer": false, "roles/Owner": false, "": false,
	} {
		if got := IsPrivilegedRole(role); got != want {
			t.Errorf("IsPrivilegedRole(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestSAUserProjectLevel(t *testing.T) {
	const cond = `resource.name.startsWith("projects/-/serviceAccounts/ci@")`
	ev := func(member, role string) string {
		return `{"conditional":false,"member":"` + member + `","policyOf":"` + projectName + `","role":"` + role + `"}`
	}
	runIAMCases(t, ruleByID(t, "sa-user-project-level"), []iamCase{
		{"user, group and domain",
			projectPolicy(
				bind("roles/iam.serviceAccountUser", []string{"user:alice@acme.example", "group:devs@acme.example"}),
				bind("roles/iam.serviceAccountTokenCreator", []string{"domain:acme.example"}),
			),
			[]string{
				ev("user:alice@acme.example", "roles/iam.serviceAccountUser"),
				ev("group:devs@acme.example", "roles/iam.serviceAccountUser"),
				ev("domain:acme.example", "roles/iam.serviceAccountTokenCreator"),
			}, nil},
		{"conditional grant",
			projectPolicy(bind("roles/iam.serviceAccountUser", []string{"user:alice@acme.example"}, "ci only", cond)),
			[]string{`{"condition":{"expression":"resource.name.startsWith(\"projects/-/serviceAccounts/ci@\")","title":"ci only"},"conditional":true,"member":"user:alice@acme.example","policyOf":"` + projectName + `","role":"roles/iam.serviceAccountUser"}`}, nil},
		{"service accounts holding it are not this rule",
			projectPolicy(bind("roles/iam.serviceAccountUser", []string{"serviceAccount:deployer@p1.iam.gserviceaccount.com"})), nil, nil},
		{"deleted users are ignored",
			projectPolicy(bind("roles/iam.serviceAccountTokenCreator", []string{"deleted:user:bob@acme.example?uid=123"})), nil, nil},
		{"other roles",
			projectPolicy(bind("roles/iam.serviceAccountAdmin", []string{"user:alice@acme.example"}),
				bind("roles/iam.workloadIdentityUser", []string{"user:alice@acme.example"})), nil, nil},
	})
	r := ruleByID(t, "sa-user-project-level")
	folder := policyAsset(inventory.TypeFolder, folderName, bind("roles/iam.serviceAccountUser", []string{"user:alice@acme.example"}))
	errorNames(t, r.Evaluate(testEnv(), folder, &Results{}), folder)
}

func TestIAMPublicMember(t *testing.T) {
	ev := func(name, member, role string) string {
		return `{"conditional":false,"member":"` + member + `","policyOf":"` + name + `","role":"` + role + `"}`
	}
	runIAMCases(t, ruleByID(t, "iam-public-member"), []iamCase{
		{"viewer for everyone is high",
			projectPolicy(bind("roles/viewer", []string{"allUsers", "user:alice@acme.example"})),
			[]string{ev(projectName, "allUsers", "roles/viewer")}, []Severity{SeverityHigh}},
		{"editor or admin for any Google account is critical",
			policyAsset(inventory.TypeOrganization, orgName,
				bind("roles/editor", []string{"allAuthenticatedUsers"}),
				bind("roles/storage.admin", []string{"allUsers"})),
			[]string{ev(orgName, "allAuthenticatedUsers", "roles/editor"), ev(orgName, "allUsers", "roles/storage.admin")},
			[]Severity{SeverityCritical, SeverityCritical}},
		{"conditional grant",
			policyAsset(inventory.TypeFolder, folderName, bind("roles/browser", []string{"allAuthenticatedUsers"}, "t", "true")),
			[]string{`{"condition":{"expression":"true","title":"t"},"conditional":true,"member":"allAuthenticatedUsers","policyOf":"` + folderName + `","role":"roles/browser"}`},
			[]Severity{SeverityHigh}},
		{"no public member", projectPolicy(bind("roles/owner", []string{"user:alice@acme.example"})), nil, nil},
	})
	if ruleByID(t, "iam-public-member").Meta().CIS != nil {
		t.Error("iam-public-member has CIS controls; none exist for it")
	}
}

func TestIAMFindingIDs(t *testing.T) {
	r := ruleByID(t, "sa-admin-role")
	const member = "serviceAccount:ci@p1.iam.gserviceaccount.com"
	id := func(b inventory.Binding) string {
		return onlyFinding(t, evaluate(t, r, testEnv(), projectPolicy(b))).ID
	}
	base := id(bind("roles/editor", []string{member}))
	if again := id(bind("roles/editor", []string{"user:alice@acme.example", member})); again != base {
		t.Errorf("ID changed with the other members of the binding: %s then %s", base, again)
	}
	ids := map[string]string{"base": base}
	for name, b := range map[string]inventory.Binding{
		"another role":        bind("roles/owner", []string{member}),
		"another member":      bind("roles/editor", []string{"serviceAccount:cd@p1.iam.gserviceaccount.com"}),
		"a condition":         bind("roles/editor", []string{member}, "t", "request.time < timestamp(\"2027-01-01T00:00:00Z\")"),
		"another condition":   bind("roles/editor", []string{member}, "t", "request.time < timestamp(\"2028-01-01T00:00:00Z\")"),
		"an empty expression": bind("roles/editor", []string{member}, "t", ""),
	} {
		got := id(b)
		for other, otherID := range ids {
			if got == otherID {
				t.Errorf("%s has the same ID as %s", name, other)
			}
		}
		ids[name] = got
	}
}

func TestIAMRulesOnOtherAssets(t *testing.T) {
	for _, id := range []string{"sa-admin-role", "sa-user-project-level", "iam-public-member"} {
		r := ruleByID(t, id)
		t.Run(id, func(t *testing.T) {
			// A project line carrying the resource but a malformed data blob: the IAM rules
			// read only the policy, so this is no error.
			a := projectPolicy(bind("roles/viewer", []string{"user:alice@acme.example"}))
			a.Resource = &inventory.Resource{Data: json.RawMessage(`{"projectId":`)}
			noResults(t, evaluate(t, r, testEnv(), a))

			fw := firewallAsset("x", `{}`)
			errorNames(t, r.Evaluate(testEnv(), fw, &Results{}), fw)
		})
	}
}
