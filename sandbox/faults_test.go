package sandbox

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"github.com/google/go-github/v60/github"
)

func TestFaultErrors(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithFaults(Faults{Seed: 1, ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable, RetryAfter: 1500 * time.Millisecond}))
	c := newClients(t, url)
	ctx := testContext(t)
	// Patch is not retried by the client, so the 503 reaches the caller.
	_, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world", FirewallResource: &computepb.Firewall{}})
	ge := googleErr(t, err, http.StatusServiceUnavailable)
	if ge.Header.Get("Retry-After") != "2" || ge.Errors[0].Reason != "backendError" {
		t.Errorf("injected error = %v, header %v", ge, ge.Header)
	}
	_, err = c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
	googleErr(t, err, http.StatusServiceUnavailable)

	// 429, limited to one method.
	if err := srv.SetFaults(Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, Match: func(service, method string) bool {
		return service == ServiceIAM && method == "projects.serviceAccounts.keys.list"
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do(); err != nil {
		t.Errorf("unmatched call failed: %v", err)
	}
	_, err = c.iam.Projects.ServiceAccounts.Keys.List("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
	googleErr(t, err, http.StatusTooManyRequests)

	want := []CallCount{
		{Service: ServiceCompute, Method: "firewalls.patch", Status: 503, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.get", Status: 200, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.get", Status: 503, Count: 1},
		{Service: ServiceIAM, Method: "projects.serviceAccounts.keys.list", Status: 429, Count: 1},
	}
	if got := srv.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() = %+v, want %+v", got, want)
	}
	srv.ResetCalls()
	if got := srv.Calls(); len(got) != 0 {
		t.Errorf("Calls() after reset = %+v", got)
	}
	if err := srv.SetFaults(Faults{ErrorRate: 2}); err == nil {
		t.Error("SetFaults accepted an error rate of 2")
	}
}

func TestFaultsRetriedByClient(t *testing.T) {
	// The compute client retries GET on 503: with half the gets failing, every Get still
	// succeeds, and the failures show in Calls.
	srv, url := start(t, loadBasic(t), WithFaults(Faults{Seed: 3, ErrorRate: 0.5, Match: func(_, method string) bool {
		return method == "firewalls.get"
	}}))
	c := newClients(t, url)
	ctx := testContext(t)
	for range 6 {
		if _, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-internal"}); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	if ok, failed := callCount(srv, ServiceCompute, "firewalls.get", 200), callCount(srv, ServiceCompute, "firewalls.get", 503); ok != 6 || failed == 0 {
		t.Errorf("firewalls.get: %d ok, %d failed; want 6 ok and some failed", ok, failed)
	}
}

func TestFaultsDeterministic(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	outcomes := func() []bool {
		if err := srv.SetFaults(Faults{Seed: 42, ErrorRate: 0.5}); err != nil {
			t.Fatal(err)
		}
		var out []bool
		for range 16 {
			_, err := c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
			out = append(out, err == nil)
		}
		return out
	}
	first, second := outcomes(), outcomes()
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different outcomes: %v and %v", first, second)
	}
	if !slices.Contains(first, true) || !slices.Contains(first, false) {
		t.Errorf("outcomes at rate 0.5 = %v", first)
	}
}

func TestFaultLatency(t *testing.T) {
	_, url := start(t, loadBasic(t), WithFaults(Faults{Latency: 150 * time.Millisecond}))
	c := newClients(t, url)
	begin := time.Now()
	if _, err := c.firewalls.Get(testContext(t), &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-internal"}); err != nil {
		t.Fatalf("get: %v", err)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("get took %v, want at least the injected 150ms", d)
	}
}

