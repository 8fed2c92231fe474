package inventory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	cloudasset "google.golang.org/api/cloudasset/v1"
	storage "google.golang.org/api/storage/v1"

	"github.com/zerodrift/zerodrift/internal/gcspath"
)

// Defaults of CAIExportConfig.
const (
	// Google asks for at least 2 seconds between the polls of an export.
	defaultExportPollInterval  = 2 * time.Second
	emulatorExportPollInterval = 50 * time.Millisecond
	defaultMaxExportPoll       = 30 * time.Second
	defaultExportTimeout       = time.Hour
)

// exportCleanupTimeout bounds the deletion of an export's object, which is attempted even
// when the scan's context has ended.
const exportCleanupTimeout = 30 * time.Second

// ExportDestination is the Cloud Storage folder exports are written to: gs://Bucket/Prefix,
// the prefix without leading or trailing slashes ("" for the top of the bucket).
type ExportDestination = gcspath.Folder

// ParseExportDestination parses gs://BUCKET or gs://BUCKET/PREFIX (a trailing slash is
// dropped). The prefix is a folder of the bucket: its segments are neither empty nor . or ..
func ParseExportDestination(s string) (ExportDestination, error) {
	d, err := gcspath.ParseFolder(s)
	if err != nil {
		return ExportDestination{}, fmt.Errorf("export destination %w", err)
	}
	return d, nil
}

// CAIExportConfig configures exports of Cloud Asset Inventory to Cloud Storage.
type CAIExportConfig struct {
	// Destination is the folder the exports are written to, read back from and deleted
	// from.
	Destination ExportDestination
	// StorageEndpoint overrides Cloud Storage's base URL (a private endpoint, the sandbox:
	// the JSON API lies under its /storage/v1/); "" means Google's. A plain-HTTP endpoint
	// gets no credentials. The client takes the CAI's client options and WrapTransport
	// (called with ServiceStorage), and its calls are retried as the CAI's are.
	StorageEndpoint string
	// PollInterval is the first wait before polling an export's operation; the wait doubles
	// after each poll, up to MaxPollInterval. 0 means 2s, as Google asks, or 50ms when the
	// Cloud Asset endpoint is an emulator (plain HTTP). MaxPollInterval 0 means 30s.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// Timeout bounds the wait for one export's operation; 0 means an hour. An export that
	// is not done by then is reported as a SourceError.
	Timeout time.Duration
}

// CAIExporter reads scopes through Cloud Asset Inventory ExportAssets to Cloud Storage:
// for very large organizations, one export per content type replaces the pages of
// ListAssets. It is safe for concurrent use.
type CAIExporter struct {
	cai     *CAI
	cfg     CAIExportConfig
	storage *storage.Service
	log     *zap.Logger
}

// NewCAIExporter creates the Cloud Storage client of exports made through cai. The caller
// needs cloudasset.assets.exportResource and cloudasset.assets.exportIamPolicy on the
// scopes, and storage.objects.create, storage.objects.get and storage.objects.delete on
// the destination bucket.
func NewCAIExporter(ctx context.Context, cai *CAI, cfg CAIExportConfig, log *zap.Logger) (*CAIExporter, error) {
	switch {
	case cai == nil:
		return nil, errors.New("cloud asset inventory export: no cloud asset inventory client")
	case !gcspath.ValidBucket(cfg.Destination.Bucket):
		return nil, fmt.Errorf("cloud asset inventory export: %q is not a Cloud Storage bucket name", cfg.Destination.Bucket)
	case cfg.PollInterval < 0 || cfg.MaxPollInterval < 0 || cfg.Timeout < 0:
		return nil, fmt.Errorf("cloud asset inventory export: poll interval %v, max poll interval %v or timeout %v is negative",
			cfg.PollInterval, cfg.MaxPollInterval, cfg.Timeout)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultExportPollInterval
		if strings.HasPrefix(cai.cfg.Endpoint, "http://") {
			cfg.PollInterval = emulatorExportPollInterval
		}
	}
	if cfg.MaxPollInterval == 0 {
		cfg.MaxPollInterval = defaultMaxExportPoll
	}
	cfg.MaxPollInterval = max(cfg.MaxPollInterval, cfg.PollInterval)
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultExportTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	opts, err := StorageOptions(ctx, cfg.StorageEndpoint, cai.cfg.ClientOptions, cai.cfg.WrapTransport)
	if err != nil {
		return nil, err
	}
	svc, err := storage.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the cloud storage client of exports: %w", err)
	}
	return &CAIExporter{cai: cai, cfg: cfg, storage: svc, log: log}, nil
}

// Destination returns where the exports are written.
func (e *CAIExporter) Destination() ExportDestination { return e.cfg.Destination }

