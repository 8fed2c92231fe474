package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The GitHub emulator serves, on the sandbox's listener and in the style of GitHub
// Enterprise, the REST endpoints zerodrift's pull-request client uses, for one repository
// seeded from the scenario's iac/ folder. Point go-github at it with
//
//	gh, _ := github.NewClient(nil).WithAuthToken(sandbox.DefaultGitHubToken).
//		WithEnterpriseURLs(url+"/api/v3/", url+"/api/uploads/")
//
// Answers use GitHub's paths, JSON and error shapes ({"message", "documentation_url",
// "errors"}); git objects carry real git SHA-1 object IDs.

// Defaults of the GitHub emulator.
const (
	// DefaultGitHubRepository is the emulated repository when GitHubOptions.Repository is
	// empty.
	DefaultGitHubRepository = "acme/infra"
	// DefaultGitHubBranch is the emulated repository's default branch when
	// GitHubOptions.BaseBranch is empty.
	DefaultGitHubBranch = "main"
	// DefaultGitHubToken is the token the emulator accepts when GitHubOptions.Tokens is
	// empty. It is a sandbox value, worthless anywhere else.
	DefaultGitHubToken = "zerodrift-sandbox-token"
	// GitHubBotLogin is the user that tokens (and GitHub App installations) act as.
	GitHubBotLogin = "zerodrift[bot]"
	// GitHubHumanLogin is the user the Server's helpers act as when they play a human.
	GitHubHumanLogin = "octo-human"
	// GitHubAPIPrefix is the path under which the GitHub REST API is served.
	GitHubAPIPrefix = "/api/v3/"
)

const (
	githubBotEmail   = "zerodrift[bot]@users.noreply.github.com"
	githubHumanName  = "Octo Human"
	githubHumanEmail = "human@acme.example"
	githubDocs       = "https://docs.github.com/rest"
	githubSecondary  = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	maxGitHubRecords = 10000
)

// GitHubOptions configure the GitHub emulator; see WithGitHub.
type GitHubOptions struct {
	// Repository is "owner/name"; DefaultGitHubRepository when empty.
	Repository string
	// BaseBranch is the default branch, holding the scenario's iac/ tree;
	// DefaultGitHubBranch when empty.
	BaseBranch string
	// Tokens are the accepted tokens (sent as "Authorization: Bearer T" or "token T");
	// DefaultGitHubToken alone when empty.
	Tokens []string
	// App, when set, lets a GitHub App authenticate: a JWT signed with the App's key buys an
	// installation token at POST /api/v3/app/installations/{id}/access_tokens.
	App *GitHubApp
	// TreeLimit, when positive, truncates recursive tree listings to that many entries and
	// marks them "truncated", as GitHub does past 100,000 entries or 7 MB.
	TreeLimit int
	// Redirects answer requests for their paths with redirects (github_redirect.go), to
	// another host (a CredentialTrap) or on the same host (a renamed repository).
	Redirects []GitHubRedirect
}

// GitHubApp is a GitHub App the emulator knows.
type GitHubApp struct {
	ID             int64
	InstallationID int64
	// PublicKey verifies the App's RS256 JWTs.
	PublicKey *rsa.PublicKey
	// Token, when set, is the installation token issued (a canary a test looks for);
	// otherwise each exchange issues a random ghs_ token.
	Token string
}

// WithGitHub configures the GitHub emulator.
func WithGitHub(o GitHubOptions) Option {
	return func(s *settings) { s.github = o }
}

// GitHubRequest is one request the GitHub emulator received. It never holds a credential:
// only the scheme of the Authorization header and whether the credential was accepted.
type GitHubRequest struct {
	Method string
	Path   string
	Query  string
	// Host is the Host the request was addressed to, so that a test can prove that
	// credentials were never sent to another host.
	Host string
	// AuthScheme is "Bearer", "token", another scheme, or "" when the request carried no
	// Authorization header.
	AuthScheme string
	// Authenticated reports whether the credential was accepted.
	Authenticated bool
	// Route is the method name, e.g. "pulls.create"; "unknown" for paths not served.
	Route  string
	Status int
}

