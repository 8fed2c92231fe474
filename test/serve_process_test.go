package test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// serveProcess is a `zerodrift serve` running for a test.
type serveProcess struct {
	cmd    *exec.Cmd
	exited chan error
	// logs is its stdout and stderr.
	logs *lockedBuffer
}

// startServe runs `zerodrift serve` with args, and env added to the test's environment,
// until the test ends; its output is logged when the test fails.
func startServe(t *testing.T, env []string, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{cmd: exec.Command(binary, append([]string{"serve"}, args...)...), exited: make(chan error, 1), logs: &lockedBuffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve logs:\n%s", p.logs.String())
		}
	})
	return p
}

// stopServe sends serve SIGTERM and fails the test unless it exits cleanly within d.
func stopServe(t *testing.T, cmd *exec.Cmd, exited <-chan error, d time.Duration) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(d):
		t.Fatalf("serve did not exit within %v of SIGTERM", d)
	}
}

// writeWorkerConfig writes the configuration of a worker that fixes the four projects of
// the sandbox at sandboxURL, two changes a run, every two seconds, and proposes pull
// requests on its GitHub; github holds the rest of the github section (credentials,
// labels), indented.
func writeWorkerConfig(t *testing.T, path, sandboxURL, ledgerPath, github string) {
	t.Helper()
	cfg := fmt.Sprintf(`mode: apply
maxChanges: 2
schedule: "@every 2s"
scope:
  projects: [acme-prod, acme-dev, acme-legacy, acme-analytics]
gcp:
  endpoint: %[1]s
github:
  repository: acme/infra
  baseBranch: main
  apiURL: %[1]s/api/v3/
  writeInterval: 0s
%[2]sledger: sqlite://%[3]s
`, sandboxURL, github, ledgerPath)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}
