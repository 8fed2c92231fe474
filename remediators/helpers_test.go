package remediators_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/sandbox"
)

// The scenario of testdata/scenario.
const (
	prodProject   = "zd-prod"
	prodNumber    = "300000000001"
	soloNumber    = "300000000002"
	folderName    = "folders/310000000001"
	appMember     = "serviceAccount:app@zd-prod.iam.gserviceaccount.com"
	selfMember    = "serviceAccount:zerodrift@zd-prod.iam.gserviceaccount.com"
	trustedRange  = "35.235.240.0/20"
	computePrefix = "//compute.googleapis.com/projects/"
)

func firewallName(project, name string) string {
	return computePrefix + project + "/global/firewalls/" + name
}

func networkName(project, name string) string {
	return computePrefix + project + "/global/networks/" + name
}

func projectName(number string) string {
	return "//cloudresourcemanager.googleapis.com/projects/" + number
}

func keyName(account, key string) string {
	return "//iam.googleapis.com/projects/zd-prod/serviceAccounts/" + account + "/keys/" + key
}

// fastSettings keep waits and retries short.
func fastSettings() remediators.Settings {
	return remediators.Settings{
		OperationTimeout: 5 * time.Second,
		PollInterval:     5 * time.Millisecond,
		ConflictRetries:  5,
		ConflictBackoff:  2 * time.Millisecond,
	}
}

// env is a sandbox serving the test scenario and zerodrift's actions wired to it through
// the real Google clients.
type env struct {
	t   *testing.T
	ctx context.Context
	srv *sandbox.Server
	url string
	reg remediators.Registry
}

func newEnv(t *testing.T, opts ...sandbox.Option) *env {
	return newEnvWith(t, fastSettings(), opts...)
}

func newEnvWith(t *testing.T, set remediators.Settings, opts ...sandbox.Option) *env {
	t.Helper()
	sc, err := sandbox.LoadScenario(os.DirFS("testdata"), "scenario")
	if err != nil {
		t.Fatalf("loading the scenario: %v", err)
	}
	srv, err := sandbox.New(sc, opts...)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the sandbox: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	reg, err := registry.New(ctx, remediators.Config{Endpoint: url, Settings: set}, []string{selfMember}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("closing the registry: %v", err)
		}
	})
	return &env{t: t, ctx: ctx, srv: srv, url: url, reg: reg}
}

func (e *env) action(name string) remediators.Action {
	e.t.Helper()
	a, err := e.reg.Lookup(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) snapshot(a remediators.Action, resource string) *remediators.Snapshot {
	e.t.Helper()
	s, err := a.Snapshot(e.ctx, resource)
	if err != nil {
		e.t.Fatalf("%s: snapshot of %s: %v", a.Name(), resource, err)
	}
	return s
}

func (e *env) plan(a remediators.Action, resource string, req remediators.Request) (*remediators.Snapshot, *remediators.Plan) {
	e.t.Helper()
	s := e.snapshot(a, resource)
	p, err := a.Plan(e.ctx, s, req)
	if err != nil {
		e.t.Fatalf("%s: plan on %s: %v", a.Name(), resource, err)
	}
	return s, p
}

// planErr plans and returns the error, failing when there is none.
func (e *env) planErr(a remediators.Action, resource string, req remediators.Request) error {
	e.t.Helper()
	s := e.snapshot(a, resource)
	p, err := a.Plan(e.ctx, s, req)
	if err == nil {
		e.t.Fatalf("%s: plan on %s succeeded (%s), want an error", a.Name(), resource, p.Summary)
	}
	return err
}

// field returns the raw JSON of a top-level field of a snapshot's data ("" when absent).
func field(t *testing.T, data json.RawMessage, key string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return string(m[key])
}

func refused(t *testing.T, err error) *remediators.RefusedError {
	t.Helper()
	var r *remediators.RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T) is not a RefusedError", err, err)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// applyThroughConflicts applies p to an IAM policy whose first n writes meet an etag
// conflict, and fails the test unless the action read again and wrote once after them.
func applyThroughConflicts(t *testing.T, e *env, a remediators.Action, snap *remediators.Snapshot, p *remediators.Plan, n int) {
	t.Helper()
	detail, err := a.Apply(e.ctx, snap, p)
	if err != nil {
		t.Fatalf("Apply through %d conflicts: %v", n, err)
	}
	if want := fmt.Sprintf("attempt %d", n+1); !strings.Contains(detail, want) {
		t.Errorf("detail = %q, want it to say %q", detail, want)
	}
	if c, ok := setIamCalls(e.srv, http.StatusConflict), setIamCalls(e.srv, http.StatusOK); c != n || ok != 1 {
		t.Errorf("setIamPolicy: %d conflicts and %d successes, want %d and 1", c, ok, n)
	}
}
