package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/ledger"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// httpGet returns the status and body of a GET, with an optional GitHub token.
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue reads one sample of the exposition text; -1 when absent.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The worker as a platform team runs it: serve on a schedule against the cloud (a served
// sandbox) and the IaC repository (the sandbox's GitHub, with a canary token), with health
// and metrics; a broken configuration is reported and the last good one kept; SIGTERM ends
// it cleanly; and the token never shows in logs, metrics, the ledger or pull requests.
func TestServeRunsOnScheduleWithHealthMetricsAndNoSecrets(t *testing.T) {
	const canary = "ghp_CANARYzerodriftTOKEN0123456789abcdef"
	sandboxAddr := serveSandbox(t, "--github-token", canary)
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "ledger.db")
	cfgPath := filepath.Join(dir, "zerodrift.yaml")
	writeWorkerConfig(t, cfgPath, "http://"+sandboxAddr, ledgerPath, "  tokenEnv: ZD_TEST_GITHUB_TOKEN\n")
	addr := freeAddr(t)
	base := "http://" + addr
	serve := startServe(t, []string{"ZD_TEST_GITHUB_TOKEN=" + canary}, "--config", cfgPath, "--listen", addr, "--run-now",
		"--jitter", "0", "--leader-election", "off", "--log-format", "json", "--log-level", "debug")

	waitFor(t, "/healthz", 30*time.Second, func() bool { code, _ := httpGet(t, base+"/healthz", ""); return code == http.StatusOK })
	if code, body := httpGet(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	var metrics string
	runsDone := func() float64 { return metricValue(metrics, `zerodrift_runs_total{status="done"}`) }
	waitFor(t, "two runs", 60*time.Second, func() bool {
		_, metrics = httpGet(t, base+"/metrics", "")
		return runsDone() >= 2
	})
	for _, series := range []string{
		`zerodrift_findings{project="acme-prod",rule="firewall-open-ingress",severity="high"}`,
		`zerodrift_decisions_total{action="pr"}`,
		`zerodrift_decisions_total{action="fix"}`,
		`zerodrift_remediations_total{outcome="verified"}`,
		`zerodrift_pull_requests_total{action="opened"}`,
		`zerodrift_pull_requests_total{action="unchanged"}`,
		`zerodrift_api_calls_total{service="compute",status="200"}`,
		`zerodrift_api_calls_total{service="cloudresourcemanager",status="200"}`,
		`zerodrift_api_calls_total{service="github",status="200"}`,
		`zerodrift_run_duration_seconds_count`,
		`zerodrift_last_success_timestamp_seconds`,
		`zerodrift_leader`,
	} {
		if metricValue(metrics, series) <= 0 {
			t.Errorf("metric %s is absent or zero", series)
		}
	}

	// A broken configuration: reported and counted, the last good one kept, still ready.
	if err := os.WriteFile(cfgPath, []byte("mode: [apply\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := runsDone()
	waitFor(t, "a run on the last good configuration", 30*time.Second, func() bool {
		_, metrics = httpGet(t, base+"/metrics", "")
		return metricValue(metrics, "zerodrift_config_reload_errors_total") >= 1 && runsDone() > before
	})
	if code, body := httpGet(t, base+"/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz after a bad configuration: %d %s", code, body)
	}

	// SIGTERM: the process stops within the grace period, cleanly.
	stopServe(t, serve.cmd, serve.exited, 30*time.Second)

	// The ledger is consistent after SIGTERM: every change recorded ended verified or failed,
	// and every run that started has its outcome.
	store, err := ledger.Open(context.Background(), "sqlite://"+ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := store.Changes(context.Background(), ledger.ChangeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		t.Error("the ledger records no change")
	}
	for _, c := range changes {
		if c.Status != ledger.StatusVerified && c.Status != ledger.StatusFailed {
			t.Errorf("change %s on %s left %s", c.ID, c.Resource, c.Status)
		}
		if run, err := store.GetRun(context.Background(), c.RunID); err != nil || run.Status == "running" {
			t.Errorf("run %s of change %s: %v %+v", c.RunID, c.ID, err, run)
		}
	}
	store.Close()

	// Logs are JSON Cloud Logging reads, and a run's lines carry its run ID.
	text := serve.logs.String()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	runEnded := 0
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		sev, _ := line["severity"].(string)
		if sev == "" || sev != strings.ToUpper(sev) || line["message"] == nil || line["time"] == nil {
			t.Errorf("log line lacks Cloud Logging keys: %q", sc.Text())
		}
		if line["message"] == "run ended" {
			runEnded++
			if id, _ := line["runId"].(string); !strings.HasPrefix(id, "run-") {
				t.Errorf("a run's log line has no run ID: %q", sc.Text())
			}
		}
	}
	if runEnded < 2 {
		t.Errorf("%d 'run ended' log lines, want one per run", runEnded)
	}

	// The canary token is nowhere it could leak to.
	if strings.Contains(text, canary) {
		t.Error("the GitHub token appears in the logs")
	}
	if strings.Contains(metrics, canary) {
		t.Error("the GitHub token appears in the metrics")
	}
	for _, f := range []string{ledgerPath, ledgerPath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(canary)) {
			t.Errorf("the GitHub token appears in the ledger file %s", filepath.Base(f))
		}
	}
	code, pulls := httpGet(t, "http://"+sandboxAddr+"/api/v3/repos/acme/infra/pulls?state=all&per_page=100", canary)
	if code != http.StatusOK || !regexp.MustCompile(`"number":\s*\d+`).MatchString(pulls) {
		t.Fatalf("listing pull requests: %d %.200s", code, pulls)
	}
	if strings.Contains(pulls, canary) {
		t.Error("the GitHub token appears in a pull request")
	}
}
