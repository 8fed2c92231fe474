package inventory

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"go.uber.org/zap"
	"google.golang.org/api/googleapi"
	iamadmin "google.golang.org/api/iam/v1"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The Google API services the live source calls; they name services in SourceError and in
// LiveConfig.Endpoints.
const (
	ServiceCompute         = "compute"
	ServiceResourceManager = "cloudresourcemanager"
	ServiceIAM             = "iam"
)

// LiveConfig configures the live source.
type LiveConfig struct {
	// Endpoint overrides the base URL of every GCP API (private endpoints, the sandbox),
	// e.g. "http://127.0.0.1:8085". Endpoints overrides it per service.
	Endpoint  string
	Endpoints map[string]string
	// Concurrency bounds how many projects are read at once; 0 means DefaultConcurrency.
	// Within a project, independent calls are made at once.
	Concurrency int
	// QPS caps the requests a second sent to each service (ServiceCompute,
	// ServiceResourceManager, ServiceIAM), retries included, over the whole scan. A service
	// missing or at 0 takes its DefaultQPS, unless its endpoint is an emulator (plain HTTP,
	// as the sandbox), which has no quota to keep to; a negative value lifts the cap.
	QPS map[string]float64
	// Retry is how calls that failed for a reason that may pass are retried.
	Retry RetryPolicy
	// Progress, when set, is called each time a project has been read, with the projects
	// done, the projects in the scan and the assets read so far (ancestors included). Calls
	// are serialised and done grows by one each time. See ProgressReporter.
	Progress func(done, total, assets int)
	// ClientOptions are added to every client (credentials, HTTP client, user agent).
	ClientOptions []option.ClientOption
	// WrapTransport, when set, wraps the HTTP transport of each service's clients (to
	// count calls by service and status). It sees every attempt, retries included.
	WrapTransport TransportWrapper
	// AssetTypes, when not empty, are the asset types a scan reads, e.g. those the enabled
	// rules read (scan.Scanner.AssetTypes): a project's lists and gets that yield none of
	// them are not called. Empty reads everything. Projects, with their IAM policies, and
	// their folders and organization are read whatever it says: they are the hierarchy
	// every other asset hangs from. See Live.Scan for the calls of each type.
	AssetTypes []string
}

// DefaultConcurrency is how many projects a scan reads at once by default. Each project
// keeps up to about eight calls in flight, so the scan keeps a few hundred: at 100 ms a
// call, 1,000 projects are read in a few seconds when the QPS limits allow it.
const DefaultConcurrency = 64

// TransportWrapper wraps the HTTP transport of the clients of one service (ServiceCompute,
// ServiceResourceManager, ServiceIAM, ServiceCloudAsset, ServiceStorage).
type TransportWrapper func(service string, rt http.RoundTripper) http.RoundTripper

// maxIdleConnsPerHost keeps enough idle connections for the calls a scan keeps in flight to
// one host over HTTP/1.1 (the sandbox, proxies); Go's default of 2 would close and reopen
// connections all the time. Google's endpoints speak HTTP/2, which needs one.
const maxIdleConnsPerHost = 256

// ServiceOptions returns the client options of one service reached at endpoint ("" for
// Google's own): base, the endpoint, and an HTTP client (its transport wrapped by wrap,
// when given) authenticated as base says, unless the endpoint is plain HTTP. A plain-HTTP
// endpoint is an emulator (the sandbox): no credentials are sent to it, since a token over
// plain HTTP would leak. The client follows no redirect to another host.
func ServiceOptions(ctx context.Context, service, endpoint string, base []option.ClientOption, wrap TransportWrapper) ([]option.ClientOption, error) {
	opts := slices.Clone(base)
	plain := strings.HasPrefix(endpoint, "http://")
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	if plain {
		opts = append(opts, option.WithoutAuthentication())
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, maxIdleConnsPerHost
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(service, tr)
	}
	if !plain {
		authed, err := htransport.NewTransport(ctx, rt, opts...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s client transport: %w", service, err)
		}
		rt = authed
	}
	// The authenticating transport adds the access token to every request it sends,
	// redirected ones included: a redirect elsewhere would hand the token to another host.
	// Google's APIs do not redirect, so one that does is refused.
	return append(opts, option.WithHTTPClient(&http.Client{Transport: rt, CheckRedirect: sameOriginRedirect})), nil
}

// sameOriginRedirect lets an HTTP client follow a redirect to the scheme, host and port
// of the first request only, at most five times.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	if first := via[0].URL; !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(req.URL.Host, first.Host) {
		return fmt.Errorf("refusing a redirect from %s to another host (%s): it would carry credentials there", first.Host, req.URL.Host)
	}
	return nil
}

// ServiceStorage is Cloud Storage: it names the service in SourceErrors about exported
// objects and in TransportWrapper calls.
const ServiceStorage = "storage"

