package remediators_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/instance"
	"github.com/zerodrift/zerodrift/sandbox"
)

func accessConfigsEvidence(configs ...string) remediators.Request {
	list := make([]any, len(configs))
	for i, c := range configs {
		list[i] = c
	}
	return remediators.Request{Evidence: map[string]any{"accessConfigs": list}}
}

// nics returns, per network interface of an instance snapshot, its IPv4 access configs as
// name=natIP and its IPv6 ones as name.
func nics(t *testing.T, s *remediators.Snapshot) map[string][]string {
	t.Helper()
	a, err := s.Asset()
	if err != nil {
		t.Fatal(err)
	}
	inst, err := a.Instance()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range inst.NetworkInterfaces {
		out[n.Name] = []string{}
		for _, ac := range n.AccessConfigs {
			out[n.Name] = append(out[n.Name], ac.Name+"="+ac.NatIP)
		}
		for _, ac := range n.IPv6AccessConfigs {
			out[n.Name] = append(out[n.Name], ac.Name)
		}
	}
	return out
}

func wantNICs(t *testing.T, s *remediators.Snapshot, want map[string]string) {
	t.Helper()
	got := nics(t, s)
	for n, w := range want {
		if g := strings.Join(got[n], ","); g != w {
			t.Errorf("%s: %s has %q, want %q", s.Resource, n, g, w)
		}
	}
}

// Only the access configs the finding names go; Restore re-adds them with their address.
func TestRemoveNamedExternalIPOnly(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionRemoveExternalIP)
	web := instanceName(edgeProject, edgeZone, "web-2")
	snap, p := e.plan(a, web, accessConfigsEvidence("nic0/External NAT"))
	if !strings.Contains(p.Summary, "nic0/External NAT (203.0.113.20)") || strings.Contains(p.Summary, "nic1") ||
		!strings.Contains(p.Summary, "ephemeral address is lost for good") {
		t.Errorf("summary = %q", p.Summary)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	after := e.snapshot(a, web)
	wantNICs(t, after, map[string]string{"nic0": "", "nic1": "nic1-nat=203.0.113.21,External IPv6"})
	if n := calls(e.srv, "instances.deleteAccessConfig", http.StatusOK); n != 1 {
		t.Errorf("%d deleteAccessConfig calls, want 1", n)
	}
	// Planning the same finding again: nothing left of it.
	if _, err := a.Plan(e.ctx, after, roundTrip(t, accessConfigsEvidence("nic0/External NAT"))); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("Plan after Apply: %v", err)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	now := e.snapshot(a, web)
	wantNICs(t, now, map[string]string{"nic0": "External NAT=203.0.113.20", "nic1": "nic1-nat=203.0.113.21,External IPv6"})
	if was, is := field(t, snap.Data, "networkInterfaces"), field(t, now.Data, "networkInterfaces"); was != is {
		t.Errorf("networkInterfaces after Restore\n%s\nwas\n%s", is, was)
	}
	if n := calls(e.srv, "instances.addAccessConfig", http.StatusOK); n != 1 {
		t.Errorf("%d addAccessConfig calls, want 1", n)
	}
	// Restoring again adds nothing.
	if err := a.Restore(e.ctx, snap, p); err != nil || calls(e.srv, "instances.addAccessConfig", http.StatusOK) != 1 {
		t.Errorf("Restore again: %v", err)
	}
}

// IPv6 access configs are out of scope: named by the finding, they are left and the plan
// says so; when they are all that is left, the action refuses.
func TestRemoveExternalIPLeavesIPv6(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionRemoveExternalIP)
	web := instanceName(edgeProject, edgeZone, "web-2")
	orig := e.snapshot(a, web)
	f := evaluate(t, "compute-public-ip", orig)
	if len(f) != 1 {
		t.Fatalf("compute-public-ip finds %d drifts on web-2", len(f))
	}
	req := roundTrip(t, remediators.Request{Evidence: f[0].Evidence})
	p, err := a.Plan(e.ctx, orig, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Summary, "IPv6 access configs nic1/External IPv6 are left") || !strings.Contains(p.Summary, "nic1/nic1-nat (203.0.113.21)") {
		t.Errorf("summary = %q", p.Summary)
	}
	if _, err := a.Apply(e.ctx, orig, p); err != nil {
		t.Fatal(err)
	}
	after := e.snapshot(a, web)
	wantNICs(t, after, map[string]string{"nic0": "", "nic1": "External IPv6"})
	r := refused(t, e.planErr(a, web, req))
	if !strings.Contains(r.Reason, "IPv6") {
		t.Errorf("refusal = %v", r)
	}
	// The rule still finds the IPv6 address: the engine's verification would say so.
	if g := evaluate(t, "compute-public-ip", after); len(g) != 1 || g[0].Evidence["accessConfigs"].([]string)[0] != "nic1/External IPv6" {
		t.Errorf("compute-public-ip after Apply: %+v", g)
	}
}

