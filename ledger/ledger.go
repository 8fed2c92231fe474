// Package ledger is zerodrift's durable record: every run, finding, decision, snapshot, live
// change, verification and rollback. Changes are written ahead (intent, act, outcome), so a
// crash mid-change leaves a record the next run reconciles.
//
// Two stores share one schema and one conformance suite: an embedded SQLite file (the
// default, pure Go) and PostgreSQL (for deployments with several replicas). The ledger
// stores; it never decides: it must not import the engine, rules or remediators.
package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ChangeStatus is where a live change stands.
type ChangeStatus string

// The statuses of a change. planned → applied → verified is the happy path; failed ends a
// change that could not be applied or verified; rolled-back ends one restored from its
// snapshot.
const (
	StatusPlanned    ChangeStatus = "planned"
	StatusApplied    ChangeStatus = "applied"
	StatusVerified   ChangeStatus = "verified"
	StatusFailed     ChangeStatus = "failed"
	StatusRolledBack ChangeStatus = "rolled-back"
)

// CanMoveTo reports whether a change in status s may move to next. The allowed moves are
//
//	planned  → applied | failed
//	applied  → verified | failed | rolled-back
//	verified → rolled-back
//	failed   → rolled-back (a change that failed after it was applied is restored)
//
// Every other move, including staying in the same status, is refused: the ledger's history
// of a change only ever moves forward.
func (s ChangeStatus) CanMoveTo(next ChangeStatus) bool {
	switch s {
	case StatusPlanned:
		return next == StatusApplied || next == StatusFailed
	case StatusApplied:
		return next == StatusVerified || next == StatusFailed || next == StatusRolledBack
	case StatusVerified, StatusFailed:
		return next == StatusRolledBack
	default:
		return false
	}
}

// Run is one scan-decide-act cycle (zerodrift run, serve, or an on-call playbook run).
type Run struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"` // run, playbook, rollback
	Mode       string    `json:"mode"` // report (dry-run) or apply
	Source     string    `json:"source"`
	Version    string    `json:"version"` // zerodrift's version
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Status is running, done or failed; Summary is the run's summary as JSON.
	Status  string          `json:"status"`
	Summary json.RawMessage `json:"summary,omitempty"`
}

// Finding is a finding as a run saw it.
type Finding struct {
	RunID    string          `json:"runId"`
	ID       string          `json:"id"`
	Rule     string          `json:"rule"`
	Resource string          `json:"resource"`
	Project  string          `json:"project"`
	Severity string          `json:"severity"`
	Category string          `json:"category"`
	Evidence json.RawMessage `json:"evidence"`
}

// Decision is what a run decided for one finding, and why.
type Decision struct {
	RunID    string    `json:"runId"`
	Finding  string    `json:"finding"`
	Rule     string    `json:"rule"`
	Resource string    `json:"resource"`
	Action   string    `json:"action"` // exempt, fix, pr, report, refused, already-fixed, skipped-limit
	Reason   string    `json:"reason"`
	Playbook string    `json:"playbook,omitempty"`
	ChangeID string    `json:"changeId,omitempty"`
	At       time.Time `json:"at"`
}

// Change is one live change to one resource.
type Change struct {
	ID       string       `json:"id"`
	RunID    string       `json:"runId"`
	Finding  string       `json:"finding,omitempty"`
	Resource string       `json:"resource"`
	Playbook string       `json:"playbook"`
	Action   string       `json:"action"` // the remediator action, e.g. firewall.restrictSources
	Status   ChangeStatus `json:"status"`
	// Snapshot is the resource's state read before the change; Plan is the change itself
	// (before/after). Both are JSON and are what rollback restores from.
	Snapshot json.RawMessage `json:"snapshot,omitempty"`
	Plan     json.RawMessage `json:"plan,omitempty"`
	// Detail is the last outcome's message (an error, the operation that applied it).
	Detail    string    `json:"detail,omitempty"`
	At        time.Time `json:"at"`        // when it was planned
	UpdatedAt time.Time `json:"updatedAt"` // when its status last changed
}

