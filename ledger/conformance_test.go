package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/ledger"
)

// TestStores runs the conformance suite against every store.
func TestStores(t *testing.T) {
	for _, k := range backendKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, k, k.prepare(t))
		})
	}
}

// testStore is the conformance suite: every store must pass all of it.
func testStore(t *testing.T, k backendKind, newURL func(testing.TB) string) {
	tests := []struct {
		name string
		// reopens marks tests that open one ledger more than once.
		reopens bool
		run     func(t *testing.T, k ledgerKind)
	}{
		{name: "runs", run: testRuns},
		{name: "findings", run: testFindings},
		{name: "decisions", run: testDecisions},
		{name: "change lifecycle", run: testChangeLifecycle},
		{name: "plan change refusals", run: testPlanChangeRefusals},
		{name: "transitions", run: testTransitions},
		{name: "racing transitions", run: testRacingTransitions},
		{name: "filters", run: testFilters},
		{name: "lock contention", run: testLockContention},
		{name: "lock expiry and renewal", run: testLockExpiry},
		{name: "unlock", run: testUnlock},
		{name: "concurrent writers", run: testConcurrentWriters},
		{name: "json round trip", run: testJSONRoundTrip},
		{name: "times", run: testTimes},
		{name: "closed store", run: testClosed},
		{name: "migrations idempotent", reopens: true, run: testMigrationsIdempotent},
		{name: "concurrent start-up", reopens: true, run: testConcurrentStartup},
		{name: "survives reopen", reopens: true, run: testSurvivesReopen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reopens && !k.persistent {
				t.Skip("this ledger ends with its store, so it cannot be reopened")
			}
			tc.run(t, ledgerKind{backendKind: k, newURL: newURL})
		})
	}
}

// base is the suite's reference time: not UTC and with nanoseconds, which the ledger
// must turn into UTC microseconds.
func base() time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
}

// stored is what the ledger keeps of a time.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ledgerKind is a prepared backend: one that hands out fresh ledgers.
type ledgerKind struct {
	backendKind
	newURL func(t testing.TB) string
}

func fresh(t *testing.T, k ledgerKind) ledger.Store {
	t.Helper()
	return openStore(t, k.newURL(t))
}

func startRun(t *testing.T, s ledger.Store, id string) ledger.Run {
	t.Helper()
	r := ledger.Run{
		ID: id, Kind: "run", Mode: "apply", Source: "sandbox", Version: "v0.1.0",
		StartedAt: base(), Status: "running",
	}
	if err := s.StartRun(testContext(t), r); err != nil {
		t.Fatalf("StartRun(%s): %v", id, err)
	}
	return r
}

func newChange(id, runID, resource string, at time.Time) ledger.Change {
	return ledger.Change{
		ID: id, RunID: runID, Finding: "f-" + id, Resource: resource,
		Playbook: "firewall-restrict", Action: "firewall.restrictSources",
		Snapshot: json.RawMessage(`{"sourceRanges":["0.0.0.0/0"]}`),
		Plan:     json.RawMessage(`{"before":["0.0.0.0/0"],"after":["35.235.240.0/20"]}`),
		At:       at,
	}
}

func planChange(t *testing.T, s ledger.Store, c ledger.Change) {
	t.Helper()
	if err := s.PlanChange(testContext(t), c); err != nil {
		t.Fatalf("PlanChange(%s): %v", c.ID, err)
	}
}

func setStatus(t *testing.T, s ledger.Store, id string, st ledger.ChangeStatus, at time.Time) {
	t.Helper()
	if err := s.SetStatus(testContext(t), id, st, "to "+string(st), at); err != nil {
		t.Fatalf("SetStatus(%s, %s): %v", id, st, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return buf.String()
}

func testRuns(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	r := startRun(t, s, "run-1")

	got, err := s.GetRun(ctx, "run-1")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	want := r
	want.StartedAt = stored(r.StartedAt)
	if !runsEqual(*got, want) {
		t.Errorf("GetRun = %+v, want %+v", *got, want)
	}
	if !got.FinishedAt.IsZero() || got.Summary != nil {
		t.Errorf("unfinished run has FinishedAt %v, Summary %q", got.FinishedAt, got.Summary)
	}

	summary := json.RawMessage(`{"findings": 3, "changes": 1}`)
	end := base().Add(90 * time.Second)
	if err := s.FinishRun(ctx, "run-1", "done", summary, end); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	got, err = s.GetRun(ctx, "run-1")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	want.Status, want.Summary, want.FinishedAt = "done", summary, stored(end)
	if !runsEqual(*got, want) {
		t.Errorf("finished GetRun = %+v, want %+v", *got, want)
	}

	// Defaults: status running, start time now.
	before := time.Now().Add(-time.Second)
	if err := s.StartRun(ctx, ledger.Run{ID: "run-2"}); err != nil {
		t.Fatalf("StartRun with defaults: %v", err)
	}
	got, err = s.GetRun(ctx, "run-2")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if got.Status != "running" || got.StartedAt.Before(before) || got.StartedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("run with defaults = %+v, want status running and started now", *got)
	}

	wantErr(t, "StartRun twice", s.StartRun(ctx, r), ledger.ErrExists)
	wantErr(t, "StartRun without ID", s.StartRun(ctx, ledger.Run{}), ledger.ErrInvalid)
	wantErr(t, "StartRun with bad JSON", s.StartRun(ctx, ledger.Run{ID: "run-3", Summary: json.RawMessage(`{`)}), ledger.ErrInvalid)
	wantErr(t, "FinishRun unknown", s.FinishRun(ctx, "nope", "done", nil, end), ledger.ErrNotFound)
	wantErr(t, "FinishRun without status", s.FinishRun(ctx, "run-1", "", nil, end), ledger.ErrInvalid)
	_, err = s.GetRun(ctx, "nope")
	wantErr(t, "GetRun unknown", err, ledger.ErrNotFound)
}

func runsEqual(a, b ledger.Run) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Mode == b.Mode && a.Source == b.Source &&
		a.Version == b.Version && a.Status == b.Status && a.StartedAt.Equal(b.StartedAt) &&
		a.FinishedAt.Equal(b.FinishedAt) && bytes.Equal(a.Summary, b.Summary)
}

