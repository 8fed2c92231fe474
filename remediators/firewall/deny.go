package firewall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/zerodrift/zerodrift/rules"
)

// DenyPorts returns firewall.denyPorts: it leaves the open rule as it is and inserts, on
// its network and for its targets, one INGRESS DENY rule per address family (a rule cannot
// mix IPv4 and IPv6 ranges) from 0.0.0.0/0 and ::/0, denying the ports the open rule
// exposes, at a priority Params["priorityOffset"] (default 1) ahead of it. The ports are
// Params["ports"] ("22", "20-30", "udp:3389"; tcp without a protocol) or, by default, the
// SSH and RDP ports the live rule exposes (tcp/sctp 22, tcp/udp 3389); either way only
// ports the rule does expose are denied. A family already covered by an equivalent deny
// rule gets none. The rules are named zd-deny-<hash of what they deny and where>.
func (r *Remediator) DenyPorts() remediators.Action { return &denyAction{r: r} }

// DenyRulePrefix starts the names of the deny rules firewall.denyPorts creates; Restore
// deletes only rules so named.
const DenyRulePrefix = "zd-deny-"

// denyPortsMarker starts the description of the rules firewall.denyPorts creates.
const denyPortsMarker = "zerodrift: denies "

// MadeByZerodrift reports whether fw is a rule one of this package's actions created and
// that is still only what it created: an egress deny-all rule of firewall.createEgressDeny
// (direction EGRESS, its description mark) or an ingress deny rule of firewall.denyPorts
// (direction INGRESS, its name prefix and description mark), denying and allowing nothing.
// A rule that only mentions zerodrift, reuses one of its names or has come to allow
// traffic is not.
func MadeByZerodrift(fw *computepb.Firewall) bool {
	if len(fw.GetDenied()) == 0 || len(fw.GetAllowed()) > 0 {
		return false
	}
	switch fw.GetDirection() {
	case "EGRESS":
		return strings.HasPrefix(fw.GetDescription(), egressDenyMarker)
	case "INGRESS":
		return strings.HasPrefix(fw.GetName(), DenyRulePrefix) && strings.HasPrefix(fw.GetDescription(), denyPortsMarker)
	}
	return false
}

type denyAction struct{ r *Remediator }

func (a *denyAction) Name() string      { return ActionDenyPorts }
func (a *denyAction) AssetType() string { return inventory.TypeFirewall }
func (a *denyAction) Close() error      { return a.r.Close() }

func (a *denyAction) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	return a.r.snapshot(ctx, resource)
}

// family is an address family of deny rules.
type family struct {
	name  string
	world string
	is4   bool
}

func families() []family {
	return []family{{"IPv4", "0.0.0.0/0", true}, {"IPv6", "::/0", false}}
}

// denyRequest is what a deny rule must do for one open rule.
type denyRequest struct {
	open     *computepb.Firewall
	need     map[string]rules.PortSet // protocol → ports to deny
	priority int32
}

func (d denyRequest) portsText() string {
	protos := make([]string, 0, len(d.need))
	for p := range d.need {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	parts := make([]string, len(protos))
	for i, p := range protos {
		parts[i] = p + ":" + d.need[p].String()
	}
	return strings.Join(parts, ";")
}

func (a *denyAction) Plan(ctx context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, nil, ActionDenyPorts); err != nil {
		return nil, err
	}
	f, err := parseRef(snap.Resource)
	if err != nil {
		return nil, err
	}
	open, err := decode(snap)
	if err != nil {
		return nil, err
	}
	create, d, err := a.compute(ctx, f, open, req)
	if err != nil {
		return nil, fmt.Errorf("planning %s on firewall %s: %w", ActionDenyPorts, f, err)
	}
	after, err := rulesJSON(create)
	if err != nil {
		return nil, err
	}
	plan := &remediators.Plan{Action: ActionDenyPorts, Resource: snap.Resource, Request: req,
		Before: json.RawMessage("null"), After: after}
	var names []string
	for _, c := range create {
		plan.Creates = append(plan.Creates, gcputil.GlobalName(f.project, "firewalls", c.GetName()))
		names = append(names, c.GetName()+" ("+c.GetSourceRanges()[0]+")")
	}
	plan.Summary = fmt.Sprintf("insert %s: deny %s at priority %d (the open rule's is %d) on %s for %s",
		strings.Join(names, " and "), d.portsText(), d.priority, priorityOf(open),
		gcputil.ResourcePath(open.GetNetwork()), targetsText(open))
	return plan, nil
}

func targetsText(fw *computepb.Firewall) string {
	switch {
	case len(fw.GetTargetTags()) > 0:
		return "target tags " + rangesText(fw.GetTargetTags())
	case len(fw.GetTargetServiceAccounts()) > 0:
		return "target service accounts " + rangesText(fw.GetTargetServiceAccounts())
	}
	return "every instance of the network"
}

