package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/pullrequest"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/sandbox"
)

// The fault soak runs the full cycle (scan, fix live, open pull requests, verify) many
// times, each against a fresh sandbox injecting one named fault profile with its own seed
// (sandbox.FaultProfile), then once more without faults to settle what the faults left
// undone. After each run it checks what no fault may break: no IAM binding lost, no
// duplicate pull request, every live change with an outcome, every finding fixed, proposed,
// reported or exempt with a reason, and retries within the clients' budgets.
//
// It makes defaultSoakRuns runs; ZERODRIFT_SOAK_RUNS=200 makes the nightly soak. A run is a
// subtest named NNN-PROFILE-seedS, so one run can be repeated alone with -run.
// TestFaultSoakAuditConfigConflicts (soak_audit_test.go) makes runs with the same checks,
// its etag conflicts aimed at iam.setAuditConfig, which the profiles do not reach.

const (
	soakRunsEnv     = "ZERODRIFT_SOAK_RUNS"
	defaultSoakRuns = 12 // every profile at least once, in well under a minute with -race
)

// The clients' retry settings in the soak: short waits, attempt timeouts shorter than the
// calls the timeouts profile slows, and room for the profiles' Retry-After.
var (
	soakRetry = inventory.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond,
		MaxDelay: 2 * sandbox.ProfileRetryAfter, AttemptTimeout: sandbox.ProfileSlowLatency * 3 / 5}
	soakSettings = remediators.Settings{PollInterval: time.Millisecond, ConflictBackoff: time.Millisecond,
		ConflictRetries: remediators.DefaultConflictRetries, OperationTimeout: 10 * time.Second}
	soakGitHubTimeout = sandbox.ProfileSlowLatency * 3 / 5
)

// The pull-request client's budgets (package pullrequest keeps them unexported).
const (
	// githubAttempts bounds the attempts of one GitHub call (maxAttempts in retry.go).
	githubAttempts = 5
	// githubRepeats bounds how often one Ensure makes the same calls: it reads the branch
	// and pull request again, once, when GitHub answers that one already exists.
	githubRepeats = 2
)

// soakConfig is the cycle's configuration with an exemption, so that every kind of
// decision is made.
const soakConfig = cycleConfig + `exemptions:
  - resource: //compute.googleapis.com/projects/acme-prod/global/firewalls/allow-mysql-v6
    rules: [firewall-open-ingress]
    reason: replica seeding until the migration ends
    owner: dba@acme.example
    expires: 2027-06-30
`

// soakRuns is the runs a soak test makes: ZERODRIFT_SOAK_RUNS when set, def otherwise.
func soakRuns(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv(soakRunsEnv)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number of runs", soakRunsEnv, v)
	}
	return n
}

func TestFaultSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault soak runs the cycle many times")
	}
	start := time.Now()
	runs := soakRuns(t, defaultSoakRuns)
	sc := cycleScenario(t)
	names := sandbox.FaultProfiles()
	baselines := map[baselineKey]*soakBaseline{}
	fig := newSoakFigures()
	for i := range runs {
		name, seed := names[i%len(names)], int64(i+1)
		p, err := sandbox.FaultProfile(name, seed)
		if err != nil {
			t.Fatal(err)
		}
		key := baselineKey{truncated: p.TreeLimit > 0, polls: p.Faults.PendingOperationPolls}
		if baselines[key] == nil {
			baselines[key] = runBaseline(t, sc, key)
		}
		t.Run(fmt.Sprintf("%03d-%s-seed%d", i, name, seed), func(t *testing.T) {
			soakOnce(t, newSoakFixture(t, sc, nil), p, baselines[key], fig, soakChecks{})
		})
	}
	fig.report(t, time.Since(start))
}

// soakFixture is the engine fixture with what the soak reads besides: the logs (at debug
// level, where the live source logs its retries) and the live actions' retries.
type soakFixture struct {
	*fixture
	logs       *observer.ObservedLogs
	fixRetries *retryCounter
}