// CAIExportSource reads every asset of the given types under Scope through a Cloud Asset
// Inventory export.
type CAIExportSource struct {
	Exporter *CAIExporter
	// Scope is the parent exported: organizations/NUMBER, folders/NUMBER or
	// projects/ID-or-NUMBER.
	Scope string
	// AssetTypes are the asset types to export, as CAISource.AssetTypes.
	AssetTypes []string
}

// Describe names the scope and the destination.
func (s *CAIExportSource) Describe() string {
	return "cloud asset inventory: " + s.Scope + " (exported to " + s.Exporter.Destination().String() + ")"
}

// Read exports the scope and reads the export; see CAIExporter.Export.
func (s *CAIExportSource) Read(ctx context.Context, fn func(*Asset) error) ([]SourceError, error) {
	return s.Exporter.Export(ctx, s.Scope, s.AssetTypes, fn)
}

// Export hands fn every asset of assetTypes under scope (organizations/NUMBER,
// folders/NUMBER or projects/ID-or-NUMBER), one call at a time, as CAI.List does: the same
// assets, each with its resource and IAM policy on one asset.
//
// It starts two exports of the scope to the destination, the resources' then the IAM
// policies', each to its own object, zerodrift-TIME-RANDOM-CONTENT.json, and polls their
// operations until they are done. It then reads the policies' object, held by asset name,
// and streams the resources' object to fn, decoded line by line (never read whole), each
// resource with its policy attached; policies whose resource was not exported follow as
// policy-only assets. Both objects are deleted afterwards; a deletion that fails is logged,
// not reported. An export that fails (denied, an operation that ends with an error, an
// object that cannot be read) is returned as a SourceError saying what failed and what
// usually fixes it, and what was read is kept. The error is non-nil only when the
// arguments are invalid, fn fails or ctx ends.
func (e *CAIExporter) Export(ctx context.Context, scope string, assetTypes []string, fn func(*Asset) error) ([]SourceError, error) {
	types, err := caiArguments("exporting", scope, assetTypes)
	if err != nil {
		return nil, err
	}
	x := &caiExport{CAIExporter: e, scope: scope, types: types,
		stamp: time.Now().UTC().Format("20060102T150405Z") + fmt.Sprintf("-%08x", rand.Uint32())}
	start := time.Now()
	e.log.Info("exporting assets through cloud asset inventory", zap.String("scope", scope), zap.Strings("assetTypes", types),
		zap.String("destination", e.cfg.Destination.String()))

	// Both exports run at once on Google's side: start them, then wait for each.
	var jobs []*exportJob
	defer func() { x.cleanup(ctx, jobs) }()
	for _, content := range []string{caiContentResource, caiContentIAMPolicy} {
		j, err := x.start(ctx, content)
		if err != nil {
			return x.errs, err
		}
		jobs = append(jobs, j)
	}
	resources, policies := jobs[0], jobs[1]
	for _, j := range jobs {
		if err := x.wait(ctx, j); err != nil {
			return x.errs, err
		}
	}

	held, alone, err := joinPolicies(
		func(use func(*Asset) error) error { return x.read(ctx, policies, use) },
		func(use func(*Asset) error) error { return x.read(ctx, resources, use) }, fn)
	if err != nil {
		return x.errs, err
	}
	e.log.Info("exported assets through cloud asset inventory", zap.String("scope", scope), zap.Int("assets", resources.assets),
		zap.Int("policies", held), zap.Int("policyOnly", alone), zap.Int("polls", x.polls),
		zap.Int("errors", len(x.errs)), zap.Duration("took", time.Since(start)))
	return x.errs, nil
}

// caiExport is the state of one Export.
type caiExport struct {
	*CAIExporter
	scope string
	types []string
	stamp string // TIME-RANDOM of the object names
	errs  []SourceError
	polls int
}

// exportJob is the export of one content type.
type exportJob struct {
	content string
	object  string // in the destination bucket
	uri     string
	op      *cloudasset.Operation // nil when the export did not start
	ok      bool                  // done without error: the object is there to read
	assets  int                   // assets read from the object
}

