package remediators_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/remediators/network"
	"github.com/zerodrift/zerodrift/sandbox"
)

// The scenario's prodProject has a default network with the four default rules and nothing
// else on it.
var (
	devProject = prodProject
	devDefault = networkName(prodProject, "default")
	devRules   = computePrefix + prodProject + "/global/firewalls/"
)

// apply snapshots, plans and applies an action on a resource, and returns the plan.
func (e *env) apply(a remediators.Action, resource string) (*remediators.Snapshot, *remediators.Plan) {
	e.t.Helper()
	s := e.snapshot(a, resource)
	p, err := a.Plan(e.ctx, s, remediators.Request{})
	if err != nil {
		e.t.Fatalf("%s: plan on %s: %v", a.Name(), resource, err)
	}
	if _, err := a.Apply(e.ctx, s, p); err != nil {
		e.t.Fatalf("%s: apply on %s: %v", a.Name(), resource, err)
	}
	return s, p
}

// insertFirewall creates a rule behind the actions' back, as a user would.
func (e *env) insertFirewall(fw *computepb.Firewall) {
	e.t.Helper()
	c, err := compute.NewFirewallsRESTClient(e.ctx, option.WithEndpoint(e.url), option.WithoutAuthentication())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	op, err := c.Insert(e.ctx, &computepb.InsertFirewallRequest{Project: devProject, FirewallResource: fw})
	if err != nil {
		e.t.Fatalf("inserting %s: %v", fw.GetName(), err)
	}
	if err := op.Wait(e.ctx); err != nil {
		e.t.Fatalf("inserting %s: %v", fw.GetName(), err)
	}
}

// zerodriftRules makes zerodrift's own rules on the default network of devProject through its
// firewall actions, and returns their full names, sorted: the egress deny rule of
// firewall.createEgressDeny and the deny rules firewall.denyPorts puts in front of
// default-allow-ssh.
func (e *env) zerodriftRules() []string {
	e.t.Helper()
	_, egress := e.apply(e.action(firewall.ActionCreateEgressDeny), devDefault)
	if want := []string{devRules + firewall.DefaultEgressDenyName}; !slices.Equal(egress.Creates, want) {
		e.t.Fatalf("%s created %v, want %v", firewall.ActionCreateEgressDeny, egress.Creates, want)
	}
	_, deny := e.apply(e.action(firewall.ActionDenyPorts), devRules+"default-allow-ssh")
	if len(deny.Creates) == 0 {
		e.t.Fatalf("%s created no rule", firewall.ActionDenyPorts)
	}
	return slices.Sorted(slices.Values(append(egress.Creates, deny.Creates...)))
}

func defaultRules() []string {
	var out []string
	for _, name := range network.DefaultFirewalls() {
		out = append(out, devRules+name)
	}
	return out
}

// ruleFields are the fields of a rule that Restore must bring back as they were.
var ruleFields = []string{"name", "description", "network", "direction", "priority", "sourceRanges", "destinationRanges",
	"targetTags", "allowed", "denied", "logConfig", "disabled"}