// newSoakFixture wires the engine for the soak. wrap, when set, wraps the live actions'
// transports inside the retry counter, next to the sandbox.
func newSoakFixture(t *testing.T, sc *sandbox.Scenario, wrap inventory.TransportWrapper) *soakFixture {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	rc := &retryCounter{}
	wrapAll := rc.wrap
	if wrap != nil {
		wrapAll = func(service string, next http.RoundTripper) http.RoundTripper {
			return rc.wrap(service, wrap(service, next))
		}
	}
	f := newFixtureOpts(t, sc, soakConfig, fixtureOptions{prs: true, log: zap.New(core), settings: soakSettings,
		retry: soakRetry, wrap: wrapAll, github: &http.Client{Timeout: soakGitHubTimeout}})
	return &soakFixture{fixture: f, logs: logs, fixRetries: rc}
}

// apply runs the cycle once, applying.
func (f *soakFixture) apply() (*engine.Result, error) {
	return f.engine.Run(context.Background(), f.src, engine.RunOptions{Apply: true, MaxChanges: -1})
}

// liveStats sums the live source's traffic over its services.
func (f *soakFixture) liveStats() inventory.ServiceStats {
	var sum inventory.ServiceStats
	for _, s := range f.src.(*inventory.LiveSource).Live.Stats() {
		sum.Attempts += s.Attempts
		sum.Retries += s.Retries
		sum.GaveUp += s.GaveUp
	}
	return sum
}

// baselineKey is what changes a cycle's calls without failing any: truncated tree listings
// (read folder by folder) and operations polled before they are done.
type baselineKey struct {
	truncated bool
	polls     int
}

// soakBaseline is the cycle without faults: the calls of its applying run and the policies
// it writes audit configs to, and where the cycle ends: the decisions of a second applying
// run (which has nothing left to change), its scan errors and the findings with an open
// pull request.
type soakBaseline struct {
	calls      map[string]int
	audited    []string                   // the resources of its iam.setAuditConfig changes, sorted
	final      map[string]engine.Decision // by finding
	scanErrors []string
	prs        []string
}

func runBaseline(t *testing.T, sc *sandbox.Scenario, key baselineKey) *soakBaseline {
	t.Helper()
	f := newSoakFixture(t, sc, nil)
	p := sandbox.Profile{Name: "baseline", Faults: sandbox.Faults{PendingOperationPolls: key.polls}}
	if key.truncated {
		p.TreeLimit = 1
	}
	if err := f.srv.SetFaultProfile(p); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCalls()
	if _, err := f.apply(); err != nil {
		t.Fatalf("baseline %+v: %v", key, err)
	}
	b := &soakBaseline{calls: callTotals(f.srv.Calls()), final: map[string]engine.Decision{}}
	for _, c := range f.changes() {
		if c.Action == iampolicy.ActionSetAuditConfig {
			b.audited = append(b.audited, c.Resource)
		}
	}
	slices.Sort(b.audited)
	res, err := f.apply()
	if err != nil {
		t.Fatalf("baseline %+v, second run: %v", key, err)
	}
	for _, d := range res.Decisions {
		b.final[d.Finding] = d
	}
	b.scanErrors = slices.Sorted(slices.Values(scanErrors(res)))
	b.prs = f.prFindings(t)
	return b
}