func finding(runID, id string) ledger.Finding {
	return ledger.Finding{
		RunID: runID, ID: id, Rule: "firewall-open-ingress",
		Resource: "//compute.googleapis.com/projects/p1/global/firewalls/" + id,
		Project:  "p1", Severity: "high", Category: "OPEN_SSH_PORT",
		Evidence: json.RawMessage(`{"sourceRanges":["0.0.0.0/0"],"ports":["22"]}`),
	}
}

func testFindings(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	startRun(t, s, "run-2")

	first := []ledger.Finding{finding("run-1", "c"), finding("run-1", "a"), finding("run-1", "b")}
	if err := s.RecordFindings(ctx, first); err != nil {
		t.Fatalf("RecordFindings: %v", err)
	}
	// Again, with a changed copy of one, a new one, a duplicate within the batch, and the
	// same finding ID under another run.
	changed := finding("run-1", "a")
	changed.Severity = "low"
	again := append(slices.Clone(first), changed, finding("run-1", "d"), finding("run-1", "d"), finding("run-2", "a"))
	if err := s.RecordFindings(ctx, again); err != nil {
		t.Fatalf("RecordFindings again: %v", err)
	}
	got, err := s.Findings(ctx, "run-1")
	if err != nil {
		t.Fatalf("Findings: %v", err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID)
		want := finding("run-1", f.ID)
		if f.RunID != want.RunID || f.Rule != want.Rule || f.Resource != want.Resource || f.Project != want.Project ||
			f.Severity != want.Severity || f.Category != want.Category || compact(t, f.Evidence) != compact(t, want.Evidence) {
			t.Errorf("finding %s = %+v, want %+v (the first record wins)", f.ID, f, want)
		}
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(ids, want) {
		t.Errorf("Findings IDs = %v, want %v", ids, want)
	}
	if got, err := s.Findings(ctx, "run-2"); err != nil || len(got) != 1 {
		t.Errorf("Findings(run-2) = %d findings, %v; want 1", len(got), err)
	}

	// A batch naming an unknown run stores nothing.
	err = s.RecordFindings(ctx, []ledger.Finding{finding("run-2", "z"), finding("no-such-run", "y")})
	wantErr(t, "RecordFindings for an unknown run", err, ledger.ErrNotFound)
	if got, _ := s.Findings(ctx, "run-2"); len(got) != 1 {
		t.Errorf("a refused batch left %d findings in run-2, want 1", len(got))
	}
	bad := finding("run-1", "e")
	bad.Evidence = json.RawMessage(`{"unterminated":`)
	wantErr(t, "RecordFindings with bad JSON", s.RecordFindings(ctx, []ledger.Finding{bad}), ledger.ErrInvalid)
	wantErr(t, "RecordFindings without ID", s.RecordFindings(ctx, []ledger.Finding{{RunID: "run-1"}}), ledger.ErrInvalid)
	if err := s.RecordFindings(ctx, nil); err != nil {
		t.Errorf("RecordFindings(nil): %v", err)
	}
	_, err = s.Findings(ctx, "no-such-run")
	wantErr(t, "Findings of an unknown run", err, ledger.ErrNotFound)

	// A batch larger than one INSERT.
	startRun(t, s, "run-big")
	var big []ledger.Finding
	for i := range 250 {
		big = append(big, finding("run-big", fmt.Sprintf("f%03d", i)))
	}
	if err := s.RecordFindings(ctx, big); err != nil {
		t.Fatalf("RecordFindings(250): %v", err)
	}
	if got, err := s.Findings(ctx, "run-big"); err != nil || len(got) != 250 {
		t.Errorf("Findings(run-big) = %d, %v; want 250", len(got), err)
	}
}

func testDecisions(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	startRun(t, s, "run-2")
	if got, err := s.Decisions(ctx, "run-1"); err != nil || len(got) != 0 {
		t.Fatalf("Decisions of a run without any = %v, %v", got, err)
	}
	actions := []string{"fix", "exempt", "pr", "report", "refused", "already-fixed", "skipped-limit"}
	var want []ledger.Decision
	for i, a := range actions {
		d := ledger.Decision{
			RunID: "run-1", Finding: fmt.Sprintf("f%d", i), Rule: "firewall-open-ingress",
			Resource: "//compute.googleapis.com/projects/p1/global/firewalls/fw", Action: a,
			Reason: "because " + a, At: base(), // one time for all: order is by recording
		}
		if a == "fix" {
			d.Playbook, d.ChangeID = "firewall-restrict", "ch-1"
		}
		if err := s.RecordDecision(ctx, d); err != nil {
			t.Fatalf("RecordDecision(%s): %v", a, err)
		}
		d.At = stored(d.At)
		want = append(want, d)
	}
	if err := s.RecordDecision(ctx, ledger.Decision{RunID: "run-2", Finding: "x", Action: "report", At: base()}); err != nil {
		t.Fatalf("RecordDecision(run-2): %v", err)
	}
	got, err := s.Decisions(ctx, "run-1")
	if err != nil {
		t.Fatalf("Decisions: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Decisions = %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("decision %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	wantErr(t, "RecordDecision for an unknown run",
		s.RecordDecision(ctx, ledger.Decision{RunID: "nope", Finding: "x"}), ledger.ErrNotFound)
	wantErr(t, "RecordDecision without run", s.RecordDecision(ctx, ledger.Decision{Finding: "x"}), ledger.ErrInvalid)
	_, err = s.Decisions(ctx, "nope")
	wantErr(t, "Decisions of an unknown run", err, ledger.ErrNotFound)
}

func testChangeLifecycle(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	c := newChange("ch-1", "run-1", "//compute.googleapis.com/projects/p1/global/firewalls/fw", base())
	c.Detail = "intent"
	planChange(t, s, c)

	got, err := s.GetChange(ctx, "ch-1")
	if err != nil {
		t.Fatalf("GetChange: %v", err)
	}
	want := c
	want.Status, want.At, want.UpdatedAt = ledger.StatusPlanned, stored(c.At), stored(c.At)
	assertChange(t, *got, want)

	steps := []struct {
		status ledger.ChangeStatus
		detail string
		at     time.Time
	}{
		{ledger.StatusApplied, "operation op-123 done", base().Add(time.Second)},
		{ledger.StatusVerified, "", base().Add(2 * time.Second)},
		{ledger.StatusRolledBack, "restored from snapshot", base().Add(3 * time.Second)},
	}
	wantEvents := []ledger.Event{{ChangeID: "ch-1", Status: ledger.StatusPlanned, Detail: "intent", At: stored(base())}}
	for _, st := range steps {
		if err := s.SetStatus(ctx, "ch-1", st.status, st.detail, st.at); err != nil {
			t.Fatalf("SetStatus(%s): %v", st.status, err)
		}
		wantEvents = append(wantEvents, ledger.Event{ChangeID: "ch-1", Status: st.status, Detail: st.detail, At: stored(st.at)})
		got, err := s.GetChange(ctx, "ch-1")
		if err != nil {
			t.Fatalf("GetChange: %v", err)
		}
		want.Status, want.Detail, want.UpdatedAt = st.status, st.detail, stored(st.at)
		assertChange(t, *got, want)
	}
	events, err := s.Events(ctx, "ch-1")
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if !slices.EqualFunc(events, wantEvents, eventsEqual) {
		t.Errorf("Events = %+v, want %+v", events, wantEvents)
	}
	_, err = s.GetChange(ctx, "nope")
	wantErr(t, "GetChange unknown", err, ledger.ErrNotFound)
	_, err = s.Events(ctx, "nope")
	wantErr(t, "Events unknown", err, ledger.ErrNotFound)
	wantErr(t, "SetStatus unknown", s.SetStatus(ctx, "nope", ledger.StatusApplied, "", base()), ledger.ErrNotFound)
}

func eventsEqual(a, b ledger.Event) bool {
	return a.ChangeID == b.ChangeID && a.Status == b.Status && a.Detail == b.Detail && a.At.Equal(b.At) &&
		a.At.Location() == time.UTC
}

func assertChange(t *testing.T, got, want ledger.Change) {
	t.Helper()
	if got.ID != want.ID || got.RunID != want.RunID || got.Finding != want.Finding || got.Resource != want.Resource ||
		got.Playbook != want.Playbook || got.Action != want.Action || got.Status != want.Status ||
		got.Detail != want.Detail || !got.At.Equal(want.At) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		compact(t, got.Snapshot) != compact(t, want.Snapshot) || compact(t, got.Plan) != compact(t, want.Plan) {
		t.Errorf("change = %+v\nwant     %+v", got, want)
	}
	if got.At.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("change %s times are not UTC: %v, %v", got.ID, got.At.Location(), got.UpdatedAt.Location())
	}
}

func testPlanChangeRefusals(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	c := newChange("ch-1", "run-1", "//r", base())
	planChange(t, s, c)
	wantErr(t, "PlanChange twice", s.PlanChange(ctx, c), ledger.ErrExists)

	unknownRun := newChange("ch-2", "no-such-run", "//r", base())
	wantErr(t, "PlanChange for an unknown run", s.PlanChange(ctx, unknownRun), ledger.ErrNotFound)
	applied := newChange("ch-3", "run-1", "//r", base())
	applied.Status = ledger.StatusApplied
	wantErr(t, "PlanChange already applied", s.PlanChange(ctx, applied), ledger.ErrBadTransition)
	noResource := newChange("ch-4", "run-1", "", base())
	wantErr(t, "PlanChange without resource", s.PlanChange(ctx, noResource), ledger.ErrInvalid)
	badPlan := newChange("ch-5", "run-1", "//r", base())
	badPlan.Plan = json.RawMessage(`not json`)
	wantErr(t, "PlanChange with bad JSON", s.PlanChange(ctx, badPlan), ledger.ErrInvalid)

	all, err := s.Changes(ctx, ledger.ChangeFilter{})
	if err != nil || len(all) != 1 {
		t.Errorf("after refusals Changes = %d, %v; want only ch-1", len(all), err)
	}
}

// allowedMoves is the transition table, written out independently of CanMoveTo.
func allowedMoves() map[[2]ledger.ChangeStatus]bool {
	return map[[2]ledger.ChangeStatus]bool{
		{ledger.StatusPlanned, ledger.StatusApplied}:     true,
		{ledger.StatusPlanned, ledger.StatusFailed}:      true,
		{ledger.StatusApplied, ledger.StatusVerified}:    true,
		{ledger.StatusApplied, ledger.StatusFailed}:      true,
		{ledger.StatusApplied, ledger.StatusRolledBack}:  true,
		{ledger.StatusVerified, ledger.StatusRolledBack}: true,
		{ledger.StatusFailed, ledger.StatusRolledBack}:   true,
	}
}

func allStatuses() []ledger.ChangeStatus {
	return []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusApplied, ledger.StatusVerified, ledger.StatusFailed, ledger.StatusRolledBack}
}

// pathTo is a way for a new change to reach a status.
func pathTo(st ledger.ChangeStatus) []ledger.ChangeStatus {
	switch st {
	case ledger.StatusApplied:
		return []ledger.ChangeStatus{ledger.StatusApplied}
	case ledger.StatusVerified:
		return []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusVerified}
	case ledger.StatusFailed:
		return []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusFailed}
	case ledger.StatusRolledBack:
		return []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusRolledBack}
	default:
		return nil
	}
}