// compute returns the deny rules to create for the open rule, reading the project's rules
// to leave out the families an equivalent deny rule covers already.
func (a *denyAction) compute(ctx context.Context, f ref, open *computepb.Firewall, req remediators.Request) ([]*computepb.Firewall, denyRequest, error) {
	d, err := newDenyRequest(open, req)
	if err != nil {
		return nil, d, err
	}
	existing, err := a.r.list(ctx, f.project)
	if err != nil {
		return nil, d, err
	}
	var create []*computepb.Firewall
	for _, fam := range families() {
		if slices.ContainsFunc(existing, func(x *computepb.Firewall) bool { return covers(x, d, fam) }) {
			continue
		}
		rule := buildDeny(d, fam)
		if i := slices.IndexFunc(existing, func(x *computepb.Firewall) bool { return x.GetName() == rule.GetName() }); i >= 0 {
			return nil, d, fmt.Errorf("a firewall named %s exists and does not deny %s from %s as this action would: %w",
				rule.GetName(), d.portsText(), fam.world, remediators.ErrChanged)
		}
		create = append(create, rule)
	}
	if len(create) == 0 {
		return nil, d, fmt.Errorf("deny rules for %s from the whole internet exist already: %w", d.portsText(), remediators.ErrNothingToDo)
	}
	return create, d, nil
}

// newDenyRequest works out what the deny rules must deny, and at which priority.
func newDenyRequest(open *computepb.Firewall, req remediators.Request) (denyRequest, error) {
	d := denyRequest{open: open}
	if why := whyClosed(open, true); why != "" {
		return d, fmt.Errorf("the rule admits nothing from the internet: %s: %w", why, remediators.ErrNothingToDo)
	}
	exposure, err := rules.ParseAllowed(toInventory(open).Allowed)
	if err != nil {
		return d, fmt.Errorf("reading the rule's allowed list: %w", err)
	}
	if d.need, err = portsToDeny(exposure, req); err != nil {
		return d, err
	}
	offset, given, err := req.ParamInt("priorityOffset")
	if err != nil {
		return d, err
	}
	if !given {
		offset = 1
	}
	if offset < 1 || offset > 65535 {
		return d, fmt.Errorf("%w: params.priorityOffset is %d, want 1 to 65535", remediators.ErrInvalidRequest, offset)
	}
	d.priority = int32(max(0, int(priorityOf(open))-offset))
	return d, nil
}

// defaultDenied are the ports denied by default: SSH and RDP, as Security Command Center's
// OPEN_SSH_PORT (tcp or sctp 22) and OPEN_RDP_PORT (tcp or udp 3389) count them.
func defaultDenied() map[string]rules.PortSet {
	ssh, rdp := rules.NewPortSet(rules.PortRange{First: 22, Last: 22}), rules.NewPortSet(rules.PortRange{First: 3389, Last: 3389})
	return map[string]rules.PortSet{"tcp": ssh.Union(rdp), "sctp": ssh, "udp": rdp}
}

// portsToDeny returns, per protocol, the requested ports (Params["ports"], or SSH and RDP)
// that the rule exposes.
func portsToDeny(exposure rules.Exposure, req remediators.Request) (map[string]rules.PortSet, error) {
	raw, err := req.ParamStrings("ports")
	if err != nil {
		return nil, err
	}
	want := defaultDenied()
	if len(raw) > 0 {
		want = map[string]rules.PortSet{}
		for _, s := range raw {
			proto, spec, ok := strings.Cut(strings.TrimSpace(s), ":")
			if !ok {
				proto, spec = "tcp", proto
			}
			proto = rules.NormalizeProtocol(proto)
			if !rules.HasPorts(proto) {
				return nil, fmt.Errorf("%w: params.ports: %q: only tcp, udp and sctp have ports", remediators.ErrInvalidRequest, s)
			}
			pr, err := rules.ParsePortRange(spec)
			if err != nil {
				return nil, fmt.Errorf("%w: params.ports: %w", remediators.ErrInvalidRequest, err)
			}
			want[proto] = want[proto].Union(rules.NewPortSet(pr))
		}
	}
	need := map[string]rules.PortSet{}
	for proto, ps := range want {
		if x := intersect(exposure.Ports(proto), ps); !x.IsEmpty() {
			need[proto] = x
		}
	}
	if len(need) == 0 {
		what := "no SSH or RDP port (name the ports to deny in params.ports)"
		if len(raw) > 0 {
			what = "none of the ports " + rangesText(raw)
		}
		return nil, fmt.Errorf("the rule exposes %s: %w", what, remediators.ErrNothingToDo)
	}
	return need, nil
}

