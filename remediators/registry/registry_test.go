package registry_test

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/sandbox"
)

// TestActionReadsRetryWithinThePolicy: a live action's read that keeps failing with 503 is
// attempted exactly as often as the retry policy allows, then fails. (The client library's
// own retries, which the actions used before, repeated such a read for up to ten minutes.)
func TestActionReadsRetryWithinThePolicy(t *testing.T) {
	sc, err := sandbox.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sc, sandbox.WithFaults(sandbox.Faults{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable,
		Match: func(_, method string) bool { return method == "firewalls.get" }}))
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	retry := inventory.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, AttemptTimeout: time.Second}
	reg, err := registry.New(t.Context(), remediators.Config{Endpoint: url, Settings: remediators.Settings{Retry: retry}}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	act := reg[firewall.ActionDisable]
	start := time.Now()
	if _, err := act.Snapshot(t.Context(), "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world"); err == nil {
		t.Fatal("a snapshot read through constant 503s succeeded")
	}
	attempts := 0
	for _, c := range srv.Calls() {
		if c.Method == "firewalls.get" {
			attempts += c.Count
		}
	}
	if attempts != retry.MaxAttempts {
		t.Errorf("the read was attempted %d times, want the policy's %d", attempts, retry.MaxAttempts)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("giving up took %v", took)
	}
}
