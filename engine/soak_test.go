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
// IAM policies are checked one by one (checkBindings, checkPolicyWrites): on each, no grant
// lost, none granted from a stale read, the concurrent writer's grant never written over,
// at most 1+ConflictRetries writes a change, and, where etag conflicts are all that
// failed, each change ending as the conflicts drawn for its write say. The etag-conflicts
// profile meets every policy write of the cycle (organization, folder, each project;
// bindings and audit configs) with its own draw, mostly within the retries and sometimes
// past them, and each of its runs checks that every policy the cycle writes met it.
//
// It makes defaultSoakRuns runs; ZERODRIFT_SOAK_RUNS=200 makes the nightly soak. A run is a
// subtest named NNN-PROFILE-seedS, so one run can be repeated alone with -run.
// TestFaultSoakAuditConfigConflicts (soak_audit_test.go) makes runs with the same checks,
// its etag conflicts aimed at iam.setAuditConfig alone, to check the audit configs each
// outcome leaves.

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
	if soakSettings.ConflictRetries != sandbox.ProfileConflictRetries {
		t.Fatalf("the actions retry %d etag conflicts; the etag-conflicts profile draws its conflicts around %d",
			soakSettings.ConflictRetries, sandbox.ProfileConflictRetries)
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
		var extra soakChecks
		if name == etagConflictsProfile {
			extra.underFaults = checkEveryPolicyConflicted(baselines[key])
		}
		t.Run(fmt.Sprintf("%03d-%s-seed%d", i, name, seed), func(t *testing.T) {
			soakOnce(t, newSoakFixture(t, sc), p, baselines[key], fig, extra)
		})
	}
	fig.report(t, time.Since(start))
	// A profile whose faults never met the cycle soaked nothing: its seeds draw them past
	// the calls the cycle makes, or on methods it does not call.
	for _, name := range slices.Sorted(maps.Keys(fig.runs)) {
		if fig.byProfile[name] == 0 {
			t.Errorf("profile %s injected no fault in its %d runs", name, fig.runs[name])
		}
	}
}

// soakFixture is the engine fixture with what the soak reads besides: the logs (at debug
// level, where the live source logs its retries) and the live actions' retries.
type soakFixture struct {
	*fixture
	logs       *observer.ObservedLogs
	fixRetries *retryCounter
}

