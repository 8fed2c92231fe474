package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	cloudasset "google.golang.org/api/cloudasset/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// ServiceCloudAsset is the Cloud Asset API: it names the service in SourceErrors, in
// TransportWrapper calls and in the sandbox's call counts.
const ServiceCloudAsset = "cloudasset"

// MaxCAIPageSize is the largest page ListAssets answers.
const MaxCAIPageSize = 1000

// The content types CAISource lists, as the Cloud Asset API names them.
const (
	caiContentResource  = "RESOURCE"
	caiContentIAMPolicy = "IAM_POLICY"
)

// Retry defaults of one ListAssets page.
const (
	defaultCAIAttempts       = 5
	defaultCAIBaseDelay      = time.Second
	maxCAIDelay              = 30 * time.Second
	defaultCAIAttemptTimeout = 2 * time.Minute
)

// scopeRE is the parent ListAssets accepts: an organization or folder by number, a project
// by ID or number.
var scopeRE = regexp.MustCompile(`^((organizations|folders)/[0-9]+|projects/[^/\s]+)$`)

// CAIConfig configures the Cloud Asset Inventory client.
type CAIConfig struct {
	// Endpoint overrides the Cloud Asset API's base URL (a private endpoint, the sandbox),
	// e.g. "http://127.0.0.1:8085"; "" means Google's. A plain-HTTP endpoint gets no
	// credentials (see ServiceOptions).
	Endpoint string
	// ClientOptions are added to the client (credentials, HTTP client, user agent, quota
	// project).
	ClientOptions []option.ClientOption
	// WrapTransport, when set, wraps the client's HTTP transport, called with
	// ServiceCloudAsset.
	WrapTransport TransportWrapper
	// PageSize is the number of assets asked for per page; 0 means MaxCAIPageSize.
	PageSize int
	// MaxAttempts bounds the attempts of one page, the first included, when it fails for
	// a reason that may pass: HTTP 429, 500, 502, 503 or 504, a 403 whose reason is a rate
	// limit, a connection that failed or an attempt that timed out. 0 means 5; 1 disables
	// retries.
	MaxAttempts int
	// BaseDelay caps the first wait before a retry; the cap doubles after each failure, up
	// to 30s, and each wait is drawn uniformly below it. A Retry-After header sets the wait
	// instead (at most 30s). 0 means 1s.
	BaseDelay time.Duration
	// AttemptTimeout bounds one attempt, reading its page included; 0 means 2 minutes.
	AttemptTimeout time.Duration
}

// CAI lists assets through the Cloud Asset Inventory API (ListAssets): one call per page
// for a whole organization, folder or project, instead of the live source's calls per
// project and API. It is safe for concurrent use.
type CAI struct {
	cfg CAIConfig
	log *zap.Logger
	svc *cloudasset.Service
}

// NewCAI creates the Cloud Asset API client. Credentials come from Application Default
// Credentials unless cfg.ClientOptions say otherwise; the Cloud Asset API must be enabled
// in the project that the credentials bill quota to.
func NewCAI(ctx context.Context, cfg CAIConfig, log *zap.Logger) (*CAI, error) {
	switch {
	case cfg.PageSize < 0 || cfg.PageSize > MaxCAIPageSize:
		return nil, fmt.Errorf("cloud asset inventory: page size %d is not between 1 and %d", cfg.PageSize, MaxCAIPageSize)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("cloud asset inventory: max attempts %d is negative", cfg.MaxAttempts)
	case cfg.BaseDelay < 0 || cfg.AttemptTimeout < 0:
		return nil, fmt.Errorf("cloud asset inventory: base delay %v or attempt timeout %v is negative", cfg.BaseDelay, cfg.AttemptTimeout)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = MaxCAIPageSize
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultCAIAttempts
	}
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay = defaultCAIBaseDelay
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = defaultCAIAttemptTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	endpoint := strings.TrimSuffix(cfg.Endpoint, "/")
	if endpoint != "" {
		// The discovery-based client joins paths to its base URL: it wants a final slash.
		endpoint += "/"
	}
	opts, err := ServiceOptions(ctx, ServiceCloudAsset, endpoint, cfg.ClientOptions, cfg.WrapTransport)
	if err != nil {
		return nil, err
	}
	svc, err := cloudasset.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the cloud asset inventory client: %w", err)
	}
	return &CAI{cfg: cfg, log: log, svc: svc}, nil
}

