package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/sandbox"
)

// The audit-config soak case runs the cycle as the fault soak does, with etag conflicts on
// the writes of iam.setAuditConfig (playbook project-enable-audit-logs, unattended) and on
// no other call. The etag-conflicts profile does not reach them: its concurrent writer
// meets the first setIamPolicy calls of a run, up to 8, and the cycle writes the
// organization's bindings first (which take up to 1+ConflictRetries, 6, conflicts before
// iam.removeBinding gives up), then the folder's and a project's, before any audit
// config. Here every project the cycle writes audit configs to meets
// the writer on its audit-config writes, as many times as the run's seed draws: within the
// retry budget, where the action must re-read, re-plan and end verified, and on every third
// seed one project past it, where the change must fail with its reason and leave the audit
// configs as they were. After each run (under conflicts, then settled without) it checks,
// on each such project, that the concurrent writer's binding is there, that the bindings
// are those of before the run less what zerodrift's changes removed, plus the writer's,
// that allServices enables ADMIN_READ, DATA_READ and DATA_WRITE unless the change failed,
// and that the action wrote at most 1+ConflictRetries times; and all that TestFaultSoak
// checks of every run.
//
// It makes defaultAuditSoakRuns runs, ZERODRIFT_SOAK_RUNS when set, named
// NNN-audit-config-conflicts-seedS.

const (
	// auditConflictsProfile names the case's profile in subtests and figures.
	auditConflictsProfile = "audit-config-conflicts"
	// defaultAuditSoakRuns is two runs past the budget and four within it, in under 15
	// seconds with -race.
	defaultAuditSoakRuns = 6
)

// resourceManager begins the full resource names of projects, as the ledger and the
// sandbox name the policies the cycle and the concurrent writer change.
const resourceManager = "//cloudresourcemanager.googleapis.com/"

func TestFaultSoakAuditConfigConflicts(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault soak runs the cycle many times")
	}
	start := time.Now()
	runs := soakRuns(t, defaultAuditSoakRuns)
	sc := cycleScenario(t)
	base := runBaseline(t, sc, baselineKey{})
	if len(base.audited) == 0 {
		t.Fatal("the cycle without faults writes no audit config: project-enable-audit-logs has nothing to soak")
	}
	fig, af := newSoakFigures(), newAuditFigures()
	for i := range runs {
		seed := int64(i + 1)
		t.Run(fmt.Sprintf("%03d-%s-seed%d", i, auditConflictsProfile, seed), func(t *testing.T) {
			ac := newAuditConflicts(seed, base.audited)
			f := newSoakFixture(t, sc, ac.wrap)
			c := &auditCase{ac: ac, before: policies(f.srv.Assets()), figures: af}
			soakOnce(t, f, ac.profile(seed), base, fig, soakChecks{underFaults: c.underFaults, settled: c.afterSettling})
		})
	}
	fig.report(t, time.Since(start))
	af.report(t)
}

// auditConflicts puts the sandbox's concurrent writer (sandbox.Faults.EtagConflicts) in
// front of iam.setAuditConfig's writes only: its transport wrapper arms the writer while an
// audit-config write of a project with conflicts still to meet is in flight, and the
// profile's Faults.Match lets the writer meet the projects.setIamPolicy call only then. The
// live actions make their calls one at a time, so the call in flight is that write.
type auditConflicts struct {
	mu    sync.Mutex
	plan  map[string]int // conflicts to meet, by project (full resource name)
	left  map[string]int // of those, not met yet
	armed bool           // an audit-config write that is to meet the writer is in flight
	// writes counts the audit-config writes made, refused those answered 409, by project.
	writes, refused map[string]int
}

// newAuditConflicts draws, from seed, the conflicts each of projects meets: 1 to
// ConflictRetries each, and on every third seed ConflictRetries+1 (past the budget) for one
// of them.
func newAuditConflicts(seed int64, projects []string) *auditConflicts {
	r := rand.New(rand.NewPCG(uint64(seed), 0xa0d17c0f))
	budget := soakSettings.ConflictRetries
	ac := &auditConflicts{plan: map[string]int{}, left: map[string]int{}, writes: map[string]int{}, refused: map[string]int{}}
	for _, p := range projects {
		ac.plan[p] = 1 + r.IntN(budget)
	}
	if seed%3 == 0 {
		ac.plan[projects[r.IntN(len(projects))]] = budget + 1
	}
	for p, n := range ac.plan {
		ac.left[p] = n
	}
	return ac
}

