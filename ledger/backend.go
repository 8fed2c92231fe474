package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The SQL that differs between the two databases lives here and nowhere else; the schema and
// every query are shared, written with $1-style placeholders that both drivers accept.
const (
	// sqliteMigrationGuard is empty: the SQLite store begins every write transaction with
	// BEGIN IMMEDIATE, which already holds the database's single write lock, so two processes
	// migrating one file take turns.
	sqliteMigrationGuard = ""
	// postgresMigrationGuard serialises replicas migrating one database: a transaction-level
	// advisory lock, released when the migration transaction ends. The key is "zdledger".
	postgresMigrationGuard = "SELECT pg_advisory_xact_lock(8819393357009036658)"
)

// errNoRows is what querier.queryRow returns when its query selected no row.
var errNoRows = errors.New("no rows")

// querier runs SQL; a backend hands one to read and write callbacks. Placeholders are $1, $2…
type querier interface {
	// exec runs a statement and returns how many rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// queryRow scans the first row into dest, or returns errNoRows.
	queryRow(ctx context.Context, query string, args []any, dest ...any) error
	// query calls each for every row; scan fills the row's columns in.
	query(ctx context.Context, query string, args []any, each func(scan func(dest ...any) error) error) error
}

// backend is one database: its connections, transactions and migration guard.
type backend interface {
	// kind names the database for messages: sqlite or postgres.
	kind() string
	// read runs fn outside an explicit transaction.
	read(ctx context.Context, fn func(q querier) error) error
	// write runs fn in one transaction, committed when fn returns nil and rolled back
	// otherwise. Concurrent writes are serialised as the database needs.
	write(ctx context.Context, fn func(q querier) error) error
	// migrationGuard is the statement a migration transaction runs first, or "".
	migrationGuard() string
	close() error
}

// dbTime is how a time is stored: microseconds since the Unix epoch, UTC.
func dbTime(t time.Time) int64 { return t.UnixMicro() }

// goTime turns a stored time back into a UTC time.Time.
func goTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

// dbNullTime stores a zero time as NULL.
func dbNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return dbTime(t)
}

// goNullTime turns NULL back into the zero time.
func goNullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return goTime(v.Int64)
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// dbJSON checks a JSON field and returns what to store: NULL when it is empty, its text
// otherwise. what names the field for the error.
func dbJSON(what string, raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return nil, fmt.Errorf("%s is not valid JSON: %w", what, ErrInvalid)
	}
	return string(raw), nil
}

// goJSON turns a stored JSON field back into a RawMessage (nil for NULL).
func goJSON(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	return json.RawMessage(v.String)
}
