package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// pgDefaultMaxConns is the pool size unless the URL sets pool_max_conns.
	pgDefaultMaxConns = 8
	// pgDefaultConnectTimeout bounds a connection attempt unless the URL sets connect_timeout.
	pgDefaultConnectTimeout = 10 * time.Second
	// pgIdleCheckAfter is how long a connection may sit idle before it is pinged on reuse.
	pgIdleCheckAfter = 30 * time.Second
	// pgCleanupTimeout bounds rollbacks and closes that run after the caller's context ended.
	pgCleanupTimeout = 5 * time.Second
)

// pgBackend is a PostgreSQL database through pgx, with a small pool of its own
// (pgx's pgxpool needs a module this repository does not carry).
type pgBackend struct {
	cfg *pgx.ConnConfig
	// secrets are masked in every error message the backend builds from pgx's.
	secrets []string
	// slots holds one token per connection in use; its capacity is the pool size.
	slots chan struct{}

	mu     sync.Mutex
	idle   []pgIdleConn
	closed bool
}

// pgIdleConn is a pooled connection and when it was last released.
type pgIdleConn struct {
	conn  *pgx.Conn
	since time.Time
}

// openPostgres parses raw (a postgres:// or postgresql:// URL; pool_max_conns sets the pool
// size) and connects once to check that the server answers.
func openPostgres(ctx context.Context, raw string) (*pgBackend, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole URL, password included: say only that it failed.
		return nil, errors.New("the URL does not parse")
	}
	secrets := urlSecrets(u)
	query := u.Query()
	maxConns := pgDefaultMaxConns
	if v := query.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("pool_max_conns %q is not a positive integer", v)
		}
		maxConns = n
	}
	query.Del("pool_max_conns")
	u.RawQuery = query.Encode()

	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("parse postgres URL: %w", redactError(err, secrets))
	}
	secrets = append(secrets, cfg.Password) // also from PGPASSWORD or a .pgpass file
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgDefaultConnectTimeout
	}
	b := &pgBackend{cfg: cfg, secrets: secrets, slots: make(chan struct{}, maxConns)}
	conn, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	b.release(ctx, conn)
	return b, nil
}

func (b *pgBackend) kind() string { return "postgres" }

func (b *pgBackend) migrationGuard() string { return postgresMigrationGuard }

// acquire returns a pooled connection, or a new one while the pool has room, waiting for a
// free slot otherwise.
func (b *pgBackend) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a postgres connection: %w", ctx.Err())
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			<-b.slots
			return nil, errors.New("the postgres ledger is closed")
		}
		var (
			ic  pgIdleConn
			got bool
		)
		if n := len(b.idle); n > 0 {
			ic, got = b.idle[n-1], true
			b.idle = b.idle[:n-1]
		}
		b.mu.Unlock()
		if !got {
			break
		}
		if ic.conn.IsClosed() {
			continue
		}
		if time.Since(ic.since) > pgIdleCheckAfter {
			if err := ic.conn.Ping(ctx); err != nil {
				b.discard(ctx, ic.conn)
				if ctx.Err() != nil {
					<-b.slots
					return nil, fmt.Errorf("check a pooled postgres connection: %w", ctx.Err())
				}
				continue
			}
		}
		return ic.conn, nil
	}
	conn, err := pgx.ConnectConfig(ctx, b.cfg)
	if err != nil {
		<-b.slots
		return nil, fmt.Errorf("connect to postgres: %w", redactError(err, b.secrets))
	}
	return conn, nil
}

// release returns conn to the pool when it is idle and healthy, and closes it otherwise.
func (b *pgBackend) release(ctx context.Context, conn *pgx.Conn) {
	defer func() { <-b.slots }()
	healthy := !conn.IsClosed() && !conn.PgConn().IsBusy() && conn.PgConn().TxStatus() == 'I'
	b.mu.Lock()
	if healthy && !b.closed {
		b.idle = append(b.idle, pgIdleConn{conn: conn, since: time.Now()})
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.discard(ctx, conn)
}

// discard closes conn, even when ctx has ended. Its error is dropped: the connection is
// being thrown away, and a failed goodbye changes nothing.
func (b *pgBackend) discard(ctx context.Context, conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCleanupTimeout)
	defer cancel()
	_ = conn.Close(cctx)
}

func (b *pgBackend) close() error {
	b.mu.Lock()
	b.closed = true
	idle := b.idle
	b.idle = nil
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), pgCleanupTimeout)
	defer cancel()
	var errs []error
	for _, ic := range idle {
		if err := ic.conn.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close a postgres connection: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (b *pgBackend) read(ctx context.Context, fn func(q querier) error) error {
	conn, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer b.release(ctx, conn)
	return fn(pgxQuerier{conn})
}

func (b *pgBackend) write(ctx context.Context, fn func(q querier) error) error {
	conn, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer b.release(ctx, conn)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin postgres transaction: %w", err)
	}
	if err := fn(pgxQuerier{tx}); err != nil {
		// Roll back even when ctx has ended, so the connection stays usable.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgCleanupTimeout)
		defer cancel()
		if rbErr := tx.Rollback(rctx); rbErr != nil && !errors.Is(rbErr, pgx.ErrTxClosed) {
			return errors.Join(err, fmt.Errorf("roll back postgres transaction: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit postgres transaction: %w", err)
	}
	return nil
}

// pgxRunner is what *pgx.Conn and pgx.Tx share.
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