// Without evidence every external IPv4 access config goes. When the old address cannot be
// had again (400, as for a released ephemeral address), Restore adds the access config with
// a new ephemeral address.
func TestRemoveExternalIPRestoreGetsANewEphemeralAddress(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionRemoveExternalIP)
	app := instanceName(edgeProject, edgeZone, "app-1")
	snap, p := e.plan(a, app, remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantNICs(t, e.snapshot(a, app), map[string]string{"nic0": "", "nic1": ""})
	if err := e.srv.SetFaults(sandbox.Faults{FailCalls: 1, ErrorStatus: http.StatusBadRequest,
		Match: func(_, method string) bool { return method == "instances.addAccessConfig" }}); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	wantNICs(t, e.snapshot(a, app), map[string]string{"nic0": "External NAT=198.51.100.1", "nic1": "nic1-nat=203.0.113.11"})
	if n, bad := calls(e.srv, "instances.addAccessConfig", http.StatusOK), calls(e.srv, "instances.addAccessConfig", http.StatusBadRequest); n != 2 || bad != 1 {
		t.Errorf("addAccessConfig: %d added and %d refused, want 2 and 1", n, bad)
	}
}

// A partial Apply (the second delete fails) leaves what it removed removed, and Restore
// brings it back.
func TestRemoveExternalIPPartialApplyRestores(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionRemoveExternalIP)
	app := instanceName(edgeProject, edgeZone, "app-1")
	snap, p := e.plan(a, app, remediators.Request{})
	if err := e.srv.SetFaults(sandbox.Faults{StartAfter: 1, FailCalls: 1, ErrorStatus: http.StatusInternalServerError,
		Match: func(_, method string) bool { return method == "instances.deleteAccessConfig" }}); err != nil {
		t.Fatal(err)
	}
	_, err := a.Apply(e.ctx, snap, p)
	if err == nil || !strings.Contains(err.Error(), "removed so far: [nic0/External NAT]") {
		t.Fatalf("Apply with a failing second delete: %v", err)
	}
	wantNICs(t, e.snapshot(a, app), map[string]string{"nic0": "", "nic1": "nic1-nat=203.0.113.11"})
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if was, is := field(t, snap.Data, "networkInterfaces"), field(t, e.snapshot(a, app).Data, "networkInterfaces"); was != is {
		t.Errorf("networkInterfaces after Restore\n%s\nwas\n%s", is, was)
	}
}

func TestRemoveExternalIPRequestsAndRechecks(t *testing.T) {
	e := newEnv(t)
	a := e.action(instance.ActionRemoveExternalIP)
	app := instanceName(edgeProject, edgeZone, "app-1")
	for _, req := range []remediators.Request{
		{Evidence: map[string]any{"accessConfigs": "nic0/External NAT"}},
		{Evidence: map[string]any{"accessConfigs": []any{1}}},
		accessConfigsEvidence("External NAT"),
	} {
		if err := e.planErr(a, app, req); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("evidence %v: %v, want ErrInvalidRequest", req.Evidence, err)
		}
	}
	// A GKE node: its node pool owns its network configuration.
	if r := refused(t, e.planErr(a, instanceName(edgeProject, edgeZone, "gke-pool-1-abcd"), remediators.Request{})); !strings.Contains(r.Reason, "GKE node") {
		t.Errorf("GKE node: %v", r)
	}
	if err := e.planErr(a, app, accessConfigsEvidence("nic3/External NAT")); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("evidence of a config that is gone: %v", err)
	}
	// Apply re-reads: an access config replaced since the plan is not the planned one.
	snap, p := e.plan(a, app, accessConfigsEvidence("nic0/External NAT"))
	e.driftData(app, inventory.TypeInstance, snap.Data, func(d map[string]any) {
		nic := d["networkInterfaces"].([]any)[0].(map[string]any)
		nic["accessConfigs"].([]any)[0].(map[string]any)["natIP"] = "203.0.113.99"
	})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Errorf("Apply after the address changed: %v, want ErrChanged", err)
	}
	if n := calls(e.srv, "instances.deleteAccessConfig", http.StatusOK); n != 0 {
		t.Errorf("%d deletes", n)
	}
	// Restore does not add an access config to an interface that has another one now.
	e.driftData(app, inventory.TypeInstance, snap.Data, func(d map[string]any) {
		nic := d["networkInterfaces"].([]any)[0].(map[string]any)
		nic["accessConfigs"] = []any{map[string]any{"name": "other", "type": "ONE_TO_ONE_NAT", "natIP": "203.0.113.98"}}
	})
	if err := a.Restore(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Errorf("Restore over another access config: %v, want ErrChanged", err)
	}
}
