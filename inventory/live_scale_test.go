package inventory_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

// callClock records when the sandbox began to answer each call, by service. It is the
// sandbox's fault matcher, which sees every call once faults are set.
type callClock struct {
	mu    sync.Mutex
	times map[string][]time.Time
}

func (c *callClock) match(service, _ string) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.times == nil {
		c.times = map[string][]time.Time{}
	}
	c.times[service] = append(c.times[service], now)
	return true
}

// busiestRate returns the most calls a second of a service over any window of the given
// length. The sandbox sees a call when it arrives: on a busy machine calls the limiter let
// go in turn can arrive bunched, so a window of a few seconds measures the rate the
// client kept, where one second would also measure the machine's scheduling.
func (c *callClock) busiestRate(service string, window time.Duration) float64 {
	c.mu.Lock()
	ts := slices.Clone(c.times[service])
	c.mu.Unlock()
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i, j := 0, 0; i < len(ts); i++ {
		for j < len(ts) && ts[j].Sub(ts[i]) < window {
			j++
		}
		most = max(most, j-i)
	}
	return float64(most) / window.Seconds()
}

// scenarioCounts counts a scenario's projects, service accounts, user-managed keys, and
// folders and organizations.
func scenarioCounts(sc *sandbox.Scenario) (projects, accounts, userKeys, nodes int) {
	for _, a := range sc.Assets {
		switch a.AssetType {
		case inventory.TypeFolder, inventory.TypeOrganization:
			nodes++
		case inventory.TypeProject:
			projects++
		case inventory.TypeServiceAccount:
			accounts++
		case inventory.TypeServiceAccountKey:
			if bytes.Contains(a.Resource.Data, []byte(`"USER_MANAGED"`)) {
				userKeys++
			}
		}
	}
	return projects, accounts, userKeys, nodes
}

// startScaled serves sc with latency on every call, timed by clock.
func startScaled(t testing.TB, sc *sandbox.Scenario, latency time.Duration, clock *callClock) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(sc, sandbox.WithFaults(sandbox.Faults{Latency: latency, Match: clock.match}))
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

type scanResult struct {
	took     time.Duration
	byType   map[string]int
	errs     []inventory.SourceError
	calls    map[string]int // by service and method ("compute projects.get"), answered 200
	failed   int            // calls answered otherwise
	progress []int          // done, as Progress saw it
}

