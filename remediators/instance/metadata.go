package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// SetMetadata returns compute.setMetadata: it sets one metadata key, Params["key"], to
// Params["value"] on an instance (instances.setMetadata) or in a project's common instance
// metadata (projects.setCommonInstanceMetadata), every other item kept as it is, with the
// metadata's fingerprint. The keys are the boolean settings the compute rules judge, and the
// value must be a boolean Compute Engine reads (TRUE, FALSE, ...): a key that already has
// that value, in any spelling Compute Engine reads the same, has nothing to do. Restore puts
// back the key's value of the snapshot, or removes the key when it was absent.
func (r *Remediator) SetMetadata() remediators.Action { return &setMetadata{r: r} }

// MetadataKeys are the keys compute.setMetadata sets.
func MetadataKeys() []string {
	return []string{"enable-oslogin", "serial-port-enable", "block-project-ssh-keys"}
}

// target is the resource whose metadata compute.setMetadata edits: an instance, or a
// project's Compute Engine settings.
type target struct {
	inst    *instRef // nil for a project
	project string
}

func (t target) assetType() string {
	if t.inst != nil {
		return inventory.TypeInstance
	}
	return inventory.TypeComputeProject
}

func (t target) String() string {
	if t.inst != nil {
		return "instance " + t.inst.String()
	}
	return "project " + t.project
}

// what names the metadata in messages.
func (t target) what() string {
	if t.inst != nil {
		return "instance metadata"
	}
	return "common instance metadata"
}

func parseTarget(resource string) (target, error) {
	if i, err := parseInstance(resource); err == nil {
		return target{inst: &i, project: i.Project}, nil
	}
	p, err := gcputil.ParseProjectName(resource)
	if err != nil {
		return target{}, fmt.Errorf("%w: %q is neither an instance (%sprojects/P/zones/Z/instances/I) nor a project's compute settings (%sprojects/P)",
			remediators.ErrInvalidRequest, resource, gcputil.ComputePrefix, gcputil.ComputePrefix)
	}
	return target{project: p}, nil
}

type setMetadata struct{ r *Remediator }

func (a *setMetadata) Name() string      { return ActionSetMetadata }
func (a *setMetadata) AssetType() string { return inventory.TypeInstance }
func (a *setMetadata) Close() error      { return a.r.Close() }

// AssetTypes lists the kinds of resources whose metadata the action edits.
func (a *setMetadata) AssetTypes() []string {
	return []string{inventory.TypeInstance, inventory.TypeComputeProject}
}

// read reads the target and returns its REST representation and its metadata.
func (a *setMetadata) read(ctx context.Context, t target) (proto.Message, *computepb.Metadata, error) {
	if t.inst != nil {
		inst, err := a.r.getInstance(ctx, *t.inst)
		if err != nil {
			return nil, nil, err
		}
		return inst, inst.GetMetadata(), nil
	}
	p, err := a.r.getProject(ctx, t.project)
	if err != nil {
		return nil, nil, err
	}
	return p, p.GetCommonInstanceMetadata(), nil
}

func (a *setMetadata) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	t, err := parseTarget(resource)
	if err != nil {
		return nil, err
	}
	m, _, err := a.read(ctx, t)
	if err != nil {
		return nil, err
	}
	return gcputil.Snapshot(resource, t.assetType(), t.String(), m)
}