func testTransitions(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	allowed := allowedMoves()
	targets := append(allStatuses(), "bogus", "")
	n := 0
	for _, from := range allStatuses() {
		for _, to := range targets {
			n++
			id := fmt.Sprintf("ch-%02d", n)
			at := base().Add(time.Duration(n) * time.Minute)
			planChange(t, s, newChange(id, "run-1", "//r/"+id, at))
			for i, st := range pathTo(from) {
				setStatus(t, s, id, st, at.Add(time.Duration(i+1)*time.Second))
			}
			before, err := s.Events(ctx, id)
			if err != nil {
				t.Fatalf("Events(%s): %v", id, err)
			}
			err = s.SetStatus(ctx, id, to, "move", at.Add(time.Hour))
			want := allowed[[2]ledger.ChangeStatus{from, to}]
			if from.CanMoveTo(to) != want {
				t.Errorf("%s.CanMoveTo(%s) = %v, want %v", from, to, !want, want)
			}
			got, gerr := s.GetChange(ctx, id)
			if gerr != nil {
				t.Fatalf("GetChange(%s): %v", id, gerr)
			}
			after, eerr := s.Events(ctx, id)
			if eerr != nil {
				t.Fatalf("Events(%s): %v", id, eerr)
			}
			if want {
				if err != nil {
					t.Errorf("%s → %s refused: %v", from, to, err)
					continue
				}
				if got.Status != to || len(after) != len(before)+1 || after[len(after)-1].Status != to {
					t.Errorf("%s → %s: change is %s with %d events (had %d)", from, to, got.Status, len(after), len(before))
				}
				continue
			}
			if !errors.Is(err, ledger.ErrBadTransition) {
				t.Errorf("%s → %q: got %v, want ErrBadTransition", from, to, err)
				continue
			}
			for _, part := range []string{id, string(from), string(to)} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%s → %q: error %q does not name %q", from, to, err, part)
				}
			}
			if got.Status != from || len(after) != len(before) {
				t.Errorf("refused %s → %q changed the change: now %s with %d events (had %d)", from, to, got.Status, len(after), len(before))
			}
		}
	}
}

