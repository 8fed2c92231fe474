package ledger_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zerodrift/zerodrift/ledger"
)

// The PostgreSQL server the tests use; CI guarantees one. ZERODRIFT_TEST_POSTGRES_URL points
// the tests at another; ZERODRIFT_SKIP_POSTGRES=1 skips the PostgreSQL half of the suite.
const (
	defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	postgresURLEnv     = "ZERODRIFT_TEST_POSTGRES_URL"
	skipPostgresEnv    = "ZERODRIFT_SKIP_POSTGRES"
)

// backendKind is one store under test.
type backendKind struct {
	name string
	// persistent is false for a ledger that ends with its store (:memory:), so tests that
	// reopen one do not apply.
	persistent bool
	// prepare readies the database server, if any, for the calling test and its subtests,
	// and returns newURL, which gives the URL of a fresh, empty ledger each time it is called.
	// Everything is removed when the calling test ends.
	prepare func(t testing.TB) (newURL func(t testing.TB) string)
	// count runs a SELECT count(*) … straight against the database at url.
	count func(t testing.TB, url, query string) int
}

// backendKinds lists every store the conformance suite and the benchmarks run against.
func backendKinds() []backendKind {
	return []backendKind{
		{
			name:       "sqlite",
			persistent: true,
			prepare: func(testing.TB) func(testing.TB) string {
				return func(t testing.TB) string {
					return "sqlite://" + filepath.Join(t.TempDir(), "state", "ledger.db")
				}
			},
			count: countSQLite,
		},
		{
			name: "sqlite-memory",
			prepare: func(testing.TB) func(testing.TB) string {
				return func(testing.TB) string { return "sqlite://:memory:" }
			},
		},
		{
			name:       "postgres",
			persistent: true,
			prepare:    preparePostgres,
			count:      countPostgres,
		},
	}
}

// testContext is a context that ends with the test, bounded so a hang fails instead of
// stalling the run.
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens url and closes the store when the test ends.
func openStore(t testing.TB, url string) ledger.Store {
	t.Helper()
	s, err := ledger.Open(testContext(t), url)
	if err != nil {
		t.Fatalf("Open(%s): %v", ledger.RedactURL(url), err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func postgresAdminURL() string {
	if u := os.Getenv(postgresURLEnv); u != "" {
		return u
	}
	return defaultPostgresURL
}

// preparePostgres creates a database of its own for the calling test
// (zerodrift_test_<random>) and drops it when the test ends; each ledger it then hands out
// is a fresh schema in that database, selected with search_path, which is much cheaper than
// a database per ledger. An unreachable server fails the test unless
// ZERODRIFT_SKIP_POSTGRES=1.
func preparePostgres(t testing.TB) func(testing.TB) string {
	t.Helper()
	if os.Getenv(skipPostgresEnv) == "1" {
		t.Skipf("%s=1: skipping the PostgreSQL store", skipPostgresEnv)
	}
	admin := postgresAdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"The ledger's PostgreSQL tests need a real server (CI provides 127.0.0.1:5432, user postgres, trust auth). "+
			"Start one, point %s at another, or set %s=1 to skip them.",
			ledger.RedactURL(admin), err, postgresURLEnv, skipPostgresEnv)
	}
	defer conn.Close(ctx)
	name := "zerodrift_test_" + randomHex(t)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", postgresURLEnv, err)
	}
	u.Path = "/" + name
	dbURL := u.String()

	return func(t testing.TB) string {
		t.Helper()
		schema := "ledger_" + randomHex(t)
		ctx := testContext(t)
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatalf("connect to %s: %v", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema %s: %v", schema, err)
		}
		su := *u
		q := su.Query()
		q.Set("search_path", schema)
		su.RawQuery = q.Encode()
		return su.String()
	}
}

// randomHex returns 16 random hex digits, for names that must not collide.
func randomHex(t testing.TB) string {
	buf := make([]byte, 8)
	if _, err := rand.Read(buf); err != nil {
		t.Fatalf("random name: %v", err)
	}
	return hex.EncodeToString(buf)
}

func countSQLite(t testing.TB, ledgerURL, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", strings.TrimPrefix(ledgerURL, "sqlite://"))
	if err != nil {
		t.Fatalf("open %s: %v", ledgerURL, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(testContext(t), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func countPostgres(t testing.TB, ledgerURL, query string) int {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, ledgerURL)
	if err != nil {
		t.Fatalf("connect %s: %v", ledger.RedactURL(ledgerURL), err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
