package pullrequest

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// redacted replaces a credential in text.
const redacted = "[REDACTED]"

// maxLearned bounds the credentials a Client remembers from the wire: an App's JWTs and
// installation tokens, renewed about hourly. The oldest is forgotten first.
const maxLearned = 32

// secretPatterns find credentials a Client does not know of that a server or a proxy might
// quote back in an error: GitHub tokens of every kind, JWTs, Authorization header values,
// PEM private keys, credentials in URL user info and in URL queries. The groups of a
// match are kept; the rest of it is redacted.
var secretPatterns = []struct {
	re   *regexp.Regexp
	keep string
}{
	{regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9_]{16,}|github_pat_[A-Za-z0-9_]{16,})`), redacted},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`), redacted},
	{regexp.MustCompile(`(?i)(\b(?:bearer|token|basic)\s+)[A-Za-z0-9._~+/=-]{20,}`), "${1}" + redacted},
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|$)`), redacted},
	{regexp.MustCompile(`(://[^/\s:@]*:)[^/\s@]+(@)`), "${1}" + redacted + "${2}"},
	{regexp.MustCompile(`(?i)([?&](?:access_token|token|client_secret|jwt|sig|signature|key)=)[^&\s"'<>]+`), "${1}" + redacted},
}

// secrets are the credentials a Client holds (its token, its App's private key) and those
// it has sent (each JWT and installation token), so that none of its errors repeats one.
// It is safe for concurrent use.
type secrets struct {
	fixed []string

	mu      sync.Mutex
	learned []string // oldest first
}

// newSecrets holds the configuration's credentials: the token, and the App's private key
// whole and line by line.
func newSecrets(cfg Config) *secrets {
	s := &secrets{}
	if cfg.Token != "" {
		s.fixed = append(s.fixed, cfg.Token)
	}
	if cfg.App != nil && len(cfg.App.PrivateKeyPEM) > 0 {
		key := string(cfg.App.PrivateKeyPEM)
		s.fixed = append(s.fixed, strings.TrimSpace(key))
		for _, line := range strings.Split(key, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				s.fixed = append(s.fixed, line)
			}
		}
	}
	return s
}

// learn remembers a credential seen on the wire.
func (s *secrets) learn(v string) {
	if v == "" || slices.Contains(s.fixed, v) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.learned, v) {
		return
	}
	if len(s.learned) == maxLearned {
		s.learned = slices.Delete(s.learned, 0, 1)
	}
	s.learned = append(s.learned, v)
}

// redact replaces every known credential in text, then every credential-like string.
func (s *secrets) redact(text string) string {
	s.mu.Lock()
	known := append(slices.Clone(s.fixed), s.learned...)
	s.mu.Unlock()
	// Longest first, so that a line of the key never leaves the rest of the whole key.
	slices.SortFunc(known, func(a, b string) int { return len(b) - len(a) })
	for _, k := range known {
		text = strings.ReplaceAll(text, k, redacted)
	}
	for _, p := range secretPatterns {
		text = p.re.ReplaceAllString(text, p.keep)
	}
	return text
}

// scrub keeps credentials out of an error: should its text hold one, the error is
// replaced by one with the credentials redacted and no chain (which would hold them), but
// for the context's cancellation or deadline, which callers test with errors.Is.
func (s *secrets) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := s.redact(msg)
	if clean == msg {
		return err
	}
	e := &scrubbedError{msg: clean}
	for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			e.sentinel = sentinel
		}
	}
	return e
}

// scrubbedError is an error whose text had credentials redacted.
type scrubbedError struct {
	msg      string
	sentinel error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.sentinel }

// credentialRecorder sits beneath the authenticating transport and teaches secrets the
// credential of every request it passes on: a JWT or an installation token it did not
// know before.
type credentialRecorder struct {
	next    http.RoundTripper
	secrets *secrets
}

// RoundTrip notes the request's credential and sends the request on unchanged.
func (r credentialRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		if _, cred, ok := strings.Cut(h, " "); ok {
			h = strings.TrimSpace(cred)
		}
		r.secrets.learn(h)
	}
	return r.next.RoundTrip(req)
}