// intersect returns the ports in both sets.
func intersect(a, b rules.PortSet) rules.PortSet {
	var out []rules.PortRange
	for _, x := range a.Ranges() {
		for _, y := range b.Ranges() {
			if lo, hi := max(x.First, y.First), min(x.Last, y.Last); lo <= hi {
				out = append(out, rules.PortRange{First: lo, Last: hi})
			}
		}
	}
	return rules.NewPortSet(out...)
}

// containsAll reports whether have holds every port of need.
func containsAll(have, need rules.PortSet) bool {
	return slices.Equal(intersect(have, need).Ranges(), need.Ranges())
}

// buildDeny builds the deny rule of one family.
func buildDeny(d denyRequest, fam family) *computepb.Firewall {
	protos := make([]string, 0, len(d.need))
	for p := range d.need {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	var denied []*computepb.Denied
	for _, p := range protos {
		e := &computepb.Denied{IPProtocol: proto.String(p)}
		if ps := d.need[p]; !ps.IsAll() {
			e.Ports = ps.Strings()
		}
		denied = append(denied, e)
	}
	open := d.open
	return &computepb.Firewall{
		Name: proto.String(denyName(d, fam)),
		Description: proto.String(fmt.Sprintf(denyPortsMarker+"%s from the whole internet (%s) to the targets of firewall %s, "+
			"which allows it from anywhere. Delete it with `zerodrift rollback` once that rule is fixed.", d.portsText(), fam.name, open.GetName())),
		Network:               proto.String(open.GetNetwork()),
		Direction:             proto.String("INGRESS"),
		Priority:              proto.Int32(d.priority),
		SourceRanges:          []string{fam.world},
		TargetTags:            slices.Clone(open.GetTargetTags()),
		TargetServiceAccounts: slices.Clone(open.GetTargetServiceAccounts()),
		Denied:                denied,
		// Logged, as the baseline wants every rule (firewall-logging-disabled): a rule
		// zerodrift makes must not be the next run's drift.
		LogConfig: &computepb.FirewallLogConfig{Enable: proto.Bool(true)},
	}
}

// denyName names a deny rule after what it does, so the same request makes the same name:
// zd-deny- and 16 hex digits (a valid compute name, 24 characters).
func denyName(d denyRequest, fam family) string {
	h := sha256.New()
	tags, sas := slices.Clone(d.open.GetTargetTags()), slices.Clone(d.open.GetTargetServiceAccounts())
	slices.Sort(tags)
	slices.Sort(sas)
	for _, part := range []string{gcputil.ResourcePath(d.open.GetNetwork()), fam.name, fmt.Sprint(d.priority),
		strings.Join(tags, ","), strings.Join(sas, ","), d.portsText()} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return DenyRulePrefix + hex.EncodeToString(h.Sum(nil)[:8])
}

// covers reports whether an existing rule x already denies, for fam, what d asks: an
// enabled ingress deny rule on the same network, at d's priority or ahead of it, from the
// whole family, to all of the open rule's targets (or every instance), on every port.
func covers(x *computepb.Firewall, d denyRequest, fam family) bool {
	inv := toInventory(x)
	if x.GetDisabled() || !inv.IsIngress() || len(x.GetDenied()) == 0 || len(x.GetDestinationRanges()) > 0 ||
		gcputil.ResourcePath(x.GetNetwork()) != gcputil.ResourcePath(d.open.GetNetwork()) || priorityOf(x) > d.priority {
		return false
	}
	if len(x.GetTargetTags()) > 0 || len(x.GetTargetServiceAccounts()) > 0 {
		tags, sas := d.open.GetTargetTags(), d.open.GetTargetServiceAccounts()
		if !(len(tags) > 0 && subset(tags, x.GetTargetTags()) || len(sas) > 0 && subset(sas, x.GetTargetServiceAccounts())) {
			return false
		}
	}
	world, _, ok := rules.WorldSources(inv)
	if !ok || !slices.ContainsFunc(world, func(w string) bool {
		p, ok := rules.ParseSourceRange(w)
		return ok && p.Addr().Is4() == fam.is4
	}) {
		return false
	}
	denied, err := rules.ParseAllowed(inv.Denied)
	if err != nil {
		return false
	}
	for proto, ps := range d.need {
		if !containsAll(denied.Ports(proto), ps) {
			return false
		}
	}
	return true
}

func subset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}

// denyView is what Apply checks of a created rule: the fields it set.
func denyView(fw *computepb.Firewall) json.RawMessage {
	v := &computepb.Firewall{
		Name: fw.Name, Network: proto.String(gcputil.ResourcePath(fw.GetNetwork())), Direction: fw.Direction,
		Priority: fw.Priority, SourceRanges: fw.SourceRanges, TargetTags: fw.TargetTags,
		TargetServiceAccounts: fw.TargetServiceAccounts, Denied: fw.Denied, Disabled: proto.Bool(fw.GetDisabled()),
	}
	b, err := gcputil.ProtoJSON(v)
	if err != nil {
		return gcputil.MustJSON(err.Error())
	}
	return b
}