// StorageOptions returns the client options of the Cloud Storage JSON API client
// (google.golang.org/api/storage/v1) reached at endpoint, a base URL such as
// "http://127.0.0.1:8085" under which the API's /storage/v1/ path lies ("" for Google's
// own), as ServiceOptions returns them for ServiceStorage.
func StorageOptions(ctx context.Context, endpoint string, base []option.ClientOption, wrap TransportWrapper) ([]option.ClientOption, error) {
	if endpoint != "" {
		endpoint = strings.TrimSuffix(endpoint, "/") + "/storage/v1/"
	}
	return ServiceOptions(ctx, ServiceStorage, endpoint, base, wrap)
}

// endpoint returns the base URL for service, or "" for Google's default.
func (c LiveConfig) endpoint(service string) string {
	if e := c.Endpoints[service]; e != "" {
		return strings.TrimSuffix(e, "/")
	}
	return strings.TrimSuffix(c.Endpoint, "/")
}

// SourceError is a part of the scope that could not be read. It is reported, not fatal:
// the rest of the scope is still scanned.
type SourceError struct {
	Project  string `json:"project,omitempty"`
	Service  string `json:"service"`
	Resource string `json:"resource,omitempty"`
	Code     int    `json:"code,omitempty"`   // HTTP status, when the API answered
	Reason   string `json:"reason,omitempty"` // e.g. accessNotConfigured, forbidden, notFound
	Message  string `json:"message"`
}

func (e SourceError) Error() string {
	var b strings.Builder
	if e.Project != "" {
		fmt.Fprintf(&b, "project %s: ", e.Project)
	}
	fmt.Fprintf(&b, "%s", e.Service)
	if e.Resource != "" {
		fmt.Fprintf(&b, " %s", e.Resource)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Code)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " %s", e.Reason)
	}
	fmt.Fprintf(&b, ": %s", e.Message)
	return b.String()
}

// Live reads assets from the GCP APIs through Google's Go clients and converts them into
// the CAI shape. The calls of each service go through one transport that keeps the service
// to its QPS limit and retries what may pass (see RetryPolicy), whichever client makes them.
type Live struct {
	cfg             LiveConfig
	log             *zap.Logger
	computeProjects *compute.ProjectsClient // a project's Compute Engine settings
	firewalls       *compute.FirewallsClient
	networks        *compute.NetworksClient
	subnetworks     *compute.SubnetworksClient
	instances       *compute.InstancesClient
	projects        *resourcemanager.ProjectsClient
	folders         *resourcemanager.FoldersClient
	orgs            *resourcemanager.OrganizationsClient
	iam             *iamadmin.Service
	stats           map[string]*serviceCounters // by service; its keys do not change after NewLive
	closers         []func() error
}

// NewLive creates the API clients. Credentials come from Application Default Credentials
// unless cfg.ClientOptions say otherwise.
func NewLive(ctx context.Context, cfg LiveConfig, log *zap.Logger) (*Live, error) {
	if log == nil {
		log = zap.NewNop()
	}
	l := &Live{cfg: cfg, log: log, stats: map[string]*serviceCounters{}}
	for _, svc := range []string{ServiceCompute, ServiceResourceManager, ServiceIAM} {
		l.stats[svc] = &serviceCounters{}
	}
	// Each service gets one transport, shared by its clients, and so one QPS limiter.
	wrap := func(service string, rt http.RoundTripper) http.RoundTripper {
		if cfg.WrapTransport != nil {
			rt = cfg.WrapTransport(service, rt)
		}
		emulator := strings.HasPrefix(cfg.endpoint(service), "http://")
		return newPolicyTransport(service, rt, qpsOf(cfg.QPS, service, emulator), cfg.Retry, l.stats[service], log)
	}
	options := func(service, suffix string) ([]option.ClientOption, error) {
		e := cfg.endpoint(service)
		if e != "" {
			e += suffix
		}
		return ServiceOptions(ctx, service, e, cfg.ClientOptions, wrap)
	}
	computeOpts, err := options(ServiceCompute, "")
	if err != nil {
		return nil, err
	}
	rmOpts, err := options(ServiceResourceManager, "")
	if err != nil {
		return nil, err
	}
	// The IAM admin discovery client joins paths to its base URL: it wants a final slash.
	iamOpts, err := options(ServiceIAM, "/")
	if err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		mk   func() error
	}{
		{"compute projects", func() error {
			l.computeProjects, err = compute.NewProjectsRESTClient(ctx, computeOpts...)
			return err
		}},
		{"compute firewalls", func() error { l.firewalls, err = compute.NewFirewallsRESTClient(ctx, computeOpts...); return err }},
		{"compute networks", func() error { l.networks, err = compute.NewNetworksRESTClient(ctx, computeOpts...); return err }},
		{"compute subnetworks", func() error { l.subnetworks, err = compute.NewSubnetworksRESTClient(ctx, computeOpts...); return err }},
		{"compute instances", func() error { l.instances, err = compute.NewInstancesRESTClient(ctx, computeOpts...); return err }},
		{"resource manager projects", func() error { l.projects, err = resourcemanager.NewProjectsRESTClient(ctx, rmOpts...); return err }},
		{"resource manager folders", func() error { l.folders, err = resourcemanager.NewFoldersRESTClient(ctx, rmOpts...); return err }},
		{"resource manager organizations", func() error {
			l.orgs, err = resourcemanager.NewOrganizationsRESTClient(ctx, rmOpts...)
			return err
		}},
		{"IAM admin", func() error { l.iam, err = iamadmin.NewService(ctx, iamOpts...); return err }},
	}
	for _, s := range steps {
		if err := s.mk(); err != nil {
			l.Close()
			return nil, fmt.Errorf("creating the %s client: %w", s.what, err)
		}
	}
	l.closers = []func() error{l.computeProjects.Close, l.firewalls.Close, l.networks.Close, l.subnetworks.Close,
		l.instances.Close, l.projects.Close, l.folders.Close, l.orgs.Close}
	// One retry policy for every call: the clients' own retries (resource manager retries
	// 503s, with a 60s timeout) would multiply the attempts and hide them from the limiter.
	*l.computeProjects.CallOptions = compute.ProjectsCallOptions{}
	*l.firewalls.CallOptions = compute.FirewallsCallOptions{}
	*l.networks.CallOptions = compute.NetworksCallOptions{}
	*l.subnetworks.CallOptions = compute.SubnetworksCallOptions{}
	*l.instances.CallOptions = compute.InstancesCallOptions{}
	*l.projects.CallOptions = resourcemanager.ProjectsCallOptions{}
	*l.folders.CallOptions = resourcemanager.FoldersCallOptions{}
	*l.orgs.CallOptions = resourcemanager.OrganizationsCallOptions{}
	return l, nil
}

