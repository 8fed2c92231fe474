package remediators_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/sandbox"
)

func sources(ranges ...string) remediators.Request {
	return remediators.Request{Params: map[string]any{"ranges": ranges}}
}

func TestFirewallNothingToDo(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		action, rule string
		req          remediators.Request
	}{
		{firewall.ActionRestrictSources, "allow-internal", sources(trustedRange)},    // not open to the internet
		{firewall.ActionRestrictSources, "deny-telnet-world", sources(trustedRange)}, // a deny rule
		{firewall.ActionDisable, "allow-old-disabled", remediators.Request{}},        // disabled already
		{firewall.ActionEnableLogging, "allow-web-logged", remediators.Request{}},    // logging on already
		{firewall.ActionDenyPorts, "allow-web-logged", remediators.Request{}},        // exposes no SSH or RDP port
		{firewall.ActionDenyPorts, "allow-old-disabled", remediators.Request{}},      // disabled: exposes nothing
		{firewall.ActionDenyPorts, "allow-internal", remediators.Request{}},          // not open to the internet
		{firewall.ActionDenyPorts, "allow-ssh-world", remediators.Request{Params: map[string]any{"ports": []any{"udp:53"}}}},
	} {
		err := e.planErr(e.action(c.action), firewallName(prodProject, c.rule), c.req)
		if !errors.Is(err, remediators.ErrNothingToDo) {
			t.Errorf("%s on %s: %v, want ErrNothingToDo", c.action, c.rule, err)
		}
	}
	// Asking for the other metadata setting is a change.
	if _, p := e.plan(e.action(firewall.ActionEnableLogging), firewallName(prodProject, "allow-web-logged"),
		remediators.Request{Params: map[string]any{"metadata": "INCLUDE_ALL_METADATA"}}); p.Summary != "logging on (EXCLUDE_ALL_METADATA) → on (INCLUDE_ALL_METADATA)" {
		t.Errorf("summary = %q", p.Summary)
	}
}

func TestFirewallInvalidRequests(t *testing.T) {
	e := newEnv(t)
	ssh := firewallName(prodProject, "allow-ssh-world")
	for _, c := range []struct {
		action string
		req    remediators.Request
	}{
		{firewall.ActionRestrictSources, remediators.Request{}},
		{firewall.ActionRestrictSources, sources("not-a-range")},
		{firewall.ActionRestrictSources, sources("0.0.0.0/1", "128.0.0.0/1")},
		{firewall.ActionRestrictSources, remediators.Request{Params: map[string]any{"ranges": 42}}},
		{firewall.ActionEnableLogging, remediators.Request{Params: map[string]any{"metadata": "SOME"}}},
		{firewall.ActionDenyPorts, remediators.Request{Params: map[string]any{"ports": []string{"icmp:1"}}}},
		{firewall.ActionDenyPorts, remediators.Request{Params: map[string]any{"ports": []string{"tcp:99999"}}}},
		{firewall.ActionDenyPorts, remediators.Request{Params: map[string]any{"priorityOffset": 0}}},
	} {
		if err := e.planErr(e.action(c.action), ssh, c.req); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("%s with %v: %v, want ErrInvalidRequest", c.action, c.req.Params, err)
		}
	}
	if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, networkName(prodProject, "default")); !errors.Is(err, remediators.ErrInvalidRequest) {
		t.Errorf("snapshot of a network through a firewall action: %v", err)
	}
}

func TestRestrictSourcesRefusals(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionRestrictSources)
	// An IPv6 rule and only IPv4 trusted ranges: without sources the rule would be open again.
	r := refused(t, e.planErr(a, firewallName(prodProject, "allow-ssh-v6"), sources(trustedRange)))
	if !strings.Contains(r.Reason, "IPv6") {
		t.Errorf("refusal = %v", r)
	}
	// A rule holding both families (possible in old exports), trusted ranges of both: the
	// result would mix families, which the API refuses.
	refused(t, e.planErr(a, firewallName(prodProject, "allow-dual"), sources(trustedRange, "2600:2d00:1:7::/64")))
	// With IPv4 trusted ranges only, the same rule is fixed.
	_, p := e.plan(a, firewallName(prodProject, "allow-dual"), sources(trustedRange))
	if string(p.After) != `{"sourceRanges":["35.235.240.0/20"]}` {
		t.Errorf("plan after = %s", p.After)
	}
}

