package pullrequest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/sandbox"
)

const (
	firewallTF = "resource \"google_compute_firewall\" \"ssh\" {\n  name          = \"allow-ssh\"\n  network       = \"default\"\n  source_ranges = [\"0.0.0.0/0\"]\n}\n"
	fixedTF    = "resource \"google_compute_firewall\" \"ssh\" {\n  name          = \"allow-ssh\"\n  network       = \"default\"\n  source_ranges = [\"35.235.240.0/20\"]\n}\n"
	findingA   = "0123456789abcdef"
	findingB   = "fedcba9876543210"
	secret     = "ghp_S3CRETt0kenV4lue0123456789abcdef"
)

func iac() fstest.MapFS {
	return fstest.MapFS{
		"envs/prod/firewall.tf":      {Data: []byte(firewallTF)},
		"envs/prod/main.tf":          {Data: []byte("terraform {}\n")},
		"envs/prod/terraform.tfvars": {Data: []byte("project = \"prod-1\"\n")},
		"envs/dev/network.tf":        {Data: []byte("resource \"google_compute_network\" \"default\" {\n  name = \"default\"\n}\n")},
		"terragrunt.hcl":             {Data: []byte("inputs = {}\n")},
		"README.md":                  {Data: []byte("# infra\n")},
		"scripts/apply.sh":           {Data: []byte("#!/bin/sh\n")},
	}
}

// env is an emulator serving the scenario's repository, with a log observer.
type env struct {
	t    *testing.T
	srv  *sandbox.Server
	url  string
	logs *observer.ObservedLogs
	log  *zap.Logger
}

