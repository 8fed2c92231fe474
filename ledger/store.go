package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sqlStore is the Store both databases share: all of its SQL is portable, and what differs
// (connections, transactions, the migration guard) is behind backend.
type sqlStore struct {
	db backend

	closeOnce sync.Once
	closeErr  error
}

// newStore migrates db and wraps it as a Store; on failure it closes db.
func newStore(ctx context.Context, db backend) (*sqlStore, error) {
	if err := migrate(ctx, db); err != nil {
		return nil, errors.Join(err, db.close())
	}
	return &sqlStore{db: db}, nil
}

// Close implements Store.
func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.close(); err != nil {
			s.closeErr = fmt.Errorf("close %s ledger: %w", s.db.kind(), err)
		}
	})
	return s.closeErr
}

const runColumns = `id, kind, mode, source, version, status, summary, started_at, finished_at`

// StartRun implements Store.
func (s *sqlStore) StartRun(ctx context.Context, r Run) error {
	if r.ID == "" {
		return fmt.Errorf("start run: empty run ID: %w", ErrInvalid)
	}
	summary, err := dbJSON("summary", r.Summary)
	if err != nil {
		return fmt.Errorf("start run %q: %w", r.ID, err)
	}
	if r.Status == "" {
		r.Status = "running"
	}
	err = s.db.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `INSERT INTO runs (`+runColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Kind, r.Mode, r.Source, r.Version, r.Status, summary,
			dbTime(orNow(r.StartedAt)), dbNullTime(r.FinishedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("start run %q: %w", r.ID, err)
	}
	return nil
}

