package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/zerodrift/zerodrift/internal/failpoint"
	"github.com/zerodrift/zerodrift/ledger"
)

const (
	crashToken = "zerodrift-sandbox-token"
	// The finding fixed live and the finding proposed as a pull request that the failpoints
	// crash: the first of each a run reaches. The run makes other live changes after the first
	// (unattended playbooks turning on firewall logging, subnet flow logs and Private Google
	// Access) and opens another pull request after the first (crashPRLogging); the rest of
	// acme-prod is reported or exempt.
	crashLiveFix = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-legacy-range"
	crashPRFix   = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world"
	// crashPRRule is the rule of the pull request the pr failpoints crash (crashPRFix opens
	// SSH to the world); crashPRLogging that of the other pull request on the same rule, which
	// the run opens after it: allow-ssh-world does not log its connections either, and
	// firewall-log-connections proposes enable-firewall-logging for a declared rule.
	crashPRRule    = "firewall-open-ingress"
	crashPRLogging = "firewall-logging-disabled"
)

// crashPRRules are the rules of the pull requests a run opens on crashPRFix, one each.
var crashPRRules = []string{crashPRRule, crashPRLogging}

// branchOf reports whether branch is zerodrift's branch for a finding of rule.
func branchOf(branch, rule string) bool {
	return strings.HasPrefix(branch, "zerodrift/"+rule+"/")
}

// crashEnv is a sandbox served in its own process (its state outlives zerodrift's crash), a
// ledger file and a configuration that fixes one firewall live and proposes one pull request.
type crashEnv struct {
	t      *testing.T
	addr   string
	cfg    string
	ledger string
}

func newCrashEnv(t *testing.T) *crashEnv {
	t.Helper()
	addr := serveSandbox(t)
	dir := t.TempDir()
	c := &crashEnv{t: t, addr: addr, cfg: filepath.Join(dir, "zerodrift.yaml"), ledger: filepath.Join(dir, "ledger.db")}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(crashToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exempt := func(resource, rules string) string {
		return fmt.Sprintf("  - resource: %s\n    rules: [%s]\n    reason: out of this test's way\n    owner: test@acme.example\n    expires: 2099-01-01\n", resource, rules)
	}
	cfg := fmt.Sprintf(`scope:
  projects: [acme-prod]
gcp:
  endpoint: http://%[1]s
ledger: sqlite://%[2]s
maxChanges: 50
github:
  repository: acme/infra
  apiURL: http://%[1]s/api/v3/
  tokenFile: %[3]s
  labels: [zerodrift]
  reviewers: [alice]
  writeInterval: 0s
iac:
  roots: [envs/prod, envs/dev]
exemptions:
%[4]s%[5]s`, addr, c.ledger, token,
		exempt("//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split", "firewall-open-ingress"),
		exempt("//cloudresourcemanager.googleapis.com/projects/100000000001", "sa-admin-role, sa-user-project-level, iam-primitive-role-user"))
	if err := os.WriteFile(c.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// crashRun is one `zerodrift run --apply`: its output and how it ended.
type crashRun struct {
	result
	killed bool
	report struct {
		RunID     string `json:"runId"`
		Decisions []struct {
			Finding, Rule, Resource, Action, Reason, ChangeID string
			PR                                                *struct {
				Branch, Outcome string
				Number          int
			} `json:"pr"`
		} `json:"decisions"`
		Summary struct {
			Changes int `json:"changes"`
		} `json:"summary"`
	}
}

// run runs `zerodrift run --apply` with the failpoints given (none when empty).
func (c *crashEnv) run(failpoints string) crashRun {
	c.t.Helper()
	cmd := exec.Command(binary, "run", "--config", c.cfg, "--apply", "--format", "json", "--now", loadExpected(c.t).Now)
	cmd.Env = append(os.Environ(), failpoint.EnvVar+"="+failpoints)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := crashRun{result: result{stdout: out.String(), stderr: errb.String()}}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		ws, ok := ee.Sys().(syscall.WaitStatus)
		r.killed = ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	case err != nil:
		c.t.Fatalf("running zerodrift: %v", err)
	}
	if failpoints == "" {
		if r.code != 0 {
			c.t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
		}
		if err := json.Unmarshal(out.Bytes(), &r.report); err != nil {
			c.t.Fatalf("run: not JSON (%v): %s", err, r.stdout)
		}
	}
	return r
}

// gh calls the sandbox's GitHub and decodes the answer into v (when not nil).
func (c *crashEnv) gh(method, path string, body, v any) {
	c.t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+c.addr+"/api/v3/repos/acme/infra/"+path, in)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+crashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// ghPull is a pull request as the GitHub API shows it.
type ghPull struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Body   string `json:"body"`
	Head   struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	} `json:"head"`
	Labels []struct {
		Name string `json:"name"`
	} `json:"labels"`
	Reviewers []struct {
		Login string `json:"login"`
	} `json:"requested_reviewers"`
}