// CAISource reads every asset of the given types under Scope through Cloud Asset
// Inventory.
type CAISource struct {
	CAI *CAI
	// Scope is the parent listed: organizations/NUMBER, folders/NUMBER or
	// projects/ID-or-NUMBER.
	Scope string
	// AssetTypes are the asset types to list, e.g. those the enabled rules read
	// (scan.Scanner.AssetTypes). Cloud Asset Inventory also accepts RE2 expressions.
	AssetTypes []string
}

// Describe names the scope.
func (s *CAISource) Describe() string { return "cloud asset inventory: " + s.Scope }

// Read lists the scope's assets; see CAI.List.
func (s *CAISource) Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error) {
	return s.CAI.List(ctx, s.Scope, s.AssetTypes, fn)
}

// List hands fn every asset of assetTypes under scope (organizations/NUMBER,
// folders/NUMBER or projects/ID-or-NUMBER), one call at a time, with its resource and its
// IAM policy on one asset as the live source gives them.
//
// It makes two listings: the IAM policies first, held by asset name (few assets carry one:
// the hierarchy, service accounts), then the resources, streamed to fn page by page as they
// arrive, each with its policy attached. Policies whose resource the second listing did not
// return (it failed, or the resource is new) follow as policy-only assets, as a CAI export
// writes them. A listing that fails (permission denied, the API disabled, a page that
// still fails after the retries) is returned as a SourceError naming the scope and the
// content type, and what was read is kept. The error is non-nil only when the arguments are
// invalid, fn fails or ctx ends.
func (c *CAI) List(ctx context.Context, scope string, assetTypes []string, fn func(*Asset) error) ([]SourceError, error) {
	types, err := caiArguments("listing", scope, assetTypes)
	if err != nil {
		return nil, err
	}
	l := &caiListing{CAI: c, scope: scope, types: types}
	start := time.Now()
	c.log.Info("listing assets through cloud asset inventory", zap.String("scope", scope), zap.Strings("assetTypes", types))

	held, alone, err := joinPolicies(
		func(use func(*Asset) error) error { return l.list(ctx, caiContentIAMPolicy, use) },
		func(use func(*Asset) error) error { return l.list(ctx, caiContentResource, use) }, fn)
	if err != nil {
		return l.errs, err
	}
	c.log.Info("listed assets through cloud asset inventory", zap.String("scope", scope), zap.Int("assets", l.assets),
		zap.Int("pages", l.pages), zap.Int("policies", held), zap.Int("policyOnly", alone),
		zap.Int("errors", len(l.errs)), zap.Duration("took", time.Since(start)))
	return l.errs, nil
}

// caiArguments checks the scope of a listing or an export (verb says which) and returns
// its asset types sorted, without duplicates or empty ones.
func caiArguments(verb, scope string, assetTypes []string) ([]string, error) {
	if !scopeRE.MatchString(scope) {
		return nil, fmt.Errorf("cloud asset inventory: scope %q is not organizations/NUMBER, folders/NUMBER or projects/ID", scope)
	}
	types := slices.Compact(slices.Sorted(slices.Values(assetTypes)))
	types = slices.DeleteFunc(types, func(t string) bool { return t == "" })
	if len(types) == 0 {
		// Without a filter the API reads every asset type of the scope: never what is meant.
		return nil, fmt.Errorf("cloud asset inventory: %s %s: no asset types given", verb, scope)
	}
	return types, nil
}

// joinPolicies hands fn the assets of a CAI listing or export read as two streams of one
// content type each, with each resource's IAM policy on the resource, as the live source
// gives both: readPolicies first, the policies held by asset name (few assets carry one: the
// hierarchy, service accounts), then readResources, each resource handed on as it comes
// with its policy attached, then the policies whose resource did not come (it could not be
// read, or it is new), by name, as policy-only assets, as a CAI export writes them. It
// returns how many policies were held and how many went on alone; the error is the first a
// reader or fn returned.
func joinPolicies(readPolicies, readResources func(use func(*Asset) error) error, fn func(*Asset) error) (int, int, error) {
	policies := map[string]*Asset{}
	if err := readPolicies(func(a *Asset) error {
		policies[a.Name] = a
		return nil
	}); err != nil {
		return len(policies), 0, err
	}
	held := len(policies)
	if err := readResources(func(a *Asset) error {
		if p, ok := policies[a.Name]; ok {
			delete(policies, a.Name)
			a.IAMPolicy = p.IAMPolicy
			if p.UpdateTime.After(a.UpdateTime) {
				a.UpdateTime = p.UpdateTime
			}
			if len(a.Ancestors) == 0 {
				a.Ancestors = p.Ancestors
			}
		}
		return fn(a)
	}); err != nil {
		return held, 0, err
	}
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		if err := fn(policies[name]); err != nil {
			return held, len(policies), err
		}
	}
	return held, len(policies), nil
}