// pastBudget reports whether project meets more conflicts than the action may retry.
func (ac *auditConflicts) pastBudget(project string) bool {
	return ac.plan[project] > soakSettings.ConflictRetries
}

// profile is the sandbox profile of the run: a writer for every planned conflict, matched
// to the armed writes.
func (ac *auditConflicts) profile(seed int64) sandbox.Profile {
	total := 0
	var said []string
	for _, p := range slices.Sorted(maps.Keys(ac.plan)) {
		total += ac.plan[p]
		s := fmt.Sprintf("%d on %s", ac.plan[p], strings.TrimPrefix(p, resourceManager))
		if ac.pastBudget(p) {
			s += " (past the budget)"
		}
		said = append(said, s)
	}
	return sandbox.Profile{Name: auditConflictsProfile, Seed: seed,
		Faults:  sandbox.Faults{Seed: seed, EtagConflicts: total, Match: ac.match},
		Summary: "iam.setAuditConfig's writes meet a concurrent writer: " + strings.Join(said, ", ")}
}

// match is the profile's Faults.Match: only an armed projects.setIamPolicy call meets the
// writer.
func (ac *auditConflicts) match(service, method string) bool {
	if service != sandbox.ServiceResourceManager || method != "projects.setIamPolicy" {
		return false
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.armed
}

// wrap is the live actions' transport wrapper: it counts the audit-config writes and their
// 409s, and arms the writer for those with conflicts left to meet.
func (ac *auditConflicts) wrap(_ string, next http.RoundTripper) http.RoundTripper {
	return roundTrip(func(req *http.Request) (*http.Response, error) {
		project, ok := auditWrite(req)
		if !ok {
			return next.RoundTrip(req)
		}
		ac.mu.Lock()
		ac.writes[project]++
		if ac.left[project] > 0 {
			ac.left[project]--
			ac.armed = true
		}
		ac.mu.Unlock()
		resp, err := next.RoundTrip(req)
		ac.mu.Lock()
		ac.armed = false
		if err == nil && resp.StatusCode == http.StatusConflict {
			ac.refused[project]++
		}
		ac.mu.Unlock()
		return resp, err
	})
}

// met returns the conflicts project met: the planned ones its writes used up.
func (ac *auditConflicts) met(project string) int {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.plan[project] - ac.left[project]
}

// counts returns the audit-config writes of project and the 409s they were answered.
func (ac *auditConflicts) counts(project string) (writes, refused int) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.writes[project], ac.refused[project]
}

// auditWrite tells whether req writes a project's audit configs (setIamPolicy with
// auditConfigs in its update mask, as iam.setAuditConfig writes), and which project's.
func auditWrite(req *http.Request) (string, bool) {
	path := req.URL.Path
	_, number, ok := strings.Cut(path, "/projects/")
	if !ok || req.Method != http.MethodPost || !strings.HasSuffix(number, ":setIamPolicy") || req.GetBody == nil {
		return "", false
	}
	body, err := req.GetBody()
	if err != nil {
		return "", false
	}
	defer body.Close()
	var in struct {
		UpdateMask string `json:"updateMask"`
	}
	if b, err := io.ReadAll(body); err != nil || json.Unmarshal(b, &in) != nil {
		return "", false
	}
	for m := range strings.SplitSeq(in.UpdateMask, ",") {
		if m = strings.TrimSpace(m); m == "auditConfigs" || m == "audit_configs" {
			return resourceManager + "projects/" + strings.TrimSuffix(number, ":setIamPolicy"), true
		}
	}
	return "", false
}

// auditCase is one run's checks of the audit configs and bindings of the projects the
// cycle writes audit configs to.
type auditCase struct {
	ac      *auditConflicts
	before  map[string]*inventory.Policy // every IAM policy before the run, by resource
	figures *auditFigures
}

// policies returns the IAM policy of every asset that has one, by resource.
func policies(assets []*inventory.Asset) map[string]*inventory.Policy {
	out := map[string]*inventory.Policy{}
	for _, a := range assets {
		if a.IAMPolicy != nil {
			out[a.Name] = a.IAMPolicy
		}
	}
	return out
}

// auditChanges returns the iam.setAuditConfig changes the ledger holds of one run, by
// resource.
func auditChanges(changes []ledger.Change, runID string) map[string][]ledger.Change {
	out := map[string][]ledger.Change{}
	for _, c := range changes {
		if c.Action == iampolicy.ActionSetAuditConfig && c.RunID == runID {
			out[c.Resource] = append(out[c.Resource], c)
		}
	}
	return out
}

