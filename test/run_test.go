package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runReport is the JSON contract of `zerodrift run --format json`.
type runReport struct {
	RunID     string    `json:"runId"`
	Mode      string    `json:"mode"`
	Findings  []finding `json:"findings"`
	Decisions []struct {
		Finding  string `json:"finding"`
		Rule     string `json:"rule"`
		Resource string `json:"resource"`
		Action   string `json:"action"`
		Reason   string `json:"reason"`
		Playbook string `json:"playbook"`
		ChangeID string `json:"changeId"`
		Command  string `json:"command"`
	} `json:"decisions"`
	Summary struct {
		Changes  int            `json:"changes"`
		ByAction map[string]int `json:"byAction"`
	} `json:"summary"`
}

// history is the JSON contract of `zerodrift history --format json`.
type history struct {
	Changes []struct {
		ID, RunID, Resource, Playbook, Action, Status, At, Finding string
	} `json:"changes"`
}

func firewallRanges(t *testing.T, addr, name string) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/compute/v1/projects/acme-prod/global/firewalls/%s", addr, name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fw struct {
		SourceRanges []string `json:"sourceRanges"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&fw); err != nil {
		t.Fatal(err)
	}
	return strings.Join(fw.SourceRanges, ",")
}

// The whole on-call and platform loop through the binary: a dry run, a run that applies
// within maxChanges, the ledger's history, a rollback, and a playbook run by hand.
func TestRunHistoryRollbackAndPlaybookRun(t *testing.T) {
	exp := loadExpected(t)
	addr := serveSandbox(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zerodrift.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`scope:
  projects: [acme-prod, acme-dev, acme-legacy, acme-analytics]
gcp:
  endpoint: http://%s