// newSoakFixture wires the engine for the soak.
func newSoakFixture(t *testing.T, sc *sandbox.Scenario) *soakFixture {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	rc := &retryCounter{}
	f := newFixtureOpts(t, sc, soakConfig, fixtureOptions{prs: true, log: zap.New(core), settings: soakSettings,
		retry: soakRetry, wrap: rc.wrap, github: &http.Client{Timeout: soakGitHubTimeout}})
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

// soakBaseline is the cycle without faults: the calls of its applying run, the IAM policy
// writes it makes and the policies it writes audit configs to, and where the cycle ends:
// the decisions of a second applying run (which has nothing left to change), its scan
// errors and the findings with an open pull request.
type soakBaseline struct {
	calls      map[string]int
	policies   map[policyWriteKey]int     // its IAM policy writes, by policy and fields
	audited    []string                   // the resources of its iam.setAuditConfig changes, sorted
	final      map[string]engine.Decision // by finding
	scanErrors []string
	prs        []string
}

func runBaseline(t *testing.T, sc *sandbox.Scenario, key baselineKey) *soakBaseline {
	t.Helper()
	f := newSoakFixture(t, sc)
	p := sandbox.Profile{Name: "baseline", Faults: sandbox.Faults{PendingOperationPolls: key.polls}}
	if key.truncated {
		p.TreeLimit = 1
	}
	if err := f.srv.SetFaultProfile(p); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetCalls()
	f.srv.ResetInjectedFaults()
	if _, err := f.apply(); err != nil {
		t.Fatalf("baseline %+v: %v", key, err)
	}
	b := &soakBaseline{calls: callTotals(f.srv.Calls()), policies: map[policyWriteKey]int{}, final: map[string]engine.Decision{}}
	for _, w := range f.srv.PolicyWrites() {
		b.policies[policyWriteKey{w.Policy, w.Fields}]++
	}
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
	policyWrites, faultyChanges := f.srv.PolicyWrites(), runChanges(f.changes(), faulty.RunID)
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
	// The writes' outcomes follow from the conflicts drawn for each (Faults.PolicyConflicts),
	// not from Faults.EtagConflicts' first calls, when nothing else fails on Google's APIs.
	drawn := onlyEtagConflicts(injected) && p.Faults.EtagConflicts == 0
	checkPolicyWrites(t, underFaults, policyWrites, faultyChanges, drawn)
	fig.addPolicyWrites(p.Name, policyWrites, logs, faultyChanges)
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
	fig.addSettledPolicyChanges(p.Name, runChanges(f.changes(), settled.RunID))
}

// runChanges returns the changes of one run.
func runChanges(changes []ledger.Change, runID string) []ledger.Change {
	var out []ledger.Change
	for _, c := range changes {
		if c.RunID == runID {
			out = append(out, c)
		}
	}
	return out
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

// changedPairs are the grants the ledger's IAM changes set out to remove and to grant,
// and those that verified changes removed.
type changedPairs struct {
	removed, granted, removedVerified map[bindingPair]bool
}

// pairsOfChanges reads the plans of the ledger's iam.removeBinding changes: the grants
// each sets out to remove (in its bindings before, not after) and to grant (after, not
// before).
func pairsOfChanges(t *testing.T, changes []ledger.Change) changedPairs {
	t.Helper()
	out := changedPairs{removed: map[bindingPair]bool{}, granted: map[bindingPair]bool{}, removedVerified: map[bindingPair]bool{}}
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
				out.removed[p] = true
				if c.Status == ledger.StatusVerified {
					out.removedVerified[p] = true
				}
			}
		}
		for p := range after {
			if !before[p] {
				out.granted[p] = true
			}
		}
	}
	return out
}

