// Package sandbox emulates the Google Cloud REST APIs zerodrift uses — Compute Engine,
// Resource Manager v3, IAM v1, Cloud Asset Inventory v1 (ListAssets, ExportAssets) and the
// Cloud Storage objects it reads and exports write — seeded from a scenario: a Cloud Asset
// Inventory export and a few options.
//
// It is the demo, the test double and the fault injector. zerodrift's production code talks
// to it through the real Google Go clients pointed at it:
//
//	srv, _ := sandbox.New(sc)
//	url, _ := srv.Start("127.0.0.1:0")
//	fw, _ := compute.NewFirewallsRESTClient(ctx, option.WithEndpoint(url), option.WithoutAuthentication())
//	rm, _ := resourcemanager.NewProjectsRESTClient(ctx, option.WithEndpoint(url), option.WithoutAuthentication())
//	ia, _ := iam.NewService(ctx, option.WithEndpoint(url+"/"), option.WithoutAuthentication())
//
// All APIs share one listener. State lives in memory behind one mutex, so a read sees
// every earlier write. Answers use Google's paths, JSON and error shapes. Each method knows
// the IAM permissions Google requires of its caller; WithPermissions enforces a permission
// set, denying what it lacks as Google does (permissions.go).
//
// The same listener serves a GitHub emulator under /api/v3/ (GitHub Enterprise style): one
// repository whose base branch holds the scenario's iac/ tree, with the Git Data, pulls,
// issue comments and labels endpoints that the pullrequest package uses (github.go):
//
//	gh, _ := github.NewClient(nil).WithAuthToken(sandbox.DefaultGitHubToken).
//		WithEnterpriseURLs(url+"/api/v3/", url+"/api/uploads/")
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Service names used in CallCount and Faults.Match.
const (
	ServiceCompute         = "compute"
	ServiceResourceManager = "cloudresourcemanager"
	ServiceIAM             = "iam"
	// ServiceGitHub is the GitHub emulator (see github.go); its methods are named as in
	// GitHub's REST documentation, e.g. "pulls.create", "git.createTree".
	ServiceGitHub = "github"
)

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 8 << 20

// Server is the emulator: an http.Handler serving every emulated API, with in-memory
// state seeded from a Scenario. It is safe for concurrent use.
type Server struct {
	mu       sync.Mutex
	st       *state
	denied   map[string]bool            // canonical resource manager names
	disabled map[string]map[string]bool // project ID → API → disabled
	routes   []route

	callsMu sync.Mutex
	calls   map[callKey]int

	faults faultInjector

	perms permissionSet // the IAM permissions enforced, if any (permissions.go)

	gh *ghServer // the GitHub emulator, served under /api/

	objects *objectStore // Cloud Storage (gcs.go)

	feed assetFeed // the asset feed, when set (feed.go)

	srvMu    sync.Mutex
	httpSrv  *http.Server
	url      string
	serveErr chan error
}

// Option configures a Server.
type Option func(*settings)

type settings struct {
	faults  *Faults
	profile *Profile // replaces faults (WithFaultProfile)
	now     func() time.Time
	github  GitHubOptions
	storage fs.FS

	permissions []string // enforced when non-nil (WithPermissions)
}

// WithFaults starts the server with faults injected; see Server.SetFaults.
func WithFaults(f Faults) Option {
	return func(s *settings) { s.faults = &f }
}

// WithClock sets the clock that dates created resources and operations (time.Now by
// default), so that a test can have stable answers.
func WithClock(now func() time.Time) Option {
	return func(s *settings) { s.now = now }
}

