// Package subnetwork holds the live actions on VPC subnetworks: turning VPC flow logs on
// (subnetwork.enableFlowLogs) and turning Private Google Access on
// (subnetwork.enablePrivateGoogleAccess).
//
// Every action reads the subnetwork from the Compute API (Snapshot), plans from that
// reading, re-reads and re-plans just before it writes (a subnetwork that changed meanwhile
// is left alone), writes only the setting it changes, waits for the region operation and
// reads the subnetwork again to verify. Subnetworks Google manages for a service (proxy-only,
// Private Service Connect, Private NAT...) are refused: neither setting applies to them.
package subnetwork

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// Action names, as playbooks spell them.
const (
	ActionEnableFlowLogs            = "subnetwork.enableFlowLogs"
	ActionEnablePrivateGoogleAccess = "subnetwork.enablePrivateGoogleAccess"
)

// Remediator holds the Compute API client the subnetwork actions share.
type Remediator struct {
	client *compute.SubnetworksClient
	log    *zap.Logger
	set    remediators.Settings

	closeOnce sync.Once
	closeErr  error
}

// New creates the Compute subnetworks client from opts (endpoint, credentials) and returns
// the remediator; set tunes operation waits. Close releases the client.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, set remediators.Settings) (*Remediator, error) {
	c, err := compute.NewSubnetworksRESTClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the compute subnetworks client: %w", err)
	}
	*c.CallOptions = compute.SubnetworksCallOptions{} // opts retry reads (remediators.Config.Options)
	if log == nil {
		log = zap.NewNop()
	}
	return &Remediator{client: c, log: log, set: set.WithDefaults()}, nil
}

// Close releases the client; it is safe to call more than once.
func (r *Remediator) Close() error {
	r.closeOnce.Do(func() {
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("closing the compute subnetworks client: %w", err)
		}
	})
	return r.closeErr
}

// Actions returns every subnetwork action.
func (r *Remediator) Actions() []remediators.Action {
	return []remediators.Action{r.EnableFlowLogs(), r.EnablePrivateGoogleAccess()}
}

type ref = gcputil.ScopedRef

func parseRef(resource string) (ref, error) {
	return gcputil.ParseRegionalName(resource, "subnetworks")
}

// get reads a subnetwork; one that does not exist is an error wrapping remediators.ErrGone.
func (r *Remediator) get(ctx context.Context, s ref) (*computepb.Subnetwork, error) {
	sn, err := r.client.Get(ctx, &computepb.GetSubnetworkRequest{Project: s.Project, Region: s.Scope, Subnetwork: s.Name})
	if err != nil {
		return nil, fmt.Errorf("reading subnetwork %s: %w", s, gcputil.Gone(err))
	}
	return sn, nil
}

func (r *Remediator) snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	s, err := parseRef(resource)
	if err != nil {
		return nil, err
	}
	sn, err := r.get(ctx, s)
	if err != nil {
		return nil, err
	}
	return gcputil.Snapshot(resource, inventory.TypeSubnetwork, "subnetwork "+s.String(), sn)
}

func decode(snap *remediators.Snapshot) (*computepb.Subnetwork, error) {
	return gcputil.FromSnapshot(snap, &computepb.Subnetwork{})
}

// setting is what an action knows about the one setting of a subnetwork it changes.
type setting struct {
	// name says the setting in messages, e.g. "flow logs".
	name string
	// view is the setting's value in a subnetwork as canonical JSON: what Plan.Before and
	// Plan.After hold, and what Apply and Restore compare.
	view func(sn *computepb.Subnetwork) json.RawMessage
	// plan computes, from the subnetwork and the request, the setting's new value (as a
	// view) and a one-line summary; ErrNothingToDo or a *RefusedError when there is nothing
	// safe to do.
	plan func(sn *computepb.Subnetwork, req remediators.Request) (json.RawMessage, string, error)
	// apply writes the planned value on the freshly read subnetwork.
	apply func(ctx context.Context, r *Remediator, s ref, fresh *computepb.Subnetwork, req remediators.Request) (*compute.Operation, error)
	// restore writes back the value the snapshot held.
	restore func(ctx context.Context, r *Remediator, s ref, fresh, orig *computepb.Subnetwork) (*compute.Operation, error)
}

// action is a subnetwork action that changes one setting.
type action struct {
	r       *Remediator
	name    string
	setting setting
}

func (a *action) Name() string      { return a.name }
func (a *action) AssetType() string { return inventory.TypeSubnetwork }
func (a *action) Close() error      { return a.r.Close() }

func (a *action) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	return a.r.snapshot(ctx, resource)
}

func (a *action) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeSubnetwork, nil, a.name); err != nil {
		return nil, err
	}
	s, err := parseRef(snap.Resource)
	if err != nil {
		return nil, err
	}
	sn, err := decode(snap)
	if err != nil {
		return nil, err
	}
	after, summary, err := a.setting.plan(sn, req)
	if err != nil {
		return nil, fmt.Errorf("planning %s on subnetwork %s: %w", a.name, s, err)
	}
	return &remediators.Plan{Action: a.name, Resource: snap.Resource, Request: req, Summary: summary,
		Before: a.setting.view(sn), After: after}, nil
}

// fingerprintRetries is how many times Apply re-reads and re-plans after a write refused for
// a stale fingerprint (412): someone changed the subnetwork between the read and the write.
const fingerprintRetries = 1

