package inventory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

// exportsBucket is the bucket the built-in scenario declares for exports.
const exportsBucket = "zerodrift-exports"

// exportDest is where the tests export to.
var exportDest = inventory.ExportDestination{Bucket: exportsBucket, Prefix: "scans"}

// exportObjectRE is the name of an export's object in exportDest.
var exportObjectRE = regexp.MustCompile(`^scans/zerodrift-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}-(resource|iam_policy)\.json$`)

func newExporter(t *testing.T, cai *inventory.CAI, cfg inventory.CAIExportConfig, log *zap.Logger) *inventory.CAIExporter {
	t.Helper()
	e, err := inventory.NewCAIExporter(context.Background(), cai, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// exportAll exports scope with the rules' asset types and returns what it read.
func exportAll(t *testing.T, e *inventory.CAIExporter, scope string) ([]*inventory.Asset, []inventory.SourceError) {
	t.Helper()
	var out []*inventory.Asset
	errs, err := e.Export(context.Background(), scope, ruleTypes(), func(a *inventory.Asset) error {
		out = append(out, a)
		return nil
	})
	if err != nil {
		t.Fatalf("Export(%s): %v", scope, err)
	}
	return out, errs
}

// bodyLog records the bodies of the POST requests a client makes.
type bodyLog struct {
	mu     sync.Mutex
	bodies []string
}

func (l *bodyLog) wrap(_ string, rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && r.Body != nil {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return nil, err
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			l.mu.Lock()
			l.bodies = append(l.bodies, string(b))
			l.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

// An organization exported to Cloud Storage reads as ListAssets lists it: the same assets
// in the same order, each alike, so the findings are the same. The exports ask for the
// rules' asset types, are polled until done, streamed back and deleted.
func TestCAIExportMatchesListAssets(t *testing.T) {
	srv, url := startBuiltin(t)
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	listed := listAll(t, cai, builtinOrg, ruleTypes())

	var reqs requestLog
	var bodies bodyLog
	srv.ResetCalls()
	wrap := func(service string, rt http.RoundTripper) http.RoundTripper {
		return reqs.wrap(service, bodies.wrap(service, rt))
	}
	exp := newExporter(t, newCAI(t, inventory.CAIConfig{Endpoint: url, WrapTransport: wrap}),
		inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url}, zaptest.NewLogger(t))
	exported, errs := exportAll(t, exp, builtinOrg)
	if len(errs) != 0 {
		t.Fatalf("export errors: %+v", errs)
	}
	if !slices.Equal(names(exported), names(listed)) || len(listed) == 0 {
		t.Fatalf("exported %v,\nlisted %v", names(exported), names(listed))
	}
	for i, a := range exported {
		sameAssets(t, a, listed[i])
	}

	want := []sandbox.CallCount{
		{Service: sandbox.ServiceCloudAsset, Method: "exportAssets", Status: 200, Count: 2},
		{Service: sandbox.ServiceCloudAsset, Method: "operations.get", Status: 200, Count: 4},
		{Service: sandbox.ServiceStorage, Method: "objects.delete", Status: 204, Count: 2},
		{Service: sandbox.ServiceStorage, Method: "objects.get", Status: 200, Count: 2},
	}
	if got := srv.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %+v,\nwant %+v", got, want)
	}
	if left := srv.Objects(exportsBucket); len(left) != 0 {
		t.Errorf("objects left in the bucket: %v", left)
	}
	var contents, objects []string
	for _, b := range bodies.bodies {
		var req struct {
			ContentType  string   `json:"contentType"`
			AssetTypes   []string `json:"assetTypes"`
			OutputConfig struct {
				GCSDestination struct {
					URI string `json:"uri"`
				} `json:"gcsDestination"`
			} `json:"outputConfig"`
		}
		if err := json.Unmarshal([]byte(b), &req); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !slices.Equal(req.AssetTypes, ruleTypes()) {
			t.Errorf("assetTypes %v, want the rules' %v", req.AssetTypes, ruleTypes())
		}
		contents = append(contents, req.ContentType)
		object, ok := strings.CutPrefix(req.OutputConfig.GCSDestination.URI, "gs://"+exportsBucket+"/")
		if !ok || !exportObjectRE.MatchString(object) {
			t.Errorf("uri %q, want gs://%s/scans/zerodrift-TIME-RANDOM-CONTENT.json", req.OutputConfig.GCSDestination.URI, exportsBucket)
		}
		objects = append(objects, object)
	}
	if !slices.Equal(contents, []string{"RESOURCE", "IAM_POLICY"}) || len(objects) != 2 ||
		strings.TrimSuffix(objects[0], "resource.json") != strings.TrimSuffix(objects[1], "iam_policy.json") {
		t.Errorf("exports of %v to %v, want the resources then the policies, beside each other", contents, objects)
	}
	for _, u := range reqs.all() {
		if strings.HasPrefix(u, inventory.ServiceStorage+" ") != strings.Contains(u, "/storage/v1/") {
			t.Errorf("request %s went through the wrong service's transport", u)
		}
	}

	// The findings are those of ListAssets, and of the live per-project scan.
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	liveRep := runScan(t, &inventory.LiveSource{Live: live, Projects: srv.Projects()})
	listRep := runScan(t, &inventory.CAISource{CAI: cai, Scope: builtinOrg, AssetTypes: ruleTypes()})
	src := &inventory.CAIExportSource{Exporter: exp, Scope: builtinOrg, AssetTypes: ruleTypes()}
	exportRep := runScan(t, src)
	if got := findingIDs(exportRep); !slices.Equal(got, findingIDs(listRep)) || !slices.Equal(got, findingIDs(liveRep)) || len(got) == 0 {
		t.Errorf("findings through an export %v,\nthrough ListAssets %v,\nlive %v", got, findingIDs(listRep), findingIDs(liveRep))
	}
	if want := "cloud asset inventory: " + builtinOrg + " (exported to gs://zerodrift-exports/scans)"; src.Describe() != want ||
		exportRep.Summary.Source != want || len(exportRep.Errors) != 0 {
		t.Errorf("source %q, errors %+v", exportRep.Summary.Source, exportRep.Errors)
	}
}

// onlyExports matches the sandbox's faults to ExportAssets calls.
func onlyExports(service, method string) bool {
	return service == sandbox.ServiceCloudAsset && method == "exportAssets"
}

// The operation is polled until it is done, with the waits growing; an export that takes
// longer than the timeout is reported, and an ended context stops the wait at once.
func TestCAIExportPollsUntilDone(t *testing.T) {
	srv, url := startBuiltin(t, sandbox.WithFaults(sandbox.Faults{PendingOperationPolls: 3, Match: onlyExports}))
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	exp := newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url,
		PollInterval: time.Millisecond, MaxPollInterval: 4 * time.Millisecond}, nil)
	got, errs := exportAll(t, exp, builtinFolder)
	if len(errs) != 0 || len(got) == 0 {
		t.Fatalf("%d assets, errors %+v", len(got), errs)
	}
	if n := callsOf(srv, sandbox.ServiceCloudAsset, "operations.get"); n != 2*(1+3+1) {
		t.Errorf("%d polls, want 5 for each export: the first and 3 more pending, then done", n)
	}

	if err := srv.SetFaults(sandbox.Faults{PendingOperationPolls: 1_000_000, Match: onlyExports}); err != nil {
		t.Fatal(err)
	}
	slow := newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url,
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, Timeout: 100 * time.Millisecond}, nil)
	start := time.Now()
	got, errs = exportAll(t, slow, builtinOrg)
	if len(got) != 0 || len(errs) != 2 || errs[0].Reason != "timeout" || !strings.Contains(errs[0].Message, "was not done after 100ms") ||
		time.Since(start) > 10*time.Second {
		t.Errorf("an export that does not end: %d assets, errors %+v after %v", len(got), errs, time.Since(start))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := exp.Export(ctx, builtinOrg, ruleTypes(), func(*inventory.Asset) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("an ended context: %v after %v", err, time.Since(start))
	}
	if left := srv.Objects(exportsBucket); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
}