// start asks for the export of one content type. A refusal is recorded as a SourceError;
// the error is non-nil only when ctx ended.
func (x *caiExport) start(ctx context.Context, content string) (*exportJob, error) {
	j := &exportJob{content: content,
		object: x.cfg.Destination.Object("zerodrift-" + x.stamp + "-" + strings.ToLower(content) + ".json")}
	j.uri = "gs://" + x.cfg.Destination.Bucket + "/" + j.object
	req := &cloudasset.ExportAssetsRequest{ContentType: content, AssetTypes: x.types,
		OutputConfig: &cloudasset.OutputConfig{GcsDestination: &cloudasset.GcsDestination{Uri: j.uri}}}
	err := x.cai.call(ctx, x.cai.cfg.AttemptTimeout, func(actx context.Context) (err error) {
		j.op, err = x.cai.svc.V1.ExportAssets(x.scope, req).Context(actx).Do()
		return err
	}, zap.String("scope", x.scope), zap.String("contentType", content), zap.String("call", "exportAssets"))
	if err != nil {
		if cerr := context.Cause(ctx); cerr != nil {
			return nil, cerr
		}
		x.failCall(j, "exporting", exportPermission(content), err)
		return j, nil
	}
	x.log.Debug("started a cloud asset inventory export", zap.String("scope", x.scope), zap.String("contentType", content),
		zap.String("operation", j.op.Name), zap.String("uri", j.uri))
	return j, nil
}

// exportPermission is the permission exporting a content type requires.
func exportPermission(content string) string {
	if content == caiContentIAMPolicy {
		return "cloudasset.assets.exportIamPolicy"
	}
	return "cloudasset.assets.exportResource"
}

// wait polls a started export until its operation is done, waiting PollInterval, then
// twice as long each time up to MaxPollInterval, for at most Timeout. An operation that
// fails, does not end in time or cannot be polled is recorded as a SourceError; the error
// is non-nil only when ctx ended.
func (x *caiExport) wait(ctx context.Context, j *exportJob) error {
	if j.op == nil {
		return nil
	}
	wctx, cancel := context.WithTimeoutCause(ctx, x.cfg.Timeout, errExportTimeout)
	defer cancel()
	interval := x.cfg.PollInterval
	for !j.op.Done {
		if sleep(wctx, interval) != nil {
			return x.stopped(ctx, wctx, j, nil)
		}
		interval = min(2*interval, x.cfg.MaxPollInterval)
		name := j.op.Name
		err := x.cai.call(wctx, x.cai.cfg.AttemptTimeout, func(actx context.Context) (err error) {
			j.op, err = x.cai.svc.Operations.Get(name).Context(actx).Do()
			return err
		}, zap.String("scope", x.scope), zap.String("operation", name), zap.String("call", "operations.get"))
		x.polls++
		if err != nil {
			j.op = &cloudasset.Operation{Name: name}
			return x.stopped(ctx, wctx, j, err)
		}
	}
	if s := j.op.Error; s != nil {
		x.failOperation(j, s)
		return nil
	}
	j.ok = true
	return nil
}

// errExportTimeout is the cause of a wait that ran out of CAIExportConfig.Timeout.
var errExportTimeout = errors.New("the export did not finish in time")

// stopped records why waiting for an export stopped: ctx ended (returned), the wait (wctx)
// timed out, or a poll failed (err).
func (x *caiExport) stopped(ctx, wctx context.Context, j *exportJob, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return cerr
	}
	if wctx.Err() != nil {
		x.record(j, SourceError{Project: scopeProject(x.scope), Service: ServiceCloudAsset, Resource: x.scope, Reason: "timeout",
			Message: fmt.Sprintf("exporting %s assets to %s: operation %s was not done after %v; it may still write the object",
				j.content, j.uri, j.op.Name, x.cfg.Timeout)}, err)
		return nil
	}
	x.failCall(j, "polling the export of", exportPermission(j.content), err)
	return nil
}

// failCall records an API call about an export that failed.
func (x *caiExport) failCall(j *exportJob, doing, perm string, err error) {
	se := toSourceError(scopeProject(x.scope), ServiceCloudAsset, x.scope, err)
	se.Message = fmt.Sprintf("%s %s assets to %s: %s%s", doing, j.content, j.uri, se.Message, caiHint(x.scope, perm, se))
	x.record(j, se, err)
}

// failOperation records an export whose operation ended with an error.
func (x *caiExport) failOperation(j *exportJob, s *cloudasset.Status) {
	code := rpcCode(s.Code)
	hint := fmt.Sprintf(" (check that bucket %s exists and that the caller has storage.objects.create on it)", x.cfg.Destination.Bucket)
	if code.http == http.StatusForbidden {
		hint = fmt.Sprintf(" (the caller needs storage.objects.create on bucket %s, and %s on %s)",
			x.cfg.Destination.Bucket, exportPermission(j.content), x.scope)
	}
	x.record(j, SourceError{Project: scopeProject(x.scope), Service: ServiceCloudAsset, Resource: x.scope, Code: code.http,
		Reason: code.name, Message: fmt.Sprintf("exporting %s assets to %s: operation %s failed: %s%s",
			j.content, j.uri, j.op.Name, s.Message, hint)}, nil)
}