// Close releases the clients.
func (l *Live) Close() error {
	var errs []error
	for _, c := range l.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Stats returns the HTTP traffic of each service since NewLive, sorted by service.
func (l *Live) Stats() []ServiceStats {
	out := make([]ServiceStats, 0, len(l.stats))
	for svc, c := range l.stats {
		out = append(out, c.snapshot(svc))
	}
	slices.SortFunc(out, func(a, b ServiceStats) int { return strings.Compare(a.Service, b.Service) })
	return out
}

// Scan reads every project in projects (IDs or numbers; repeats are read once) and its
// ancestors' IAM policies, and hands each asset to fn, one call at a time. The assets of a
// project are handed on together once it is read, in a stable order: the project, then its
// Compute Engine settings (compute.googleapis.com/Project), firewalls, networks,
// subnetworks, instances, service accounts and keys. Parts that cannot
// be read (a project that does not exist or is not permitted, an API that is disabled, an
// ancestor whose policy is denied) are returned as SourceErrors and the rest is still read.
// The error is non-nil only when fn fails or ctx ends.
//
// The calls per project are, with every asset type asked for (LiveConfig.AssetTypes empty,
// or the default rules'): getIamPolicy, the compute project (its common instance metadata,
// which no list returns), the four compute lists (firewalls, networks and the aggregated
// subnetworks and instances), the service account list (7 in all) plus one key list per
// service account, which the IAM API has no way to aggregate. With LiveConfig.AssetTypes
// set, getIamPolicy is always made, and the others only for the types that need them:
//
//	compute.googleapis.com/Project          compute projects.get
//	compute.googleapis.com/Firewall         compute firewalls.list
//	compute.googleapis.com/Network          compute networks.list
//	compute.googleapis.com/Subnetwork       compute subnetworks.aggregatedList
//	compute.googleapis.com/Instance         compute instances.aggregatedList
//	iam.googleapis.com/ServiceAccount       iam projects.serviceAccounts.list
//	iam.googleapis.com/ServiceAccountKey    iam projects.serviceAccounts.list, then keys.list per account
//
// so a scan of firewalls and networks alone makes 3 calls per project. Service accounts
// listed for their keys are handed on too. Of a project's compute calls, the first needed in
// the order firewalls, compute project, networks, subnetworks, instances is made alone
// first and the others once it has answered: when it fails (the API disabled, not
// permitted), they are not made. Projects are found by projects.search, up to
// 100 in one call, and read one by one (projects.get) only when the search misses them;
// each folder and organization is read once per scan.
func (l *Live) Scan(ctx context.Context, projects []string, fn func(*Asset) error) ([]SourceError, error) {
	start := time.Now()
	before := l.Stats()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	projects = uniq(projects)
	s := &liveScan{Live: l, fn: fn, cancel: cancel, ancestors: map[string]*ancestorInfo{}, total: len(projects),
		reads: readsFor(l.cfg.AssetTypes)}
	s.logSkipped()
	workers := l.cfg.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	jobs := make(chan projectJob)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		s.resolve(ctx, projects, jobs)
	})
	for range min(workers, len(projects)) {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() == nil {
					s.project(ctx, j)
				}
			}
		})
	}
	wg.Wait()
	s.logDone(start, before)
	if err := context.Cause(ctx); err != nil {
		return s.errs, err
	}
	slices.SortFunc(s.errs, func(a, b SourceError) int {
		return strings.Compare(a.Project+a.Service+a.Resource, b.Project+b.Service+b.Resource)
	})
	return s.errs, nil
}

