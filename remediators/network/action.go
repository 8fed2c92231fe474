package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// deleteDefault is network.deleteDefault. Its snapshot holds the network and, in Related,
// the firewall rules on it that go with it (keyed by full name): the default rules, and
// those zerodrift's own firewall actions created on it (see madeBy). Plan refuses any
// network but default, and a default network anything else still uses, another firewall
// rule included. Apply deletes those rules, then the network; Restore re-creates the
// network from the snapshot, then the rules.
type deleteDefault struct{ r *Remediator }

func (a *deleteDefault) Name() string      { return ActionDeleteDefault }
func (a *deleteDefault) AssetType() string { return inventory.TypeNetwork }
func (a *deleteDefault) Close() error      { return a.r.Close() }

// target reads the network a resource names and returns it with its reference (by project
// ID, as its selfLink has it, even when the resource names the project by number).
func (a *deleteDefault) target(ctx context.Context, resource string) (netRef, *computepb.Network, error) {
	project, name, err := gcputil.ParseGlobalName(resource, "networks")
	if err != nil {
		return netRef{}, nil, err
	}
	n := netRef{project, name}
	net, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: project, Network: name})
	if err != nil {
		return n, nil, fmt.Errorf("reading network %s: %w", n, gcputil.Gone(err))
	}
	if p, _, err := gcputil.ParseGlobalName(gcputil.FullName(net.GetSelfLink()), "networks"); err == nil {
		n.project = p
	}
	return n, net, nil
}

func (a *deleteDefault) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	n, net, err := a.target(ctx, resource)
	if err != nil {
		return nil, err
	}
	data, err := gcputil.ProtoJSON(net)
	if err != nil {
		return nil, fmt.Errorf("snapshotting network %s: %w", n, err)
	}
	snap := &remediators.Snapshot{Resource: resource, AssetType: inventory.TypeNetwork, Data: data,
		Related: map[string]json.RawMessage{}, ReadAt: time.Now().UTC()}
	if n.name != DefaultNetwork {
		return snap, nil
	}
	fws, err := gcputil.Drain(a.r.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: n.project}).Next)
	if err != nil {
		return nil, fmt.Errorf("snapshotting network %s: listing the firewalls of project %s: %w", n, n.project, err)
	}
	for _, fw := range fws {
		// Only the rules on this network that go with it: a rule named as a default rule on
		// another network is no business of this one, and any other rule on it is a
		// dependent, which Plan refuses.
		if !n.is(fw.GetNetwork()) || madeBy(fw) == "" {
			continue
		}
		b, err := gcputil.ProtoJSON(fw)
		if err != nil {
			return nil, fmt.Errorf("snapshotting network %s: %w", n, err)
		}
		snap.Related[gcputil.GlobalName(n.project, "firewalls", fw.GetName())] = b
	}
	return snap, nil
}

// snapshotted decodes a snapshot: the network, its reference and the rules that go with it.
func snapshotted(snap *remediators.Snapshot) (netRef, *computepb.Network, map[string]*computepb.Firewall, error) {
	net := &computepb.Network{}
	if err := gcputil.UnmarshalProto(snap.Data, net); err != nil {
		return netRef{}, nil, nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	project, name, err := gcputil.ParseGlobalName(gcputil.FullName(net.GetSelfLink()), "networks")
	if err != nil {
		return netRef{}, nil, nil, fmt.Errorf("reading the snapshot of %s: the network's selfLink: %w", snap.Resource, err)
	}
	fws := map[string]*computepb.Firewall{}
	for full, raw := range snap.Related {
		fw := &computepb.Firewall{}
		if err := gcputil.UnmarshalProto(raw, fw); err != nil {
			return netRef{}, nil, nil, fmt.Errorf("reading the snapshot of %s: firewall %s: %w", snap.Resource, full, err)
		}
		fws[full] = fw
	}
	return netRef{project, name}, net, fws, nil
}

func firewallNames(fws map[string]*computepb.Firewall) []string {
	var names []string
	for _, fw := range fws {
		names = append(names, fw.GetName())
	}
	slices.Sort(names)
	return names
}

func (a *deleteDefault) Plan(ctx context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, nil, ActionDeleteDefault); err != nil {
		return nil, err
	}
	n, net, fws, err := snapshotted(snap)
	if err != nil {
		return nil, err
	}
	if n.name != DefaultNetwork {
		return nil, &remediators.RefusedError{Reason: fmt.Sprintf("%s deletes only the network named %q, and %s is not it",
			ActionDeleteDefault, DefaultNetwork, n)}
	}
	if err := checkGoesWithNetwork(n, fws); err != nil {
		return nil, fmt.Errorf("planning %s: %w", ActionDeleteDefault, err)
	}
	deps, err := a.r.dependents(ctx, n, net, firewallNames(fws))
	if err != nil {
		return nil, fmt.Errorf("planning %s on network %s: %w", ActionDeleteDefault, n, err)
	}
	if len(deps) > 0 {
		return nil, &remediators.RefusedError{
			Reason:     fmt.Sprintf("network %s is still used; move or delete what uses it first", n),
			Dependents: deps,
		}
	}
	deletes := slices.Sorted(maps.Keys(fws))
	summary := fmt.Sprintf("delete network %s", n)
	if len(deletes) > 0 {
		summary = fmt.Sprintf("delete firewalls %s, then network %s", strings.Join(firewallNames(fws), ", "), n)
	}
	return &remediators.Plan{Action: ActionDeleteDefault, Resource: snap.Resource, Request: req, Summary: summary,
		Before: snap.Data, After: json.RawMessage("null"), Deletes: deletes}, nil
}