func testRacingTransitions(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	planChange(t, s, newChange("ch-1", "run-1", "//r", base()))
	const racers = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []ledger.ChangeStatus
		errs []error
	)
	for i := range racers {
		to := ledger.StatusApplied
		if i%2 == 1 {
			to = ledger.StatusFailed
		}
		wg.Go(func() {
			err := s.SetStatus(ctx, "ch-1", to, fmt.Sprintf("racer %d", i), base().Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, to)
			case !errors.Is(err, ledger.ErrBadTransition):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("racing SetStatus: %v", errors.Join(errs...))
	}
	// From planned, applied→failed is allowed but failed→applied is not: so either one
	// move won, or applied won and then a failed racer moved it on.
	events, err := s.Events(ctx, "ch-1")
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	var trail []ledger.ChangeStatus
	for _, e := range events {
		trail = append(trail, e.Status)
	}
	ok := slices.Equal(trail, []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusApplied}) ||
		slices.Equal(trail, []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusFailed}) ||
		slices.Equal(trail, []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusApplied, ledger.StatusFailed})
	if !ok || len(wins) != len(trail)-1 {
		t.Errorf("racing moves left events %v with %d winners %v", trail, len(wins), wins)
	}
	for i := 1; i < len(trail); i++ {
		if !trail[i-1].CanMoveTo(trail[i]) {
			t.Errorf("history holds a refused move %s → %s", trail[i-1], trail[i])
		}
	}
}

