package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMemory is the path that selects a private in-memory database.
const sqliteMemory = ":memory:"

// sqliteBusyTimeoutMS is how long a statement waits for another process's write lock.
const sqliteBusyTimeoutMS = 10000

// sqliteBackend is a SQLite file (or in-memory database) through database/sql.
type sqliteBackend struct {
	db *sql.DB
	// writer admits one write transaction of this process at a time: SQLite has a single
	// write lock, and waiting here is cheaper and fairer than spinning in busy_timeout.
	// busy_timeout still covers other processes sharing the file.
	writer chan struct{}
}

// openSQLite opens (creating when missing) the SQLite ledger at path, or an in-memory one
// for ":memory:". A file ledger runs in WAL mode with full fsync on commit, foreign keys on
// and immediate write transactions; its folder is created (0700) and a new file is 0600,
// as snapshots of IAM policies are not for every local user.
func openSQLite(ctx context.Context, path string) (*sqliteBackend, error) {
	common := "_busy_timeout=" + strconv.Itoa(sqliteBusyTimeoutMS) + "&_foreign_keys=1&_txlock=immediate"
	var dsn string
	if path == sqliteMemory {
		dsn = sqliteMemory + "?" + common
	} else {
		if err := prepareSQLiteFile(path); err != nil {
			return nil, err
		}
		// WAL is switched on once, below, not by every new connection: the switch
		// needs the file to itself, and SQLite answers SQLITE_BUSY at once, without
		// waiting out busy_timeout, to a connection that asks while another holds it.
		dsn = path + "?" + common + "&_synchronous=FULL"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	if path == sqliteMemory {
		// Every connection to :memory: is a database of its own, so keep exactly one,
		// forever.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(4)
	}
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite database %s: %w", path, err), db.Close())
	}
	if path != sqliteMemory {
		if err := useWAL(ctx, db); err != nil {
			return nil, errors.Join(fmt.Errorf("open sqlite database %s: %w", path, err), db.Close())
		}
	}
	return &sqliteBackend{db: db, writer: make(chan struct{}, 1)}, nil
}

// useWAL puts the database in write-ahead-log mode, which then stays with the file for
// every later connection. Replicas opening a new ledger together race for the switch;
// the losers are told SQLITE_BUSY straight away, so they try again, with a growing pause,
// for as long as busy_timeout would have let them wait.
func useWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	pause := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("switch to WAL journal mode: SQLite kept journal mode %q", mode)
		case !isSQLiteBusy(err) || time.Now().Add(pause).After(deadline):
			return fmt.Errorf("switch to WAL journal mode: %w", err)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("switch to WAL journal mode: %w", ctx.Err())
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// isSQLiteBusy reports whether err is SQLite's "database is locked" (any extended code).
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// prepareSQLiteFile creates path's folder and, when the file is missing, an empty file
// readable by its owner only; SQLite gives its WAL and shared-memory files the same mode.
func prepareSQLiteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create the folder of sqlite ledger %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create sqlite ledger %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create sqlite ledger %s: %w", path, err)
	}
	return nil
}

func (b *sqliteBackend) kind() string { return "sqlite" }

func (b *sqliteBackend) migrationGuard() string { return sqliteMigrationGuard }

func (b *sqliteBackend) close() error { return b.db.Close() }

func (b *sqliteBackend) read(ctx context.Context, fn func(q querier) error) error {
	return fn(sqlQuerier{b.db})
}

func (b *sqliteBackend) write(ctx context.Context, fn func(q querier) error) (err error) {
	select {
	case b.writer <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for the sqlite write lock: %w", ctx.Err())
	}
	defer func() { <-b.writer }()

	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin sqlite transaction: %w", err)
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("roll back sqlite transaction: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit sqlite transaction: %w", err)
	}
	return nil
}

// sqlRunner is what *sql.DB and *sql.Tx share.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlQuerier adapts database/sql to querier.
type sqlQuerier struct{ r sqlRunner }

func (q sqlQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.r.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("count changed rows: %w", err)
	}
	return n, nil
}

func (q sqlQuerier) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	err := q.r.QueryRowContext(ctx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRows
	}
	return err
}

func (q sqlQuerier) query(ctx context.Context, query string, args []any, each func(scan func(dest ...any) error) error) error {
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