// config is what Restore re-creates of a network, and what Apply checks is unchanged.
func config(net *computepb.Network) *computepb.Network {
	c := &computepb.Network{
		Name:                                  net.Name,
		Description:                           net.Description,
		AutoCreateSubnetworks:                 net.AutoCreateSubnetworks,
		Mtu:                                   net.Mtu,
		IPv4Range:                             net.IPv4Range,
		EnableUlaInternalIpv6:                 net.EnableUlaInternalIpv6,
		InternalIpv6Range:                     net.InternalIpv6Range,
		NetworkFirewallPolicyEnforcementOrder: net.NetworkFirewallPolicyEnforcementOrder,
	}
	if net.RoutingConfig != nil {
		c.RoutingConfig = proto.Clone(net.RoutingConfig).(*computepb.NetworkRoutingConfig)
	}
	return c
}

func sameJSON(a, b proto.Message) bool {
	x, err1 := gcputil.ProtoJSON(a)
	y, err2 := gcputil.ProtoJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func (a *deleteDefault) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, plan, ActionDeleteDefault); err != nil {
		return "", err
	}
	n, net, fws, err := snapshotted(snap)
	if err != nil {
		return "", err
	}
	if n.name != DefaultNetwork {
		return "", &remediators.RefusedError{Reason: fmt.Sprintf("%s deletes only the network named %q", ActionDeleteDefault, DefaultNetwork)}
	}
	if err := checkGoesWithNetwork(n, fws); err != nil {
		return "", fmt.Errorf("applying %s: %w", ActionDeleteDefault, err)
	}
	// Re-read the network, the rules and what uses the network, right before deleting.
	fresh, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: n.project, Network: n.name})
	if err != nil {
		return "", fmt.Errorf("re-reading network %s before deleting it: %w", n, gcputil.Gone(err))
	}
	if fresh.GetId() != net.GetId() || !sameJSON(config(fresh), config(net)) {
		return "", fmt.Errorf("network %s is not the one snapshotted (id %d, now %d): %w", n, net.GetId(), fresh.GetId(), remediators.ErrChanged)
	}
	for full, fw := range fws {
		cur, err := a.r.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: n.project, Firewall: fw.GetName()})
		if gcputil.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("re-reading firewall %s before deleting it: %w", full, err)
		}
		if !sameJSON(cur, fw) {
			return "", fmt.Errorf("firewall %s changed since the snapshot, which would not restore it: %w", full, remediators.ErrChanged)
		}
	}
	deps, err := a.r.dependents(ctx, n, fresh, firewallNames(fws))
	if err != nil {
		return "", fmt.Errorf("re-checking what uses network %s before deleting it: %w", n, err)
	}
	if len(deps) > 0 {
		return "", fmt.Errorf("network %s is used again since the plan: %w",
			n, &remediators.RefusedError{Reason: "the network has dependents", Dependents: deps})
	}

	var deleted []*computepb.Firewall
	var ops []string
	for _, full := range slices.Sorted(maps.Keys(fws)) {
		fw := fws[full]
		a.r.log.Info("deleting firewall with the network", zap.String("action", ActionDeleteDefault), zap.String("firewall", full),
			zap.String("madeBy", madeBy(fw)))
		op, err := a.r.firewalls.Delete(ctx, &computepb.DeleteFirewallRequest{Project: n.project, Firewall: fw.GetName()})
		if gcputil.IsNotFound(err) {
			continue
		}
		if err == nil {
			err = gcputil.WaitOperation(ctx, op, a.r.set)
		}
		if err != nil {
			err = fmt.Errorf("deleting firewall %s: %w", full, err)
			return "", errors.Join(err, a.recreateFirewalls(ctx, n, deleted))
		}
		deleted = append(deleted, fw)
		ops = append(ops, op.Name())
	}
	a.r.log.Info("deleting network", zap.String("action", ActionDeleteDefault), zap.String("network", n.String()))
	op, err := a.r.networks.Delete(ctx, &computepb.DeleteNetworkRequest{Project: n.project, Network: n.name})
	if err == nil {
		err = gcputil.WaitOperation(ctx, op, a.r.set)
	}
	if err != nil {
		err = fmt.Errorf("deleting network %s: %w", n, gcputil.Gone(err))
		return "", errors.Join(err, a.recreateFirewalls(ctx, n, deleted))
	}
	ops = append(ops, op.Name())
	if _, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: n.project, Network: n.name}); !gcputil.IsNotFound(err) {
		return "", fmt.Errorf("verifying network %s is gone (operation %s): it can still be read (%v)", n, op.Name(), err)
	}
	return fmt.Sprintf("deleted firewalls [%s] and network %s (operations %s)",
		strings.Join(firewallNames(fws), ", "), n, strings.Join(ops, ", ")), nil
}