// Write reports whether the request may change state (any method but GET and HEAD).
func (r GitHubRequest) Write() bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead
}

// GitHubFault is a failure the emulator injects into the next matching requests.
type GitHubFault struct {
	// Route limits the fault to one method (e.g. "pulls.create"); empty matches every
	// request, "write" every request but GET and HEAD.
	Route string
	// Status is the HTTP status: 403 answers GitHub's secondary rate limit (which go-github
	// turns into *github.AbuseRateLimitError), 429 a rate limit as a plain error, 5xx a
	// server error, any other 4xx a plain error.
	Status int
	// RetryAfter, when positive, is sent as Retry-After in whole seconds, rounded up.
	RetryAfter time.Duration
	// Times is how many matching requests fail; 1 when zero.
	Times int
	// Skip is how many matching requests are served as usual before the fault applies.
	Skip int
	// AfterServing serves the request, making its change, and then answers the failure in
	// place of its answer, as a gateway that timed out after the backend did the work: the
	// client believes nothing happened (a pull request it opened, a branch it created).
	AfterServing bool
	// EchoCredential makes the error message quote the request's Authorization header, as
	// a misconfigured gateway may, so that a test can prove a client never repeats it.
	EchoCredential bool
}

// ghServer is the GitHub emulator's state. Everything below mu is guarded by it.
type ghServer struct {
	owner, name string
	branch      string
	repoID      int64
	treeLimit   int // GitHubOptions.TreeLimit
	app         *GitHubApp
	now         func() time.Time
	routes      []ghRoute

	mu        sync.Mutex
	tokens    map[string]string // token → login
	blobs     map[string][]byte
	trees     map[string][]ghEntry
	commits   map[string]*ghCommit
	refs      map[string]string // "heads/main" → commit SHA
	pulls     []*ghPull         // pulls[n-1] is #n
	comments  map[int][]*ghComment
	labels    []*ghLabel
	nextID    int64
	redirects map[string]GitHubRedirect // by path
	faults    []GitHubFault
	// faultTreeLimit, when positive, replaces treeLimit (a fault profile's truncation).
	faultTreeLimit int
	hook           func(route string)

	reqMu    sync.Mutex
	requests []GitHubRequest
}

type ghPerson struct {
	Name  string
	Email string
	Date  time.Time
}

type ghCommit struct {
	sha       string
	tree      string
	parents   []string
	message   string
	author    ghPerson
	committer ghPerson
	verified  bool
}

type ghPull struct {
	number     int
	id         int64
	title      string
	body       string
	state      string
	draft      bool
	merged     bool
	mergeSHA   string
	headRef    string
	headSHA    string
	baseRef    string
	baseSHA    string
	user       string
	labels     []string
	reviewers  []string
	teams      []string
	createdAt  time.Time
	updatedAt  time.Time
	closedAt   time.Time
	mergedAt   time.Time
	mergedBy   string
	maintainer bool
}

type ghComment struct {
	id        int64
	body      string
	user      string
	createdAt time.Time
}

type ghLabel struct {
	id          int64
	name        string
	color       string
	description string
}

