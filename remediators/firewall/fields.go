package firewall

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// field is what an action that edits fields of the rule itself knows about those fields.
type field struct {
	// name says the fields in messages, e.g. "sourceRanges".
	name string
	// view is the fields' value in a rule, as canonical JSON: what Plan.Before and
	// Plan.After hold and what Apply and Restore compare.
	view func(fw *computepb.Firewall) json.RawMessage
	// copy sets the fields of dst to those of src, unset ones included.
	copy func(dst, src *computepb.Firewall)
	// needsUpdate reports whether putting src's fields back needs a full update (PUT):
	// a patch cannot unset a field.
	needsUpdate func(src *computepb.Firewall) bool
}

// fieldAction is an action that changes fields of the rule itself: plan computes, from
// the rule and the request, a rule holding the fields' new values (see field.copy).
type fieldAction struct {
	r     *Remediator
	name  string
	field field
	plan  func(fw *computepb.Firewall, req remediators.Request) (*computepb.Firewall, string, error)
}

func (a *fieldAction) Name() string      { return a.name }
func (a *fieldAction) AssetType() string { return inventory.TypeFirewall }
func (a *fieldAction) Close() error      { return a.r.Close() }

func (a *fieldAction) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	return a.r.snapshot(ctx, resource)
}

func (a *fieldAction) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, nil, a.name); err != nil {
		return nil, err
	}
	f, err := parseRef(snap.Resource)
	if err != nil {
		return nil, err
	}
	fw, err := decode(snap)
	if err != nil {
		return nil, err
	}
	want, summary, err := a.plan(fw, req)
	if err != nil {
		return nil, fmt.Errorf("planning %s on firewall %s: %w", a.name, f, err)
	}
	return &remediators.Plan{
		Action: a.name, Resource: snap.Resource, Request: req, Summary: summary,
		Before: a.field.view(fw), After: a.field.view(want),
	}, nil
}

func (a *fieldAction) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, plan, a.name); err != nil {
		return "", err
	}
	f, err := parseRef(snap.Resource)
	if err != nil {
		return "", err
	}
	// Re-read and re-plan: the change is made only if it is still the planned one.
	fresh, err := a.r.get(ctx, f)
	if err != nil {
		return "", fmt.Errorf("re-reading before %s: %w", a.name, err)
	}
	want, _, err := a.plan(fresh, plan.Request)
	if err != nil {
		return "", fmt.Errorf("re-planning %s on the fresh state of firewall %s: %w", a.name, f, err)
	}
	if cur := a.field.view(fresh); !bytes.Equal(cur, plan.Before) || !bytes.Equal(a.field.view(want), plan.After) {
		return "", fmt.Errorf("firewall %s: %s is now %s, and the plan was made on %s: %w", f, a.field.name, cur, plan.Before, remediators.ErrChanged)
	}
	patch := &computepb.Firewall{}
	a.field.copy(patch, want)
	a.r.log.Info("patching firewall", zap.String("action", a.name), zap.String("firewall", f.String()),
		zap.String("field", a.field.name), zap.ByteString("before", plan.Before), zap.ByteString("after", plan.After))
	op, err := a.r.client.Patch(ctx, &computepb.PatchFirewallRequest{Project: f.project, Firewall: f.name, FirewallResource: patch})
	if err != nil {
		return "", fmt.Errorf("patching firewall %s: %w", f, gcputil.Gone(err))
	}
	if err := gcputil.WaitOperation(ctx, op, a.r.set); err != nil {
		return "", fmt.Errorf("patching firewall %s: %w", f, err)
	}
	if err := a.verify(ctx, f, plan.After); err != nil {
		return "", fmt.Errorf("verifying the patch of firewall %s (operation %s): %w", f, op.Name(), err)
	}
	return fmt.Sprintf("operation %s: %s", op.Name(), plan.Summary), nil
}

func (a *fieldAction) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeFirewall, plan, a.name); err != nil {
		return err
	}
	f, err := parseRef(snap.Resource)
	if err != nil {
		return err
	}
	orig, err := decode(snap)
	if err != nil {
		return err
	}
	fresh, err := a.r.get(ctx, f)
	if err != nil {
		return fmt.Errorf("re-reading before restoring: %w", err)
	}
	// Whether to roll back over a change made since (the fields are neither what the change
	// set nor what they were) is the caller's decision (zerodrift rollback --force): the
	// engine checks it before calling Restore. Only the action's own fields are written.
	switch cur := a.field.view(fresh); {
	case bytes.Equal(cur, plan.Before):
		a.r.log.Info("firewall already as in its snapshot", zap.String("action", a.name), zap.String("firewall", f.String()))
		return nil
	case !bytes.Equal(cur, plan.After):
		a.r.log.Warn("restoring over a change made since zerodrift's", zap.String("action", a.name), zap.String("firewall", f.String()),
			zap.String("field", a.field.name), zap.ByteString("now", cur), zap.ByteString("changeSet", plan.After), zap.ByteString("restoring", plan.Before))
	}
	var op interface{ Name() string }
	if a.field.needsUpdate(orig) {
		full := proto.Clone(fresh).(*computepb.Firewall)
		a.field.copy(full, orig)
		a.r.log.Info("restoring firewall (update)", zap.String("action", a.name), zap.String("firewall", f.String()), zap.ByteString("to", plan.Before))
		o, err := a.r.client.Update(ctx, &computepb.UpdateFirewallRequest{Project: f.project, Firewall: f.name, FirewallResource: full})
		if err != nil {
			return fmt.Errorf("restoring firewall %s: updating it: %w", f, gcputil.Gone(err))
		}
		if err := gcputil.WaitOperation(ctx, o, a.r.set); err != nil {
			return fmt.Errorf("restoring firewall %s: updating it: %w", f, err)
		}
		op = o
	} else {
		patch := &computepb.Firewall{}
		a.field.copy(patch, orig)
		a.r.log.Info("restoring firewall (patch)", zap.String("action", a.name), zap.String("firewall", f.String()), zap.ByteString("to", plan.Before))
		o, err := a.r.client.Patch(ctx, &computepb.PatchFirewallRequest{Project: f.project, Firewall: f.name, FirewallResource: patch})
		if err != nil {
			return fmt.Errorf("restoring firewall %s: patching it: %w", f, gcputil.Gone(err))
		}
		if err := gcputil.WaitOperation(ctx, o, a.r.set); err != nil {
			return fmt.Errorf("restoring firewall %s: patching it: %w", f, err)
		}
		op = o
	}
	if err := a.verify(ctx, f, plan.Before); err != nil {
		return fmt.Errorf("verifying the restore of firewall %s (operation %s): %w", f, op.Name(), err)
	}
	return nil
}

// verify re-reads the rule and checks its fields hold want.
func (a *fieldAction) verify(ctx context.Context, f ref, want json.RawMessage) error {
	got, err := a.r.get(ctx, f)
	if err != nil {
		return err
	}
	if v := a.field.view(got); !bytes.Equal(v, want) {
		return fmt.Errorf("%s is %s, want %s", a.field.name, v, want)
	}
	return nil
}