func TestDenyPortsPartialAndExplicit(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionDenyPorts)
	// deny-ssh-corp already denies tcp:22 from 0.0.0.0/0 ahead of allow-ssh-world: only the
	// IPv6 rule is missing.
	snap, p := e.plan(a, firewallName(prodProject, "allow-ssh-world"), remediators.Request{})
	if len(p.Creates) != 1 || !strings.Contains(p.Summary, "(::/0)") || !strings.Contains(p.Summary, "target tags [bastion]") {
		t.Fatalf("plan = %+v", p)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	d := e.snapshot(e.action(firewall.ActionDisable), p.Creates[0])
	wantField(t, d, "targetTags", `["bastion"]`)
	wantField(t, d, "priority", "999")
	wantField(t, d, "denied", `[{"IPProtocol":"tcp","ports":["22"]}]`)
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}

	// Explicit ports, bare ports being tcp, and an offset: only what the rule exposes is denied.
	_, p = e.plan(a, firewallName(prodProject, "allow-all-world"), remediators.Request{Params: map[string]any{
		"ports": []any{"8000-8100", "udp:53", "sctp:22"}, "priorityOffset": float64(100)}})
	if !strings.Contains(p.Summary, "deny sctp:22;tcp:8000-8100;udp:53 at priority 1900") || len(p.Creates) != 2 {
		t.Errorf("plan = %+v", p)
	}
	// The same request gives the same names.
	_, p2 := e.plan(a, firewallName(prodProject, "allow-all-world"), remediators.Request{Params: map[string]any{
		"ports": []string{"udp:53", "sctp:22", "tcp:8000-8100"}, "priorityOffset": 100}})
	if strings.Join(p.Creates, ",") != strings.Join(p2.Creates, ",") {
		t.Errorf("names %v and %v differ for the same request", p.Creates, p2.Creates)
	}
	for _, c := range p.Creates {
		name := c[strings.LastIndexByte(c, '/')+1:]
		if !strings.HasPrefix(name, firewall.DenyRulePrefix) || len(name) > 63 {
			t.Errorf("deny rule name %q", name)
		}
	}
}

func TestFirewallApplyRefusesChangedRule(t *testing.T) {
	e := newEnv(t)
	a := e.action(firewall.ActionRestrictSources)
	ssh := firewallName(prodProject, "allow-ssh-world")
	snap, p := e.plan(a, ssh, sources(trustedRange))
	// Someone else narrows the rule between plan and apply.
	patchFirewall(t, e, "allow-ssh-world", &computepb.Firewall{SourceRanges: []string{"0.0.0.0/0", "192.0.2.0/24"}})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Fatalf("Apply on a changed rule: %v, want ErrChanged", err)
	}
	wantField(t, e.snapshot(a, ssh), "sourceRanges", `["0.0.0.0/0","192.0.2.0/24"]`)

	// Someone else fixes it: Apply has nothing to do.
	snap, p = e.plan(a, ssh, sources(trustedRange))
	patchFirewall(t, e, "allow-ssh-world", &computepb.Firewall{SourceRanges: []string{"192.0.2.0/24"}})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Fatalf("Apply on a fixed rule: %v, want ErrNothingToDo", err)
	}

	// Restore of one field keeps later changes to others.
	d := e.action(firewall.ActionDisable)
	snap, p = e.plan(d, ssh, remediators.Request{})
	if _, err := d.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	patchFirewall(t, e, "allow-ssh-world", &computepb.Firewall{SourceRanges: []string{"0.0.0.0/0"}, Description: ptr("changed by hand")})
	if err := d.Restore(e.ctx, snap, p); err != nil {
		t.Fatalf("Restore of disabled after an unrelated change: %v", err)
	}
	wantField(t, e.snapshot(d, ssh), "description", `"changed by hand"`)
	wantField(t, e.snapshot(d, ssh), "disabled", "false")
	snap, p = e.plan(a, ssh, sources(trustedRange))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	// Restoring over a later change to the same field is the caller's decision (rollback
	// --force): Restore puts back the snapshot's value, and only that field.
	patchFirewall(t, e, "allow-ssh-world", &computepb.Firewall{SourceRanges: []string{"203.0.113.0/24"}, Description: ptr("again")})
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatalf("Restore over someone else's change: %v", err)
	}
	wantField(t, e.snapshot(a, ssh), "sourceRanges", `["0.0.0.0/0"]`)
	wantField(t, e.snapshot(a, ssh), "description", `"again"`)
}