func (a *action) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeSubnetwork, plan, a.name); err != nil {
		return "", err
	}
	s, err := parseRef(snap.Resource)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		// Re-read and re-plan: the change is made only if it is still the planned one.
		fresh, err := a.r.get(ctx, s)
		if err != nil {
			return "", fmt.Errorf("re-reading before %s: %w", a.name, err)
		}
		want, _, err := a.setting.plan(fresh, plan.Request)
		if err != nil {
			return "", fmt.Errorf("re-planning %s on the fresh state of subnetwork %s: %w", a.name, s, err)
		}
		if cur := a.setting.view(fresh); !bytes.Equal(cur, plan.Before) || !bytes.Equal(want, plan.After) {
			return "", fmt.Errorf("subnetwork %s: %s is now %s, and the plan was made on %s: %w", s, a.setting.name, cur, plan.Before, remediators.ErrChanged)
		}
		a.r.log.Info("changing subnetwork", zap.String("action", a.name), zap.String("subnetwork", s.String()),
			zap.String("fingerprint", fresh.GetFingerprint()), zap.Int("attempt", attempt+1),
			zap.ByteString("before", plan.Before), zap.ByteString("after", plan.After))
		op, err := a.setting.apply(ctx, a.r, s, fresh, plan.Request)
		if gcputil.IsPreconditionFailed(err) && attempt < fingerprintRetries {
			a.r.log.Info("subnetwork changed since it was read (stale fingerprint); reading it again",
				zap.String("subnetwork", s.String()), zap.Error(err))
			continue
		}
		if err != nil {
			if gcputil.IsPreconditionFailed(err) {
				err = fmt.Errorf("%w: %w", remediators.ErrChanged, err)
			}
			return "", fmt.Errorf("changing the %s of subnetwork %s: %w", a.setting.name, s, gcputil.Gone(err))
		}
		if err := gcputil.WaitOperation(ctx, op, a.r.set); err != nil {
			return "", fmt.Errorf("changing the %s of subnetwork %s: %w", a.setting.name, s, err)
		}
		if err := a.verify(ctx, s, plan.After); err != nil {
			return "", fmt.Errorf("verifying subnetwork %s (operation %s): %w", s, op.Name(), err)
		}
		return fmt.Sprintf("operation %s: %s", op.Name(), plan.Summary), nil
	}
}

func (a *action) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeSubnetwork, plan, a.name); err != nil {
		return err
	}
	s, err := parseRef(snap.Resource)
	if err != nil {
		return err
	}
	orig, err := decode(snap)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		fresh, err := a.r.get(ctx, s)
		if err != nil {
			return fmt.Errorf("re-reading before restoring: %w", err)
		}
		// Whether to roll back over a change made since is the caller's decision (zerodrift
		// rollback --force), checked before Restore is called: here it is only logged.
		switch cur := a.setting.view(fresh); {
		case bytes.Equal(cur, plan.Before):
			a.r.log.Info("subnetwork already as in its snapshot", zap.String("action", a.name), zap.String("subnetwork", s.String()))
			return nil
		case !bytes.Equal(cur, plan.After):
			a.r.log.Warn("restoring over a change made since zerodrift's", zap.String("action", a.name), zap.String("subnetwork", s.String()),
				zap.ByteString("now", cur), zap.ByteString("changeSet", plan.After), zap.ByteString("restoring", plan.Before))
		}
		a.r.log.Info("restoring subnetwork", zap.String("action", a.name), zap.String("subnetwork", s.String()),
			zap.Int("attempt", attempt+1), zap.ByteString("to", plan.Before))
		op, err := a.setting.restore(ctx, a.r, s, fresh, orig)
		if gcputil.IsPreconditionFailed(err) && attempt < fingerprintRetries {
			continue
		}
		if err != nil {
			return fmt.Errorf("restoring the %s of subnetwork %s: %w", a.setting.name, s, gcputil.Gone(err))
		}
		if err := gcputil.WaitOperation(ctx, op, a.r.set); err != nil {
			return fmt.Errorf("restoring the %s of subnetwork %s: %w", a.setting.name, s, err)
		}
		if err := a.verify(ctx, s, plan.Before); err != nil {
			return fmt.Errorf("verifying the restore of subnetwork %s (operation %s): %w", s, op.Name(), err)
		}
		return nil
	}
}

// verify re-reads the subnetwork and checks the setting holds want.
func (a *action) verify(ctx context.Context, s ref, want json.RawMessage) error {
	got, err := a.r.get(ctx, s)
	if err != nil {
		return err
	}
	if v := a.setting.view(got); !bytes.Equal(v, want) {
		return fmt.Errorf("%s is %s, want %s", a.setting.name, v, want)
	}
	return nil
}

// refuseManaged refuses a subnetwork Google manages for a service: one whose purpose is
// not a workload's (inventory.WorkloadPurpose), as the rules judge it.
func refuseManaged(sn *computepb.Subnetwork, what string) error {
	if p := sn.GetPurpose(); !inventory.WorkloadPurpose(p) {
		return &remediators.RefusedError{Reason: fmt.Sprintf(
			"subnetwork %s has purpose %s: Google manages it for a service (proxy-only, Private Service Connect, "+
				"Private NAT...) and %s does not apply to it; only subnetworks of purpose PRIVATE hold workloads",
			sn.GetName(), p, what)}
	}
	return nil
}
