package firewall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
	"github.com/zerodrift/zerodrift/rules"
)

// CreateEgressDeny returns firewall.createEgressDeny, which acts on a VPC network (the
// finding of egress-deny-not-set is on the network): it creates, on that network, an
// enabled, logged EGRESS rule denying protocol all to 0.0.0.0/0 for every instance, at
// Params["priority"] (default 65535, the lowest) and named Params["name"] (default
// zerodrift-deny-all-egress). A network that has a rule egress-deny-not-set accepts already
// has nothing to do. The rule can cut traffic: every outbound connection of the network's
// instances, internal ones included, that no higher-priority EGRESS allow rule permits is
// dropped; the plan's summary says so and names the allow rules ahead of it. Plan.Creates
// lists the rule, which Restore deletes.
//
// Firewall names are unique in a project, not in a network: when the default name is taken
// by a rule that does not qualify (another network's deny rule, say), the rule is named
// zerodrift-deny-all-egress-NETWORK instead (or, for a long network name, a hash of the
// network). A name given in Params is used as it is, or refused when taken.
func (r *Remediator) CreateEgressDeny() remediators.Action { return &egressDeny{r: r} }

// Defaults of firewall.createEgressDeny's parameters.
const (
	DefaultEgressDenyName     = "zerodrift-deny-all-egress"
	DefaultEgressDenyPriority = 65535
)

// egressDenyMarker starts the description of the rules firewall.createEgressDeny creates:
// Restore deletes only a rule that still carries it.
const egressDenyMarker = "Created by zerodrift (firewall.createEgressDeny)"

// computeNameRE is what Compute Engine accepts as a resource name (RFC 1035).
var computeNameRE = regexp.MustCompile(`^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$`)

// ValidFirewallName reports whether name is a valid firewall name.
func ValidFirewallName(name string) bool { return computeNameRE.MatchString(name) }

type egressDeny struct{ r *Remediator }

func (a *egressDeny) Name() string      { return ActionCreateEgressDeny }
func (a *egressDeny) AssetType() string { return inventory.TypeNetwork }
func (a *egressDeny) Close() error      { return a.r.Close() }

// getNetwork reads the network a full name gives; one that does not exist is an error
// wrapping remediators.ErrGone.
func (a *egressDeny) getNetwork(ctx context.Context, resource string) (*computepb.Network, error) {
	project, name, err := gcputil.ParseGlobalName(resource, "networks")
	if err != nil {
		return nil, err
	}
	n, err := a.r.networks.Get(ctx, &computepb.GetNetworkRequest{Project: project, Network: name})
	if err != nil {
		return nil, fmt.Errorf("reading network projects/%s/global/networks/%s: %w", project, name, gcputil.Gone(err))
	}
	return n, nil
}

func (a *egressDeny) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	n, err := a.getNetwork(ctx, resource)
	if err != nil {
		return nil, err
	}
	data, err := gcputil.ProtoJSON(n)
	if err != nil {
		return nil, fmt.Errorf("snapshotting network %s: %w", resource, err)
	}
	return &remediators.Snapshot{Resource: resource, AssetType: inventory.TypeNetwork, Data: data, ReadAt: time.Now().UTC()}, nil
}

// egressParams are firewall.createEgressDeny's parameters, checked.
type egressParams struct {
	name     string // "" when not given
	priority int32
}

func parseEgressParams(req remediators.Request) (egressParams, error) {
	var p egressParams
	name, err := req.ParamString("name")
	if err != nil {
		return p, err
	}
	if name != "" && !ValidFirewallName(name) {
		return p, fmt.Errorf("%w: params.name %q is not a firewall name: 1 to 63 lowercase letters, digits and hyphens, "+
			"starting with a letter and not ending with a hyphen", remediators.ErrInvalidRequest, name)
	}
	p.name = name
	prio, given, err := req.ParamInt("priority")
	if err != nil {
		return p, err
	}
	if !given {
		prio = DefaultEgressDenyPriority
	}
	if prio < 0 || prio > 65535 {
		return p, fmt.Errorf("%w: params.priority is %d, want 0 to 65535", remediators.ErrInvalidRequest, prio)
	}
	p.priority = int32(prio)
	return p, nil
}

