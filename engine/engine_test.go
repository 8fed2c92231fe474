package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/pullrequest"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/registry"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
)

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const (
	sshWorld   = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-ssh-world"
	defaultNet = "//compute.googleapis.com/projects/acme-dev/global/networks/default"
)

type fixture struct {
	t      *testing.T
	srv    *sandbox.Server
	url    string
	store  ledger.Store
	engine *engine.Engine
	src    inventory.Source
	cfg    *config.Config
}

// builtinWith returns the built-in scenario with extra CAI lines and edits applied to its
// assets.json, for tests that need a variation.
func builtinWith(t *testing.T, edit func(string) string) *sandbox.Scenario {
	t.Helper()
	b, err := fs.ReadFile(sandbox.BuiltinFS(), sandbox.BuiltinDir+"/assets.json")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := fs.ReadFile(sandbox.BuiltinFS(), sandbox.BuiltinDir+"/sandbox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sandbox.LoadScenario(fstest.MapFS{
		"s/assets.json": {Data: []byte(edit(string(b)))}, "s/sandbox.yaml": {Data: opts},
	}, "s")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// newFixture wires the engine as cmd does, against the sandbox through the real clients and
// an in-memory SQLite ledger.
func newFixture(t *testing.T, sc *sandbox.Scenario, configYAML string) *fixture {
	return newFixtureWith(t, sc, configYAML, false)
}

// newFixtureWith also wires pull requests to the sandbox's GitHub emulator when prs is set.
func newFixtureWith(t *testing.T, sc *sandbox.Scenario, configYAML string, prs bool) *fixture {
	t.Helper()
	return newFixtureOpts(t, sc, configYAML, fixtureOptions{prs: prs})
}

// fixtureOptions are what some tests need beyond newFixtureWith.
type fixtureOptions struct {
	prs      bool
	sandbox  []sandbox.Option           // the sandbox's options (faults, permissions, clock)
	log      *zap.Logger                // the engine's logger; zaptest's when nil
	settings remediators.Settings       // the live actions' waits; short ones when zero
	retry    inventory.RetryPolicy      // the live source's retries; its defaults when zero
	wrap     inventory.TransportWrapper // wraps the live actions' HTTP transports, when set
	github   *http.Client               // the pull-request client's HTTP client; its default when nil
}