// newGitHub builds the emulator and commits every file of iac to the base branch.
func newGitHub(iac fs.FS, o GitHubOptions, now func() time.Time) (*ghServer, error) {
	if now == nil {
		now = time.Now
	}
	repo := o.Repository
	if repo == "" {
		repo = DefaultGitHubRepository
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, fmt.Errorf("repository %q is not owner/name", repo)
	}
	branch := o.BaseBranch
	if branch == "" {
		branch = DefaultGitHubBranch
	}
	if !validRefName("heads/" + branch) {
		return nil, fmt.Errorf("base branch %q is not a valid branch name", branch)
	}
	if o.TreeLimit < 0 {
		return nil, fmt.Errorf("tree limit %d is negative", o.TreeLimit)
	}
	if o.App != nil && (o.App.PublicKey == nil || o.App.ID <= 0 || o.App.InstallationID <= 0) {
		return nil, errors.New("app needs an ID, an installation ID and a public key")
	}
	if o.App != nil && o.App.Token != "" && !tokenOK(o.App.Token) {
		return nil, errors.New("the app's installation token holds white space")
	}
	g := &ghServer{
		owner: owner, name: name, branch: branch, repoID: 1, treeLimit: o.TreeLimit, app: o.App, now: now,
		tokens:    map[string]string{},
		blobs:     map[string][]byte{},
		trees:     map[string][]ghEntry{},
		commits:   map[string]*ghCommit{},
		refs:      map[string]string{},
		comments:  map[int][]*ghComment{},
		redirects: map[string]GitHubRedirect{},
		nextID:    1000,
		routes:    buildGitHubRoutes(),
	}
	tokens := o.Tokens
	if len(tokens) == 0 {
		tokens = []string{DefaultGitHubToken}
	}
	for _, t := range tokens {
		if !tokenOK(t) {
			return nil, errors.New("a token is empty or holds white space")
		}
		g.tokens[t] = GitHubBotLogin
	}
	for _, rd := range o.Redirects {
		if err := g.setRedirect(rd); err != nil {
			return nil, err
		}
	}
	files := map[string]ghEntry{}
	if iac != nil {
		err := fs.WalkDir(iac, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			b, err := fs.ReadFile(iac, p)
			if err != nil {
				return err
			}
			files[p] = ghEntry{mode: modeFile, typ: "blob", sha: g.putBlob(b)}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the iac tree: %w", err)
		}
	}
	tree := g.writeFlat(files)
	who := ghPerson{Name: githubHumanName, Email: githubHumanEmail, Date: now().UTC().Truncate(time.Second)}
	c := g.putCommit(tree, nil, "Initial commit\n\nThe Terraform tree of the sandbox scenario.\n", who, who, false)
	g.refs["heads/"+branch] = c
	return g, nil
}

func (g *ghServer) newID() int64 {
	g.nextID++
	return g.nextID
}

func (g *ghServer) fullName() string { return g.owner + "/" + g.name }

// isGitHubPath reports whether a path belongs to the GitHub emulator.
func isGitHubPath(p string) bool {
	return strings.HasPrefix(p, "/api/v3/") || p == "/api/v3" || strings.HasPrefix(p, "/api/uploads/")
}

// ghCall is one routed GitHub request.
type ghCall struct {
	r      *http.Request
	params map[string]string
	body   []byte
	login  string
	base   string // http://host/api/v3
	web    string // http://host
	// faultTruncated is set by a handler whose answer a fault profile's tree limit cut
	// short, for the fault to be counted (FaultTruncatedTree).
	faultTruncated bool
}

// ghResp is what a GitHub method answers.
type ghResp struct {
	status int
	body   any
	raw    []byte
	ctype  string
	header http.Header
	err    *ghError
}

func ghOK(body any) ghResp      { return ghResp{status: http.StatusOK, body: body} }
func ghCreated(body any) ghResp { return ghResp{status: http.StatusCreated, body: body} }
func ghFail(e *ghError) ghResp  { return ghResp{err: e} }

// ghError is an error answered in GitHub's shape.
type ghError struct {
	status  int
	message string
	doc     string
	errors  []ghErrorItem
	header  http.Header
}

type ghErrorItem struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

