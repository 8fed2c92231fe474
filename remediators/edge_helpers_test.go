package remediators_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/sandbox"
)

// The project of the scenario that the subnetwork, instance, metadata, egress and audit
// config actions' tests use: zd-edge (number 300000000006) has
//   - networks vpc-edge (an EGRESS allow rule to 199.36.153.8/30 at 1000, an EGRESS tcp-only
//     deny rule) and vpc-other (an EGRESS deny-all rule named zerodrift-deny-all-egress);
//   - subnetworks of vpc-edge in us-central1: flow-off (flow logs and Private Google Access
//     off), bare (no logConfig nor privateIpGoogleAccess at all), flow-on (both on) and
//     proxy-only (REGIONAL_MANAGED_PROXY);
//   - instances in us-central1-a: app-1 (metadata enable-oslogin FALSE among others, an
//     external IPv4 address on nic0 and nic1) and web-2 (the same, and an external IPv6
//     access config on nic1), and gke-pool-1-abcd, a GKE node with an external address;
//   - compute settings whose common instance metadata enables the serial port and lacks
//     enable-oslogin;
//   - an IAM policy with an allServices audit config (ADMIN_READ, bot exempted) and a
//     storage.googleapis.com one.
const (
	edgeProject = "zd-edge"
	edgeNumber  = "300000000006"
	edgeZone    = "us-central1-a"
)

func subnetName(project, region, name string) string {
	return computePrefix + project + "/regions/" + region + "/subnetworks/" + name
}

func instanceName(project, zone, name string) string {
	return computePrefix + project + "/zones/" + zone + "/instances/" + name
}

func computeProjectName(project string) string { return computePrefix + project }

// items renders the metadata items of a snapshot's field (metadata of an instance,
// commonInstanceMetadata of a project) as key=value, in order.
func items(t *testing.T, s *remediators.Snapshot, key string) []string {
	t.Helper()
	var md inventory.Metadata
	if raw := field(t, s.Data, key); raw != "" {
		if err := json.Unmarshal([]byte(raw), &md); err != nil {
			t.Fatalf("%s of %s: %v", key, s.Resource, err)
		}
	}
	var out []string
	for _, it := range md.Items {
		v := ""
		if it.Value != nil {
			v = *it.Value
		}
		out = append(out, it.Key+"="+v)
	}
	return out
}

func wantItems(t *testing.T, s *remediators.Snapshot, key string, want ...string) {
	t.Helper()
	if got := items(t, s, key); !slices.Equal(got, want) {
		t.Errorf("%s: %s items = %q, want %q", s.Resource, key, got, want)
	}
}

// calls counts the calls to a method that answered status.
func calls(srv *sandbox.Server, method string, status int) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Method == method && c.Status == status {
			n += c.Count
		}
	}
	return n
}

// interceptor runs before, once per matching request, just before the request is sent:
// a concurrent writer acting between zerodrift's read and its write.
type interceptor struct {
	mu     sync.Mutex
	match  func(*http.Request) bool
	before func()
	times  int // how many matching requests to intercept; -1 for all
	seen   int
}

func (i *interceptor) wrap(_ string, rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		i.mu.Lock()
		fire := i.match(r) && (i.times < 0 || i.seen < i.times)
		if fire {
			i.seen++
		}
		i.mu.Unlock()
		if fire {
			i.before()
		}
		return rt.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newInterceptedEnv is newEnv with the actions' HTTP requests going through ic.
func newInterceptedEnv(t *testing.T, ic *interceptor) *env {
	t.Helper()
	sc, err := sandbox.LoadScenario(os.DirFS("testdata"), "scenario")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	reg, err := registry.New(ctx, remediators.Config{Endpoint: url, Settings: fastSettings(), WrapTransport: ic.wrap},
		[]string{selfMember}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return &env{t: t, ctx: ctx, srv: srv, url: url, reg: reg}
}

// drift changes an asset as a writer outside zerodrift would, through the sandbox.
func (e *env) drift(asset map[string]any) {
	e.t.Helper()
	b, err := json.Marshal(asset)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.url+"/sandbox/v1/drift", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("drift: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("drift of %v: %s", asset["name"], resp.Status)
	}
}

// driftData replaces the resource data of an asset with data, as read from a snapshot and
// changed by edit.
func (e *env) driftData(name, assetType string, data json.RawMessage, edit func(map[string]any)) {
	e.t.Helper()
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		e.t.Fatal(err)
	}
	edit(d)
	e.drift(map[string]any{"name": name, "assetType": assetType, "resource": map[string]any{"data": d}})
}

func hasSuffixPath(r *http.Request, method, suffix string) bool {
	return r.Method == method && strings.HasSuffix(r.URL.Path, suffix)
}