// Project reads one project as a CAI asset (its data with labels, IAM policy and ancestry)
// without its resources: what judging a single change needs. It returns nil, nil when the
// project does not exist.
func (l *Live) Project(ctx context.Context, id string) (*Asset, error) {
	p, err := l.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + strings.TrimPrefix(id, "projects/")})
	if err != nil {
		if toSourceError(id, ServiceResourceManager, "projects/"+id, err).Code == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("reading project %s: %w", id, err)
	}
	s := &liveScan{Live: l, fn: func(*Asset) error { return nil }, cancel: func(error) {}, ancestors: map[string]*ancestorInfo{}}
	a := &Asset{Name: "//cloudresourcemanager.googleapis.com/" + p.GetName(), AssetType: TypeProject,
		Resource: &Resource{Data: mustJSON(projectDataV1(p))}}
	a.Ancestors = append([]string{p.GetName()}, s.ancestry(ctx, p.GetProjectId(), p.GetParent())...)
	policy, err := l.projects.GetIamPolicy(ctx, policyRequest(p.GetName()))
	if err != nil {
		return nil, fmt.Errorf("reading the IAM policy of project %s: %w", id, err)
	}
	a.IAMPolicy = fromIAMPolicy(policy)
	return a, nil
}

// uniq drops repeated entries, keeping the first.
func uniq(projects []string) []string {
	seen := make(map[string]bool, len(projects))
	out := make([]string, 0, len(projects))
	for _, p := range projects {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// liveReads says which of a project's reads besides its IAM policy a scan makes.
type liveReads struct {
	computeProject, firewalls, networks, subnetworks, instances bool
	accounts, keys                                              bool // keys need the accounts listed
}

// readsFor returns the reads the asset types need: all of them when types is empty.
func readsFor(types []string) liveReads {
	if len(types) == 0 {
		return liveReads{true, true, true, true, true, true, true}
	}
	has := func(t string) bool { return slices.Contains(types, t) }
	r := liveReads{
		computeProject: has(TypeComputeProject),
		firewalls:      has(TypeFirewall),
		networks:       has(TypeNetwork),
		subnetworks:    has(TypeSubnetwork),
		instances:      has(TypeInstance),
		keys:           has(TypeServiceAccountKey),
	}
	r.accounts = r.keys || has(TypeServiceAccount)
	return r
}

// compute reports whether any Compute Engine call is made.
func (r liveReads) compute() bool {
	return r.computeProject || r.firewalls || r.networks || r.subnetworks || r.instances
}

// skipped names the calls not made, as the sandbox and Google's discovery documents name
// the methods ("compute firewalls.list"), and the services not called at all.
func (r liveReads) skipped() (calls, services []string) {
	for _, c := range []struct {
		made bool
		name string
	}{
		{r.computeProject, "compute projects.get"},
		{r.firewalls, "compute firewalls.list"},
		{r.networks, "compute networks.list"},
		{r.subnetworks, "compute subnetworks.aggregatedList"},
		{r.instances, "compute instances.aggregatedList"},
		{r.accounts, "iam projects.serviceAccounts.list"},
		{r.keys, "iam projects.serviceAccounts.keys.list"},
	} {
		if !c.made {
			calls = append(calls, c.name)
		}
	}
	if !r.compute() {
		services = append(services, ServiceCompute)
	}
	if !r.accounts {
		services = append(services, ServiceIAM)
	}
	return calls, services
}

// logSkipped logs, once per scan, the calls that LiveConfig.AssetTypes leaves out (those
// for types no enabled rule reads) and the services the scan therefore never calls.
func (s *liveScan) logSkipped() {
	calls, services := s.reads.skipped()
	if len(calls) == 0 {
		return
	}
	s.log.Info("live scan skips the calls for asset types it was not asked for", zap.Strings("assetTypes", s.cfg.AssetTypes),
		zap.Strings("skippedCalls", calls), zap.Strings("skippedServices", services))
}

// liveScan is the state of one Scan.
type liveScan struct {
	*Live
	fn     func(*Asset) error
	cancel context.CancelCauseFunc
	total  int
	reads  liveReads // the calls made for each project

	mu        sync.Mutex // guards errs and ancestors
	errs      []SourceError
	ancestors map[string]*ancestorInfo // "folders/1", "organizations/2": read once per scan

	emitMu  sync.Mutex // serialises fn and Progress, and guards what follows
	emitted int        // assets handed to fn
	done    int        // projects read, or given up
	stopped bool       // fn failed: it is not called again
}

type ancestorInfo struct {
	ready  chan struct{} // closed once parent is known
	parent string        // "" at the top or when it could not be read
}

// emit hands one asset to fn.
func (s *liveScan) emit(a *Asset) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.emitLocked(a)
}

func (s *liveScan) emitLocked(a *Asset) bool {
	if s.stopped {
		return false
	}
	if err := s.fn(a); err != nil {
		s.stopped = true
		s.cancel(err)
		return false
	}
	s.emitted++
	return true
}

// finished hands on the assets of one project and reports the progress.
func (s *liveScan) finished(assets []*Asset) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	for _, a := range assets {
		if !s.emitLocked(a) {
			return
		}
	}
	s.done++
	if s.cfg.Progress != nil {
		s.cfg.Progress(s.done, s.total, s.emitted)
	}
}