// repo is what the repository holds: zerodrift's branches (name → head), every pull
// request, the base branch's head, and the parent of each branch head.
type repo struct {
	branches map[string]string
	pulls    []ghPull
	main     string
	parents  map[string][]string
}

func (c *crashEnv) repo() repo {
	c.t.Helper()
	r := repo{branches: map[string]string{}, parents: map[string][]string{}}
	var refs []struct {
		Ref    string `json:"ref"`
		Object struct {
			SHA string `json:"sha"`
		} `json:"object"`
	}
	c.gh(http.MethodGet, "git/matching-refs/heads/", nil, &refs)
	for _, ref := range refs {
		name := strings.TrimPrefix(ref.Ref, "refs/heads/")
		if name == "main" {
			r.main = ref.Object.SHA
			continue
		}
		r.branches[name] = ref.Object.SHA
		var commit struct {
			Parents []struct {
				SHA string `json:"sha"`
			} `json:"parents"`
		}
		c.gh(http.MethodGet, "git/commits/"+ref.Object.SHA, nil, &commit)
		for _, p := range commit.Parents {
			r.parents[name] = append(r.parents[name], p.SHA)
		}
	}
	c.gh(http.MethodGet, "pulls?state=all&per_page=100", nil, &r.pulls)
	return r
}

// moveMain commits a change to an unrelated file on the base branch, as a person would.
func (c *crashEnv) moveMain() {
	c.t.Helper()
	var ref struct {
		Object struct {
			SHA string `json:"sha"`
		} `json:"object"`
	}
	c.gh(http.MethodGet, "git/ref/heads/main", nil, &ref)
	var head struct {
		Tree struct {
			SHA string `json:"sha"`
		} `json:"tree"`
	}
	c.gh(http.MethodGet, "git/commits/"+ref.Object.SHA, nil, &head)
	var made struct {
		SHA string `json:"sha"`
	}
	c.gh(http.MethodPost, "git/trees", map[string]any{"base_tree": head.Tree.SHA, "tree": []map[string]string{
		{"path": "NOTES.md", "mode": "100644", "type": "blob", "content": "The base branch moved on.\n"}}}, &made)
	c.gh(http.MethodPost, "git/commits", map[string]any{"message": "notes", "tree": made.SHA, "parents": []string{ref.Object.SHA}}, &made)
	c.gh(http.MethodPatch, "git/refs/heads/main", map[string]any{"sha": made.SHA}, nil)
}

// changes reads the ledger's changes of a resource and the runs that made them.
func (c *crashEnv) changes(resource string) ([]ledger.Change, map[string]*ledger.Run) {
	c.t.Helper()
	ctx := context.Background()
	store, err := ledger.Open(ctx, "sqlite://"+c.ledger)
	if err != nil {
		c.t.Fatal(err)
	}
	defer store.Close()
	cs, err := store.Changes(ctx, ledger.ChangeFilter{Resource: resource})
	if err != nil {
		c.t.Fatal(err)
	}
	runs := map[string]*ledger.Run{}
	for _, ch := range cs {
		if runs[ch.RunID], err = store.GetRun(ctx, ch.RunID); err != nil {
			c.t.Fatal(err)
		}
	}
	return cs, runs
}

// statuses lists the changes' statuses, oldest first.
func statuses(cs []ledger.Change) []ledger.ChangeStatus {
	var out []ledger.ChangeStatus
	for _, ch := range slices.Backward(cs) {
		out = append(out, ch.Status)
	}
	return out
}

