// Package remediators holds the code behind playbook actions: one sub-package per resource
// kind (firewall, network, subnetwork, instance, iampolicy, sakey), each talking to the GCP
// API through Google's Go clients, and remediators/registry, which builds them all from one
// Config. Every action has four parts: Snapshot (read the current state from the
// resource's own API), Plan (compute the change, refusing unsafe ones), Apply (re-read and
// re-plan, make the change, wait for long-running operations, read back what it wrote), and
// Restore (roll back from the snapshot). Verifying that the finding is gone is the engine's: it snapshots again and
// re-runs the rule.
//
// Remediators make live edits only: they never import the pull-request or IaC packages,
// the ledger, the engine, or the sandbox.
package remediators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Snapshot is a resource as read from its own API just before a change.
type Snapshot struct {
	// Resource is the full resource name, as in the asset model.
	Resource  string `json:"resource"`
	AssetType string `json:"assetType"`
	// Data is the REST representation of the resource. For an IAM policy action it is the
	// resource's policy (version 3, with its etag).
	Data json.RawMessage `json:"data"`
	// Related holds other resources the action read and may change or restore, by full
	// name (e.g. the default firewall rules deleted with the default network).
	Related map[string]json.RawMessage `json:"related,omitempty"`
	ReadAt  time.Time                  `json:"readAt"`
}

// Asset returns the snapshot in the asset model, so the engine can re-run a rule on it.
// For a policy snapshot the asset carries the policy and no resource data.
func (s *Snapshot) Asset() (*inventory.Asset, error) {
	a := &inventory.Asset{Name: s.Resource, AssetType: s.AssetType}
	switch s.AssetType {
	case inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization:
		var p inventory.Policy
		if err := json.Unmarshal(s.Data, &p); err != nil {
			return nil, fmt.Errorf("reading the policy snapshot of %s: %w", s.Resource, err)
		}
		a.IAMPolicy = &p
	default:
		a.Resource = &inventory.Resource{Data: s.Data}
	}
	return a, nil
}

// Request is what an action is asked to do: the playbook's parameters (already merged with
// configuration, e.g. the trusted source ranges) and, when the action was started from a
// finding, that finding's evidence (which names the exact binding, ports or key).
type Request struct {
	Params   map[string]any `json:"params,omitempty"`
	Evidence map[string]any `json:"evidence,omitempty"`
}

// Plan is a computed change: what the resource is and what it becomes.
type Plan struct {
	Action   string  `json:"action"`
	Resource string  `json:"resource"`
	Request  Request `json:"request"`
	// Summary says the change in one line for people, e.g.
	// "sourceRanges [0.0.0.0/0] → [35.235.240.0/20]".
	Summary string `json:"summary"`
	// Before and After are the parts of the resource the change touches; After is null
	// when the resource is deleted. They make the dry-run diff.
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	// Creates lists resources the change creates (a deny rule), which Restore deletes;
	// Deletes lists resources it deletes besides Resource, which Restore re-creates from
	// the snapshot's Related.
	Creates []string `json:"creates,omitempty"`
	Deletes []string `json:"deletes,omitempty"`
}

// ErrGone is returned by Snapshot when the resource no longer exists (and wrapped by Apply
// and Restore when it disappeared meanwhile), so the engine can report "already fixed/gone".
var ErrGone = errors.New("the resource no longer exists")

// ErrNothingToDo is returned by Plan when the resource already complies. Apply returns an
// error wrapping it when the resource was found compliant on the re-read just before the
// change (someone fixed it since the snapshot): no change was made, so there is nothing to
// roll back.
var ErrNothingToDo = errors.New("nothing to do: the resource already complies")

// ErrChanged is wrapped by Apply when the resource changed since it was read in a way the
// plan did not expect, by Restore when putting the snapshot back would destroy something
// made since (another network of the same name), and by an IAM action that met concurrent
// writers more times than its retry budget allows. Nothing was overwritten.
var ErrChanged = errors.New("the resource changed since it was read")

// ErrInvalidRequest is wrapped by Plan when the request's parameters or evidence are
// missing or malformed.
var ErrInvalidRequest = errors.New("invalid request")

// RefusedError is returned by Plan when a change would be unsafe: the default network still
// has dependents, a policy would lose its last owner or zerodrift's own access.
type RefusedError struct {
	Reason string
	// Dependents lists what still uses the resource, when that is the reason.
	Dependents []string
}

func (e *RefusedError) Error() string {
	if len(e.Dependents) > 0 {
		return fmt.Sprintf("refused: %s: %v", e.Reason, e.Dependents)
	}
	return "refused: " + e.Reason
}

// MultiTypeAction is implemented by an action that targets several asset types
// (iam.removeBinding edits the policies of projects, folders and organizations); its
// AssetType returns the first of AssetTypes.
type MultiTypeAction interface {
	Action
	AssetTypes() []string
}

// AssetTypesOf returns every asset type an action targets.
func AssetTypesOf(a Action) []string {
	if m, ok := a.(MultiTypeAction); ok {
		return m.AssetTypes()
	}
	return []string{a.AssetType()}
}

// Action is one kind of live fix.
type Action interface {
	// Name is the action's name in playbooks, e.g. firewall.restrictSources.
	Name() string
	// AssetType is the type of resource the action targets.
	AssetType() string
	// Snapshot reads the resource (and what the action may touch besides it) from its API.
	Snapshot(ctx context.Context, resource string) (*Snapshot, error)
	// Plan computes the change from a snapshot. It may read more (dependents) but never
	// writes. It returns ErrNothingToDo or a *RefusedError when there is nothing safe to do.
	Plan(ctx context.Context, snap *Snapshot, req Request) (*Plan, error)
	// Apply makes the change and waits for it to complete. An IAM action re-reads and
	// re-plans on an etag conflict (a bounded number of times), never overwriting a
	// concurrent writer. It returns a detail for the ledger (e.g. the operation's name).
	Apply(ctx context.Context, snap *Snapshot, plan *Plan) (detail string, err error)
	// Restore undoes an applied plan from its snapshot.
	Restore(ctx context.Context, snap *Snapshot, plan *Plan) error
}