// Error describes the error for the Server's helpers.
func (e *ghError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

func ghNotFound() *ghError {
	return &ghError{status: http.StatusNotFound, message: "Not Found", doc: githubDocs}
}

func ghUnprocessable(message string) *ghError {
	return &ghError{status: http.StatusUnprocessableEntity, message: message, doc: githubDocs}
}

func ghValidation(items ...ghErrorItem) *ghError {
	return &ghError{status: http.StatusUnprocessableEntity, message: "Validation Failed", doc: githubDocs, errors: items}
}

func ghBadJSON() *ghError {
	return &ghError{status: http.StatusBadRequest, message: "Problems parsing JSON", doc: githubDocs}
}

// ghFaultError is the answer of an injected failure.
func ghFaultError(status int, retryAfter time.Duration) *ghError {
	var e *ghError
	switch {
	case status == http.StatusForbidden:
		e = &ghError{status: status, doc: githubSecondary,
			message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID (injected by the zerodrift sandbox)."}
	case status == http.StatusTooManyRequests:
		e = &ghError{status: status, doc: githubSecondary,
			message: "API rate limit exceeded (injected by the zerodrift sandbox)."}
	case status >= 500:
		e = &ghError{status: status, message: "Server Error", doc: githubDocs}
	default:
		e = &ghError{status: status, message: http.StatusText(status), doc: githubDocs}
	}
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		e.header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	}
	return e
}

func (e *ghError) body() map[string]any {
	b := map[string]any{"message": e.message, "documentation_url": e.doc, "status": strconv.Itoa(e.status)}
	if len(e.errors) > 0 {
		b["errors"] = e.errors
	}
	return b
}

// serveGitHub answers one GitHub request: route, record, redirect, authenticate, inject
// faults, then run the method against the state under the emulator's lock.
func (s *Server) serveGitHub(w http.ResponseWriter, r *http.Request) {
	g := s.gh
	rec := GitHubRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Route: "unknown"}
	if h := r.Header.Get("Authorization"); h != "" {
		rec.AuthScheme, _, _ = strings.Cut(h, " ")
	}
	status := g.serve(s, w, r, &rec)
	rec.Status = status
	s.count(ServiceGitHub, rec.Route, status)
	g.record(rec)
}

// serve answers the request and returns the status answered.
func (g *ghServer) serve(s *Server, w http.ResponseWriter, r *http.Request, rec *GitHubRequest) int {
	rt, params := g.match(r.Method, r.URL)
	if rt == nil {
		return writeGitHub(w, ghFail(ghNotFound()))
	}
	rec.Route = rt.name

	g.mu.Lock()
	hook := g.hook
	rd, redirected := g.redirects[r.URL.Path]
	g.mu.Unlock()
	if hook != nil {
		hook(rt.name)
	}
	if redirected {
		if resp, ok := rd.answer(r); ok {
			return writeGitHub(w, resp)
		}
	}

	login, ok := g.authenticate(r, rt)
	rec.Authenticated = ok
	if !ok {
		e := &ghError{status: http.StatusUnauthorized, message: "Bad credentials", doc: githubDocs}
		if rt.app {
			e.message = "A JSON web token could not be decoded"
		}
		return writeGitHub(w, ghFail(e))
	}

	fault, afterServing := g.takeFault(rt.name, r.Method, r.Header.Get("Authorization"))
	if fault != nil && !afterServing {
		s.faults.note(FaultGitHub, ServiceGitHub, rt.name)
		return writeGitHub(w, ghFail(fault))
	}
	if ferr, err := s.faults.inject(r.Context(), ServiceGitHub, rt.name); err != nil {
		return statusClientClosed
	} else if ferr != nil {
		e := ghFaultError(ferr.code, 0)
		e.header = ferr.header
		return writeGitHub(w, ghFail(e))
	}

	c := &ghCall{r: r, params: params, login: login}
	c.web = "http://" + r.Host
	c.base = c.web + "/api/v3"
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			return statusClientClosed
		}
		if len(b) > maxBodyBytes {
			return writeGitHub(w, ghFail(&ghError{status: http.StatusRequestEntityTooLarge, message: "Request body too large", doc: githubDocs}))
		}
		c.body = b
	}
	if rt.repo && (!strings.EqualFold(params["owner"], g.owner) || !strings.EqualFold(params["repo"], g.name)) {
		return writeGitHub(w, ghFail(ghNotFound()))
	}
	g.mu.Lock()
	resp := rt.handle(g, c)
	g.mu.Unlock()
	if c.faultTruncated {
		s.faults.note(FaultTruncatedTree, ServiceGitHub, rt.name)
	}
	if fault != nil {
		s.faults.note(FaultLostAnswer, ServiceGitHub, rt.name)
		return writeGitHub(w, ghFail(fault))
	}
	return writeGitHub(w, resp)
}