func TestFirewallGone(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{firewall.ActionRestrictSources, firewall.ActionDenyPorts} {
		_, err := e.action(name).Snapshot(e.ctx, firewallName(prodProject, "no-such-rule"))
		if !errors.Is(err, remediators.ErrGone) || !strings.Contains(err.Error(), "projects/zd-prod/global/firewalls/no-such-rule") {
			t.Errorf("%s: snapshot of a missing rule: %v, want ErrGone naming it", name, err)
		}
	}
}

func TestFailedOperation(t *testing.T) {
	const msg = "Quota 'FIREWALLS' exceeded. Limit: 100.0 globally."
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{FailOperations: 1, OperationError: msg,
		Match: func(_, method string) bool { return method == "firewalls.patch" }}))
	a := e.action(firewall.ActionDisable)
	ssh := firewallName(prodProject, "allow-ssh-world")
	snap, p := e.plan(a, ssh, remediators.Request{})
	_, err := a.Apply(e.ctx, snap, p)
	var opErr *remediators.OperationError
	if !errors.As(err, &opErr) || !strings.Contains(err.Error(), msg) || opErr.HTTPStatus != 500 ||
		!strings.Contains(err.Error(), "patching firewall projects/zd-prod/global/firewalls/allow-ssh-world") {
		t.Fatalf("Apply with a failing operation: %v", err)
	}
	wantField(t, e.snapshot(a, ssh), "disabled", "false")

	// Deny rules: the second insert fails, and the first one is taken back.
	deny := e.action(firewall.ActionDenyPorts)
	snap, p = e.plan(deny, firewallName(prodProject, "allow-all-world"), remediators.Request{})
	var inserts atomic.Int32
	if err := e.srv.SetFaults(sandbox.Faults{FailOperations: 1, Match: func(_, method string) bool {
		return method == "firewalls.insert" && inserts.Add(1) == 2
	}}); err != nil {
		t.Fatal(err)
	}
	_, err = deny.Apply(e.ctx, snap, p)
	if !errors.As(err, &opErr) || !strings.Contains(err.Error(), "Internal error") || !strings.Contains(err.Error(), p.Creates[1][len(computePrefix):]) {
		t.Fatalf("Apply with a failing insert: %v", err)
	}
	for _, c := range p.Creates {
		if _, err := a.Snapshot(e.ctx, c); !errors.Is(err, remediators.ErrGone) {
			t.Errorf("%s after a failed Apply: %v, want it gone", c, err)
		}
	}
	if n := callCount(e.srv, "firewalls.delete"); n != 1 {
		t.Errorf("firewalls.delete called %d times, want 1 (undoing the first insert)", n)
	}
}

func TestOperationWait(t *testing.T) {
	// Operations that stay RUNNING for a few polls are waited for.
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{PendingOperationPolls: 3}))
	a := e.action(firewall.ActionDisable)
	ssh := firewallName(prodProject, "allow-ssh-world")
	snap, p := e.plan(a, ssh, remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatalf("Apply with a slow operation: %v", err)
	}
	if n := callCount(e.srv, "globalOperations.get"); n != 4 {
		t.Errorf("operation polled %d times, want 4 (3 answered RUNNING)", n)
	}

	// One that never finishes times out.
	set := fastSettings()
	set.OperationTimeout = 150 * time.Millisecond
	e = newEnvWith(t, set, sandbox.WithFaults(sandbox.Faults{PendingOperationPolls: 1 << 20}))
	a = e.action(firewall.ActionDisable)
	snap, p = e.plan(a, ssh, remediators.Request{})
	_, err := a.Apply(e.ctx, snap, p)
	if !errors.Is(err, remediators.ErrOperationTimeout) || !strings.Contains(err.Error(), "may still complete") {
		t.Fatalf("Apply with an operation that never ends: %v", err)
	}
}

func callCount(srv *sandbox.Server, method string) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Method == method {
			n += c.Count
		}
	}
	return n
}

// patchFirewall changes a rule behind the actions' back, as another writer would.
func patchFirewall(t *testing.T, e *env, name string, patch *computepb.Firewall) {
	t.Helper()
	c, err := compute.NewFirewallsRESTClient(e.ctx, option.WithEndpoint(e.url), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op, err := c.Patch(e.ctx, &computepb.PatchFirewallRequest{Project: prodProject, Firewall: name, FirewallResource: patch})
	if err != nil {
		t.Fatalf("patching %s: %v", name, err)
	}
	if err := op.Wait(e.ctx); err != nil {
		t.Fatal(err)
	}
}
