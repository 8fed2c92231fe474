package remediators_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/rules"
)

// egressFindings runs egress-deny-not-set over the network and every firewall rule of its
// project, as a scan does, and returns the findings on the network.
func egressFindings(t *testing.T, e *env, project, network string) []rules.Finding {
	t.Helper()
	var assets []*inventory.Asset
	for _, a := range e.srv.Assets() {
		if strings.HasPrefix(a.Name, computePrefix+project+"/global/") &&
			(a.AssetType == inventory.TypeFirewall || a.AssetType == inventory.TypeNetwork) {
			assets = append(assets, a)
		}
	}
	r := rules.ByID(rules.Default())["egress-deny-not-set"].(rules.SetRule)
	tally := r.Tally(rules.DefaultEnv(time.Now()))
	for _, a := range assets {
		if err := tally.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	var out rules.Results
	if err := tally.Finish(&out); err != nil {
		t.Fatal(err)
	}
	var mine []rules.Finding
	for _, f := range out.Findings {
		if f.Resource == networkName(project, network) {
			mine = append(mine, f)
		}
	}
	return mine
}

// The egress deny rule is created once: the rule is satisfied, planning again has nothing to
// do, and Restore deletes it. Its default name, held by another network's rule, becomes the
// network's own; the plan names the allow rules that stay ahead of it and warns of the cut.
func TestCreateEgressDeny(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionCreateEgressDeny)
	edge := networkName(edgeProject, "vpc-edge")
	if f := egressFindings(t, e, edgeProject, "vpc-edge"); len(f) != 1 {
		t.Fatalf("egress-deny-not-set finds %d drifts on vpc-edge before, want 1", len(f))
	}
	snap, p := e.plan(a, edge, remediators.Request{})
	want := firewallName(edgeProject, "zerodrift-deny-all-egress-vpc-edge")
	if len(p.Creates) != 1 || p.Creates[0] != want {
		t.Errorf("Creates = %v, want [%s]", p.Creates, want)
	}
	for _, s := range []string{"THIS CAN CUT TRAFFIC", "internal ones included", "allow-egress-apis (1000)", "priority 65535"} {
		if !strings.Contains(p.Summary, s) {
			t.Errorf("summary %q does not say %q", p.Summary, s)
		}
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if f := egressFindings(t, e, edgeProject, "vpc-edge"); len(f) != 0 {
		t.Errorf("egress-deny-not-set still finds %+v", f)
	}
	if err := e.planErr(a, edge, remediators.Request{}); !errors.Is(err, remediators.ErrNothingToDo) ||
		!strings.Contains(err.Error(), "zerodrift-deny-all-egress-vpc-edge") {
		t.Errorf("second plan: %v, want ErrNothingToDo naming the rule", err)
	}
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("second Apply: %v", err)
	}
	if n := calls(e.srv, "firewalls.insert", http.StatusOK); n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, want); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("the rule after Restore: %v, want it gone", err)
	}
	if f := egressFindings(t, e, edgeProject, "vpc-edge"); len(f) != 1 {
		t.Errorf("egress-deny-not-set finds %d drifts after Restore, want 1", len(f))
	}
	// The network whose rule holds the default name is compliant already.
	if err := e.planErr(a, networkName(edgeProject, "vpc-other"), remediators.Request{}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("vpc-other: %v, want ErrNothingToDo", err)
	}
}

func TestCreateEgressDenyParams(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionCreateEgressDeny)
	edge := networkName(edgeProject, "vpc-edge")
	// A name and priority given are used; at priority 500 no allow rule is ahead.
	snap, p := e.plan(a, edge, roundTrip(t, remediators.Request{Params: map[string]any{"name": "edge-deny-egress", "priority": 500}}))
	if !strings.Contains(p.Summary, "ALL outbound traffic of its instances stops") || p.Creates[0] != firewallName(edgeProject, "edge-deny-egress") {
		t.Errorf("plan = %q, %v", p.Summary, p.Creates)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantField(t, e.snapshot(e.action(firewall.ActionDisable), p.Creates[0]), "priority", "500")
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	// A name another rule holds is refused.
	r := refused(t, e.planErr(a, edge, remediators.Request{Params: map[string]any{"name": "deny-egress-tcp"}}))
	if !strings.Contains(r.Reason, "params.name") {
		t.Errorf("taken name: %v", r)
	}
	for _, params := range []map[string]any{
		{"name": "Deny"}, {"name": "-x"}, {"name": strings.Repeat("a", 64)}, {"name": 5},
		{"priority": -1}, {"priority": 65536}, {"priority": 1.5},
	} {
		if err := e.planErr(a, edge, remediators.Request{Params: params}); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("params %v: %v, want ErrInvalidRequest", params, err)
		}
	}
	if _, err := a.Snapshot(e.ctx, networkName(edgeProject, "ghost")); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("snapshot of a missing network: %v", err)
	}
}

// Restore deletes only the rule zerodrift created: one that is not zerodrift's any more (its
// description replaced) is left, with an error.
func TestCreateEgressDenyRestoreLeavesAForeignRule(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionCreateEgressDeny)
	snap, p := e.plan(a, networkName(prodProject, "vpc-main"), remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	rule := e.snapshot(e.action(firewall.ActionDisable), p.Creates[0])
	e.driftData(p.Creates[0], inventory.TypeFirewall, rule.Data, func(d map[string]any) { d["description"] = "ours now: the platform team" })
	if err := a.Restore(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Errorf("Restore of a rule taken over: %v, want ErrChanged", err)
	}
	if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, p.Creates[0]); err != nil {
		t.Errorf("the rule was deleted: %v", err)
	}
	// Changed but still zerodrift's (disabled by someone): deleted.
	e.driftData(p.Creates[0], inventory.TypeFirewall, rule.Data, func(d map[string]any) { d["disabled"] = true })
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, p.Creates[0]); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("the rule after Restore: %v", err)
	}
}