func callsOf(srv *sandbox.Server, service, method string) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Service == service && c.Method == method {
			n += c.Count
		}
	}
	return n
}

// An export whose operation fails is a SourceError naming the bucket and the operation;
// the other export is still read.
func TestCAIExportFailedOperations(t *testing.T) {
	srv, url := startBuiltin(t)
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})

	nowhere := newExporter(t, cai, inventory.CAIExportConfig{Destination: inventory.ExportDestination{Bucket: "no-such-bucket"},
		StorageEndpoint: url}, nil)
	got, errs := exportAll(t, nowhere, builtinOrg)
	if len(got) != 0 || len(errs) != 2 {
		t.Fatalf("export to a missing bucket: %d assets, errors %+v", len(got), errs)
	}
	for i, content := range []string{"RESOURCE", "IAM_POLICY"} {
		e := errs[i]
		if e.Service != inventory.ServiceCloudAsset || e.Resource != builtinOrg || e.Code != http.StatusBadRequest ||
			e.Reason != "INVALID_ARGUMENT" || !strings.Contains(e.Message, "exporting "+content+" assets to gs://no-such-bucket/zerodrift-") ||
			!strings.Contains(e.Message, "bucket no-such-bucket does not exist") || !strings.Contains(e.Message, "/operations/ExportAssets/"+content+"/") {
			t.Errorf("error %d: %+v, want the failed operation naming the bucket", i, e)
		}
	}

	if err := srv.SetFaults(sandbox.Faults{FailOperations: 1, OperationError: "Internal error (injected).", Match: onlyExports}); err != nil {
		t.Fatal(err)
	}
	exp := newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url}, nil)
	got, errs = exportAll(t, exp, builtinOrg)
	if len(errs) != 1 || errs[0].Code != http.StatusInternalServerError || errs[0].Reason != "INTERNAL" ||
		!strings.Contains(errs[0].Message, "exporting RESOURCE assets to gs://zerodrift-exports/scans/") ||
		!strings.Contains(errs[0].Message, "Internal error (injected).") {
		t.Errorf("failed resource export: errors %+v", errs)
	}
	if len(got) == 0 || slices.ContainsFunc(got, func(a *inventory.Asset) bool { return a.Resource != nil || a.IAMPolicy == nil }) {
		t.Errorf("got %d assets; want the policies alone", len(got))
	}
	if left := srv.Objects(exportsBucket); len(left) != 0 {
		t.Errorf("objects left: %v", left)
	}
}