func liveScanOf(t testing.TB, srv *sandbox.Server, cfg inventory.LiveConfig, log *zap.Logger) scanResult {
	t.Helper()
	var res scanResult
	cfg.Progress = func(done, total, assets int) {
		res.progress = append(res.progress, done)
		if total != len(srv.Projects()) {
			t.Errorf("progress reports %d projects in the scan", total)
		}
	}
	live, err := inventory.NewLive(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	srv.ResetCalls()
	res.byType = map[string]int{}
	start := time.Now()
	res.errs, err = live.Scan(context.Background(), srv.Projects(), func(a *inventory.Asset) error {
		res.byType[a.AssetType]++
		return nil
	})
	res.took = time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	res.calls = map[string]int{}
	for _, c := range srv.Calls() {
		if c.Status == http.StatusOK {
			res.calls[c.Service+" "+c.Method] += c.Count
		} else {
			res.failed += c.Count
		}
	}
	return res
}

func (r scanResult) total() int {
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

// TestLiveScanThousandProjects scans 1,000 synthetic projects at 100 ms a call, keeping to
// Google's default QPS limits but for resource manager's, raised as a quota increase would
// allow (at its default quota, getIamPolicy alone takes two minutes: see DefaultQPS). The
// calls per project and the QPS limits are asserted; the time is logged
// (BenchmarkLiveScanThousandProjects measures it).
func TestLiveScanThousandProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("scans 1,000 projects at 100 ms a call")
	}
	sc := sandbox.SyntheticScenario(1000, 1)
	projects, accounts, userKeys, nodes := scenarioCounts(sc)
	clock := &callClock{}
	srv, url := startScaled(t, sc, 100*time.Millisecond, clock)
	// Google's default limits, resource manager's raised (the sandbox has none by default).
	qps := inventory.DefaultQPS()
	qps[inventory.ServiceResourceManager] = 200
	res := liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, QPS: qps}, zap.NewNop())
	t.Logf("%d projects, %d service accounts read in %v: %d calls (%v)", projects, accounts, res.took, res.total(), res.calls)

	if len(res.errs) != 0 || res.failed != 0 {
		t.Fatalf("%d calls failed; source errors %v", res.failed, res.errs)
	}
	if res.byType[inventory.TypeProject] != projects || res.byType[inventory.TypeServiceAccount] != accounts ||
		res.byType[inventory.TypeServiceAccountKey] != userKeys || res.byType[inventory.TypeComputeProject] != projects {
		t.Errorf("read %v; want %d projects and as many compute projects, %d service accounts, %d user-managed keys",
			res.byType, projects, accounts, userKeys)
	}
	// Per project: getIamPolicy, the compute project, the four compute lists and the service
	// account list, and a key list per service account. Per scan: a search per 100 projects,
	// which finds them all (no resource manager projects.get), and a get and a getIamPolicy
	// per folder and organization.
	perProject := 0
	for _, m := range []string{"cloudresourcemanager projects.getIamPolicy", "compute projects.get", "compute firewalls.list",
		"compute networks.list", "compute subnetworks.aggregatedList", "compute instances.aggregatedList",
		"iam projects.serviceAccounts.list"} {
		if res.calls[m] != projects {
			t.Errorf("%d calls of %s for %d projects, want one each", res.calls[m], m, projects)
		}
		perProject += res.calls[m]
	}
	ancestorCalls := 0
	for method, n := range res.calls {
		if strings.HasPrefix(method, "cloudresourcemanager folders.") || strings.HasPrefix(method, "cloudresourcemanager organizations.") {
			ancestorCalls += n
		}
	}
	if ancestorCalls != 2*nodes {
		t.Errorf("%d calls read %d folders and organizations, want 2 each", ancestorCalls, nodes)
	}
	// One key list per service account: IAM cannot list the keys of several at once.
	keyLists := res.calls["iam projects.serviceAccounts.keys.list"]
	if keyLists != accounts {
		t.Errorf("%d key lists for %d service accounts", keyLists, accounts)
	}
	searches := res.calls["cloudresourcemanager projects.search"]
	if gets := res.calls["cloudresourcemanager projects.get"]; searches != (projects+99)/100 || gets != 0 {
		t.Errorf("%d searches and %d gets found the projects, want %d searches and no get", searches, gets, (projects+99)/100)
	}
	if other := res.total() - perProject - ancestorCalls - keyLists - searches; other != 0 {
		t.Errorf("%d calls besides those expected: %v", other, res.calls)
	}
	// 7 calls per project: the 6 of the lists and policies, and the compute project (its
	// common instance metadata, which the OS Login and serial port rules of the CIS section 4
	// need; no list or aggregated call returns it).
	allIn := float64(res.total()-keyLists) / float64(projects)
	if allIn > 7.2 {
		t.Errorf("%.2f calls per project besides key lists, in all: want at most 7.2 (7, and the shared reads)", allIn)
	}
	if len(res.progress) != projects || res.progress[len(res.progress)-1] != projects {
		t.Errorf("progress reported %d times, last %v", len(res.progress), res.progress[len(res.progress)-1:])
	}
	for svc, limit := range qps {
		if got := clock.busiestRate(svc, 2*time.Second); got > limit*1.1 {
			t.Errorf("%s: %.1f calls a second over two seconds, over its limit of %v/s", svc, got, limit)
		}
	}
	t.Logf("calls: %d per project, %d key lists (%.2f per service account), %d searches, %d ancestor reads: %.2f per project in all besides key lists",
		perProject/projects, keyLists, float64(keyLists)/float64(accounts), searches, ancestorCalls, allIn)
}

// BenchmarkLiveScanThousandProjects measures a scan of 1,000 synthetic projects at 100 ms
// a call: with the sandbox's defaults (no QPS limit), with Google's default limits but
// resource manager's raised to 200/s, and with Google's default limits (bound by resource
// manager's default quota: about two minutes).
func BenchmarkLiveScanThousandProjects(b *testing.B) {
	sc := sandbox.SyntheticScenario(1000, 1)
	projects, accounts, _, _ := scenarioCounts(sc)
	raised := inventory.DefaultQPS()
	raised[inventory.ServiceResourceManager] = 200
	for _, bc := range []struct {
		name string
		qps  map[string]float64
	}{
		{"qps=sandbox-default", nil},
		{"qps=google-crm200", raised},
		{"qps=google-default", inventory.DefaultQPS()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, url := startScaled(b, sc, 100*time.Millisecond, &callClock{})
			var res scanResult
			for b.Loop() {
				res = liveScanOf(b, srv, inventory.LiveConfig{Endpoint: url, QPS: bc.qps}, zap.NewNop())
			}
			keys := res.calls["iam projects.serviceAccounts.keys.list"]
			b.ReportMetric(res.took.Seconds(), "s/scan")
			b.ReportMetric(float64(res.total()-keys)/float64(projects), "calls/project")
			b.ReportMetric(float64(keys)/float64(accounts), "keylists/account")
		})
	}
}

