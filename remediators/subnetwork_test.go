package remediators_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/subnetwork"
)

// The flow logs settings asked for are the ones written, and a subnetwork that had no
// logConfig at all is restored to flow logs off.
func TestEnableFlowLogsParams(t *testing.T) {
	e := newEnv(t)
	a := e.action(subnetwork.ActionEnableFlowLogs)
	bare := subnetName(edgeProject, "us-central1", "bare")
	req := roundTrip(t, remediators.Request{Params: map[string]any{
		"aggregationInterval": "INTERVAL_1_MIN", "flowSampling": 0.1, "metadata": "EXCLUDE_ALL_METADATA"}})
	snap, p := e.plan(a, bare, req)
	if want := "VPC flow logs off → on (aggregation INTERVAL_1_MIN, sampling 0.1, EXCLUDE_ALL_METADATA)"; p.Summary != want {
		t.Errorf("summary = %q, want %q", p.Summary, want)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	fresh := e.snapshot(a, bare)
	wantField(t, fresh, "logConfig", `{"aggregationInterval":"INTERVAL_1_MIN","enable":true,"flowSampling":0.1,"metadata":"EXCLUDE_ALL_METADATA"}`)
	if f := evaluate(t, "subnet-flow-logs-disabled", fresh); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	now := e.snapshot(a, bare)
	sn, err := func() (*inventory.Subnetwork, error) {
		as, err := now.Asset()
		if err != nil {
			return nil, err
		}
		return as.Subnetwork()
	}()
	if err != nil || sn.FlowLogsEnabled() {
		t.Errorf("flow logs after Restore: %+v, %v", sn, err)
	}
	if f := evaluate(t, "subnet-flow-logs-disabled", now); len(f) != 1 {
		t.Errorf("the rule finds %d drifts after Restore, want 1", len(f))
	}
	// The rest of the subnetwork is untouched.
	for _, k := range []string{"ipCidrRange", "network", "privateIpGoogleAccess", "purpose"} {
		if was, is := field(t, snap.Data, k), field(t, now.Data, k); was != is {
			t.Errorf("%s = %s after Restore, was %s", k, is, was)
		}
	}
}

func TestSubnetworkRefusalsAndNothingToDo(t *testing.T) {
	e := newEnv(t)
	flow, pga := e.action(subnetwork.ActionEnableFlowLogs), e.action(subnetwork.ActionEnablePrivateGoogleAccess)
	proxy := subnetName(edgeProject, "us-central1", "proxy-only")
	for _, a := range []remediators.Action{flow, pga} {
		r := refused(t, e.planErr(a, proxy, remediators.Request{}))
		if !strings.Contains(r.Reason, "REGIONAL_MANAGED_PROXY") || !strings.Contains(r.Reason, "Google manages it") {
			t.Errorf("%s on a proxy-only subnetwork: %v", a.Name(), r)
		}
		if err := e.planErr(a, subnetName(edgeProject, "us-central1", "flow-on"), remediators.Request{}); !errors.Is(err, remediators.ErrNothingToDo) {
			t.Errorf("%s on flow-on: %v, want ErrNothingToDo", a.Name(), err)
		}
	}
	// Flow logs on, with other settings than asked: still nothing to do.
	if err := e.planErr(flow, subnetName(edgeProject, "us-central1", "flow-on"),
		remediators.Request{Params: map[string]any{"aggregationInterval": "INTERVAL_5_SEC"}}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("flow logs on with another interval: %v", err)
	}
	flowOff := subnetName(edgeProject, "us-central1", "flow-off")
	for _, params := range []map[string]any{
		{"flowSampling": 0}, {"flowSampling": 1.5}, {"flowSampling": -0.5}, {"flowSampling": "half"}, {"flowSampling": []any{0.5}},
		{"aggregationInterval": "INTERVAL_2_SEC"}, {"aggregationInterval": 5}, {"metadata": "CUSTOM_METADATA"},
	} {
		if err := e.planErr(flow, flowOff, remediators.Request{Params: params}); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("params %v: %v, want ErrInvalidRequest", params, err)
		}
	}
	// The largest sampling rate is allowed.
	if _, p := e.plan(flow, flowOff, remediators.Request{Params: map[string]any{"flowSampling": 1}}); !strings.Contains(p.Summary, "sampling 1,") {
		t.Errorf("summary = %q", p.Summary)
	}
	if _, err := flow.Snapshot(e.ctx, subnetName(edgeProject, "us-central1", "ghost")); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("snapshot of a missing subnetwork: %v", err)
	}
	if _, err := flow.Snapshot(e.ctx, networkName(edgeProject, "vpc-edge")); !errors.Is(err, remediators.ErrInvalidRequest) {
		t.Errorf("snapshot of a network: %v", err)
	}
	if n := calls(e.srv, "subnetworks.patch", http.StatusOK) + calls(e.srv, "subnetworks.setPrivateIpGoogleAccess", http.StatusOK); n != 0 {
		t.Errorf("%d writes while refusing", n)
	}
}