// egressPlan is what the action would create on a network.
type egressPlan struct {
	project string
	rule    *computepb.Firewall
	// ahead lists the enabled EGRESS allow rules of the network at a higher priority: the
	// traffic they allow keeps flowing.
	ahead []string
}

// networkOf returns the project and path (projects/P/global/networks/N) of a network, from
// its selfLink.
func networkOf(n *computepb.Network) (project, path string, err error) {
	project, _, err = gcputil.ParseGlobalName(gcputil.FullName(n.GetSelfLink()), "networks")
	if err != nil {
		return "", "", fmt.Errorf("the network's selfLink %q: %w", n.GetSelfLink(), err)
	}
	return project, gcputil.ResourcePath(n.GetSelfLink()), nil
}

// qualifies reports whether the rule egress-deny-not-set finds nothing on network n once it
// sees fws: the judgement is the rule's own, so that the action and the rule never disagree.
func qualifies(n *computepb.Network, fws ...*computepb.Firewall) (bool, error) {
	r, ok := rules.ByID(rules.Default())["egress-deny-not-set"].(rules.SetRule)
	if !ok {
		return false, errors.New("the rule egress-deny-not-set is not a set rule")
	}
	nd, err := gcputil.ProtoJSON(n)
	if err != nil {
		return false, err
	}
	t := r.Tally(rules.DefaultEnv(time.Now()))
	if err := t.Add(&inventory.Asset{Name: gcputil.FullName(n.GetSelfLink()), AssetType: inventory.TypeNetwork,
		Resource: &inventory.Resource{Data: nd}}); err != nil {
		return false, err
	}
	for _, fw := range fws {
		fd, err := gcputil.ProtoJSON(fw)
		if err != nil {
			return false, err
		}
		if err := t.Add(&inventory.Asset{Name: gcputil.FullName(fw.GetSelfLink()), AssetType: inventory.TypeFirewall,
			Resource: &inventory.Resource{Data: fd}}); err != nil {
			return false, err
		}
	}
	var out rules.Results
	if err := t.Finish(&out); err != nil {
		return false, err
	}
	return len(out.Findings) == 0, nil
}

// compute works out the rule to create on network n, reading the project's firewall rules.
func (a *egressDeny) compute(ctx context.Context, n *computepb.Network, req remediators.Request) (*egressPlan, error) {
	p, err := parseEgressParams(req)
	if err != nil {
		return nil, err
	}
	project, path, err := networkOf(n)
	if err != nil {
		return nil, err
	}
	all, err := a.r.list(ctx, project)
	if err != nil {
		return nil, err
	}
	var onNetwork []*computepb.Firewall
	for _, fw := range all {
		if gcputil.ResourcePath(fw.GetNetwork()) == path {
			onNetwork = append(onNetwork, fw)
		}
	}
	var existing []string
	for _, fw := range onNetwork {
		ok, err := qualifies(n, fw)
		if err != nil {
			return nil, fmt.Errorf("judging firewall %s: %w", fw.GetName(), err)
		}
		if ok {
			existing = append(existing, fw.GetName())
		}
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("the network denies all egress to the internet already, through %s: %w",
			strings.Join(existing, ", "), remediators.ErrNothingToDo)
	}
	name, err := pickName(p, n.GetName(), path, all)
	if err != nil {
		return nil, err
	}
	ep := &egressPlan{project: project, rule: buildEgressDeny(name, p.priority, n)}
	for _, fw := range onNetwork {
		if !fw.GetDisabled() && len(fw.GetAllowed()) > 0 && !toInventory(fw).IsIngress() && priorityOf(fw) < p.priority {
			ep.ahead = append(ep.ahead, fmt.Sprintf("%s (%d)", fw.GetName(), priorityOf(fw)))
		}
	}
	slices.Sort(ep.ahead)
	return ep, nil
}

