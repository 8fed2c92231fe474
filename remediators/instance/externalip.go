package instance

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// RemoveExternalIP returns instance.removeExternalIP: it deletes the external IPv4 access
// configs (accessConfigs entries) of the instance's network interfaces with
// instances.deleteAccessConfig: those the finding's evidence names ("accessConfigs":
// "nic0/External NAT", as the rule compute-public-ip reports them), or every one when the
// request names none. External IPv6 access configs (ipv6AccessConfigs) are out of its scope:
// they are left, and the plan says so. Restore re-adds each removed access config with
// instances.addAccessConfig, asking for the address it had: a static address comes back, an
// ephemeral one is gone for good and the interface gets a new one.
func (r *Remediator) RemoveExternalIP() remediators.Action { return &removeExternalIP{r: r} }

type removeExternalIP struct{ r *Remediator }

func (a *removeExternalIP) Name() string      { return ActionRemoveExternalIP }
func (a *removeExternalIP) AssetType() string { return inventory.TypeInstance }
func (a *removeExternalIP) Close() error      { return a.r.Close() }

func (a *removeExternalIP) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	i, err := parseInstance(resource)
	if err != nil {
		return nil, err
	}
	inst, err := a.r.getInstance(ctx, i)
	if err != nil {
		return nil, err
	}
	return gcputil.Snapshot(resource, inventory.TypeInstance, "instance "+i.String(), inst)
}

// removal is one access config to delete, with what Restore needs to add it back. A list of
// them is what Plan.Before holds (Plan.After is an empty list).
type removal struct {
	// NetworkInterface is the interface's name, as deleteAccessConfig and addAccessConfig
	// take it; Label is the access config as the rule names it, "nic0/External NAT".
	NetworkInterface string          `json:"networkInterface"`
	Label            string          `json:"label"`
	AccessConfig     json.RawMessage `json:"accessConfig"`
}

type removalsView struct {
	AccessConfigs []removal `json:"accessConfigs"`
}

func removalsJSON(rs []removal) json.RawMessage {
	if rs == nil {
		rs = []removal{}
	}
	return gcputil.MustJSON(removalsView{AccessConfigs: rs})
}

func readRemovals(raw json.RawMessage) ([]removal, error) {
	var v removalsView
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%w: reading the plan's access configs: %w", remediators.ErrInvalidRequest, err)
	}
	return v.AccessConfigs, nil
}

// nicName is the name of an instance's i-th interface: the API names them nic0, nic1...
func nicName(nic *computepb.NetworkInterface, i int) string {
	return cmp.Or(nic.GetName(), fmt.Sprintf("nic%d", i))
}

// label names an access config as the rule compute-public-ip does.
func label(nic string, ac *computepb.AccessConfig, field string, j int) string {
	return nic + "/" + cmp.Or(ac.GetName(), ac.GetType(), fmt.Sprintf("%s[%d]", field, j))
}

// named reads evidence.accessConfigs: the access configs the finding names, nil when it
// names none.
func named(req remediators.Request) ([]string, error) {
	v, ok := req.Evidence["accessConfigs"]
	if !ok || v == nil {
		return nil, nil
	}
	bad := fmt.Errorf("%w: evidence.accessConfigs is a %T, want a list of \"NIC/ACCESS_CONFIG\" strings", remediators.ErrInvalidRequest, v)
	var out []string
	switch t := v.(type) {
	case []string:
		out = slices.Clone(t)
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, bad
			}
			out = append(out, s)
		}
	default:
		return nil, bad
	}
	for _, s := range out {
		if nic, ac, ok := strings.Cut(s, "/"); !ok || nic == "" || ac == "" {
			return nil, fmt.Errorf("%w: evidence.accessConfigs: %q is not NIC/ACCESS_CONFIG", remediators.ErrInvalidRequest, s)
		}
	}
	return out, nil
}

// ipPlan is what the action would do on an instance: the access configs to delete, and the
// IPv6 access configs it leaves.
type ipPlan struct {
	remove []removal
	ipv6   []string
	// addresses lists each access config to remove with its address, for the summary: the
	// instance does not say which addresses are reserved, so each may be ephemeral.
	addresses []string
}

