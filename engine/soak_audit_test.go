package engine_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
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
// no other call. The etag-conflicts profile meets every policy write of a run, audit
// configs included, with conflicts it draws; this case aims them, by the same mechanism
// (sandbox.Faults.PolicyConflicts), at the audit-config writes alone, so that what it
// checks of them is not mixed with the other writes' outcomes. Every project the cycle
// writes audit configs to meets the writer on its audit-config write, as many times as the
// run's seed draws: within the retry budget, where the action must re-read, re-plan and end
// verified, and on every third seed one project past it, where the change must fail with
// its reason and leave the audit configs as they were. After each run (under conflicts,
// then settled without) it checks, on each such project, that the concurrent writer's
// binding is there, that allServices enables ADMIN_READ, DATA_READ and DATA_WRITE unless
// the change failed, and that the action wrote at most 1+ConflictRetries times; and all
// that TestFaultSoak checks of every run, among which, on every policy, that no grant is
// lost, none is written back from a stale read and the writer's is never written over.
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
	fig := newSoakFigures()
	for i := range runs {
		seed := int64(i + 1)
		t.Run(fmt.Sprintf("%03d-%s-seed%d", i, auditConflictsProfile, seed), func(t *testing.T) {
			ac := newAuditConflicts(seed, base.audited)
			f := newSoakFixture(t, sc)
			c := &auditCase{ac: ac, before: policies(f.srv.Assets())}
			soakOnce(t, f, ac.profile(seed), base, fig, soakChecks{underFaults: c.underFaults, settled: c.afterSettling})
		})
	}
	fig.report(t, time.Since(start))
}

// auditConflicts puts the sandbox's concurrent writer in front of iam.setAuditConfig's
// writes only: the profile's Faults.PolicyConflicts draws the planned conflicts for the
// first audit-config write of each planned project, and none for any other write.
type auditConflicts struct {
	plan map[string]int // conflicts to meet, by project (full resource name)
}

// newAuditConflicts draws, from seed, the conflicts each of projects meets: 1 to
// ConflictRetries each, and on every third seed ConflictRetries+1 (past the budget) for one
// of them.
func newAuditConflicts(seed int64, projects []string) *auditConflicts {
	r := rand.New(rand.NewPCG(uint64(seed), 0xa0d17c0f))
	budget := soakSettings.ConflictRetries
	ac := &auditConflicts{plan: map[string]int{}}
	for _, p := range projects {
		ac.plan[p] = 1 + r.IntN(budget)
	}
	if seed%3 == 0 {
		ac.plan[projects[r.IntN(len(projects))]] = budget + 1
	}
	return ac
}

// pastBudget reports whether project meets more conflicts than the action may retry.
func (ac *auditConflicts) pastBudget(project string) bool {
	return ac.plan[project] > soakSettings.ConflictRetries
}

// profile is the sandbox profile of the run: the planned conflicts on the audit-config
// writes.
func (ac *auditConflicts) profile(seed int64) sandbox.Profile {
	var said []string
	for _, p := range slices.Sorted(maps.Keys(ac.plan)) {
		s := fmt.Sprintf("%d on %s", ac.plan[p], strings.TrimPrefix(p, resourceManager))
		if ac.pastBudget(p) {
			s += " (past the budget)"
		}
		said = append(said, s)
	}
	return sandbox.Profile{Name: auditConflictsProfile, Seed: seed,
		Faults:  sandbox.Faults{Seed: seed, PolicyConflicts: ac.conflicts},
		Summary: "iam.setAuditConfig's writes meet a concurrent writer: " + strings.Join(said, ", ")}
}

// conflicts is the profile's Faults.PolicyConflicts: the planned conflicts for a project's
// first audit-config write, none for any other write.
func (ac *auditConflicts) conflicts(w sandbox.PolicyWrite) int {
	if w.Fields != sandbox.PolicyAuditConfigs || w.Ordinal != 0 {
		return 0
	}
	return ac.plan[w.Policy]
}

// auditWrite is what the audit-config writes of one project met, summed: the setIamPolicy
// calls, the conflicts and the calls refused (a write's calls before the one served).
type auditWrite struct{ calls, conflicts, refused int }

// auditWrites sums, by project, the audit-config writes the sandbox saw.
func auditWrites(writes []sandbox.PolicyWriteCount) map[string]auditWrite {
	out := map[string]auditWrite{}
	for _, w := range writes {
		if w.Fields != sandbox.PolicyAuditConfigs {
			continue
		}
		sum := out[w.Policy]
		sum.calls += w.Calls
		sum.conflicts += w.Conflicts
		sum.refused += w.Calls
		if w.Served {
			sum.refused--
		}
		out[w.Policy] = sum
	}
	return out
}

// auditCase is one run's checks of the audit configs of the projects the cycle writes
// audit configs to.
type auditCase struct {
	ac     *auditConflicts
	before map[string]*inventory.Policy // every IAM policy before the run, by resource
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
	for _, c := range runChanges(changes, runID) {
		if c.Action == iampolicy.ActionSetAuditConfig {
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
	writes, audits := f.srv.ConcurrentWrites(), auditWrites(f.srv.PolicyWrites())
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
		a := audits[project]
		n, w, refused := a.conflicts, a.calls, a.refused
		met += n
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
	}
	if injected != met {
		t.Errorf("%s: the sandbox injected %d etag conflicts; the audit-config writes met %d", when, injected, met)
	}
}

// afterSettling checks the run without faults that settles: it makes again, verified,
// the changes that failed past the budget, and only those; every project the cycle writes
// audit configs to has them.
func (c *auditCase) afterSettling(t *testing.T, f *soakFixture, res *engine.Result) {
	const when = "after settling"
	now := policies(f.srv.Assets())
	changes := auditChanges(f.changes(), res.RunID)
	for _, project := range slices.Sorted(maps.Keys(c.ac.plan)) {
		cs := changes[project]
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
	}
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