func TestLiveKeepsToQPSLimits(t *testing.T) {
	sc := sandbox.SyntheticScenario(40, 7)
	clock := &callClock{}
	srv, url := startScaled(t, sc, 10*time.Millisecond, clock)
	qps := map[string]float64{inventory.ServiceCompute: 60, inventory.ServiceResourceManager: 20, inventory.ServiceIAM: 40}
	res := liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, QPS: qps}, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
	if len(res.errs) != 0 {
		t.Fatalf("source errors %v", res.errs)
	}
	for svc, limit := range qps {
		got := clock.busiestRate(svc, 2*time.Second)
		if got > limit*1.1 {
			t.Errorf("%s: %.1f calls a second over two seconds, over its limit of %v/s", svc, got, limit)
		}
		// The limit binds: the scan asks for more than the limit allows.
		if got < limit*0.5 {
			t.Errorf("%s: at most %.1f calls a second, well under its limit of %v/s: is the limit tested?", svc, got, limit)
		}
	}
}

// retryScan scans p1 of the small scenario with faults set, returning what it read, the
// calls made and the source errors.
func retryScan(t *testing.T, faults sandbox.Faults, retry inventory.RetryPolicy) (*sandbox.Server, *inventory.Live, []inventory.SourceError, map[string]int) {
	t.Helper()
	srv, err := sandbox.New(liveScenario(t, 3, 2, "deniedPolicies: [organizations/1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.SetFaults(faults); err != nil {
		t.Fatal(err)
	}
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url, Retry: retry}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byType := map[string]int{}
	errs, err := live.Scan(ctx, []string{"p1"}, func(a *inventory.Asset) error { byType[a.AssetType]++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if byType[inventory.TypeProject] != 1 {
		t.Errorf("project not read: %v", byType)
	}
	calls := map[string]int{}
	for _, c := range srv.Calls() {
		calls[c.Method+" "+http.StatusText(c.Status)] += c.Count
	}
	return srv, live, errs, calls
}

func statsOf(live *inventory.Live, service string) inventory.ServiceStats {
	for _, s := range live.Stats() {
		if s.Service == service {
			return s
		}
	}
	return inventory.ServiceStats{}
}

// onlyDenial checks that the one source error is the organization policy the scenario denies.
func onlyDenial(t *testing.T, errs []inventory.SourceError) {
	t.Helper()
	if len(errs) != 1 || errs[0].Resource != "organizations/1:getIamPolicy" || errs[0].Code != http.StatusForbidden {
		t.Errorf("source errors %+v, want only the denied organization policy", errs)
	}
}

func TestLiveRetriesRateLimitsAsRetryAfterSays(t *testing.T) {
	start := time.Now()
	_, live, errs, calls := retryScan(t, sandbox.Faults{FailCalls: 2, ErrorStatus: http.StatusTooManyRequests, RetryAfter: time.Second,
		Match: func(_, method string) bool { return method == "projects.serviceAccounts.list" }}, inventory.RetryPolicy{BaseDelay: time.Millisecond})
	took := time.Since(start)
	onlyDenial(t, errs)
	if calls["projects.serviceAccounts.list Too Many Requests"] != 2 || calls["projects.serviceAccounts.list OK"] != 1 {
		t.Errorf("calls %v, want 2 rate-limited service account lists, then one answered", calls)
	}
	if st := statsOf(live, inventory.ServiceIAM); st.Retries != 2 || st.Backoff < 2*time.Second {
		t.Errorf("IAM stats %+v, want 2 retries after 1s each", st)
	}
	// Retry-After: 1 twice, although the backoff alone would have waited a millisecond.
	if took < 2*time.Second {
		t.Errorf("scan took %v: the Retry-After of 1s was not waited twice", took)
	}
}

func TestLiveRetriesServerErrors(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		_, live, errs, calls := retryScan(t, sandbox.Faults{FailCalls: 3, ErrorStatus: status,
			Match: func(_, method string) bool { return method == "firewalls.list" }}, inventory.RetryPolicy{BaseDelay: time.Millisecond})
		onlyDenial(t, errs)
		if calls["firewalls.list "+http.StatusText(status)] != 3 || calls["firewalls.list OK"] != 1 {
			t.Errorf("HTTP %d: calls %v, want 3 failed firewall lists, then one answered", status, calls)
		}
		if st := statsOf(live, inventory.ServiceCompute); st.Retries != 3 || st.GaveUp != 0 {
			t.Errorf("HTTP %d: compute stats %+v", status, st)
		}
	}
}

func TestLiveRetriesComputeRateLimitForbidden(t *testing.T) {
	// Compute Engine answers a spent rate quota with 403 rateLimitExceeded: that one passes.
	_, _, errs, calls := retryScan(t, sandbox.Faults{FailCalls: 1, ErrorStatus: http.StatusForbidden,
		Match: func(_, method string) bool { return method == "networks.list" }}, inventory.RetryPolicy{BaseDelay: time.Millisecond})
	onlyDenial(t, errs)
	if calls["networks.list Forbidden"] != 1 || calls["networks.list OK"] != 1 {
		t.Errorf("calls %v, want a rate-limited network list, then one answered", calls)
	}
}

func TestLiveDoesNotRetryDenials(t *testing.T) {
	_, live, errs, calls := retryScan(t, sandbox.Faults{}, inventory.RetryPolicy{})
	onlyDenial(t, errs)
	if calls["organizations.getIamPolicy Forbidden"] != 1 {
		t.Errorf("calls %v, want the denied organization policy asked for once", calls)
	}
	for _, st := range live.Stats() {
		if st.Retries != 0 {
			t.Errorf("%s retried %d calls", st.Service, st.Retries)
		}
	}
}

func TestLiveGivesUpAfterMaxAttempts(t *testing.T) {
	_, live, errs, calls := retryScan(t, sandbox.Faults{FailCalls: 100, ErrorStatus: http.StatusServiceUnavailable,
		Match: func(_, method string) bool { return method == "subnetworks.aggregatedList" }},
		inventory.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond})
	if calls["subnetworks.aggregatedList Service Unavailable"] != 3 {
		t.Errorf("calls %v, want 3 attempts", calls)
	}
	var found bool
	for _, e := range errs {
		found = found || e.Service == inventory.ServiceCompute && e.Resource == "aggregated subnetworks" && e.Code == 503
	}
	if !found {
		t.Errorf("source errors %+v, want the subnetworks' 503", errs)
	}
	if st := statsOf(live, inventory.ServiceCompute); st.GaveUp != 1 || st.Retries != 2 {
		t.Errorf("compute stats %+v, want 2 retries and 1 call given up", st)
	}
}

