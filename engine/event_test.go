package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
)

const prodFirewalls = "compute/v1/projects/acme-prod/global/firewalls"

// openFirewall creates a firewall that admits SSH from anywhere through the compute API and
// returns its asset as the feed would carry it. It logs its connections, so that admitting
// SSH from anywhere is its only drift.
func (f *fixture) openFirewall(name string) *inventory.Asset {
	f.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "network": "global/networks/prod-vpc", "sourceRanges": []string{"0.0.0.0/0"},
		"allowed": []map[string]any{{"IPProtocol": "tcp", "ports": []string{"22"}}}, "logConfig": map[string]any{"enable": true}})
	resp, err := http.Post(f.url+"/"+prodFirewalls, "application/json", bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("inserting firewall %s: %d", name, resp.StatusCode)
	}
	return f.asset("//compute.googleapis.com/projects/acme-prod/global/firewalls/" + name)
}

func (f *fixture) asset(name string) *inventory.Asset {
	f.t.Helper()
	for _, a := range f.srv.Assets() {
		if a.Name == name {
			return a
		}
	}
	f.t.Fatalf("no asset %s in the sandbox", name)
	return nil
}

func eventOf(a *inventory.Asset) engine.Event {
	return engine.Event{Asset: a, Key: a.Name + "@" + a.UpdateTime.Format(time.RFC3339Nano)}
}

func (f *fixture) handle(h *engine.EventHandler, ev engine.Event) *engine.EventResult {
	f.t.Helper()
	res, err := h.Handle(context.Background(), ev)
	if err != nil {
		f.t.Fatalf("handling %s: %v", ev.Key, err)
	}
	return res
}

func (f *fixture) decisions(runID string) []ledger.Decision {
	f.t.Helper()
	ds, err := f.store.Decisions(context.Background(), runID)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func TestEventFixesAnOpenFirewallOnce(t *testing.T) {
	f := newFixture(t, nil, "")
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: -1})
	a := f.openFirewall("evt-ssh")
	ev := eventOf(a)
	res := f.handle(h, ev)
	if res.Duplicate || len(res.Findings) != 1 || len(res.Decisions) != 1 {
		t.Fatalf("result: %+v", res)
	}
	d := res.Decisions[0]
	if d.Action != engine.ActionFix || d.ChangeStatus != string(ledger.StatusVerified) || d.Playbook != "firewall-restrict-sources" {
		t.Fatalf("decision: %+v", d)
	}
	if _, fw := f.get(prodFirewalls + "/evt-ssh"); !strings.Contains(mustJSON(t, fw["sourceRanges"]), "35.235.240.0/20") {
		t.Fatalf("firewall not fixed: %v", fw["sourceRanges"])
	}
	run, err := f.store.GetRun(context.Background(), res.RunID)
	if err != nil || run.Kind != engine.RunKindEvent || run.Status != "done" || run.Mode != "apply" || res.RunID != engine.EventRunID(ev.Key) {
		t.Fatalf("run %+v, %v", run, err)
	}
	if ds := f.decisions(res.RunID); len(ds) != 1 || ds[0].ChangeID != d.ChangeID {
		t.Fatalf("ledger decisions: %+v", ds)
	}

	// The same change delivered again changes nothing and records nothing.
	again := f.handle(h, ev)
	if !again.Duplicate || len(again.Decisions) != 0 {
		t.Fatalf("second delivery: %+v", again)
	}
	if ds := f.decisions(res.RunID); len(ds) != 1 {
		t.Fatalf("ledger decisions after a duplicate: %+v", ds)
	}
	if n := len(f.changes()); n != 1 {
		t.Fatalf("%d changes, want 1", n)
	}

	// The fix's own change (a compliant firewall) has no findings: nothing is recorded.
	fixed := f.asset(a.Name)
	clean := f.handle(h, eventOf(fixed))
	if len(clean.Findings) != 0 {
		t.Fatalf("the fixed firewall still has findings: %+v", clean.Findings)
	}
	if _, err := f.store.GetRun(context.Background(), clean.RunID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a clean event was recorded: %v", err)
	}
}