// A permission the caller lacks is a SourceError naming it; what else can be read is.
func TestCAIExportPermissions(t *testing.T) {
	allBut := func(p string) []string {
		return slices.DeleteFunc(sandbox.KnownPermissions(), func(k string) bool { return k == p })
	}
	srv, url := startBuiltin(t, sandbox.WithPermissions(allBut("cloudasset.assets.exportIamPolicy")))
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	exp := newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url}, nil)
	got, errs := exportAll(t, exp, builtinOrg)
	if len(errs) != 1 {
		t.Fatalf("errors %+v, want one", errs)
	}
	if e := errs[0]; e.Code != http.StatusForbidden || e.Resource != builtinOrg || !strings.Contains(e.Message, "IAM_POLICY") ||
		!strings.Contains(e.Message, "cloudasset.assets.exportIamPolicy") {
		t.Errorf("error %+v, want a 403 naming IAM_POLICY and cloudasset.assets.exportIamPolicy", e)
	}
	if len(got) == 0 || slices.ContainsFunc(got, func(a *inventory.Asset) bool { return a.IAMPolicy != nil || a.Resource == nil }) {
		t.Errorf("got %d assets; want the resources, without policies", len(got))
	}

	for perm, says := range map[string]string{
		"storage.objects.create": "storage.objects.create on bucket zerodrift-exports",
		"storage.objects.get":    "storage.objects.get on bucket zerodrift-exports",
	} {
		if err := srv.SetPermissions(allBut(perm)); err != nil {
			t.Fatal(err)
		}
		got, errs := exportAll(t, exp, builtinOrg)
		if len(got) != 0 || len(errs) != 2 || errs[0].Code != http.StatusForbidden || !strings.Contains(errs[0].Message, says) {
			t.Errorf("without %s: %d assets, errors %+v", perm, len(got), errs)
		}
	}

	// An object that cannot be deleted is left with a warning; the scan goes on.
	if err := srv.SetPermissions(allBut("storage.objects.delete")); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	exp = newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url}, zap.New(core))
	got, errs = exportAll(t, exp, builtinOrg)
	if len(got) == 0 || len(errs) != 0 {
		t.Errorf("without storage.objects.delete: %d assets, errors %+v", len(got), errs)
	}
	left := srv.Objects(exportsBucket)
	warned := logs.FilterMessageSnippet("could not delete a cloud asset inventory export").All()
	if len(left) != 2 || len(warned) != 2 {
		t.Errorf("objects left %v, warnings %v; want both objects left, each with a warning", left, warned)
	}
}

