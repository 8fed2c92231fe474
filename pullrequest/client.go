// Package pullrequest opens, updates and closes the GitHub pull requests that fix
// zero-trust drift in a Terraform repository, through go-github and the Git Data API (no
// clone).
//
// It follows Renovate's manners: one branch per fix (zerodrift/<rule>/<finding>), a fix
// regenerated on the current base instead of rebased, a human's push to the bot's branch
// never overwritten (zerodrift comments instead), a pull request closed without merging
// taken as "no", obsolete pull requests closed with a comment and their branch deleted, and
// a hidden marker in each body recording the finding and the hash of the patch, so that a
// second run over the same state writes nothing.
//
// Credentials are sent to the configured API host only: a redirect to another host (or
// scheme, or port) is refused, one on the same host (a renamed repository) is followed.
// They are never logged nor put in a body, and every error is scrubbed of them (the token,
// the App's key, each JWT and installation token sent, and whatever is shaped like a
// credential), even when a server quotes them back. Writes are serialized; secondary rate
// limits, 429s and 5xx answers are waited out and retried, boundedly.
package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

// Defaults of Config.
const (
	// DefaultBaseBranch is the base branch when Config.BaseBranch is empty.
	DefaultBaseBranch = "main"
	// DefaultWriteInterval is the pause between two write requests when
	// Config.WriteInterval is zero, as GitHub asks of integrations making many writes.
	DefaultWriteInterval = time.Second
	// DefaultMaxRetryWait bounds one rate-limit wait when Config.MaxRetryWait is zero.
	DefaultMaxRetryWait = 2 * time.Minute
	// DefaultTimeout bounds one HTTP request when Config.HTTPClient sets no timeout.
	DefaultTimeout = time.Minute
)

// Config configures a Client.
type Config struct {
	// Repository is the Terraform repository, "owner/name".
	Repository string
	// BaseBranch is the branch pull requests target; DefaultBaseBranch when empty.
	BaseBranch string
	// APIURL is the REST API's base URL: empty for github.com, else a GitHub Enterprise
	// (or sandbox) URL such as https://ghe.example.com/api/v3/ or http://127.0.0.1:8080
	// ("api/v3/" is added when missing).
	APIURL string
	// AllowInsecureHTTP allows an http:// APIURL on a host that is not loopback. Without it
	// only loopback hosts may be reached over plain HTTP, so that a token never crosses a
	// network in clear.
	AllowInsecureHTTP bool
	// Token authenticates as a user or bot (a personal access or installation token).
	// Exactly one of Token and App must be set.
	Token string
	// App authenticates as a GitHub App installation.
	App *App
	// Labels are put on every pull request opened; missing labels are created.
	Labels []string
	// Reviewers and TeamReviewers (team slugs) are requested on every pull request opened.
	Reviewers     []string
	TeamReviewers []string
	// Draft opens pull requests as drafts.
	Draft bool
	// MaxPRsPerRun bounds the pull requests this Client opens (a Client serves one run);
	// zero means no bound. Past it, Ensure answers ActionSkippedLimit.
	MaxPRsPerRun int
	// CoolOff is how long a pull request closed without merging (or merged) keeps the fix
	// from being proposed again. Zero means forever: a declined fix stays declined.
	CoolOff time.Duration
	// CommitAuthor, when set, authors zerodrift's commits. Empty leaves the author to
	// GitHub, which then signs a GitHub App's commits (shown as verified).
	CommitAuthor *Author
	// WriteInterval is the least time between two write requests: DefaultWriteInterval when
	// zero, none when negative.
	WriteInterval time.Duration
	// MaxRetryWait bounds a single wait for a rate limit (Retry-After): a longer wait fails
	// the call instead. DefaultMaxRetryWait when zero.
	MaxRetryWait time.Duration
	// HTTPClient supplies the transport and timeout; nil means http.DefaultTransport and
	// DefaultTimeout. Its CheckRedirect is replaced: redirects to another host are refused.
	HTTPClient *http.Client
	// Now is the clock used for CoolOff; time.Now when nil.
	Now func() time.Time
	// Failpoints kill the process at the steps of a new or updated pull request (tests
	// only); nil: none.
	Failpoints *failpoint.Set
}