// FinishRun implements Store.
func (s *sqlStore) FinishRun(ctx context.Context, id, status string, summary json.RawMessage, at time.Time) error {
	if status == "" {
		return fmt.Errorf("finish run %q: empty status: %w", id, ErrInvalid)
	}
	sum, err := dbJSON("summary", summary)
	if err != nil {
		return fmt.Errorf("finish run %q: %w", id, err)
	}
	err = s.db.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE runs SET status = $2, summary = $3, finished_at = $4 WHERE id = $1`,
			id, status, sum, dbTime(orNow(at)))
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish run %q: %w", id, err)
	}
	return nil
}

// GetRun implements Store.
func (s *sqlStore) GetRun(ctx context.Context, id string) (*Run, error) {
	var (
		r        Run
		summary  sql.NullString
		started  int64
		finished sql.NullInt64
	)
	err := s.db.read(ctx, func(q querier) error {
		return q.queryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, []any{id},
			&r.ID, &r.Kind, &r.Mode, &r.Source, &r.Version, &r.Status, &summary, &started, &finished)
	})
	if err != nil {
		return nil, fmt.Errorf("get run %q: %w", id, notFound(err))
	}
	r.Summary = goJSON(summary)
	r.StartedAt = goTime(started)
	r.FinishedAt = goNullTime(finished)
	return &r, nil
}

// findingsPerInsert bounds one multi-row INSERT (8 parameters a row), well inside both
// databases' parameter limits.
const findingsPerInsert = 100

// RecordFindings implements Store.
func (s *sqlStore) RecordFindings(ctx context.Context, fs []Finding) error {
	if len(fs) == 0 {
		return nil
	}
	runs := make(map[string]bool)
	rows := make([][]any, 0, len(fs))
	for _, f := range fs {
		if f.RunID == "" || f.ID == "" {
			return fmt.Errorf("record findings: finding %q of run %q: empty ID: %w", f.ID, f.RunID, ErrInvalid)
		}
		evidence, err := dbJSON("evidence", f.Evidence)
		if err != nil {
			return fmt.Errorf("record findings: finding %q of run %q: %w", f.ID, f.RunID, err)
		}
		runs[f.RunID] = true
		rows = append(rows, []any{f.RunID, f.ID, f.Rule, f.Resource, f.Project, f.Severity, f.Category, evidence})
	}
	err := s.db.write(ctx, func(q querier) error {
		for id := range runs {
			if err := runExists(ctx, q, id); err != nil {
				return err
			}
		}
		for start := 0; start < len(rows); start += findingsPerInsert {
			chunk := rows[start:min(start+findingsPerInsert, len(rows))]
			var (
				sb   strings.Builder
				args = make([]any, 0, len(chunk)*8)
			)
			sb.WriteString(`INSERT INTO findings (run_id, id, rule, resource, project, severity, category, evidence) VALUES `)
			for i, row := range chunk {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(placeholders(len(args)+1, len(row)))
				args = append(args, row...)
			}
			sb.WriteString(` ON CONFLICT (run_id, id) DO NOTHING`)
			if _, err := q.exec(ctx, sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d findings: %w", len(fs), err)
	}
	return nil
}

// Findings implements Store.
func (s *sqlStore) Findings(ctx context.Context, runID string) ([]Finding, error) {
	var out []Finding
	err := s.db.read(ctx, func(q querier) error {
		err := q.query(ctx, `SELECT run_id, id, rule, resource, project, severity, category, evidence
			FROM findings WHERE run_id = $1 ORDER BY id`, []any{runID},
			func(scan func(...any) error) error {
				var (
					f        Finding
					evidence sql.NullString
				)
				if err := scan(&f.RunID, &f.ID, &f.Rule, &f.Resource, &f.Project, &f.Severity, &f.Category, &evidence); err != nil {
					return err
				}
				f.Evidence = goJSON(evidence)
				out = append(out, f)
				return nil
			})
		if err != nil || len(out) > 0 {
			return err
		}
		return runExists(ctx, q, runID)
	})
	if err != nil {
		return nil, fmt.Errorf("list findings of run %q: %w", runID, err)
	}
	return out, nil
}

// RecordDecision implements Store.
func (s *sqlStore) RecordDecision(ctx context.Context, d Decision) error {
	if d.RunID == "" {
		return fmt.Errorf("record decision for finding %q: empty run ID: %w", d.Finding, ErrInvalid)
	}
	err := s.db.write(ctx, func(q querier) error {
		// Numbering the decision through its run both checks that the run exists and
		// serialises concurrent decisions of one run.
		var seq int64
		err := q.queryRow(ctx, `UPDATE runs SET decision_count = decision_count + 1 WHERE id = $1
			RETURNING decision_count`, []any{d.RunID}, &seq)
		if errors.Is(err, errNoRows) {
			return fmt.Errorf("run %q: %w", d.RunID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO decisions
			(run_id, seq, finding, rule, resource, action, reason, playbook, change_id, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			d.RunID, seq, d.Finding, d.Rule, d.Resource, d.Action, d.Reason, d.Playbook, d.ChangeID,
			dbTime(orNow(d.At)))
		return err
	})
	if err != nil {
		return fmt.Errorf("record decision of run %q for finding %q: %w", d.RunID, d.Finding, err)
	}
	return nil
}

// Decisions implements Store.
func (s *sqlStore) Decisions(ctx context.Context, runID string) ([]Decision, error) {
	var out []Decision
	err := s.db.read(ctx, func(q querier) error {
		err := q.query(ctx, `SELECT run_id, finding, rule, resource, action, reason, playbook, change_id, at
			FROM decisions WHERE run_id = $1 ORDER BY seq`, []any{runID},
			func(scan func(...any) error) error {
				var (
					d  Decision
					at int64
				)
				if err := scan(&d.RunID, &d.Finding, &d.Rule, &d.Resource, &d.Action, &d.Reason, &d.Playbook, &d.ChangeID, &at); err != nil {
					return err
				}
				d.At = goTime(at)
				out = append(out, d)
				return nil
			})
		if err != nil || len(out) > 0 {
			return err
		}
		return runExists(ctx, q, runID)
	})
	if err != nil {
		return nil, fmt.Errorf("list decisions of run %q: %w", runID, err)
	}
	return out, nil
}

const changeColumns = `id, run_id, finding, resource, playbook, action, status, snapshot, plan, detail, planned_at, updated_at`

// PlanChange implements Store.
func (s *sqlStore) PlanChange(ctx context.Context, c Change) error {
	switch {
	case c.ID == "":
		return fmt.Errorf("plan change for %q: empty change ID: %w", c.Resource, ErrInvalid)
	case c.RunID == "":
		return fmt.Errorf("plan change %q: empty run ID: %w", c.ID, ErrInvalid)
	case c.Resource == "":
		return fmt.Errorf("plan change %q: empty resource: %w", c.ID, ErrInvalid)
	case c.Status != "" && c.Status != StatusPlanned:
		return fmt.Errorf("plan change %q: a change starts %q, not %q: %w", c.ID, StatusPlanned, c.Status, ErrBadTransition)
	}
	snapshot, err := dbJSON("snapshot", c.Snapshot)
	if err != nil {
		return fmt.Errorf("plan change %q: %w", c.ID, err)
	}
	plan, err := dbJSON("plan", c.Plan)
	if err != nil {
		return fmt.Errorf("plan change %q: %w", c.ID, err)
	}
	at := dbTime(orNow(c.At))
	err = s.db.write(ctx, func(q querier) error {
		if err := runExists(ctx, q, c.RunID); err != nil {
			return err
		}
		n, err := q.exec(ctx, `INSERT INTO changes (`+changeColumns+`, event_count)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1)
			ON CONFLICT (id) DO NOTHING`,
			c.ID, c.RunID, c.Finding, c.Resource, c.Playbook, c.Action, string(StatusPlanned),
			snapshot, plan, c.Detail, at)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrExists
		}
		_, err = q.exec(ctx, `INSERT INTO change_events (change_id, seq, status, detail, at)
			VALUES ($1, 1, $2, $3, $4)`, c.ID, string(StatusPlanned), c.Detail, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("plan change %q to %s: %w", c.ID, c.Resource, err)
	}
	return nil
}

// SetStatus implements Store.
func (s *sqlStore) SetStatus(ctx context.Context, id string, status ChangeStatus, detail string, at time.Time) error {
	from := previousStatuses(status)
	t := dbTime(orNow(at))
	err := s.db.write(ctx, func(q querier) error {
		// Compare and set: the update only matches while the change is in a status it may
		// leave for this one, so of two racing transitions only one can win.
		var seq int64
		err := errNoRows
		if len(from) > 0 {
			args := []any{id, string(status), detail, t}
			for _, f := range from {
				args = append(args, string(f))
			}
			err = q.queryRow(ctx, `UPDATE changes
				SET status = $2, detail = $3, updated_at = $4, event_count = event_count + 1
				WHERE id = $1 AND status IN (`+placeholderList(5, len(from))+`)
				RETURNING event_count`, args, &seq)
		}
		if errors.Is(err, errNoRows) {
			var current string
			err := q.queryRow(ctx, `SELECT status FROM changes WHERE id = $1`, []any{id}, &current)
			if err != nil {
				return notFound(err)
			}
			return fmt.Errorf("from %q to %q: %w", current, status, ErrBadTransition)
		}
		if err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO change_events (change_id, seq, status, detail, at)
			VALUES ($1, $2, $3, $4, $5)`, id, seq, string(status), detail, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("set status of change %q: %w", id, err)
	}
	return nil
}

