package engine_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/internal/process"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/remediators"
)

// deadProcess is the identity of a process that has ended: one started and waited for.
func deadProcess(t *testing.T) process.ID {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("a dead lock holder is proven dead on Linux only")
	}
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	id := process.Self()
	id.PID = done.ProcessState.Pid()
	return id
}

// crashedChange records a change of the crashed run on a firewall, as it stood when the
// run died: planned or applied by action (firewall.restrictSources), restricting the
// firewall's sources.
func crashedChange(t *testing.T, f *fixture, id, resource, action string, status ledger.ChangeStatus) {
	t.Helper()
	ctx := context.Background()
	plan, err := json.Marshal(remediators.Plan{Action: action, Resource: resource,
		Request: remediators.Request{Params: map[string]any{"ranges": []string{"35.235.240.0/20"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PlanChange(ctx, ledger.Change{ID: id, RunID: "run-crashed", Resource: resource, Playbook: "firewall-restrict-sources",
		Action: action, Snapshot: json.RawMessage(`{}`), Plan: plan, At: now}); err != nil {
		t.Fatal(err)
	}
	if status == ledger.StatusApplied {
		if err := f.store.SetStatus(ctx, id, ledger.StatusApplied, "", now); err != nil {
			t.Fatal(err)
		}
	}
}

// A run that died holding locks (its process proven dead) does not block the next run:
// its locks are taken over at once, though their TTL has not passed, its changes left in
// flight are reconciled and redone, and it is recorded as failed. A lock held by a live
// process is still respected.
func TestLocksOfADeadRunAreTakenOver(t *testing.T) {
	dead := "run-crashed@" + deadProcess(t).String()
	f := newFixture(t, nil, "maxChanges: 50\n")
	ctx := context.Background()
	if err := f.store.StartRun(ctx, ledger.Run{ID: "run-crashed", Kind: "run", Mode: "apply", StartedAt: now, Status: "running"}); err != nil {
		t.Fatal(err)
	}
	const (
		rdp    = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split"
		legacy = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-legacy-range"
		devSSH = "//compute.googleapis.com/projects/acme-dev/global/firewalls/default-allow-ssh"
		devRDP = "//compute.googleapis.com/projects/acme-dev/global/firewalls/default-allow-rdp"
	)
	// Died right after locking (no record), right after planning, and after recording a
	// change applied that does not hold on the resource.
	crashedChange(t, f, "chg-planned", rdp, "firewall.restrictSources", ledger.StatusPlanned)
	crashedChange(t, f, "chg-applied", devSSH, "firewall.restrictSources", ledger.StatusApplied)
	// A change left in flight by an action this build lacks cannot be reconciled: its
	// resource is not changed again until someone does.
	crashedChange(t, f, "chg-unknown", devRDP, "firewall.fromTheFuture", ledger.StatusPlanned)
	for _, r := range []string{sshWorld, rdp, devSSH} {
		if err := f.store.Lock(ctx, r, dead, time.Hour, now); err != nil {
			t.Fatal(err)
		}
	}
	// A live process (this one) holds another resource.
	if err := f.store.Lock(ctx, legacy, "run-alive@"+process.Self().String(), time.Hour, now); err != nil {
		t.Fatal(err)
	}

	res := f.run(true, -1)
	for _, r := range []string{sshWorld, rdp, devSSH} {
		if d := decisionFor(t, res, r, "firewall-open-ingress"); d.Action != engine.ActionFix || d.ChangeStatus != string(ledger.StatusVerified) {
			t.Errorf("%s locked by a dead run: decided %+v, want fixed", r, d)
		}
	}
	if d := decisionFor(t, res, legacy, "firewall-open-ingress"); d.Action != engine.ActionRefused || !strings.Contains(d.Reason, "lock") {
		t.Errorf("%s locked by a live process: decided %+v, want refused for the lock", legacy, d)
	}
	if d := decisionFor(t, res, devRDP, "firewall-open-ingress"); d.Action != engine.ActionRefused || !strings.Contains(d.Reason, "chg-unknown") {
		t.Errorf("%s with a change left in flight that cannot be reconciled: decided %+v, want refused", devRDP, d)
	}
	for id, detail := range map[string]string{"chg-planned": "interrupted before the change reached the API", "chg-applied": "does not hold"} {
		c, err := f.store.GetChange(ctx, id)
		if err != nil || c.Status != ledger.StatusFailed || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Detail, res.RunID) {
			t.Errorf("change %s after reconciling: %+v %v; want failed: %s", id, c, err, detail)
		}
	}
	run, err := f.store.GetRun(ctx, "run-crashed")
	if err != nil || run.Status != "failed" || !strings.Contains(string(run.Summary), "died") {
		t.Errorf("the dead run: %+v %v; want it recorded failed", run, err)
	}
	// Every lock was released or left to its live holder.
	for _, r := range []string{sshWorld, rdp, devSSH} {
		if err := f.store.Lock(ctx, r, "probe", time.Minute, now); err != nil {
			t.Errorf("%s is still locked: %v", r, err)
		}
	}
	if err := f.store.Lock(ctx, legacy, "probe", time.Minute, now); err == nil {
		t.Errorf("the live holder's lock on %s was taken", legacy)
	}
}
