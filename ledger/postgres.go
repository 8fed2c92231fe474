package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// pgDefaultMaxConns is the pool size unless the URL sets pool_max_conns (pgxpool's own
	// default would follow the machine's CPU count).
	pgDefaultMaxConns = 8
	// pgDefaultConnectTimeout bounds a connection attempt unless the URL sets connect_timeout.
	pgDefaultConnectTimeout = 10 * time.Second
	// pgIdleCheckAfter is how long a connection may sit idle before it is pinged on reuse.
	pgIdleCheckAfter = 30 * time.Second
	// pgCleanupTimeout bounds a rollback that runs after the caller's context ended.
	pgCleanupTimeout = 5 * time.Second
)

// pgBackend is a PostgreSQL database through a pgx connection pool.
type pgBackend struct {
	pool *pgxpool.Pool
	// secrets are masked in every error message the backend builds from pgx's.
	secrets []string
}

// openPostgres parses raw (a postgres:// or postgresql:// URL; pool_max_conns sets the pool
// size, and pgxpool reads its other pool_ parameters too) and connects once to check that
// the server answers.
func openPostgres(ctx context.Context, raw string) (*pgBackend, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole URL, password included: say only that it failed.
		return nil, errors.New("the URL does not parse")
	}
	secrets := urlSecrets(u)
	cfg, err := pgxpool.ParseConfig(raw)
	if err != nil {
		// pgx's error quotes the URL with a best-effort redaction; mask it ourselves.
		return nil, fmt.Errorf("parse postgres URL: %w", redactError(err, secrets))
	}
	secrets = append(secrets, cfg.ConnConfig.Password) // also from PGPASSWORD or a .pgpass file
	if !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = pgDefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = pgDefaultConnectTimeout
	}
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > pgIdleCheckAfter
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", redactError(err, secrets))
	}
	b := &pgBackend{pool: pool, secrets: secrets}
	// The pool connects lazily: ping so that a bad URL or an unreachable server fails here.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", b.redact(err))
	}
	return b, nil
}

func (b *pgBackend) kind() string { return "postgres" }

func (b *pgBackend) migrationGuard() string { return postgresMigrationGuard }

// redact masks the backend's secrets in err and cuts the pgx errors that hold them from its
// chain. Every error from acquiring a connection goes through it: the pool may connect
// then, and pgx's connection errors carry the configuration, password included.
func (b *pgBackend) redact(err error) error { return redactError(err, b.secrets) }

// close closes the pool: idle connections at once, connections in use as their reads and
// writes end. pgxpool bounds each connection's goodbye itself.
func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}

// read runs fn on one pooled connection.
func (b *pgBackend) read(ctx context.Context, fn func(q querier) error) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a postgres connection: %w", b.redact(err))
	}
	defer conn.Release() // the pool closes a connection left busy or in a transaction
	return fn(pgxQuerier{conn})
}

func (b *pgBackend) write(ctx context.Context, fn func(q querier) error) (err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin postgres transaction: %w", b.redact(err))
	}
	// Roll back unless committed, even when ctx has ended or fn panicked, so the connection
	// goes back to the pool usable. After a commit this is a no-op (pgx.ErrTxClosed).
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCleanupTimeout)
		defer cancel()
		if rbErr := tx.Rollback(rctx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("roll back postgres transaction: %w", rbErr))
		}
	}()
	if err := fn(pgxQuerier{tx}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit postgres transaction: %w", err)
	}
	return nil
}

// pgxRunner is what *pgxpool.Conn and pgx.Tx share.
type pgxRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgxQuerier adapts pgx to querier.
type pgxQuerier struct{ r pgxRunner }

func (q pgxQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.r.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgxQuerier) queryRow(ctx context.Context, query string, args []any, dest ...any) error {
	err := q.r.QueryRow(ctx, query, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	}
	return err
}

func (q pgxQuerier) query(ctx context.Context, query string, args []any, each func(scan func(dest ...any) error) error) error {
	rows, err := q.r.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