// Private Google Access goes on through setPrivateIpGoogleAccess, the rule stops finding
// the subnetwork, and Restore turns it off.
func TestEnablePrivateGoogleAccess(t *testing.T) {
	e := newEnv(t)
	a := e.action(subnetwork.ActionEnablePrivateGoogleAccess)
	bare := subnetName(edgeProject, "us-central1", "bare")
	snap, p := e.plan(a, bare, remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if n := calls(e.srv, "subnetworks.setPrivateIpGoogleAccess", http.StatusOK); n != 1 {
		t.Errorf("%d setPrivateIpGoogleAccess calls, want 1", n)
	}
	fresh := e.snapshot(a, bare)
	wantField(t, fresh, "privateIpGoogleAccess", "true")
	if f := evaluate(t, "private-google-access-disabled", fresh); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	now := e.snapshot(a, bare)
	if f := evaluate(t, "private-google-access-disabled", now); len(f) != 1 {
		t.Errorf("the rule finds %d drifts after Restore, want 1", len(f))
	}
	if n := calls(e.srv, "subnetworks.setPrivateIpGoogleAccess", http.StatusOK); n != 2 {
		t.Errorf("%d setPrivateIpGoogleAccess calls after Restore, want 2", n)
	}
}

// A subnetwork changed between Apply's read and its write (a new fingerprint) is read
// again and, when the change is still the planned one, written with the new fingerprint;
// the other writer's change stays.
func TestEnableFlowLogsStaleFingerprint(t *testing.T) {
	var e *env
	flowOff := subnetName(edgeProject, "us-central1", "flow-off")
	ic := &interceptor{times: 1, match: func(r *http.Request) bool { return hasSuffixPath(r, http.MethodPatch, "/subnetworks/flow-off") }}
	ic.before = func() {
		s := e.snapshot(e.action(subnetwork.ActionEnableFlowLogs), flowOff)
		e.driftData(flowOff, inventory.TypeSubnetwork, s.Data, func(d map[string]any) {
			d["description"] = "edited by someone else"
			d["fingerprint"] = "c29tZW9uZSBlbHNl"
		})
	}
	e = newInterceptedEnv(t, ic)
	a := e.action(subnetwork.ActionEnableFlowLogs)
	snap, p := e.plan(a, flowOff, remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatalf("Apply through a stale fingerprint: %v", err)
	}
	if c, ok := calls(e.srv, "subnetworks.patch", http.StatusPreconditionFailed), calls(e.srv, "subnetworks.patch", http.StatusOK); c != 1 || ok != 1 {
		t.Errorf("subnetworks.patch: %d stale and %d written, want 1 and 1", c, ok)
	}
	fresh := e.snapshot(a, flowOff)
	wantField(t, fresh, "description", `"edited by someone else"`)
	if f := evaluate(t, "subnet-flow-logs-disabled", fresh); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}

	// A writer that changes it before every write: Apply gives up after one more attempt,
	// having written nothing.
	e2, writes := (*env)(nil), 0
	ic2 := &interceptor{times: -1, match: ic.match}
	ic2.before = func() {
		writes++
		s := e2.snapshot(e2.action(subnetwork.ActionEnableFlowLogs), flowOff)
		e2.driftData(flowOff, inventory.TypeSubnetwork, s.Data, func(d map[string]any) { d["fingerprint"] = fmt.Sprintf("writer-%d", writes) })
	}
	e2 = newInterceptedEnv(t, ic2)
	a2 := e2.action(subnetwork.ActionEnableFlowLogs)
	snap2, p2 := e2.plan(a2, flowOff, remediators.Request{})
	if _, err := a2.Apply(e2.ctx, snap2, p2); !errors.Is(err, remediators.ErrChanged) {
		t.Fatalf("Apply against a writer that never stops: %v, want ErrChanged", err)
	}
	if c, ok := calls(e2.srv, "subnetworks.patch", http.StatusPreconditionFailed), calls(e2.srv, "subnetworks.patch", http.StatusOK); c != 2 || ok != 0 {
		t.Errorf("subnetworks.patch: %d stale and %d written, want 2 and 0", c, ok)
	}
}

// Apply re-reads and refuses when the setting changed since the plan; a subnetwork someone
// fixed meanwhile has nothing to do.
func TestSubnetworkApplyRechecks(t *testing.T) {
	e := newEnv(t)
	a := e.action(subnetwork.ActionEnableFlowLogs)
	flowOff := subnetName(edgeProject, "us-central1", "flow-off")
	snap, p := e.plan(a, flowOff, remediators.Request{})
	e.driftData(flowOff, inventory.TypeSubnetwork, snap.Data, func(d map[string]any) { d["purpose"] = "PRIVATE_NAT" })
	var r *remediators.RefusedError
	if _, err := a.Apply(e.ctx, snap, p); !errors.As(err, &r) {
		t.Errorf("Apply on a subnetwork turned into a managed one: %v, want a refusal", err)
	}
	e.driftData(flowOff, inventory.TypeSubnetwork, snap.Data, func(d map[string]any) {
		d["logConfig"] = map[string]any{"enable": true, "aggregationInterval": "INTERVAL_15_MIN"}
	})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("Apply on a subnetwork fixed meanwhile: %v, want ErrNothingToDo", err)
	}
	if n := calls(e.srv, "subnetworks.patch", http.StatusOK); n != 0 {
		t.Errorf("%d patches", n)
	}
}

// A subnetwork of the legacy purpose PRIVATE_RFC_1918 holds workloads like one of purpose
// PRIVATE: both actions plan for it, as both rules flag it.
func TestSubnetworkLegacyPrivatePurpose(t *testing.T) {
	e := newEnv(t)
	flowOff := subnetName(edgeProject, "us-central1", "flow-off")
	for _, name := range []string{subnetwork.ActionEnableFlowLogs, subnetwork.ActionEnablePrivateGoogleAccess} {
		a := e.action(name)
		e.driftData(flowOff, inventory.TypeSubnetwork, e.snapshot(a, flowOff).Data, func(d map[string]any) {
			d["purpose"] = "PRIVATE_RFC_1918"
			d["privateIpGoogleAccess"] = false
		})
		if _, err := a.Plan(e.ctx, e.snapshot(a, flowOff), remediators.Request{}); err != nil {
			t.Errorf("%s on a PRIVATE_RFC_1918 subnetwork: %v, want a plan", name, err)
		}
	}
}
