// Package sakey holds the live action on service account keys: disabling a user-managed
// key. Keys are never deleted, so enabling the key again restores it exactly.
package sakey

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	iamadmin "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
	"github.com/zerodrift/zerodrift/rules"
)

// ActionDisable is the name playbooks use for disabling a key.
const ActionDisable = "serviceAccountKey.disable"

const iamPrefix = "//iam.googleapis.com/"

// Remediator holds the IAM API client.
type Remediator struct {
	iam  *iamadmin.Service
	self []string
	log  *zap.Logger
}

// New creates the IAM client from opts. The IAM client is discovery-based: an endpoint
// given in opts must end with a slash (remediators.Config.Options adds it). self lists
// zerodrift's own identities as IAM members: the keys of its own service accounts are never
// disabled, since zerodrift may be authenticating with one.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, self []string) (*Remediator, error) {
	svc, err := iamadmin.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the IAM client: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Remediator{iam: svc, self: self, log: log}, nil
}

// Close releases nothing: the IAM client holds no connection of its own. It is there so
// that every remediator closes alike.
func (r *Remediator) Close() error { return nil }

// Disable returns serviceAccountKey.disable.
func (r *Remediator) Disable() remediators.Action { return &disable{r: r} }

// Actions returns every service account key action.
func (r *Remediator) Actions() []remediators.Action { return []remediators.Action{r.Disable()} }

// keyName returns the API name of the key a full resource name gives,
// projects/P/serviceAccounts/SA/keys/K, where SA is the account's email or unique ID.
func keyName(resource string) (string, error) {
	rest, ok := strings.CutPrefix(resource, iamPrefix)
	account, key, valid := rules.ParseKeyName(rest)
	if !ok || !valid {
		return "", fmt.Errorf("%w: %q is not %sprojects/P/serviceAccounts/ACCOUNT/keys/KEY", remediators.ErrInvalidRequest, resource, iamPrefix)
	}
	project, _, _ := strings.Cut(strings.TrimPrefix(rest, "projects/"), "/")
	if !gcputil.ValidServiceAccountKey(project, account, key) {
		return "", fmt.Errorf("%w: %q holds a project, account or key ID that IAM could not have given; zerodrift does not send it to the API",
			remediators.ErrInvalidRequest, resource)
	}
	return rest, nil
}

type disable struct{ r *Remediator }

func (a *disable) Name() string      { return ActionDisable }
func (a *disable) AssetType() string { return inventory.TypeServiceAccountKey }
func (a *disable) Close() error      { return a.r.Close() }

// get reads a key, without its key material.
func (r *Remediator) get(ctx context.Context, name string) (*iamadmin.ServiceAccountKey, error) {
	k, err := r.iam.Projects.ServiceAccounts.Keys.Get(name).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("reading service account key %s: %w", name, gcputil.Gone(err))
	}
	k.PrivateKeyData, k.PublicKeyData = "", ""
	return k, nil
}

func (a *disable) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	name, err := keyName(resource)
	if err != nil {
		return nil, err
	}
	k, err := a.r.get(ctx, name)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(k)
	if err != nil {
		return nil, fmt.Errorf("snapshotting service account key %s: %w", name, err)
	}
	return &remediators.Snapshot{Resource: resource, AssetType: inventory.TypeServiceAccountKey, Data: data, ReadAt: time.Now().UTC()}, nil
}

func view(disabled bool) json.RawMessage {
	return gcputil.MustJSON(map[string]bool{"disabled": disabled})
}

// check refuses keys the action must not disable: Google's own (system-managed) keys and
// keys of zerodrift's own service accounts. It returns ErrNothingToDo for a disabled key.
func (a *disable) check(name string, keyType, account string, disabled bool) error {
	switch {
	case !strings.EqualFold(keyType, "USER_MANAGED"):
		return &remediators.RefusedError{Reason: fmt.Sprintf("key %s is %s: only user-managed keys are disabled, "+
			"Google manages the others", name, keyType)}
	case a.isSelf(account):
		return &remediators.RefusedError{Reason: fmt.Sprintf("key %s belongs to %s, zerodrift's own identity: "+
			"disabling it could cut zerodrift off", name, account)}
	case disabled:
		return fmt.Errorf("key %s is disabled already: %w", name, remediators.ErrNothingToDo)
	}
	return nil
}