func testFilters(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	startRun(t, s, "run-2")
	type spec struct {
		id, run, resource string
		hour              int
		path              []ledger.ChangeStatus
	}
	specs := []spec{
		{"a", "run-1", "//fw/1", 0, nil},
		{"b", "run-1", "//fw/2", 1, []ledger.ChangeStatus{ledger.StatusApplied}},
		{"c", "run-1", "//fw/1", 2, []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusVerified}},
		{"d", "run-2", "//fw/1", 3, []ledger.ChangeStatus{ledger.StatusFailed}},
		{"e", "run-2", "//fw/3", 4, []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusRolledBack}},
		{"f", "run-2", "//fw/1", 4, nil}, // same time as e: ties go by ID, descending
	}
	for _, sp := range specs {
		at := base().Add(time.Duration(sp.hour) * time.Hour)
		planChange(t, s, newChange(sp.id, sp.run, sp.resource, at))
		for i, st := range sp.path {
			setStatus(t, s, sp.id, st, at.Add(time.Duration(i+1)*time.Minute))
		}
	}
	tests := []struct {
		name   string
		filter ledger.ChangeFilter
		want   []string
	}{
		{"everything, newest first", ledger.ChangeFilter{}, []string{"f", "e", "d", "c", "b", "a"}},
		{"since is inclusive", ledger.ChangeFilter{Since: base().Add(2 * time.Hour)}, []string{"f", "e", "d", "c"}},
		{"since in another zone", ledger.ChangeFilter{Since: base().Add(2 * time.Hour).In(time.FixedZone("PST", -8*3600))}, []string{"f", "e", "d", "c"}},
		{"since after everything", ledger.ChangeFilter{Since: base().Add(5 * time.Hour)}, nil},
		{"resource exact", ledger.ChangeFilter{Resource: "//fw/1"}, []string{"f", "d", "c", "a"}},
		{"resource is not a prefix", ledger.ChangeFilter{Resource: "//fw"}, nil},
		{"one status", ledger.ChangeFilter{Statuses: []ledger.ChangeStatus{ledger.StatusPlanned}}, []string{"f", "a"}},
		{"any of statuses", ledger.ChangeFilter{Statuses: []ledger.ChangeStatus{ledger.StatusApplied, ledger.StatusFailed, ledger.StatusRolledBack}}, []string{"e", "d", "b"}},
		{"run", ledger.ChangeFilter{RunID: "run-2"}, []string{"f", "e", "d"}},
		{"everything at once", ledger.ChangeFilter{
			Since: base().Add(time.Hour), Resource: "//fw/1", RunID: "run-2",
			Statuses: []ledger.ChangeStatus{ledger.StatusFailed, ledger.StatusPlanned},
		}, []string{"f", "d"}},
	}
	for _, tc := range tests {
		got, err := s.Changes(ctx, tc.filter)
		if err != nil {
			t.Fatalf("%s: Changes: %v", tc.name, err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("%s: Changes = %v, want %v", tc.name, ids, tc.want)
		}
	}
}

func testLockContention(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	const contenders = 32
	for round := range 3 {
		resource := fmt.Sprintf("//compute.googleapis.com/projects/p1/global/firewalls/fw-%d", round)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
			errs    []error
			start   = make(chan struct{})
		)
		for i := range contenders {
			owner := fmt.Sprintf("replica-%d", i)
			wg.Go(func() {
				<-start
				err := s.Lock(ctx, resource, owner, time.Minute, base())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, owner)
				case !errors.Is(err, ledger.ErrLocked):
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("Lock: %v", errors.Join(errs...))
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly one", round, len(winners), winners)
		}
	}
}