// A crash at every failpoint of a live change and of a pull request update (SIGKILL, as
// the OOM killer or a lost node would) is recovered by the next run: a change that reached
// the API is recorded as done, one that did not is redone, a branch pushed without its pull
// request gets it (no second pull request, no second branch), the dead run's locks do not
// block, and the ledger ends with one outcome per finding.
func TestCrashAtEveryFailpointIsRecovered(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a crashed run's locks are taken over at once on Linux only; elsewhere after their TTL")
	}
	type check func(t *testing.T, c *crashEnv)
	// atCrash: the ledger's record of the live change (oldest first) right after the crash.
	ledgerAt := func(want ...ledger.ChangeStatus) check {
		return func(t *testing.T, c *crashEnv) {
			if cs, _ := c.changes(crashLiveFix); !slices.Equal(statuses(cs), want) {
				t.Errorf("at the crash the ledger records %v for %s, want %v", statuses(cs), crashLiveFix, want)
			}
		}
	}
	// repoAt: zerodrift's branches and pull requests right after the crash, which stops the
	// run at its first pull request (crashPRRule's): nothing of the later one is written.
	repoAt := func(branches, pulls int, labelled bool) check {
		return func(t *testing.T, c *crashEnv) {
			r := c.repo()
			if len(r.branches) != branches || len(r.pulls) != pulls || pulls > 0 && (len(r.pulls[0].Labels) > 0) == !labelled {
				t.Errorf("at the crash: branches %v, pull requests %+v; want %d branches, %d pull requests, labelled %v", r.branches, r.pulls, branches, pulls, labelled)
			}
			for b := range r.branches {
				if !branchOf(b, crashPRRule) {
					t.Errorf("at the crash: branch %s; want only the branch of the %s pull request the run crashed on", b, crashPRRule)
				}
			}
		}
	}
	// onBase: while updating the pull requests after the base moved, the crash stops the run
	// at the first (crashPRRule's), whose branch is on the new base when onNewBase; the later
	// pull request's branch is not reached and stays on the old base.
	onBase := func(onNewBase bool) check {
		return func(t *testing.T, c *crashEnv) {
			r := c.repo()
			if len(r.branches) != len(crashPRRules) {
				t.Errorf("at the crash: branches %v, want one for each of %v", r.branches, crashPRRules)
			}
			for b, head := range r.branches {
				want := onNewBase && branchOf(b, crashPRRule)
				if moved := slices.Equal(r.parents[b], []string{r.main}); moved != want {
					t.Errorf("at the crash branch %s (head %s) has parents %v; on the new base %s: %v, want %v", b, head, r.parents[b], r.main, moved, want)
				}
			}
		}
	}
	cases := []struct {
		at      failpoint.Name
		update  bool // crash while updating the pull request an earlier run opened
		atCrash check
		// leftRunning: the dead run held no lock the next run needs (its change was over), so
		// nothing proves it dead and it stays recorded as running.
		leftRunning bool
	}{
		{at: failpoint.ChangeAfterLock, atCrash: ledgerAt()},
		{at: failpoint.ChangeAfterPlan, atCrash: ledgerAt(ledger.StatusPlanned)},
		{at: failpoint.ChangeAfterApply, atCrash: ledgerAt(ledger.StatusPlanned)},
		{at: failpoint.ChangeAfterApplied, atCrash: ledgerAt(ledger.StatusApplied)},
		{at: failpoint.ChangeAfterVerify, atCrash: ledgerAt(ledger.StatusVerified), leftRunning: true},
		{at: failpoint.PRAfterCommit, atCrash: repoAt(0, 0, false)},
		{at: failpoint.PRAfterPush, atCrash: repoAt(1, 0, false)},
		{at: failpoint.PRAfterCreate, atCrash: repoAt(1, 1, false)},
		{at: failpoint.PRUpdateAfterCommit, update: true, atCrash: onBase(false)},
		{at: failpoint.PRUpdateAfterPush, update: true, atCrash: onBase(true)},
	}
	// Every failpoint, so that one added to the product cannot go untested.
	var tested []failpoint.Name
	for _, tc := range cases {
		tested = append(tested, tc.at)
	}
	if !slices.Equal(tested, failpoint.Names()) {
		t.Fatalf("the cases crash at %v; the failpoints are %v", tested, failpoint.Names())
	}
	for _, tc := range cases {
		t.Run(string(tc.at), func(t *testing.T) {
			t.Parallel()
			c := newCrashEnv(t)
			if tc.update {
				c.run("")
				c.moveMain()
			}
			crashed := c.run(string(tc.at))
			if !crashed.killed || crashed.stdout != "" {
				t.Fatalf("the run was not killed at %s: exit %d, stdout %q\n%s", tc.at, crashed.code, crashed.stdout, crashed.stderr)
			}
			if !strings.Contains(crashed.stderr, "failpoint hit") || !strings.Contains(crashed.stderr, `"failpoint": "`+string(tc.at)+`"`) {
				t.Errorf("the log does not name failpoint %s:\n%s", tc.at, crashed.stderr)
			}
			tc.atCrash(t, c)

			recovered := c.run("")
			c.checkRecovered(t, recovered, !tc.leftRunning)
			// Recovered for good: a further run changes nothing and writes no pull request.
			again := c.run("")
			if again.report.Summary.Changes != 0 {
				t.Errorf("a run after recovering made %d changes", again.report.Summary.Changes)
			}
			for _, d := range again.report.Decisions {
				if d.PR != nil && d.PR.Outcome != "unchanged" {
					t.Errorf("a run after recovering: pull request %+v", d.PR)
				}
			}
		})
	}
}

