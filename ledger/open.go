package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// acceptedURLs lists the ledger URLs Open understands, for error messages.
const acceptedURLs = "sqlite:///absolute/path.db, sqlite://relative/path.db, sqlite://:memory:, " +
	"postgres://user@host:5432/db or postgresql://user@host:5432/db"

// mask replaces a password wherever a URL or message is shown.
const mask = "xxxxx"

// Open opens the ledger a URL names and brings its schema up to date:
//
//   - sqlite:///absolute/path/ledger.db or sqlite://relative/path.db: a SQLite file (pure Go),
//     created with its folder when missing, in WAL mode with foreign keys on;
//   - sqlite://:memory:: a private in-memory SQLite ledger, gone when it is closed;
//   - postgres://… or postgresql://…: PostgreSQL, any URL pgx accepts; pool_max_conns sets
//     the connection pool's size (default 8).
//
// Error messages never show a password the URL holds (see RedactURL).
func Open(ctx context.Context, url string) (Store, error) {
	scheme, rest, hasScheme := strings.Cut(url, "://")
	var (
		db  backend
		err error
	)
	switch strings.ToLower(scheme) {
	case "sqlite":
		var path string
		if path, err = sqlitePath(rest); err == nil {
			db, err = openSQLite(ctx, path)
		}
	case "postgres", "postgresql":
		db, err = openPostgres(ctx, url)
	default:
		if !hasScheme {
			return nil, fmt.Errorf("open ledger %s: the URL has no scheme://; use %s", RedactURL(url), acceptedURLs)
		}
		return nil, fmt.Errorf("open ledger %s: unsupported scheme %q; use %s", RedactURL(url), scheme, acceptedURLs)
	}
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", RedactURL(url), err)
	}
	s, err := newStore(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", RedactURL(url), err)
	}
	return s, nil
}

// sqlitePath turns what follows sqlite:// into a file path, or ":memory:".
func sqlitePath(rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("a sqlite URL takes no query or fragment")
	}
	if rest == sqliteMemory {
		return rest, nil
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("sqlite path %q has a bad %%-escape", rest)
	}
	if path == "" || path == "/" {
		return "", errors.New("the sqlite URL names no file")
	}
	return filepath.Clean(path), nil
}

// RedactURL returns a ledger URL fit for logs and error messages: the password in its user
// information and any password or sslpassword query parameter become xxxxx. It never
// returns a password even for a URL that does not parse; when in doubt it masks more.
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.ContainsAny(raw, "@=") {
			return "(URL not shown: it may hold a password)"
		}
		return raw
	}
	// The user information ends at the last @: a password may itself hold @, / or ?, so
	// anything before that last @ is treated as user information, which masks too much at
	// worst.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		userinfo, host := rest[:at], rest[at+1:]
		if name, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
			if strings.ContainsAny(name, "/?#") {
				userinfo = mask
			} else {
				userinfo = name + ":" + mask
			}
		}
		rest = userinfo + "@" + host
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		params := strings.Split(rest[q+1:], "&")
		for i, p := range params {
			key, _, _ := strings.Cut(p, "=")
			name, err := url.QueryUnescape(key)
			if err != nil {
				name = key
			}
			switch strings.ToLower(name) {
			case "password", "sslpassword":
				params[i] = key + "=" + mask
			}
		}
		rest = rest[:q+1] + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}

// urlSecrets returns the passwords a parsed URL holds, for maskSecrets.
func urlSecrets(u *url.URL) []string {
	var out []string
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	for key, values := range u.Query() {
		switch strings.ToLower(key) {
		case "password", "sslpassword":
			out = append(out, values...)
		}
	}
	return out
}

// maskSecrets replaces every secret in msg, as written and as a URL would escape it.
func maskSecrets(msg string, secrets []string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("", s).String()[1:]} {
			if form != "" {
				msg = strings.ReplaceAll(msg, form, mask)
			}
		}
	}
	return msg
}

// redactedError is an error whose message has had secrets masked. It unwraps to the cause
// only where the cause holds no secret of its own.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redactError masks secrets in err's message and drops the parts of its chain that carry
// them: pgx's ParseConfigError keeps the raw connection string and its ConnectError the
// parsed configuration, password included.
func redactError(err error, secrets []string) error {
	var (
		parseErr   *pgconn.ParseConfigError
		connectErr *pgconn.ConnectError
		cause      = err
	)
	switch {
	case errors.As(err, &parseErr):
		cause = nil
	case errors.As(err, &connectErr):
		cause = connectErr.Unwrap()
	}
	return &redactedError{msg: maskSecrets(err.Error(), secrets), cause: cause}
}