// metadataOf decodes the metadata a snapshot holds.
func metadataOf(t target, snap *remediators.Snapshot) (*computepb.Metadata, error) {
	if t.inst != nil {
		inst := &computepb.Instance{}
		if err := gcputil.UnmarshalProto(snap.Data, inst); err != nil {
			return nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
		}
		return inst.GetMetadata(), nil
	}
	p := &computepb.Project{}
	if err := gcputil.UnmarshalProto(snap.Data, p); err != nil {
		return nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	return p.GetCommonInstanceMetadata(), nil
}

func (a *setMetadata) checkSnapshot(snap *remediators.Snapshot, plan *remediators.Plan) (target, error) {
	if snap == nil {
		return target{}, fmt.Errorf("%w: %s needs a snapshot", remediators.ErrInvalidRequest, ActionSetMetadata)
	}
	t, err := parseTarget(snap.Resource)
	if err != nil {
		return t, err
	}
	return t, gcputil.CheckSnapshot(snap, t.assetType(), plan, ActionSetMetadata)
}

// item is one metadata key's value as compared: Value is nil when the key is absent. It is
// what Plan.Before and Plan.After hold.
type item struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func (it item) json() json.RawMessage { return gcputil.MustJSON(it) }

func (it item) text() string {
	if it.Value == nil {
		return "(absent)"
	}
	return *it.Value
}

func itemOf(md *computepb.Metadata, key string) item {
	for _, i := range md.GetItems() {
		if i.GetKey() == key {
			return item{Key: key, Value: proto.String(i.GetValue())}
		}
	}
	return item{Key: key}
}

// gceBool reads a boolean metadata value as Compute Engine does, and as the compute rules
// read it; ok is false for a value it does not read as a boolean ("False" is none).
func gceBool(v string) (b, ok bool) {
	switch v {
	case "TRUE", "true", "True", "1", "y", "Y", "yes", "YES":
		return true, true
	case "FALSE", "false", "0", "n", "N", "no", "NO":
		return false, true
	}
	return false, false
}

// sameValue reports whether a key's current value is already want: the same boolean as
// Compute Engine reads it (TRUE, true and 1 are one value), or the same text.
func sameValue(cur *string, want string) bool {
	if cur == nil {
		return false
	}
	c, cok := gceBool(*cur)
	w, wok := gceBool(want)
	if cok && wok {
		return c == w
	}
	return *cur == want
}

// metadataRequest is what compute.setMetadata is asked: the key and its value.
type metadataRequest struct{ key, value string }

func parseMetadataRequest(req remediators.Request) (metadataRequest, error) {
	var mr metadataRequest
	var err error
	if mr.key, err = req.ParamString("key"); err != nil {
		return mr, err
	}
	if mr.value, err = req.ParamString("value"); err != nil {
		return mr, err
	}
	switch {
	case mr.key == "":
		return mr, fmt.Errorf("%w: params.key, the metadata key to set, is required: one of %s",
			remediators.ErrInvalidRequest, strings.Join(MetadataKeys(), ", "))
	case !slices.Contains(MetadataKeys(), mr.key):
		return mr, fmt.Errorf("%w: params.key %q is not a key this action sets: want one of %s",
			remediators.ErrInvalidRequest, mr.key, strings.Join(MetadataKeys(), ", "))
	case strings.TrimSpace(mr.value) == "":
		return mr, fmt.Errorf("%w: params.value, the value to set %s to, is required (TRUE or FALSE)", remediators.ErrInvalidRequest, mr.key)
	}
	if _, ok := gceBool(mr.value); !ok {
		return mr, fmt.Errorf("%w: params.value %q is no boolean Compute Engine reads for %s: want TRUE or FALSE",
			remediators.ErrInvalidRequest, mr.value, mr.key)
	}
	return mr, nil
}

// plan computes the item the key becomes; ErrNothingToDo when it has the value already.
func planItem(md *computepb.Metadata, mr metadataRequest) (before, after item, err error) {
	before = itemOf(md, mr.key)
	if sameValue(before.Value, mr.value) {
		return before, before, fmt.Errorf("%s is %s already: %w", mr.key, *before.Value, remediators.ErrNothingToDo)
	}
	return before, item{Key: mr.key, Value: proto.String(mr.value)}, nil
}

// withItem returns metadata to write: md's items, in order, with the key set to its value
// (added at the end when absent) or removed (it.Value nil), and md's fingerprint.
func withItem(md *computepb.Metadata, it item) *computepb.Metadata {
	out := &computepb.Metadata{Fingerprint: md.Fingerprint}
	found := false
	for _, i := range md.GetItems() {
		if i.GetKey() != it.Key {
			out.Items = append(out.Items, proto.Clone(i).(*computepb.Items))
			continue
		}
		found = true
		if it.Value != nil {
			out.Items = append(out.Items, &computepb.Items{Key: proto.String(it.Key), Value: proto.String(*it.Value)})
		}
	}
	if !found && it.Value != nil {
		out.Items = append(out.Items, &computepb.Items{Key: proto.String(it.Key), Value: proto.String(*it.Value)})
	}
	return out
}

func (a *setMetadata) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	t, err := a.checkSnapshot(snap, nil)
	if err != nil {
		return nil, err
	}
	mr, err := parseMetadataRequest(req)
	if err != nil {
		return nil, err
	}
	md, err := metadataOf(t, snap)
	if err != nil {
		return nil, err
	}
	before, after, err := planItem(md, mr)
	if err != nil {
		return nil, fmt.Errorf("planning %s on %s: %w", ActionSetMetadata, t, err)
	}
	return &remediators.Plan{Action: ActionSetMetadata, Resource: snap.Resource, Request: req,
		Summary: fmt.Sprintf("%s %s %s → %s; every other item kept", t.what(), mr.key, before.text(), after.text()),
		Before:  before.json(), After: after.json()}, nil
}

// write sets the target's metadata and returns the operation.
func (a *setMetadata) write(ctx context.Context, t target, md *computepb.Metadata) (*compute.Operation, error) {
	if t.inst != nil {
		return a.r.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: t.inst.Project, Zone: t.inst.Scope,
			Instance: t.inst.Name, MetadataResource: md})
	}
	return a.r.projects.SetCommonInstanceMetadata(ctx, &computepb.SetCommonInstanceMetadataProjectRequest{Project: t.project, MetadataResource: md})
}

// fingerprintRetries is how many times a write refused for a stale fingerprint (412) is
// re-read, re-planned and sent again.
const fingerprintRetries = 1