// final makes a dry run and returns its decisions by finding, and its scan errors sorted.
// The concurrent writer's grant (sandbox.ConcurrentWriterRole, a basic role, to a user) is
// drift iam-primitive-role-user rightly reports, but the writer's, made under faults only:
// its findings are left out of the decisions and returned apart, the policies they are on
// sorted.
func (f *soakFixture) final(t *testing.T) (decisions map[string]engine.Decision, scanErrs, writerGrants []string) {
	t.Helper()
	res, err := f.engine.Run(context.Background(), f.src, engine.RunOptions{MaxChanges: -1})
	if err != nil {
		t.Fatalf("the dry run at the end: %v", err)
	}
	writer := map[string]bool{}
	for _, fd := range res.Findings {
		if fd.Rule == "iam-primitive-role-user" && fd.Evidence["role"] == sandbox.ConcurrentWriterRole &&
			fd.Evidence["member"] == sandbox.ConcurrentWriterMember {
			writer[fd.ID] = true
			writerGrants = append(writerGrants, fd.Resource)
		}
	}
	out := map[string]engine.Decision{}
	for _, d := range res.Decisions {
		if !writer[d.Finding] {
			out[d.Finding] = d
		}
	}
	slices.Sort(writerGrants)
	return out, slices.Sorted(slices.Values(scanErrors(res))), writerGrants
}

// prFindings lists, sorted, the findings of the open pull requests.
func (f *soakFixture) prFindings(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pr := range openPRs(f.fixture) {
		m, ok := pullrequest.ParseMarker(pr.Body)
		if !ok {
			t.Fatalf("pull request #%d carries no marker", pr.Number)
		}
		out = append(out, m.Finding)
	}
	slices.Sort(out)
	return out
}

func callTotals(calls []sandbox.CallCount) map[string]int {
	out := map[string]int{}
	for _, c := range calls {
		out[c.Service+" "+c.Method] += c.Count
	}
	return out
}

// soakChecks are what a soak case checks besides what every run checks: after the run
// under faults and after the run without faults that settles. Either may be nil.
type soakChecks struct {
	underFaults, settled func(t *testing.T, f *soakFixture, res *engine.Result)
}

// soakOnce is one run of the soak on a fresh fixture: the cycle under the profile's
// faults, then without.
func soakOnce(t *testing.T, f *soakFixture, p sandbox.Profile, base *soakBaseline, fig *soakFigures, extra soakChecks) {
	t.Logf("profile %s, seed %d: %s", p.Name, p.Seed, p.Summary)
	var logs []observer.LoggedEntry
	defer func() {
		if t.Failed() {
			dumpLogs(t, logs)
		}
	}()
	before := policyPairs(f.srv.Assets())
	f.srv.ResetCalls()
	f.srv.ResetInjectedFaults()
	f.logs.TakeAll()
	stats := f.liveStats()
	if err := f.srv.SetFaultProfile(p); err != nil {
		t.Fatal(err)
	}

	faulty, runErr := f.apply()
	if faulty == nil {
		t.Fatalf("the run under faults ended without a result: %v", runErr)
	}
	logs = f.logs.TakeAll()
	if runErr != nil {
		t.Logf("the run under faults ended with an error (allowed): %v", runErr)
	}
	calls, injected, writes := f.srv.Calls(), f.srv.InjectedFaults(), f.srv.ConcurrentWrites()
	after := f.liveStats()
	scan := inventory.ServiceStats{Attempts: after.Attempts - stats.Attempts, Retries: after.Retries - stats.Retries,
		GaveUp: after.GaveUp - stats.GaveUp}
	const underFaults = "after the run under faults"
	f.checkBindings(t, underFaults, before, writes)
	f.checkPullRequests(t, underFaults)
	f.checkChanges(t, underFaults, faulty)
	f.checkReasons(t, underFaults, faulty)
	retries := checkBudgets(t, calls, injected, scan, logs, base)
	retries["actions"] = f.fixRetries.take()
	if extra.underFaults != nil {
		extra.underFaults(t, f, faulty)
	}

	if err := f.srv.SetFaultProfile(sandbox.Profile{}); err != nil {
		t.Fatal(err)
	}
	settled, err := f.apply()
	logs = append(logs, f.logs.TakeAll()...)
	if err != nil {
		t.Fatalf("the run without faults that settles: %v", err)
	}
	const afterSettling = "after settling"
	f.checkBindings(t, afterSettling, before, writes)
	f.checkPullRequests(t, afterSettling)
	f.checkChanges(t, afterSettling, settled)
	f.checkReasons(t, afterSettling, settled)
	f.checkSettled(t, settled, base)
	if extra.settled != nil {
		extra.settled(t, f, settled)
	}

	fig.add(p.Name, injected, retries, scan.GaveUp, runErr != nil, faulty, settled, f.changes())
}