// checkBindings checks every IAM policy's grants against what was granted before the run,
// what zerodrift's changes set out to remove and grant, and what the concurrent writer
// granted (the policies it changed, writes). It fails the test for a grant held before
// that is gone though no change set out to remove it; for one the concurrent writer made
// that is gone; for one granted now that nobody granted (written back from a stale read);
// and for one a verified change removed that is granted again though no change granted it.
func (f *soakFixture) checkBindings(t *testing.T, when string, before map[bindingPair]bool, writes []string) {
	t.Helper()
	now := policyPairs(f.srv.Assets())
	changed := pairsOfChanges(t, f.changes())
	writer := map[bindingPair]bool{}
	for _, name := range writes {
		p := bindingPair{name, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, ""}
		writer[p] = true
		if !now[p] {
			t.Errorf("%s: the concurrent writer's binding was lost: %s", when, p)
		}
	}
	for p := range before {
		if !now[p] && !changed.removed[p] {
			t.Errorf("%s: IAM binding lost: %s was granted before and no change meant to remove it", when, p)
		}
	}
	for p := range now {
		switch {
		case changed.granted[p] || writer[p]:
		case !before[p]:
			t.Errorf("%s: IAM binding %s is granted; nobody granted it: not before the run, nor a change, nor the concurrent writer", when, p)
		case changed.removedVerified[p]:
			t.Errorf("%s: IAM binding %s is granted again; a verified change removed it and no change granted it since", when, p)
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

// etagConflictsProfile is the sandbox's profile that puts a concurrent writer in front of
// every IAM policy write.
const etagConflictsProfile = "etag-conflicts"

// policyWriteKey names the IAM policy writes of one policy and fields (sandbox.PolicyWrite
// without its ordinal).
type policyWriteKey struct{ policy, fields string }

func (k policyWriteKey) String() string { return k.fields + " of " + k.policy }

// actionFields are the policy fields each IAM action writes.
var actionFields = map[string]string{
	iampolicy.ActionRemoveBinding:  sandbox.PolicyBindings,
	iampolicy.ActionSetAuditConfig: sandbox.PolicyAuditConfigs,
}

// onlyEtagConflicts reports whether the Google APIs met no fault but etag conflicts: then
// nothing but the conflicts decides how an IAM change ends.
func onlyEtagConflicts(injected []sandbox.FaultCount) bool {
	for _, fc := range injected {
		if fc.Kind != sandbox.FaultEtagConflict && fc.Service != sandbox.ServiceGitHub {
			return false
		}
	}
	return true
}

// checkPolicyWrites checks the IAM policy writes of one run, policy by policy and fields by
// fields, against the run's IAM changes of them (actionFields): no policy written without
// such a change, at most 1+ConflictRetries calls a change, and no write that took away the
// concurrent writer's grant unless a change set out to remove it (written over the
// writer's change: a later conflict on the same policy grants it again, so the policy at
// the end cannot tell). When nothing but etag
// conflicts was injected (onlyEtagConflicts), it checks besides how each write ended by the
// conflicts the profile drew for it (sandbox.PolicyWriteCount.Planned): within the retries,
// one call a conflict and one more, served; past them, 1+ConflictRetries calls, every one
// refused (a later write of the same fields continues it, meeting what is left, and is
// served); and that the changes that failed are those past the retries, saying why.
func checkPolicyWrites(t *testing.T, when string, writes []sandbox.PolicyWriteCount, changes []ledger.Change, onlyConflicts bool) {
	t.Helper()
	budget := 1 + soakSettings.ConflictRetries
	meant := pairsOfChanges(t, changes).removed
	byKey := map[policyWriteKey][]sandbox.PolicyWriteCount{}
	for _, w := range writes {
		k := policyWriteKey{w.Policy, w.Fields}
		byKey[k] = append(byKey[k], w)
		if p := (bindingPair{w.Policy, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, ""}); w.WriterGrantRemoved && !meant[p] {
			t.Errorf("%s: write %d of the %s (%d calls, %d conflicts met) took away the concurrent writer's grant: written over its change",
				when, w.Ordinal, k, w.Calls, w.Conflicts)
		}
	}
	changed := map[policyWriteKey][]ledger.Change{}
	for _, c := range changes {
		if fields, ok := actionFields[c.Action]; ok {
			k := policyWriteKey{c.Resource, fields}
			changed[k] = append(changed[k], c)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(byKey), func(a, b policyWriteKey) int { return strings.Compare(a.String(), b.String()) }) {
		ws, cs := byKey[k], changed[k]
		calls, past := 0, 0
		for _, w := range ws {
			calls += w.Calls
			if w.Planned > soakSettings.ConflictRetries {
				past++
			}
		}
		if len(cs) == 0 {
			t.Errorf("%s: %d setIamPolicy calls wrote the %s; no change of the run writes it", when, calls, k)
			continue
		}
		if calls > budget*len(cs) {
			t.Errorf("%s: %d setIamPolicy calls wrote the %s, over the budget of %d (%d changes × 1 + %d conflict retries)",
				when, calls, k, budget*len(cs), len(cs), soakSettings.ConflictRetries)
		}
		if !onlyConflicts {
			continue
		}
		for _, w := range ws {
			switch {
			case w.Planned <= soakSettings.ConflictRetries:
				if w.Conflicts != w.Planned || w.Calls != w.Planned+1 || !w.Served {
					t.Errorf("%s: write %d of the %s, %d conflicts drawn (within the %d retries): %d calls, %d conflicts met, served %v; want one call a conflict and one more, served",
						when, w.Ordinal, k, w.Planned, soakSettings.ConflictRetries, w.Calls, w.Conflicts, w.Served)
				}
			case w.Served && (w.Calls != w.Planned+1 || w.Conflicts != w.Planned),
				!w.Served && (w.Calls != budget || w.Conflicts != budget):
				t.Errorf("%s: write %d of the %s, %d conflicts drawn (past the %d retries): %d calls, %d conflicts met, served %v; want %d calls refused, and the rest met by the next write",
					when, w.Ordinal, k, w.Planned, soakSettings.ConflictRetries, w.Calls, w.Conflicts, w.Served, budget)
			}
		}
		failed := 0
		for _, c := range cs {
			switch c.Status {
			case ledger.StatusFailed:
				failed++
				if !strings.Contains(c.Detail, "concurrent") {
					t.Errorf("%s: change %s (%s on %s) failed without saying the policy kept changing: %s", when, c.ID, c.Action, c.Resource, c.Detail)
				}
			case ledger.StatusVerified:
			default:
				t.Errorf("%s: change %s (%s on %s) is %s (%s); etag conflicts end a change verified or failed", when, c.ID, c.Action, c.Resource, c.Status, c.Detail)
			}
		}
		if failed != past {
			t.Errorf("%s: %d of %d changes to the %s failed; %d of its writes were drawn past the %d retries",
				when, failed, len(cs), k, past, soakSettings.ConflictRetries)
		}
	}
}

// checkEveryPolicyConflicted returns the etag-conflicts profile's check of a run: every
// IAM policy write the cycle makes without faults (organization, folder, each project;
// bindings and audit configs) was made and met the concurrent writer.
func checkEveryPolicyConflicted(base *soakBaseline) func(t *testing.T, f *soakFixture, res *engine.Result) {
	return func(t *testing.T, f *soakFixture, _ *engine.Result) {
		t.Helper()
		met := map[policyWriteKey]int{}
		for _, w := range f.srv.PolicyWrites() {
			met[policyWriteKey{w.Policy, w.Fields}] += w.Conflicts
		}
		if len(base.policies) == 0 {
			t.Error("the cycle without faults writes no IAM policy: the etag-conflicts profile has nothing to meet")
		}
		for _, k := range slices.SortedFunc(maps.Keys(base.policies), func(a, b policyWriteKey) int { return strings.Compare(a.String(), b.String()) }) {
			if met[k] == 0 {
				t.Errorf("after the run under faults: the %s met no etag conflict; the profile puts one in front of every policy write", k)
			}
		}
	}
}

// policyKind names the kind of an IAM policy (organization, folder, project, service
// account) by its full resource name or its relative one.
func policyKind(name string) string {
	parts := strings.Split(strings.TrimPrefix(name, "//"), "/")
	if len(parts) < 2 {
		return "other"
	}
	switch c := parts[len(parts)-2]; c {
	case "organizations":
		return "organization"
	case "folders":
		return "folder"
	case "projects":
		return "project"
	case "serviceAccounts":
		return "service account"
	default:
		return c
	}
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
	runs      map[string]int            // by profile
	faults    map[string]int            // injected, by kind
	byProfile map[string]int            // injected, by profile
	retries   map[string]int            // by client
	gaveUp    int64                     // calls the live source gave up
	runErrors int                       // runs under faults that ended with an error
	faulty    map[string]int            // decisions of the runs under faults, by action
	settled   map[string]int            // decisions of the runs without, by action
	changes   map[string]int            // ledger changes, by final status
	policies  map[string]*policyFigures // by profile
}

func newSoakFigures() *soakFigures {
	return &soakFigures{runs: map[string]int{}, faults: map[string]int{}, byProfile: map[string]int{}, retries: map[string]int{},
		faulty: map[string]int{}, settled: map[string]int{}, changes: map[string]int{}, policies: map[string]*policyFigures{}}
}

// policyFigures are what the etag conflicts of one profile did to the IAM policy writes,
// summed over its runs under faults (and the changes of the runs that settle).
type policyFigures struct {
	runs      int
	conflicts map[string]int // met, by kind of policy (policyKind)
	byFields  map[string]int // met, by the fields written
	perWrite  map[string]int // writes, by the conflicts they met
	past      int            // writes drawn past the retries (sandbox.PolicyWriteCount.Planned)
	calls     map[string]int // setIamPolicy calls handled, by kind of policy
	retries   map[string]int // writes made again after a conflict, by kind of policy
	faulty    map[string]int // the runs' IAM changes (actionFields), by status
	settled   map[string]int // the IAM changes of the runs that settle, by status
}

func (fg *soakFigures) policy(profile string) *policyFigures {
	pf := fg.policies[profile]
	if pf == nil {
		pf = &policyFigures{conflicts: map[string]int{}, byFields: map[string]int{}, perWrite: map[string]int{},
			calls: map[string]int{}, retries: map[string]int{}, faulty: map[string]int{}, settled: map[string]int{}}
		fg.policies[profile] = pf
	}
	return pf
}

// addPolicyWrites counts a run's IAM policy writes under faults, the IAM actions' retries
// its logs tell and its IAM changes.
func (fg *soakFigures) addPolicyWrites(profile string, writes []sandbox.PolicyWriteCount, logs []observer.LoggedEntry, changes []ledger.Change) {
	pf := fg.policy(profile)
	pf.runs++
	for _, w := range writes {
		kind := policyKind(w.Policy)
		pf.calls[kind] += w.Calls
		if w.Conflicts > 0 {
			pf.conflicts[kind] += w.Conflicts
			pf.byFields[w.Fields] += w.Conflicts
		}
		pf.perWrite[fmt.Sprintf("%d", w.Conflicts)]++
		if w.Planned > soakSettings.ConflictRetries {
			pf.past++
		}
	}
	for _, e := range logs {
		if e.Message == "IAM policy changed concurrently; reading it again" {
			resource, _ := e.ContextMap()["resource"].(string)
			pf.retries[policyKind(resource)]++
		}
	}
	for _, c := range changes {
		if _, ok := actionFields[c.Action]; ok {
			pf.faulty[string(c.Status)]++
		}
	}
}

// addSettledPolicyChanges counts the IAM changes of a run that settles.
func (fg *soakFigures) addSettledPolicyChanges(profile string, changes []ledger.Change) {
	pf := fg.policy(profile)
	for _, c := range changes {
		if _, ok := actionFields[c.Action]; ok {
			pf.settled[string(c.Status)]++
		}
	}
}

func (fg *soakFigures) add(profile string, injected []sandbox.FaultCount, retries map[string]int, gaveUp int64, runErr bool,
	faulty, settled *engine.Result, changes []ledger.Change) {
	fg.runs[profile]++
	n := 0
	for _, fc := range injected {
		fg.faults[fc.Kind] += fc.Count
		n += fc.Count
	}
	fg.byProfile[profile] += n
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
	t.Logf("faults injected:      %s; by profile %s", counts(fg.faults), counts(fg.byProfile))
	t.Logf("retries by client:    %s; calls the live source gave up: %d", counts(fg.retries), fg.gaveUp)
	t.Logf("under faults:         %s; %d runs ended with an error", counts(fg.faulty), fg.runErrors)
	t.Logf("after settling:       %s", counts(fg.settled))
	t.Logf("changes by outcome:   %s", counts(fg.changes))
	for _, profile := range slices.Sorted(maps.Keys(fg.policies)) {
		pf := fg.policies[profile]
		if len(pf.conflicts) == 0 {
			continue
		}
		t.Logf("IAM policies, %s: %d runs; etag conflicts met %s, by write %s; writes by conflicts met %s, %d drawn past the %d retries; "+
			"setIamPolicy calls %s; retries %s; IAM changes under faults %s, after settling %s",
			profile, pf.runs, counts(pf.conflicts), counts(pf.byFields), counts(pf.perWrite), pf.past, soakSettings.ConflictRetries,
			counts(pf.calls), counts(pf.retries), counts(pf.faulty), counts(pf.settled))
	}
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