ledger: sqlite://%s
`, addr, filepath.Join(dir, "ledger.db"))), 0o600)
	decode := func(r result, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("not JSON (%v): %s\nstderr: %s", err, r.stdout, r.stderr)
		}
	}

	// A dry run changes nothing and says what it would do.
	r := zerodrift(t, "", "run", "--config", cfg, "--format", "json", "--now", exp.Now)
	var dry runReport
	decode(r, &dry)
	if r.code != 0 || dry.Mode != "report" || dry.Summary.Changes != 0 || dry.Summary.ByAction["fix"] == 0 {
		t.Fatalf("dry run: exit %d, %+v", r.code, dry.Summary)
	}
	if got := firewallRanges(t, addr, "allow-ssh-world"); got != "0.0.0.0/0" {
		t.Fatalf("a dry run changed allow-ssh-world to %s", got)
	}
	var deployer string
	for _, d := range dry.Decisions {
		if d.Rule == "sa-admin-role" && d.Action == "report" && strings.Contains(d.Command, "iam-remove-admin-binding") {
			for _, f := range dry.Findings {
				if f.ID == d.Finding && f.Evidence["member"] == "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com" {
					deployer = f.ID
				}
			}
		}
	}
	if deployer == "" {
		t.Fatal("no on-call command reported for the deployer's editor binding")
	}

	// Apply, one change at most.
	r = zerodrift(t, "", "run", "--config", cfg, "--apply", "--max-changes", "1", "--format", "json", "--now", exp.Now)
	var applied runReport
	decode(r, &applied)
	if r.code != 0 || applied.Summary.Changes != 1 || applied.Summary.ByAction["skipped-limit"] == 0 {
		t.Fatalf("apply: exit %d, %+v; stderr %s", r.code, applied.Summary, r.stderr)
	}
	var change, changed string
	for _, d := range applied.Decisions {
		if d.Action == "fix" {
			change, changed = d.ChangeID, d.Resource
		}
	}

	r = zerodrift(t, "", "history", "--config", cfg, "--format", "json")
	var h history
	decode(r, &h)
	if len(h.Changes) != 1 || h.Changes[0].ID != change || h.Changes[0].Status != "verified" || h.Changes[0].Resource != changed ||
		h.Changes[0].RunID != applied.RunID || h.Changes[0].Playbook == "" || h.Changes[0].At == "" || h.Changes[0].Finding == "" {
		t.Fatalf("history: %+v", h)
	}

	// Roll back: a dry run first, then refused off a terminal without --yes, then done.
	if r = zerodrift(t, "", "rollback", change, "--config", cfg); r.code != 0 || !strings.Contains(r.stdout, "Dry run") {
		t.Errorf("rollback dry run: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r = zerodrift(t, "", "rollback", change, "--config", cfg, "--apply"); r.code != 1 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("rollback without --yes off a terminal: exit %d %s", r.code, r.stderr)
	}
	if r = zerodrift(t, "", "rollback", change, "--config", cfg, "--apply", "--yes"); r.code != 0 {
		t.Fatalf("rollback: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	decode(zerodrift(t, "", "history", "--config", cfg, "--format", "json", "--resource", changed), &h)
	if len(h.Changes) != 1 || h.Changes[0].Status != "rolled-back" {
		t.Errorf("history after rollback: %+v", h)
	}

	// On-call: plan, then apply by finding ID.
	r = zerodrift(t, "", "playbook", "run", "iam-remove-admin-binding", "--target", deployer, "--config", cfg, "--now", exp.Now)
	if r.code != 0 || !strings.Contains(r.stdout, "Plan: iam.removeBinding") || !strings.Contains(r.stdout, "Dry run") {
		t.Fatalf("playbook run (plan): exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = zerodrift(t, "", "playbook", "run", "iam-remove-admin-binding", "--target", deployer, "--config", cfg, "--apply", "--yes", "--now", exp.Now)
	if r.code != 0 || !strings.Contains(r.stdout, "fix: ") || !strings.Contains(r.stdout, "zerodrift rollback chg-") {
		t.Fatalf("playbook run --apply: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The same finding again: nothing left to do.
	r = zerodrift(t, "", "playbook", "run", "iam-remove-admin-binding", "--target", deployer, "--config", cfg, "--apply", "--yes", "--now", exp.Now)
	if r.code != 1 || !strings.Contains(r.stderr, "no finding "+deployer) {
		t.Errorf("second playbook run: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	// A playbook that does not fix this drift says so.
	r = zerodrift(t, "", "playbook", "run", "firewall-restrict-sources", "--config", cfg,
		"--target", "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-https")
	if r.code != 1 || !strings.Contains(r.stderr, "no drift that playbook firewall-restrict-sources fixes") {
		t.Errorf("restrict-sources on an open 443 rule: exit %d %s", r.code, r.stderr)
	}
}

func TestPlaybookListAndShow(t *testing.T) {
	r := zerodrift(t, "", "playbook", "list")
	for _, name := range []string{"firewall-restrict-sources", "firewall-disable", "firewall-deny-ports", "firewall-enable-logging",
		"network-delete-default", "iam-remove-admin-binding", "iam-remove-project-sa-user", "iam-remove-public-member", "sa-key-disable"} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("playbook list lacks %s:\n%s", name, r.stdout)
		}
	}
	r = zerodrift(t, "", "playbook", "show", "network-delete-default")
	if r.code != 0 || !strings.Contains(r.stdout, "network.deleteDefault") {
		t.Errorf("playbook show: exit %d\n%s", r.code, r.stdout)
	}
	if r = zerodrift(t, "", "playbook", "show", "nope"); r.code != 1 || !strings.Contains(r.stderr, `no playbook is named "nope"`) {
		t.Errorf("playbook show nope: exit %d %s", r.code, r.stderr)
	}
}

// `zerodrift run --sandbox` routes what the scenario's Terraform declares to pull requests on
// the sandbox's GitHub and shows them with their diffs; the rest is fixed live or reported.
func TestRunSandboxOpensPullRequestsForDeclaredResources(t *testing.T) {
	exp := loadExpected(t)
	r := zerodrift(t, "", "run", "--sandbox", "--apply", "--format", "json", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep struct {
		Decisions []struct {
			Rule, Resource, Action, Reason string
			PR                             *struct {
				File, Address, Diff, Branch, Outcome string
				Number                               int
			} `json:"pr"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	opened, diffs := map[string]string{}, map[string]string{}
	for _, d := range rep.Decisions {
		if d.Action == "pr" {
			if d.PR == nil || d.PR.Number == 0 || d.PR.Outcome != "opened" || !strings.HasPrefix(d.PR.Diff, "--- a/") {
				t.Errorf("pr decision without an opened PR and its diff: %+v", d)
				continue
			}
			opened[d.Resource+" "+d.Rule] = d.PR.Address
			diffs[d.Resource+" "+d.Rule] = d.PR.Diff
		}
	}
	const sshWorldLogging = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world firewall-logging-disabled"
	const janeOutside = "//cloudresourcemanager.googleapis.com/projects/100000000004 iam-non-org-member"
	want := map[string]string{
		"//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world firewall-open-ingress": "google_compute_firewall.ssh_world",
		"//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split firewall-open-ingress": "module.firewall_rules.rules[1]",
		"//cloudresourcemanager.googleapis.com/projects/100000000001 sa-admin-role":                          `module.project_iam.bindings["roles/editor"]`,
		"//cloudresourcemanager.googleapis.com/projects/100000000001 sa-user-project-level":                  "google_project_iam_member.bob_sa_user",
		// group:sre@acme.example's roles/viewer is declared in the module's bindings; alice's
		// roles/owner is not declared, so it is reported.
		"//cloudresourcemanager.googleapis.com/projects/100000000001 iam-primitive-role-user": `module.project_iam.bindings["roles/viewer"]`,
		// allow-ssh-world does not log its connections (logConfig.enable false, no log_config
		// in envs/prod/firewall.tf) and Terraform declares it: firewall-log-connections,
		// unattended, proposes its enable-firewall-logging edit instead of a live fix. The
		// scenario's other declared rules log already.
		sshWorldLogging: "google_compute_firewall.ssh_world",
		// jane.freelance@gmail.com, outside the organization's domains, holds one role on
		// acme-analytics, roles/bigquery.dataViewer, which the prod root declares with an
		// explicit project: all of her grants are declared, so iam-remove-outside-member's
		// remove-iam-member edit is proposed instead of the live removal.
		janeOutside: "google_project_iam_member.jane_exports_viewer",
	}
	if len(opened) != len(want) {
		t.Errorf("opened %v, want %v", opened, want)
	}
	for k, addr := range want {
		if opened[k] != addr {
			t.Errorf("%s: PR on %q, want %q", k, opened[k], addr)
		}
	}
	// The logging PR adds the log_config block and changes nothing else of the rule.
	if d := diffs[sshWorldLogging]; !strings.Contains(d, "+  log_config {") || !strings.Contains(d, `+    metadata = "INCLUDE_ALL_METADATA"`) ||
		strings.Contains(d, "\n-") {
		t.Errorf("%s: diff\n%s\nwant only a log_config block with INCLUDE_ALL_METADATA added", sshWorldLogging, d)
	}
	// Jane's PR deletes the one resource that grants her a role, and adds nothing (the only
	// line starting with "+" is the "+++ b/" header).
	if d := diffs[janeOutside]; !strings.Contains(d, `-resource "google_project_iam_member" "jane_exports_viewer" {`) ||
		!strings.Contains(d, `-  member  = "user:jane.freelance@gmail.com"`) || strings.Count(d, "\n+") != 1 ||
		strings.Contains(d, "-  member  = \"user:bob") {
		t.Errorf("%s: diff\n%s\nwant only google_project_iam_member.jane_exports_viewer removed", janeOutside, d)
	}
	table := zerodrift(t, "", "run", "--sandbox", "--now", exp.Now)
	if !strings.Contains(table.stdout, "Pull requests on the IaC repository:") || !strings.Contains(table.stdout, "+  source_ranges = [\"35.235.240.0/20\"]") {
		t.Errorf("the run table does not show the proposed diffs:\n%s", table.stdout)
	}
}