func newEnv(t *testing.T, opts ...sandbox.Option) *env {
	t.Helper()
	opts = append([]sandbox.Option{sandbox.WithGitHub(sandbox.GitHubOptions{Tokens: []string{secret}})}, opts...)
	srv, err := sandbox.New(&sandbox.Scenario{IaC: iac()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	core, logs := observer.New(zap.DebugLevel)
	e := &env{t: t, srv: srv, url: u, logs: logs, log: zap.New(core)}
	t.Cleanup(e.checkNoSecretLogged)
	return e
}

func (e *env) config() Config {
	return Config{
		Repository: "acme/infra", APIURL: e.url, Token: secret,
		Labels: []string{"zerodrift", "security"}, Reviewers: []string{"alice"}, TeamReviewers: []string{"netsec"},
		WriteInterval: -1, MaxRetryWait: 5 * time.Second,
	}
}

func (e *env) client(mod func(*Config)) *Client {
	e.t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(ctxFor(e.t), cfg, e.log)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return c
}

// checkNoSecretLogged fails the test when the token shows in any log entry.
func (e *env) checkNoSecretLogged() {
	for _, entry := range e.logs.All() {
		if strings.Contains(entry.Message+fmt.Sprint(entry.ContextMap()), secret) {
			e.t.Errorf("the token was logged: %s %v", entry.Message, entry.ContextMap())
		}
	}
	for _, pr := range e.srv.PullRequests() {
		if strings.Contains(pr.Body+pr.Title, secret) {
			e.t.Errorf("the token is in pull request #%d", pr.Number)
		}
		for _, c := range pr.Comments {
			if strings.Contains(c.Body, secret) {
				e.t.Errorf("the token is in a comment of #%d", pr.Number)
			}
		}
	}
	host := e.host()
	for _, r := range e.srv.GitHubRequests() {
		if r.AuthScheme != "" && r.Host != host {
			e.t.Errorf("credentials sent to %s: %+v", r.Host, r)
		}
	}
}

func (e *env) host() string {
	u, _ := url.Parse(e.url)
	return u.Host
}

func (e *env) pr(n int) sandbox.GitHubPullRequest {
	e.t.Helper()
	prs := e.srv.PullRequests()
	if n < 1 || n > len(prs) {
		e.t.Fatalf("no pull request #%d (%d in all)", n, len(prs))
	}
	return prs[n-1]
}

// writes returns the routes of the write requests since the last reset.
func (e *env) writes() []string {
	var out []string
	for _, r := range e.srv.GitHubRequests() {
		if r.Write() {
			out = append(out, r.Route)
		}
	}
	return out
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func proposal(id, content string) Proposal {
	d := BodyData{FindingID: id, Rule: "firewall-open-ingress", Title: "Firewall open to the internet", Severity: "HIGH",
		Resource: "//compute.googleapis.com/projects/prod-1/global/firewalls/allow-ssh", Project: "prod-1",
		Evidence: map[string]any{"sourceRanges": []string{"0.0.0.0/0"}}, SCCCategory: "OPEN_SSH_PORT", CIS: []string{"3.6"},
		TerraformAddress: "google_compute_firewall.ssh", File: "envs/prod/firewall.tf", Line: 4}
	return Proposal{
		FindingID: id, Rule: "firewall-open-ingress", Resource: d.Resource,
		Title: "zerodrift: close allow-ssh to the internet", Body: RenderBody(d),
		Files: map[string][]byte{"envs/prod/firewall.tf": []byte(content)},
	}
}

func ensure(t *testing.T, c *Client, p Proposal, want Action) Outcome {
	t.Helper()
	out, err := c.Ensure(ctxFor(t), p)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if out.Action != want {
		t.Fatalf("Ensure = %+v, want %s", out, want)
	}
	return out
}

func TestReadTree(t *testing.T) {
	for _, limit := range []int{0, 2} {
		e := newEnv(t, sandbox.WithGitHub(sandbox.GitHubOptions{Tokens: []string{secret}, TreeLimit: limit}))
		c := e.client(nil)
		fsys, sha, err := c.ReadTree(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		main, _ := e.srv.GitHubCommitOf("main")
		if sha != main.SHA {
			t.Errorf("base SHA = %s, want %s", sha, main.SHA)
		}
		var got []string
		err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				got = append(got, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"envs/dev/network.tf", "envs/prod/firewall.tf", "envs/prod/main.tf", "envs/prod/terraform.tfvars", "terragrunt.hcl"}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: files = %v, want %v", limit, got, want)
		}
		b, err := fs.ReadFile(fsys, "envs/prod/firewall.tf")
		if err != nil || string(b) != firewallTF {
			t.Errorf("firewall.tf = %q, %v", b, err)
		}
		walked := false
		for _, r := range e.srv.GitHubRequests() {
			if r.Route == "git.getTree" && r.Query == "" {
				walked = true
			}
		}
		if walked != (limit > 0) {
			t.Errorf("limit %d: walked folders = %v", limit, walked)
		}
	}
}

func TestEnsureOpensOnceThenWritesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	_, base, err := c.ReadTree(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	p := proposal(findingA, fixedTF)
	p.BaseSHA = base
	out := ensure(t, c, p, ActionOpened)
	if out.Number != 1 || out.Branch != "zerodrift/firewall-open-ingress/01234567" || out.URL == "" || len(out.Warnings) != 0 {
		t.Errorf("outcome = %+v", out)
	}
	prs := e.srv.PullRequests()
	if len(prs) != 1 {
		t.Fatalf("%d pull requests", len(prs))
	}
	pr := prs[0]
	if pr.State != "open" || pr.Draft || pr.Head != out.Branch || pr.Base != "main" || pr.Title != p.Title ||
		!slices.Equal(pr.Labels, []string{"zerodrift", "security"}) || !slices.Equal(pr.Reviewers, []string{"alice"}) ||
		!slices.Equal(pr.TeamReviewers, []string{"netsec"}) {
		t.Errorf("pull request = %+v", pr)
	}
	if m, ok := ParseMarker(pr.Body); !ok || m.Finding != findingA || m.Patch == "" {
		t.Errorf("marker = %+v, %v", m, ok)
	}
	if len(pr.Files) != 1 || pr.Files[0].Path != "envs/prod/firewall.tf" || pr.Files[0].Status != "modified" ||
		pr.Files[0].Additions != 1 || pr.Files[0].Deletions != 1 ||
		!strings.Contains(pr.Files[0].Patch, "-  source_ranges = [\"0.0.0.0/0\"]\n+  source_ranges = [\"35.235.240.0/20\"]") {
		t.Errorf("files = %+v", pr.Files)
	}
	head, _ := e.srv.GitHubCommitOf(out.Branch)
	if !slices.Equal(head.Parents, []string{base}) || !strings.Contains(head.Message, "Zerodrift-Finding: "+findingA) || !head.Verified {
		t.Errorf("branch head = %+v", head)
	}
	got, _ := e.srv.GitHubFile(out.Branch, "envs/prod/firewall.tf")
	if string(got) != fixedTF {
		t.Errorf("file on branch = %q", got)
	}
	if got := e.srv.GitHubLabels(); !slices.Equal(got, []string{"security", "zerodrift"}) {
		t.Errorf("labels = %v", got)
	}

	// The same proposal again: no write at all, from this client or a new one (a new run).
	e.srv.ResetGitHubRequests()
	ensure(t, c, p, ActionUnchanged)
	ensure(t, e.client(nil), p, ActionUnchanged)
	if w := e.writes(); len(w) != 0 {
		t.Errorf("second Ensure wrote: %v", w)
	}
	if len(e.srv.PullRequests()) != 1 {
		t.Error("second Ensure opened another pull request")
	}
}

func TestEnsureRegeneratesWhenBaseMovesOrPatchChanges(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	p := proposal(findingA, fixedTF)
	out := ensure(t, c, p, ActionOpened)
	first := out.HeadSHA

	newBase, err := e.srv.CommitAsHuman("main", map[string][]byte{"envs/prod/main.tf": []byte("terraform { required_version = \">= 1.5\" }\n")}, "pin terraform")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	_, base, err := c.ReadTree(ctxFor(t))
	if err != nil || base != newBase {
		t.Fatalf("ReadTree base = %s, %v", base, err)
	}
	p.BaseSHA = base
	out = ensure(t, c, p, ActionUpdated)
	head, _ := e.srv.GitHubCommitOf(out.Branch)
	if out.HeadSHA == first || head.SHA != out.HeadSHA || !slices.Equal(head.Parents, []string{newBase}) {
		t.Errorf("after the base moved: head %+v, outcome %+v", head, out)
	}
	if w := e.writes(); !slices.Equal(w, []string{"git.createTree", "git.createCommit", "git.updateRef", "pulls.update"}) {
		t.Errorf("writes = %v", w)
	}
	pr := e.pr(1)
	if len(e.srv.PullRequests()) != 1 || pr.State != "open" || len(pr.Files) != 1 || pr.Files[0].Path != "envs/prod/firewall.tf" {
		t.Errorf("pull request = %+v", pr)
	}
	ensure(t, c, p, ActionUnchanged)

	// The patch changes: regenerated, with the new hash in the marker.
	p2 := proposal(findingA, strings.Replace(fixedTF, "35.235.240.0/20", "10.0.0.0/8", 1))
	p2.Title = "zerodrift: close allow-ssh (v2)"
	out = ensure(t, c, p2, ActionUpdated)
	pr = e.pr(1)
	m, _ := ParseMarker(pr.Body)
	if m.Patch != hashFiles(p2.Files, []string{"envs/prod/firewall.tf"}) || pr.Title != p2.Title || pr.HeadSHA != out.HeadSHA {
		t.Errorf("after the patch changed: marker %+v, pr %+v", m, pr)
	}
	got, _ := e.srv.GitHubFile(out.Branch, "envs/prod/firewall.tf")
	if !strings.Contains(string(got), "10.0.0.0/8") {
		t.Errorf("branch file = %q", got)
	}
	e.srv.ResetGitHubRequests()
	ensure(t, c, p2, ActionUnchanged)
	if w := e.writes(); len(w) != 0 {
		t.Errorf("writes after regenerating = %v", w)
	}
}

func TestEnsureStaleProposal(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	_, base, err := c.ReadTree(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	// The base moves, but not the proposal's file: the proposal still applies.
	if _, err := e.srv.CommitAsHuman("main", map[string][]byte{"envs/prod/main.tf": []byte("# x\n")}, ""); err != nil {
		t.Fatal(err)
	}
	p := proposal(findingA, fixedTF)
	p.BaseSHA = base
	ensure(t, c, p, ActionOpened)
	// Someone changes the proposal's file on the base: a proposal computed before is stale.
	if _, err := e.srv.CommitAsHuman("main", map[string][]byte{"envs/prod/firewall.tf": []byte(firewallTF + "# owner: netsec\n")}, ""); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	p2 := proposal(findingB, fixedTF)
	p2.Rule = "other-rule"
	p2.BaseSHA = base
	out := ensure(t, c, p2, ActionStale)
	if !strings.Contains(out.Reason, "envs/prod/firewall.tf") {
		t.Errorf("reason = %q", out.Reason)
	}
	if w := e.writes(); len(w) != 0 {
		t.Errorf("stale Ensure wrote %v", w)
	}
}

func TestEnsureNeverOverwritesAHumanPush(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	p := proposal(findingA, fixedTF)
	out := ensure(t, c, p, ActionOpened)
	human, err := e.srv.CommitAsHuman(out.Branch, map[string][]byte{"envs/prod/firewall.tf": []byte(strings.Replace(fixedTF, "35.235.240.0/20", "35.235.240.0/20\", \"10.1.0.0/16", 1))}, "also allow the VPN")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing changed on zerodrift's side: the human's commit stands, nothing is written.
	e.srv.ResetGitHubRequests()
	ensure(t, c, p, ActionUnchanged)
	if w := e.writes(); len(w) != 0 {
		t.Errorf("writes = %v", w)
	}
	// The base moves: zerodrift would regenerate, but comments instead.
	if _, err := e.srv.CommitAsHuman("main", map[string][]byte{"envs/prod/main.tf": []byte("# moved\n")}, ""); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	out = ensure(t, c, p, ActionCommented)
	if w := e.writes(); !slices.Equal(w, []string{"issues.createComment"}) {
		t.Errorf("writes = %v, want one comment", w)
	}
	head, _ := e.srv.GitHubCommitOf(out.Branch)
	if head.SHA != human {
		t.Errorf("the branch moved from the human's commit to %s", head.SHA)
	}
	pr := e.pr(1)
	if len(pr.Comments) != 1 || !strings.Contains(pr.Comments[0].Body, "never overwrites") || pr.Comments[0].User != sandbox.GitHubBotLogin {
		t.Errorf("comments = %+v", pr.Comments)
	}
	// Once is enough.
	e.srv.ResetGitHubRequests()
	ensure(t, c, p, ActionUnchanged)
	if w := e.writes(); len(w) != 0 {
		t.Errorf("writes after commenting = %v", w)
	}
	// A changed patch is a new reason: one more comment, still no push.
	ensure(t, c, proposal(findingA, strings.Replace(fixedTF, "35.235.240.0/20", "10.0.0.0/8", 1)), ActionCommented)
	if head, _ := e.srv.GitHubCommitOf(out.Branch); head.SHA != human || len(e.pr(1).Comments) != 2 {
		t.Errorf("after a changed patch: head %s, %d comments", head.SHA, len(e.pr(1).Comments))
	}
}

func TestEnsureDeclinedMergedAndCoolOff(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(cfg *Config) { cfg.CoolOff = time.Hour })
	p := proposal(findingA, fixedTF)
	ensure(t, c, p, ActionOpened)
	if err := e.srv.ClosePullRequest(1); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	out := ensure(t, c, p, ActionDeclined)
	if out.Number != 1 || len(e.writes()) != 0 || e.pr(1).State != "closed" || len(e.srv.PullRequests()) != 1 {
		t.Errorf("declined: %+v, writes %v", out, e.writes())
	}
	// Forever without a cool-off.
	ensure(t, e.client(func(cfg *Config) { cfg.Now = func() time.Time { return time.Now().Add(1000 * time.Hour) } }), p, ActionDeclined)
	// Past the cool-off, the fix is proposed anew, on the same branch.
	later := e.client(func(cfg *Config) {
		cfg.CoolOff = time.Hour
		cfg.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	})
	out = ensure(t, later, p, ActionOpened)
	if out.Number != 2 || e.pr(1).State != "closed" || e.pr(2).State != "open" {
		t.Errorf("after the cool-off: %+v", out)
	}
	if _, err := e.srv.MergePullRequest(2); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	out = ensure(t, c, p, ActionMerged)
	if out.Number != 2 || len(e.writes()) != 0 {
		t.Errorf("merged: %+v, writes %v", out, e.writes())
	}
	got, _ := e.srv.GitHubFile("main", "envs/prod/firewall.tf")
	if string(got) != fixedTF {
		t.Errorf("main after the merge = %q", got)
	}
}

func TestEnsureConflicts(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	p := proposal(findingA, fixedTF)
	branch := BranchName(p.Rule, p.FindingID)
	// A person's branch of the same name, without a pull request.
	if err := createBranch(e, branch); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetGitHubRequests()
	out := ensure(t, c, p, ActionConflict)
	if !strings.Contains(out.Reason, "commits zerodrift did not make") {
		t.Errorf("reason = %q", out.Reason)
	}
	// A pull request on the branch without zerodrift's marker.
	if _, err := e.srv.CreatePullRequest(branch, "main", "a person's change", "no marker here"); err != nil {
		t.Fatal(err)
	}
	out = ensure(t, c, p, ActionConflict)
	if !strings.Contains(out.Reason, "no zerodrift marker") {
		t.Errorf("reason = %q", out.Reason)
	}
	for _, w := range e.writes() {
		t.Errorf("conflict wrote %s", w)
	}
}

// createBranch makes a branch holding a person's commit on main.
func createBranch(e *env, branch string) error {
	c := e.client(nil)
	ctx := ctxFor(e.t)
	head, err := c.branchHead(ctx, "main")
	if err != nil {
		return err
	}
	if err := c.createRef(ctx, branch, head); err != nil {
		return err
	}
	_, err = e.srv.CommitAsHuman(branch, map[string][]byte{"envs/prod/firewall.tf": []byte("# mine\n")}, "mine")
	return err
}

func TestEnsureBaseAlreadyHoldsTheChange(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	e.srv.ResetGitHubRequests()
	out := ensure(t, c, proposal(findingA, firewallTF), ActionUnchanged)
	if !strings.Contains(out.Reason, "already holds") || len(e.writes()) != 0 {
		t.Errorf("outcome %+v, writes %v", out, e.writes())
	}
}

func TestEnsureDeletesAndBinaryFiles(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	p := proposal(findingA, fixedTF)
	p.Files["envs/dev/network.tf"] = nil
	p.Files["envs/prod/blob.bin"] = []byte{0xff, 0x00, 0xfe}
	ensure(t, c, p, ActionOpened)
	status := map[string]string{}
	for _, f := range e.pr(1).Files {
		status[f.Path] = f.Status
	}
	want := map[string]string{"envs/dev/network.tf": "removed", "envs/prod/blob.bin": "added", "envs/prod/firewall.tf": "modified"}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Errorf("files = %v, want %v", status, want)
	}
	got, _ := e.srv.GitHubFile(BranchName(p.Rule, p.FindingID), "envs/prod/blob.bin")
	if string(got) != "\xff\x00\xfe" {
		t.Errorf("binary file = %q", got)
	}
	e.srv.ResetGitHubRequests()
	ensure(t, c, p, ActionUnchanged)
	if len(e.writes()) != 0 {
		t.Errorf("writes = %v", e.writes())
	}
}

func TestCloseObsolete(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	a := ensure(t, c, proposal(findingA, fixedTF), ActionOpened)
	pb := proposal(findingB, fixedTF)
	pb.Rule = "firewall-open-rdp"
	b := ensure(t, c, pb, ActionOpened)
	pc := proposal("00000000cccccccc", fixedTF)
	pc.Rule = "firewall-logging"
	cc := ensure(t, c, pc, ActionOpened)
	// A person pushed to C's branch; someone else's pull request is not zerodrift's.
	if _, err := e.srv.CommitAsHuman(cc.Branch, map[string][]byte{"notes.tf": []byte("# keep\n")}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.CommitAsHuman("main", map[string][]byte{"other.tf": []byte("x\n")}, ""); err != nil {
		t.Fatal(err)
	}
	outs, err := c.CloseObsolete(ctxFor(t), func(m Marker) bool { return m.Finding == findingA })
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].FindingID != findingB && outs[1].FindingID != findingB {
		t.Fatalf("outcomes = %+v", outs)
	}
	branches := e.srv.GitHubBranches()
	if _, ok := branches[b.Branch]; ok {
		t.Error("B's branch was not deleted")
	}
	if _, ok := branches[cc.Branch]; !ok {
		t.Error("C's branch, with a person's commit, was deleted")
	}
	if _, ok := branches[a.Branch]; !ok {
		t.Error("A's branch was deleted")
	}
	for _, o := range outs {
		if o.Action != ActionClosed {
			t.Errorf("outcome = %+v", o)
		}
		if o.FindingID == "00000000cccccccc" && len(o.Warnings) != 1 {
			t.Errorf("C's outcome has no warning: %+v", o)
		}
	}
	if pr := e.pr(a.Number); pr.State != "open" {
		t.Error("A was closed")
	}
	for _, n := range []int{b.Number, cc.Number} {
		pr := e.pr(n)
		if pr.State != "closed" || pr.Merged || len(pr.Comments) != 1 || !strings.Contains(pr.Comments[0].Body, "no longer reported") {
			t.Errorf("#%d = %+v", n, pr)
		}
	}
	// Closed stays closed: B is declined now, and a second CloseObsolete does nothing.
	e.srv.ResetGitHubRequests()
	outs, err = c.CloseObsolete(ctxFor(t), func(m Marker) bool { return m.Finding == findingA })
	if err != nil || len(outs) != 0 || len(e.writes()) != 0 {
		t.Errorf("second CloseObsolete = %v, %v, writes %v", outs, err, e.writes())
	}
	ensure(t, c, pb, ActionDeclined)
}

func TestMaxPRsPerRun(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(cfg *Config) { cfg.MaxPRsPerRun = 1 })
	pa := proposal(findingA, fixedTF)
	ensure(t, c, pa, ActionOpened)
	pb := proposal(findingB, fixedTF)
	pb.Rule = "firewall-open-rdp"
	e.srv.ResetGitHubRequests()
	out := ensure(t, c, pb, ActionSkippedLimit)
	if out.Number != 0 || len(e.writes()) != 0 || len(e.srv.PullRequests()) != 1 {
		t.Errorf("past the limit: %+v, writes %v", out, e.writes())
	}
	// Existing pull requests are still kept up to date.
	ensure(t, c, pa, ActionUnchanged)
	if c.Opened() != 1 {
		t.Errorf("Opened() = %d", c.Opened())
	}
	// The next run has a fresh allowance.
	out = ensure(t, e.client(func(cfg *Config) {
		cfg.MaxPRsPerRun = 1
		cfg.Draft = true
	}), pb, ActionOpened)
	if pr := e.pr(out.Number); !pr.Draft {
		t.Error("the pull request is not a draft")
	}
}

func TestRateLimitsAreWaitedOut(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	for _, f := range []sandbox.GitHubFault{
		{Route: "pulls.create", Status: 403, RetryAfter: time.Second},
		{Route: "git.createTree", Status: 429, RetryAfter: time.Second},
		{Route: "git.getCommit", Status: 502, Times: 2},
		{Route: "issues.addLabels", Status: 422, Times: 2},
	} {
		if err := e.srv.InjectGitHubFault(f); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	out := ensure(t, c, proposal(findingA, fixedTF), ActionOpened)
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("Ensure took %v: the Retry-After waits were not honoured", took)
	}
	if n := e.srv.PendingGitHubFaults(); n != 0 {
		t.Errorf("%d faults not met", n)
	}
	if len(out.Warnings) != 0 || !slices.Equal(e.pr(1).Labels, []string{"zerodrift", "security"}) {
		t.Errorf("labels after 422s: %v, warnings %v", e.pr(1).Labels, out.Warnings)
	}
	if len(e.srv.PullRequests()) != 1 {
		t.Errorf("%d pull requests", len(e.srv.PullRequests()))
	}
	retries := 0
	for _, entry := range e.logs.FilterMessage("github call to retry").All() {
		if entry.Level == zap.WarnLevel {
			retries++
		}
	}
	if retries != 4 {
		t.Errorf("%d retries logged, want 4", retries)
	}

	// A wait longer than allowed fails at once.
	if err := e.srv.InjectGitHubFault(sandbox.GitHubFault{Route: "pulls.list", Status: 429, RetryAfter: time.Minute}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	_, err := c.Ensure(ctxFor(t), proposal(findingA, fixedTF))
	if err == nil || !strings.Contains(err.Error(), "more than the 5s allowed") || time.Since(start) > time.Second {
		t.Errorf("long rate limit: %v after %v", err, time.Since(start))
	}
	if strings.Contains(err.Error(), secret) {
		t.Error("the error holds the token")
	}
	// Context cancellation ends a wait.
	if err := e.srv.InjectGitHubFault(sandbox.GitHubFault{Route: "pulls.list", Status: 403, RetryAfter: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Ensure(ctx, proposal(findingA, fixedTF)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestWritesAreSerialized(t *testing.T) {
	e := newEnv(t)
	c := e.client(func(cfg *Config) { cfg.WriteInterval = 20 * time.Millisecond })
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := proposal(fmt.Sprintf("%016x", i+1), fixedTF)
			p.Rule = fmt.Sprintf("rule-%d", i)
			out, err := c.Ensure(ctxFor(t), p)
			if err == nil && out.Action != ActionOpened {
				err = fmt.Errorf("outcome %+v", out)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if len(e.srv.PullRequests()) != 4 {
		t.Errorf("%d pull requests", len(e.srv.PullRequests()))
	}
}

func TestDuplicatePullRequestRace(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	p := proposal(findingA, fixedTF)
	p.PatchHash = "patch-1"
	branch := BranchName(p.Rule, p.FindingID)
	var once sync.Once
	e.srv.SetGitHubHook(func(route string) {
		if route != "pulls.create" {
			return
		}
		once.Do(func() {
			// Another replica opens the same pull request first.
			if _, err := e.srv.CreatePullRequest(branch, "main", p.Title, withMarker(p.Body, Marker{Finding: findingA, Patch: "patch-1"})); err != nil {
				t.Error(err)
			}
		})
	})
	out := ensure(t, c, p, ActionUnchanged)
	if out.Number != 1 || len(e.srv.PullRequests()) != 1 {
		t.Errorf("outcome = %+v, %d pull requests", out, len(e.srv.PullRequests()))
	}
	created422 := false
	for _, r := range e.srv.GitHubRequests() {
		if r.Route == "pulls.create" && r.Status == 422 {
			created422 = true
		}
	}
	if !created422 {
		t.Error("the race did not happen")
	}
}

func TestHostileProposal(t *testing.T) {
	e := newEnv(t)
	c := e.client(nil)
	d := BodyData{FindingID: findingA, Rule: hostile, Title: hostile, Resource: hostile, Evidence: map[string]any{"name": hostile}}
	p := Proposal{FindingID: findingA, Rule: "../../" + hostile, Title: hostile, Body: RenderBody(d),
		Files: map[string][]byte{"envs/prod/firewall.tf": []byte(fixedTF)}}
	out := ensure(t, c, p, ActionOpened)
	if !branchRE.MatchString(out.Branch) {
		t.Errorf("branch = %q", out.Branch)
	}
	pr := e.pr(1)
	if strings.ContainsAny(pr.Title, "\n\r\u202e") || len([]rune(pr.Title)) > maxTitleRunes {
		t.Errorf("title = %q", pr.Title)
	}
	if m, ok := ParseMarker(pr.Body); !ok || m.Finding != findingA {
		t.Errorf("marker = %+v", m)
	}
	if strings.Count(pr.Body, "\n"+markerPrefix) != 1 {
		t.Errorf("body has %d marker lines", strings.Count(pr.Body, "\n"+markerPrefix))
	}
	head, _ := e.srv.GitHubCommitOf(out.Branch)
	if strings.Contains(head.Message, "@") || strings.Contains(head.Message, "<") {
		t.Errorf("commit message carries cloud text: %q", head.Message)
	}
	for _, bad := range []Proposal{
		{FindingID: "../x", Rule: "r", Files: p.Files},
		{FindingID: findingA, Rule: "r", Files: map[string][]byte{"../etc/passwd": nil}},
		{FindingID: findingA, Rule: "r", Files: map[string][]byte{"/abs.tf": nil}},
		{FindingID: findingA, Rule: "r", Files: map[string][]byte{".git/config": nil}},
		{FindingID: findingA, Rule: "r"},
		{FindingID: findingA, Rule: "r", Files: p.Files, PatchHash: "a b"},
	} {
		if _, err := c.Ensure(ctxFor(t), bad); err == nil {
			t.Errorf("Ensure accepted %+v", bad)
		}
	}
}

func TestCredentialsStayOnTheAPIHost(t *testing.T) {
	e := newEnv(t)
	u, _ := url.Parse(e.url)
	other := "http://localhost:" + u.Port()
	const path = "/api/v3/repos/acme/infra/git/ref/heads/main"
	if err := e.srv.RedirectGitHub(path, other+path); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctxFor(t), e.config(), e.log)
	if err == nil || !strings.Contains(err.Error(), "refusing a redirect to another host") {
		t.Errorf("New through a cross-host redirect: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), secret) {
		t.Error("the error holds the token")
	}
	// The transport strips credentials from any request to another host.
	if err := e.srv.RedirectGitHub(path, ""); err != nil {
		t.Fatal(err)
	}
	c := e.client(nil)
	req, _ := c.gh.NewRequest("GET", other+path, nil)
	if _, err := c.gh.Do(ctxFor(t), req, nil); err == nil {
		t.Error("an unauthenticated request to the other host succeeded")
	}
	last := e.srv.GitHubRequests()
	if r := last[len(last)-1]; r.Host != "localhost:"+u.Port() || r.AuthScheme != "" {
		t.Errorf("request to the other host = %+v", r)
	}
	// checkNoSecretLogged (at cleanup) checks every request's host.
}

func TestTokenNeverInErrors(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Token = secret + "x"
	_, err := New(ctxFor(t), cfg, e.log)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "401") {
		t.Errorf("bad token: %v", err)
	}
	for _, bad := range []Config{
		{Repository: "acme/infra", Token: secret, APIURL: "http://user:" + secret + "@127.0.0.1:1"},
		{Repository: "acme/infra", Token: secret + "\n"},
		{Repository: "acme/infra", Token: secret, APIURL: "http://github.internal.example"},
		{Repository: "acme", Token: secret},
		{Repository: "acme/infra"},
		{Repository: "acme/infra", Token: secret, App: &App{ID: 1}},
		{Repository: "acme/infra", App: &App{ID: 1, InstallationID: 2, PrivateKeyPEM: []byte(secret)}},
	} {
		_, err := New(ctxFor(t), bad, e.log)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("New(%+v) = %v", bad.APIURL, err)
		}
	}
	// An error whose text would hold the token is scrubbed.
	c := e.client(nil)
	if got := c.scrub(fmt.Errorf("wrapped: %w", errors.New("x "+secret))); strings.Contains(got.Error(), secret) {
		t.Errorf("scrub = %v", got)
	}
}

func TestGitHubApp(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, sandbox.WithGitHub(sandbox.GitHubOptions{App: &sandbox.GitHubApp{ID: 42, InstallationID: 7, PublicKey: &key.PublicKey}}))
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	c := e.client(func(cfg *Config) {
		cfg.Token = ""
		cfg.App = &App{ID: 42, InstallationID: 7, PrivateKeyPEM: pemKey}
	})
	out := ensure(t, c, proposal(findingA, fixedTF), ActionOpened)
	head, _ := e.srv.GitHubCommitOf(out.Branch)
	if !head.Verified || head.AuthorName != sandbox.GitHubBotLogin {
		t.Errorf("App commit = %+v", head)
	}
	ensure(t, c, proposal(findingA, fixedTF), ActionUnchanged)
	// A configured author is used and recognised.
	c2 := e.client(func(cfg *Config) {
		cfg.Token = ""
		cfg.App = &App{ID: 42, InstallationID: 7, PrivateKeyPEM: pemKey}
		cfg.CommitAuthor = &Author{Name: "zerodrift", Email: "zerodrift@acme.example"}
	})
	pb := proposal(findingB, fixedTF)
	pb.Rule = "x"
	out = ensure(t, c2, pb, ActionOpened)
	head, _ = e.srv.GitHubCommitOf(out.Branch)
	if head.AuthorEmail != "zerodrift@acme.example" {
		t.Errorf("authored commit = %+v", head)
	}
	ensure(t, c2, pb, ActionUnchanged)
}
