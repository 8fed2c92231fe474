package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A team rehearses against a sandbox served on its own, pointing zerodrift at it through
// gcp.endpoint, as they would point it at a private endpoint.
// serveSandbox runs `zerodrift sandbox serve` on a free port until the test ends, and
// returns its address.
func serveSandbox(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	srv := exec.Command(binary, append([]string{"sandbox", "serve", "--listen", addr}, args...)...)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sandbox serve did not stop cleanly on interrupt: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			t.Error("sandbox serve ignored an interrupt")
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "sandbox serving 4 projects at http://"+addr) {
			t.Fatalf("sandbox serve said %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sandbox serve did not start")
	}
	return addr
}

// A team rehearses against a sandbox served on its own, pointing zerodrift at it through
// gcp.endpoint, as they would point it at a private endpoint.
func TestScanAgainstAServedSandboxThroughConfig(t *testing.T) {
	exp := loadExpected(t)
	addr := serveSandbox(t)

	cfg := filepath.Join(t.TempDir(), "zerodrift.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("scope:\n  projects: [acme-prod, acme-dev, acme-legacy, acme-analytics]\ngcp:\n  endpoint: http://%s\n", addr)), 0o600)
	r := zerodrift(t, "", "scan", "--config", cfg, "--format", "json", "--now", exp.Now)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr %s", r.code, r.stderr)
	}
	checkFindings(t, decodeReport(t, r), exp)

	// --project narrows the configured scope; the project's ancestors are still read.
	r = zerodrift(t, "", "scan", "--config", cfg, "--project", "acme-legacy", "--format", "json", "--now", exp.Now)
	var rules []string
	for _, f := range decodeReport(t, r).Findings {
		rules = append(rules, f.Rule+" "+f.Resource)
	}
	want := []string{
		"iam-public-member //cloudresourcemanager.googleapis.com/organizations/123456789012",
		"iam-primitive-role-user //cloudresourcemanager.googleapis.com/projects/100000000003",
		"network-legacy //compute.googleapis.com/projects/acme-legacy/global/networks/legacy-net",
		// Set rules judge what the narrowed scan read: acme-legacy's policy with the
		// organization's above it, and legacy-net with the project's firewall rules (none).
		"audit-logging-disabled //cloudresourcemanager.googleapis.com/projects/100000000003",
		"egress-deny-not-set //compute.googleapis.com/projects/acme-legacy/global/networks/legacy-net",
	}
	if strings.Join(rules, "\n") != strings.Join(want, "\n") {
		t.Errorf("--project acme-legacy found %v, want %v", rules, want)
	}
}