func (a *disable) isSelf(account string) bool {
	for _, s := range a.r.self {
		if strings.EqualFold(s, "serviceAccount:"+account) {
			return true
		}
	}
	return false
}

func accountOf(k *iamadmin.ServiceAccountKey, fallback string) string {
	if sa, _, ok := rules.ParseKeyName(k.Name); ok {
		return sa
	}
	sa, _, _ := rules.ParseKeyName(fallback)
	return sa
}

func (a *disable) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeServiceAccountKey, nil, ActionDisable); err != nil {
		return nil, err
	}
	name, err := keyName(snap.Resource)
	if err != nil {
		return nil, err
	}
	var k iamadmin.ServiceAccountKey
	if err := json.Unmarshal(snap.Data, &k); err != nil {
		return nil, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	if err := a.check(name, k.KeyType, accountOf(&k, name), k.Disabled); err != nil {
		return nil, fmt.Errorf("planning %s on %s: %w", ActionDisable, name, err)
	}
	return &remediators.Plan{Action: ActionDisable, Resource: snap.Resource, Request: req,
		Summary: fmt.Sprintf("disable key %s of %s (never deleted)", lastSegment(name), accountOf(&k, name)),
		Before:  view(false), After: view(true)}, nil
}

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

func (a *disable) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeServiceAccountKey, plan, ActionDisable); err != nil {
		return "", err
	}
	name, err := keyName(snap.Resource)
	if err != nil {
		return "", err
	}
	fresh, err := a.r.get(ctx, name)
	if err != nil {
		return "", fmt.Errorf("re-reading before %s: %w", ActionDisable, err)
	}
	if err := a.check(name, fresh.KeyType, accountOf(fresh, name), fresh.Disabled); err != nil {
		return "", fmt.Errorf("re-checking %s on the fresh state of %s: %w", ActionDisable, name, err)
	}
	a.r.log.Info("disabling service account key", zap.String("action", ActionDisable), zap.String("key", name))
	if _, err := a.r.iam.Projects.ServiceAccounts.Keys.Disable(name, &iamadmin.DisableServiceAccountKeyRequest{}).Context(ctx).Do(); err != nil {
		return "", fmt.Errorf("disabling service account key %s: %w", name, gcputil.Gone(err))
	}
	if err := a.verify(ctx, name, plan.After); err != nil {
		return "", fmt.Errorf("verifying that key %s is disabled: %w", name, err)
	}
	return plan.Summary, nil
}

func (a *disable) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	if err := gcputil.CheckSnapshot(snap, inventory.TypeServiceAccountKey, plan, ActionDisable); err != nil {
		return err
	}
	name, err := keyName(snap.Resource)
	if err != nil {
		return err
	}
	fresh, err := a.r.get(ctx, name)
	if err != nil {
		return fmt.Errorf("re-reading before restoring: %w", err)
	}
	if !fresh.Disabled {
		a.r.log.Info("service account key enabled already", zap.String("key", name))
		return nil
	}
	a.r.log.Info("enabling service account key", zap.String("action", ActionDisable), zap.String("key", name))
	if _, err := a.r.iam.Projects.ServiceAccounts.Keys.Enable(name, &iamadmin.EnableServiceAccountKeyRequest{}).Context(ctx).Do(); err != nil {
		return fmt.Errorf("enabling service account key %s: %w", name, gcputil.Gone(err))
	}
	if err := a.verify(ctx, name, plan.Before); err != nil {
		return fmt.Errorf("verifying that key %s is enabled: %w", name, err)
	}
	return nil
}

func (a *disable) verify(ctx context.Context, name string, want json.RawMessage) error {
	k, err := a.r.get(ctx, name)
	if err != nil {
		return err
	}
	if got := view(k.Disabled); !bytes.Equal(got, want) {
		return fmt.Errorf("the key reads back as %s, want %s", got, want)
	}
	return nil
}
