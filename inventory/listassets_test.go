package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/option"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
	"github.com/zerodrift/zerodrift/scan"
)

// The built-in scenario's organization and its prod folder (projects acme-prod and
// acme-shared).
const (
	builtinOrg    = "organizations/123456789012"
	builtinFolder = "folders/111111111111"
)

// builtinNow is the time the built-in scenario's expected findings are computed at.
var builtinNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// requestLog records the URLs of the calls a client makes.
type requestLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *requestLog) wrap(service string, rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.urls = append(l.urls, service+" "+r.URL.String())
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.urls)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// startBuiltin serves the built-in scenario until the test ends.
func startBuiltin(t *testing.T, opts ...sandbox.Option) (*sandbox.Server, string) {
	t.Helper()
	sc, err := sandbox.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, url
}

func newCAI(t *testing.T, cfg inventory.CAIConfig) *inventory.CAI {
	t.Helper()
	c, err := inventory.NewCAI(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func scanOptions() scan.Options {
	return scan.Options{Rules: rules.Default(), Env: rules.DefaultEnv(builtinNow)}
}

// ruleTypes are the asset types the default rules read, as the caller of CAISource passes them.
func ruleTypes() []string { return scan.New(scanOptions()).AssetTypes() }

func runScan(t *testing.T, src inventory.Source) *scan.Report {
	t.Helper()
	rep, err := scan.Run(context.Background(), src, scanOptions())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func findingIDs(rep *scan.Report) []string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.ID+" "+f.Rule+" "+f.Resource)
	}
	return out
}

// The organization read through Cloud Asset Inventory gives the findings the per-project
// live scan gives, in two calls (one per content type) filtered to the rules' asset types.
func TestCAISourceMatchesLiveScan(t *testing.T) {
	srv, url := startBuiltin(t)
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	liveRep := runScan(t, &inventory.LiveSource{Live: live, Projects: srv.Projects()})

	var reqs requestLog
	srv.ResetCalls()
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url, WrapTransport: reqs.wrap})
	src := &inventory.CAISource{CAI: cai, Scope: builtinOrg, AssetTypes: ruleTypes()}
	caiRep := runScan(t, src)

	if len(liveRep.Findings) == 0 {
		t.Fatal("the live scan found nothing: the comparison would prove nothing")
	}
	if got, want := findingIDs(caiRep), findingIDs(liveRep); !slices.Equal(got, want) {
		t.Errorf("CAI and live findings differ:\ncai:  %v\nlive: %v", got, want)
	}
	// The live scan cannot read the dev folder's policy nor acme-analytics' compute API;
	// an organization-wide listing has neither problem.
	if len(caiRep.Errors) != 0 || len(liveRep.Errors) == 0 {
		t.Errorf("errors: CAI %+v, live %+v; want none through CAI and some live", caiRep.Errors, liveRep.Errors)
	}
	if caiRep.Summary.Source != "cloud asset inventory: "+builtinOrg || caiRep.Summary.Projects != liveRep.Summary.Projects {
		t.Errorf("summary %+v, live %+v", caiRep.Summary, liveRep.Summary)
	}

	if got := srv.Calls(); !slices.Equal(got, []sandbox.CallCount{{Service: sandbox.ServiceCloudAsset, Method: "assets.list", Status: 200, Count: 2}}) {
		t.Errorf("calls %+v, want two assets.list", got)
	}
	var contents []string
	for _, u := range reqs.all() {
		if !strings.HasPrefix(u, inventory.ServiceCloudAsset+" "+url+"/v1/"+builtinOrg+"/assets?") {
			t.Errorf("request %s, want ListAssets on %s", u, builtinOrg)
			continue
		}
		q := mustQuery(t, u)
		contents = append(contents, q.Get("contentType"))
		if got := q["assetTypes"]; !slices.Equal(got, ruleTypes()) {
			t.Errorf("assetTypes %v, want the rules' %v", got, ruleTypes())
		}
		if q.Get("pageSize") != "1000" {
			t.Errorf("pageSize %q, want 1000", q.Get("pageSize"))
		}
	}
	if !slices.Equal(contents, []string{"IAM_POLICY", "RESOURCE"}) {
		t.Errorf("content types %v, want the policies, then the resources", contents)
	}
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	_, raw, _ := strings.Cut(u, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return q
}