// wantRestored fails the test unless the network and every rule of the snapshot read as
// they did when it was taken.
func wantRestored(t *testing.T, e *env, orig *remediators.Snapshot) {
	t.Helper()
	now := e.snapshot(e.action(network.ActionDeleteDefault), devDefault)
	if got, want := slices.Sorted(maps.Keys(now.Related)), slices.Sorted(maps.Keys(orig.Related)); !slices.Equal(got, want) {
		t.Fatalf("rules with the network after the restore:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, k := range []string{"name", "description", "autoCreateSubnetworks", "mtu"} {
		if a, b := field(t, orig.Data, k), field(t, now.Data, k); a != b {
			t.Errorf("restored network: %s = %s, was %s", k, b, a)
		}
	}
	for name, was := range orig.Related {
		for _, k := range ruleFields {
			if a, b := field(t, was, k), field(t, now.Related[name], k); a != b {
				t.Errorf("restored %s: %s = %s, was %s", name, k, b, a)
			}
		}
	}
}

// A default network with only the default rules and zerodrift's own rules on it is deleted
// with all of them, and Restore brings all of them back; zerodrift's egress deny rule
// works again after it.
func TestDeleteDefaultTakesZerodriftRules(t *testing.T) {
	e := newEnv(t)
	mine := e.zerodriftRules()
	a := e.action(network.ActionDeleteDefault)
	snap := e.snapshot(a, devDefault)
	want := slices.Sorted(slices.Values(append(defaultRules(), mine...)))
	if got := slices.Sorted(maps.Keys(snap.Related)); !slices.Equal(got, want) {
		t.Fatalf("snapshot holds the rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p, err := a.Plan(e.ctx, snap, remediators.Request{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if !slices.Equal(p.Deletes, want) {
		t.Errorf("Deletes = %v, want %v", p.Deletes, want)
	}
	for _, full := range mine {
		if name := full[strings.LastIndex(full, "/")+1:]; !strings.Contains(p.Summary, name) {
			t.Errorf("summary %q does not name %s", p.Summary, name)
		}
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if _, err := a.Snapshot(e.ctx, devDefault); !errors.Is(err, remediators.ErrGone) {
		t.Errorf("the network after Apply: %v, want it gone", err)
	}
	for _, full := range want {
		if _, err := e.action(firewall.ActionDisable).Snapshot(e.ctx, full); !errors.Is(err, remediators.ErrGone) {
			t.Errorf("%s after Apply: %v, want it gone", full, err)
		}
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatalf("restore: %v", err)
	}
	wantRestored(t, e, snap)
	egress := e.action(firewall.ActionCreateEgressDeny)
	if _, err := egress.Plan(e.ctx, e.snapshot(egress, devDefault), remediators.Request{}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("%s after the restore: %v, want ErrNothingToDo (the re-created rule denies egress)", firewall.ActionCreateEgressDeny, err)
	}
}

// When the network's deletion fails, Apply puts back every rule it deleted, zerodrift's
// among them.
func TestDeleteDefaultFailureRestoresZerodriftRules(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{FailOperations: 1, OperationError: "The network is being modified",
		Match: func(_, method string) bool { return method == "networks.delete" }}))
	mine := e.zerodriftRules()
	a := e.action(network.ActionDeleteDefault)
	snap := e.snapshot(a, devDefault)
	p, err := a.Plan(e.ctx, snap, remediators.Request{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var opErr *remediators.OperationError
	if _, err := a.Apply(e.ctx, snap, p); !errors.As(err, &opErr) || !strings.Contains(err.Error(), "The network is being modified") {
		t.Fatalf("Apply with a failing network deletion: %v", err)
	}
	n := len(network.DefaultFirewalls()) + len(mine)
	if d, i := calls(e.srv, "firewalls.delete", http.StatusOK), calls(e.srv, "firewalls.insert", http.StatusOK)-len(mine); d != n || i != n {
		t.Errorf("%d rules deleted and %d re-created, want %d", d, i, n)
	}
	wantRestored(t, e, snap)
}

// Any rule on the network that zerodrift did not create blocks the deletion, however much
// it looks like one of zerodrift's: the check is the exact marks zerodrift's actions write,
// not a mention of zerodrift.
func TestDeleteDefaultRefusesLookAlikes(t *testing.T) {
	net := "https://www.googleapis.com/compute/v1/projects/" + devProject + "/global/networks/default"
	egressDeny := func(name, description string) *computepb.Firewall {
		return &computepb.Firewall{Name: proto.String(name), Description: proto.String(description), Network: proto.String(net),
			Direction: proto.String("EGRESS"), Priority: proto.Int32(65535), DestinationRanges: []string{"0.0.0.0/0"},
			Denied: []*computepb.Denied{{IPProtocol: proto.String("all")}}}
	}
	ingressDeny := func(name, description string) *computepb.Firewall {
		return &computepb.Firewall{Name: proto.String(name), Description: proto.String(description), Network: proto.String(net),
			Direction: proto.String("INGRESS"), Priority: proto.Int32(999), SourceRanges: []string{"0.0.0.0/0"},
			Denied: []*computepb.Denied{{IPProtocol: proto.String("tcp"), Ports: []string{"22"}}}}
	}
	// with changes a rule as someone would by hand.
	with := func(fw *computepb.Firewall, edit func(*computepb.Firewall)) *computepb.Firewall {
		edit(fw)
		return fw
	}
	const marker = "Created by zerodrift (firewall.createEgressDeny) to fix egress-deny-not-set"
	for name, fw := range map[string]*computepb.Firewall{
		"mentions zerodrift":      egressDeny("platform-deny-egress", "Egress baseline of the platform team, as zerodrift reported"),
		"starts with zerodrift":   egressDeny("platform-deny-all", "zerodrift flagged this network; the platform team denies its egress"),
		"marker not at the start": egressDeny("copied-deny", "Copied from: "+marker),
		"zerodrift's name":        egressDeny(firewall.DefaultEgressDenyName, "Ours: the network team's egress baseline"),
		"zerodrift in the name":   egressDeny("zerodrift-deny-all-egress-copy", "zerodrift-deny-all-egress, copied by hand"),
		"marked, but allows": with(egressDeny("egress-allow-apis", marker), func(fw *computepb.Firewall) {
			fw.Denied, fw.Allowed = nil, []*computepb.Allowed{{IPProtocol: proto.String("all")}}
		}),
		"marked, but ingress": with(egressDeny("ingress-lockdown", marker), func(fw *computepb.Firewall) {
			fw.Direction, fw.DestinationRanges, fw.SourceRanges = proto.String("INGRESS"), nil, []string{"0.0.0.0/0"}
		}),
		"deny-ports name":        ingressDeny(firewall.DenyRulePrefix+"custom", "The SSH block of the platform team"),
		"deny-ports description": ingressDeny("block-ssh", "zerodrift: denies tcp:22 from the whole internet, says the wiki"),
		"deny-ports marks, but egress": with(ingressDeny(firewall.DenyRulePrefix+"x", "zerodrift: denies tcp:22"), func(fw *computepb.Firewall) {
			fw.Direction, fw.SourceRanges, fw.DestinationRanges = proto.String("EGRESS"), nil, []string{"0.0.0.0/0"}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.insertFirewall(fw)
			a := e.action(network.ActionDeleteDefault)
			snap := e.snapshot(a, devDefault)
			if got := slices.Sorted(maps.Keys(snap.Related)); !slices.Equal(got, defaultRules()) {
				t.Errorf("snapshot holds the rules %v, want the default ones only", got)
			}
			_, err := a.Plan(e.ctx, snap, remediators.Request{})
			var r *remediators.RefusedError
			if !errors.As(err, &r) || !slices.Equal(r.Dependents, []string{devRules + fw.GetName()}) {
				t.Fatalf("plan: %v, want a refusal naming %s", err, fw.GetName())
			}
			if n := calls(e.srv, "networks.delete", http.StatusOK) + calls(e.srv, "firewalls.delete", http.StatusOK); n != 0 {
				t.Errorf("%d deletions after the refusal", n)
			}
		})
	}
}

// A snapshot that holds a rule the action may not delete (a user's, put there by hand) is
// neither planned nor applied: Plan and Apply check what they would delete themselves.
func TestDeleteDefaultChecksTheSnapshotsRules(t *testing.T) {
	e := newEnv(t)
	e.insertFirewall(&computepb.Firewall{Name: proto.String("allow-web"), Description: proto.String("zerodrift: keep"),
		Network:   proto.String("https://www.googleapis.com/compute/v1/projects/" + devProject + "/global/networks/default"),
		Direction: proto.String("INGRESS"), SourceRanges: []string{"10.0.0.0/8"},
		Allowed: []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"443"}}}})
	user := e.snapshot(e.action(firewall.ActionDisable), devRules+"allow-web")
	a := e.action(network.ActionDeleteDefault)
	snap := e.snapshot(a, devDefault)
	if _, err := a.Plan(e.ctx, snap, remediators.Request{}); err == nil {
		t.Fatal("planned with a user's rule on the network")
	}
	forged := *snap
	forged.Related = maps.Clone(snap.Related)
	forged.Related[devRules+"allow-web"] = user.Data
	if _, err := a.Plan(e.ctx, &forged, remediators.Request{}); !errors.Is(err, remediators.ErrInvalidRequest) {
		t.Errorf("plan with a user's rule in the snapshot: %v, want ErrInvalidRequest", err)
	}
	p := &remediators.Plan{Action: network.ActionDeleteDefault, Resource: devDefault, Summary: "forged",
		Before: forged.Data, After: json.RawMessage("null"), Deletes: slices.Sorted(maps.Keys(forged.Related))}
	if _, err := a.Apply(e.ctx, &forged, p); !errors.Is(err, remediators.ErrInvalidRequest) {
		t.Errorf("apply with a user's rule in the snapshot: %v, want ErrInvalidRequest", err)
	}
	if n := calls(e.srv, "networks.delete", http.StatusOK) + calls(e.srv, "firewalls.delete", http.StatusOK); n != 0 {
		t.Errorf("%d deletions", n)
	}
}