func TestFaultEtagConflict(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithFaults(Faults{EtagConflicts: 2}))
	c := newClients(t, url)
	ctx := testContext(t)
	res := "projects/" + prodID
	read := func() *iampb.Policy {
		t.Helper()
		p, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
		if err != nil {
			t.Fatalf("getIamPolicy: %v", err)
		}
		return p
	}
	add := func(p *iampb.Policy) error {
		p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/browser", Members: []string{"user:dave@example.com"}})
		_, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: p})
		return err
	}
	googleErr(t, add(read()), http.StatusConflict)
	if n := srv.Faults().EtagConflicts; n != 1 {
		t.Errorf("etag conflicts left = %d", n)
	}
	// Re-read: the concurrent writer's binding is there. The writer strikes again, granting
	// nothing new, and the second retry keeps its binding.
	again := read()
	if !hasMember(again, ConcurrentWriterRole, ConcurrentWriterMember) {
		t.Fatalf("policy after the conflict lacks the concurrent writer: %v", again)
	}
	googleErr(t, add(again), http.StatusConflict)
	if err := add(read()); err != nil {
		t.Fatalf("retry: %v", err)
	}
	final := read()
	if !hasMember(final, ConcurrentWriterRole, ConcurrentWriterMember) || !hasMember(final, "roles/browser", "user:dave@example.com") {
		t.Errorf("final policy = %v", final)
	}
	writer := 0
	for _, b := range final.GetBindings() {
		writer += len(slices.DeleteFunc(slices.Clone(b.GetMembers()), func(m string) bool { return m != ConcurrentWriterMember }))
	}
	if writer != 1 {
		t.Errorf("the concurrent writer is granted %d times after two conflicts: %v", writer, final.GetBindings())
	}
	if got := srv.ConcurrentWrites(); len(got) != 1 || !strings.HasSuffix(got[0], "/projects/"+prodNumber) {
		t.Errorf("ConcurrentWrites() = %v", got)
	}
	want := []FaultCount{{Kind: FaultEtagConflict, Service: ServiceResourceManager, Method: "projects.setIamPolicy", Count: 2}}
	if got := srv.InjectedFaults(); !slices.Equal(got, want) {
		t.Errorf("InjectedFaults() = %+v, want %+v", got, want)
	}
	srv.ResetInjectedFaults()
	if len(srv.ConcurrentWrites()) != 0 || len(srv.InjectedFaults()) != 0 {
		t.Error("ResetInjectedFaults kept something")
	}
}

func hasMember(p *iampb.Policy, role, member string) bool {
	for _, b := range p.GetBindings() {
		if b.GetRole() == role && slices.Contains(b.GetMembers(), member) {
			return true
		}
	}
	return false
}