func rulesJSON(fws []*computepb.Firewall) (json.RawMessage, error) {
	parts := make([]json.RawMessage, len(fws))
	for i, fw := range fws {
		b, err := gcputil.ProtoJSON(fw)
		if err != nil {
			return nil, err
		}
		parts[i] = b
	}
	return gcputil.MustJSON(parts), nil
}

func (a *denyAction) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, plan, ActionDenyPorts); err != nil {
		return "", err
	}
	f, err := parseRef(snap.Resource)
	if err != nil {
		return "", err
	}
	fresh, err := a.r.get(ctx, f)
	if err != nil {
		return "", fmt.Errorf("re-reading before %s: %w", ActionDenyPorts, err)
	}
	create, _, err := a.compute(ctx, f, fresh, plan.Request)
	if err != nil {
		return "", fmt.Errorf("re-planning %s on the fresh state of firewall %s: %w", ActionDenyPorts, f, err)
	}
	after, err := rulesJSON(create)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(after, plan.After) {
		return "", fmt.Errorf("firewall %s or its project's rules changed since the plan (it would now create %s): %w",
			f, after, remediators.ErrChanged)
	}
	var created []ref
	var ops []string
	for _, rule := range create {
		c := ref{f.project, rule.GetName()}
		a.r.log.Info("inserting deny firewall", zap.String("action", ActionDenyPorts), zap.String("firewall", c.String()),
			zap.String("for", f.String()), zap.Strings("sourceRanges", rule.GetSourceRanges()), zap.Int32("priority", rule.GetPriority()))
		op, err := a.r.client.Insert(ctx, &computepb.InsertFirewallRequest{Project: f.project, FirewallResource: rule})
		if err == nil {
			err = gcputil.WaitOperation(ctx, op, a.r.set)
		}
		if err != nil {
			err = fmt.Errorf("inserting firewall %s: %w", c, err)
			return "", errors.Join(err, a.undo(ctx, created))
		}
		created = append(created, c)
		ops = append(ops, op.Name())
		got, err := a.r.get(ctx, c)
		if err == nil && !bytes.Equal(denyView(got), denyView(rule)) {
			err = fmt.Errorf("it reads back as %s, want %s", denyView(got), denyView(rule))
		}
		if err != nil {
			err = fmt.Errorf("verifying the insert of firewall %s (operation %s): %w", c, op.Name(), err)
			return "", errors.Join(err, a.undo(ctx, created))
		}
	}
	names := make([]string, len(created))
	for i, c := range created {
		names[i] = c.name
	}
	return fmt.Sprintf("created %s (operations %s)", strings.Join(names, ", "), strings.Join(ops, ", ")), nil
}

// undo deletes the rules an Apply created before it failed.
func (a *denyAction) undo(ctx context.Context, created []ref) error {
	var errs []error
	for _, c := range created {
		if err := a.r.delete(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("undoing: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (a *denyAction) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, plan, ActionDenyPorts); err != nil {
		return err
	}
	var errs []error
	for _, full := range plan.Creates {
		project, name, err := gcputil.ParseGlobalName(full, "firewalls")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !strings.HasPrefix(name, DenyRulePrefix) {
			errs = append(errs, fmt.Errorf("restoring: %s is not a rule %s creates (%s*): not deleting it", full, ActionDenyPorts, DenyRulePrefix))
			continue
		}
		c := ref{project, name}
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

// delete deletes a rule and waits; a rule that is gone already is not an error.
func (r *Remediator) delete(ctx context.Context, f ref) error {
	r.log.Info("deleting firewall", zap.String("firewall", f.String()))
	op, err := r.client.Delete(ctx, &computepb.DeleteFirewallRequest{Project: f.project, Firewall: f.name})
	if gcputil.IsNotFound(err) {
		return nil
	}
	if err == nil {
		err = gcputil.WaitOperation(ctx, op, r.set)
	}
	if err != nil {
		return fmt.Errorf("deleting firewall %s: %w", f, err)
	}
	return nil
}

// list reads every firewall rule of a project.
func (r *Remediator) list(ctx context.Context, project string) ([]*computepb.Firewall, error) {
	it := r.client.List(ctx, &computepb.ListFirewallsRequest{Project: project})
	fws, err := gcputil.Drain(it.Next)
	if err != nil {
		return nil, fmt.Errorf("listing the firewalls of project %s: %w", project, err)
	}
	return fws, nil
}