// New builds a server seeded from the scenario. The scenario is not modified nor retained.
func New(sc *Scenario, opts ...Option) (*Server, error) {
	if sc == nil {
		return nil, errors.New("building sandbox: no scenario")
	}
	var set settings
	for _, o := range opts {
		o(&set)
	}
	merged, err := mergeAssets(sc.Assets)
	if err != nil {
		return nil, fmt.Errorf("building sandbox: %w", err)
	}
	st, err := newState(merged, set.now)
	if err != nil {
		return nil, fmt.Errorf("building sandbox: %w", err)
	}
	if err := checkOptions(sc.Options, st); err != nil {
		return nil, fmt.Errorf("building sandbox: scenario options: %w", err)
	}
	s := &Server{
		st:       st,
		denied:   map[string]bool{},
		disabled: map[string]map[string]bool{},
		calls:    map[callKey]int{},
	}
	objects := set.storage
	if objects == nil {
		objects = sc.State
	}
	s.objects = newObjectStore(objects, sc.Options.Buckets, set.now)
	for _, d := range sc.Options.DeniedPolicies {
		name, err := st.policyResource(d)
		if err != nil {
			return nil, fmt.Errorf("building sandbox: deniedPolicies: %w", err)
		}
		s.denied[name] = true
	}
	for p, svcs := range sc.Options.DisabledServices {
		id := st.project(p).key()
		if s.disabled[id] == nil {
			s.disabled[id] = map[string]bool{}
		}
		for _, svc := range svcs {
			s.disabled[id][svc] = true
		}
	}
	s.routes = s.buildRoutes()
	attachPermissions(s.routes)
	if set.permissions != nil {
		if err := s.SetPermissions(set.permissions); err != nil {
			return nil, fmt.Errorf("building sandbox: %w", err)
		}
	}
	if s.gh, err = newGitHub(sc.IaC, set.github, set.now); err != nil {
		return nil, fmt.Errorf("building sandbox: github: %w", err)
	}
	if set.faults != nil {
		if err := s.SetFaults(*set.faults); err != nil {
			return nil, fmt.Errorf("building sandbox: %w", err)
		}
	}
	if set.profile != nil {
		if err := s.SetFaultProfile(*set.profile); err != nil {
			return nil, fmt.Errorf("building sandbox: %w", err)
		}
	}
	return s, nil
}

// Start serves the server on addr ("127.0.0.1:0" when empty, for a free port) and returns
// its base URL, e.g. "http://127.0.0.1:38451". It fails while the server is already serving.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.httpSrv != nil {
		return "", fmt.Errorf("starting sandbox on %s: already serving on %s", addr, s.url)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("starting sandbox: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.httpSrv, s.url = srv, "http://"+ln.Addr().String()
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- srv.Serve(ln) }()
	return s.url, nil
}

// URL returns the base URL Start is serving on; "" before Start.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close stops serving, closing open connections; it is a no-op when not started.
func (s *Server) Close() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.httpSrv == nil {
		return nil
	}
	err := s.httpSrv.Close()
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	s.httpSrv = nil
	if err != nil {
		return fmt.Errorf("closing sandbox: %w", err)
	}
	return nil
}

// Projects returns the IDs of the scenario's projects, sorted: those of Project assets and
// those that resources name.
func (s *Server) Projects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.projectIDs()
}

// Assets returns the current state as CAI assets (resource and IAM policy on one asset),
// sorted by name. The caller owns the result.
func (s *Server) Assets() []*inventory.Asset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.assets()
}

// CallCount counts the calls answered for one service, method and HTTP status.
type CallCount struct {
	// Service is "compute", "cloudresourcemanager", "iam", "cloudasset", "storage" or
	// "github" ("unknown" for a path that names no API).
	Service string
	// Method is the API method as Google's discovery documents name it without the service,
	// e.g. "firewalls.list", "projects.getIamPolicy", "projects.serviceAccounts.keys.disable";
	// "unknown" for a path the sandbox does not serve.
	Method string
	// Status is the HTTP status answered; 499 when the client went away first.
	Status int
	Count  int
}

type callKey struct {
	service, method string
	status          int
}

