package engine_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

func openPRs(f *fixture) map[string]sandbox.GitHubPullRequest {
	out := map[string]sandbox.GitHubPullRequest{}
	for _, p := range f.srv.PullRequests() {
		if p.State == "open" {
			out[p.Head] = p
		}
	}
	return out
}

// Findings on resources the Terraform declares become pull requests, kept current across
// runs: a second run writes nothing, a moved base rebuilds, fixed drift closes its PR, and
// a PR closed unmerged is a human "no" that is not reopened.
func TestPullRequestsForDeclaredResources(t *testing.T) {
	f := newFixtureWith(t, nil, "maxChanges: 50\n", true)
	// A secondary rate limit on the first write is waited out.
	if err := f.srv.InjectGitHubFault(sandbox.GitHubFault{Route: "write", Status: 403, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	res := f.run(true, -1)
	prs := openPRs(f)
	if len(prs) != 7 || res.Summary.ByAction[engine.ActionPR] != 7 {
		t.Fatalf("%d open PRs, %d pr decisions; want 7 (allow-ssh-world's sources and its logging, allow-rdp-split, deployer editor, "+
			"bob SA user, sre group viewer, jane's outside account on acme-analytics)",
			len(prs), res.Summary.ByAction[engine.ActionPR])
	}
	// The expected plan effect names what terraform plan shows: deleting an iam_member
	// block destroys that resource; taking a member out of a binding's list updates in place.
	planEffect := func(p sandbox.GitHubPullRequest) string {
		_, rest, _ := strings.Cut(p.Body, "Expected plan effect")
		rest, _, _ = strings.Cut(rest, "####")
		return strings.ReplaceAll(rest, `\`, "")
	}
	for prefix, want := range map[string]string{
		"zerodrift/sa-user-project-level/":   "a destroy of google_project_iam_member.bob_sa_user: Remove",
		"zerodrift/iam-non-org-member/":      "a destroy of google_project_iam_member.jane_exports_viewer: Remove",
		"zerodrift/iam-primitive-role-user/": `a change of the module input module.project_iam.bindings["roles/viewer"], which terraform plan shows`,
	} {
		n := 0
		for branch, p := range prs {
			if strings.HasPrefix(branch, prefix) {
				n++
				if got := planEffect(p); !strings.Contains(got, want) || strings.Contains(got, "in-place") {
					t.Errorf("%s: expected plan effect %q, want %q", branch, got, want)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d PRs on %s*, want 1", n, prefix)
		}
	}
	// A group's basic role declared in a module's bindings: the PR takes the group out of
	// that role's members, nothing else.
	var viewer []sandbox.GitHubPullRequest
	for branch, p := range prs {
		if strings.HasPrefix(branch, "zerodrift/iam-primitive-role-user/") {
			viewer = append(viewer, p)
		}
	}
	if len(viewer) != 1 || len(viewer[0].Files) != 1 || viewer[0].Files[0].Path != "envs/prod/iam.tf" ||
		!strings.Contains(viewer[0].Files[0].Patch, `-      "group:sre@acme.example",`) {
		t.Errorf("sre's viewer role: PRs %+v", viewer)
	}
	// An account from outside the organization whose every grant on the policy is declared
	// (jane's one role on acme-analytics, a google_project_iam_member of the prod root): the
	// PR deletes that resource, nothing else, and the policy is not changed live.
	outside := decisionFor(t, res, analyticsIAM, "iam-non-org-member")
	if outside.Action != engine.ActionPR || outside.PR == nil || outside.PR.Address != "google_project_iam_member.jane_exports_viewer" {
		t.Fatalf("jane's outside account: decision %+v, want a pull request on google_project_iam_member.jane_exports_viewer", outside)
	}
	if op, ok := prs[outside.PR.Branch]; !ok || !strings.HasPrefix(outside.PR.Branch, "zerodrift/iam-non-org-member/") ||
		len(op.Files) != 1 || op.Files[0].Path != "envs/prod/iam.tf" ||
		!strings.Contains(op.Files[0].Patch, `-resource "google_project_iam_member" "jane_exports_viewer" {`) ||
		!strings.Contains(op.Files[0].Patch, `-  member  = "user:jane.freelance@gmail.com"`) ||
		op.Files[0].Additions != 0 || removesOtherAccounts(op.Files[0].Patch, "user:jane.freelance@gmail.com") {
		t.Errorf("jane's outside account: PR %+v", op)
	}
	if !slices.Equal(liveMembers(t, f, "acme-analytics", "roles/bigquery.dataViewer"), []string{"group:analysts@acme.example", "user:jane.freelance@gmail.com"}) {
		t.Errorf("a Terraform-managed grant was changed live: roles/bigquery.dataViewer on acme-analytics has %v",
			liveMembers(t, f, "acme-analytics", "roles/bigquery.dataViewer"))
	}
	// Two findings on one declared firewall are two pull requests, each its own edit.
	logging := decisionFor(t, res, sshWorld, "firewall-logging-disabled")
	if logging.PR == nil {
		t.Fatalf("allow-ssh-world's logging: decision %+v, want a pull request", logging)
	}
	if lp, ok := prs[logging.PR.Branch]; logging.Action != engine.ActionPR || !ok || len(lp.Files) != 1 ||
		!strings.Contains(lp.Files[0].Patch, "log_config") || strings.Contains(lp.Files[0].Patch, "35.235.240.0/20") {
		t.Errorf("allow-ssh-world's logging: decision %+v, PR %+v", logging, lp)
	}
	ssh := decisionFor(t, res, sshWorld, "firewall-open-ingress")
	pr, ok := prs[ssh.PR.Branch]
	if ssh.Action != engine.ActionPR || !ok || len(pr.Files) != 1 || pr.Files[0].Path != "envs/prod/firewall.tf" ||
		!strings.Contains(pr.Files[0].Patch, "35.235.240.0/20") || !strings.Contains(pr.Body, "zerodrift:") {
		t.Fatalf("allow-ssh-world: decision %+v, PR %+v", ssh, pr)
	}
	if !strings.HasPrefix(ssh.PR.Branch, "zerodrift/firewall-open-ingress/") || len(pr.Labels) == 0 {
		t.Errorf("branch %q, labels %v", ssh.PR.Branch, pr.Labels)
	}
	// A resource the Terraform declares is fixed in code, not live.
	if _, fw := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world"); !equalJSON(fw["sourceRanges"], []string{"0.0.0.0/0"}) {
		t.Errorf("a Terraform-managed firewall was changed live: %v", fw["sourceRanges"])
	}
	// A resource it does not declare is still fixed live.
	if d := decisionFor(t, res, "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-legacy-range", "firewall-open-ingress"); d.Action != engine.ActionFix {
		t.Errorf("an undeclared firewall decided %+v, want a live fix", d)
	}

	// Second run: nothing new, nothing edited.
	writes := f.srv.GitHubWrites()
	res = f.run(true, -1)
	if got := f.srv.GitHubWrites(); got != writes || len(openPRs(f)) != 7 {
		t.Errorf("a second run made %d GitHub writes and left %d PRs open", got-writes, len(openPRs(f)))
	}
	if d := decisionFor(t, res, sshWorld, "firewall-open-ingress"); d.PR == nil || d.PR.Outcome != "unchanged" {
		t.Errorf("second run decided %+v", d)
	}

	// The base branch moves: the PRs are rebuilt on it.
	base, err := f.srv.CommitAsHuman("main", map[string][]byte{"README.md": []byte("# infra\n")}, "docs: add a README")
	if err != nil {
		t.Fatal(err)
	}
	res = f.run(true, -1)
	if d := decisionFor(t, res, sshWorld, "firewall-open-ingress"); d.PR == nil || d.PR.Outcome != "updated" {
		t.Errorf("after the base moved: %+v", d)
	}
	if head, err := f.srv.GitHubCommitOf(ssh.PR.Branch); err != nil || len(head.Parents) != 1 || head.Parents[0] != base {
		t.Errorf("branch %s not rebuilt on the new base %s: %+v %v", ssh.PR.Branch, base, head, err)
	}

	// The drift is fixed by other means: its PR is closed and its branch deleted.
	req, _ := http.NewRequest(http.MethodPatch, f.url+"/compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world",
		strings.NewReader(`{"sourceRanges":["35.235.240.0/20"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fixing by hand: %v %v", err, resp)
	}
	resp.Body.Close()
	f.run(true, -1)
	if _, open := openPRs(f)[ssh.PR.Branch]; open {
		t.Error("the PR of fixed drift is still open")
	}
	if _, ok := f.srv.GitHubBranches()[ssh.PR.Branch]; ok {
		t.Errorf("branch %s not deleted", ssh.PR.Branch)
	}

	// A PR closed unmerged is declined and not reopened.
	rdp := openPRs(f)
	var declined sandbox.GitHubPullRequest
	for branch, p := range rdp {
		if strings.HasPrefix(branch, "zerodrift/sa-admin-role/") {
			declined = p
		}
	}
	if err := f.srv.ClosePullRequest(declined.Number); err != nil {
		t.Fatal(err)
	}
	res = f.run(true, -1)
	if _, open := openPRs(f)[declined.Head]; open {
		t.Error("a declined PR was reopened")
	}
	for _, d := range res.Decisions {
		if d.Rule == "sa-admin-role" && d.PR != nil && d.PR.Branch == declined.Head && (d.Action != engine.ActionReport || !strings.Contains(d.Reason, "declined")) {
			t.Errorf("declined finding decided %+v", d)
		}
	}
}

// analyticsIAM is acme-analytics, whose policy grants roles to jane.freelance@gmail.com, an
// account from outside the organization.
const analyticsIAM = "//cloudresourcemanager.googleapis.com/projects/100000000004"

// liveMembers reads a project's IAM policy from the sandbox and returns the members of its
// unconditional binding of role.
func liveMembers(t *testing.T, f *fixture, project, role string) []string {
	t.Helper()
	resp, err := http.Post(f.url+"/v3/projects/"+project+":getIamPolicy", "application/json", strings.NewReader(`{"options":{"requestedPolicyVersion":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pol inventory.Policy
	if err := json.NewDecoder(resp.Body).Decode(&pol); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reading the policy of %s: %d %v", project, resp.StatusCode, err)
	}
	for _, b := range pol.Bindings {
		if b.Role == role && b.Condition == nil {
			return slices.Sorted(slices.Values(b.Members))
		}
	}
	return nil
}

// removesOtherAccounts reports whether a unified diff removes a line that names an account
// (an @) other than member's.
func removesOtherAccounts(patch, member string) bool {
	email := member[strings.IndexByte(member, ':')+1:]
	for _, l := range strings.Split(patch, "\n") {
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") && strings.Contains(l, "@") && !strings.Contains(l, email) {
			return true
		}
	}
	return false
}

// builtinWithIaC is the built-in scenario with extra Terraform files in its iac/ tree.
func builtinWithIaC(t *testing.T, extra map[string]string) *sandbox.Scenario {
	t.Helper()
	return builtinWithIaCAndAssets(t, extra, nil)
}

// builtinWithIaCAndAssets is the built-in scenario with extra (or replaced) Terraform files
// in its iac/ tree and, when editAssets is set, its assets.json as editAssets rewrites it
// (builtinWith edits the assets of a scenario without Terraform).
func builtinWithIaCAndAssets(t *testing.T, extra map[string]string, editAssets func([]byte) []byte) *sandbox.Scenario {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(sandbox.BuiltinFS(), sandbox.BuiltinDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sandbox.BuiltinFS(), p)
		if err != nil {
			return err
		}
		fsys["s/"+strings.TrimPrefix(p, sandbox.BuiltinDir+"/")] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range extra {
		// Paths under state/ are Cloud Storage objects; the others are Terraform files.
		if !strings.HasPrefix(name, "state/") {
			name = "iac/" + name
		}
		fsys["s/"+name] = &fstest.MapFile{Data: []byte(text)}
	}
	if editAssets != nil {
		fsys["s/assets.json"].Data = editAssets(fsys["s/assets.json"].Data)
	}
	sc, err := sandbox.LoadScenario(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// A critical finding on a declared resource gets its pull request and, when a containing
// playbook may run unattended, is contained live at once.
func TestCriticalDeclaredFindingIsContainedLiveAndProposedInCode(t *testing.T) {
	sc := builtinWithIaC(t, map[string]string{"envs/prod/critical.tf": `# Opened during an incident in 2025; never closed.
resource "google_compute_firewall" "all_world" {
  name          = "allow-all-world"
  project       = "acme-prod"
  network       = "prod-vpc"
  source_ranges = ["0.0.0.0/0", "::/0"]
  allow {
    protocol = "all"
  }
}
`})
	f := newFixtureWith(t, sc, "maxChanges: 50\nunattendedPlaybooks: {firewall-deny-ports: true}\n", true)
	res := f.run(true, -1)
	d := decisionFor(t, res, "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-all-world", "firewall-open-ingress")
	if d.Action != engine.ActionPR || d.ChangeID == "" || !strings.Contains(d.Reason, "contained live") {
		t.Fatalf("critical declared finding decided %+v", d)
	}
	if d.PR == nil || d.PR.Number == 0 {
		t.Errorf("no pull request for it: %+v", d.PR)
	}
	code, list := f.get("compute/v1/projects/acme-prod/global/firewalls")
	var denies int
	for _, it := range list["items"].([]any) {
		if strings.HasPrefix(it.(map[string]any)["name"].(string), "zd-deny-") {
			denies++
		}
	}
	if code != http.StatusOK || denies == 0 {
		t.Errorf("no deny rule contains the open rule (%d deny rules)", denies)
	}
}

// webRuleUnnamed declares the sandbox's allow-https firewall with a name that cannot be
// evaluated (the variable has no value), so only Terraform state can tell it is declared.
const webRuleUnnamed = `variable "web_rule_name" {}

resource "google_compute_firewall" "web" {
  name          = var.web_rule_name
  project       = "acme-prod"
  network       = "prod-vpc"
  source_ranges = ["0.0.0.0/0"]
  allow {
    protocol = "tcp"
    ports    = ["443"]
  }
}
`

// Terraform state maps a live firewall to its exact address even when the configuration's
// name cannot be evaluated; without the state it is only reported as possibly declared.
func TestTerraformStateResolvesWhatConfigurationCannot(t *testing.T) {
	const https = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-https"
	config := webRuleUnnamed
	state := `{"version": 4, "terraform_version": "1.9.0", "serial": 3, "lineage": "x", "outputs": {},
 "resources": [{"mode": "managed", "type": "google_compute_firewall", "name": "web", "provider": "provider[\"registry.terraform.io/hashicorp/google\"]",
   "instances": [{"schema_version": 1, "attributes": {"id": "projects/acme-prod/global/firewalls/allow-https", "name": "allow-https", "project": "acme-prod"}}]}]}`

	without := newFixtureWith(t, builtinWithIaC(t, map[string]string{"envs/prod/web.tf": config}), "", true)
	d := decisionFor(t, without.run(false, -1), https, "firewall-open-ingress")
	if d.Action != engine.ActionReport || !strings.Contains(d.Reason, "Terraform may declare") {
		t.Errorf("without state: %+v, want a report naming the possible declaration", d)
	}

	with := newFixtureWith(t, builtinWithIaC(t, map[string]string{"envs/prod/web.tf": config,
		"state/acme-tfstate/envs/prod/default.tfstate": state}), "", true)
	d = decisionFor(t, with.run(false, -1), https, "firewall-open-ingress")
	if d.Action != engine.ActionPR || d.PR == nil || d.PR.Address != "google_compute_firewall.web" || d.PR.File != "envs/prod/web.tf" {
		t.Errorf("with state: %+v (PR %+v), want a PR on google_compute_firewall.web", d, d.PR)
	}
}

// A root whose backend block leaves the bucket to -backend-config, with its state in a
// non-default workspace: iac.states and iac.workspaces in config let the state be found.
func TestTerraformStateFromConfiguredBackendAndWorkspace(t *testing.T) {
	const https = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-https"
	config := webRuleUnnamed
	state := `{"version": 4, "serial": 3, "lineage": "x",
 "resources": [{"mode": "managed", "type": "google_compute_firewall", "name": "web",
   "instances": [{"attributes": {"id": "projects/acme-prod/global/firewalls/allow-https"}}]}]}`
	sc := builtinWithIaC(t, map[string]string{"envs/prod/web.tf": config,
		"state/corp-tfstate/terraform/prod/blue.tfstate": state})
	for _, tc := range []struct {
		name, config string
		want         string
	}{
		{"default workspace only", "iac:\n  states: [{root: envs/prod, bucket: corp-tfstate, prefix: terraform/prod}]\n", engine.ActionReport},
		{"the backend block's bucket", "iac:\n  workspaces: [default, blue]\n", engine.ActionReport},
		{"configured backend and workspace", "iac:\n  workspaces: [default, blue]\n  states: [{root: envs/prod, bucket: corp-tfstate, prefix: terraform/prod}]\n", engine.ActionPR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, sc, tc.config, true)
			d := decisionFor(t, f.run(false, -1), https, "firewall-open-ingress")
			if d.Action != tc.want {
				t.Fatalf("decided %s (%s), want %s", d.Action, d.Reason, tc.want)
			}
			if tc.want == engine.ActionPR && (d.PR == nil || d.PR.Address != "google_compute_firewall.web") {
				t.Errorf("PR %+v, want one on google_compute_firewall.web", d.PR)
			}
		})
	}
}

// janeDataViewer is jane's binding in the built-in scenario's acme-analytics policy, and
// janeJobUser a second role for her, beside the analysts group, so she can run queries too.
const (
	janeDataViewer = `{"role":"roles/bigquery.dataViewer","members":["group:analysts@acme.example","user:jane.freelance@gmail.com"]}`
	janeJobUser    = `{"role":"roles/bigquery.jobUser","members":["group:analysts@acme.example","user:jane.freelance@gmail.com"]}`
)

// janeJobUserTF declares janeJobUser: an authoritative binding of the role on acme-analytics.
const janeJobUserTF = `
# Who may run BigQuery jobs in acme-analytics.
resource "google_project_iam_binding" "analytics_job_users" {
  project = "acme-analytics"
  role    = "roles/bigquery.jobUser"
  members = [
    "group:analysts@acme.example",
    "user:jane.freelance@gmail.com",
  ]
}
`

// An account from outside the organization that holds several roles on a policy is one
// finding, and when Terraform declares every one of its grants, one pull request that
// removes it from each (here a google_project_iam_member deleted and a binding's member
// taken out, in one file); the live policy is left to the merge. Declared only in part, the
// finding is reported, with neither a pull request nor a live change: a PR would be half
// the fix.
func TestOutsideMemberPullRequestRemovesEveryDeclaredRole(t *testing.T) {
	jobUser := func(b []byte) []byte {
		if bytes.Count(b, []byte(janeDataViewer)) != 1 {
			t.Fatalf("the built-in scenario's assets hold jane's binding %d times, want once", bytes.Count(b, []byte(janeDataViewer)))
		}
		return bytes.Replace(b, []byte(janeDataViewer), []byte(janeDataViewer+","+janeJobUser), 1)
	}
	iamTF, err := fs.ReadFile(sandbox.BuiltinFS(), sandbox.BuiltinDir+"/iac/envs/prod/iam.tf")
	if err != nil {
		t.Fatal(err)
	}
	wantLive := []string{"group:analysts@acme.example", "user:jane.freelance@gmail.com"}

	t.Run("every role declared", func(t *testing.T) {
		f := newFixtureWith(t, builtinWithIaCAndAssets(t, map[string]string{"envs/prod/iam.tf": string(iamTF) + janeJobUserTF}, jobUser), "maxChanges: 50\n", true)
		res := f.run(true, -1)
		var findings int
		for _, x := range res.Findings {
			if x.Rule == "iam-non-org-member" && x.Resource == analyticsIAM {
				findings++
				if roles, _ := x.Evidence["roles"].([]string); !slices.Equal(roles, []string{"roles/bigquery.dataViewer", "roles/bigquery.jobUser"}) {
					t.Errorf("jane's finding lists roles %v, want both", x.Evidence["roles"])
				}
			}
		}
		if findings != 1 {
			t.Fatalf("%d iam-non-org-member findings on acme-analytics, want one for jane", findings)
		}
		d := decisionFor(t, res, analyticsIAM, "iam-non-org-member")
		if d.Action != engine.ActionPR || d.PR == nil ||
			d.PR.Address != "google_project_iam_member.jane_exports_viewer, google_project_iam_binding.analytics_job_users" {
			t.Fatalf("jane's two roles: decision %+v (PR %+v), want one pull request on both declarations", d, d.PR)
		}
		var mine []sandbox.GitHubPullRequest
		for branch, p := range openPRs(f) {
			if strings.HasPrefix(branch, "zerodrift/iam-non-org-member/") {
				mine = append(mine, p)
			}
		}
		if len(mine) != 1 || mine[0].Head != d.PR.Branch || len(mine[0].Files) != 1 || mine[0].Files[0].Path != "envs/prod/iam.tf" {
			t.Fatalf("jane's two roles: pull requests %+v, want one, editing envs/prod/iam.tf", mine)
		}
		patch := mine[0].Files[0].Patch
		for _, want := range []string{
			// roles/bigquery.dataViewer: its google_project_iam_member is deleted...
			`-resource "google_project_iam_member" "jane_exports_viewer" {`,
			`-  role    = "roles/bigquery.dataViewer"`,
			`-  member  = "user:jane.freelance@gmail.com"`,
			// ...and roles/bigquery.jobUser: she leaves the binding's members.
			`-    "user:jane.freelance@gmail.com",`,
		} {
			if !strings.Contains(patch, want) {
				t.Errorf("jane's PR diff lacks %q:\n%s", want, patch)
			}
		}
		if mine[0].Files[0].Additions != 0 || removesOtherAccounts(patch, "user:jane.freelance@gmail.com") {
			t.Errorf("jane's PR diff changes more than her grants:\n%s", patch)
		}
		// Merged, the branch's Terraform grants jane nothing and keeps the rest.
		after, err := f.srv.GitHubFile(d.PR.Branch, "envs/prod/iam.tf")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(after), "jane.freelance") || !strings.Contains(string(after), `"group:analysts@acme.example",`) ||
			!strings.Contains(string(after), `resource "google_project_iam_member" "bob_sa_user"`) {
			t.Errorf("envs/prod/iam.tf on %s:\n%s", d.PR.Branch, after)
		}
		for _, role := range []string{"roles/bigquery.dataViewer", "roles/bigquery.jobUser"} {
			if got := liveMembers(t, f, "acme-analytics", role); !slices.Equal(got, wantLive) {
				t.Errorf("a Terraform-managed grant was changed live: %s on acme-analytics has %v", role, got)
			}
		}
	})

	t.Run("one role declared", func(t *testing.T) {
		f := newFixtureWith(t, builtinWithIaCAndAssets(t, nil, jobUser), "maxChanges: 50\n", true)
		res := f.run(true, -1)
		d := decisionFor(t, res, analyticsIAM, "iam-non-org-member")
		if d.Action != engine.ActionReport || d.PR != nil || d.ChangeID != "" || !strings.Contains(d.Reason, "only some of the member's grants are declared") {
			t.Errorf("jane's roles declared in part: decision %+v, want a report naming the grants made outside Terraform", d)
		}
		for branch := range openPRs(f) {
			if strings.HasPrefix(branch, "zerodrift/iam-non-org-member/") {
				t.Errorf("a pull request %s for grants declared in part", branch)
			}
		}
		for _, role := range []string{"roles/bigquery.dataViewer", "roles/bigquery.jobUser"} {
			if got := liveMembers(t, f, "acme-analytics", role); !slices.Equal(got, wantLive) {
				t.Errorf("%s on acme-analytics changed live to %v", role, got)
			}
		}
	})
}
