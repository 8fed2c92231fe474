package ledger_test

import (
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/zerodrift/zerodrift/ledger"
)

func TestOpenSQLiteURLs(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()

	abs := filepath.Join(dir, "var", "lib", "zerodrift", "ledger.db")
	s := openStore(t, "sqlite://"+abs)
	startRun(t, s, "run-1")
	info, err := os.Stat(abs)
	if err != nil {
		t.Fatalf("the absolute ledger file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("ledger file mode = %o, want 600", mode)
	}
	if info, err := os.Stat(filepath.Dir(abs)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("ledger folder: %v, %v; want mode 700", info, err)
	}
	db, err := sql.Open("sqlite", abs)
	if err != nil {
		t.Fatalf("open %s: %v", abs, err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	t.Chdir(dir)
	openStore(t, "sqlite://relative/sub/ledger.db")
	if _, err := os.Stat(filepath.Join(dir, "relative", "sub", "ledger.db")); err != nil {
		t.Errorf("the relative ledger file: %v", err)
	}
	openStore(t, "SQLite://with%20space.db")
	if _, err := os.Stat(filepath.Join(dir, "with space.db")); err != nil {
		t.Errorf("the escaped ledger file: %v", err)
	}

	// Two in-memory ledgers are two databases.
	m1, m2 := openStore(t, "sqlite://:memory:"), openStore(t, "sqlite://:memory:")
	startRun(t, m1, "run-1")
	if _, err := m2.GetRun(ctx, "run-1"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("a second in-memory ledger sees the first's run: %v", err)
	}
}

func TestOpenErrorsHidePasswords(t *testing.T) {
	const secret = "hunter2"
	tests := []struct {
		name string
		url  string
		// want are parts the message must hold.
		want     []string
		postgres bool // needs the PostgreSQL server
	}{
		{name: "unknown scheme", url: "mysql://root:hunter2@db:3306/zerodrift",
			want: []string{`"mysql"`, "sqlite:///", "sqlite://:memory:", "postgres://", "postgresql://", "root:xxxxx@db"}},
		{name: "unknown scheme, password in the query", url: "mongodb://db/x?password=hunter2", want: []string{`"mongodb"`, "password=xxxxx"}},
		{name: "no scheme", url: "root:hunter2@db/ledger", want: []string{"no scheme"}},
		{name: "no scheme, plain path", url: "/var/lib/ledger.db", want: []string{"/var/lib/ledger.db", "no scheme"}},
		{name: "empty", url: "", want: []string{"no scheme"}},
		{name: "unreachable server", url: "postgres://admin:hunter2@127.0.0.1:1/zerodrift?sslmode=disable&connect_timeout=5",
			want: []string{"admin:xxxxx@127.0.0.1:1", "connect"}},
		{name: "bad parameter", url: "postgres://admin:hunter2@127.0.0.1/zerodrift?sslmode=bogus", want: []string{"sslmode"}},
		{name: "password parameter", url: "postgresql://admin@127.0.0.1:1/zerodrift?sslmode=disable&password=hunter2",
			want: []string{"password=xxxxx"}},
		{name: "escaped password", url: "postgres://admin:hunter2%2F%40x@127.0.0.1:1/zerodrift?sslmode=disable",
			want: []string{"admin:xxxxx@"}},
		{name: "unparsable", url: "postgres://admin:hunter2@[::1/zerodrift", want: []string{"does not parse"}},
		{name: "bad pool size", url: "postgres://admin:hunter2@127.0.0.1/db?pool_max_conns=zero", want: []string{"pool_max_conns"}},
		{name: "server refuses", url: serverRefusesURL(), want: []string{"zerodrift_no_such_database"}, postgres: true},
		{name: "sqlite without a path", url: "sqlite://", want: []string{"no file"}},
		{name: "sqlite with a query", url: "sqlite:///tmp/x.db?_pragma=foo", want: []string{"no query"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.postgres && os.Getenv(skipPostgresEnv) == "1" {
				t.Skipf("%s=1", skipPostgresEnv)
			}
			s, err := ledger.Open(testContext(t), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			msg := err.Error()
			for _, leak := range []string{secret, "hunter2%2F", "hunter2/@x"} {
				if strings.Contains(msg, leak) {
					t.Errorf("the error shows the password %q: %s", leak, msg)
				}
			}
			for _, part := range tc.want {
				if !strings.Contains(msg, part) {
					t.Errorf("the error does not hold %q: %s", part, msg)
				}
			}
			// pgx's errors keep the password in fields (ParseConfigError.ConnString,
			// ConnectError.Config): they must not be reachable through the chain.
			var parseErr *pgconn.ParseConfigError
			var connectErr *pgconn.ConnectError
			if errors.As(err, &parseErr) || errors.As(err, &connectErr) {
				t.Errorf("the error chain exposes pgx's configuration: %#v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sqlite:///var/lib/zerodrift/ledger.db", "sqlite:///var/lib/zerodrift/ledger.db"},
		{"sqlite://:memory:", "sqlite://:memory:"},
		{"postgres://u@h:5432/db", "postgres://u@h:5432/db"},
		{"postgres://u:secret@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"postgres://u:se@cr/et@h/db?sslmode=require", "postgres://u:xxxxx@h/db?sslmode=require"},
		{"postgres://u:1234/x@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u:p%40ss@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?user=u&password=secret&sslmode=disable", "postgres://h/db?user=u&password=xxxxx&sslmode=disable"},
		{"postgres://h/db?PassWord=secret", "postgres://h/db?PassWord=xxxxx"},
		{"postgres://h/db?sslpassword=secret&sslkey=/k", "postgres://h/db?sslpassword=xxxxx&sslkey=/k"},
		{"postgres://h/db?pass%77ord=secret", "postgres://h/db?pass%77ord=xxxxx"},
		{"postgres:secret@h/db", "(URL not shown: it may hold a password)"},
		{"host=h password=secret", "(URL not shown: it may hold a password)"},
		{"/plain/path.db", "/plain/path.db"},
	}
	for _, tc := range tests {
		if got := ledger.RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(ledger.RedactURL(tc.in), "secret") {
			t.Errorf("RedactURL(%q) shows the password", tc.in)
		}
	}
}

func TestCanMoveTo(t *testing.T) {
	allowed := allowedMoves()
	statuses := append(allStatuses(), "", "bogus")
	for _, from := range statuses {
		for _, to := range statuses {
			if got, want := from.CanMoveTo(to), allowed[[2]ledger.ChangeStatus{from, to}]; got != want {
				t.Errorf("%q.CanMoveTo(%q) = %v, want %v", from, to, got, want)
			}
		}
	}
}

// serverRefusesURL names a database that does not exist on the test server, with a password.
func serverRefusesURL() string {
	u, err := url.Parse(postgresAdminURL())
	if err != nil {
		return "postgres://postgres:hunter2@127.0.0.1:5432/zerodrift_no_such_database?sslmode=disable"
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2")
	u.Path = "/zerodrift_no_such_database"
	return u.String()
}