// gkeNode tells what marks an instance as a GKE node (the goog-gke-node label or the
// kube-env metadata key), "" when nothing does.
func gkeNode(inst *computepb.Instance) string {
	if _, ok := inst.GetLabels()["goog-gke-node"]; ok {
		return "label goog-gke-node"
	}
	for _, it := range inst.GetMetadata().GetItems() {
		if it.GetKey() == "kube-env" {
			return "metadata key kube-env"
		}
	}
	return ""
}

func planRemovals(inst *computepb.Instance, req remediators.Request) (ipPlan, error) {
	var p ipPlan
	want, err := named(req)
	if err != nil {
		return p, err
	}
	if m := gkeNode(inst); m != "" {
		return p, &remediators.RefusedError{Reason: fmt.Sprintf(
			"the instance is a GKE node (%s): its node pool recreates it with the pool's network configuration; "+
				"make the node pool private instead", m)}
	}
	selected := func(l string) bool { return want == nil || slices.Contains(want, l) }
	var unnamed []string
	for i, nic := range inst.GetNetworkInterfaces() {
		n := nicName(nic, i)
		for j, ac := range nic.GetAccessConfigs() {
			l := label(n, ac, "accessConfigs", j)
			if !selected(l) {
				continue
			}
			if ac.GetName() == "" {
				unnamed = append(unnamed, l)
				continue
			}
			raw, err := gcputil.ProtoJSON(ac)
			if err != nil {
				return p, fmt.Errorf("encoding access config %s: %w", l, err)
			}
			p.remove = append(p.remove, removal{NetworkInterface: n, Label: l, AccessConfig: raw})
			p.addresses = append(p.addresses, l+" ("+cmp.Or(ac.GetNatIP(), "no address yet")+")")
		}
		for j, ac := range nic.GetIpv6AccessConfigs() {
			if l := label(n, ac, "ipv6AccessConfigs", j); selected(l) {
				p.ipv6 = append(p.ipv6, l)
			}
		}
	}
	switch {
	case len(unnamed) > 0:
		return p, &remediators.RefusedError{Reason: fmt.Sprintf(
			"access configs %s have no name, and instances.deleteAccessConfig deletes an access config by name", strings.Join(unnamed, ", "))}
	case len(p.remove) == 0 && len(p.ipv6) > 0:
		return p, &remediators.RefusedError{Reason: fmt.Sprintf(
			"the instance's external addresses left are IPv6 (%s): IPv6 access configs are out of this action's scope "+
				"(remove them with instances.updateNetworkInterface, or give the subnetwork internal IPv6)", strings.Join(p.ipv6, ", "))}
	case len(p.remove) == 0 && want != nil:
		return p, fmt.Errorf("the instance has none of the external access configs %s any more: %w", strings.Join(want, ", "), remediators.ErrNothingToDo)
	case len(p.remove) == 0:
		return p, fmt.Errorf("the instance has no external IPv4 access config: %w", remediators.ErrNothingToDo)
	}
	return p, nil
}

func (a *removeExternalIP) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeInstance, nil, ActionRemoveExternalIP); err != nil {
		return nil, err
	}
	i, err := parseInstance(snap.Resource)
	if err != nil {
		return nil, err
	}
	inst := &computepb.Instance{}
	if err := gcputil.UnmarshalProto(snap.Data, inst); err != nil {
		return nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	p, err := planRemovals(inst, req)
	if err != nil {
		return nil, fmt.Errorf("planning %s on instance %s: %w", ActionRemoveExternalIP, i, err)
	}
	summary := fmt.Sprintf("remove the external IPv4 access configs %s: the instance is no longer reachable from, "+
		"nor reaches, the internet through them. An ephemeral address is lost for good: rolling back gives the "+
		"interface a new one (only a reserved static address comes back)", strings.Join(p.addresses, ", "))
	if len(p.ipv6) > 0 {
		summary += fmt.Sprintf("; the IPv6 access configs %s are left: IPv6 is out of this action's scope", strings.Join(p.ipv6, ", "))
	}
	return &remediators.Plan{Action: ActionRemoveExternalIP, Resource: snap.Resource, Request: req, Summary: summary,
		Before: removalsJSON(p.remove), After: removalsJSON(nil)}, nil
}