func (s *liveScan) fail(project, service, resource string, err error) {
	se := toSourceError(project, service, resource, err)
	s.log.Warn("could not read part of the scope", zap.String("project", project), zap.String("service", service),
		zap.String("resource", resource), zap.Int("code", se.Code), zap.String("reason", se.Reason), zap.Error(err))
	s.mu.Lock()
	s.errs = append(s.errs, se)
	s.mu.Unlock()
}

// logDone logs what the scan read and the traffic it made.
func (s *liveScan) logDone(start time.Time, before []ServiceStats) {
	s.emitMu.Lock()
	fields := []zap.Field{zap.Int("projects", s.total), zap.Int("projectsRead", s.done), zap.Int("assets", s.emitted)}
	s.emitMu.Unlock()
	s.mu.Lock()
	fields = append(fields, zap.Int("sourceErrors", len(s.errs)))
	s.mu.Unlock()
	fields = append(fields, zap.Duration("took", time.Since(start)))
	for i, st := range s.Stats() {
		b := before[i]
		fields = append(fields, zap.Dict(st.Service, zap.Int64("attempts", st.Attempts-b.Attempts),
			zap.Int64("retries", st.Retries-b.Retries), zap.Int64("gaveUp", st.GaveUp-b.GaveUp),
			zap.Duration("throttled", st.Throttled-b.Throttled), zap.Duration("backoff", st.Backoff-b.Backoff)))
	}
	s.log.Info("live scan done", fields...)
}

// projectJob is one project to read: its ID or number as given, and the project itself when
// a search has found it.
type projectJob struct {
	id      string
	project *resourcemanagerpb.Project
}

const (
	// searchBatch is how many project IDs one projects.search asks for: about 4 KB of URL.
	searchBatch = 100
	// searchParallel bounds the searches in flight (Google allows 4 a second by default).
	searchParallel = 4
	// keyListParallel bounds the key lists of one project in flight.
	keyListParallel = 8
)