// pickName returns the name of the rule to create: the given name, which must be free, or
// the default name, or when a rule that does not qualify holds it, the default name with the
// network's name (or a hash of the network's path) after it.
func pickName(p egressParams, network, path string, all []*computepb.Firewall) (string, error) {
	taken := func(name string) bool {
		return slices.ContainsFunc(all, func(fw *computepb.Firewall) bool { return fw.GetName() == name })
	}
	if p.name != "" {
		if taken(p.name) {
			return "", &remediators.RefusedError{Reason: fmt.Sprintf(
				"a firewall named %s exists in the project already and does not deny all egress of this network: "+
					"name the new rule otherwise (params.name)", p.name)}
		}
		return p.name, nil
	}
	sum := sha256.Sum256([]byte(path))
	candidates := []string{DefaultEgressDenyName, DefaultEgressDenyName + "-" + network, DefaultEgressDenyName + "-" + hex.EncodeToString(sum[:4])}
	for _, c := range candidates {
		if ValidFirewallName(c) && !taken(c) {
			return c, nil
		}
	}
	return "", &remediators.RefusedError{Reason: fmt.Sprintf(
		"the firewall names %s are all taken in the project: name the new rule (params.name)", strings.Join(candidates, ", "))}
}

func buildEgressDeny(name string, priority int32, n *computepb.Network) *computepb.Firewall {
	return &computepb.Firewall{
		Name: proto.String(name),
		Description: proto.String(fmt.Sprintf("%s to fix egress-deny-not-set: denies all egress of network %s to 0.0.0.0/0, "+
			"the default-deny baseline that higher-priority EGRESS allow rules open up. Delete it with `zerodrift rollback`.",
			egressDenyMarker, n.GetName())),
		Network:           proto.String(n.GetSelfLink()),
		Direction:         proto.String("EGRESS"),
		Priority:          proto.Int32(priority),
		DestinationRanges: []string{"0.0.0.0/0"},
		Denied:            []*computepb.Denied{{IPProtocol: proto.String("all")}},
		LogConfig:         &computepb.FirewallLogConfig{Enable: proto.Bool(true)},
	}
}

// egressView is what Apply checks of the created rule, and Restore of the rule it deletes:
// the fields the action set.
func egressView(fw *computepb.Firewall) json.RawMessage {
	v := &computepb.Firewall{
		Name: fw.Name, Description: fw.Description, Network: proto.String(gcputil.ResourcePath(fw.GetNetwork())),
		Direction: fw.Direction, Priority: fw.Priority, DestinationRanges: fw.DestinationRanges, Denied: fw.Denied,
		LogConfig: &computepb.FirewallLogConfig{Enable: proto.Bool(fw.GetLogConfig().GetEnable())}, Disabled: proto.Bool(fw.GetDisabled()),
	}
	b, err := gcputil.ProtoJSON(v)
	if err != nil {
		return gcputil.MustJSON(err.Error())
	}
	return b
}

func (a *egressDeny) Plan(ctx context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, nil, ActionCreateEgressDeny); err != nil {
		return nil, err
	}
	n := &computepb.Network{}
	if err := gcputil.UnmarshalProto(snap.Data, n); err != nil {
		return nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	ep, err := a.compute(ctx, n, req)
	if err != nil {
		return nil, fmt.Errorf("planning %s on network %s: %w", ActionCreateEgressDeny, snap.Resource, err)
	}
	after, err := gcputil.ProtoJSON(ep.rule)
	if err != nil {
		return nil, err
	}
	rule := ep.rule
	ahead := "no EGRESS allow rule of the network is ahead of it, so ALL outbound traffic of its instances stops, " +
		"to Google APIs and to other instances of the network included"
	if len(ep.ahead) > 0 {
		ahead = "only what the EGRESS allow rules ahead of it permit keeps flowing: " + strings.Join(ep.ahead, ", ")
	}
	summary := fmt.Sprintf("create firewall %s on network %s: EGRESS DENY all to 0.0.0.0/0 for every instance, priority %d, logged. "+
		"THIS CAN CUT TRAFFIC: it blocks every outbound connection of the network's instances, internal ones included, "+
		"that no higher-priority EGRESS allow rule permits; %s",
		rule.GetName(), n.GetName(), rule.GetPriority(), ahead)
	return &remediators.Plan{Action: ActionCreateEgressDeny, Resource: snap.Resource, Request: req, Summary: summary,
		Before: json.RawMessage("null"), After: after,
		Creates: []string{gcputil.GlobalName(ep.project, "firewalls", rule.GetName())}}, nil
}

