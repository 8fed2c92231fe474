package inventory

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

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
	// Concurrency bounds how many projects are read at once; 0 means 4.
	Concurrency int
	// ClientOptions are added to every client (credentials, HTTP client, user agent).
	ClientOptions []option.ClientOption
	// WrapTransport, when set, wraps the HTTP transport of each service's clients (to
	// count calls by service and status).
	WrapTransport TransportWrapper
}

// TransportWrapper wraps the HTTP transport of the clients of one service (ServiceCompute,
// ServiceResourceManager, ServiceIAM, "storage").
type TransportWrapper func(service string, rt http.RoundTripper) http.RoundTripper

// ServiceOptions returns the client options of one service reached at endpoint ("" for
// Google's own): base, the endpoint, and, with wrap, an HTTP client whose transport wrap
// has wrapped — authenticated as base says, unless the endpoint is plain HTTP. A plain-HTTP
// endpoint is an emulator (the sandbox): no credentials are sent to it, since a token over
// plain HTTP would leak.
func ServiceOptions(ctx context.Context, service, endpoint string, base []option.ClientOption, wrap TransportWrapper) ([]option.ClientOption, error) {
	opts := slices.Clone(base)
	plain := strings.HasPrefix(endpoint, "http://")
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	if plain {
		opts = append(opts, option.WithoutAuthentication())
	}
	if wrap == nil {
		return opts, nil
	}
	rt := wrap(service, http.DefaultTransport.(*http.Transport).Clone())
	if !plain {
		authed, err := htransport.NewTransport(ctx, rt, opts...)
		if err != nil {
			return nil, fmt.Errorf("creating the %s client transport: %w", service, err)
		}
		rt = authed
	}
	return append(opts, option.WithHTTPClient(&http.Client{Transport: rt})), nil
}

// endpoint returns the base URL for service, or "" for Google's default.
func (c LiveConfig) endpoint(service string) string {
	if e := c.Endpoints[service]; e != "" {
		return strings.TrimSuffix(e, "/")
	}
	return strings.TrimSuffix(c.Endpoint, "/")
}