// bindingPair is one member's grant of one role (under one condition) on one resource.
type bindingPair struct{ resource, role, member, condition string }

func (p bindingPair) String() string {
	s := p.member + " in " + p.role + " on " + p.resource
	if p.condition != "" {
		s += " if " + p.condition
	}
	return s
}

func pairsOf(resource string, bs []inventory.Binding, into map[bindingPair]bool) {
	for _, b := range bs {
		cond := ""
		if b.Condition != nil {
			cond = b.Condition.Title + ": " + b.Condition.Expression
		}
		for _, m := range b.Members {
			into[bindingPair{resource, b.Role, m, cond}] = true
		}
	}
}

// policyPairs lists every grant of every IAM policy.
func policyPairs(assets []*inventory.Asset) map[bindingPair]bool {
	out := map[bindingPair]bool{}
	for _, a := range assets {
		if a.IAMPolicy != nil {
			pairsOf(a.Name, a.IAMPolicy.Bindings, out)
		}
	}
	return out
}

// removedByChanges lists the grants that the ledger's IAM changes set out to remove.
func removedByChanges(t *testing.T, changes []ledger.Change) map[bindingPair]bool {
	t.Helper()
	out := map[bindingPair]bool{}
	for _, c := range changes {
		if c.Action != iampolicy.ActionRemoveBinding {
			continue
		}
		var plan remediators.Plan
		var was, is struct {
			Bindings []inventory.Binding `json:"bindings"`
		}
		if err := json.Unmarshal(c.Plan, &plan); err != nil {
			t.Fatalf("change %s: reading its plan: %v", c.ID, err)
		}
		if err := json.Unmarshal(plan.Before, &was); err != nil {
			t.Fatalf("change %s: reading its plan's bindings before: %v", c.ID, err)
		}
		if err := json.Unmarshal(plan.After, &is); err != nil {
			t.Fatalf("change %s: reading its plan's bindings after: %v", c.ID, err)
		}
		before, after := map[bindingPair]bool{}, map[bindingPair]bool{}
		pairsOf(plan.Resource, was.Bindings, before)
		pairsOf(plan.Resource, is.Bindings, after)
		for p := range before {
			if !after[p] {
				out[p] = true
			}
		}
	}
	return out
}

// checkBindings fails the test for every grant held before the run that is gone and that
// no change set out to remove, and for every policy the concurrent writer changed that
// lacks the writer's grant.
func (f *soakFixture) checkBindings(t *testing.T, when string, before map[bindingPair]bool, writes []string) {
	t.Helper()
	now := policyPairs(f.srv.Assets())
	meant := removedByChanges(t, f.changes())
	for p := range before {
		if !now[p] && !meant[p] {
			t.Errorf("%s: IAM binding lost: %s was granted before and no change meant to remove it", when, p)
		}
	}
	for _, name := range writes {
		if p := (bindingPair{name, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, ""}); !now[p] {
			t.Errorf("%s: the concurrent writer's binding was lost: %s", when, p)
		}
	}
}