// put writes item it over the target's metadata as read fresh, when check (given the
// key's current item) allows, re-reading once after a stale fingerprint. It waits for the
// operation and verifies the key reads back as it.
func (a *setMetadata) put(ctx context.Context, t target, it item, check func(cur item) error) (string, error) {
	for attempt := 0; ; attempt++ {
		_, md, err := a.read(ctx, t)
		if err != nil {
			return "", err
		}
		cur := itemOf(md, it.Key)
		if err := check(cur); err != nil {
			return "", err
		}
		a.r.log.Info("setting metadata", zap.String("target", t.String()), zap.String("key", it.Key),
			zap.String("from", cur.text()), zap.String("to", it.text()), zap.String("fingerprint", md.GetFingerprint()),
			zap.Int("attempt", attempt+1))
		op, err := a.write(ctx, t, withItem(md, it))
		if gcputil.IsPreconditionFailed(err) && attempt < fingerprintRetries {
			a.r.log.Info("metadata changed since it was read (stale fingerprint); reading it again",
				zap.String("target", t.String()), zap.Error(err))
			continue
		}
		if err != nil {
			if gcputil.IsPreconditionFailed(err) {
				err = fmt.Errorf("the metadata kept changing under concurrent writers: %w: %w", remediators.ErrChanged, err)
			}
			return "", fmt.Errorf("setting the %s of %s: %w", t.what(), t, gcputil.Gone(err))
		}
		if err := gcputil.WaitOperation(ctx, op, a.r.set); err != nil {
			return "", fmt.Errorf("setting the %s of %s: %w", t.what(), t, err)
		}
		_, got, err := a.read(ctx, t)
		if err != nil {
			return "", fmt.Errorf("verifying the %s of %s (operation %s): %w", t.what(), t, op.Name(), err)
		}
		if g := itemOf(got, it.Key); !bytes.Equal(g.json(), it.json()) {
			return "", fmt.Errorf("verifying the %s of %s (operation %s): %s reads back as %s, want %s",
				t.what(), t, op.Name(), it.Key, g.text(), it.text())
		}
		return op.Name(), nil
	}
}

func readItem(raw json.RawMessage, what string) (item, error) {
	var it item
	if err := json.Unmarshal(raw, &it); err != nil || it.Key == "" {
		return it, fmt.Errorf("%w: reading the plan's %s metadata item %s: %v", remediators.ErrInvalidRequest, what, raw, err)
	}
	return it, nil
}

func (a *setMetadata) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return "", err
	}
	mr, err := parseMetadataRequest(plan.Request)
	if err != nil {
		return "", err
	}
	after, err := readItem(plan.After, "after")
	if err != nil {
		return "", err
	}
	// Re-plan on every fresh read: the change is made only if it is still the planned one.
	check := func(cur item) error {
		before, want, err := planItem(&computepb.Metadata{Items: itemsOf(cur)}, mr)
		if err != nil {
			return fmt.Errorf("re-planning %s on the fresh state of %s: %w", ActionSetMetadata, t, err)
		}
		if !bytes.Equal(before.json(), plan.Before) || !bytes.Equal(want.json(), after.json()) {
			return fmt.Errorf("%s: %s is now %s, and the plan was made on %s: %w", t, mr.key, before.json(), plan.Before, remediators.ErrChanged)
		}
		return nil
	}
	op, err := a.put(ctx, t, after, check)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("operation %s: %s", op, plan.Summary), nil
}

// itemsOf is the metadata items holding only it (none when it is absent).
func itemsOf(it item) []*computepb.Items {
	if it.Value == nil {
		return nil
	}
	return []*computepb.Items{{Key: proto.String(it.Key), Value: proto.String(*it.Value)}}
}

// Restore puts back the key's value of the snapshot (or removes the key), on the metadata as
// it is now: every other item keeps what it holds now.
func (a *setMetadata) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return err
	}
	before, err := readItem(plan.Before, "before")
	if err != nil {
		return err
	}
	_, md, err := a.read(ctx, t)
	if err != nil {
		return fmt.Errorf("re-reading before restoring: %w", err)
	}
	// Whether to roll back over a change made since is the caller's decision (zerodrift
	// rollback --force), checked before Restore is called: here it is only logged.
	switch cur := itemOf(md, before.Key); {
	case bytes.Equal(cur.json(), plan.Before):
		a.r.log.Info("metadata already as in its snapshot", zap.String("target", t.String()), zap.String("key", before.Key))
		return nil
	case !bytes.Equal(cur.json(), plan.After):
		a.r.log.Warn("restoring over a change made since zerodrift's", zap.String("target", t.String()), zap.String("key", before.Key),
			zap.String("now", cur.text()), zap.ByteString("changeSet", plan.After), zap.String("restoring", before.text()))
	}
	if _, err := a.put(ctx, t, before, func(item) error { return nil }); err != nil {
		return fmt.Errorf("restoring: %w", err)
	}
	return nil
}