// Calls returns the calls answered so far, sorted by service, method and status. Calls to
// the sandbox's own /sandbox/ endpoints are not counted.
func (s *Server) Calls() []CallCount {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	out := make([]CallCount, 0, len(s.calls))
	for k, n := range s.calls {
		out = append(out, CallCount{Service: k.service, Method: k.method, Status: k.status, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Status < b.Status
	})
	return out
}

// ResetCalls forgets the calls counted so far.
func (s *Server) ResetCalls() {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	clear(s.calls)
}

func (s *Server) count(service, method string, status int) {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	s.calls[callKey{service, method, status}]++
}

// statusClientClosed is counted when the client went away before the answer.
const statusClientClosed = 499

// ServeHTTP answers one API call: route, count, inject faults, check the project's
// services and the caller's permissions (when enforced), then run the method against the
// state under the server's lock.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isGitHubPath(r.URL.Path) {
		s.serveGitHub(w, r)
		return
	}
	if isGCSPath(r.URL.Path) {
		s.serveGCS(w, r)
		return
	}
	rt, params := s.match(r.Method, r.URL.Path)
	if rt == nil {
		svc := serviceOfPath(r.URL.Path)
		s.count(svc, "unknown", http.StatusNotFound)
		writeError(w, errNotFound(fmt.Sprintf("The requested URL %s was not found on this server.", r.URL.Path)))
		return
	}
	c := &call{r: r, params: params, route: rt}
	status, body, aerr := s.serve(r.Context(), c)
	if rt.service != serviceSandbox {
		s.count(rt.service, rt.method, status)
	}
	switch {
	case status == statusClientClosed:
		return
	case aerr != nil:
		writeError(w, aerr)
	default:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// serve runs one routed call and returns the status and either the encoded body or the
// error to answer.
func (s *Server) serve(ctx context.Context, c *call) (int, []byte, *apiError) {
	if c.route.service != serviceSandbox {
		if ferr, err := s.faults.inject(ctx, c.route.service, c.route.method); err != nil {
			return statusClientClosed, nil, nil
		} else if ferr != nil {
			return ferr.code, nil, ferr
		}
	}
	if c.r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(c.r.Body, maxBodyBytes+1))
		if err != nil {
			return statusClientClosed, nil, nil
		}
		if len(b) > maxBodyBytes {
			e := errBadRequest("Request body too large.")
			return e.code, nil, e
		}
		c.body = b
	}
	defer s.flushFeed(ctx, c) // after the unlock below: publishes what the call changed (feed.go)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.checkService(c); e != nil {
		return e.code, nil, e
	}
	if e := s.checkPermissions(c); e != nil {
		return e.code, nil, e
	}
	if !c.route.readOnly() {
		s.st.beginWrite()
		defer s.st.endWrite()
	}
	resp := s.handleFed(c)
	if resp.err != nil {
		return resp.err.code, nil, resp.err
	}
	body := resp.body
	if body == nil {
		body = map[string]any{}
	}
	b, err := json.Marshal(body)
	if err != nil {
		e := &apiError{code: http.StatusInternalServerError, message: "encoding response: " + err.Error()}
		return e.code, nil, e
	}
	status := resp.status
	if status == 0 {
		status = http.StatusOK
	}
	return status, b, nil
}

// checkService answers 403 accessNotConfigured when the route's API is disabled in the
// project the call names.
func (s *Server) checkService(c *call) *apiError {
	api := apiOfService(c.route.service)
	p, ok := c.params["project"]
	if api == "" || !ok || p == "-" {
		return nil
	}
	ref := s.st.project(p)
	if ref == nil || !s.disabled[ref.key()][api] {
		return nil
	}
	consumer := ref.number
	if consumer == "" {
		consumer = ref.id
	}
	return errServiceDisabled(api, consumer)
}

func apiOfService(service string) string {
	switch service {
	case ServiceCompute:
		return apiCompute
	case ServiceIAM:
		return apiIAM
	case ServiceResourceManager:
		return apiResourceManager
	}
	return ""
}

func serviceOfPath(p string) string {
	switch {
	case strings.HasPrefix(p, "/compute/"):
		return ServiceCompute
	case strings.HasPrefix(p, "/v3/"):
		return ServiceResourceManager
	case strings.HasPrefix(p, "/v1/"):
		return ServiceIAM
	}
	return "unknown"
}
