package leader_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/zerodrift/zerodrift/internal/leader"
	"github.com/zerodrift/zerodrift/sandbox/kubeapi"
)

const (
	namespace = "zerodrift"
	leaseName = "zerodrift-leader"

	leaseDuration = time.Second
	renewDeadline = 500 * time.Millisecond
	retryPeriod   = 100 * time.Millisecond
)

// event is a lead call starting or returning.
type event struct {
	id      string
	started bool
	at      time.Time
}

// tracker records lead calls and whether two ever overlapped.
type tracker struct {
	leading atomic.Int32
	overlap atomic.Bool
	events  chan event
}

func newTracker() *tracker { return &tracker{events: make(chan event, 100)} }

func (tr *tracker) lead(id string) func(context.Context) {
	return func(ctx context.Context) {
		if tr.leading.Add(1) > 1 {
			tr.overlap.Store(true)
		}
		tr.events <- event{id: id, started: true, at: time.Now()}
		<-ctx.Done()
		tr.leading.Add(-1)
		tr.events <- event{id: id, started: false, at: time.Now()}
	}
}

// next waits for the next event and checks its kind.
func (tr *tracker) next(t *testing.T, started bool, within time.Duration) event {
	t.Helper()
	select {
	case ev := <-tr.events:
		if ev.started != started {
			t.Fatalf("got event %+v, want started=%v", ev, started)
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no lead call %s within %v", map[bool]string{true: "started", false: "returned"}[started], within)
		return event{}
	}
}

// quiet checks that no lead call starts or returns for d.
func (tr *tracker) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-tr.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func (tr *tracker) checkNoOverlap(t *testing.T) {
	t.Helper()
	if tr.overlap.Load() {
		t.Error("two replicas led at the same time")
	}
}

// candidate is one replica running leader.Run.
type candidate struct {
	id     string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func userAgent(id string) string { return "leader-test/" + id }

func startCandidate(t *testing.T, url, id string, log *zap.Logger, lead func(context.Context)) *candidate {
	t.Helper()
	cfg := leader.Config{
		Namespace: namespace, Name: leaseName, Identity: id,
		LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		// QPS -1 turns off client-go's client-side rate limiter (5 requests/s by default).
		Rest: &rest.Config{Host: url, UserAgent: userAgent(id), QPS: -1},
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{id: id, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- leader.Run(ctx, cfg, log.Named(id), lead) }()
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("Run(%s): %v", id, err)
		}
	})
	return c
}

// stop cancels the candidate's context and returns what Run returned.
func (c *candidate) stop() error {
	c.once.Do(func() {
		c.cancel()
		select {
		case c.err = <-c.done:
		case <-time.After(10 * time.Second):
			c.err = errors.New("Run did not return within 10s of cancellation")
		}
	})
	return c.err
}

func startServer(t *testing.T) *kubeapi.Server {
	t.Helper()
	srv := kubeapi.New()
	if _, err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// testLogger logs to the test and to the returned observer.
func testLogger(t *testing.T) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewTee(c, core)
	})))
	return log, logs
}

func holder(t *testing.T, srv *kubeapi.Server) string {
	t.Helper()
	l, ok := srv.Lease(namespace, leaseName)
	if !ok {
		t.Fatalf("lease %s/%s does not exist", namespace, leaseName)
	}
	return holderOf(l)
}