// A folder scope reads that folder, its projects and their resources: exactly the
// organization's findings on assets under the folder.
func TestCAISourceFolderScope(t *testing.T) {
	srv, url := startBuiltin(t)
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	org := runScan(t, &inventory.CAISource{CAI: cai, Scope: builtinOrg, AssetTypes: ruleTypes()})
	folder := runScan(t, &inventory.CAISource{CAI: cai, Scope: builtinFolder, AssetTypes: ruleTypes()})

	under := map[string]bool{}
	projectsUnder := map[string]bool{}
	for _, a := range srv.Assets() {
		under[a.Name] = slices.Contains(a.Ancestors, builtinFolder)
		if under[a.Name] && a.Project() != "" && !strings.HasPrefix(a.Project(), "projects/") {
			projectsUnder[a.Project()] = true
		}
	}
	var want []string
	for _, f := range org.Findings {
		if under[f.Resource] {
			want = append(want, f.ID+" "+f.Rule+" "+f.Resource)
		}
	}
	got := findingIDs(folder)
	if !slices.Equal(got, want) || len(got) == 0 || len(got) == len(org.Findings) {
		t.Errorf("folder findings %v,\nwant the %d of %d organization findings under %s: %v", got, len(want), len(org.Findings), builtinFolder, want)
	}
	for _, f := range folder.Findings {
		if !projectsUnder[f.Project] && f.Resource != "//cloudresourcemanager.googleapis.com/"+builtinFolder {
			t.Errorf("finding %s on %s (project %q) is outside %s", f.ID, f.Resource, f.Project, builtinFolder)
		}
	}

	// A project scope, by ID: that project only.
	proj := runScan(t, &inventory.CAISource{CAI: cai, Scope: "projects/acme-prod", AssetTypes: ruleTypes()})
	if len(proj.Findings) == 0 {
		t.Error("no findings in projects/acme-prod")
	}
	for _, f := range proj.Findings {
		if f.Project != "acme-prod" {
			t.Errorf("project scope: finding %s in project %q", f.ID, f.Project)
		}
	}
}

// Small pages give the same assets, each page read in turn; the page size is sent.
func TestCAISourcePages(t *testing.T) {
	srv, url := startBuiltin(t)
	all := listAll(t, newCAI(t, inventory.CAIConfig{Endpoint: url}), builtinOrg, ruleTypes())
	srv.ResetCalls()
	var reqs requestLog
	paged := listAll(t, newCAI(t, inventory.CAIConfig{Endpoint: url, PageSize: 3, WrapTransport: reqs.wrap}), builtinOrg, ruleTypes())
	if !reflect.DeepEqual(names(paged), names(all)) {
		t.Errorf("pages of 3 gave %v, want %v", names(paged), names(all))
	}
	for i := range all {
		if !reflect.DeepEqual(paged[i].IAMPolicy, all[i].IAMPolicy) {
			t.Errorf("%s: policy %+v paged, %+v not", all[i].Name, paged[i].IAMPolicy, all[i].IAMPolicy)
		}
	}
	var withPolicy int
	for _, a := range all {
		if a.IAMPolicy != nil {
			withPolicy++
		}
	}
	wantCalls := (len(all)+2)/3 + (withPolicy+2)/3
	if got := len(reqs.all()); got != wantCalls || wantCalls < 5 {
		t.Errorf("%d calls for %d assets (%d with a policy) in pages of 3, want %d", got, len(all), withPolicy, wantCalls)
	}
	for _, u := range reqs.all() {
		if q := mustQuery(t, u); q["pageSize"][0] != "3" {
			t.Errorf("request %s: pageSize %v, want 3", u, q["pageSize"])
		}
	}
}

func listAll(t *testing.T, cai *inventory.CAI, scope string, types []string) []*inventory.Asset {
	t.Helper()
	var out []*inventory.Asset
	errs, err := cai.List(context.Background(), scope, types, func(a *inventory.Asset) error {
		out = append(out, a)
		return nil
	})
	if err != nil || len(errs) != 0 {
		t.Fatalf("List(%s): errors %+v, %v", scope, errs, err)
	}
	return out
}

func names(as []*inventory.Asset) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

// Every asset arrives as the sandbox holds it: the resource (data as JSON, metadata), the
// IAM policy merged onto the same asset (conditions and audit configs included), the
// ancestry and the update time.
func TestCAISourceConvertsFaithfully(t *testing.T) {
	srv, url := startBuiltin(t)
	got := listAll(t, newCAI(t, inventory.CAIConfig{Endpoint: url}), builtinOrg, []string{".*"})
	want := srv.Assets()
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("listed %v,\nthe state holds %v", names(got), names(want))
	}
	merged := 0
	for i, a := range got {
		if sameAssets(t, a, want[i]) && a.Resource != nil && a.IAMPolicy != nil {
			merged++
		}
	}
	if merged < 7 { // the organization, two folders and four projects
		t.Errorf("%d assets carry both a resource and a policy, want at least 7", merged)
	}
}

