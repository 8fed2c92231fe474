package scheduler

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/rules"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startWorker serves a worker on a free port until the test ends.
func startWorker(t *testing.T, o WorkerOptions) (base string, stop func()) {
	t.Helper()
	o.Log, o.Metrics = zaptest.NewLogger(t), NewMetrics()
	if o.Loop.Schedule == nil {
		s, _ := config.ParseSchedule("@every 1h", "")
		o.Loop.Schedule = func() cron.Schedule { return s }
	}
	w, err := NewWorker(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.ServeOn(ctx, ln) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func TestHealthAndReadiness(t *testing.T) {
	var ledgerDown atomic.Bool
	base, _ := startWorker(t, WorkerOptions{
		Job: func(context.Context, <-chan struct{}) error { return nil },
		Ready: func(context.Context) error {
			if ledgerDown.Load() {
				return errors.New("the ledger is unreachable: connection refused")
			}
			return nil
		},
	})
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}
	ledgerDown.Store(true)
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "ledger is unreachable") {
		t.Errorf("/readyz with the ledger down: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz must stay up while not ready: %d", code)
	}
}

// Only the leader runs: a replica runs the schedule while its term lasts, and stops when
// it ends.
func TestOnlyTheLeaderRuns(t *testing.T) {
	runs := make(chan struct{}, 10)
	term := make(chan struct{})
	leading := make(chan context.Context, 1)
	base, stop := startWorker(t, WorkerOptions{
		Loop: Options{RunNow: true},
		Job:  func(context.Context, <-chan struct{}) error { runs <- struct{}{}; return nil },
		Elect: func(ctx context.Context, lead func(context.Context)) error {
			select {
			case <-term: // another replica leads until the test says so
			case <-ctx.Done():
				return nil
			}
			lctx, lose := context.WithCancel(ctx)
			defer lose()
			leading <- lctx
			lead(lctx)
			return nil
		},
	})
	select {
	case <-runs:
		t.Fatal("a replica that does not lead ran")
	case <-time.After(100 * time.Millisecond):
	}
	if _, text := get(t, base+"/metrics"); !strings.Contains(text, "zerodrift_leader 0") {
		t.Error("zerodrift_leader is not 0 before leading")
	}
	close(term)
	<-leading
	select {
	case <-runs:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not run")
	}
	if _, text := get(t, base+"/metrics"); !strings.Contains(text, "zerodrift_leader 1") {
		t.Error("zerodrift_leader is not 1 while leading")
	}
	stop()
}

func TestMetricsOfARun(t *testing.T) {
	m := NewMetrics()
	res := &engine.Result{
		Findings: []rules.Finding{
			{Rule: "firewall-open-ingress", Severity: rules.SeverityHigh, Project: "p"},
			{Rule: "firewall-open-ingress", Severity: rules.SeverityHigh, Project: "p"},
		},
		Decisions: []engine.Decision{
			{Action: engine.ActionFix, ChangeStatus: "verified"},
			{Action: engine.ActionPR, PR: &engine.PRProposal{Outcome: "opened"}},
		},
		Summary: engine.RunSummary{ClosedPRs: 1},
	}
	m.ObserveRun(res, 3*time.Second, "done", time.Unix(1700000000, 0))
	m.ObserveRun(nil, time.Second, "failed", time.Unix(1700000100, 0))
	rt := m.Transport("compute", roundTripper(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 403, Body: http.NoBody}, nil
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://example.invalid/", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`zerodrift_findings{project="p",rule="firewall-open-ingress",severity="high"} 2`,
		`zerodrift_decisions_total{action="fix"} 1`,
		`zerodrift_remediations_total{outcome="verified"} 1`,
		`zerodrift_pull_requests_total{action="opened"} 1`,
		`zerodrift_pull_requests_total{action="closed"} 1`,
		`zerodrift_runs_total{status="done"} 1`,
		`zerodrift_runs_total{status="failed"} 1`,
		`zerodrift_last_success_timestamp_seconds 1.7e+09`,
		`zerodrift_run_duration_seconds_count 2`,
		`zerodrift_api_calls_total{service="compute",status="403"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