// App is a GitHub App installation's credentials.
type App struct {
	ID             int64
	InstallationID int64
	// PrivateKeyPEM is the App's private key, PEM-encoded.
	PrivateKeyPEM []byte
}

// Author is a commit author.
type Author struct {
	Name  string
	Email string
}

// Client makes zerodrift's pull requests in one repository. It is safe for concurrent use;
// its writes are serialized.
type Client struct {
	cfg     Config
	owner   string
	repo    string
	gh      *github.Client
	log     *zap.Logger
	now     func() time.Time
	secrets *secrets // scrubbed from errors

	writeSem  chan struct{} // one write at a time
	lastWrite time.Time     // guarded by writeSem

	mu          sync.Mutex
	opened      int
	labelsReady bool
}

// New builds a client and checks that the base branch can be read with the credentials.
// Errors never contain the token or the key.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*Client, error) {
	if log == nil {
		log = zap.NewNop()
	}
	c, err := newClient(cfg, log)
	if err != nil {
		return nil, newSecrets(cfg).scrub(fmt.Errorf("pullrequest: %w", err))
	}
	if _, err := c.branchHead(ctx, c.cfg.BaseBranch); err != nil {
		return nil, c.scrub(fmt.Errorf("pullrequest: reading base branch %s of %s: %w", c.cfg.BaseBranch, cfg.Repository, err))
	}
	return c, nil
}

func newClient(cfg Config, log *zap.Logger) (*Client, error) {
	owner, repo, ok := strings.Cut(cfg.Repository, "/")
	if !ok || !repoNameOK(owner) || !repoNameOK(repo) {
		return nil, fmt.Errorf("repository %q is not owner/name", cfg.Repository)
	}
	if cfg.BaseBranch == "" {
		cfg.BaseBranch = DefaultBaseBranch
	}
	if !branchNameOK(cfg.BaseBranch) {
		return nil, fmt.Errorf("base branch %q is not a valid branch name", cfg.BaseBranch)
	}
	if (cfg.Token == "") == (cfg.App == nil) {
		return nil, errors.New("exactly one of a token and a GitHub App is needed")
	}
	if cfg.Token != "" && strings.IndexFunc(cfg.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, errors.New("the token holds white space or control characters")
	}
	if cfg.MaxPRsPerRun < 0 {
		return nil, fmt.Errorf("maxPRsPerRun %d is negative", cfg.MaxPRsPerRun)
	}
	if cfg.CoolOff < 0 {
		return nil, fmt.Errorf("coolOff %v is negative", cfg.CoolOff)
	}
	if cfg.CommitAuthor != nil && (cfg.CommitAuthor.Name == "" || cfg.CommitAuthor.Email == "") {
		return nil, errors.New("commit author needs a name and an email")
	}
	for _, l := range cfg.Labels {
		if strings.TrimSpace(l) == "" || strings.ContainsAny(l, "\r\n") {
			return nil, fmt.Errorf("label %q is empty or holds a line break", l)
		}
	}
	if cfg.WriteInterval == 0 {
		cfg.WriteInterval = DefaultWriteInterval
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = DefaultMaxRetryWait
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	api, upload, err := apiURLs(cfg.APIURL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, err
	}
	base := http.DefaultTransport
	timeout := DefaultTimeout
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
		if cfg.HTTPClient.Timeout > 0 {
			timeout = cfg.HTTPClient.Timeout
		}
	}
	secrets := newSecrets(cfg)
	recorded := credentialRecorder{next: base, secrets: secrets}
	var authed http.RoundTripper
	if cfg.App != nil {
		itr, err := ghinstallation.New(recorded, cfg.App.ID, cfg.App.InstallationID, cfg.App.PrivateKeyPEM)
		if err != nil {
			// ghinstallation's message names the parse failure, never the key.
			return nil, fmt.Errorf("github app: %w", err)
		}
		itr.BaseURL = strings.TrimSuffix(api.String(), "/")
		authed = itr
	} else {
		authed = &tokenTransport{base: recorded, token: cfg.Token}
	}
	guard := &hostGuard{scheme: api.Scheme, host: canonicalHost(api), authed: authed, plain: base}
	hc := &http.Client{
		Transport: guard,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if !guard.sameHost(req.URL) {
				return fmt.Errorf("refusing a redirect to another host (%s)", req.URL.Host)
			}
			return nil
		},
	}
	gh := github.NewClient(hc)
	if cfg.APIURL != "" {
		if gh, err = gh.WithEnterpriseURLs(api.String(), upload.String()); err != nil {
			return nil, fmt.Errorf("api URL: %w", err)
		}
	}
	return &Client{
		cfg: cfg, owner: owner, repo: repo, gh: gh, log: log, now: now, secrets: secrets,
		writeSem: make(chan struct{}, 1),
	}, nil
}