// options builds the client options of one service; suffix is appended to an overridden
// endpoint.
func (c LiveConfig) options(ctx context.Context, service, suffix string) ([]option.ClientOption, error) {
	e := c.endpoint(service)
	if e != "" {
		e += suffix
	}
	return ServiceOptions(ctx, service, e, c.ClientOptions, c.WrapTransport)
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
// the CAI shape.
type Live struct {
	cfg         LiveConfig
	log         *zap.Logger
	firewalls   *compute.FirewallsClient
	networks    *compute.NetworksClient
	subnetworks *compute.SubnetworksClient
	instances   *compute.InstancesClient
	projects    *resourcemanager.ProjectsClient
	folders     *resourcemanager.FoldersClient
	orgs        *resourcemanager.OrganizationsClient
	iam         *iamadmin.Service
	closers     []func() error
}

// NewLive creates the API clients. Credentials come from Application Default Credentials
// unless cfg.ClientOptions say otherwise.
func NewLive(ctx context.Context, cfg LiveConfig, log *zap.Logger) (*Live, error) {
	l := &Live{cfg: cfg, log: log}
	computeOpts, err := cfg.options(ctx, ServiceCompute, "")
	if err != nil {
		return nil, err
	}
	rmOpts, err := cfg.options(ctx, ServiceResourceManager, "")
	if err != nil {
		return nil, err
	}
	// The IAM admin discovery client joins paths to its base URL: it wants a final slash.
	iamOpts, err := cfg.options(ctx, ServiceIAM, "/")
	if err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		mk   func() error
	}{
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
	l.closers = []func() error{l.firewalls.Close, l.networks.Close, l.subnetworks.Close, l.instances.Close,
		l.projects.Close, l.folders.Close, l.orgs.Close}
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

// Scan reads every project in projects (IDs or numbers) and its ancestors' IAM policies, and
// hands each asset to fn, one call at a time. Parts that cannot be read (a project that does
// not exist or is not permitted, an API that is disabled, an ancestor whose policy is
// denied) are returned as SourceErrors and the rest is still read. The error is non-nil
// only when fn fails or ctx ends.
func (l *Live) Scan(ctx context.Context, projects []string, fn func(*Asset) error) ([]SourceError, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := &liveScan{Live: l, fn: fn, cancel: cancel, ancestors: map[string]*ancestorInfo{}}
	limit := l.cfg.Concurrency
	if limit <= 0 {
		limit = 4
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, p := range projects {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.project(ctx, p)
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return s.errs, err
	}
	slices.SortFunc(s.errs, func(a, b SourceError) int {
		return strings.Compare(a.Project+a.Service+a.Resource, b.Project+b.Service+b.Resource)
	})
	return s.errs, nil
}

// liveScan is the state of one Scan.
type liveScan struct {
	*Live
	fn     func(*Asset) error
	cancel context.CancelCauseFunc

	mu        sync.Mutex // guards everything below and serialises fn
	errs      []SourceError
	ancestors map[string]*ancestorInfo // "folders/1", "organizations/2": read once per scan
}

type ancestorInfo struct {
	ready  chan struct{} // closed once parent is known
	parent string        // "" at the top or when it could not be read
}

func (s *liveScan) emit(a *Asset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fn(a); err != nil {
		s.cancel(err)
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

// project reads one project. A failure to read the project itself skips it; a failure of
// one API skips only that API's resources.
func (s *liveScan) project(ctx context.Context, id string) {
	s.log.Debug("reading project", zap.String("project", id))
	p, err := s.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + id})
	if err != nil {
		if ctx.Err() == nil {
			s.fail(id, ServiceResourceManager, "projects/"+id, err)
		}
		return
	}
	projectID := p.GetProjectId()
	number := strings.TrimPrefix(p.GetName(), "projects/")
	ancestors := append([]string{p.GetName()}, s.ancestry(ctx, projectID, p.GetParent())...)

	policy, err := s.projects.GetIamPolicy(ctx, policyRequest(p.GetName()))
	if err != nil && ctx.Err() == nil {
		s.fail(projectID, ServiceResourceManager, p.GetName()+":getIamPolicy", err)
	}
	projectAsset := &Asset{
		Name:      "//cloudresourcemanager.googleapis.com/" + p.GetName(),
		AssetType: TypeProject,
		Ancestors: ancestors,
		Resource:  &Resource{Data: mustJSON(projectDataV1(p))},
	}
	if policy != nil {
		projectAsset.IAMPolicy = fromIAMPolicy(policy)
	}
	s.emit(projectAsset)

	s.computeAssets(ctx, projectID, number, ancestors)
	s.iamAssets(ctx, projectID, ancestors)
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

// ancestor reads one folder or organization the first time it is met, emits it with its
// IAM policy, and returns its parent.
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
	var policy *iampb.Policy
	var err error
	switch {
	case strings.HasPrefix(name, "folders/"):
		a.AssetType = TypeFolder
		f, ferr := s.folders.GetFolder(ctx, &resourcemanagerpb.GetFolderRequest{Name: name})
		if ferr != nil {
			s.fail(project, ServiceResourceManager, name, ferr)
		} else {
			info.parent = f.GetParent()
			a.Resource = &Resource{Data: protoJSON(f)}
		}
		policy, err = s.folders.GetIamPolicy(ctx, policyRequest(name))
	case strings.HasPrefix(name, "organizations/"):
		a.AssetType = TypeOrganization
		o, oerr := s.orgs.GetOrganization(ctx, &resourcemanagerpb.GetOrganizationRequest{Name: name})
		if oerr != nil {
			s.fail(project, ServiceResourceManager, name, oerr)
		} else {
			a.Resource = &Resource{Data: protoJSON(o)}
		}
		policy, err = s.orgs.GetIamPolicy(ctx, policyRequest(name))
	default:
		s.fail(project, ServiceResourceManager, name, fmt.Errorf("unknown kind of parent %q", name))
		return ""
	}
	if err != nil {
		// Reading an ancestor's policy needs rights many scanners lack: report it.
		s.fail(project, ServiceResourceManager, name+":getIamPolicy", err)
	} else {
		a.IAMPolicy = fromIAMPolicy(policy)
	}
	if info.parent != "" {
		a.Ancestors = append([]string{name}, s.ancestryAbove(info.parent)...)
	} else {
		a.Ancestors = []string{name}
	}
	if a.Resource != nil || a.IAMPolicy != nil {
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

// computeAssets reads firewalls, networks, subnetworks and instances of one project. When
// the Compute API fails (disabled, not permitted), the failure is reported once.
func (s *liveScan) computeAssets(ctx context.Context, project, number string, ancestors []string) {
	base := "//compute.googleapis.com/projects/" + project
	parent := "//cloudresourcemanager.googleapis.com/projects/" + number
	mk := func(assetType, name, location string, m proto.Message) *Asset {
		return &Asset{Name: name, AssetType: assetType, Ancestors: ancestors,
			Resource: &Resource{Version: "v1", DiscoveryName: assetType[strings.LastIndexByte(assetType, '/')+1:],
				Parent: parent, Location: location, Data: protoJSON(m)}}
	}
	fws := s.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: project})
	if !each(ctx, s, project, "firewalls", fws.Next, func(f *computepb.Firewall) {
		s.emit(mk(TypeFirewall, base+"/global/firewalls/"+f.GetName(), "global", f))
	}) {
		return // the API is unusable for this project: one report is enough
	}
	nets := s.networks.List(ctx, &computepb.ListNetworksRequest{Project: project})
	if !each(ctx, s, project, "networks", nets.Next, func(n *computepb.Network) {
		s.emit(mk(TypeNetwork, base+"/global/networks/"+n.GetName(), "global", n))
	}) {
		return
	}
	subnets := s.subnetworks.AggregatedList(ctx, &computepb.AggregatedListSubnetworksRequest{Project: project})
	if !each(ctx, s, project, "aggregated subnetworks", subnets.Next, func(p compute.SubnetworksScopedListPair) {
		region := strings.TrimPrefix(p.Key, "regions/")
		for _, sn := range p.Value.GetSubnetworks() {
			s.emit(mk(TypeSubnetwork, base+"/regions/"+region+"/subnetworks/"+sn.GetName(), region, sn))
		}
	}) {
		return
	}
	insts := s.instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{Project: project})
	each(ctx, s, project, "aggregated instances", insts.Next, func(p compute.InstancesScopedListPair) {
		zone := strings.TrimPrefix(p.Key, "zones/")
		for _, in := range p.Value.GetInstances() {
			s.emit(mk(TypeInstance, base+"/zones/"+zone+"/instances/"+in.GetName(), zone, in))
		}
	})
}

// each drains a compute iterator into use; it reports a failure and returns false.
func each[T any](ctx context.Context, s *liveScan, project, what string, next func() (T, error), use func(T)) bool {
	for {
		v, err := next()
		if errors.Is(err, iterator.Done) {
			return true
		}
		if err != nil {
			if ctx.Err() == nil {
				s.fail(project, ServiceCompute, what, err)
			}
			return false
		}
		use(v)
	}
}

// iamAssets reads the project's service accounts and their user-managed keys.
func (s *liveScan) iamAssets(ctx context.Context, project string, ancestors []string) {
	var accounts []*iamadmin.ServiceAccount
	err := s.iam.Projects.ServiceAccounts.List("projects/"+project).PageSize(100).Pages(ctx,
		func(r *iamadmin.ListServiceAccountsResponse) error {
			accounts = append(accounts, r.Accounts...)
			return nil
		})
	if err != nil {
		if ctx.Err() == nil {
			s.fail(project, ServiceIAM, "serviceAccounts", err)
		}
		return
	}
	base := "//iam.googleapis.com/projects/" + project + "/serviceAccounts/"
	for _, sa := range accounts {
		// CAI names service accounts by unique ID.
		saName := base + first(sa.UniqueId, sa.Email)
		s.emit(&Asset{Name: saName, AssetType: TypeServiceAccount, Ancestors: ancestors,
			Resource: &Resource{Version: "v1", DiscoveryName: "ServiceAccount", Data: mustJSON(sa)}})
		// IAM has no aggregated key listing: one call per account is the least there is.
		keys, err := s.iam.Projects.ServiceAccounts.Keys.List(sa.Name).KeyTypes("USER_MANAGED").Context(ctx).Do()
		if err != nil {
			if ctx.Err() == nil {
				s.fail(project, ServiceIAM, sa.Name+"/keys", err)
			}
			continue
		}
		for _, k := range keys.Keys {
			keyID := k.Name[strings.LastIndexByte(k.Name, '/')+1:]
			s.emit(&Asset{Name: saName + "/keys/" + keyID, AssetType: TypeServiceAccountKey, Ancestors: ancestors,
				Resource: &Resource{Version: "v1", DiscoveryName: "ServiceAccountKey", Data: mustJSON(k)}})
		}
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
