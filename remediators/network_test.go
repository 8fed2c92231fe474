package remediators_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/network"
	"github.com/zerodrift/zerodrift/sandbox"
)

func TestDeleteDefaultRefusals(t *testing.T) {
	e := newEnv(t)
	a := e.action(network.ActionDeleteDefault)
	for _, c := range []struct {
		resource string
		want     []string
	}{
		{networkName("zd-inst", "default"), []string{computePrefix + "zd-inst/zones/us-central1-a/instances/web-1"}},
		{networkName("zd-customfw", "default"), []string{computePrefix + "zd-customfw/global/firewalls/allow-http-8080"}},
		{networkName("zd-deps", "default"), []string{
			computePrefix + "zd-deps/global/instanceTemplates/tpl-1",
			computePrefix + "zd-deps/global/networks/default/peerings/peer-1 (to projects/other/global/networks/hub)",
			computePrefix + "zd-deps/global/routes/to-onprem",
			computePrefix + "zd-deps/regions/us-central1/forwardingRules/fr-1",
			computePrefix + "zd-deps/regions/us-central1/routers/rtr-1",
			computePrefix + "zd-deps/regions/us-central1/subnetworks/extra",
			computePrefix + "zd-deps/regions/us-central1/targetVpnGateways/tvgw-1",
			computePrefix + "zd-deps/regions/us-central1/vpnGateways/vgw-1",
			computePrefix + "zd-deps/regions/us-central1/vpnTunnels/tun-1",
		}},
	} {
		r := refused(t, e.planErr(a, c.resource, remediators.Request{}))
		if !slices.Equal(r.Dependents, c.want) {
			t.Errorf("%s: dependents\n%s\nwant\n%s", c.resource, strings.Join(r.Dependents, "\n"), strings.Join(c.want, "\n"))
		}
	}
	// Only the network named default.
	r := refused(t, e.planErr(a, networkName(prodProject, "vpc-main"), remediators.Request{}))
	if len(r.Dependents) != 0 || !strings.Contains(r.Reason, `only the network named "default"`) {
		t.Errorf("non-default network: %v", r)
	}
	if _, err := a.Snapshot(e.ctx, networkName(prodProject, "gone")); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("snapshot of a missing network: %v, want ErrGone", err)
	}
	// Refusals change nothing.
	for _, p := range []string{"zd-inst", "zd-customfw", "zd-deps"} {
		s := e.snapshot(a, networkName(p, "default"))
		if len(s.Related) != 4 {
			t.Errorf("%s: default rules after refusals = %d", p, len(s.Related))
		}
	}
	if n := callCount(e.srv, "networks.delete") + callCount(e.srv, "firewalls.delete"); n != 0 {
		t.Errorf("%d deletions after refusals", n)
	}
}

func TestDeleteDefaultRechecksBeforeDeleting(t *testing.T) {
	e := newEnv(t)
	a := e.action(network.ActionDeleteDefault)
	snap, p := e.plan(a, networkName(prodProject, "default"), remediators.Request{})
	// A default rule changes between plan and apply: its snapshot would not restore it.
	patchFirewall(t, e, "default-allow-ssh", &computepb.Firewall{SourceRanges: []string{"10.0.0.0/8"}})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Fatalf("Apply after a default rule changed: %v, want ErrChanged", err)
	}
	if n := callCount(e.srv, "networks.delete") + callCount(e.srv, "firewalls.delete"); n != 0 {
		t.Errorf("%d deletions", n)
	}
}

func TestDeleteDefaultFailureRollsBack(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{FailOperations: 1, OperationError: "The network is being modified",
		Match: func(_, method string) bool { return method == "networks.delete" }}))
	a := e.action(network.ActionDeleteDefault)
	snap, p := e.plan(a, networkName(prodProject, "default"), remediators.Request{})
	_, err := a.Apply(e.ctx, snap, p)
	var opErr *remediators.OperationError
	if !errors.As(err, &opErr) || !strings.Contains(err.Error(), "The network is being modified") {
		t.Fatalf("Apply with a failing network deletion: %v", err)
	}
	// The four rules were deleted, then put back.
	now := e.snapshot(a, networkName(prodProject, "default"))
	if len(now.Related) != 4 || callCount(e.srv, "firewalls.delete") != 4 || callCount(e.srv, "firewalls.insert") != 4 {
		t.Errorf("after the failed Apply: %d rules, calls %+v", len(now.Related), e.srv.Calls())
	}
}