// resolve hands every project to the workers, having searched for those given by ID in
// batches, so that most projects need no call of their own to be found.
func (s *liveScan) resolve(ctx context.Context, projects []string, jobs chan<- projectJob) {
	send := func(j projectJob) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var ids []string
	for _, p := range projects {
		if searchable(p) {
			ids = append(ids, p)
		} else if !send(projectJob{id: p}) {
			return
		}
	}
	sem := make(chan struct{}, searchParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for batch := range slices.Chunk(ids, searchBatch) {
		if len(batch) == 1 { // a search would cost as much as the get, and be less fresh
			if !send(projectJob{id: batch[0]}) {
				return
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			found := s.search(ctx, batch)
			for _, id := range batch {
				if !send(projectJob{id: id, project: found[id]}) {
					return
				}
			}
		})
	}
}

// searchable reports whether p is a project ID a search query can name as it is: a letter
// followed by lower-case letters, digits and hyphens. Numbers and domain-scoped IDs
// (example.com:p) are read one by one.
func searchable(p string) bool {
	if p == "" || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for _, c := range p {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// search finds the projects of ids with one projects.search call, returning them by ID.
// Search is eventually consistent and shows only the projects the caller may get; those it
// misses are read one by one, which also reports why one cannot be read. A failed search is
// logged, not reported: the projects are then all read one by one.
func (s *liveScan) search(ctx context.Context, ids []string) map[string]*resourcemanagerpb.Project {
	want := make(map[string]bool, len(ids))
	terms := make([]string, len(ids))
	for i, id := range ids {
		want[id] = true
		terms[i] = "id:" + id
	}
	// A query of several terms matches any of them: Resource Manager v3 documents
	// "labels.color:red labels.size:big" as red or big.
	it := s.projects.SearchProjects(ctx, &resourcemanagerpb.SearchProjectsRequest{
		Query: strings.Join(terms, " "), PageSize: int32(len(ids)),
	})
	found := make(map[string]*resourcemanagerpb.Project, len(ids))
	// A server reading the query more broadly is not followed page after page.
	for seen := 0; len(found) < len(ids) && seen < 2*len(ids); seen++ {
		p, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("searching projects failed: reading them one by one", zap.Int("projects", len(ids)), zap.Error(err))
			}
			break
		}
		if want[p.GetProjectId()] {
			found[p.GetProjectId()] = p
		}
	}
	s.log.Debug("searched projects", zap.Int("asked", len(ids)), zap.Int("found", len(found)))
	return found
}

// projectRead collects the assets of one project by kind, so that they are handed on in a
// stable order whatever order the calls end in. Each field is written by one goroutine.
type projectRead struct {
	id, number                                  string
	computeProject                              []*Asset // none when the project has no compute settings
	firewalls, networks, subnetworks, instances []*Asset
	accounts                                    []*Asset
	keys                                        [][]*Asset // by account, in the order of accounts
}

// assets lists what was read in the order Scan documents: the compute project first among
// the compute assets, then firewalls, networks, subnetworks, instances, service accounts
// and their keys.
func (r *projectRead) assets() []*Asset {
	out := slices.Concat(r.computeProject, r.firewalls, r.networks, r.subnetworks, r.instances, r.accounts)
	for _, k := range r.keys {
		out = append(out, k...)
	}
	return out
}

// project reads one project: its IAM policy, its ancestors, and those of its compute
// resources and service accounts the scan asks for, at once. A failure to read the project
// itself skips it; a failure of one API skips only that API's resources.
func (s *liveScan) project(ctx context.Context, job projectJob) {
	p := job.project
	if p == nil {
		s.log.Debug("reading project", zap.String("project", job.id))
		var err error
		p, err = s.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + job.id})
		if err != nil {
			if ctx.Err() == nil {
				s.fail(job.id, ServiceResourceManager, "projects/"+job.id, err)
				s.finished(nil)
			}
			return
		}
	}
	r := &projectRead{id: p.GetProjectId(), number: strings.TrimPrefix(p.GetName(), "projects/")}
	var (
		ancestors []string
		policy    *iampb.Policy
		wg        sync.WaitGroup
	)
	wg.Go(func() { ancestors = append([]string{p.GetName()}, s.ancestry(ctx, r.id, p.GetParent())...) })
	wg.Go(func() {
		var err error
		policy, err = s.projects.GetIamPolicy(ctx, policyRequest(p.GetName()))
		if err != nil && ctx.Err() == nil {
			s.fail(r.id, ServiceResourceManager, p.GetName()+":getIamPolicy", err)
		}
	})
	if s.reads.compute() {
		wg.Go(func() { s.computeAssets(ctx, r) })
	}
	if s.reads.accounts {
		wg.Go(func() { s.iamAssets(ctx, r) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	projectAsset := &Asset{
		Name:      "//cloudresourcemanager.googleapis.com/" + p.GetName(),
		AssetType: TypeProject,
		Resource:  &Resource{Data: mustJSON(projectDataV1(p))},
	}
	if policy != nil {
		projectAsset.IAMPolicy = fromIAMPolicy(policy)
	}
	assets := append([]*Asset{projectAsset}, r.assets()...)
	for _, a := range assets {
		a.Ancestors = ancestors
	}
	s.finished(assets)
}

// projectDataV1 writes a v3 project in the v1 shape CAI exports.
func projectDataV1(p *resourcemanagerpb.Project) map[string]any {
	d := map[string]any{
		"projectId":      p.GetProjectId(),
		"projectNumber":  strings.TrimPrefix(p.GetName(), "projects/"),
		"name":           p.GetDisplayName(),
		"lifecycleState": p.GetState().String(),
		"labels":         p.GetLabels(),
	}
	if kind, id, ok := strings.Cut(p.GetParent(), "s/"); ok {
		d["parent"] = map[string]string{"type": kind, "id": id}
	}
	return d
}

// ancestry returns the ancestors above a resource whose parent is parent, reading each
// folder and organization (and its IAM policy) only once per scan.
func (s *liveScan) ancestry(ctx context.Context, project, parent string) []string {
	var out []string
	for parent != "" && ctx.Err() == nil && len(out) < 12 { // folders nest at most 10 deep
		out = append(out, parent)
		parent = s.ancestor(ctx, project, parent)
	}
	return out
}

// ancestor reads one folder or organization (and its IAM policy, at once) the first time it
// is met, emits it, and returns its parent. Later callers wait for the first read.
func (s *liveScan) ancestor(ctx context.Context, project, name string) string {
	s.mu.Lock()
	info, seen := s.ancestors[name]
	if !seen {
		info = &ancestorInfo{ready: make(chan struct{})}
		s.ancestors[name] = info
	}
	s.mu.Unlock()
	if seen {
		select {
		case <-info.ready:
		case <-ctx.Done():
		}
		return info.parent
	}
	defer close(info.ready)

	a := &Asset{Name: "//cloudresourcemanager.googleapis.com/" + name}
	var (
		policy *iampb.Policy
		perr   error
		wg     sync.WaitGroup
	)
	report := func(resource string, err error) {
		if ctx.Err() == nil {
			s.fail(project, ServiceResourceManager, resource, err)
		}
	}
	switch {
	case strings.HasPrefix(name, "folders/"):
		a.AssetType = TypeFolder
		wg.Go(func() { policy, perr = s.folders.GetIamPolicy(ctx, policyRequest(name)) })
		if f, err := s.folders.GetFolder(ctx, &resourcemanagerpb.GetFolderRequest{Name: name}); err != nil {
			report(name, err)
		} else {
			info.parent = f.GetParent()
			a.Resource = &Resource{Data: protoJSON(f)}
		}
	case strings.HasPrefix(name, "organizations/"):
		a.AssetType = TypeOrganization
		wg.Go(func() { policy, perr = s.orgs.GetIamPolicy(ctx, policyRequest(name)) })
		if o, err := s.orgs.GetOrganization(ctx, &resourcemanagerpb.GetOrganizationRequest{Name: name}); err != nil {
			report(name, err)
		} else {
			a.Resource = &Resource{Data: protoJSON(o)}
		}
	default:
		s.fail(project, ServiceResourceManager, name, fmt.Errorf("unknown kind of parent %q", name))
		return ""
	}
	wg.Wait()
	if perr != nil {
		// Reading an ancestor's policy needs rights many scanners lack: report it.
		report(name+":getIamPolicy", perr)
	} else {
		a.IAMPolicy = fromIAMPolicy(policy)
	}
	if info.parent != "" {
		a.Ancestors = append([]string{name}, s.ancestryAbove(info.parent)...)
	} else {
		a.Ancestors = []string{name}
	}
	if (a.Resource != nil || a.IAMPolicy != nil) && ctx.Err() == nil {
		s.emit(a)
	}
	return info.parent
}

// ancestryAbove lists the ancestors from name upwards as far as they are already known.
func (s *liveScan) ancestryAbove(name string) []string {
	out := []string{name}
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(out) < 12 {
		info, ok := s.ancestors[out[len(out)-1]]
		if !ok {
			break
		}
		select {
		case <-info.ready:
		default:
			return out
		}
		if info.parent == "" {
			break
		}
		out = append(out, info.parent)
	}
	return out
}

func policyRequest(resource string) *iampb.GetIamPolicyRequest {
	return &iampb.GetIamPolicyRequest{
		Resource: resource,
		// Version 3 returns conditional bindings as they are, instead of hiding them.
		Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3},
	}
}

// computeAssets reads those of one project's Compute Engine resources the scan asks for:
// firewalls, its settings (the compute project, whose common instance metadata no list
// returns), networks, subnetworks (aggregated over regions) and instances (aggregated over
// zones). The first of them asked for, in that order, is read alone first (firewalls, when
// they are asked for): when the Compute API fails there (disabled, not permitted), the
// failure is reported once and the rest is not asked for. The others are then read at
// once, and failures alike in code and reason reported once. A compute project that is not
// found (404) is no failure: the project has no compute settings to judge, and no asset
// stands for them.
func (s *liveScan) computeAssets(ctx context.Context, r *projectRead) {
	base := "//compute.googleapis.com/projects/" + r.id
	parent := "//cloudresourcemanager.googleapis.com/projects/" + r.number
	mk := func(assetType, name, location string, m proto.Message) *Asset {
		return &Asset{Name: name, AssetType: assetType,
			Resource: &Resource{Version: "v1", DiscoveryName: assetType[strings.LastIndexByte(assetType, '/')+1:],
				Parent: parent, Location: location, Data: protoJSON(m)}}
	}
	// Each read writes its own field of r; what names it in SourceErrors.
	type read struct {
		what string
		need bool
		do   func() error
	}
	reads := []read{
		{"firewalls", s.reads.firewalls, func() error {
			fws := s.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: r.id})
			return each(fws.Next, func(f *computepb.Firewall) {
				r.firewalls = append(r.firewalls, mk(TypeFirewall, base+"/global/firewalls/"+f.GetName(), "global", f))
			})
		}},
		{"project", s.reads.computeProject, func() error {
			p, err := s.computeProjects.Get(ctx, &computepb.GetProjectRequest{Project: r.id})
			switch {
			case err == nil:
				r.computeProject = []*Asset{mk(TypeComputeProject, base, "global", p)}
			case toSourceError(r.id, ServiceCompute, "project", err).Code != http.StatusNotFound:
				return err
			}
			return nil
		}},
		{"networks", s.reads.networks, func() error {
			nets := s.networks.List(ctx, &computepb.ListNetworksRequest{Project: r.id})
			return each(nets.Next, func(n *computepb.Network) {
				r.networks = append(r.networks, mk(TypeNetwork, base+"/global/networks/"+n.GetName(), "global", n))
			})
		}},
		{"aggregated subnetworks", s.reads.subnetworks, func() error {
			subnets := s.subnetworks.AggregatedList(ctx, &computepb.AggregatedListSubnetworksRequest{Project: r.id})
			return each(subnets.Next, func(p compute.SubnetworksScopedListPair) {
				region := strings.TrimPrefix(p.Key, "regions/")
				for _, sn := range p.Value.GetSubnetworks() {
					r.subnetworks = append(r.subnetworks, mk(TypeSubnetwork, base+"/regions/"+region+"/subnetworks/"+sn.GetName(), region, sn))
				}
			})
		}},
		{"aggregated instances", s.reads.instances, func() error {
			insts := s.instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{Project: r.id})
			return each(insts.Next, func(p compute.InstancesScopedListPair) {
				zone := strings.TrimPrefix(p.Key, "zones/")
				for _, in := range p.Value.GetInstances() {
					r.instances = append(r.instances, mk(TypeInstance, base+"/zones/"+zone+"/instances/"+in.GetName(), zone, in))
				}
			})
		}},
	}
	reads = slices.DeleteFunc(reads, func(rd read) bool { return !rd.need })
	if len(reads) == 0 {
		return
	}
	if err := reads[0].do(); err != nil {
		if ctx.Err() == nil {
			s.fail(r.id, ServiceCompute, reads[0].what, err)
		}
		return
	}
	rest := reads[1:]
	errs := make([]error, len(rest))
	var wg sync.WaitGroup
	for i, rd := range rest {
		wg.Go(func() { errs[i] = rd.do() })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	reported := map[[2]string]bool{}
	for i, err := range errs {
		if err == nil {
			continue
		}
		se := toSourceError(r.id, ServiceCompute, rest[i].what, err)
		key := [2]string{strconv.Itoa(se.Code), se.Reason}
		if reported[key] {
			s.log.Debug("compute failed alike again", zap.String("project", r.id), zap.String("resource", rest[i].what), zap.Error(err))
			continue
		}
		reported[key] = true
		s.fail(r.id, ServiceCompute, rest[i].what, err)
	}
}

