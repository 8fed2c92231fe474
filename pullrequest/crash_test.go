package pullrequest

import (
	"slices"
	"testing"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

// crashed is what a failpoint panics with in these tests, standing in for SIGKILL.
type crashed struct{ at failpoint.Name }

// ensureUntilCrash runs Ensure with one failpoint enabled and reports whether it was hit.
func ensureUntilCrash(t *testing.T, e *env, at failpoint.Name, p Proposal) (hit bool) {
	t.Helper()
	fps, err := failpoint.Parse(string(at))
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(func(cfg *Config) {
		cfg.Failpoints = fps.WithAction(func(n failpoint.Name) { panic(crashed{at: n}) })
	})
	defer func() {
		if r := recover(); r != nil {
			if r != (crashed{at: at}) {
				panic(r)
			}
			hit = true
		}
	}()
	if _, err := c.Ensure(ctxFor(t), p); err != nil {
		t.Fatalf("Ensure before the crash: %v", err)
	}
	return false
}

// A run that dies at any step of opening or updating a pull request leaves what the next
// run (resuming, since the dead run held the finding's lock) completes: one branch, one open
// pull request on it, on the current base, labelled, with its reviewers requested.
func TestEnsureRecoversFromACrashAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		at     failpoint.Name
		update bool
		want   Action
	}{
		{at: failpoint.PRAfterCommit, want: ActionOpened},
		{at: failpoint.PRAfterPush, want: ActionOpened},
		{at: failpoint.PRAfterCreate, want: ActionUnchanged},
		{at: failpoint.PRUpdateAfterCommit, update: true, want: ActionUpdated},
		{at: failpoint.PRUpdateAfterPush, update: true, want: ActionUnchanged},
	} {
		t.Run(string(tc.at), func(t *testing.T) {
			e := newEnv(t)
			p := proposal(findingA, fixedTF)
			if tc.update {
				ensure(t, e.client(nil), p, ActionOpened)
				if _, err := e.srv.CommitAsHuman("main", map[string][]byte{"README.md": []byte("# infra, moved on\n")}, "move main"); err != nil {
					t.Fatal(err)
				}
			}
			if !ensureUntilCrash(t, e, tc.at, p) {
				t.Fatalf("failpoint %s was not hit", tc.at)
			}
			p.Resume = true
			out := ensure(t, e.client(nil), p, tc.want)

			prs := e.srv.PullRequests()
			if len(prs) != 1 {
				t.Fatalf("%d pull requests, want 1: %+v", len(prs), prs)
			}
			pr := prs[0]
			branches := e.srv.GitHubBranches()
			base, _ := e.srv.GitHubCommitOf("main")
			head, err := e.srv.GitHubCommitOf(out.Branch)
			if err != nil {
				t.Fatal(err)
			}
			if len(branches) != 2 || branches[out.Branch] != pr.HeadSHA || pr.State != "open" || pr.Head != out.Branch ||
				!slices.Equal(head.Parents, []string{base.SHA}) {
				t.Errorf("branches %v, pull request %+v, head %+v on base %s: want one open pull request on its branch, on the base", branches, pr, head, base.SHA)
			}
			if !slices.Equal(pr.Labels, []string{"security", "zerodrift"}) && !slices.Equal(pr.Labels, []string{"zerodrift", "security"}) ||
				!slices.Equal(pr.Reviewers, []string{"alice"}) || !slices.Equal(pr.TeamReviewers, []string{"netsec"}) {
				t.Errorf("pull request labels %v, reviewers %v and %v; want what is configured", pr.Labels, pr.Reviewers, pr.TeamReviewers)
			}
			m, _ := ParseMarker(pr.Body)
			if m.Patch != hashFiles(p.Files, []string{"envs/prod/firewall.tf"}) {
				t.Errorf("marker %+v", m)
			}
			e.srv.ResetGitHubRequests()
			ensure(t, e.client(nil), p, ActionUnchanged)
			if w := e.writes(); len(w) != 0 {
				t.Errorf("writes after recovering = %v", w)
			}
		})
	}
}
