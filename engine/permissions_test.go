package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/deploy"
	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/sandbox"
)

// cycleConfig lets every built-in playbook run unattended, so that one run makes every
// kind of live change zerodrift makes: firewall patches, the deny rule containing a
// critical finding on a Terraform-declared rule, the default network's deletion, IAM
// bindings removed from a project, a folder and the organization, and keys disabled.
const cycleConfig = `maxChanges: 50
unattendedPlaybooks:
  firewall-deny-ports: true
  iam-remove-admin-binding: true
  iam-remove-project-sa-user: true
  iam-remove-public-member: true
  sa-key-disable: true
  network-add-egress-deny: true
  instance-disable-serial-port: true
  instance-enable-os-login: true
  instance-remove-external-ip: true
`

// cycleScenario is the built-in scenario with the Terraform and state the cycle needs: the
// critical allow-all-world rule declared (so it is contained live by a deny rule while its
// pull request waits), and a rule whose Terraform name only the state in Cloud Storage
// resolves (so the state read matters to a decision).
func cycleScenario(t *testing.T) *sandbox.Scenario {
	t.Helper()
	return builtinWithIaC(t, map[string]string{
		"envs/prod/critical.tf": `resource "google_compute_firewall" "all_world" {
  name          = "allow-all-world"
  project       = "acme-prod"
  network       = "prod-vpc"
  source_ranges = ["0.0.0.0/0", "::/0"]
  allow {
    protocol = "all"
  }
}
`,
		"envs/prod/web.tf": webRuleUnnamed,
		"state/acme-tfstate/envs/prod/default.tfstate": `{"version": 4, "serial": 3, "lineage": "x",
 "resources": [{"mode": "managed", "type": "google_compute_firewall", "name": "web",
   "instances": [{"attributes": {"id": "projects/acme-prod/global/firewalls/allow-https", "name": "allow-https", "project": "acme-prod"}}]}]}`,
	})
}

// newPermFixture wires the engine as newFixtureWith(t, sc, configYAML, true) does, with
// what this file needs besides: the sandbox enforcing perms (nil: no enforcement), compute
// operations that must be polled (so waiting on them needs its permission), a fixed clock,
// and the warnings logged, where an unreadable Terraform state is reported.
func newPermFixture(t *testing.T, sc *sandbox.Scenario, configYAML string, perms []string) (*fixture, *observer.ObservedLogs) {
	t.Helper()
	opts := []sandbox.Option{
		sandbox.WithClock(func() time.Time { return now }),
		sandbox.WithFaults(sandbox.Faults{PendingOperationPolls: 1, Match: func(service, _ string) bool { return service == sandbox.ServiceCompute }}),
	}
	if perms != nil {
		opts = append(opts, sandbox.WithPermissions(perms))
	}
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Core(), core))
	return newFixtureOpts(t, sc, configYAML, fixtureOptions{prs: true, sandbox: opts, log: log,
		settings: remediators.Settings{PollInterval: time.Millisecond, ConflictBackoff: time.Millisecond}}), logs
}

// cycle is what one remediation cycle did and every error it surfaced.
type cycle struct {
	res       *engine.Result
	rollbacks []string       // per change rolled back, newest first: "ok" or the error
	errors    []string       // scan errors, decision reasons, the run's error, rollback errors, warnings logged
	warnings  []string       // the warnings logged
	denied    map[string]int // calls answered 403, by service and method
}