// underFaults checks the run under conflicts: every planned project met its conflicts on
// iam.setAuditConfig's writes and nowhere else; within the budget the change is verified
// after one write per conflict and one more; past it the change failed, saying why, after
// 1+ConflictRetries writes, and the audit configs are as they were.
func (c *auditCase) underFaults(t *testing.T, f *soakFixture, res *engine.Result) {
	const when = "after the run under conflicts"
	changes := auditChanges(f.changes(), res.RunID)
	if got := slices.Sorted(maps.Keys(changes)); !slices.Equal(got, slices.Sorted(maps.Keys(c.ac.plan))) {
		t.Errorf("%s: iam.setAuditConfig changed %q; without faults it changes %q", when, got, slices.Sorted(maps.Keys(c.ac.plan)))
	}
	writes := f.srv.ConcurrentWrites()
	injected := 0
	for _, fc := range f.srv.InjectedFaults() {
		if fc.Kind != sandbox.FaultEtagConflict || fc.Method != "projects.setIamPolicy" {
			t.Errorf("%s: %d faults %s injected into %s %s; the case injects etag conflicts on audit-config writes only",
				when, fc.Count, fc.Kind, fc.Service, fc.Method)
			continue
		}
		injected += fc.Count
	}
	now := policies(f.srv.Assets())
	met := 0
	for _, project := range slices.Sorted(maps.Keys(c.ac.plan)) {
		n := c.ac.met(project)
		w, refused := c.ac.counts(project)
		met += n
		c.figures.conflicts += n
		c.figures.writes += w
		c.figures.retries += max(w-1, 0)
		if n != c.ac.plan[project] || !slices.Contains(writes, project) {
			t.Errorf("%s: %s met %d of its %d conflicts (the writer changed %q): iam.setAuditConfig's writes were not all reached",
				when, project, n, c.ac.plan[project], writes)
		}
		if refused != n {
			t.Errorf("%s: %s: %d audit-config writes answered 409 for %d conflicts met", when, project, refused, n)
		}
		budget := 1 + soakSettings.ConflictRetries
		if w > budget {
			t.Errorf("%s: %s: iam.setAuditConfig wrote %d times, over its budget of %d (1 + %d conflict retries)",
				when, project, w, budget, soakSettings.ConflictRetries)
		}
		cs := changes[project]
		if len(cs) != 1 {
			t.Errorf("%s: %s has %d iam.setAuditConfig changes; want 1", when, project, len(cs))
			continue
		}
		ch := cs[0]
		c.figures.faulty[string(ch.Status)]++
		switch {
		case c.ac.pastBudget(project):
			if ch.Status != ledger.StatusFailed || !strings.Contains(ch.Detail, "concurrent") {
				t.Errorf("%s: %s met %d conflicts, past the budget of %d retries: change %s is %s (%q); want failed, saying the policy kept changing",
					when, project, n, soakSettings.ConflictRetries, ch.ID, ch.Status, ch.Detail)
			}
			if w < budget {
				t.Errorf("%s: %s: iam.setAuditConfig gave up after %d writes; want %d (1 + %d conflict retries)",
					when, project, w, budget, soakSettings.ConflictRetries)
			}
			if g, b := auditJSON(now[project]), auditJSON(c.before[project]); g != b {
				t.Errorf("%s: %s: the failed change left the audit configs %s; before the run %s", when, project, g, b)
			}
		default:
			if ch.Status != ledger.StatusVerified {
				t.Errorf("%s: %s met %d conflicts, within the budget of %d retries: change %s is %s (%q); want verified",
					when, project, n, soakSettings.ConflictRetries, ch.ID, ch.Status, ch.Detail)
			}
			if w != n+1 {
				t.Errorf("%s: %s: iam.setAuditConfig wrote %d times for %d conflicts; want one write per conflict and one more", when, project, w, n)
			}
			c.checkAudited(t, when, project, now[project])
		}
		c.checkPolicyBindings(t, when, f, project, now[project])
	}
	if injected != met {
		t.Errorf("%s: the sandbox injected %d etag conflicts; the audit-config writes met %d", when, injected, met)
	}
}