// apiURLs resolves the REST and upload base URLs. Errors never echo the URL, which might
// carry credentials.
func apiURLs(raw string, allowHTTP bool) (api, upload *url.URL, err error) {
	if raw == "" {
		api, _ = url.Parse("https://api.github.com/")
		upload, _ = url.Parse("https://uploads.github.com/")
		return api, upload, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, errors.New("api URL does not parse")
	}
	switch {
	case u.User != nil:
		return nil, nil, errors.New("api URL must not carry credentials")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return nil, nil, errors.New("api URL must be an absolute http(s) URL")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, nil, errors.New("api URL must not have a query or fragment")
	case u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()):
		return nil, nil, fmt.Errorf("api URL uses plain HTTP to %s, which is not loopback (set AllowInsecureHTTP to allow it)", u.Hostname())
	}
	p := strings.TrimSuffix(u.Path, "/")
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(host, "api.") || strings.Contains(host, ".api.") {
		// GitHub Enterprise Cloud with data residency (api.SUBDOMAIN.ghe.com) has no
		// /api/v3 prefix, as go-github knows.
		api = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p + "/"}
		return api, api, nil
	}
	p = strings.TrimSuffix(p, "/api/v3")
	api = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p + "/api/v3/"}
	upload = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: p + "/api/uploads/"}
	return api, upload, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// canonicalHost is host:port with the scheme's default port made explicit.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// tokenTransport adds the token to requests; hostGuard decides which requests reach it.
type tokenTransport struct {
	base  http.RoundTripper
	token string
}

// RoundTrip sends the request with the token.
func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(r)
}

// hostGuard sends requests for the API host (same scheme, host and port) through the
// authenticating transport, and every other request (a redirect target, a link elsewhere)
// without any Authorization header.
type hostGuard struct {
	scheme string
	host   string
	authed http.RoundTripper
	plain  http.RoundTripper
}

func (g *hostGuard) sameHost(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, g.scheme) && canonicalHost(u) == g.host
}

// RoundTrip authenticates requests for the API host only.
func (g *hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if g.sameHost(req.URL) {
		return g.authed.RoundTrip(req)
	}
	if req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.plain.RoundTrip(req)
}

// repoNameOK checks an owner or repository name.
func repoNameOK(s string) bool {
	if s == "" || len(s) > 100 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// branchNameOK checks a branch name roughly as git check-ref-format does.
func branchNameOK(b string) bool {
	if b == "" || len(b) > 200 || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") || b == "@" {
		return false
	}
	for _, r := range b {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	for _, seg := range strings.Split(b, "/") {
		if strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return false
		}
	}
	return true
}

// scrub keeps credentials out of an error (see secrets.scrub): the token, the App's key,
// every JWT and installation token sent, and whatever looks like a credential.
func (c *Client) scrub(err error) error { return c.secrets.scrub(err) }