func testLockExpiry(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	const r = "//r"
	t0 := base()
	if err := s.Lock(ctx, r, "a", time.Minute, t0); err != nil {
		t.Fatalf("Lock(a): %v", err)
	}
	err := s.Lock(ctx, r, "b", time.Minute, t0.Add(30*time.Second))
	wantErr(t, "Lock(b) while a holds it", err, ledger.ErrLocked)
	if !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("ErrLocked does not name the holder: %v", err)
	}
	// a renews at +50s for a minute: the lock now runs to +110s.
	if err := s.Lock(ctx, r, "a", time.Minute, t0.Add(50*time.Second)); err != nil {
		t.Fatalf("renew by a: %v", err)
	}
	wantErr(t, "Lock(b) after the first expiry but before the renewed one",
		s.Lock(ctx, r, "b", time.Minute, t0.Add(100*time.Second)), ledger.ErrLocked)
	// Exactly at the expiry, the lock is free.
	if err := s.Lock(ctx, r, "b", time.Minute, t0.Add(110*time.Second)); err != nil {
		t.Fatalf("take over the expired lock: %v", err)
	}
	wantErr(t, "Lock(a) after b took over", s.Lock(ctx, r, "a", time.Minute, t0.Add(120*time.Second)), ledger.ErrLocked)
	// Renewing may also shorten.
	if err := s.Lock(ctx, r, "b", time.Second, t0.Add(120*time.Second)); err != nil {
		t.Fatalf("renew by b: %v", err)
	}
	if err := s.Lock(ctx, r, "a", time.Minute, t0.Add(121*time.Second)); err != nil {
		t.Fatalf("take over the shortened lock: %v", err)
	}
	wantErr(t, "Lock with zero ttl", s.Lock(ctx, r, "a", 0, t0), ledger.ErrInvalid)
	wantErr(t, "Lock without owner", s.Lock(ctx, r, "", time.Minute, t0), ledger.ErrInvalid)
	// Locks are per resource.
	if err := s.Lock(ctx, "//other", "b", time.Minute, t0.Add(121*time.Second)); err != nil {
		t.Fatalf("Lock on another resource: %v", err)
	}
}

func testUnlock(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	const r = "//r"
	t0 := time.Now()
	if err := s.Unlock(ctx, r, "a"); err != nil {
		t.Errorf("Unlock of a free resource: %v", err)
	}
	if err := s.Lock(ctx, r, "a", time.Hour, t0); err != nil {
		t.Fatalf("Lock(a): %v", err)
	}
	wantErr(t, "Unlock by a non-owner", s.Unlock(ctx, r, "b"), ledger.ErrLocked)
	wantErr(t, "Lock(b) after b's refused Unlock", s.Lock(ctx, r, "b", time.Hour, t0), ledger.ErrLocked)
	if err := s.Unlock(ctx, r, "a"); err != nil {
		t.Fatalf("Unlock by the owner: %v", err)
	}
	if err := s.Unlock(ctx, r, "a"); err != nil {
		t.Errorf("second Unlock: %v", err)
	}
	if err := s.Lock(ctx, r, "b", time.Hour, t0); err != nil {
		t.Fatalf("Lock(b) after Unlock: %v", err)
	}
	// The owner may release its own expired lock.
	if err := s.Lock(ctx, "//expired", "a", time.Second, t0.Add(-time.Hour)); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := s.Unlock(ctx, "//expired", "a"); err != nil {
		t.Fatalf("Unlock of an expired lock by its owner: %v", err)
	}
}

func testConcurrentWriters(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	// Every fifth change also records a decision, which numbers itself through the run's
	// row: writers contend on that row as well as on the tables.
	const writers, perWriter, decisionEvery = 8, 50, 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%03d", w, i)
				at := base().Add(time.Duration(w*perWriter+i) * time.Millisecond)
				err := s.PlanChange(ctx, newChange(id, "run-1", "//r/"+id, at))
				if err == nil {
					err = s.SetStatus(ctx, id, ledger.StatusApplied, "ok", at.Add(time.Second))
				}
				if err == nil && i%decisionEvery == 0 {
					err = s.RecordDecision(ctx, ledger.Decision{RunID: "run-1", Finding: id, Action: "fix", ChangeID: id, At: at})
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent writers: %v", errors.Join(errs...))
	}
	changes, err := s.Changes(ctx, ledger.ChangeFilter{RunID: "run-1", Statuses: []ledger.ChangeStatus{ledger.StatusApplied}})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if len(changes) != writers*perWriter {
		t.Errorf("Changes = %d applied, want %d", len(changes), writers*perWriter)
	}
	decisions, err := s.Decisions(ctx, "run-1")
	if err != nil {
		t.Fatalf("Decisions: %v", err)
	}
	seen := make(map[string]bool)
	for _, d := range decisions {
		seen[d.ChangeID] = true
	}
	if want := writers * perWriter / decisionEvery; len(decisions) != want || len(seen) != want {
		t.Errorf("Decisions = %d (%d distinct), want %d", len(decisions), len(seen), want)
	}
	for _, c := range changes[:10] {
		events, err := s.Events(ctx, c.ID)
		if err != nil || len(events) != 2 {
			t.Errorf("Events(%s) = %d, %v; want 2", c.ID, len(events), err)
		}
	}
}