// each drains an iterator into use, returning the error that stopped it, if any.
func each[T any](next func() (T, error), use func(T)) error {
	for {
		v, err := next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return err
		}
		use(v)
	}
}

// iamAssets reads the project's service accounts and, when the scan asks for keys, their
// user-managed keys. IAM lists keys one service account at a time (in
// projects/P/serviceAccounts/A/keys the "-" wildcard may stand for P, never for A), so keys
// cost one call per account; a few run at once.
func (s *liveScan) iamAssets(ctx context.Context, r *projectRead) {
	var accounts []*iamadmin.ServiceAccount
	err := s.iam.Projects.ServiceAccounts.List("projects/"+r.id).PageSize(100).Pages(ctx,
		func(resp *iamadmin.ListServiceAccountsResponse) error {
			accounts = append(accounts, resp.Accounts...)
			return nil
		})
	if err != nil {
		if ctx.Err() == nil {
			s.fail(r.id, ServiceIAM, "serviceAccounts", err)
		}
		return
	}
	base := "//iam.googleapis.com/projects/" + r.id + "/serviceAccounts/"
	names := make([]string, len(accounts))
	for i, sa := range accounts {
		// CAI names service accounts by unique ID.
		names[i] = base + first(sa.UniqueId, sa.Email)
		r.accounts = append(r.accounts, &Asset{Name: names[i], AssetType: TypeServiceAccount,
			Resource: &Resource{Version: "v1", DiscoveryName: "ServiceAccount", Data: mustJSON(sa)}})
	}
	if !s.reads.keys {
		return
	}
	r.keys = make([][]*Asset, len(accounts))
	sem := make(chan struct{}, keyListParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, sa := range accounts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			keys, err := s.iam.Projects.ServiceAccounts.Keys.List(sa.Name).KeyTypes("USER_MANAGED").Context(ctx).Do()
			if err != nil {
				if ctx.Err() == nil {
					s.fail(r.id, ServiceIAM, sa.Name+"/keys", err)
				}
				return
			}
			for _, k := range keys.Keys {
				keyID := k.Name[strings.LastIndexByte(k.Name, '/')+1:]
				r.keys[i] = append(r.keys[i], &Asset{Name: names[i] + "/keys/" + keyID, AssetType: TypeServiceAccountKey,
					Resource: &Resource{Version: "v1", DiscoveryName: "ServiceAccountKey", Data: mustJSON(k)}})
			}
		})
	}
}