// checkPullRequests fails the test for a finding with more than one pull request, a pull
// request without zerodrift's marker, and one closed: in the soak nobody declines a pull
// request nor fixes its drift, so none may close.
func (f *soakFixture) checkPullRequests(t *testing.T, when string) {
	t.Helper()
	byFinding := map[string][]sandbox.GitHubPullRequest{}
	for _, pr := range f.srv.PullRequests() {
		m, ok := pullrequest.ParseMarker(pr.Body)
		if !ok || pr.User != sandbox.GitHubBotLogin {
			t.Errorf("%s: pull request #%d by %s carries no zerodrift marker", when, pr.Number, pr.User)
			continue
		}
		byFinding[m.Finding] = append(byFinding[m.Finding], pr)
		if pr.State != "open" {
			t.Errorf("%s: pull request #%d (finding %s) was closed (merged %v) while its drift remains", when, pr.Number, m.Finding, pr.Merged)
		}
	}
	for finding, prs := range byFinding {
		if len(prs) > 1 {
			var which []string
			for _, pr := range prs {
				which = append(which, fmt.Sprintf("#%d %s on %s", pr.Number, pr.State, pr.Head))
			}
			t.Errorf("%s: duplicate pull requests for finding %s: %s", when, finding, strings.Join(which, ", "))
		}
	}
}

// checkChanges fails the test for a ledger change left without an outcome (planned,
// applied) or without its detail, and for a decision whose change the ledger records
// otherwise.
func (f *soakFixture) checkChanges(t *testing.T, when string, res *engine.Result) {
	t.Helper()
	byID := map[string]ledger.Change{}
	for _, c := range f.changes() {
		byID[c.ID] = c
		switch c.Status {
		case ledger.StatusVerified, ledger.StatusFailed, ledger.StatusRolledBack:
		default:
			t.Errorf("%s: change %s (%s on %s) has no outcome: %s", when, c.ID, c.Action, c.Resource, c.Status)
		}
		if c.Detail == "" {
			t.Errorf("%s: change %s (%s on %s, %s) records no detail", when, c.ID, c.Action, c.Resource, c.Status)
		}
	}
	for _, d := range res.Decisions {
		if d.ChangeID == "" {
			continue
		}
		if c, ok := byID[d.ChangeID]; !ok || string(c.Status) != d.ChangeStatus {
			t.Errorf("%s: decision on %s names change %s %q; the ledger holds it %v, %q", when, d.Resource, d.ChangeID, d.ChangeStatus, ok, c.Status)
		}
	}
}

// checkReasons fails the test for a finding of the run without its decision in the ledger,
// and for a decision the ledger records without a reason, of an unknown kind, or otherwise
// than the run made it.
func (f *soakFixture) checkReasons(t *testing.T, when string, res *engine.Result) {
	t.Helper()
	recorded, err := f.store.Decisions(context.Background(), res.RunID)
	if err != nil {
		t.Fatalf("%s: reading the run's decisions: %v", when, err)
	}
	byFinding := map[string]ledger.Decision{}
	for _, d := range recorded {
		byFinding[d.Finding+" "+d.Resource] = d
		switch d.Action {
		case engine.ActionExempt, engine.ActionFix, engine.ActionPR, engine.ActionReport, engine.ActionRefused,
			engine.ActionAlreadyFixed, engine.ActionSkippedLimit:
		default:
			t.Errorf("%s: finding %s on %s decided %q", when, d.Rule, d.Resource, d.Action)
		}
		if strings.TrimSpace(d.Reason) == "" {
			t.Errorf("%s: finding %s on %s decided %s without a reason", when, d.Rule, d.Resource, d.Action)
		}
	}
	made := map[string]engine.Decision{}
	for _, d := range res.Decisions {
		made[d.Finding+" "+d.Resource] = d
	}
	for _, fd := range res.Findings {
		key := fd.ID + " " + fd.Resource
		d, ok := byFinding[key]
		if !ok {
			t.Errorf("%s: finding %s on %s has no decision in the ledger", when, fd.Rule, fd.Resource)
			continue
		}
		if m := made[key]; m.Action != d.Action || m.Reason != d.Reason {
			t.Errorf("%s: finding %s on %s: the run decided %s (%s), the ledger holds %s (%s)", when, fd.Rule, fd.Resource,
				m.Action, m.Reason, d.Action, d.Reason)
		}
	}
}