func testJSONRoundTrip(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	startRun(t, s, "run-1")
	docs := []string{
		`{}`,
		`[]`,
		`null`,
		`"just a string"`,
		`12345678901234567890.000000000001`,
		`{"z": 1, "a": 2, "m": {"nested": [1, 2.5, -3e10, true, false, null]}}`,
		"{\n  \"pretty\": [\n    \"printed\"\n  ],\n  \"key\":\"value\"\n}",
		`{"unicode": "žluťoučký kůň 🐎 \u00e9 \ud83d\ude00", "escapes": "quote \" backslash \\ tab \t newline \n <html>&amp;"}`,
		`{"dup": 1, "dup": 2}`,
		`{"bindings":[{"role":"roles/owner","members":["serviceAccount:sa@p1.iam.gserviceaccount.com"]}],"etag":"BwX1234="}`,
	}
	for i, doc := range docs {
		id := fmt.Sprintf("ch-%d", i)
		c := newChange(id, "run-1", "//r", base())
		c.Snapshot = json.RawMessage(doc)
		c.Plan = json.RawMessage(doc)
		planChange(t, s, c)
		got, err := s.GetChange(ctx, id)
		if err != nil {
			t.Fatalf("GetChange: %v", err)
		}
		if compact(t, got.Snapshot) != compact(t, c.Snapshot) || compact(t, got.Plan) != compact(t, c.Plan) {
			t.Errorf("doc %d: got snapshot %s plan %s, want %s", i, got.Snapshot, got.Plan, doc)
		}
		if string(got.Snapshot) != doc {
			t.Errorf("doc %d: snapshot not kept byte for byte: %q, want %q", i, got.Snapshot, doc)
		}

		if err := s.RecordFindings(ctx, []ledger.Finding{{RunID: "run-1", ID: id, Evidence: json.RawMessage(doc)}}); err != nil {
			t.Fatalf("RecordFindings: %v", err)
		}
	}
	findings, err := s.Findings(ctx, "run-1")
	if err != nil {
		t.Fatalf("Findings: %v", err)
	}
	for _, f := range findings {
		var i int
		if _, err := fmt.Sscanf(f.ID, "ch-%d", &i); err != nil {
			t.Fatalf("finding ID %q: %v", f.ID, err)
		}
		if string(f.Evidence) != docs[i] {
			t.Errorf("finding %s evidence = %q, want %q", f.ID, f.Evidence, docs[i])
		}
	}
	// Absent JSON stays absent.
	c := newChange("bare", "run-1", "//r", base())
	c.Snapshot, c.Plan = nil, json.RawMessage{}
	planChange(t, s, c)
	got, err := s.GetChange(ctx, "bare")
	if err != nil {
		t.Fatalf("GetChange: %v", err)
	}
	if got.Snapshot != nil || got.Plan != nil {
		t.Errorf("absent JSON came back as %q, %q", got.Snapshot, got.Plan)
	}
	// And the whole change survives encoding/json both ways.
	enc, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if strings.Contains(string(enc), `"snapshot"`) {
		t.Errorf("absent snapshot marshalled: %s", enc)
	}
}

func testTimes(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s := fresh(t, k)
	zones := []*time.Location{time.UTC, time.FixedZone("NPT", 5*3600+45*60), time.FixedZone("HST", -10*3600)}
	startRun(t, s, "run-1")
	for i, loc := range zones {
		at := time.Date(2026, 7, 4, 23, 59, 59, 999_999_999, loc)
		id := fmt.Sprintf("ch-%d", i)
		planChange(t, s, newChange(id, "run-1", "//r", at))
		setStatus(t, s, id, ledger.StatusApplied, at.Add(1500*time.Microsecond))
		c, err := s.GetChange(ctx, id)
		if err != nil {
			t.Fatalf("GetChange: %v", err)
		}
		if !c.At.Equal(stored(at)) || c.At.Location() != time.UTC {
			t.Errorf("At = %v, want %v in UTC", c.At, stored(at))
		}
		if got := c.UpdatedAt.Sub(c.At); got != 1500*time.Microsecond {
			t.Errorf("UpdatedAt − At = %v, want 1.5ms", got)
		}
	}
	// Far past and future.
	for i, at := range []time.Time{time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2199, 12, 31, 0, 0, 0, 0, time.UTC)} {
		id := fmt.Sprintf("edge-%d", i)
		planChange(t, s, newChange(id, "run-1", "//r", at))
		c, err := s.GetChange(ctx, id)
		if err != nil {
			t.Fatalf("GetChange: %v", err)
		}
		if !c.At.Equal(at) {
			t.Errorf("At = %v, want %v", c.At, at)
		}
	}
}