// recreateFirewalls puts back rules an Apply deleted before it failed.
func (a *deleteDefault) recreateFirewalls(ctx context.Context, n netRef, fws []*computepb.Firewall) error {
	var errs []error
	for _, fw := range fws {
		if err := a.insertFirewall(ctx, n, fw); err != nil {
			errs = append(errs, fmt.Errorf("undoing: %w", err))
		}
	}
	return errors.Join(errs...)
}

// insertFirewall re-creates a rule from its snapshot; one that exists already is left as it is.
func (a *deleteDefault) insertFirewall(ctx context.Context, n netRef, fw *computepb.Firewall) error {
	c := proto.Clone(fw).(*computepb.Firewall)
	c.Id, c.SelfLink, c.CreationTimestamp, c.Kind = nil, nil, nil, nil
	a.r.log.Info("re-creating firewall", zap.String("action", ActionDeleteDefault), zap.String("firewall", fw.GetName()))
	op, err := a.r.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: n.project, FirewallResource: c})
	if gcputil.IsConflict(err) {
		return nil
	}
	if err == nil {
		err = gcputil.WaitOperation(ctx, op, a.r.set)
	}
	if err != nil {
		return fmt.Errorf("re-creating firewall projects/%s/global/firewalls/%s: %w", n.project, fw.GetName(), err)
	}
	return nil
}

func (a *deleteDefault) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, plan, ActionDeleteDefault); err != nil {
		return err
	}
	n, net, fws, err := snapshotted(snap)
	if err != nil {
		return err
	}
	cur, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: n.project, Network: n.name})
	switch {
	case gcputil.IsNotFound(err):
		a.r.log.Info("re-creating network", zap.String("action", ActionDeleteDefault), zap.String("network", n.String()))
		op, err := a.r.networks.Insert(ctx, &computepb.InsertNetworkRequest{Project: n.project, NetworkResource: config(net)})
		if err == nil {
			err = gcputil.WaitOperation(ctx, op, a.r.set)
		}
		if err != nil {
			return fmt.Errorf("restoring network %s: re-creating it: %w", n, err)
		}
	case err != nil:
		return fmt.Errorf("restoring network %s: reading it: %w", n, err)
	case !sameJSON(config(cur), config(net)):
		return fmt.Errorf("restoring network %s: a network of that name exists and differs from the snapshot: %w", n, remediators.ErrChanged)
	}
	var errs []error
	for _, full := range slices.Sorted(maps.Keys(fws)) {
		if err := a.insertFirewall(ctx, n, fws[full]); err != nil {
			errs = append(errs, fmt.Errorf("restoring network %s: %w", n, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Verify: the network and every rule can be read again.
	if _, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: n.project, Network: n.name}); err != nil {
		return fmt.Errorf("verifying the restore of network %s: %w", n, err)
	}
	for _, fw := range fws {
		if _, err := a.r.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: n.project, Firewall: fw.GetName()}); err != nil {
			return fmt.Errorf("verifying the restore of network %s: firewall %s: %w", n, fw.GetName(), err)
		}
	}
	return nil
}
