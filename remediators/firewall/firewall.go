// Package firewall holds the live actions on VPC firewall rules: restricting the sources
// of a rule open to the internet, disabling it, turning its logging on, and containing it
// with a higher-priority deny rule; and, on a VPC network, creating the egress deny-all rule
// of a default-deny baseline (egress.go).
//
// Every action reads the rule from the Compute API (Snapshot), plans from that reading,
// re-reads and re-plans just before it writes (a rule that changed meanwhile is left alone),
// writes only the fields it changes, waits for the operation and reads the rule again to
// verify. Restore puts back exactly what the snapshot held in the fields the action
// changed, and only those.
package firewall

import (
	"context"
	"errors"
	"fmt"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
	"github.com/zerodrift/zerodrift/rules"
)

// Action names, as playbooks spell them.
const (
	ActionRestrictSources  = "firewall.restrictSources"
	ActionDisable          = "firewall.disable"
	ActionEnableLogging    = "firewall.enableLogging"
	ActionDenyPorts        = "firewall.denyPorts"
	ActionCreateEgressDeny = "firewall.createEgressDeny"
)

// Remediator holds the Compute API clients the firewall actions share: firewalls, and
// networks, which firewall.createEgressDeny reads.
type Remediator struct {
	client   *compute.FirewallsClient
	networks *compute.NetworksClient
	log      *zap.Logger
	set      remediators.Settings

	closeOnce sync.Once
	closeErr  error
}

// New creates the Compute firewalls client from opts (endpoint, credentials) and returns
// the remediator; set tunes operation waits. Close releases the client.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, set remediators.Settings) (*Remediator, error) {
	c, err := compute.NewFirewallsRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the compute firewalls client: %w", err)
	}
	*c.CallOptions = compute.FirewallsCallOptions{} // opts retry reads (remediators.Config.Options)
	n, err := compute.NewNetworksRESTClient(ctx, opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating the compute networks client: %w", err), c.Close())
	}
	*n.CallOptions = compute.NetworksCallOptions{}
	if log == nil {
		log = zap.NewNop()
	}
	return &Remediator{client: c, networks: n, log: log, set: set.WithDefaults()}, nil
}

// Close releases the client; it is safe to call more than once.
func (r *Remediator) Close() error {
	r.closeOnce.Do(func() {
		if err := errors.Join(r.client.Close(), r.networks.Close()); err != nil {
			r.closeErr = fmt.Errorf("closing the compute firewalls and networks clients: %w", err)
		}
	})
	return r.closeErr
}

// Actions returns every firewall action.
func (r *Remediator) Actions() []remediators.Action {
	return []remediators.Action{r.RestrictSources(), r.Disable(), r.EnableLogging(), r.DenyPorts(), r.CreateEgressDeny()}
}

// ref names one firewall rule.
type ref struct{ project, name string }

func (f ref) String() string { return "projects/" + f.project + "/global/firewalls/" + f.name }

func parseRef(resource string) (ref, error) {
	p, n, err := gcputil.ParseGlobalName(resource, "firewalls")
	return ref{p, n}, err
}

// get reads a rule; a rule that does not exist is an error wrapping remediators.ErrGone.
func (r *Remediator) get(ctx context.Context, f ref) (*computepb.Firewall, error) {
	fw, err := r.client.Get(ctx, &computepb.GetFirewallRequest{Project: f.project, Firewall: f.name})
	if err != nil {
		return nil, fmt.Errorf("reading firewall %s: %w", f, gcputil.Gone(err))
	}
	return fw, nil
}

// snapshot reads a rule into a snapshot.
func (r *Remediator) snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	f, err := parseRef(resource)
	if err != nil {
		return nil, err
	}
	fw, err := r.get(ctx, f)
	if err != nil {
		return nil, err
	}
	return gcputil.Snapshot(resource, inventory.TypeFirewall, "firewall "+f.String(), fw)
}

// decode reads the rule a snapshot holds.
func decode(snap *remediators.Snapshot) (*computepb.Firewall, error) {
	return gcputil.FromSnapshot(snap, &computepb.Firewall{})
}

// toInventory converts a rule for the rules package's helpers.
func toInventory(fw *computepb.Firewall) *inventory.Firewall {
	out := &inventory.Firewall{
		Name:                  fw.GetName(),
		Network:               fw.GetNetwork(),
		Direction:             fw.GetDirection(),
		Disabled:              fw.GetDisabled(),
		SourceRanges:          fw.GetSourceRanges(),
		DestinationRanges:     fw.GetDestinationRanges(),
		SourceTags:            fw.GetSourceTags(),
		SourceServiceAccounts: fw.GetSourceServiceAccounts(),
		TargetTags:            fw.GetTargetTags(),
		TargetServiceAccounts: fw.GetTargetServiceAccounts(),
		Description:           fw.GetDescription(),
	}
	if fw.Priority != nil {
		p := int64(fw.GetPriority())
		out.Priority = &p
	}
	for _, a := range fw.GetAllowed() {
		out.Allowed = append(out.Allowed, inventory.FirewallRule{IPProtocol: a.GetIPProtocol(), Ports: a.GetPorts()})
	}
	for _, d := range fw.GetDenied() {
		out.Denied = append(out.Denied, inventory.FirewallRule{IPProtocol: d.GetIPProtocol(), Ports: d.GetPorts()})
	}
	return out
}

// defaultPriority is the priority of a rule that does not say.
const defaultPriority = 1000

func priorityOf(fw *computepb.Firewall) int32 {
	if fw.Priority == nil {
		return defaultPriority
	}
	return fw.GetPriority()
}

// whyClosed tells why a rule admits nothing from the internet ("" when it does):
// it is egress, deny-only or disabled, or its sources are narrower than the internet.
// disabledCounts says whether a disabled rule counts as closed.
func whyClosed(fw *computepb.Firewall, disabledCounts bool) string {
	inv := toInventory(fw)
	switch {
	case !inv.IsIngress():
		return "it is an egress rule"
	case len(fw.GetAllowed()) == 0:
		return "it denies traffic, and allows none"
	case disabledCounts && fw.GetDisabled():
		return "it is disabled"
	}
	if _, _, open := rules.WorldSources(inv); !open {
		return "its sources do not cover the internet"
	}
	return ""
}