func testClosed(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	s, err := ledger.Open(ctx, k.newURL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	startRun(t, s, "run-1")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GetRun(ctx, "run-1"); err == nil {
		t.Errorf("GetRun on a closed store succeeded")
	}
	if err := s.StartRun(ctx, ledger.Run{ID: "run-2"}); err == nil {
		t.Errorf("StartRun on a closed store succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s2 := fresh(t, k)
	if err := s2.StartRun(cancelled, ledger.Run{ID: "run-3"}); err == nil {
		t.Errorf("StartRun with a cancelled context succeeded")
	}
	if _, err := s2.GetRun(ctx, "run-3"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("a cancelled StartRun left a run behind: %v", err)
	}
	// The store still works after a cancelled call.
	startRun(t, s2, "run-4")
}

func testMigrationsIdempotent(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	url := k.newURL(t)
	first := openStore(t, url)
	startRun(t, first, "run-1")
	second := openStore(t, url) // migrates again while the first is open
	if _, err := second.GetRun(ctx, "run-1"); err != nil {
		t.Fatalf("second store: GetRun: %v", err)
	}
	startRun(t, second, "run-2")
	if _, err := first.GetRun(ctx, "run-2"); err != nil {
		t.Fatalf("first store: GetRun of the second's run: %v", err)
	}
	third := openStore(t, url)
	if _, err := third.GetRun(ctx, "run-2"); err != nil {
		t.Fatalf("third store: GetRun: %v", err)
	}
	if n := k.count(t, url, `SELECT count(*) FROM schema_migrations`); n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1 (one migration, applied once)", n)
	}
}

func testConcurrentStartup(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	url := k.newURL(t)
	const replicas = 6
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		stores []ledger.Store
		start  = make(chan struct{})
	)
	for range replicas {
		wg.Go(func() {
			<-start
			s, err := ledger.Open(ctx, url)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			stores = append(stores, s)
		})
	}
	close(start)
	wg.Wait()
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}
	if len(errs) > 0 {
		t.Fatalf("concurrent Open: %v", errors.Join(errs...))
	}
	for i, s := range stores {
		startRun(t, s, fmt.Sprintf("run-%d", i))
	}
	if n := k.count(t, url, `SELECT count(*) FROM schema_migrations`); n != 1 {
		t.Errorf("schema_migrations has %d rows, want 1", n)
	}
	if n := k.count(t, url, `SELECT count(*) FROM runs`); n != replicas {
		t.Errorf("runs has %d rows, want %d", n, replicas)
	}
}

func testSurvivesReopen(t *testing.T, k ledgerKind) {
	ctx := testContext(t)
	url := k.newURL(t)
	s, err := ledger.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	startRun(t, s, "run-1")
	if err := s.FinishRun(ctx, "run-1", "done", json.RawMessage(`{"changes":1}`), base().Add(time.Minute)); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	if err := s.RecordFindings(ctx, []ledger.Finding{finding("run-1", "f1")}); err != nil {
		t.Fatalf("RecordFindings: %v", err)
	}
	if err := s.RecordDecision(ctx, ledger.Decision{RunID: "run-1", Finding: "f1", Action: "fix", ChangeID: "ch-1", At: base()}); err != nil {
		t.Fatalf("RecordDecision: %v", err)
	}
	c := newChange("ch-1", "run-1", "//r", base())
	planChange(t, s, c)
	setStatus(t, s, "ch-1", ledger.StatusApplied, base().Add(time.Second))
	if err := s.Lock(ctx, "//r", "replica-a", time.Hour, base()); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, url)
	run, err := s.GetRun(ctx, "run-1")
	if err != nil || run.Status != "done" || compact(t, run.Summary) != `{"changes":1}` {
		t.Errorf("reopened GetRun = %+v, %v", run, err)
	}
	if fs, err := s.Findings(ctx, "run-1"); err != nil || len(fs) != 1 {
		t.Errorf("reopened Findings = %d, %v", len(fs), err)
	}
	if ds, err := s.Decisions(ctx, "run-1"); err != nil || len(ds) != 1 || ds[0].ChangeID != "ch-1" {
		t.Errorf("reopened Decisions = %+v, %v", ds, err)
	}
	got, err := s.GetChange(ctx, "ch-1")
	if err != nil {
		t.Fatalf("reopened GetChange: %v", err)
	}
	want := c
	want.Status, want.Detail, want.At, want.UpdatedAt = ledger.StatusApplied, "to applied", stored(base()), stored(base().Add(time.Second))
	assertChange(t, *got, want)
	if ev, err := s.Events(ctx, "ch-1"); err != nil || len(ev) != 2 {
		t.Errorf("reopened Events = %+v, %v", ev, err)
	}
	wantErr(t, "reopened Lock by another owner", s.Lock(ctx, "//r", "replica-b", time.Hour, base().Add(time.Minute)), ledger.ErrLocked)
	// The interrupted change can move on where it left off.
	setStatus(t, s, "ch-1", ledger.StatusVerified, base().Add(2*time.Second))
}