func (a *egressDeny) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, plan, ActionCreateEgressDeny); err != nil {
		return "", err
	}
	n, err := a.getNetwork(ctx, snap.Resource)
	if err != nil {
		return "", fmt.Errorf("re-reading before %s: %w", ActionCreateEgressDeny, err)
	}
	// Re-plan on the fresh state: the rule is created only if it is still the planned one.
	ep, err := a.compute(ctx, n, plan.Request)
	if err != nil {
		return "", fmt.Errorf("re-planning %s on network %s: %w", ActionCreateEgressDeny, snap.Resource, err)
	}
	after, err := gcputil.ProtoJSON(ep.rule)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(after, plan.After) {
		return "", fmt.Errorf("network %s or its project's firewalls changed since the plan (it would now create %s): %w",
			snap.Resource, after, remediators.ErrChanged)
	}
	rule := ep.rule
	c := ref{ep.project, rule.GetName()}
	a.r.log.Info("inserting egress deny firewall", zap.String("action", ActionCreateEgressDeny), zap.String("firewall", c.String()),
		zap.String("network", n.GetSelfLink()), zap.Int32("priority", rule.GetPriority()))
	op, err := a.r.client.Insert(ctx, &computepb.InsertFirewallRequest{Project: ep.project, FirewallResource: rule})
	if err != nil {
		return "", fmt.Errorf("inserting firewall %s: %w", c, err)
	}
	if err := gcputil.WaitOperation(ctx, op, a.r.set); err != nil {
		return "", fmt.Errorf("inserting firewall %s: %w", c, err)
	}
	got, err := a.r.get(ctx, c)
	if err == nil && !bytes.Equal(egressView(got), egressView(rule)) {
		err = fmt.Errorf("it reads back as %s, want %s", egressView(got), egressView(rule))
	}
	if err != nil {
		err = fmt.Errorf("verifying the insert of firewall %s (operation %s): %w", c, op.Name(), err)
		return "", errors.Join(err, a.r.delete(ctx, c))
	}
	return fmt.Sprintf("created %s (operation %s): %s", c.name, op.Name(), plan.Summary), nil
}

// Restore deletes the rule the plan created, provided it is still the rule zerodrift
// created: on the network, egress, and described as zerodrift's. A rule gone already is not
// an error.
func (a *egressDeny) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeNetwork, plan, ActionCreateEgressDeny); err != nil {
		return err
	}
	planned := &computepb.Firewall{}
	if err := gcputil.UnmarshalProto(plan.After, planned); err != nil {
		return fmt.Errorf("%w: reading the plan's rule: %w", remediators.ErrInvalidRequest, err)
	}
	var errs []error
	for _, full := range plan.Creates {
		project, name, err := gcputil.ParseGlobalName(full, "firewalls")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := ref{project, name}
		cur, err := a.r.get(ctx, c)
		if errors.Is(err, remediators.ErrGone) {
			a.r.log.Info("egress deny firewall already gone", zap.String("firewall", c.String()))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring: %w", err))
			continue
		}
		if name != planned.GetName() || gcputil.ResourcePath(cur.GetNetwork()) != gcputil.ResourcePath(planned.GetNetwork()) ||
			cur.GetDirection() != "EGRESS" || !strings.HasPrefix(cur.GetDescription(), egressDenyMarker) {
			errs = append(errs, fmt.Errorf("restoring: firewall %s is not the egress deny rule %s created (%s): not deleting it: %w",
				c, ActionCreateEgressDeny, egressView(cur), remediators.ErrChanged))
			continue
		}
		if v := egressView(cur); !bytes.Equal(v, egressView(planned)) {
			a.r.log.Warn("deleting the egress deny rule, changed since zerodrift created it", zap.String("firewall", c.String()),
				zap.ByteString("now", v), zap.ByteString("created", egressView(planned)))
		}
		if err := a.r.delete(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("restoring: %w", err))
			continue
		}
		if _, err := a.r.get(ctx, c); !errors.Is(err, remediators.ErrGone) {
			errs = append(errs, fmt.Errorf("restoring: verifying firewall %s is gone: %v", c, err))
		}
	}
	return errors.Join(errs...)
}