// GetChange implements Store.
func (s *sqlStore) GetChange(ctx context.Context, id string) (*Change, error) {
	var c *Change
	err := s.db.read(ctx, func(q querier) error {
		var err error
		c, err = scanChange(func(dest ...any) error {
			return q.queryRow(ctx, `SELECT `+changeColumns+` FROM changes WHERE id = $1`, []any{id}, dest...)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get change %q: %w", id, notFound(err))
	}
	return c, nil
}

// Changes implements Store.
func (s *sqlStore) Changes(ctx context.Context, f ChangeFilter) ([]Change, error) {
	var (
		where []string
		args  []any
	)
	if !f.Since.IsZero() {
		args = append(args, dbTime(f.Since))
		where = append(where, "planned_at >= $"+strconv.Itoa(len(args)))
	}
	if f.Resource != "" {
		args = append(args, f.Resource)
		where = append(where, "resource = $"+strconv.Itoa(len(args)))
	}
	if f.RunID != "" {
		args = append(args, f.RunID)
		where = append(where, "run_id = $"+strconv.Itoa(len(args)))
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholderList(len(args)+1, len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	query := `SELECT ` + changeColumns + ` FROM changes`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY planned_at DESC, id DESC`

	var out []Change
	err := s.db.read(ctx, func(q querier) error {
		return q.query(ctx, query, args, func(scan func(...any) error) error {
			c, err := scanChange(scan)
			if err != nil {
				return err
			}
			out = append(out, *c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	return out, nil
}

// scanChange reads one row of changeColumns.
func scanChange(scan func(dest ...any) error) (*Change, error) {
	var (
		c                  Change
		status             string
		snapshot, plan     sql.NullString
		planned, updatedAt int64
	)
	if err := scan(&c.ID, &c.RunID, &c.Finding, &c.Resource, &c.Playbook, &c.Action, &status,
		&snapshot, &plan, &c.Detail, &planned, &updatedAt); err != nil {
		return nil, err
	}
	c.Status = ChangeStatus(status)
	c.Snapshot = goJSON(snapshot)
	c.Plan = goJSON(plan)
	c.At = goTime(planned)
	c.UpdatedAt = goTime(updatedAt)
	return &c, nil
}

// Events implements Store.
func (s *sqlStore) Events(ctx context.Context, changeID string) ([]Event, error) {
	var out []Event
	err := s.db.read(ctx, func(q querier) error {
		return q.query(ctx, `SELECT change_id, status, detail, at FROM change_events
			WHERE change_id = $1 ORDER BY seq`, []any{changeID},
			func(scan func(...any) error) error {
				var (
					e      Event
					status string
					at     int64
				)
				if err := scan(&e.ChangeID, &status, &e.Detail, &at); err != nil {
					return err
				}
				e.Status = ChangeStatus(status)
				e.At = goTime(at)
				out = append(out, e)
				return nil
			})
	})
	if err != nil {
		return nil, fmt.Errorf("list events of change %q: %w", changeID, err)
	}
	if len(out) == 0 {
		// Planning a change records its first event, so no events means no change.
		return nil, fmt.Errorf("list events of change %q: %w", changeID, ErrNotFound)
	}
	return out, nil
}

// Lock implements Store.
func (s *sqlStore) Lock(ctx context.Context, resource, owner string, ttl time.Duration, now time.Time) error {
	switch {
	case resource == "" || owner == "":
		return fmt.Errorf("lock %q for %q: empty resource or owner: %w", resource, owner, ErrInvalid)
	case ttl <= 0:
		return fmt.Errorf("lock %q for %q: ttl %s is not positive: %w", resource, owner, ttl, ErrInvalid)
	}
	now = orNow(now)
	err := s.db.write(ctx, func(q querier) error {
		// One statement decides: insert, or take over when the holder is the same owner
		// (renewal) or its lock has expired. A row the WHERE refuses is left alone and
		// counts as zero rows changed.
		n, err := q.exec(ctx, `INSERT INTO resource_locks (resource, owner, acquired_at, expires_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (resource) DO UPDATE SET
				owner = excluded.owner,
				acquired_at = CASE
					WHEN resource_locks.owner = excluded.owner AND resource_locks.expires_at > excluded.acquired_at
					THEN resource_locks.acquired_at
					ELSE excluded.acquired_at END,
				expires_at = excluded.expires_at
			WHERE resource_locks.owner = excluded.owner OR resource_locks.expires_at <= excluded.acquired_at`,
			resource, owner, dbTime(now), dbTime(now.Add(ttl)))
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		var (
			holder  string
			expires int64
		)
		err = q.queryRow(ctx, `SELECT owner, expires_at FROM resource_locks WHERE resource = $1`, []any{resource}, &holder, &expires)
		if err != nil {
			return fmt.Errorf("read the lock's holder: %w", err)
		}
		return &LockedError{Holder: holder, Until: goTime(expires)}
	})
	if err != nil {
		return fmt.Errorf("lock %q for %q: %w", resource, owner, err)
	}
	return nil
}

// Unlock implements Store.
func (s *sqlStore) Unlock(ctx context.Context, resource, owner string) error {
	err := s.db.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `DELETE FROM resource_locks WHERE resource = $1 AND owner = $2`, resource, owner)
		if err != nil || n > 0 {
			return err
		}
		var holder string
		err = q.queryRow(ctx, `SELECT owner FROM resource_locks WHERE resource = $1`, []any{resource}, &holder)
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the lock's holder: %w", err)
		}
		return fmt.Errorf("held by %q, left untouched: %w", holder, ErrLocked)
	})
	if err != nil {
		return fmt.Errorf("unlock %q for %q: %w", resource, owner, err)
	}
	return nil
}

// previousStatuses returns the statuses from which a change may move to next, in a fixed
// order; it is CanMoveTo read backwards, for a compare-and-set update.
func previousStatuses(next ChangeStatus) []ChangeStatus {
	var from []ChangeStatus
	for _, s := range []ChangeStatus{StatusPlanned, StatusApplied, StatusVerified, StatusFailed, StatusRolledBack} {
		if s.CanMoveTo(next) {
			from = append(from, s)
		}
	}
	return from
}

// runExists returns nil when the run exists and an error wrapping ErrNotFound otherwise.
func runExists(ctx context.Context, q querier, id string) error {
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM runs WHERE id = $1`, []any{id}, &one)
	if errors.Is(err, errNoRows) {
		return fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("look run %q up: %w", id, err)
	}
	return nil
}

// notFound turns errNoRows into ErrNotFound and leaves other errors alone.
func notFound(err error) error {
	if errors.Is(err, errNoRows) {
		return ErrNotFound
	}
	return err
}

// placeholders returns "($first, …, $first+n-1)".
func placeholders(first, n int) string {
	return "(" + placeholderList(first, n) + ")"
}

// placeholderList returns "$first, …, $first+n-1".
func placeholderList(first, n int) string {
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('$')
		sb.WriteString(strconv.Itoa(first + i))
	}
	return sb.String()
}