// A destination must be gs://BUCKET[/PREFIX]; the arguments are checked as List's are.
func TestCAIExportArguments(t *testing.T) {
	for in, want := range map[string]inventory.ExportDestination{
		"gs://zerodrift-exports":             {Bucket: "zerodrift-exports"},
		"gs://zerodrift-exports/":            {Bucket: "zerodrift-exports"},
		"gs://zerodrift-exports/scans":       {Bucket: "zerodrift-exports", Prefix: "scans"},
		"gs://zerodrift-exports/a/b/":        {Bucket: "zerodrift-exports", Prefix: "a/b"},
		"gs://acme.example-exports/org/cai1": {Bucket: "acme.example-exports", Prefix: "org/cai1"},
	} {
		got, err := inventory.ParseExportDestination(in)
		if err != nil || got != want {
			t.Errorf("ParseExportDestination(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if err == nil && got.String() != strings.TrimSuffix(in, "/") {
			t.Errorf("%+v.String() = %q", got, got.String())
		}
	}
	for _, in := range []string{"", "zerodrift-exports/scans", "s3://b/p", "gs://", "gs://Bucket/p", "gs://b",
		"gs://zerodrift-exports//scans", "gs://zerodrift-exports/a/../b", "gs://zerodrift-exports/./a", "https://storage.googleapis.com/b"} {
		if got, err := inventory.ParseExportDestination(in); err == nil || !strings.Contains(err.Error(), "export destination") {
			t.Errorf("ParseExportDestination(%q) = %+v, %v; want an error", in, got, err)
		}
	}

	_, url := startBuiltin(t)
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	for _, cfg := range []inventory.CAIExportConfig{
		{},
		{Destination: inventory.ExportDestination{Bucket: "Nope"}},
		{Destination: exportDest, PollInterval: -time.Second},
		{Destination: exportDest, Timeout: -time.Second},
	} {
		if _, err := inventory.NewCAIExporter(context.Background(), cai, cfg, nil); err == nil {
			t.Errorf("NewCAIExporter(%+v) succeeded", cfg)
		}
	}
	if _, err := inventory.NewCAIExporter(context.Background(), nil, inventory.CAIExportConfig{Destination: exportDest}, nil); err == nil {
		t.Error("NewCAIExporter without a CAI succeeded")
	}
	checkArgumentsAndCallback(t, newExporter(t, cai, inventory.CAIExportConfig{Destination: exportDest, StorageEndpoint: url}, nil).Export)
}