// runCycle runs one full remediation cycle: an applying run (scan, decide, fix live, open
// pull requests, read Terraform state), then the rollback of every change it made, newest
// first. With apply false it is a dry run, and nothing is rolled back.
func runCycle(t *testing.T, f *fixture, logs *observer.ObservedLogs, apply bool) cycle {
	t.Helper()
	ctx := context.Background()
	res, err := f.engine.Run(ctx, f.src, engine.RunOptions{Apply: apply, MaxChanges: -1})
	if res == nil {
		t.Fatalf("run: %v", err)
	}
	c := cycle{res: res, denied: map[string]int{}}
	if err != nil {
		c.errors = append(c.errors, "run: "+err.Error())
	}
	for _, e := range res.Report.Errors {
		c.errors = append(c.errors, "scan: "+e.Error())
	}
	for _, d := range res.Decisions {
		c.errors = append(c.errors, fmt.Sprintf("decision %s on %s: %s: %s", d.Rule, d.Resource, d.Action, d.Reason))
	}
	for i := len(res.Decisions) - 1; i >= 0 && apply; i-- {
		id := res.Decisions[i].ChangeID
		if id == "" {
			continue
		}
		outcome := "ok"
		if _, err := f.engine.Rollback(ctx, id, false); err != nil {
			outcome = err.Error()
			c.errors = append(c.errors, "rollback: "+outcome)
		}
		c.rollbacks = append(c.rollbacks, res.Decisions[i].Resource+": "+outcome)
	}
	for _, e := range logs.TakeAll() {
		w := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		c.warnings = append(c.warnings, w)
		c.errors = append(c.errors, "log: "+w)
	}
	slices.Sort(c.warnings) // projects are scanned concurrently
	for _, cc := range f.srv.Calls() {
		if cc.Status == http.StatusForbidden {
			c.denied[cc.Service+" "+cc.Method] += cc.Count
		}
	}
	return c
}

// decisions lists a run's decisions as comparable lines.
func decisions(res *engine.Result) []string {
	var out []string
	for _, d := range res.Decisions {
		out = append(out, fmt.Sprintf("%s %s %s: %s", d.Rule, d.Resource, d.Action, d.Reason))
	}
	return out
}

func scanErrors(res *engine.Result) []string {
	var out []string
	for _, e := range res.Report.Errors {
		out = append(out, e.Error())
	}
	return out
}