// writeGitHub writes a response with GitHub's headers and returns its status.
func writeGitHub(w http.ResponseWriter, resp ghResp) int {
	h := w.Header()
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Resource", "core")
	for k, vs := range resp.header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if resp.err != nil {
		for k, vs := range resp.err.header {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		writeGitHubJSON(w, resp.err.status, resp.err.body())
		return resp.err.status
	}
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case resp.raw != nil:
		h.Set("Content-Type", resp.ctype)
		w.WriteHeader(status)
		_, _ = w.Write(resp.raw)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeGitHubJSON(w, status, resp.body)
	}
	return status
}

func writeGitHubJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"Server Error","documentation_url":"` + githubDocs + `"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// authenticate checks the Authorization header: an accepted token for API routes, an App
// JWT for the App routes. It returns the login the request acts as.
func (g *ghServer) authenticate(r *http.Request, rt *ghRoute) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || cred == "" || !strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token") {
		return "", false
	}
	if rt.app {
		if g.app == nil || verifyAppJWT(cred, g.app, time.Now()) != nil {
			return "", false
		}
		return GitHubBotLogin, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	login, ok := g.tokens[cred]
	return login, ok
}

// takeFault returns the injected failure for this request, counting it down, and whether
// it replaces the answer of the served request (GitHubFault.AfterServing). A fault that
// echoes credentials quotes auth, the request's Authorization header.
func (g *ghServer) takeFault(route, method, auth string) (*ghError, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	write := method != http.MethodGet && method != http.MethodHead
	for i := range g.faults {
		f := &g.faults[i]
		if f.Times <= 0 || f.Route != "" && f.Route != route && !(f.Route == "write" && write) {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		f.Times--
		e := ghFaultError(f.Status, f.RetryAfter)
		if f.EchoCredential {
			e.message += " (request credential: " + auth + ")"
		}
		after := f.AfterServing
		g.faults = compactFaults(g.faults)
		return e, after
	}
	return nil, false
}

func compactFaults(fs []GitHubFault) []GitHubFault {
	out := fs[:0]
	for _, f := range fs {
		if f.Times > 0 {
			out = append(out, f)
		}
	}
	return out
}

func (g *ghServer) record(rec GitHubRequest) {
	g.reqMu.Lock()
	defer g.reqMu.Unlock()
	if len(g.requests) >= maxGitHubRecords {
		g.requests = g.requests[1:]
	}
	g.requests = append(g.requests, rec)
}

// createInstallationToken answers an App's request for an installation token.
func (g *ghServer) createInstallationToken(c *ghCall) ghResp {
	id, err := strconv.ParseInt(c.params["installation"], 10, 64)
	if err != nil || g.app == nil || id != g.app.InstallationID {
		return ghFail(ghNotFound())
	}
	tok := g.app.Token
	if tok == "" {
		var raw [20]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return ghFail(&ghError{status: http.StatusInternalServerError, message: "Server Error", doc: githubDocs})
		}
		tok = "ghs_" + hex.EncodeToString(raw[:])
	}
	g.tokens[tok] = GitHubBotLogin
	return ghCreated(map[string]any{
		"token":                tok,
		"expires_at":           ghTime(time.Now().Add(time.Hour)),
		"permissions":          map[string]string{"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"},
		"repository_selection": "all",
	})
}