// record keeps a SourceError about an export and logs it.
func (x *caiExport) record(j *exportJob, se SourceError, err error) {
	x.log.Warn("could not export assets through cloud asset inventory", zap.String("scope", x.scope),
		zap.String("contentType", j.content), zap.String("uri", j.uri), zap.Int("code", se.Code), zap.String("reason", se.Reason),
		zap.String("message", se.Message), zap.Error(err))
	x.errs = append(x.errs, se)
}

// read streams the object of a finished export to use, line by line. Invalid lines are
// skipped and reported, as a download that fails; the error is non-nil only when use
// fails or ctx ends.
func (x *caiExport) read(ctx context.Context, j *exportJob, use func(*Asset) error) error {
	if !j.ok {
		return nil
	}
	// The answer is streamed after the call returns: only ctx bounds the attempt.
	var resp *http.Response
	err := x.cai.call(ctx, 0, func(actx context.Context) (err error) {
		resp, err = x.storage.Objects.Get(x.cfg.Destination.Bucket, j.object).Context(actx).Download()
		return err
	}, zap.String("uri", j.uri), zap.String("call", "objects.get"))
	if err != nil {
		return x.failRead(ctx, j, err)
	}
	defer resp.Body.Close()
	var useErr error
	skipped, err := (&ExportSource{Name: j.uri, R: resp.Body, SkipInvalid: true}).Read(ctx, func(a *Asset) error {
		j.assets++
		useErr = use(a)
		return useErr
	})
	x.errs = append(x.errs, skipped...)
	switch {
	case useErr != nil:
		return useErr
	case err != nil:
		return x.failRead(ctx, j, err)
	}
	return nil
}

// failRead records an export object that could not be read; the error is ctx's cause when
// it ended.
func (x *caiExport) failRead(ctx context.Context, j *exportJob, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return cerr
	}
	se := toSourceError(scopeProject(x.scope), ServiceStorage, j.uri, err)
	hint := ""
	if se.Code == http.StatusForbidden {
		hint = fmt.Sprintf(" (the caller needs storage.objects.get on bucket %s)", x.cfg.Destination.Bucket)
	}
	se.Message = fmt.Sprintf("reading the export of %s %s assets (%d read): %s%s", x.scope, j.content, j.assets, se.Message, hint)
	x.record(j, se, err)
	return nil
}

// cleanup deletes the objects of the exports that were done, even when ctx has ended: an
// export left in the bucket holds the scope's inventory. A failure is logged, not reported.
func (x *caiExport) cleanup(ctx context.Context, jobs []*exportJob) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exportCleanupTimeout)
	defer cancel()
	for _, j := range jobs {
		if !j.ok {
			continue
		}
		err := x.cai.call(ctx, x.cai.cfg.AttemptTimeout, func(actx context.Context) error {
			return x.storage.Objects.Delete(x.cfg.Destination.Bucket, j.object).Context(actx).Do()
		}, zap.String("uri", j.uri), zap.String("call", "objects.delete"))
		if err != nil {
			x.log.Warn("could not delete a cloud asset inventory export: delete it by hand, it holds the inventory of the scope",
				zap.String("scope", x.scope), zap.String("uri", j.uri), zap.Error(err))
			continue
		}
		x.log.Debug("deleted a cloud asset inventory export", zap.String("uri", j.uri))
	}
}

// rpcStatus is a google.rpc.Code as an HTTP status and a name, for SourceErrors.
type rpcStatus struct {
	http int
	name string
}

// rpcCodes are the google.rpc.Code values and the HTTP status each maps to.
var rpcCodes = []rpcStatus{
	{http.StatusOK, "OK"}, {499, "CANCELLED"}, {http.StatusInternalServerError, "UNKNOWN"},
	{http.StatusBadRequest, "INVALID_ARGUMENT"}, {http.StatusGatewayTimeout, "DEADLINE_EXCEEDED"},
	{http.StatusNotFound, "NOT_FOUND"}, {http.StatusConflict, "ALREADY_EXISTS"}, {http.StatusForbidden, "PERMISSION_DENIED"},
	{http.StatusTooManyRequests, "RESOURCE_EXHAUSTED"}, {http.StatusBadRequest, "FAILED_PRECONDITION"},
	{http.StatusConflict, "ABORTED"}, {http.StatusBadRequest, "OUT_OF_RANGE"}, {http.StatusNotImplemented, "UNIMPLEMENTED"},
	{http.StatusInternalServerError, "INTERNAL"}, {http.StatusServiceUnavailable, "UNAVAILABLE"},
	{http.StatusInternalServerError, "DATA_LOSS"}, {http.StatusUnauthorized, "UNAUTHENTICATED"},
}

// rpcCode maps a google.rpc.Code; an unknown code is UNKNOWN.
func rpcCode(code int64) rpcStatus {
	if code < 0 || code >= int64(len(rpcCodes)) {
		return rpcCodes[2]
	}
	return rpcCodes[code]
}
