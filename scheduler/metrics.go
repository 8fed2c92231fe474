package scheduler

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zerodrift/zerodrift/engine"
)

// Metrics are the worker's Prometheus series, on a registry the worker owns (nothing is
// registered globally).
type Metrics struct {
	reg *prometheus.Registry

	findings     *prometheus.GaugeVec
	decisions    *prometheus.CounterVec
	remediations *prometheus.CounterVec
	pullRequests *prometheus.CounterVec
	runs         *prometheus.CounterVec
	runDuration  prometheus.Histogram
	lastSuccess  prometheus.Gauge
	skipped      prometheus.Counter
	panics       prometheus.Counter
	apiCalls     *prometheus.CounterVec
	configErrors prometheus.Counter
	leader       prometheus.Gauge
}

// NewMetrics creates the series and registers them, with the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "zerodrift_findings",
			Help: "Findings of the last completed run, by rule, severity and project."}, []string{"rule", "severity", "project"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodrift_decisions_total",
			Help: "Decisions made on findings, by action (fix, pr, report, exempt, refused, already-fixed, skipped-limit)."}, []string{"action"}),
		remediations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodrift_remediations_total",
			Help: "Live changes made, by outcome (verified, failed)."}, []string{"outcome"}),
		pullRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodrift_pull_requests_total",
			Help: "Pull request actions (opened, updated, unchanged, declined, commented, closed...)."}, []string{"action"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodrift_runs_total",
			Help: "Runs by status (done, failed, stopped)."}, []string{"status"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zerodrift_run_duration_seconds",
			Help: "How long runs take.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zerodrift_last_success_timestamp_seconds",
			Help: "Unix time the last run completed without error."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "zerodrift_runs_skipped_total",
			Help: "Runs not started because the previous run was still going."}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "zerodrift_run_panics_total",
			Help: "Runs that panicked (recovered; later runs go on)."}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zerodrift_api_calls_total",
			Help: "Calls to Google Cloud and GitHub APIs, by service and HTTP status (\"error\" when no response)."}, []string{"service", "status"}),
		configErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "zerodrift_config_reload_errors_total",
			Help: "Configuration reloads that failed; the last good configuration stays in use."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "zerodrift_leader",
			Help: "1 while this replica leads (runs the schedule), else 0."}),
	}
	m.reg.MustRegister(m.findings, m.decisions, m.remediations, m.pullRequests, m.runs, m.runDuration, m.lastSuccess,
		m.skipped, m.panics, m.apiCalls, m.configErrors, m.leader,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry the series are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRun records a finished run: res may be nil when the run failed before deciding.
func (m *Metrics) ObserveRun(res *engine.Result, took time.Duration, status string, end time.Time) {
	m.runs.WithLabelValues(status).Inc()
	m.runDuration.Observe(took.Seconds())
	if status == "done" {
		m.lastSuccess.Set(float64(end.Unix()))
	}
	if res == nil {
		return
	}
	if status == "done" {
		// The gauge says what is open now: only a complete run can say that.
		m.findings.Reset()
		for _, f := range res.Findings {
			m.findings.WithLabelValues(f.Rule, strings.ToLower(f.Severity.String()), f.Project).Inc()
		}
	}
	for _, d := range res.Decisions {
		m.decisions.WithLabelValues(d.Action).Inc()
		if d.ChangeStatus != "" {
			m.remediations.WithLabelValues(d.ChangeStatus).Inc()
		}
		if d.PR != nil && d.PR.Outcome != "" {
			m.pullRequests.WithLabelValues(d.PR.Outcome).Inc()
		}
	}
	if n := res.Summary.ClosedPRs; n > 0 {
		m.pullRequests.WithLabelValues("closed").Add(float64(n))
	}
}

// Skipped counts a run not started because the previous one was going.
func (m *Metrics) Skipped() { m.skipped.Inc() }

// Panicked counts a recovered panic.
func (m *Metrics) Panicked() { m.panics.Inc() }

// ConfigReloadFailed counts a configuration reload that failed.
func (m *Metrics) ConfigReloadFailed() { m.configErrors.Inc() }

// SetLeader records whether this replica leads.
func (m *Metrics) SetLeader(leads bool) {
	v := 0.0
	if leads {
		v = 1
	}
	m.leader.Set(v)
}

// Transport counts the calls made through rt as calls to service ("compute", "github"...).
func (m *Metrics) Transport(service string, rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return countingTransport{service: service, rt: rt, calls: m.apiCalls}
}

type countingTransport struct {
	service string
	rt      http.RoundTripper
	calls   *prometheus.CounterVec
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.calls.WithLabelValues(t.service, status).Inc()
	return resp, err
}