// ghTime formats a time as GitHub does.
func ghTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ghRoute is one GitHub method.
type ghRoute struct {
	httpMethod string
	segs       []string
	name       string
	repo       bool // under repos/{owner}/{repo}
	app        bool // authenticated with an App JWT
	handle     func(*ghServer, *ghCall) ghResp
}

// buildGitHubRoutes lists every GitHub method the emulator serves. A pattern segment in
// braces captures one segment; one ending in "*}" captures the rest of the path (a ref name).
func buildGitHubRoutes() []ghRoute {
	get, post, patch, put, del := http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete
	const rp = "repos/{owner}/{repo}"
	r := func(m, pattern, name string, h func(*ghServer, *ghCall) ghResp) ghRoute {
		return ghRoute{httpMethod: m, segs: strings.Split(pattern, "/"), name: name, repo: strings.HasPrefix(pattern, rp), handle: h}
	}
	app := r(post, "app/installations/{installation}/access_tokens", "apps.createInstallationAccessToken", (*ghServer).createInstallationToken)
	app.app = true
	return []ghRoute{
		app,
		r(get, rp, "repos.get", (*ghServer).getRepo),
		r(get, rp+"/git/ref/{ref*}", "git.getRef", (*ghServer).getRef),
		r(get, rp+"/git/refs/{ref*}", "git.getRef", (*ghServer).getRef),
		r(get, rp+"/git/matching-refs/{ref*}", "git.listMatchingRefs", (*ghServer).matchingRefs),
		r(post, rp+"/git/refs", "git.createRef", (*ghServer).createRef),
		r(patch, rp+"/git/refs/{ref*}", "git.updateRef", (*ghServer).updateRef),
		r(del, rp+"/git/refs/{ref*}", "git.deleteRef", (*ghServer).deleteRef),
		r(get, rp+"/git/trees/{sha}", "git.getTree", (*ghServer).getTree),
		r(post, rp+"/git/trees", "git.createTree", (*ghServer).createTree),
		r(get, rp+"/git/blobs/{sha}", "git.getBlob", (*ghServer).getBlob),
		r(post, rp+"/git/blobs", "git.createBlob", (*ghServer).createBlob),
		r(get, rp+"/git/commits/{sha}", "git.getCommit", (*ghServer).getCommit),
		r(post, rp+"/git/commits", "git.createCommit", (*ghServer).createCommit),
		r(get, rp+"/pulls", "pulls.list", (*ghServer).listPulls),
		r(post, rp+"/pulls", "pulls.create", (*ghServer).createPull),
		r(get, rp+"/pulls/{number}", "pulls.get", (*ghServer).getPull),
		r(patch, rp+"/pulls/{number}", "pulls.update", (*ghServer).updatePull),
		r(get, rp+"/pulls/{number}/files", "pulls.listFiles", (*ghServer).listPullFiles),
		r(put, rp+"/pulls/{number}/merge", "pulls.merge", (*ghServer).mergePullAPI),
		r(post, rp+"/pulls/{number}/requested_reviewers", "pulls.requestReviewers", (*ghServer).requestReviewers),
		r(get, rp+"/issues/{number}/comments", "issues.listComments", (*ghServer).listComments),
		r(post, rp+"/issues/{number}/comments", "issues.createComment", (*ghServer).createComment),
		r(get, rp+"/issues/{number}/labels", "issues.listLabelsOnIssue", (*ghServer).listIssueLabels),
		r(post, rp+"/issues/{number}/labels", "issues.addLabels", (*ghServer).addIssueLabels),
		r(get, rp+"/labels", "issues.listLabelsForRepo", (*ghServer).listLabels),
		r(post, rp+"/labels", "issues.createLabel", (*ghServer).createLabel),
		r(get, rp+"/labels/{name}", "issues.getLabel", (*ghServer).getLabel),
	}
}