// sameCycle fails the test where two cycles differ: decisions, scan errors, rollbacks,
// warnings, the calls answered 403 and the sandbox's state at the end.
func sameCycle(t *testing.T, what string, got, want cycle, gotF, wantF *fixture) {
	t.Helper()
	if g, w := decisions(got.res), decisions(want.res); !slices.Equal(g, w) {
		t.Errorf("%s: decisions differ from the unenforced run:\n got %s\nwant %s", what, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
	if g, w := scanErrors(got.res), scanErrors(want.res); !slices.Equal(g, w) {
		t.Errorf("%s: scan errors differ from the unenforced run:\n got %q\nwant %q", what, g, w)
	}
	if !slices.Equal(got.rollbacks, want.rollbacks) {
		t.Errorf("%s: rollbacks differ from the unenforced run:\n got %q\nwant %q", what, got.rollbacks, want.rollbacks)
	}
	if !slices.Equal(got.warnings, want.warnings) {
		t.Errorf("%s: warnings differ from the unenforced run:\n got %q\nwant %q", what, got.warnings, want.warnings)
	}
	if fmt.Sprint(got.denied) != fmt.Sprint(want.denied) {
		t.Errorf("%s: calls answered 403 %v, the unenforced run %v", what, got.denied, want.denied)
	}
	if string(gotF.state()) != string(wantF.state()) {
		t.Errorf("%s: the sandbox's state at the end differs from the unenforced run's", what)
	}
}

// The remediator role is enough for a full remediation cycle: it ends exactly as it does
// without any permission check, with every kind of live change made and rolled back.
func TestRemediatorRoleRunsTheFullCycle(t *testing.T) {
	sc := cycleScenario(t)
	baseF, baseLogs := newPermFixture(t, sc, cycleConfig, nil)
	base := runCycle(t, baseF, baseLogs, true)
	f, logs := newPermFixture(t, sc, cycleConfig, deploy.RemediatorPermissions())
	got := runCycle(t, f, logs, true)
	sameCycle(t, "remediator role", got, base, f, baseF)
	t.Logf("remediator role: %d findings, decisions %v, %d changes made and rolled back", got.res.Summary.Findings,
		got.res.Summary.ByAction, got.res.Summary.Changes)

	// The cycle made every kind of change, and rolled each back.
	calls := map[string]int{}
	for _, c := range f.srv.Calls() {
		if c.Status == http.StatusOK {
			calls[c.Service+" "+c.Method] += c.Count
		}
	}
	for _, m := range []string{"compute firewalls.patch", "compute firewalls.insert", "compute firewalls.delete", "compute networks.delete",
		"compute networks.insert", "compute globalOperations.get", "cloudresourcemanager projects.setIamPolicy",
		"cloudresourcemanager folders.setIamPolicy", "cloudresourcemanager organizations.setIamPolicy",
		"iam projects.serviceAccounts.keys.disable", "iam projects.serviceAccounts.keys.enable", "storage objects.get"} {
		if calls[m] == 0 {
			t.Errorf("the cycle made no successful %s call", m)
		}
	}
	if got.res.Summary.Changes == 0 || len(got.rollbacks) != got.res.Summary.Changes {
		t.Errorf("%d changes, %d rolled back", got.res.Summary.Changes, len(got.rollbacks))
	}
	for _, r := range got.rollbacks {
		if !strings.HasSuffix(r, ": ok") {
			t.Errorf("rollback failed: %s", r)
		}
	}
	if d := decisionFor(t, got.res, "//compute.googleapis.com/projects/acme-prod/global/firewalls/allow-https", "firewall-open-ingress"); d.Action != engine.ActionPR {
		t.Errorf("allow-https, declared only through its Terraform state, decided %+v", d)
	}
}

// The scanner role is enough for a scan and a dry run, which end as they do without any
// permission check; with it an applying run changes nothing, each fix failing on a write
// permission it names.
func TestScannerRoleScansAndPlansButCannotWrite(t *testing.T) {
	sc := cycleScenario(t)
	baseF, baseLogs := newPermFixture(t, sc, cycleConfig, nil)
	base := runCycle(t, baseF, baseLogs, false)
	f, logs := newPermFixture(t, sc, cycleConfig, deploy.ScannerPermissions())
	got := runCycle(t, f, logs, false)
	sameCycle(t, "scanner role, dry run", got, base, f, baseF)

	before := f.state()
	got = runCycle(t, f, logs, true)
	if string(f.state()) != string(before) {
		t.Error("an applying run with the scanner role changed the sandbox's state")
	}
	writes := slices.DeleteFunc(deploy.RemediatorPermissions(), func(p string) bool { return slices.Contains(deploy.ScannerPermissions(), p) })
	failed := 0
	for _, d := range got.res.Decisions {
		if d.ChangeID == "" || !strings.Contains(d.Reason, "applying the change failed") {
			continue
		}
		failed++
		if !slices.ContainsFunc(writes, func(p string) bool { return strings.Contains(d.Reason, "'"+p+"'") }) {
			t.Errorf("a fix failed with the scanner role without naming the write permission it lacks: %s", d.Reason)
		}
	}
	if got.res.Summary.Changes != 0 || failed == 0 {
		t.Errorf("applying with the scanner role: %d changes, %d fixes failed; calls denied %v", got.res.Summary.Changes, failed, got.denied)
	}
}

// Every permission of the remediator role is needed: without any one of them, some step of
// the cycle fails with an error that names it.
func TestEveryRemediatorPermissionIsNeeded(t *testing.T) {
	sc := cycleScenario(t)
	for _, missing := range deploy.RemediatorPermissions() {
		t.Run(missing, func(t *testing.T) {
			t.Parallel()
			perms := slices.DeleteFunc(deploy.RemediatorPermissions(), func(p string) bool { return p == missing })
			f, logs := newPermFixture(t, sc, cycleConfig, perms)
			c := runCycle(t, f, logs, true)
			var naming []string
			for _, line := range c.errors {
				if strings.Contains(line, "'"+missing+"'") {
					naming = append(naming, line)
				}
			}
			if len(naming) == 0 {
				t.Fatalf("without %s no step failed naming it; calls denied %v; errors:\n%s", missing, c.denied, strings.Join(c.errors, "\n"))
			}
			t.Logf("without %s (%d errors name it), e.g.: %s", missing, len(naming), naming[0])
		})
	}
}