func newFixtureOpts(t *testing.T, sc *sandbox.Scenario, configYAML string, o fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	if sc == nil {
		var err error
		if sc, err = sandbox.Builtin(); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := sandbox.New(sc, o.sandbox...)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, err := config.Parse("test.yaml", []byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	store, err := ledger.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := o.log
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	settings := o.settings
	if settings == (remediators.Settings{}) {
		settings = remediators.Settings{PollInterval: 5 * time.Millisecond, ConflictBackoff: 5 * time.Millisecond}
	}
	if settings.Retry == (inventory.RetryPolicy{}) {
		settings.Retry = o.retry // the live actions' reads retry as the live source's do
	}
	reg, err := registry.New(ctx, remediators.Config{Endpoint: url, Settings: settings, WrapTransport: o.wrap}, cfg.GCP.Identity, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	set, err := playbooks.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if set, err = set.WithUnattended(cfg.UnattendedPlaybooks); err != nil {
		t.Fatal(err)
	}
	env, err := cfg.Env(now)
	if err != nil {
		t.Fatal(err)
	}
	live, err := inventory.NewLive(ctx, inventory.LiveConfig{Endpoint: url, Retry: o.retry}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	deps := engine.Deps{Config: cfg, Rules: cfg.Rules(), Env: env, Playbooks: set, Actions: reg,
		Defaults: playbooks.ConfigDefaults(env), Ledger: store, Log: log, Now: func() time.Time { return now }, Version: "test"}
	if o.prs {
		client, err := pullrequest.New(ctx, pullrequest.Config{Repository: sandbox.DefaultGitHubRepository, APIURL: url,
			Token: sandbox.DefaultGitHubToken, WriteInterval: -1, MaxPRsPerRun: 10, Labels: cfg.GitHub.Labels,
			HTTPClient: o.github, Now: func() time.Time { return now }}, log)
		if err != nil {
			t.Fatal(err)
		}
		deps.PRs = client
		svc, err := storage.NewService(ctx, option.WithEndpoint(url+"/storage/v1/"), option.WithoutAuthentication())
		if err != nil {
			t.Fatal(err)
		}
		deps.ReadState = func(ctx context.Context, b iac.GCSBackend, workspace string) (*iac.State, error) {
			return iac.ReadGCSState(ctx, svc, b, workspace)
		}
	}
	eng := engine.New(deps)
	return &fixture{t: t, srv: srv, url: url, store: store, engine: eng, cfg: cfg,
		src: &inventory.LiveSource{Live: live, Projects: srv.Projects()}}
}

func (f *fixture) run(apply bool, maxChanges int) *engine.Result {
	f.t.Helper()
	res, err := f.engine.Run(context.Background(), f.src, engine.RunOptions{Apply: apply, MaxChanges: maxChanges})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// state is the whole sandbox state as Google's paths would show it.
func (f *fixture) state() []byte {
	f.t.Helper()
	resp, err := http.Get(f.url + "/sandbox/v1/state")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// get reads one resource at its REST path, e.g. compute/v1/projects/p/global/firewalls/x.
func (f *fixture) get(path string) (int, map[string]any) {
	f.t.Helper()
	resp, err := http.Get(f.url + "/" + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (f *fixture) changes(statuses ...ledger.ChangeStatus) []ledger.Change {
	f.t.Helper()
	cs, err := f.store.Changes(context.Background(), ledger.ChangeFilter{Statuses: statuses})
	if err != nil {
		f.t.Fatal(err)
	}
	return cs
}

func decisionFor(t *testing.T, res *engine.Result, resource, rule string) engine.Decision {
	t.Helper()
	for _, d := range res.Decisions {
		if d.Resource == resource && d.Rule == rule {
			return d
		}
	}
	t.Fatalf("no decision for %s on %s", rule, resource)
	return engine.Decision{}
}

// Invariant 1: nothing changes without an explicit apply.
func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t, nil, "")
	before := f.state()
	res := f.run(false, -1)
	if after := f.state(); !bytes.Equal(before, after) {
		t.Fatal("a dry run changed the sandbox's state")
	}
	if n := len(f.changes()); n != 0 {
		t.Errorf("a dry run recorded %d changes", n)
	}
	d := decisionFor(t, res, sshWorld, "firewall-open-ingress")
	if d.Action != engine.ActionFix || d.Plan == nil || !strings.Contains(d.Reason, "dry run") ||
		!strings.Contains(d.Plan.Summary, "35.235.240.0/20") {
		t.Errorf("dry-run decision %+v, want the planned fix shown", d)
	}
	if res.Mode != "report" || res.Summary.Changes != 0 {
		t.Errorf("mode %s, %d changes", res.Mode, res.Summary.Changes)
	}
}

// Invariants 2 and 7: at most maxChanges per run; a second run over the same state changes
// nothing and opens nothing new.
func TestApplyHonoursMaxChangesAndIsIdempotent(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 2\n")
	res := f.run(true, -1)
	if res.Summary.Changes != 2 || res.Summary.ByAction[engine.ActionFix] != 2 {
		t.Fatalf("first run: %d changes, actions %v; want 2 fixes", res.Summary.Changes, res.Summary.ByAction)
	}
	if res.Summary.ByAction[engine.ActionSkippedLimit] == 0 {
		t.Errorf("no finding was reported skipped-limit: %v", res.Summary.ByAction)
	}
	if n := len(f.changes(ledger.StatusVerified)); n != 2 {
		t.Errorf("%d verified changes in the ledger, want 2", n)
	}
	res = f.run(true, 100)
	if res.Summary.ByAction[engine.ActionSkippedLimit] != 0 || res.Summary.Changes == 0 {
		t.Fatalf("second run: %v", res.Summary.ByAction)
	}
	total := len(f.changes())
	before := f.state()
	res = f.run(true, 100)
	if res.Summary.Changes != 0 || res.Summary.ByAction[engine.ActionFix] != 0 {
		t.Errorf("third run over fixed state changed something: %v", res.Summary.ByAction)
	}
	if !bytes.Equal(before, f.state()) || len(f.changes()) != total {
		t.Error("third run changed the sandbox or the ledger")
	}
	// What was fixed stays fixed: the SSH rule now admits only the IAP range.
	_, fw := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world")
	if got, _ := json.Marshal(fw["sourceRanges"]); string(got) != `["35.235.240.0/20"]` {
		t.Errorf("allow-ssh-world sourceRanges %s", got)
	}
	if code, _ := f.get("compute/v1/projects/acme-dev/global/networks/default"); code != http.StatusNotFound {
		t.Errorf("default network still there (GET %d)", code)
	}
}

// Invariant 3: exempt resources are never touched; an expired exemption is reported.
func TestExemptionsAreNeverTouched(t *testing.T) {
	sc := builtinWith(t, func(s string) string {
		// Label the dev project exempt: its default network and rules must survive.
		return strings.Replace(s, `"projectId":"acme-dev","lifecycleState":"ACTIVE"`,
			`"projectId":"acme-dev","lifecycleState":"ACTIVE","labels":{"zerodrift-exempt":"sandbox-for-a-workshop"}`, 1)
	})
	f := newFixture(t, sc, `maxChanges: 50
exemptions:
  - resource: `+sshWorld+`
    rules: [firewall-open-ingress, firewall-logging-disabled]
    reason: bastion during the migration
    owner: netsec@acme.example
    expires: 2027-01-31
  - resource: //compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-*
    rules: ["*"]
    reason: old exemption
    owner: netsec@acme.example
    expires: 2026-11-01
`)
	_, sshBefore := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world")
	res := f.run(true, -1)
	d := decisionFor(t, res, sshWorld, "firewall-open-ingress")
	if d.Action != engine.ActionExempt || !strings.Contains(d.Reason, "bastion during the migration") {
		t.Errorf("exempt firewall decided %+v", d)
	}
	if _, after := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world"); !equalJSON(sshBefore, after) {
		t.Errorf("an exempt firewall was changed:\n%v\n%v", sshBefore, after)
	}
	d = decisionFor(t, res, defaultNet, "network-default")
	if d.Action != engine.ActionExempt || !strings.Contains(d.Reason, "zerodrift-exempt=sandbox-for-a-workshop") {
		t.Errorf("labelled project's network decided %+v", d)
	}
	if code, _ := f.get("compute/v1/projects/acme-dev/global/networks/default"); code != http.StatusOK {
		t.Errorf("the exempt default network was deleted")
	}
	// The expired exemption no longer protects allow-rdp-split, and is reported itself.
	if d := decisionFor(t, res, "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split", "firewall-open-ingress"); d.Action != engine.ActionFix {
		t.Errorf("allow-rdp-split (expired exemption) decided %+v, want fix", d)
	}
	d = decisionFor(t, res, "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-*", engine.ExpiredRule)
	if d.Action != engine.ActionReport || !strings.Contains(d.Reason, "expired") {
		t.Errorf("expired exemption decided %+v", d)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The kill switch stops every live change.
func TestPausedChangesNothing(t *testing.T) {
	f := newFixture(t, nil, "paused: true\nmode: apply\n")
	before := f.state()
	res := f.run(true, -1)
	if !bytes.Equal(before, f.state()) || res.Summary.Changes != 0 {
		t.Fatal("a paused run changed something")
	}
	if d := decisionFor(t, res, sshWorld, "firewall-open-ingress"); d.Action != engine.ActionReport || !strings.Contains(d.Reason, "paused") {
		t.Errorf("paused decision %+v", d)
	}
}

// Invariant 4: every change can be rolled back from its snapshot; a resource changed since
// is not rolled back without force.
func TestRollbackRestoresTheExactPriorResource(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 50\n")
	_, before := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world")
	_, netBefore := f.get("compute/v1/projects/acme-dev/global/networks/default")
	f.run(true, -1)
	ctx := context.Background()
	for _, c := range f.changes(ledger.StatusVerified) {
		if c.Resource != sshWorld && c.Resource != defaultNet {
			continue
		}
		if _, err := f.engine.Rollback(ctx, c.ID, false); err != nil {
			t.Fatalf("rolling back %s on %s: %v", c.ID, c.Resource, err)
		}
		got, err := f.store.GetChange(ctx, c.ID)
		if err != nil || got.Status != ledger.StatusRolledBack {
			t.Errorf("change %s is %v after rollback (%v)", c.ID, got, err)
		}
	}
	if _, after := f.get("compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world"); !equalJSON(before, after) {
		t.Errorf("firewall not restored exactly:\nbefore %v\nafter  %v", before, after)
	}
	code, netAfter := f.get("compute/v1/projects/acme-dev/global/networks/default")
	if code != http.StatusOK || netAfter["autoCreateSubnetworks"] != netBefore["autoCreateSubnetworks"] {
		t.Errorf("default network not re-created: %d %v", code, netAfter)
	}
	for _, rule := range []string{"default-allow-internal", "default-allow-ssh", "default-allow-rdp", "default-allow-icmp"} {
		if code, _ := f.get("compute/v1/projects/acme-dev/global/firewalls/" + rule); code != http.StatusOK {
			t.Errorf("%s not re-created with the network", rule)
		}
	}
	if _, err := f.engine.Rollback(ctx, f.changes(ledger.StatusRolledBack)[0].ID, false); err == nil {
		t.Error("a change was rolled back twice")
	}
}

func TestRollbackRefusesAResourceChangedSince(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 50\n")
	f.run(true, -1)
	var change ledger.Change
	for _, c := range f.changes(ledger.StatusVerified) {
		if c.Resource == sshWorld && c.Playbook == "firewall-restrict-sources" {
			change = c
		}
	}
	// Someone re-opens the rule by hand after zerodrift's fix.
	req, _ := http.NewRequest(http.MethodPatch, f.url+"/compute/v1/projects/acme-prod/global/firewalls/allow-ssh-world",
		strings.NewReader(`{"sourceRanges":["0.0.0.0/0","10.0.0.0/8"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("patching by hand: %v %v", err, resp)
	}
	resp.Body.Close()
	ctx := context.Background()
	if _, err := f.engine.Rollback(ctx, change.ID, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("rollback of a resource changed since: %v, want a refusal naming --force", err)
	}
	if _, err := f.engine.Rollback(ctx, change.ID, true); err != nil {
		t.Fatalf("forced rollback: %v", err)
	}
}

// Invariant 6: the default network with an instance is refused, with the instance listed.
func TestDefaultNetworkInUseIsRefused(t *testing.T) {
	sc := builtinWith(t, func(s string) string {
		vm := `{"name":"//compute.googleapis.com/projects/acme-dev/zones/us-central1-a/instances/build-agent","asset_type":"compute.googleapis.com/Instance","ancestors":["projects/100000000002","folders/222222222222","organizations/123456789012"],"resource":{"location":"us-central1-a","data":{"name":"build-agent","zone":"https://www.googleapis.com/compute/v1/projects/acme-dev/zones/us-central1-a","status":"RUNNING","networkInterfaces":[{"network":"https://www.googleapis.com/compute/v1/projects/acme-dev/global/networks/default","subnetwork":"https://www.googleapis.com/compute/v1/projects/acme-dev/regions/us-central1/subnetworks/default"}]}}}`
		return s + vm + "\n"
	})
	f := newFixture(t, sc, "maxChanges: 50\n")
	res := f.run(true, -1)
	d := decisionFor(t, res, defaultNet, "network-default")
	if d.Action != engine.ActionRefused || !strings.Contains(d.Reason, "build-agent") {
		t.Errorf("default network with an instance decided %+v, want refused listing build-agent", d)
	}
	if code, _ := f.get("compute/v1/projects/acme-dev/global/networks/default"); code != http.StatusOK {
		t.Error("the default network in use was deleted")
	}
}

// A crash between recording the intent and recording the outcome is reconciled by the next
// run: a change that reached the API is recorded done; one that did not is failed and redone.
func TestCrashMidChangeIsReconciled(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 50\n")
	ctx := context.Background()
	reg, err := registry.New(ctx, remediators.Config{Endpoint: f.url, Settings: remediators.Settings{PollInterval: 5 * time.Millisecond}}, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	act := reg["firewall.restrictSources"]
	if err := f.store.StartRun(ctx, ledger.Run{ID: "run-crashed", Kind: "run", Mode: "apply", StartedAt: now, Status: "running"}); err != nil {
		t.Fatal(err)
	}
	// Two changes recorded as planned; the first reached the API before the crash.
	plan := func(resource, id string, apply bool) {
		snap, err := act.Snapshot(ctx, resource)
		if err != nil {
			t.Fatal(err)
		}
		req := remediators.Request{Params: map[string]any{"ranges": []string{"35.235.240.0/20"}}}
		p, err := act.Plan(ctx, snap, req)
		if err != nil {
			t.Fatal(err)
		}
		sj, _ := json.Marshal(snap)
		pj, _ := json.Marshal(p)
		if err := f.store.PlanChange(ctx, ledger.Change{ID: id, RunID: "run-crashed", Resource: resource, Playbook: "firewall-restrict-sources",
			Action: act.Name(), Status: ledger.StatusPlanned, Snapshot: sj, Plan: pj, At: now}); err != nil {
			t.Fatal(err)
		}
		if apply {
			if _, err := act.Apply(ctx, snap, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	plan(sshWorld, "chg-landed", true)
	plan("//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split", "chg-lost", false)
	// A third change is in flight in an on-call session that still holds its lock: the run
	// must leave it alone, neither reconciling it nor acting on its resource.
	const legacy = "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-legacy-range"
	plan(legacy, "chg-in-flight", false)
	if err := f.store.Lock(ctx, legacy, "oncall-session", time.Hour, now); err != nil {
		t.Fatal(err)
	}

	res := f.run(true, -1)
	if c, err := f.store.GetChange(ctx, "chg-in-flight"); err != nil || c.Status != ledger.StatusPlanned {
		t.Errorf("the in-flight change was touched: %+v %v", c, err)
	}
	if d := decisionFor(t, res, legacy, "firewall-open-ingress"); d.Action != engine.ActionRefused || !strings.Contains(d.Reason, "lock") {
		t.Errorf("a resource locked by on-call decided %+v, want refused for the lock", d)
	}
	for id, want := range map[string]ledger.ChangeStatus{"chg-landed": ledger.StatusVerified, "chg-lost": ledger.StatusFailed} {
		c, err := f.store.GetChange(ctx, id)
		if err != nil || c.Status != want {
			t.Errorf("change %s is %v after reconciling, want %s (%v)", id, c, want, err)
		}
	}
	// The lost change was redone by the run, and the landed one was not done twice (the
	// rules' logging fix on the same firewalls is another finding's change).
	var rdp, ssh int
	for _, c := range f.changes() {
		if c.Playbook == "firewall-log-connections" {
			continue
		}
		switch c.Resource {
		case sshWorld:
			ssh++
		case "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-rdp-split":
			rdp++
		}
	}
	if ssh != 1 || rdp != 2 {
		t.Errorf("%d changes on the SSH rule (want 1: the landed one) and %d on the RDP rule (want 2: lost, then redone)", ssh, rdp)
	}
}

// On-call runs an attended playbook by hand on a finding ID; an etag conflict from a
// concurrent writer is retried and the writer's binding survives (invariant 5).
func TestOnCallRemovesOneBindingKeepingAConcurrentWriter(t *testing.T) {
	f := newFixture(t, nil, "")
	ctx := context.Background()
	set, _ := playbooks.Builtin()
	p, _ := set.Get("iam-remove-admin-binding")
	fix := engine.FixOf(p)
	match := func(fd *rules.Finding) bool { return p.Matches(*fd) }
	target := rules.FindingID("sa-admin-role", "//cloudresourcemanager.googleapis.com/projects/100000000001",
		"roles/editor serviceAccount:deployer@acme-prod.iam.gserviceaccount.com")
	fd, err := f.engine.Target(ctx, target, fix, match, f.src)
	if err != nil {
		// The offending-part format is the rule's; fall back to finding the deployer's binding.
		rep := f.run(false, -1)
		for _, x := range rep.Findings {
			if x.Rule == "sa-admin-role" && x.Evidence["member"] == "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com" {
				fd, err = f.engine.Target(ctx, x.ID, fix, match, f.src)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.srv.SetFaults(sandbox.Faults{EtagConflicts: 1}); err != nil {
		t.Fatal(err)
	}
	d, err := f.engine.Fix(ctx, fd, fix)
	if err != nil || d.Action != engine.ActionFix {
		t.Fatalf("on-call fix: %+v, %v", d, err)
	}
	resp, err := http.Post(f.url+"/v3/projects/acme-prod:getIamPolicy", "application/json", strings.NewReader(`{"options":{"requestedPolicyVersion":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pol inventory.Policy
	if err := json.NewDecoder(resp.Body).Decode(&pol); err != nil {
		t.Fatal(err)
	}
	var writer, deployerEditor, computeEditor bool
	for _, b := range pol.Bindings {
		for _, m := range b.Members {
			writer = writer || m == sandbox.ConcurrentWriterMember
			deployerEditor = deployerEditor || (b.Role == "roles/editor" && m == "serviceAccount:deployer@acme-prod.iam.gserviceaccount.com")
			computeEditor = computeEditor || (b.Role == "roles/editor" && m == "serviceAccount:100000000001-compute@developer.gserviceaccount.com")
		}
	}
	if !writer || deployerEditor || !computeEditor {
		t.Errorf("after the fix: concurrent writer kept %v, deployer editor removed %v, other editors kept %v", writer, !deployerEditor, computeEditor)
	}
}

// Invariant 5: no change may remove zerodrift's own access.
func TestOnCallRefusesToRemoveOwnAccess(t *testing.T) {
	f := newFixture(t, nil, "gcp:\n  identity: [serviceAccount:secbot@acme-prod.iam.gserviceaccount.com]\n")
	ctx := context.Background()
	set, _ := playbooks.Builtin()
	p, _ := set.Get("iam-remove-admin-binding")
	rep := f.run(false, -1)
	for _, x := range rep.Findings {
		if x.Rule == "sa-admin-role" && x.Evidence["member"] == "serviceAccount:secbot@acme-prod.iam.gserviceaccount.com" {
			d, err := f.engine.Fix(ctx, &x, engine.FixOf(p))
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != engine.ActionRefused || !strings.Contains(d.Reason, "secbot") {
				t.Errorf("removing zerodrift's own binding decided %+v, want refused", d)
			}
			return
		}
	}
	t.Fatal("no finding for secbot's admin binding")
}

// maxChangesPerProject bounds changes in one project; scope.exclude keeps a project out of
// the run entirely.
func TestPerProjectLimitAndScopeExclude(t *testing.T) {
	f := newFixture(t, nil, "maxChanges: 50\nmaxChangesPerProject: 1\nscope:\n  exclude: [acme-dev]\n")
	res := f.run(true, -1)
	perProject := map[string]int{}
	for _, d := range res.Decisions {
		if d.Project == "acme-dev" {
			t.Errorf("a finding of the excluded project was decided: %+v", d)
		}
		if d.Action == engine.ActionFix {
			perProject[d.Project]++
		}
	}
	if perProject["acme-prod"] != 1 || res.Summary.ByAction[engine.ActionSkippedLimit] == 0 {
		t.Errorf("fixes per project %v, actions %v; want 1 in acme-prod and the rest skipped-limit", perProject, res.Summary.ByAction)
	}
	if code, _ := f.get("compute/v1/projects/acme-dev/global/networks/default"); code != http.StatusOK {
		t.Error("the excluded project's default network was deleted")
	}
}
