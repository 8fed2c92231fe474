// Package gcputil holds what the remediators share about Google's APIs: reading API errors,
// waiting for compute operations, naming compute resources and writing resources as JSON.
package gcputil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/remediators"
)

// ComputePrefix starts the full resource names of compute resources.
const ComputePrefix = "//compute.googleapis.com/"

// HTTPStatus returns the HTTP status of an API error, or 0 when err is not one.
func HTTPStatus(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	var coded interface{ HTTPCode() int }
	if errors.As(err, &coded) {
		return coded.HTTPCode()
	}
	return 0
}

// IsNotFound reports whether err is an API's 404.
func IsNotFound(err error) bool { return HTTPStatus(err) == http.StatusNotFound }

// IsConflict reports whether err is an API's 409 (ABORTED, or compute's alreadyExists).
func IsConflict(err error) bool { return HTTPStatus(err) == http.StatusConflict }

// Gone wraps a 404 as remediators.ErrGone (keeping the API error), and returns other
// errors unchanged.
func Gone(err error) error {
	if IsNotFound(err) {
		return fmt.Errorf("%w: %w", remediators.ErrGone, err)
	}
	return err
}

// WaitOperation waits for a compute operation to finish, polling with a growing pause, at
// most set.OperationTimeout. A failed operation is a *remediators.OperationError.
func WaitOperation(ctx context.Context, op *compute.Operation, set remediators.Settings) error {
	set = set.WithDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, set.OperationTimeout, remediators.ErrOperationTimeout)
	defer cancel()
	pause := set.PollInterval
	for !op.Done() {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return waitEnded(ctx, op, set)
		case <-t.C:
		}
		pause = min(2*pause, remediators.MaxPollInterval)
		if err := op.Poll(ctx); err != nil && !op.Done() {
			if ctx.Err() != nil {
				return waitEnded(ctx, op, set)
			}
			return fmt.Errorf("polling operation %s: %w", op.Name(), err)
		}
		// Poll reports an operation that finished with an error as an error, after
		// keeping it: the operation's own errors say more, below.
	}
	return OperationFailure(op.Proto())
}

func waitEnded(ctx context.Context, op *compute.Operation, set remediators.Settings) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, remediators.ErrOperationTimeout) {
		return fmt.Errorf("operation %s on %s is still %s after %v; the change may still complete: %w",
			op.Name(), ResourcePath(op.Proto().GetTargetLink()), op.Proto().GetStatus(), set.OperationTimeout, cause)
	}
	return fmt.Errorf("waiting for operation %s: %w", op.Name(), cause)
}

// OperationFailure returns the error of a finished operation, nil when it succeeded.
func OperationFailure(p *computepb.Operation) error {
	errs := p.GetError().GetErrors()
	status := int(p.GetHttpErrorStatusCode())
	if len(errs) == 0 && (status == 0 || status >= 200 && status < 300) {
		return nil
	}
	e := &remediators.OperationError{Operation: p.GetName(), Target: p.GetTargetLink()}
	if status >= 300 {
		e.HTTPStatus = status
	}
	for _, it := range errs {
		e.Errors = append(e.Errors, remediators.OperationErrorItem{Code: it.GetCode(), Message: it.GetMessage()})
	}
	if len(e.Errors) == 0 {
		e.Errors = []remediators.OperationErrorItem{{Message: p.GetHttpErrorMessage()}}
	}
	return e
}

// ResourcePath strips a compute URL (https://www.googleapis.com/compute/v1/projects/...,
// https://compute.googleapis.com/compute/v1/projects/..., or a full resource name) down to
// projects/P/...; anything else is returned unchanged.
func ResourcePath(u string) string {
	if i := strings.Index(u, "projects/"); i >= 0 {
		return u[i:]
	}
	return u
}

// FullName is the full resource name of a compute resource given by its URL.
func FullName(selfLink string) string { return ComputePrefix + ResourcePath(selfLink) }

// ParseGlobalName splits the full name of a global compute resource,
// //compute.googleapis.com/projects/P/global/PLURAL/NAME, for the collection plural.
func ParseGlobalName(full, plural string) (project, name string, err error) {
	rest, ok := strings.CutPrefix(full, ComputePrefix)
	segs := strings.Split(rest, "/")
	if !ok || len(segs) != 5 || segs[0] != "projects" || segs[2] != "global" || segs[3] != plural ||
		segs[1] == "" || segs[4] == "" {
		return "", "", fmt.Errorf("%w: %q is not %sprojects/PROJECT/global/%s/NAME",
			remediators.ErrInvalidRequest, full, ComputePrefix, plural)
	}
	if err := checkNames(full, segs[1], segs[4]); err != nil {
		return "", "", err
	}
	return segs[1], segs[4], nil
}

// GlobalName is the full name of a global compute resource.
func GlobalName(project, plural, name string) string {
	return ComputePrefix + "projects/" + project + "/global/" + plural + "/" + name
}

// ProtoJSON writes a message in its REST representation, compactly and deterministically.
func ProtoJSON(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", m, err)
	}
	return Compact(b)
}

// Compact removes insignificant space from JSON (protojson adds some at random).
func Compact(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("compacting JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// MustJSON writes v with encoding/json; v must be of a type that always encodes (plain
// structs, maps and slices of strings, numbers and booleans).
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("gcputil.MustJSON(%T): %v", v, err))
	}
	return b
}

// UnmarshalProto reads a message from its REST representation, ignoring unknown fields.
func UnmarshalProto(b []byte, m proto.Message) error {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("decoding %T: %w", m, err)
	}
	return nil
}

// Drain collects what a compute iterator yields.
func Drain[T any](next func() (T, error)) ([]T, error) {
	var out []T
	for {
		v, err := next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// CheckSnapshot checks that a snapshot is of the asset type and, when plan is given, that
// the plan was made by action from that snapshot.
func CheckSnapshot(snap *remediators.Snapshot, assetType string, plan *remediators.Plan, action string) error {
	switch {
	case snap == nil:
		return fmt.Errorf("%w: %s needs a snapshot", remediators.ErrInvalidRequest, action)
	case snap.AssetType != assetType:
		return fmt.Errorf("%w: %s acts on %s, and the snapshot of %s is a %s",
			remediators.ErrInvalidRequest, action, assetType, snap.Resource, snap.AssetType)
	case plan != nil && plan.Action != action:
		return fmt.Errorf("%w: the plan is for %s, not %s", remediators.ErrInvalidRequest, plan.Action, action)
	case plan != nil && plan.Resource != snap.Resource:
		return fmt.Errorf("%w: the plan is for %s and the snapshot of %s", remediators.ErrInvalidRequest, plan.Resource, snap.Resource)
	}
	return nil
}

// Snapshot is a snapshot of resource (what names it in errors), read from its API as m.
func Snapshot(resource, assetType, what string, m proto.Message) (*remediators.Snapshot, error) {
	data, err := ProtoJSON(m)
	if err != nil {
		return nil, fmt.Errorf("snapshotting %s: %w", what, err)
	}
	return &remediators.Snapshot{Resource: resource, AssetType: assetType, Data: data, ReadAt: time.Now().UTC()}, nil
}

// FromSnapshot reads the resource a snapshot holds into m.
func FromSnapshot[M proto.Message](snap *remediators.Snapshot, m M) (M, error) {
	if err := UnmarshalProto(snap.Data, m); err != nil {
		return m, fmt.Errorf("reading the snapshot of %s: %w", snap.Resource, err)
	}
	return m, nil
}