// fromIAMPolicy converts the API's policy into the asset model.
func fromIAMPolicy(p *iampb.Policy) *Policy {
	out := &Policy{Version: int(p.GetVersion()), Etag: base64.StdEncoding.EncodeToString(p.GetEtag())}
	for _, b := range p.GetBindings() {
		nb := Binding{Role: b.GetRole(), Members: b.GetMembers()}
		if c := b.GetCondition(); c != nil {
			nb.Condition = &Condition{Title: c.GetTitle(), Description: c.GetDescription(), Expression: c.GetExpression()}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	for _, ac := range p.GetAuditConfigs() {
		c := AuditConfig{Service: ac.GetService()}
		for _, l := range ac.GetAuditLogConfigs() {
			c.AuditLogConfigs = append(c.AuditLogConfigs, AuditLogConfig{LogType: l.GetLogType().String(), ExemptedMembers: l.GetExemptedMembers()})
		}
		out.AuditConfigs = append(out.AuditConfigs, c)
	}
	return out
}

// protoJSON writes a message as its REST representation (the JSON names Google's REST API
// uses, e.g. sourceRanges and IPProtocol).
func protoJSON(m proto.Message) json.RawMessage {
	b, err := protojson.Marshal(m)
	if err != nil {
		// Marshalling a message the client has just decoded cannot fail; keep the asset.
		return json.RawMessage("{}")
	}
	return b
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// toSourceError extracts the HTTP status and Google's reason from an API error.
func toSourceError(project, service, resource string, err error) SourceError {
	se := SourceError{Project: project, Service: service, Resource: resource, Message: err.Error()}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		se.Code, se.Message = gerr.Code, first(gerr.Message, http.StatusText(gerr.Code))
		if len(gerr.Errors) > 0 {
			se.Reason = gerr.Errors[0].Reason
		}
		for _, d := range gerr.Details {
			if m, ok := d.(map[string]any); ok && se.Reason == "" {
				if r, ok := m["reason"].(string); ok {
					se.Reason = r
				}
			}
		}
	}
	type apiError interface {
		HTTPCode() int
		Reason() string
	}
	var aerr apiError
	if errors.As(err, &aerr) {
		if c := aerr.HTTPCode(); c > 0 {
			se.Code = c
		}
		if r := aerr.Reason(); r != "" {
			se.Reason = r
		}
	}
	return se
}