func TestLiveFailsAtOnceWhenToldToWaitTooLong(t *testing.T) {
	_, _, errs, calls := retryScan(t, sandbox.Faults{FailCalls: 5, ErrorStatus: http.StatusTooManyRequests, RetryAfter: time.Minute,
		Match: func(_, method string) bool { return method == "instances.aggregatedList" }},
		inventory.RetryPolicy{MaxDelay: time.Second})
	if calls["instances.aggregatedList Too Many Requests"] != 1 {
		t.Errorf("calls %v, want one attempt: a minute is longer than MaxDelay", calls)
	}
	var found bool
	for _, e := range errs {
		found = found || e.Resource == "aggregated instances" && e.Code == http.StatusTooManyRequests
	}
	if !found {
		t.Errorf("source errors %+v, want the instances' 429", errs)
	}
}

func TestLiveStopsWaitingWhenTheContextEnds(t *testing.T) {
	srv, err := sandbox.New(liveScenario(t, 3, 2, ""), sandbox.WithFaults(sandbox.Faults{FailCalls: 100,
		ErrorStatus: http.StatusTooManyRequests, RetryAfter: 20 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := live.Scan(ctx, []string{"p1"}, func(*inventory.Asset) error { return nil }); err == nil {
		t.Error("scan ended well although its context ended while it waited")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("scan took %v after its context ended at 300ms", took)
	}
}

// TestShardedScansCoverTheScan scans a synthetic organisation in 4 shards: between them they
// read every asset of the unsharded scan, and each project in one shard only. Folders and
// the organization are read by every shard holding a project under them.
func TestShardedScansCoverTheScan(t *testing.T) {
	srv, url := startScaled(t, sandbox.SyntheticScenario(60, 5), 0, &callClock{})
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url}, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	scan := func(projects []string) map[string]string {
		names := map[string]string{}
		errs, err := live.Scan(context.Background(), projects, func(a *inventory.Asset) error {
			names[a.Name] = a.AssetType
			return nil
		})
		if err != nil || len(errs) != 0 {
			t.Fatalf("scan: %v, %v", err, errs)
		}
		return names
	}
	all := scan(srv.Projects())
	union := map[string]string{}
	owner := map[string]int{}
	for i := range 4 {
		for name, typ := range scan(inventory.Shard(srv.Projects(), i, 4)) {
			union[name] = typ
			if typ == inventory.TypeFolder || typ == inventory.TypeOrganization {
				continue
			}
			if prev, dup := owner[name]; dup {
				t.Errorf("%s read by shards %d and %d", name, prev, i)
			}
			owner[name] = i
		}
	}
	if len(union) != len(all) {
		t.Errorf("the shards read %d assets, the whole scan %d", len(union), len(all))
	}
	for name := range all {
		if _, ok := union[name]; !ok {
			t.Errorf("%s read by no shard", name)
		}
	}
}