func TestFaultSlowCallsTimeOutAndStartAfter(t *testing.T) {
	get := func(ctx context.Context, c *clients) error {
		_, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-internal"})
		return err
	}
	srv, url := start(t, loadBasic(t), WithFaults(Faults{SlowCalls: 1, SlowLatency: time.Minute, StartAfter: 1,
		Match: func(_, method string) bool { return method == "firewalls.get" }}))
	c := newClients(t, url)
	ctx := testContext(t)
	// The first call is let through, the second outlasts its client's timeout, the third
	// is answered at once.
	if err := get(ctx, c); err != nil {
		t.Fatalf("first get: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := get(short, c); err == nil {
		t.Fatal("a call slowed by a minute answered within 100ms")
	}
	begin := time.Now()
	if err := get(ctx, c); err != nil || time.Since(begin) > 10*time.Second {
		t.Fatalf("third get: %v after %v", err, time.Since(begin))
	}
	// The server notices the client leave; wait for it to count the timeout.
	deadline := time.Now().Add(10 * time.Second)
	for callCount(srv, ServiceCompute, "firewalls.get", statusClientClosed) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	want := []FaultCount{{Kind: FaultTimeout, Service: ServiceCompute, Method: "firewalls.get", Count: 1}}
	if got := srv.InjectedFaults(); !slices.Equal(got, want) {
		t.Errorf("InjectedFaults() = %+v, want %+v", got, want)
	}
	if left := srv.Faults(); left.SlowCalls != 0 || left.StartAfter != 0 {
		t.Errorf("faults left: %+v", left)
	}

	// A burst after two calls: the third and fourth fail, the fifth passes.
	if err := srv.SetFaults(Faults{FailCalls: 2, StartAfter: 2, ErrorStatus: http.StatusInternalServerError}); err != nil {
		t.Fatal(err)
	}
	srv.ResetInjectedFaults()
	var outcomes []bool
	for range 5 {
		_, err := c.iam.Projects.ServiceAccounts.Get("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do()
		outcomes = append(outcomes, err == nil)
	}
	if !slices.Equal(outcomes, []bool{true, true, false, false, true}) {
		t.Errorf("outcomes = %v, want the third and fourth calls to fail", outcomes)
	}
	want = []FaultCount{{Kind: FaultError, Service: ServiceIAM, Method: "projects.serviceAccounts.get", Count: 2}}
	if got := srv.InjectedFaults(); !slices.Equal(got, want) {
		t.Errorf("InjectedFaults() = %+v, want %+v", got, want)
	}
	for _, bad := range []Faults{{SlowCalls: -1}, {SlowRate: 1.5}, {StartAfter: -1}, {SlowLatency: -time.Second}} {
		if err := srv.SetFaults(bad); err == nil {
			t.Errorf("SetFaults(%+v) accepted", bad)
		}
	}
}

// A pull request whose answer is lost is there all the same: the client's retry meets
// GitHub's 422 for a duplicate.
func TestGitHubLostAnswerAndSkip(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)
	const branch = "zerodrift/lost/1"
	if _, err := srv.CommitAsHuman("main", map[string][]byte{"x.tf": []byte("x\n")}, ""); err != nil {
		t.Fatal(err)
	}
	ref, _, err := gh.Git.GetRef(ctx, "acme", "infra", "heads/main")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Git.CreateRef(ctx, "acme", "infra", &github.Reference{Ref: github.String("refs/heads/" + branch), Object: ref.Object}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.CommitAsHuman(branch, map[string][]byte{"envs/prod/firewall.tf": []byte("fixed\n")}, "fix"); err != nil {
		t.Fatal(err)
	}
	// The first pulls.list passes, the second fails; the pull request's answer is lost.
	for _, f := range []GitHubFault{{Route: "pulls.list", Status: http.StatusServiceUnavailable, Skip: 1},
		{Route: "pulls.create", Status: http.StatusBadGateway, AfterServing: true}} {
		if err := srv.InjectGitHubFault(f); err != nil {
			t.Fatal(err)
		}
	}
	list := func() error {
		_, _, err := gh.PullRequests.List(ctx, "acme", "infra", nil)
		return err
	}
	if err := list(); err != nil {
		t.Fatalf("first list: %v", err)
	}
	ghStatus(t, list(), http.StatusServiceUnavailable)
	np := &github.NewPullRequest{Title: github.String("fix"), Head: github.String(branch), Base: github.String("main")}
	_, _, err = gh.PullRequests.Create(ctx, "acme", "infra", np)
	ghStatus(t, err, http.StatusBadGateway)
	if prs := srv.PullRequests(); len(prs) != 1 || prs[0].Head != branch || prs[0].State != "open" {
		t.Fatalf("after the lost answer: %+v", prs)
	}
	_, _, err = gh.PullRequests.Create(ctx, "acme", "infra", np)
	if er := ghStatus(t, err, http.StatusUnprocessableEntity); len(er.Errors) != 1 || er.Errors[0].Code != "custom" ||
		er.Errors[0].Message != "A pull request already exists for acme:"+branch+"." || er.Message != "Validation Failed" {
		t.Errorf("the retry's answer = %+v", er)
	}
	want := []FaultCount{
		{Kind: FaultGitHub, Service: ServiceGitHub, Method: "pulls.list", Count: 1},
		{Kind: FaultLostAnswer, Service: ServiceGitHub, Method: "pulls.create", Count: 1},
	}
	if got := srv.InjectedFaults(); !slices.Equal(got, want) {
		t.Errorf("InjectedFaults() = %+v, want %+v", got, want)
	}
	if err := srv.InjectGitHubFault(GitHubFault{Status: 500, Skip: -1}); err == nil {
		t.Error("a negative skip was accepted")
	}
}

func TestFaultProfiles(t *testing.T) {
	names := FaultProfiles()
	for _, want := range []string{"5xx-burst", "rate-limited", "timeouts", "etag-conflicts", "failing-operations",
		"github-secondary-rate-limit", "github-duplicate-pr", "github-truncated-tree", "chaos"} {
		if !slices.Contains(names, want) {
			t.Errorf("FaultProfiles() = %v, lacks %s", names, want)
		}
	}
	for _, name := range names {
		summaries := map[string]bool{}
		for seed := range int64(20) {
			p, err := FaultProfile(name, seed)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := FaultProfile(name, seed)
			if p.Summary != again.Summary || !slices.Equal(p.GitHub, again.GitHub) || p.TreeLimit != again.TreeLimit ||
				p.Name != name || p.Seed != seed || p.Faults.Seed != seed {
				t.Errorf("%s seed %d: two calls differ: %+v and %+v", name, seed, p, again)
			}
			if p.Summary == "" || p.Faults.validate() != nil {
				t.Errorf("%s seed %d: %+v", name, seed, p)
			}
			if _, err := New(loadBasic(t), WithFaultProfile(p)); err != nil {
				t.Errorf("%s seed %d: %v", name, seed, err)
			}
			summaries[p.Summary] = true
		}
		if len(summaries) < 2 {
			t.Errorf("%s: every seed gives %v", name, summaries)
		}
	}
	_, err := FaultProfile("earthquake", 1)
	if err == nil || !strings.Contains(err.Error(), `"earthquake"`) || !strings.Contains(err.Error(), strings.Join(names, ", ")) {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestSetFaultProfile(t *testing.T) {
	srv, base := start(t, iacScenario(t))
	gh := ghClient(t, base, DefaultGitHubToken)
	ctx := testContext(t)
	p, err := FaultProfile("github-truncated-tree", 3)
	if err != nil {
		t.Fatal(err)
	}
	p.TreeLimit = 2
	p.GitHub = []GitHubFault{{Route: "repos.get", Status: http.StatusBadGateway}}
	p.Faults = Faults{EtagConflicts: 1}
	if err := srv.SetFaultProfile(p); err != nil {
		t.Fatal(err)
	}
	tree, _, err := gh.Git.GetTree(ctx, "acme", "infra", "main", true)
	if err != nil || !tree.GetTruncated() || len(tree.Entries) != 2 {
		t.Fatalf("tree under the profile = %v, %v", tree, err)
	}
	// The truncation is counted as a fault, for the soak's figures.
	truncatedTree := []FaultCount{{Kind: FaultTruncatedTree, Service: ServiceGitHub, Method: "git.getTree", Count: 1}}
	if got := srv.InjectedFaults(); !slices.Equal(got, truncatedTree) {
		t.Errorf("injected faults %+v, want %+v", got, truncatedTree)
	}
	if srv.PendingGitHubFaults() != 1 || srv.Faults().EtagConflicts != 1 {
		t.Errorf("pending GitHub faults %d, faults %+v", srv.PendingGitHubFaults(), srv.Faults())
	}
	// The zero profile takes everything away.
	if err := srv.SetFaultProfile(Profile{}); err != nil {
		t.Fatal(err)
	}
	tree, _, err = gh.Git.GetTree(ctx, "acme", "infra", "main", true)
	if err != nil || tree.GetTruncated() {
		t.Fatalf("tree after the profile = %v, %v", tree, err)
	}
	if got := srv.InjectedFaults(); !slices.Equal(got, truncatedTree) {
		t.Errorf("after the profile, injected faults %+v, want still %+v", got, truncatedTree)
	}
	if _, _, err := gh.Repositories.Get(ctx, "acme", "infra"); err != nil || srv.Faults().EtagConflicts != 0 {
		t.Errorf("after the zero profile: %v, faults %+v", err, srv.Faults())
	}
	for _, bad := range []Profile{{TreeLimit: -1}, {GitHub: []GitHubFault{{Status: 200}}}, {Faults: Faults{ErrorRate: 2}}} {
		if err := srv.SetFaultProfile(bad); err == nil {
			t.Errorf("SetFaultProfile(%+v) accepted", bad)
		}
	}
}