// A stale event (the drift it reports is gone) is re-read before any change: already fixed.
func TestStaleEventIsReReadBeforeActing(t *testing.T) {
	f := newFixture(t, nil, "")
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: -1})
	a := f.openFirewall("evt-stale")
	req, _ := http.NewRequest(http.MethodPatch, f.url+"/"+prodFirewalls+"/evt-stale", strings.NewReader(`{"sourceRanges":["10.0.0.0/8"]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	res := f.handle(h, eventOf(a))
	if len(res.Decisions) != 1 || res.Decisions[0].Action != engine.ActionAlreadyFixed {
		t.Fatalf("decisions: %+v", res.Decisions)
	}
	if n := len(f.changes()); n != 0 {
		t.Fatalf("%d changes for a stale event", n)
	}
}

// A handling interrupted after some decisions is resumed: only the rest is decided.
func TestInterruptedEventIsResumed(t *testing.T) {
	f := newFixture(t, nil, "")
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: -1})
	ctx := context.Background()

	// Interrupted before deciding: the run exists, running, without decisions.
	a := f.openFirewall("evt-resume")
	ev := eventOf(a)
	runID := engine.EventRunID(ev.Key)
	if err := f.store.StartRun(ctx, ledger.Run{ID: runID, Kind: engine.RunKindEvent, Status: "running"}); err != nil {
		t.Fatal(err)
	}
	res := f.handle(h, ev)
	if !res.Resumed || len(res.Decisions) != 1 || res.Decisions[0].Action != engine.ActionFix {
		t.Fatalf("resumed: %+v", res)
	}
	if run, _ := f.store.GetRun(ctx, runID); run.Status != "done" {
		t.Fatalf("resumed run is %s", run.Status)
	}

	// Interrupted after deciding, before finishing: nothing is decided twice.
	b := f.openFirewall("evt-resume-2")
	ev = eventOf(b)
	first := f.handle(h, ev) // decided and finished
	if err := f.store.FinishRun(ctx, first.RunID, "running", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	res = f.handle(h, ev)
	if !res.Resumed || len(res.Decisions) != 0 {
		t.Fatalf("resumed after deciding: %+v", res)
	}
	if ds := f.decisions(first.RunID); len(ds) != 1 {
		t.Fatalf("decisions: %+v", ds)
	}
	if n := len(f.changes()); n != 2 {
		t.Fatalf("%d changes, want 2", n)
	}
}

func TestEventExemptionsAndLabelsFromContext(t *testing.T) {
	f := newFixture(t, nil, `exemptions:
  - resource: //compute.googleapis.com/projects/acme-prod/global/firewalls/evt-exempt
    rules: [firewall-open-ingress]
    reason: migration bastion
    owner: netsec@acme.example
    expires: 2099-01-31
`)
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: -1})
	res := f.handle(h, eventOf(f.openFirewall("evt-exempt")))
	if len(res.Decisions) != 1 || res.Decisions[0].Action != engine.ActionExempt || !strings.Contains(res.Decisions[0].Reason, "migration bastion") {
		t.Fatalf("exempt: %+v", res.Decisions)
	}

	// A project labelled zerodrift-exempt, given as the event's context.
	project := f.asset("//cloudresourcemanager.googleapis.com/projects/100000000001")
	var data map[string]any
	if err := json.Unmarshal(project.Resource.Data, &data); err != nil {
		t.Fatal(err)
	}
	data["labels"] = map[string]any{"zerodrift-exempt": "workshop"}
	project.Resource.Data, _ = json.Marshal(data)
	ev := eventOf(f.openFirewall("evt-labelled"))
	ev.Context = []*inventory.Asset{project}
	res = f.handle(h, ev)
	if len(res.Decisions) != 1 || res.Decisions[0].Action != engine.ActionExempt || !strings.Contains(res.Decisions[0].Reason, "workshop") {
		t.Fatalf("labelled project: %+v", res.Decisions)
	}
	if n := len(f.changes()); n != 0 {
		t.Fatalf("%d changes to exempt resources", n)
	}
}

// maxChanges bounds the live changes of all events over the window.
func TestEventChangeBudget(t *testing.T) {
	f := newFixture(t, nil, "")
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: 1, Window: time.Hour})
	first := f.handle(h, eventOf(f.openFirewall("evt-budget-1")))
	second := f.handle(h, eventOf(f.openFirewall("evt-budget-2")))
	if first.Decisions[0].Action != engine.ActionFix {
		t.Fatalf("first: %+v", first.Decisions)
	}
	d := second.Decisions[0]
	if d.Action != engine.ActionSkippedLimit || !strings.Contains(d.Reason, "maxChanges (1 live changes in 1h0m0s)") {
		t.Fatalf("second: %+v", d)
	}
	// A decision that changes nothing does not use the budget up.
	if n := len(f.changes()); n != 1 {
		t.Fatalf("%d changes, want 1", n)
	}
}

// A configuration reloaded in event mode gives a successor handler: the changes made
// before the reload still count within the window, and the new limits apply at once.
func TestEventSuccessorKeepsTheBudget(t *testing.T) {
	f := newFixture(t, nil, "")
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: 1, Window: time.Hour})
	if res := f.handle(h, eventOf(f.openFirewall("evt-reload-1"))); res.Decisions[0].Action != engine.ActionFix {
		t.Fatalf("before the reload: %+v", res.Decisions)
	}
	same := h.Successor(f.engine, engine.EventOptions{Apply: true, MaxChanges: 1, Window: time.Hour})
	if d := f.handle(same, eventOf(f.openFirewall("evt-reload-2"))).Decisions[0]; d.Action != engine.ActionSkippedLimit {
		t.Fatalf("a reload with the same limits gave a fresh budget: %+v", d)
	}
	raised := same.Successor(f.engine, engine.EventOptions{Apply: true, MaxChanges: 2, Window: time.Hour})
	if d := f.handle(raised, eventOf(f.openFirewall("evt-reload-3"))).Decisions[0]; d.Action != engine.ActionFix {
		t.Fatalf("maxChanges raised to 2 by a reload: %+v", d)
	}
	if d := f.handle(raised, eventOf(f.openFirewall("evt-reload-4"))).Decisions[0]; d.Action != engine.ActionSkippedLimit ||
		!strings.Contains(d.Reason, "maxChanges (2 live changes in 1h0m0s)") {
		t.Fatalf("third change within the window under maxChanges 2: %+v", d)
	}
	if n := len(f.changes()); n != 2 {
		t.Fatalf("%d changes, want 2", n)
	}
}

func TestEventBusyAndDryRun(t *testing.T) {
	f := newFixture(t, nil, "")
	ctx := context.Background()
	a := f.openFirewall("evt-busy")
	if err := f.store.Lock(ctx, "zerodrift-event:"+a.Name, "another-replica", time.Minute, now); err != nil {
		t.Fatal(err)
	}
	h := f.engine.NewEventHandler(engine.EventOptions{Apply: true, MaxChanges: -1})
	if _, err := h.Handle(ctx, eventOf(a)); !errors.Is(err, engine.ErrEventBusy) {
		t.Fatalf("busy: %v", err)
	}
	if err := f.store.Unlock(ctx, "zerodrift-event:"+a.Name, "another-replica"); err != nil {
		t.Fatal(err)
	}
	dry := f.engine.NewEventHandler(engine.EventOptions{MaxChanges: -1})
	res := f.handle(dry, eventOf(a))
	if d := res.Decisions[0]; d.Action != engine.ActionFix || !strings.Contains(d.Reason, "dry run") {
		t.Fatalf("dry run: %+v", d)
	}
	if n := len(f.changes()); n != 0 {
		t.Fatalf("a dry run made %d changes", n)
	}
	if _, err := dry.Handle(ctx, engine.Event{}); err == nil {
		t.Fatal("an event without an asset was accepted")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