// checkRecovered checks the state after the run that recovered from a crash.
func (c *crashEnv) checkRecovered(t *testing.T, r crashRun, deadRunFinished bool) {
	t.Helper()
	seen := map[string]int{}
	for _, d := range r.report.Decisions {
		if seen[d.Finding]++; seen[d.Finding] > 1 {
			t.Errorf("finding %s decided twice in one run", d.Finding)
		}
	}
	// The live fix: on the resource, recorded as one verified change; any other change of
	// it was reconciled as failed, and none is left in flight.
	if got := firewallRanges(t, c.addr, "allow-legacy-range"); got != "35.235.240.0/20" {
		t.Errorf("allow-legacy-range admits %s after recovering, want the trusted range", got)
	}
	cs, runs := c.changes(crashLiveFix)
	verified := 0
	for _, ch := range cs {
		switch {
		case ch.Status == ledger.StatusVerified:
			verified++
		case ch.Status == ledger.StatusFailed && strings.Contains(ch.Detail, "reconciled by "+r.report.RunID):
		default:
			t.Errorf("change %s of %s ended %s: %s", ch.ID, crashLiveFix, ch.Status, ch.Detail)
		}
		if run := runs[ch.RunID]; deadRunFinished && run.Status == "running" {
			t.Errorf("run %s, whose process died holding the lock on %s, is still recorded running", run.ID, crashLiveFix)
		}
	}
	if verified != 1 {
		t.Errorf("%d verified changes of %s, want 1: %v", verified, crashLiveFix, statuses(cs))
	}
	// Every other live change of the run, too: one verified change per finding, none left
	// in flight, any other reconciled as failed by the run that recovered.
	all, _ := c.changes("")
	byFinding := map[string][]ledger.ChangeStatus{}
	for _, ch := range all {
		byFinding[ch.Finding] = append(byFinding[ch.Finding], ch.Status)
		if ch.Status != ledger.StatusVerified && !(ch.Status == ledger.StatusFailed && strings.Contains(ch.Detail, "reconciled by "+r.report.RunID)) {
			t.Errorf("change %s (%s on %s) ended %s: %s", ch.ID, ch.Action, ch.Resource, ch.Status, ch.Detail)
		}
	}
	for finding, sts := range byFinding {
		if n := len(slices.DeleteFunc(slices.Clone(sts), func(s ledger.ChangeStatus) bool { return s != ledger.StatusVerified })); n != 1 {
			t.Errorf("finding %s: %d verified changes, want 1: %v", finding, n, sts)
		}
	}
	// The pull requests: for each finding of crashPRRules on crashPRFix one decision, one
	// branch, one pull request (the crashed one is not opened twice), open at its branch's
	// head, on the current base, labelled, its reviewer requested; no other branch or pull
	// request.
	repo := c.repo()
	if len(repo.branches) != len(crashPRRules) || len(repo.pulls) != len(crashPRRules) {
		t.Fatalf("branches %v and %d pull requests after recovering, want one of each for each of %v: %+v", repo.branches,
			len(repo.pulls), crashPRRules, repo.pulls)
	}
	for _, rule := range crashPRRules {
		var decided []string
		for _, d := range r.report.Decisions {
			if d.Resource != crashPRFix || d.Rule != rule {
				continue
			}
			decided = append(decided, d.Finding)
			if d.Action != "pr" || d.PR == nil || !branchOf(d.PR.Branch, rule) {
				t.Errorf("decision of %s on %s after recovering: %+v", rule, crashPRFix, d)
				continue
			}
			var pulls []ghPull
			for _, pr := range repo.pulls {
				if pr.Head.Ref == d.PR.Branch {
					pulls = append(pulls, pr)
				}
			}
			if len(pulls) != 1 {
				t.Errorf("%d pull requests on branch %s (%s on %s), want 1: %+v", len(pulls), d.PR.Branch, rule, crashPRFix, pulls)
				continue
			}
			pr := pulls[0]
			if pr.Number != d.PR.Number || pr.State != "open" || repo.branches[pr.Head.Ref] != pr.Head.SHA ||
				!slices.Equal(repo.parents[pr.Head.Ref], []string{repo.main}) {
				t.Errorf("pull request %+v (decided #%d) on branches %v (parents %v, base %s): want it open, at its branch's head, on the base",
					pr, d.PR.Number, repo.branches, repo.parents, repo.main)
			}
			if len(pr.Labels) != 1 || pr.Labels[0].Name != "zerodrift" || len(pr.Reviewers) != 1 || pr.Reviewers[0].Login != "alice" {
				t.Errorf("pull request #%d: labels %+v, reviewers %+v; want what is configured", pr.Number, pr.Labels, pr.Reviewers)
			}
		}
		if len(decided) != 1 {
			t.Errorf("%d decisions of %s on %s after recovering, want 1: %v", len(decided), rule, crashPRFix, decided)
		}
	}
}