// sameAssets reports how got differs from want (its type, ancestry, update time, IAM
// policy or resource, data compared as JSON) and whether they are alike.
func sameAssets(t *testing.T, got, want *inventory.Asset) bool {
	t.Helper()
	same := true
	if got.AssetType != want.AssetType || !slices.Equal(got.Ancestors, want.Ancestors) || !got.UpdateTime.Equal(want.UpdateTime) {
		t.Errorf("%s: type %s, ancestors %v, updated %v; want %s, %v, %v", got.Name, got.AssetType, got.Ancestors, got.UpdateTime,
			want.AssetType, want.Ancestors, want.UpdateTime)
		same = false
	}
	if !reflect.DeepEqual(got.IAMPolicy, want.IAMPolicy) {
		t.Errorf("%s: policy %+v, want %+v", got.Name, got.IAMPolicy, want.IAMPolicy)
		same = false
	}
	if (got.Resource == nil) != (want.Resource == nil) {
		t.Errorf("%s: resource %v, want %v", got.Name, got.Resource, want.Resource)
		return false
	}
	if got.Resource != nil {
		gr, wr := got.Resource, want.Resource
		if !jsonEqual(t, gr.Data, wr.Data) {
			t.Errorf("%s: data %s, want %s", got.Name, gr.Data, wr.Data)
			same = false
		}
		// The resource apart from its data (and what the decoder read from it on the way).
		type meta struct{ Version, DocURI, DiscoveryName, Parent, Location string }
		gm := meta{gr.Version, gr.DiscoveryDocumentURI, gr.DiscoveryName, gr.Parent, gr.Location}
		wm := meta{wr.Version, wr.DiscoveryDocumentURI, wr.DiscoveryName, wr.Parent, wr.Location}
		if gm != wm {
			t.Errorf("%s: resource %+v, want %+v", got.Name, gr, wr)
			same = false
		}
	}
	return same
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// A change made through the Compute API shows in the next listing.
func TestCAISourceSeesChangesMadeThroughTheAPIs(t *testing.T) {
	_, url := startBuiltin(t)
	src := &inventory.CAISource{CAI: newCAI(t, inventory.CAIConfig{Endpoint: url}), Scope: builtinOrg, AssetTypes: ruleTypes()}
	before := runScan(t, src)

	ctx := context.Background()
	fw, err := compute.NewFirewallsRESTClient(ctx, option.WithEndpoint(url), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	op, err := fw.Insert(ctx, &computepb.InsertFirewallRequest{Project: "acme-legacy", FirewallResource: &computepb.Firewall{
		Name:         proto.String("allow-telnet-world"),
		Network:      proto.String("https://www.googleapis.com/compute/v1/projects/acme-legacy/global/networks/legacy-net"),
		Direction:    proto.String("INGRESS"),
		SourceRanges: []string{"0.0.0.0/0"},
		Allowed:      []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"23"}}},
		LogConfig:    &computepb.FirewallLogConfig{Enable: proto.Bool(true)}, // open to the world is its only drift
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	after := runScan(t, src)
	const name = "//compute.googleapis.com/projects/acme-legacy/global/firewalls/allow-telnet-world"
	var added []string
	for _, f := range after.Findings {
		if !slices.ContainsFunc(before.Findings, func(b rules.Finding) bool { return b.ID == f.ID }) {
			added = append(added, f.Resource)
		}
	}
	if !slices.Equal(added, []string{name}) {
		t.Errorf("new findings on %v, want one on %s", added, name)
	}
}

// A listing the caller may not make is a SourceError naming the scope, the content type and
// the permission; the other listing is still read.
func TestCAISourceReportsDeniedListings(t *testing.T) {
	_, url := startBuiltin(t, sandbox.WithPermissions([]string{"cloudasset.assets.listResource"}))
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url})
	var got []*inventory.Asset
	errs, err := cai.List(context.Background(), builtinOrg, ruleTypes(), func(a *inventory.Asset) error {
		got = append(got, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 {
		t.Fatalf("errors %+v, want one", errs)
	}
	e := errs[0]
	if e.Service != inventory.ServiceCloudAsset || e.Resource != builtinOrg || e.Code != http.StatusForbidden ||
		!strings.Contains(e.Message, "IAM_POLICY") || !strings.Contains(e.Message, "cloudasset.assets.listIamPolicy") {
		t.Errorf("error %+v, want a 403 of cloudasset on %s naming IAM_POLICY and the permission", e, builtinOrg)
	}
	if !strings.Contains(e.Error(), "cloudasset "+builtinOrg+": HTTP 403") {
		t.Errorf("Error() = %q", e.Error())
	}
	if len(got) == 0 || slices.ContainsFunc(got, func(a *inventory.Asset) bool { return a.IAMPolicy != nil || a.Resource == nil }) {
		t.Errorf("got %d assets; want the resources, without policies", len(got))
	}

	// A scope that does not exist (or is not permitted) fails both listings.
	errs, err = cai.List(context.Background(), "organizations/999", ruleTypes(), func(*inventory.Asset) error { return nil })
	if err != nil || len(errs) != 2 || errs[0].Code != http.StatusForbidden || errs[1].Code != http.StatusForbidden ||
		errs[0].Resource != "organizations/999" {
		t.Errorf("unknown organization: errors %+v, %v; want two 403 SourceErrors", errs, err)
	}
}

// A page that fails transiently is asked again; one that keeps failing is reported.
func TestCAISourceRetriesTransientFailures(t *testing.T) {
	onlyCAI := func(service, _ string) bool { return service == sandbox.ServiceCloudAsset }
	srv, url := startBuiltin(t, sandbox.WithFaults(sandbox.Faults{Seed: 3, ErrorRate: 0.5, ErrorStatus: http.StatusServiceUnavailable, Match: onlyCAI}))
	cai := newCAI(t, inventory.CAIConfig{Endpoint: url, PageSize: 5, MaxAttempts: 20, BaseDelay: time.Millisecond})
	got := listAll(t, cai, builtinOrg, ruleTypes())
	if failed := callCount(srv, http.StatusServiceUnavailable); failed == 0 || len(got) == 0 {
		t.Errorf("%d assets after %d failed calls; want every asset despite some failures", len(got), failed)
	}

	if err := srv.SetFaults(sandbox.Faults{Seed: 3, ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, Match: onlyCAI}); err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	cai = newCAI(t, inventory.CAIConfig{Endpoint: url, MaxAttempts: 3, BaseDelay: time.Millisecond})
	errs, err := cai.List(context.Background(), builtinOrg, ruleTypes(), func(*inventory.Asset) error { return nil })
	if err != nil || len(errs) != 2 || errs[0].Code != http.StatusTooManyRequests {
		t.Errorf("always 429: errors %+v, %v; want one per listing", errs, err)
	}
	if n := callCount(srv, http.StatusTooManyRequests); n != 6 {
		t.Errorf("%d calls, want 3 attempts for each listing", n)
	}

	// An attempt that does not answer in time is abandoned, and retried.
	if err := srv.SetFaults(sandbox.Faults{Latency: time.Minute, Match: onlyCAI}); err != nil {
		t.Fatal(err)
	}
	cai = newCAI(t, inventory.CAIConfig{Endpoint: url, MaxAttempts: 2, BaseDelay: time.Millisecond, AttemptTimeout: 50 * time.Millisecond})
	start := time.Now()
	errs, err = cai.List(context.Background(), builtinOrg, ruleTypes(), func(*inventory.Asset) error { return nil })
	if err != nil || len(errs) != 2 || !strings.Contains(errs[0].Message, "deadline exceeded") || time.Since(start) > 10*time.Second {
		t.Errorf("hanging API: errors %+v, %v after %v; want one timeout per listing, soon", errs, err, time.Since(start))
	}
}

func callCount(srv *sandbox.Server, status int) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Service == sandbox.ServiceCloudAsset && c.Status == status {
			n += c.Count
		}
	}
	return n
}

// Invalid arguments fail the read; a failing callback stops it with its error.
func TestCAISourceArgumentsAndCallbackErrors(t *testing.T) {
	_, url := startBuiltin(t)
	checkArgumentsAndCallback(t, newCAI(t, inventory.CAIConfig{Endpoint: url}).List)
	for _, cfg := range []inventory.CAIConfig{{PageSize: -1}, {PageSize: 1001}, {MaxAttempts: -1}, {BaseDelay: -time.Second}, {AttemptTimeout: -time.Second}} {
		if _, err := inventory.NewCAI(context.Background(), cfg, nil); err == nil {
			t.Errorf("NewCAI(%+v) succeeded", cfg)
		}
	}
}

// checkArgumentsAndCallback proves that read (CAI.List, CAIExporter.Export) refuses a scope
// that is not one and a read without asset types, stops at its callback's first error,
// and stops with a cancelled context.
func checkArgumentsAndCallback(t *testing.T, read func(context.Context, string, []string, func(*inventory.Asset) error) ([]inventory.SourceError, error)) {
	t.Helper()
	for _, tc := range []struct {
		scope string
		types []string
	}{
		{"organization/1", ruleTypes()},
		{"folders/abc", ruleTypes()},
		{"projects/a/b", ruleTypes()},
		{builtinOrg, nil},
		{builtinOrg, []string{""}},
	} {
		if _, err := read(context.Background(), tc.scope, tc.types, func(*inventory.Asset) error { return nil }); err == nil {
			t.Errorf("reading (%q, %q) succeeded", tc.scope, tc.types)
		}
	}
	stop := errors.New("stop")
	n := 0
	_, err := read(context.Background(), builtinOrg, ruleTypes(), func(*inventory.Asset) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("callback error: %v after %d calls; want stop after 1", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := read(ctx, builtinOrg, ruleTypes(), func(*inventory.Asset) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