// caiListing is the state of one List.
type caiListing struct {
	*CAI
	scope  string
	types  []string
	errs   []SourceError
	assets int // resource assets handed on
	pages  int
}

// list reads every page of one content type and hands each asset to use. A failure of the
// API is recorded as a SourceError and ends the listing with a nil error.
func (l *caiListing) list(ctx context.Context, contentType string, use func(*Asset) error) error {
	call := l.svc.Assets.List(l.scope).ContentType(contentType).AssetTypes(l.types...).PageSize(int64(l.cfg.PageSize))
	token := ""
	for {
		if token != "" {
			call.PageToken(token)
		}
		resp, err := l.page(ctx, call, contentType)
		if err != nil {
			if cerr := context.Cause(ctx); cerr != nil {
				return cerr
			}
			l.fail(contentType, err)
			return nil
		}
		l.pages++
		for _, wa := range resp.Assets {
			a, err := fromCAIAsset(wa)
			if err != nil {
				l.invalid(contentType, wa, err)
				continue
			}
			if contentType == caiContentResource {
				l.assets++
			}
			if err := use(a); err != nil {
				return err
			}
		}
		if resp.NextPageToken == "" {
			return nil
		}
		if resp.NextPageToken == token {
			l.fail(contentType, fmt.Errorf("the API answered the page token %q it was given: the listing would not end", token))
			return nil
		}
		token = resp.NextPageToken
	}
}

// page fetches one page, retrying failures that may pass, with backoff. The page is read
// whole before Do returns, so the attempt's context may end with it.
func (l *caiListing) page(ctx context.Context, call *cloudasset.AssetsListCall, contentType string) (*cloudasset.ListAssetsResponse, error) {
	var resp *cloudasset.ListAssetsResponse
	err := l.call(ctx, l.cfg.AttemptTimeout, func(actx context.Context) (err error) {
		resp, err = call.Context(actx).Do()
		return err
	}, zap.String("scope", l.scope), zap.String("contentType", contentType))
	return resp, err
}

// call makes one API call through do, retrying failures that may pass (see
// CAIConfig.MaxAttempts) with capped, jittered backoff. Each attempt is given a context
// bounded by timeout (by ctx alone when timeout is 0: for an answer read after do
// returns). fields describe the call in logs. A wait cut short by ctx returns its cause.
func (c *CAI) call(ctx context.Context, timeout time.Duration, do func(context.Context) error, fields ...zap.Field) error {
	limit := c.cfg.BaseDelay
	for attempt := 1; ; attempt++ {
		err := attemptWithin(ctx, timeout, do)
		if err == nil {
			return nil
		}
		wait, retry := caiRetryable(err)
		if !retry || attempt >= c.cfg.MaxAttempts || ctx.Err() != nil {
			return err
		}
		if wait <= 0 {
			wait = rand.N(limit + 1)
			limit = min(2*limit, maxCAIDelay)
		}
		c.log.Debug("retrying a cloud asset inventory call", append(fields, zap.Int("attempt", attempt),
			zap.Duration("wait", wait), zap.Error(err))...)
		if sleep(ctx, wait) != nil {
			return context.Cause(ctx)
		}
	}
}

// attemptWithin runs one attempt with a context bounded by timeout (0: not bounded).
func attemptWithin(ctx context.Context, timeout time.Duration, do func(context.Context) error) error {
	if timeout <= 0 {
		return do(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return do(actx)
}

// caiRetryable says whether a failed page may succeed when asked again, and how long the
// API asked to wait (0 when it did not say). A failure without an HTTP answer (a
// connection refused or reset, an attempt that timed out) may pass; the caller does not
// retry once its own context has ended.
func caiRetryable(err error) (time.Duration, bool) {
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		return 0, true
	}
	retry := false
	switch gerr.Code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		retry = true
	case http.StatusForbidden:
		// The older quota answer: 403 with reason rateLimitExceeded.
		for _, e := range gerr.Errors {
			retry = retry || e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded"
		}
	}
	if !retry {
		return 0, false
	}
	if s, err := strconv.Atoi(gerr.Header.Get("Retry-After")); err == nil && s > 0 {
		return min(time.Duration(s)*time.Second, maxCAIDelay), true
	}
	return 0, true
}