// afterSettling checks the run without faults that settles: it makes again, verified,
// the changes that failed past the budget, and only those; every project the cycle writes
// audit configs to has them, and its bindings as before the run less what zerodrift's
// changes removed, plus the writer's.
func (c *auditCase) afterSettling(t *testing.T, f *soakFixture, res *engine.Result) {
	const when = "after settling"
	now := policies(f.srv.Assets())
	changes := auditChanges(f.changes(), res.RunID)
	for _, project := range slices.Sorted(maps.Keys(c.ac.plan)) {
		cs := changes[project]
		for _, ch := range cs {
			c.figures.settled[string(ch.Status)]++
		}
		switch {
		case !c.ac.pastBudget(project) && len(cs) > 0:
			t.Errorf("%s: %s: %d iam.setAuditConfig changes made again; the run under conflicts had made it", when, project, len(cs))
		case c.ac.pastBudget(project) && (len(cs) != 1 || cs[0].Status != ledger.StatusVerified):
			var got []string
			for _, ch := range cs {
				got = append(got, fmt.Sprintf("%s %s (%s)", ch.ID, ch.Status, ch.Detail))
			}
			t.Errorf("%s: %s: iam.setAuditConfig changes %q; want one, verified, for the change that failed past the budget", when, project, got)
		}
		c.checkAudited(t, when, project, now[project])
		c.checkPolicyBindings(t, when, f, project, now[project])
	}
	c.figures.runs++
}

// checkAudited fails the test unless the policy's allServices audit config enables
// ADMIN_READ, DATA_READ and DATA_WRITE with nobody exempted.
func (c *auditCase) checkAudited(t *testing.T, when, project string, p *inventory.Policy) {
	t.Helper()
	enabled := map[string]bool{}
	if p != nil {
		for _, ac := range p.AuditConfigs {
			if ac.Service != iampolicy.AllServices {
				continue
			}
			for _, lc := range ac.AuditLogConfigs {
				if len(lc.ExemptedMembers) == 0 {
					enabled[lc.LogType] = true
				}
			}
		}
	}
	for _, lt := range iampolicy.AuditLogTypes() {
		if !enabled[lt] {
			t.Errorf("%s: %s: allServices does not enable %s with nobody exempted; the audit configs are %s", when, project, lt, auditJSON(p))
		}
	}
}

// checkPolicyBindings fails the test unless the project's grants are exactly those it had
// before the run, less those zerodrift's changes set out to remove, plus the concurrent
// writer's: none lost, none written back from a stale read.
func (c *auditCase) checkPolicyBindings(t *testing.T, when string, f *soakFixture, project string, p *inventory.Policy) {
	t.Helper()
	want, got := map[bindingPair]bool{}, map[bindingPair]bool{}
	if b := c.before[project]; b != nil {
		pairsOf(project, b.Bindings, want)
	}
	for q := range removedByChanges(t, f.changes()) {
		delete(want, q)
	}
	want[bindingPair{project, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, ""}] = true
	if p != nil {
		pairsOf(project, p.Bindings, got)
	}
	for q := range want {
		if !got[q] {
			t.Errorf("%s: %s: IAM binding lost: %s", when, project, q)
		}
	}
	for q := range got {
		if !want[q] {
			t.Errorf("%s: %s: IAM binding %s is granted; it was not before the run, or a change removed it", when, project, q)
		}
	}
}

// auditJSON renders a policy's audit configs for comparison and messages.
func auditJSON(p *inventory.Policy) string {
	var acs []inventory.AuditConfig
	if p != nil {
		acs = p.AuditConfigs
	}
	b, err := json.Marshal(acs)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// auditFigures are what the audit-config case did to iam.setAuditConfig, summed over its
// runs.
type auditFigures struct {
	runs      int
	conflicts int            // etag conflicts met by its writes
	writes    int            // its setIamPolicy calls
	retries   int            // its writes after the first of a change: re-read and re-planned
	faulty    map[string]int // its changes of the runs under conflicts, by status
	settled   map[string]int // its changes of the runs that settle, by status
}

func newAuditFigures() *auditFigures {
	return &auditFigures{faulty: map[string]int{}, settled: map[string]int{}}
}

func (af *auditFigures) report(t *testing.T) {
	t.Helper()
	t.Logf("iam.setAuditConfig:   %d runs; %d etag conflicts met by %d writes, %d of them retries; changes under conflicts %s, after settling %s",
		af.runs, af.conflicts, af.writes, af.retries, counts(af.faulty), counts(af.settled))
}