// Event is one status transition of a change, kept in order for history and audit.
type Event struct {
	ChangeID string       `json:"changeId"`
	Status   ChangeStatus `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	At       time.Time    `json:"at"`
}

// ChangeFilter selects changes; zero fields select everything.
type ChangeFilter struct {
	Since    time.Time
	Resource string
	Statuses []ChangeStatus
	RunID    string
}

// ErrNotFound is returned when a change or run does not exist, including the run that a
// finding, decision or change names.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a run or change is recorded under an ID that is already taken.
var ErrExists = errors.New("already exists")

// ErrInvalid is returned when a record cannot be stored as given: a missing ID, malformed
// JSON, a non-positive lock TTL.
var ErrInvalid = errors.New("invalid ledger record")

// ErrLocked is returned by Lock when another owner holds an unexpired lock on the resource
// (as a *LockedError), and by Unlock when another owner holds the lock.
var ErrLocked = errors.New("resource is locked by another owner")

// LockedError is the error Lock returns when another owner holds an unexpired lock: who
// holds it, and until when. It matches ErrLocked with errors.Is.
type LockedError struct {
	Holder string
	Until  time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("held by %q until %s: %v", e.Holder, e.Until.Format(time.RFC3339Nano), ErrLocked)
}

// Unwrap makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Unwrap() error { return ErrLocked }

// ErrBadTransition is returned when a change's status may not move as asked (for example
// from verified back to planned).
var ErrBadTransition = errors.New("invalid change status transition")

// Store is the ledger. Implementations are safe for concurrent use, by goroutines and by
// several processes (replicas) sharing one database.
//
// Times are stored in UTC with microsecond precision (finer parts are truncated) and are
// returned as UTC; a zero time passed to a method that records one means now. JSON fields are
// stored as given (after a validity check, ErrInvalid otherwise) and returned byte for byte;
// an empty one is stored as absent and returned as nil.
type Store interface {
	// StartRun records a run; Status defaults to running. A taken ID fails with ErrExists.
	StartRun(ctx context.Context, r Run) error
	// FinishRun sets a run's status, summary and finish time; ErrNotFound if it is unknown.
	FinishRun(ctx context.Context, id, status string, summary json.RawMessage, at time.Time) error
	// GetRun returns a run; ErrNotFound if it is unknown.
	GetRun(ctx context.Context, id string) (*Run, error)

	// RecordFindings stores a run's findings in one transaction. It is idempotent per
	// (RunID, ID): the first record of a finding wins and a repeat is a no-op. A finding whose
	// run is unknown fails with ErrNotFound and nothing is stored.
	RecordFindings(ctx context.Context, fs []Finding) error
	// Findings lists the findings recorded for a run, ordered by ID; ErrNotFound if the run
	// is unknown.
	Findings(ctx context.Context, runID string) ([]Finding, error)
	// RecordDecision appends a decision to its run (ErrNotFound if the run is unknown).
	RecordDecision(ctx context.Context, d Decision) error
	// Decisions lists a run's decisions in the order they were recorded; ErrNotFound if the
	// run is unknown.
	Decisions(ctx context.Context, runID string) ([]Decision, error)

	// PlanChange records a change before it is made (status planned), with its snapshot, and
	// its first Event. c.Status must be empty or planned; UpdatedAt is set to At. The change's
	// run must exist (ErrNotFound) and its ID must be new (ErrExists).
	PlanChange(ctx context.Context, c Change) error
	// SetStatus moves a change to status, appending an Event; at is the transition's time.
	// The update and the Event are one transaction. A move that ChangeStatus.CanMoveTo refuses
	// fails with ErrBadTransition, an unknown change with ErrNotFound. Detail replaces the
	// change's Detail.
	SetStatus(ctx context.Context, id string, status ChangeStatus, detail string, at time.Time) error
	// GetChange returns a change; ErrNotFound if it is unknown.
	GetChange(ctx context.Context, id string) (*Change, error)
	// Changes lists changes, newest first (by At, then by ID descending). Since keeps changes
	// planned at or after it; Resource and RunID match exactly; Statuses matches any of them.
	Changes(ctx context.Context, f ChangeFilter) ([]Change, error)
	// Events lists a change's status transitions, oldest first; ErrNotFound if it is unknown.
	Events(ctx context.Context, changeID string) ([]Event, error)

	// Lock takes a per-resource lock for owner until ttl passes or Unlock; taking a lock the
	// same owner holds renews it (its expiry becomes now+ttl). It fails with ErrLocked while
	// another owner holds it; a lock whose expiry is at or before now is taken over. Taking
	// the lock is one atomic statement, so of concurrent callers exactly one wins. Expiry is
	// judged with the now that callers pass, so replicas need synchronised clocks.
	Lock(ctx context.Context, resource, owner string, ttl time.Duration, now time.Time) error
	// Unlock releases owner's lock on resource, expired or not. Releasing a resource nobody
	// holds is a no-op (nil). When another owner holds the lock (owner's own lock expired and
	// was taken over), Unlock leaves it untouched and returns an error wrapping ErrLocked.
	Unlock(ctx context.Context, resource, owner string) error

	// Close releases the store's connections; later calls fail. Closing twice is a no-op.
	Close() error
}