// fail records a listing that could not be read, saying what the caller needs.
func (l *caiListing) fail(contentType string, err error) {
	se := toSourceError(scopeProject(l.scope), ServiceCloudAsset, l.scope, err)
	perm := "cloudasset.assets.listResource"
	if contentType == caiContentIAMPolicy {
		perm = "cloudasset.assets.listIamPolicy"
	}
	se.Message = fmt.Sprintf("listing %s assets: %s%s", contentType, se.Message, caiHint(l.scope, perm, se))
	l.log.Warn("could not list assets through cloud asset inventory", zap.String("scope", l.scope),
		zap.String("contentType", contentType), zap.Int("code", se.Code), zap.String("reason", se.Reason), zap.Error(err))
	l.errs = append(l.errs, se)
}

// caiHint says what usually fixes a failed Cloud Asset Inventory call on scope that
// requires perm.
func caiHint(scope, perm string, se SourceError) string {
	switch {
	case se.Reason == "accessNotConfigured" || se.Reason == "SERVICE_DISABLED":
		return " (enable cloudasset.googleapis.com in the project the credentials bill quota to)"
	case se.Code == http.StatusForbidden:
		return fmt.Sprintf(" (the caller needs %s on %s, e.g. through roles/cloudasset.viewer, and serviceusage.services.use on its quota project)", perm, scope)
	case se.Code == http.StatusNotFound:
		return fmt.Sprintf(" (check that %s exists)", scope)
	}
	return ""
}

// invalid records an asset the API answered that is not a valid asset.
func (l *caiListing) invalid(contentType string, wa *cloudasset.Asset, err error) {
	l.log.Warn("skipping an invalid asset from cloud asset inventory", zap.String("scope", l.scope),
		zap.String("asset", wa.Name), zap.Error(err))
	l.errs = append(l.errs, SourceError{Project: scopeProject(l.scope), Service: ServiceCloudAsset, Resource: wa.Name, Reason: "invalid",
		Message: fmt.Sprintf("listing %s assets of %s: %v", contentType, l.scope, err)})
}

// scopeProject is the project of a project scope ("" for another scope), for SourceErrors.
func scopeProject(scope string) string {
	p, ok := strings.CutPrefix(scope, "projects/")
	if !ok {
		return ""
	}
	return p
}

// fromCAIAsset converts an asset of the API's answer: the fields are those of a CAI export
// in camelCase, and resource.data is kept as the raw JSON the API sent.
func fromCAIAsset(w *cloudasset.Asset) (*Asset, error) {
	if w == nil || w.Name == "" {
		return nil, errors.New(`asset has no "name"`)
	}
	a := &Asset{Name: w.Name, AssetType: w.AssetType, Ancestors: w.Ancestors}
	if a.AssetType == "" {
		return nil, fmt.Errorf(`asset %s has no "assetType"`, a.Name)
	}
	if w.UpdateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, w.UpdateTime)
		if err != nil {
			return nil, fmt.Errorf("asset %s: updateTime %q is not an RFC 3339 time", a.Name, w.UpdateTime)
		}
		a.UpdateTime = t
	}
	if r := w.Resource; r != nil {
		data := json.RawMessage(bytes.TrimSpace(r.Data))
		switch {
		case len(data) == 0 || bytes.Equal(data, []byte("null")):
			data = nil
		case data[0] != '{':
			return nil, fmt.Errorf("asset %s: resource.data is not a JSON object", a.Name)
		}
		a.Resource = &Resource{
			Version:              r.Version,
			DiscoveryDocumentURI: r.DiscoveryDocumentUri,
			DiscoveryName:        r.DiscoveryName,
			Parent:               r.Parent,
			Location:             r.Location,
			Data:                 data,
		}
	}
	if p := w.IamPolicy; p != nil {
		a.IAMPolicy = fromCAIPolicy(p)
	}
	return a, nil
}

// fromCAIPolicy converts an IAM policy of the API's answer; the etag stays the base64 text
// the API sent, as a CAI export holds it.
func fromCAIPolicy(p *cloudasset.Policy) *Policy {
	out := &Policy{Version: int(p.Version), Etag: p.Etag}
	for _, b := range p.Bindings {
		if b == nil {
			continue
		}
		nb := Binding{Role: b.Role, Members: b.Members}
		if c := b.Condition; c != nil {
			nb.Condition = &Condition{Title: c.Title, Description: c.Description, Expression: c.Expression}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	for _, ac := range p.AuditConfigs {
		if ac == nil {
			continue
		}
		c := AuditConfig{Service: ac.Service}
		for _, lc := range ac.AuditLogConfigs {
			if lc != nil {
				c.AuditLogConfigs = append(c.AuditLogConfigs, AuditLogConfig{LogType: lc.LogType, ExemptedMembers: lc.ExemptedMembers})
			}
		}
		out.AuditConfigs = append(out.AuditConfigs, c)
	}
	return out
}
