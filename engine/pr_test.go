package engine_test

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zerodrift/zerodrift/engine"
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
	if len(prs) != 6 || res.Summary.ByAction[engine.ActionPR] != 6 {
		t.Fatalf("%d open PRs, %d pr decisions; want 6 (allow-ssh-world's sources and its logging, allow-rdp-split, deployer editor, "+
			"bob SA user, sre group viewer)",
			len(prs), res.Summary.ByAction[engine.ActionPR])
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
	if got := f.srv.GitHubWrites(); got != writes || len(openPRs(f)) != 6 {
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

// builtinWithIaC is the built-in scenario with extra Terraform files in its iac/ tree.
func builtinWithIaC(t *testing.T, extra map[string]string) *sandbox.Scenario {
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