// match finds the route of a request under /api/v3/.
func (g *ghServer) match(method string, u *url.URL) (*ghRoute, map[string]string) {
	rest, ok := strings.CutPrefix(u.EscapedPath(), "/api/v3/")
	if !ok {
		return nil, nil
	}
	rest = strings.TrimSuffix(rest, "/")
	raw := strings.Split(rest, "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, nil
		}
		segs[i] = d
	}
	for i := range g.routes {
		rt := &g.routes[i]
		if rt.httpMethod != method {
			continue
		}
		if params, ok := rt.match(segs); ok {
			return rt, params
		}
	}
	return nil, nil
}

func (rt *ghRoute) match(segs []string) (map[string]string, bool) {
	params := map[string]string{}
	for i, p := range rt.segs {
		name, isParam := strings.CutPrefix(p, "{")
		if isParam {
			name = strings.TrimSuffix(name, "}")
			if rest, ok := strings.CutSuffix(name, "*"); ok {
				if i >= len(segs) {
					return nil, false
				}
				for _, s := range segs[i:] {
					if s == "" {
						return nil, false
					}
				}
				params[rest] = strings.Join(segs[i:], "/")
				return params, true
			}
		}
		if i >= len(segs) {
			return nil, false
		}
		if isParam {
			if segs[i] == "" {
				return nil, false
			}
			params[name] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, len(segs) == len(rt.segs)
}

// decodeBody decodes a JSON request body into v; an empty body leaves v as it is.
func (c *ghCall) decodeBody(v any) *ghError {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return ghBadJSON()
	}
	return nil
}

// page cuts items to the requested page and sets GitHub's Link header.
func page[T any](c *ghCall, items []T) ([]T, http.Header) {
	q := c.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	p, err := strconv.Atoi(q.Get("page"))
	if err != nil || p <= 0 {
		p = 1
	}
	last := max(1, (len(items)+per-1)/per)
	start := min((p-1)*per, len(items))
	end := min(start+per, len(items))
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	var links []string
	link := func(n int, rel string) {
		v := c.r.URL.Query()
		v.Set("page", strconv.Itoa(n))
		v.Set("per_page", strconv.Itoa(per))
		links = append(links, fmt.Sprintf(`<%s%s?%s>; rel="%s"`, c.web, c.r.URL.Path, v.Encode(), rel))
	}
	if p < last {
		link(p+1, "next")
		link(last, "last")
	}
	if p > 1 {
		link(1, "first")
		link(p-1, "prev")
	}
	if len(links) == 0 {
		return out, nil
	}
	return out, http.Header{"Link": {strings.Join(links, ", ")}}
}

func (g *ghServer) repoURL(c *ghCall) string { return c.base + "/repos/" + g.fullName() }

func (g *ghServer) userJSON(c *ghCall, login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{"login": login, "id": loginID(login), "type": typ,
		"url": c.base + "/users/" + url.PathEscape(login), "html_url": c.web + "/" + url.PathEscape(login)}
}

func loginID(login string) int64 {
	var h int64 = 7
	for _, r := range login {
		h = h*31 + int64(r)
	}
	if h < 0 {
		h = -h
	}
	return h%1_000_000 + 1
}

func (g *ghServer) repoJSON(c *ghCall) map[string]any {
	return map[string]any{
		"id":             g.repoID,
		"node_id":        "R_sandbox" + strconv.FormatInt(g.repoID, 10),
		"name":           g.name,
		"full_name":      g.fullName(),
		"private":        true,
		"owner":          map[string]any{"login": g.owner, "id": loginID(g.owner), "type": "Organization"},
		"html_url":       c.web + "/" + g.fullName(),
		"url":            g.repoURL(c),
		"default_branch": g.branch,
		"visibility":     "private",
		"permissions":    map[string]bool{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
	}
}

func (g *ghServer) getRepo(c *ghCall) ghResp { return ghOK(g.repoJSON(c)) }

// pathOK reports whether p is a clean relative slash path, as a tree entry path must be.
func pathOK(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || path.Clean(p) != p {
		return false
	}
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." || s == ".git" {
			return false
		}
	}
	return true
}