// checkSettled fails the test where the run without faults leaves a finding neither fixed
// (verified), proposed (an open pull request on its branch), reported nor exempt, and where
// the cycle does not end as it ends without faults: a dry run after it must find the same
// drift (the rest fixed), decide it the same way, fail to read the same parts of the
// organisation, and the same findings must have their pull request open.
func (f *soakFixture) checkSettled(t *testing.T, settled *engine.Result, base *soakBaseline) {
	t.Helper()
	open := openPRs(f.fixture)
	for _, d := range settled.Decisions {
		switch d.Action {
		case engine.ActionFix:
			if d.ChangeStatus != string(ledger.StatusVerified) {
				t.Errorf("after settling: %s on %s: fix %s (%s)", d.Rule, d.Resource, d.ChangeStatus, d.Reason)
			}
		case engine.ActionPR:
			branch := pullrequest.BranchName(d.Rule, d.Finding)
			if d.PR == nil || d.PR.Branch != branch || d.PR.Number == 0 || open[branch].Number != d.PR.Number {
				t.Errorf("after settling: %s on %s decided pr, with %+v; open on %s: %+v", d.Rule, d.Resource, d.PR, branch, open[branch])
			}
		}
	}
	final, errs, writerGrants := f.final(t)
	if !slices.Equal(errs, base.scanErrors) {
		t.Errorf("at the end: scan errors %q, without faults %q", errs, base.scanErrors)
	}
	// Every policy the concurrent writer changed, and only those, holds its grant.
	if writes := slices.Sorted(slices.Values(f.srv.ConcurrentWrites())); !slices.Equal(writerGrants, writes) {
		t.Errorf("at the end: the concurrent writer's grant is reported on %q; it changed %q", writerGrants, writes)
	}
	for id, d := range final {
		want, ok := base.final[id]
		switch {
		case !ok:
			t.Errorf("at the end: %s on %s is still there (%s: %s); without faults it is fixed", d.Rule, d.Resource, d.Action, d.Reason)
		case d.Action != want.Action:
			t.Errorf("at the end: %s on %s decided %s (%s); without faults %s (%s)", d.Rule, d.Resource, d.Action, d.Reason, want.Action, want.Reason)
		}
	}
	for id, d := range base.final {
		if _, ok := final[id]; !ok {
			t.Errorf("at the end: %s on %s is gone; without faults it stays, decided %s (%s)", d.Rule, d.Resource, d.Action, d.Reason)
		}
	}
	if got := f.prFindings(t); !slices.Equal(got, base.prs) {
		t.Errorf("at the end: pull requests open for findings %q; without faults %q", got, base.prs)
	}
}

