package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// GitHubRedirect answers the GitHub requests for one path with a redirect: on the same host,
// as GitHub answers for a renamed repository, or to another host, as a hostile or
// misconfigured gateway might, to prove that a client does not carry its credentials there.
type GitHubRedirect struct {
	// Path is the request path, e.g. "/api/v3/repos/acme/infra/git/ref/heads/main".
	Path string
	// Target is the absolute URL redirected to. The request's query is kept when Target
	// has none. A request already addressed to Target (its host and path) is served.
	Target string
	// Status is 301, 302, 303, 307 or 308; 307 when zero.
	Status int
}

// redirectStatuses are the statuses a GitHubRedirect may answer.
var redirectStatuses = []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
	http.StatusTemporaryRedirect, http.StatusPermanentRedirect}

// setRedirect checks and installs a redirect; g.mu must be held, or g not yet shared.
func (g *ghServer) setRedirect(rd GitHubRedirect) error {
	if !isGitHubPath(rd.Path) {
		return fmt.Errorf("github emulator: redirect path %q is not under %s", rd.Path, GitHubAPIPrefix)
	}
	u, err := url.Parse(rd.Target)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("github emulator: redirect target %q is not an absolute http(s) URL", rd.Target)
	}
	if rd.Status == 0 {
		rd.Status = http.StatusTemporaryRedirect
	}
	if !slices.Contains(redirectStatuses, rd.Status) {
		return fmt.Errorf("github emulator: redirect status %d is not one of %v", rd.Status, redirectStatuses)
	}
	g.redirects[rd.Path] = rd
	return nil
}

// answer is the redirect's answer to r; ok is false when r is already addressed to the
// target, which is then served.
func (rd GitHubRedirect) answer(r *http.Request) (ghResp, bool) {
	u, err := url.Parse(rd.Target)
	if err != nil || strings.EqualFold(u.Host, r.Host) && u.Path == r.URL.Path {
		return ghResp{}, false
	}
	if r.URL.RawQuery != "" && u.RawQuery == "" {
		u.RawQuery = r.URL.RawQuery
	}
	return ghResp{status: rd.Status, header: http.Header{"Location": {u.String()}}, body: map[string]any{
		"message": http.StatusText(rd.Status), "url": u.String(), "documentation_url": githubDocs}}, true
}

// tokenOK reports whether t may be a token: not empty, no white space.
func tokenOK(t string) bool {
	return t != "" && !strings.ContainsAny(t, " \t\r\n")
}

// maxTrapBody bounds the body a CredentialTrap keeps of a request.
const maxTrapBody = 64 << 10

// CredentialTrap is a listener standing for another host, where a GitHubRedirect can send
// a client. It records every request it receives, credentials included, in memory, and
// answers 404 in GitHub's shape. A client that keeps its credentials to its API host gives
// it nothing to record. It is safe for concurrent use.
type CredentialTrap struct {
	srv  *http.Server
	url  string
	done chan error

	mu   sync.Mutex
	reqs []TrapRequest
}

// TrapRequest is a request a CredentialTrap received, as received.
type TrapRequest struct {
	Method string
	Host   string
	// RequestURI is the path and query, where a token may hide (?access_token=).
	RequestURI string
	// Header holds every header, Authorization and Cookie included.
	Header http.Header
	// Body is the first 64 KiB of the body.
	Body []byte
}

// credentialHeaders and credentialParams name where a request carries a credential.
var (
	credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"}
	credentialParams  = []string{"access_token", "token", "client_secret", "jwt", "key"}
)

// Credential returns the first credential the request carried, in a header or a query
// parameter, or "" when it carried none.
func (r TrapRequest) Credential() string {
	for _, h := range credentialHeaders {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		q := u.Query()
		for _, p := range credentialParams {
			if v := q.Get(p); v != "" {
				return v
			}
		}
	}
	return ""
}

// StartCredentialTrap listens on 127.0.0.2, another host than the sandbox's 127.0.0.1, or,
// where only 127.0.0.1 is configured, on another port of it (another origin all the same).
func StartCredentialTrap() (*CredentialTrap, error) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("starting the credential trap: %w", err)
		}
	}
	t := &CredentialTrap{url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { t.done <- t.srv.Serve(ln) }()
	return t, nil
}

// URL is the trap's base URL, e.g. http://127.0.0.2:41234.
func (t *CredentialTrap) URL() string { return t.url }

// Requests returns the requests received, oldest first.
func (t *CredentialTrap) Requests() []TrapRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.reqs)
}

// Close stops the trap, closing open connections.
func (t *CredentialTrap) Close() error {
	err := t.srv.Close()
	if serr := <-t.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("closing the credential trap: %w", err)
	}
	return nil
}

func (t *CredentialTrap) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxTrapBody))
	t.mu.Lock()
	if len(t.reqs) < maxGitHubRecords {
		t.reqs = append(t.reqs, TrapRequest{Method: r.Method, Host: r.Host, RequestURI: r.RequestURI,
			Header: r.Header.Clone(), Body: body})
	}
	t.mu.Unlock()
	writeGitHub(w, ghFail(ghNotFound()))
}