func (a *removeExternalIP) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeInstance, plan, ActionRemoveExternalIP); err != nil {
		return "", err
	}
	i, err := parseInstance(snap.Resource)
	if err != nil {
		return "", err
	}
	// Re-read and re-plan: the change is made only if it is still the planned one.
	fresh, err := a.r.getInstance(ctx, i)
	if err != nil {
		return "", fmt.Errorf("re-reading before %s: %w", ActionRemoveExternalIP, err)
	}
	p, err := planRemovals(fresh, plan.Request)
	if err != nil {
		return "", fmt.Errorf("re-planning %s on the fresh state of instance %s: %w", ActionRemoveExternalIP, i, err)
	}
	if now := removalsJSON(p.remove); !bytes.Equal(now, plan.Before) {
		return "", fmt.Errorf("instance %s: the access configs to remove are now %s, and the plan was made on %s: %w",
			i, now, plan.Before, remediators.ErrChanged)
	}
	var done, ops []string
	for _, rm := range p.remove {
		ac := &computepb.AccessConfig{}
		if err := gcputil.UnmarshalProto(rm.AccessConfig, ac); err != nil {
			return "", fmt.Errorf("reading access config %s: %w", rm.Label, err)
		}
		a.r.log.Info("deleting access config", zap.String("action", ActionRemoveExternalIP), zap.String("instance", i.String()),
			zap.String("networkInterface", rm.NetworkInterface), zap.String("accessConfig", ac.GetName()), zap.String("natIP", ac.GetNatIP()))
		op, err := a.r.instances.DeleteAccessConfig(ctx, &computepb.DeleteAccessConfigInstanceRequest{Project: i.Project, Zone: i.Scope,
			Instance: i.Name, NetworkInterface: rm.NetworkInterface, AccessConfig: ac.GetName()})
		if err == nil {
			err = gcputil.WaitOperation(ctx, op, a.r.set)
		}
		if err != nil {
			// What was removed stays removed: Restore re-adds it from the plan.
			return "", fmt.Errorf("deleting access config %s of instance %s (removed so far: %v): %w", rm.Label, i, done, gcputil.Gone(err))
		}
		done, ops = append(done, rm.Label), append(ops, op.Name())
	}
	got, err := a.r.getInstance(ctx, i)
	if err != nil {
		return "", fmt.Errorf("verifying instance %s: %w", i, err)
	}
	if left := present(got, p.remove); len(left) > 0 {
		return "", fmt.Errorf("verifying instance %s (operations %s): access configs %s are still there", i, strings.Join(ops, ", "), strings.Join(left, ", "))
	}
	return fmt.Sprintf("removed %s (operations %s)", strings.Join(done, ", "), strings.Join(ops, ", ")), nil
}

// findConfig returns the access config of the interface named nic whose name is name, and
// whether the interface exists and how many access configs it has.
func findConfig(inst *computepb.Instance, nic, name string) (ac *computepb.AccessConfig, nicFound bool, count int) {
	for i, n := range inst.GetNetworkInterfaces() {
		if nicName(n, i) != nic {
			continue
		}
		for _, c := range n.GetAccessConfigs() {
			if c.GetName() == name {
				ac = c
			}
		}
		return ac, true, len(n.GetAccessConfigs())
	}
	return nil, false, 0
}

// present lists the labels of the removals whose access config the instance has.
func present(inst *computepb.Instance, rs []removal) []string {
	var out []string
	for _, rm := range rs {
		ac := &computepb.AccessConfig{}
		if err := gcputil.UnmarshalProto(rm.AccessConfig, ac); err != nil {
			continue
		}
		if c, _, _ := findConfig(inst, rm.NetworkInterface, ac.GetName()); c != nil {
			out = append(out, rm.Label)
		}
	}
	return out
}