func holderOf(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// other returns whichever of c1 and c2 is not named id.
func other(c1, c2 *candidate, id string) *candidate {
	if c1.id == id {
		return c2
	}
	return c1
}

// logged reports whether a message starting with prefix was logged by the named logger.
// logged reports whether the named logger wrote a message with prefix, waiting up to
// a second for it: the elector logs why leadership ended just after lead returns, so
// a test that has seen lead return may be a moment ahead of the log.
func logged(logs *observer.ObservedLogs, name, prefix string) bool {
	deadline := time.Now().Add(time.Second)
	for {
		for _, e := range logs.All() {
			if e.LoggerName == name && strings.HasPrefix(e.Message, prefix) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOneLeaderAndHandOverOnShutdown(t *testing.T) {
	srv := startServer(t)
	tr := newTracker()
	log, logs := testLogger(t)
	a := startCandidate(t, srv.URL(), "a", log, tr.lead("a"))
	b := startCandidate(t, srv.URL(), "b", log, tr.lead("b"))

	first := tr.next(t, true, 3*time.Second)
	if got := holder(t, srv); got != first.id {
		t.Fatalf("lease holder = %q, want the leader %q", got, first.id)
	}
	// The leader renews; the other does not take over, even after LeaseDuration.
	tr.quiet(t, leaseDuration+500*time.Millisecond)

	follower := other(a, b, first.id)
	leaderC := other(a, b, follower.id)
	shutdown := time.Now()
	if err := leaderC.stop(); err != nil {
		t.Fatalf("Run(%s) = %v, want nil after cancellation", leaderC.id, err)
	}
	stopped := tr.next(t, false, time.Second)
	if stopped.id != leaderC.id {
		t.Fatalf("lead of %q returned, want %q", stopped.id, leaderC.id)
	}
	second := tr.next(t, true, leaseDuration)
	handover := second.at.Sub(shutdown)
	t.Logf("handover took %v", handover)
	if second.id != follower.id {
		t.Fatalf("%q took over, want %q", second.id, follower.id)
	}
	// ReleaseOnCancel: the follower need not wait for the lease to expire.
	if handover > 700*time.Millisecond {
		t.Errorf("handover took %v, want well under LeaseDuration %v", handover, leaseDuration)
	}
	l, _ := srv.Lease(namespace, leaseName)
	if holderOf(l) != follower.id || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions < 1 {
		t.Errorf("lease spec = holder %q, transitions %v; want %q, at least 1", holderOf(l), l.Spec.LeaseTransitions, follower.id)
	}

	if err := follower.stop(); err != nil {
		t.Fatalf("Run(%s) = %v, want nil after cancellation", follower.id, err)
	}
	tr.next(t, false, time.Second)
	if got := holder(t, srv); got != "" {
		t.Errorf("lease holder after both shut down = %q, want it released", got)
	}
	tr.checkNoOverlap(t)

	for _, want := range []struct{ logger, msg string }{
		{leaderC.id, "became leader"},
		{leaderC.id, "stopped leading: shutting down"},
		{follower.id, "new leader observed"},
		{follower.id, "became leader"},
	} {
		if !logged(logs, want.logger, want.msg) {
			t.Errorf("%s did not log %q", want.logger, want.msg)
		}
	}

	seen := map[string]bool{}
	for _, r := range srv.Requests() {
		seen[r.Method+" "+strings.Replace(r.Path, leaseName, "{name}", 1)+" "+r.ContentType] = true
		if !r.Handled {
			t.Errorf("client-go sent a request the emulator does not serve: %v", r)
		}
	}
	kinds := make([]string, 0, len(seen))
	for k := range seen {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	t.Logf("client-go requests seen:\n%s", strings.Join(kinds, "\n"))
}

// TestPartitionedLeaderStepsDown cuts the leader off from the API server (its requests
// hang): it must stop leading before the other replica can take over.
func TestPartitionedLeaderStepsDown(t *testing.T) {
	srv := startServer(t)
	tr := newTracker()
	log, logs := testLogger(t)
	a := startCandidate(t, srv.URL(), "a", log, tr.lead("a"))
	b := startCandidate(t, srv.URL(), "b", log, tr.lead("b"))

	first := tr.next(t, true, 3*time.Second)
	follower := other(a, b, first.id)
	cut := userAgent(first.id)
	partition := time.Now()
	srv.SetFault(kubeapi.Fault{Hang: true, Match: func(r *http.Request) bool { return r.UserAgent() == cut }})

	stopped := tr.next(t, false, 2*time.Second)
	if stopped.id != first.id {
		t.Fatalf("lead of %q returned, want %q", stopped.id, first.id)
	}
	t.Logf("leader stepped down %v after the partition", stopped.at.Sub(partition))
	if d := stopped.at.Sub(partition); d >= leaseDuration {
		t.Errorf("leader stepped down %v after the partition, want less than LeaseDuration %v", d, leaseDuration)
	}
	second := tr.next(t, true, 3*time.Second)
	if second.id != follower.id {
		t.Fatalf("%q took over, want %q", second.id, follower.id)
	}
	t.Logf("follower took over %v after the partition", second.at.Sub(partition))
	if got := holder(t, srv); got != follower.id {
		t.Errorf("lease holder = %q, want %q", got, follower.id)
	}
	if !logged(logs, first.id, "lost leadership: lease not renewed within RenewDeadline") {
		t.Errorf("%s did not log that it lost leadership", first.id)
	}

	// The partition heals: the old leader campaigns again but the new one keeps the lease.
	srv.ClearFault()
	tr.quiet(t, 600*time.Millisecond)
	if got := holder(t, srv); got != follower.id {
		t.Errorf("lease holder after the partition healed = %q, want %q", got, follower.id)
	}
	tr.checkNoOverlap(t)
}

// TestOutage makes every request fail: the leader steps down, nobody leads during the
// outage, and a leader is elected again when it ends.
func TestOutage(t *testing.T) {
	srv := startServer(t)
	tr := newTracker()
	log, _ := testLogger(t)
	startCandidate(t, srv.URL(), "a", log, tr.lead("a"))
	startCandidate(t, srv.URL(), "b", log, tr.lead("b"))

	first := tr.next(t, true, 3*time.Second)
	srv.SetFault(kubeapi.Fault{Status: http.StatusInternalServerError})
	if ev := tr.next(t, false, 2*time.Second); ev.id != first.id {
		t.Fatalf("lead of %q returned, want %q", ev.id, first.id)
	}
	tr.quiet(t, 500*time.Millisecond)

	srv.ClearFault()
	again := tr.next(t, true, 3*time.Second)
	if got := holder(t, srv); got != again.id {
		t.Errorf("lease holder = %q, want the new leader %q", got, again.id)
	}
	tr.checkNoOverlap(t)
}

// TestLeadReturning: when lead returns while holding the lease, Run releases it and
// campaigns again.
func TestLeadReturning(t *testing.T) {
	srv := startServer(t)
	log, logs := testLogger(t)
	var calls atomic.Int32
	again := make(chan struct{})
	startCandidate(t, srv.URL(), "a", log, func(ctx context.Context) {
		if calls.Add(1) == 1 {
			return
		}
		close(again)
		<-ctx.Done()
	})
	select {
	case <-again:
	case <-time.After(3 * time.Second):
		t.Fatalf("lead was called %d times, want a second call", calls.Load())
	}
	if got := holder(t, srv); got != "a" {
		t.Errorf("lease holder = %q, want a", got)
	}
	if !logged(logs, "a", "stopped leading: lead returned") {
		t.Error("Run did not log that lead returned")
	}
	l, _ := srv.Lease(namespace, leaseName)
	if l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions < 1 {
		t.Errorf("leaseTransitions = %v, want at least 1 (released and acquired again)", l.Spec.LeaseTransitions)
	}
}

// writeLease stores l in the emulator as another client would, with a plain JSON request:
// POST when create, else PUT. It returns the HTTP status.
func writeLease(t *testing.T, srv *kubeapi.Server, l *coordinationv1.Lease, create bool) int {
	t.Helper()
	l.TypeMeta = metav1.TypeMeta{Kind: "Lease", APIVersion: coordinationv1.SchemeGroupVersion.String()}
	body, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	url, method := srv.URL()+kubeapi.LeasesPrefix+namespace+"/leases", http.MethodPost
	if !create {
		url, method = url+"/"+leaseName, http.MethodPut
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func ptrTo[T any](v T) *T { return &v }

// TestLeaseTakenOver: a leader whose renewal finds the lease held by another replica
// steps down at once, not after RenewDeadline; and it takes the lease back only once
// LeaseDuration has passed, on its own clock, without the other renewing it.
func TestLeaseTakenOver(t *testing.T) {
	srv := startServer(t)
	tr := newTracker()
	log, logs := testLogger(t)
	startCandidate(t, srv.URL(), "a", log, tr.lead("a"))
	tr.next(t, true, 3*time.Second)

	l, _ := srv.Lease(namespace, leaseName)
	if got := l.Spec; holderOf(l) != "a" || got.LeaseDurationSeconds == nil || *got.LeaseDurationSeconds != 1 ||
		got.AcquireTime == nil || got.RenewTime == nil || got.LeaseTransitions == nil || *got.LeaseTransitions != 0 {
		t.Errorf("created lease spec = %+v, want holder a, leaseDurationSeconds 1, acquire and renew times, 0 transitions", got)
	}

	var taken time.Time
	for {
		l, _ := srv.Lease(namespace, leaseName)
		l.Spec.HolderIdentity = ptrTo("intruder")
		l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		taken = time.Now()
		code := writeLease(t, srv, l, false)
		if code == http.StatusOK {
			break
		}
		if code != http.StatusConflict {
			t.Fatalf("PUT lease: status %d", code)
		}
	}
	stopped := tr.next(t, false, 2*time.Second)
	t.Logf("leader stepped down %v after the lease was taken over", stopped.at.Sub(taken))
	if d := stopped.at.Sub(taken); d >= renewDeadline {
		t.Errorf("leader stepped down %v after the lease was taken over, want less than RenewDeadline %v", d, renewDeadline)
	}
	if !logged(logs, "a", `lost leadership: lease taken over by "intruder"`) {
		t.Error("a did not log that the lease was taken over")
	}

	again := tr.next(t, true, 3*time.Second)
	t.Logf("lease taken back %v after the takeover", again.at.Sub(taken))
	if d := again.at.Sub(taken); d < leaseDuration {
		t.Errorf("lease taken back %v after the takeover, want at least LeaseDuration %v", d, leaseDuration)
	}
	l, _ = srv.Lease(namespace, leaseName)
	if holderOf(l) != "a" || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
		t.Errorf("lease spec = holder %q, transitions %v; want a, 1", holderOf(l), l.Spec.LeaseTransitions)
	}
	tr.checkNoOverlap(t)
}

// TestStaleLeaseWaitsLeaseDuration: a lease whose holder's renewTime is long past is not
// taken at once, for the holder's clock is not trusted, but LeaseDuration after this
// replica first saw it.
func TestStaleLeaseWaitsLeaseDuration(t *testing.T) {
	srv := startServer(t)
	long := metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
	if code := writeLease(t, srv, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leaseName, Namespace: namespace},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptrTo("ghost"), LeaseDurationSeconds: ptrTo(int32(1)),
			AcquireTime: &long, RenewTime: &long, LeaseTransitions: ptrTo(int32(4)),
		},
	}, true); code != http.StatusCreated {
		t.Fatalf("POST lease: status %d", code)
	}
	tr := newTracker()
	log, logs := testLogger(t)
	start := time.Now()
	startCandidate(t, srv.URL(), "a", log, tr.lead("a"))
	ev := tr.next(t, true, 3*time.Second)
	t.Logf("stale lease taken %v after the start", ev.at.Sub(start))
	if d := ev.at.Sub(start); d < leaseDuration {
		t.Errorf("stale lease taken %v after the start, want at least LeaseDuration %v", d, leaseDuration)
	}
	if !logged(logs, "a", "new leader observed") {
		t.Error("a did not log the ghost holder")
	}
	l, _ := srv.Lease(namespace, leaseName)
	if holderOf(l) != "a" || *l.Spec.LeaseTransitions != 5 || !l.Spec.AcquireTime.After(long.Time) {
		t.Errorf("lease spec = holder %q, transitions %d, acquired %v; want a, 5, now",
			holderOf(l), *l.Spec.LeaseTransitions, l.Spec.AcquireTime)
	}
}

func TestRunReturnsOnCancelledContext(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := leader.Run(ctx, leader.Config{
		Namespace: namespace, Name: leaseName, Identity: "a",
		Rest: &rest.Config{Host: srv.URL()},
	}, nil, func(context.Context) { t.Error("lead called with a cancelled context") })
	if err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestInvalidConfig(t *testing.T) {
	valid := leader.Config{Namespace: namespace, Name: leaseName, Identity: "a", Rest: &rest.Config{Host: "http://127.0.0.1:1"}}
	lead := func(context.Context) {}
	for _, tc := range []struct {
		name   string
		change func(*leader.Config)
		want   []string
	}{
		{"no namespace", func(c *leader.Config) { c.Namespace = "" }, []string{"Namespace is empty"}},
		{"no name", func(c *leader.Config) { c.Name = "" }, []string{"Name is empty"}},
		{"no identity", func(c *leader.Config) { c.Identity = "" }, []string{"Identity is empty"}},
		{"all empty", func(c *leader.Config) { *c = leader.Config{} }, []string{"Namespace is empty", "Name is empty", "Identity is empty"}},
		{"sub-second lease", func(c *leader.Config) { c.LeaseDuration = 500 * time.Millisecond }, []string{"LeaseDuration 500ms is shorter than a second"}},
		{"fractional lease", func(c *leader.Config) { c.LeaseDuration = 1500 * time.Millisecond }, []string{"LeaseDuration 1.5s is not a whole number of seconds"}},
		{"negative lease", func(c *leader.Config) { c.LeaseDuration = -time.Second }, []string{"LeaseDuration -1s"}},
		{"renew deadline too long", func(c *leader.Config) { c.RenewDeadline = 15 * time.Second }, []string{"RenewDeadline 15s"}},
		{"retry period too long", func(c *leader.Config) { c.RetryPeriod = 9 * time.Second }, []string{"RetryPeriod 9s"}},
		{"negative retry period", func(c *leader.Config) { c.RetryPeriod = -time.Second }, []string{"RetryPeriod -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.change(&cfg)
			err := leader.Run(context.Background(), cfg, nil, lead)
			if err == nil {
				t.Fatal("Run accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("nil lead", func(t *testing.T) {
		if err := leader.Run(context.Background(), valid, nil, nil); err == nil {
			t.Error("Run accepted a nil lead func")
		}
	})
	t.Run("not in cluster", func(t *testing.T) {
		if _, ok := os.LookupEnv("KUBERNETES_SERVICE_HOST"); ok {
			t.Skip("running in a Kubernetes pod")
		}
		cfg := valid
		cfg.Rest = nil
		err := leader.Run(context.Background(), cfg, nil, lead)
		if err == nil || !strings.Contains(err.Error(), "in-cluster") {
			t.Errorf("Run without Rest outside a cluster = %v, want an in-cluster config error", err)
		}
	})
}

type fakeFile struct {
	fs.FileInfo
	dir bool
}

func (f fakeFile) IsDir() bool { return f.dir }

func TestInCluster(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	statFile := func(dir bool) func(string) (fs.FileInfo, error) {
		return func(name string) (fs.FileInfo, error) {
			if name != leader.ServiceAccountTokenFile {
				return nil, fs.ErrNotExist
			}
			return fakeFile{dir: dir}, nil
		}
	}
	missing := func(string) (fs.FileInfo, error) { return nil, fs.ErrNotExist }
	pod := map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		stat func(string) (fs.FileInfo, error)
		want bool
	}{
		{"pod", pod, statFile(false), true},
		{"no token", pod, missing, false},
		{"token is a directory", pod, statFile(true), false},
		{"no host", map[string]string{"KUBERNETES_SERVICE_PORT": "443"}, statFile(false), false},
		{"empty host", map[string]string{"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"}, statFile(false), false},
		{"no port", map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, statFile(false), false},
		{"laptop", nil, missing, false},
	} {
		if got := leader.InCluster(env(tc.env), tc.stat); got != tc.want {
			t.Errorf("%s: InCluster = %v, want %v", tc.name, got, tc.want)
		}
	}
}