// checkBudgets fails the test where a method was called more than its budget allows, and
// returns the retries it counted by client. A method's budget is the calls the cycle makes
// without faults (with those of the calls it stands in for, see budgetShares, and those of
// the fixes the faults can make the cycle take instead, see budgetDetours) times how
// often a call may be repeated (an IAM write and its reads after each etag conflict, GitHub
// calls after GitHub answers that a branch or pull request exists) times the attempts one
// call may make (the live source's retry policy; the pull-request client's). Calls the API
// served count against the first two; every attempt against all three.
func checkBudgets(t *testing.T, calls []sandbox.CallCount, injected []sandbox.FaultCount, scan inventory.ServiceStats,
	logs []observer.LoggedEntry, base *soakBaseline) map[string]int {
	t.Helper()
	total := callTotals(calls)
	unserved := map[string]int{}
	for _, fc := range injected {
		switch fc.Kind {
		case sandbox.FaultError, sandbox.FaultGitHub, sandbox.FaultTimeout:
			unserved[fc.Service+" "+fc.Method] += fc.Count
		}
	}
	for _, m := range slices.Sorted(maps.Keys(total)) {
		service, method, _ := strings.Cut(m, " ")
		if method == "unknown" {
			t.Errorf("%d calls to a path the sandbox does not serve (%s)", total[m], service)
		}
		attempts, repeats := soakRetry.MaxAttempts, 1
		switch {
		case service == sandbox.ServiceGitHub:
			attempts, repeats = githubAttempts, githubRepeats
		case strings.HasSuffix(method, "IamPolicy"):
			repeats = 1 + soakSettings.ConflictRetries
		}
		without := base.calls[m]
		for _, k := range budgetShares[m] {
			without += base.calls[k]
		}
		if d, ok := budgetDetours[m]; ok {
			without += d.calls * base.calls[d.per]
		}
		if served := total[m] - unserved[m]; served > repeats*without {
			t.Errorf("%s: %d calls served, over the budget of %d (%d without faults × %d repeats)", m, served, repeats*without, without, repeats)
		}
		if total[m] > attempts*repeats*without {
			t.Errorf("%s: %d attempts, over the budget of %d (%d without faults × %d repeats × %d attempts)", m, total[m],
				attempts*repeats*without, without, repeats, attempts)
		}
	}
	if logical := scan.Attempts - scan.Retries; scan.Retries > int64(soakRetry.MaxAttempts-1)*logical {
		t.Errorf("the live source retried %d times for %d calls, over %d attempts a call", scan.Retries, logical, soakRetry.MaxAttempts)
	}
	retries := map[string]int{"scan": int(scan.Retries)}
	for _, e := range logs {
		attempt, _ := e.ContextMap()["attempt"].(int64)
		switch e.Message {
		case "retrying a call":
			if attempt >= int64(soakRetry.MaxAttempts) {
				t.Errorf("the live source retried a call after attempt %d of %d: %v", attempt, soakRetry.MaxAttempts, e.ContextMap())
			}
		case "github call to retry":
			retries["github"]++
			if attempt >= githubAttempts {
				t.Errorf("the pull-request client retried a call after attempt %d of %d: %v", attempt, githubAttempts, e.ContextMap())
			}
		case "IAM policy changed concurrently; reading it again":
			retries["iam-conflicts"]++
			if attempt > int64(soakSettings.ConflictRetries) {
				t.Errorf("an IAM action retried after conflict %d of %d: %v", attempt, soakSettings.ConflictRetries, e.ContextMap())
			}
		}
	}
	return retries
}

// budgetShares lists, by method, the methods whose calls without faults its budget counts
// too: those it stands in for, or undoes. Ensure moves a branch it finds already created;
// a live action that fails part way re-creates the firewall rules it deleted and deletes
// those it created.
var budgetShares = map[string][]string{
	"github git.updateRef":     {"github git.createRef"},
	"compute firewalls.insert": {"compute firewalls.delete"},
	"compute firewalls.delete": {"compute firewalls.insert"},
}

// budgetDetours lists, by method, the calls a detour the faults force may add to its budget:
// calls per call of another method without faults. A fix the faults stop can leave its
// resource to the fixes decided after it, which the cycle without faults never reaches: a
// default network that network.deleteDefault fails to delete (one networks.delete without
// faults) gets firewall.createEgressDeny's rule next. That fix reads the network and the
// project's firewall rules three times each (its snapshot and plan, Apply's re-plan, the
// run's verification), inserts the rule and reads it back once.
var budgetDetours = map[string]struct {
	per   string
	calls int
}{
	"compute networks.get":     {"compute networks.delete", 3},
	"compute firewalls.list":   {"compute networks.delete", 3},
	"compute firewalls.insert": {"compute networks.delete", 1},
	"compute firewalls.get":    {"compute networks.delete", 1},
}

// retryCounter counts the retries of the live actions' clients: an attempt that repeats the
// one before it, which failed as Google's clients retry (503, 504, no answer). The actions'
// calls are made one at a time, so a repeat is a retry. A call gives up after the policy's
// attempts, and the next read of the same path is a new call; that one call makes no more
// attempts is remediators' own test (TestActionReadsRetryWithinThePolicy).
type retryCounter struct {
	mu      sync.Mutex
	last    string // the last attempt, when it failed so
	streak  int    // the attempts of the call in progress
	retries int
}