// Restore re-adds every removed access config the instance lacks, asking for its address.
// When Compute Engine refuses that address (400: an ephemeral address, released with its
// access config, is not reserved), the access config is added without one and gets a new
// ephemeral address; this is logged.
func (a *removeExternalIP) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeInstance, plan, ActionRemoveExternalIP); err != nil {
		return err
	}
	i, err := parseInstance(snap.Resource)
	if err != nil {
		return err
	}
	removed, err := readRemovals(plan.Before)
	if err != nil {
		return err
	}
	fresh, err := a.r.getInstance(ctx, i)
	if err != nil {
		return fmt.Errorf("re-reading before restoring: %w", err)
	}
	var errs []error
	for _, rm := range removed {
		orig := &computepb.AccessConfig{}
		if err := gcputil.UnmarshalProto(rm.AccessConfig, orig); err != nil {
			errs = append(errs, fmt.Errorf("restoring: reading access config %s: %w", rm.Label, err))
			continue
		}
		switch c, nicFound, count := findConfig(fresh, rm.NetworkInterface, orig.GetName()); {
		case !nicFound:
			errs = append(errs, fmt.Errorf("restoring access config %s: instance %s has no network interface %s any more: %w",
				rm.Label, i, rm.NetworkInterface, remediators.ErrChanged))
			continue
		case c != nil:
			a.r.log.Info("access config already there", zap.String("instance", i.String()), zap.String("accessConfig", rm.Label),
				zap.String("natIP", c.GetNatIP()))
			continue
		case count > 0:
			// An interface holds one IPv4 access config: another was added since.
			errs = append(errs, fmt.Errorf("restoring access config %s: network interface %s of instance %s has another access config now: %w",
				rm.Label, rm.NetworkInterface, i, remediators.ErrChanged))
			continue
		}
		if err := a.add(ctx, i, rm, orig); err != nil {
			errs = append(errs, fmt.Errorf("restoring: %w", err))
		}
	}
	return errors.Join(errs...)
}

// add re-adds one access config and verifies it is there.
func (a *removeExternalIP) add(ctx context.Context, i instRef, rm removal, orig *computepb.AccessConfig) error {
	ac := &computepb.AccessConfig{Name: orig.Name, Type: orig.Type, NatIP: orig.NatIP, NetworkTier: orig.NetworkTier,
		SetPublicPtr: orig.SetPublicPtr, PublicPtrDomainName: orig.PublicPtrDomainName}
	insert := func(ac *computepb.AccessConfig) error {
		a.r.log.Info("adding access config", zap.String("action", ActionRemoveExternalIP), zap.String("instance", i.String()),
			zap.String("networkInterface", rm.NetworkInterface), zap.String("accessConfig", ac.GetName()), zap.String("natIP", ac.GetNatIP()))
		op, err := a.r.instances.AddAccessConfig(ctx, &computepb.AddAccessConfigInstanceRequest{Project: i.Project, Zone: i.Scope,
			Instance: i.Name, NetworkInterface: rm.NetworkInterface, AccessConfigResource: ac})
		if err != nil {
			return err
		}
		return gcputil.WaitOperation(ctx, op, a.r.set)
	}
	err := insert(ac)
	if err != nil && ac.NatIP != nil && gcputil.HTTPStatus(err) == 400 {
		a.r.log.Warn("the access config's address is not available any more (an ephemeral address is released with its "+
			"access config); adding it with a new ephemeral address", zap.String("instance", i.String()),
			zap.String("accessConfig", rm.Label), zap.String("natIP", ac.GetNatIP()), zap.Error(err))
		ac = proto.Clone(ac).(*computepb.AccessConfig)
		ac.NatIP = nil
		err = insert(ac)
	}
	if err != nil {
		return fmt.Errorf("adding access config %s to instance %s: %w", rm.Label, i, gcputil.Gone(err))
	}
	got, err := a.r.getInstance(ctx, i)
	if err != nil {
		return fmt.Errorf("verifying access config %s of instance %s: %w", rm.Label, i, err)
	}
	c, _, _ := findConfig(got, rm.NetworkInterface, ac.GetName())
	switch {
	case c == nil:
		return fmt.Errorf("verifying instance %s: access config %s is not there", i, rm.Label)
	case ac.NatIP != nil && c.GetNatIP() != ac.GetNatIP():
		return fmt.Errorf("verifying instance %s: access config %s has address %s, want %s", i, rm.Label, c.GetNatIP(), ac.GetNatIP())
	}
	return nil
}