func (rc *retryCounter) wrap(_ string, next http.RoundTripper) http.RoundTripper {
	return roundTrip(func(req *http.Request) (*http.Response, error) {
		key := req.Method + " " + req.URL.Path
		rc.mu.Lock()
		if rc.last == key && rc.streak < soakRetry.MaxAttempts {
			rc.retries++
			rc.streak++
		} else {
			rc.streak = 1
		}
		rc.last = ""
		rc.mu.Unlock()
		resp, err := next.RoundTrip(req)
		if err != nil || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout {
			rc.mu.Lock()
			rc.last = key
			rc.mu.Unlock()
		}
		return resp, err
	})
}

// take returns the retries counted, and starts again.
func (rc *retryCounter) take() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	retries := rc.retries
	rc.retries, rc.last, rc.streak = 0, "", 0
	return retries
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dumpLogs logs what a failed run warned about.
func dumpLogs(t *testing.T, logs []observer.LoggedEntry) {
	t.Helper()
	for _, e := range logs {
		if e.Level >= zap.WarnLevel {
			t.Logf("log %s: %s %v", e.Level, e.Message, e.ContextMap())
		}
	}
}

// soakFigures are what the soak did, summed over its runs.
type soakFigures struct {
	runs      map[string]int // by profile
	faults    map[string]int // injected, by kind
	retries   map[string]int // by client
	gaveUp    int64          // calls the live source gave up
	runErrors int            // runs under faults that ended with an error
	faulty    map[string]int // decisions of the runs under faults, by action
	settled   map[string]int // decisions of the runs without, by action
	changes   map[string]int // ledger changes, by final status
}

func newSoakFigures() *soakFigures {
	return &soakFigures{runs: map[string]int{}, faults: map[string]int{}, retries: map[string]int{},
		faulty: map[string]int{}, settled: map[string]int{}, changes: map[string]int{}}
}

func (fg *soakFigures) add(profile string, injected []sandbox.FaultCount, retries map[string]int, gaveUp int64, runErr bool,
	faulty, settled *engine.Result, changes []ledger.Change) {
	fg.runs[profile]++
	for _, fc := range injected {
		fg.faults[fc.Kind] += fc.Count
	}
	for client, n := range retries {
		fg.retries[client] += n
	}
	fg.gaveUp += gaveUp
	if runErr {
		fg.runErrors++
	}
	for _, d := range faulty.Decisions {
		fg.faulty[d.Action]++
	}
	for _, d := range settled.Decisions {
		fg.settled[d.Action]++
	}
	for _, c := range changes {
		fg.changes[string(c.Status)]++
	}
}

func (fg *soakFigures) report(t *testing.T, took time.Duration) {
	t.Helper()
	runs := 0
	for _, n := range fg.runs {
		runs += n
	}
	t.Logf("runs by profile:      %s", counts(fg.runs))
	t.Logf("faults injected:      %s", counts(fg.faults))
	t.Logf("retries by client:    %s; calls the live source gave up: %d", counts(fg.retries), fg.gaveUp)
	t.Logf("under faults:         %s; %d runs ended with an error", counts(fg.faulty), fg.runErrors)
	t.Logf("after settling:       %s", counts(fg.settled))
	t.Logf("changes by outcome:   %s", counts(fg.changes))
	t.Logf("soak: %d runs in %v; faults %s; retries %s; decisions under faults %s, after settling %s; changes %s",
		runs, took.Round(time.Millisecond), counts(fg.faults), counts(fg.retries), counts(fg.faulty), counts(fg.settled), counts(fg.changes))
}

// counts renders a tally as "a 3, b 1", by key, with its total first.
func counts(m map[string]int) string {
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		total += m[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
