// Package engine runs zerodrift's cycle: scan, decide per finding, act within the safety
// rails, and record everything in the ledger. Decisions are data (exempt, fix, pr, report,
// refused, already-fixed, skipped-limit), each with its reason.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/config"
	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/internal/failpoint"
	"github.com/zerodrift/zerodrift/internal/process"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

// Actions a decision can take. The names are a contract: scripts read them.
const (
	ActionExempt       = "exempt"
	ActionFix          = "fix"
	ActionPR           = "pr"
	ActionReport       = "report"
	ActionRefused      = "refused"
	ActionAlreadyFixed = "already-fixed"
	ActionSkippedLimit = "skipped-limit"
)

// Step is one action of a playbook with its parameters.
type Step struct {
	Action string
	Params map[string]any
}

// Effect says what a playbook's actions achieve, and so how the engine verifies them.
type Effect string

// Effects of playbooks.
const (
	// EffectResolves: the finding is gone afterwards (re-read and re-judged).
	EffectResolves Effect = "resolves"
	// EffectContains and EffectObserves: the finding stays (a deny rule contains it,
	// logging observes it); verification checks that the action's own change holds.
	EffectContains Effect = "contains"
	EffectObserves Effect = "observes"
)

// Fix is a playbook that can fix a finding, as the engine needs to know it.
type Fix struct {
	Playbook      string
	Unattended    bool
	Effect        Effect
	Risk          string
	Preconditions []string
	Steps         []Step
	// TerraformEdit names how the same fix is written in Terraform ("" when it is not).
	TerraformEdit        string
	TerraformDescription string
}

// InScope filters assets by the configured scope's include and exclude lists.
func InScope(s config.Scope) func(*inventory.Asset) bool {
	if len(s.Include) == 0 && len(s.Exclude) == 0 {
		return nil
	}
	return func(a *inventory.Asset) bool { return s.Allows(a.Project(), a.Ancestors) }
}

// FixOf is a playbook as the engine sees it.
func FixOf(p *playbooks.Playbook) Fix {
	fix := Fix{Playbook: p.Metadata.Name, Unattended: p.Spec.Unattended, Effect: Effect(p.Spec.Effect),
		Risk: string(p.Spec.Risk), Preconditions: p.Spec.Preconditions}
	if t := p.Spec.Terraform; t != nil {
		fix.TerraformEdit, fix.TerraformDescription = t.Edit, t.Description
	}
	for _, s := range p.Spec.Actions {
		fix.Steps = append(fix.Steps, Step{Action: s.Action, Params: s.Params})
	}
	return fix
}

// fixesFor returns the playbooks that fix a finding, gentlest first.
func (e *Engine) fixesFor(f *rules.Finding) []Fix {
	var out []Fix
	for _, p := range e.d.Playbooks.For(*f) {
		out = append(out, FixOf(p))
	}
	return out
}

// Deps are what the engine works with. Only cmd builds them.
type Deps struct {
	Config    *config.Config
	Rules     []rules.Rule
	Env       *rules.Env
	Playbooks *playbooks.Set
	Actions   map[string]remediators.Action
	// Defaults fills parameters a playbook leaves out, by action name (e.g. the trusted
	// source ranges of firewall.restrictSources).
	Defaults map[string]map[string]any
	Ledger   ledger.Store
	// PRs opens pull requests on the IaC repository; nil when none is configured. IaCDir,
	// when PRs is nil, is a local Terraform tree used to tell which resources it declares.
	PRs    PullRequests
	IaCDir fs.FS
	// ReadState reads the state of a workspace of a root from its gcs backend; (nil, nil)
	// when the workspace has none. Nil: no state is read.
	ReadState func(ctx context.Context, b iac.GCSBackend, workspace string) (*iac.State, error)
	Log       *zap.Logger
	Now       func() time.Time
	Version   string
	// Failpoints kill the process at the steps of a live change (tests only); nil: none.
	Failpoints *failpoint.Set
	// Process identifies this process in the locks it holds, so that a later run can prove
	// a holder that crashed dead and take its locks over; zero means process.Self().
	Process process.ID
}

// Engine runs cycles.
type Engine struct {
	d      Deps
	byRule map[string]rules.Rule
	self   process.ID
}

// New builds an engine.
func New(d Deps) *Engine {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	byRule := map[string]rules.Rule{}
	for _, r := range d.Rules {
		byRule[r.Meta().ID] = r
	}
	self := d.Process
	if self.IsZero() {
		self = process.Self()
	}
	return &Engine{d: d, byRule: byRule, self: self}
}

// RunOptions are the per-run switches of `zerodrift run`.
type RunOptions struct {
	// Apply makes live changes; without it the run is a dry run that changes nothing.
	Apply bool
	// MaxChanges bounds live changes in this run; negative means the configured maxChanges.
	MaxChanges int
	// Stop, when closed, ends the run at the next finding: the change in flight is finished
	// (its API calls keep ctx), no new one starts, and the run is recorded as stopped with
	// how far it got. Cancelling ctx instead aborts calls in flight.
	Stop <-chan struct{}
}

// ErrStopped is returned (wrapped) by a run that ended early because RunOptions.Stop closed.
var ErrStopped = errors.New("stopped on request")

// Decision is what the run decided for one finding.
type Decision struct {
	Finding  string `json:"finding"`
	Rule     string `json:"rule"`
	Resource string `json:"resource"`
	Project  string `json:"project"`
	Action   string `json:"action"`
	Reason   string `json:"reason"`
	Playbook string `json:"playbook,omitempty"`
	ChangeID string `json:"changeId,omitempty"`
	// ChangeStatus is where the live change ended: verified, or failed (applying it, or
	// verifying it once applied).
	ChangeStatus string `json:"changeStatus,omitempty"`
	// Command is what on-call can run to apply the fix by hand.
	Command string `json:"command,omitempty"`
	// Plan is the change a dry run would make, or the one made.
	Plan *remediators.Plan `json:"plan,omitempty"`
	// PR is the pull request proposed or opened for an IaC-managed resource.
	PR *PRProposal `json:"pr,omitempty"`
}

// Result is the outcome of a run. Its JSON form is the contract of `run --format json`.
type Result struct {
	RunID     string          `json:"runId"`
	Mode      string          `json:"mode"`
	Findings  []rules.Finding `json:"findings"`
	Decisions []Decision      `json:"decisions"`
	Summary   RunSummary      `json:"summary"`
	Report    *scan.Report    `json:"-"`
}

// RunSummary counts a run's outcome.
type RunSummary struct {
	Findings   int            `json:"findings"`
	ByAction   map[string]int `json:"byAction"`
	Changes    int            `json:"changes"`
	MaxChanges int            `json:"maxChanges"`
	Paused     bool           `json:"paused"`
	Errors     int            `json:"errors"`
	// ClosedPRs counts the pull requests closed because their drift is gone.
	ClosedPRs int `json:"closedPullRequests,omitempty"`
	// Stopped says why and where a run ended early (a stop request, a cancellation, an
	// error); empty for a run that went through.
	Stopped string `json:"stopped,omitempty"`

	perProject map[string]int // live changes per project in this run
}

// newID returns a random identifier with a prefix, e.g. run-3f2a….
func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// Run scans src, decides per finding and, with opts.Apply and mode apply, fixes what may be
// fixed unattended, within maxChanges. Everything is recorded in the ledger.
func (e *Engine) Run(ctx context.Context, src inventory.Source, opts RunOptions) (*Result, error) {
	cfg := e.d.Config
	now := e.d.Now().UTC()
	mode := "report"
	// Invariant 1: nothing changes without an explicit apply, on the CLI or in config.
	if opts.Apply || cfg.Mode == "apply" {
		mode = "apply"
	}
	res := &Result{RunID: newID("run"), Mode: mode}
	log := e.d.Log.With(zap.String("runId", res.RunID))
	if err := e.d.Ledger.StartRun(ctx, ledger.Run{ID: res.RunID, Kind: "run", Mode: mode, Source: src.Describe(),
		Version: e.d.Version, StartedAt: now, Status: "running"}); err != nil {
		return nil, fmt.Errorf("recording the start of run %s: %w", res.RunID, err)
	}
	runErr := e.run(ctx, log, src, opts, mode, res)
	status := "done"
	switch {
	case errors.Is(runErr, ErrStopped):
		status = "stopped"
	case runErr != nil:
		status = "failed"
	}
	if runErr != nil {
		res.Summary.Stopped = runErr.Error()
	}
	summary, _ := json.Marshal(res.Summary)
	// The outcome is recorded even when ctx was cancelled mid-run: use a fresh context.
	if err := e.d.Ledger.FinishRun(context.WithoutCancel(ctx), res.RunID, status, summary, e.d.Now().UTC()); err != nil {
		return res, errors.Join(runErr, fmt.Errorf("recording the end of run %s: %w", res.RunID, err))
	}
	return res, runErr
}

func (e *Engine) run(ctx context.Context, log *zap.Logger, src inventory.Source, opts RunOptions, mode string, res *Result) error {
	cfg := e.d.Config
	if err := e.reconcile(ctx, log, res.RunID); err != nil {
		return err
	}
	rep, err := scan.Run(ctx, src, scan.Options{Rules: e.d.Rules, Env: e.d.Env, CISVersion: cfg.Baseline.CISVersion,
		LabelKeys: []string{ExemptLabel}, InScope: InScope(cfg.Scope)})
	if err != nil {
		return err
	}
	res.Report = rep
	ex := newExemptions(cfg.Exemptions, e.d.Now().UTC())
	findings := append(slices.Clone(rep.Findings), ex.expired()...)
	rules.Sort(findings)
	res.Findings = findings
	if err := e.recordFindings(ctx, res.RunID, findings); err != nil {
		return err
	}

	st := e.loadIaC(ctx, log)
	maxChanges := *cfg.MaxChanges
	if opts.MaxChanges >= 0 {
		maxChanges = opts.MaxChanges
	}
	res.Summary = RunSummary{Findings: len(findings), ByAction: map[string]int{}, MaxChanges: maxChanges, Paused: cfg.Paused,
		Errors: len(rep.Errors), perProject: map[string]int{}}
	for i := range findings {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("run %s stopped after %d of %d findings: %w", res.RunID, i, len(findings), err)
		}
		select {
		case <-opts.Stop:
			log.Info("run stopped on request", zap.Int("decided", i), zap.Int("findings", len(findings)))
			return fmt.Errorf("run %s stopped after %d of %d findings: %w", res.RunID, i, len(findings), ErrStopped)
		default:
		}
		f := &findings[i]
		d := e.decide(ctx, log, f, rep, ex, st, mode, maxChanges, &res.Summary, res.RunID)
		res.Decisions = append(res.Decisions, d)
		res.Summary.ByAction[d.Action]++
		if err := e.d.Ledger.RecordDecision(ctx, ledger.Decision{RunID: res.RunID, Finding: d.Finding, Rule: d.Rule,
			Resource: d.Resource, Action: d.Action, Reason: d.Reason, Playbook: d.Playbook, ChangeID: d.ChangeID,
			At: e.d.Now().UTC()}); err != nil {
			return fmt.Errorf("recording the decision on finding %s: %w", f.ID, err)
		}
	}
	if mode == "apply" && e.d.PRs != nil && st.err == nil && !cfg.Paused {
		return e.closeObsolete(ctx, log, findings, rep.Errors, &res.Summary)
	}
	return nil
}

func (e *Engine) recordFindings(ctx context.Context, runID string, fs []rules.Finding) error {
	recs := make([]ledger.Finding, 0, len(fs))
	for _, f := range fs {
		ev, err := json.Marshal(f.Evidence)
		if err != nil {
			return fmt.Errorf("encoding the evidence of finding %s: %w", f.ID, err)
		}
		recs = append(recs, ledger.Finding{RunID: runID, ID: f.ID, Rule: f.Rule, Resource: f.Resource, Project: f.Project,
			Severity: f.Severity.String(), Category: f.Category, Evidence: ev})
	}
	if err := e.d.Ledger.RecordFindings(ctx, recs); err != nil {
		return fmt.Errorf("recording %d findings: %w", len(recs), err)
	}
	return nil
}

// OnCallCommand is the command on-call runs to apply playbook to a finding by hand.
func OnCallCommand(playbook, findingID string) string {
	return fmt.Sprintf("zerodrift playbook run %s --target %s --apply", playbook, findingID)
}

// decide makes the decision for one finding and, where it is a fix, carries it out.
func (e *Engine) decide(ctx context.Context, log *zap.Logger, f *rules.Finding, rep *scan.Report, ex *exemptions,
	st iacState, mode string, maxChanges int, sum *RunSummary, runID string) Decision {
	cfg := e.d.Config
	d := Decision{Finding: f.ID, Rule: f.Rule, Resource: f.Resource, Project: f.Project}
	if f.Rule == ExpiredRule {
		d.Action, d.Reason = ActionReport, "the exemption has expired: renew it with a new date, or let zerodrift act"
		return d
	}
	if x, ok := ex.match(f); ok {
		d.Action = ActionExempt
		d.Reason = fmt.Sprintf("exempt by exemptions[%d] until %s (owner %s): %s", x.index, x.Expires, x.Owner, x.Reason)
		return d
	}
	if v, ok := labelExemption(rep.Labels, f); ok {
		d.Action, d.Reason = ActionExempt, v
		return d
	}
	if e.routeIaC(ctx, log, runID, st, f, mode, &d) {
		e.containCritical(ctx, log, f, mode, maxChanges, sum, runID, &d)
		return d
	}
	fixes := e.fixesFor(f)
	if len(fixes) == 0 {
		d.Action, d.Reason = ActionReport, "no playbook fixes this finding; fix it by hand"
		return d
	}
	fix := fixes[0]
	d.Playbook, d.Command = fix.Playbook, OnCallCommand(fix.Playbook, f.ID)
	switch {
	case !fix.Unattended:
		d.Action, d.Reason = ActionReport, fmt.Sprintf("playbook %s may not run unattended: on-call runs it by hand", fix.Playbook)
		return d
	case cfg.Paused:
		d.Action, d.Reason = ActionReport, "paused: true in the configuration stops every live change"
		return d
	}
	if err := e.checkPreconditions(fix, f); err != nil {
		d.Action, d.Reason = ActionRefused, err.Error()
		return d
	}
	switch {
	case mode != "apply":
		d.Action = ActionFix
		d.Reason = fmt.Sprintf("dry run: playbook %s would fix this with --apply", fix.Playbook)
		d.Plan, d.Reason = e.dryRunPlan(ctx, f, fix, d.Reason)
		return d
	case sum.Changes >= maxChanges:
		d.Action, d.Reason = ActionSkippedLimit, fmt.Sprintf("this run reached maxChanges (%d): no more live changes", maxChanges)
		return d
	case cfg.MaxChangesPerProject > 0 && sum.perProject[f.Project] >= cfg.MaxChangesPerProject:
		d.Action = ActionSkippedLimit
		d.Reason = fmt.Sprintf("this run reached maxChangesPerProject (%d) in project %s", cfg.MaxChangesPerProject, f.Project)
		return d
	}
	out := e.execute(ctx, log, runID, f, fix)
	d.Action, d.Reason, d.ChangeID, d.ChangeStatus, d.Plan = out.action, out.reason, out.changeID, string(out.status), out.plan
	if out.changed {
		sum.Changes++
		sum.perProject[f.Project]++
	}
	return d
}

// containCritical contains a critical finding on a Terraform-managed resource live, while
// its pull request waits for review: when a playbook that contains (a deny rule, say) may
// run unattended, it runs now too, within the same rails and limits.
func (e *Engine) containCritical(ctx context.Context, log *zap.Logger, f *rules.Finding, mode string, maxChanges int,
	sum *RunSummary, runID string, d *Decision) {
	if f.Severity != rules.SeverityCritical || d.Action != ActionPR || mode != "apply" || e.d.Config.Paused {
		return
	}
	if sum.Changes >= maxChanges || (e.d.Config.MaxChangesPerProject > 0 && sum.perProject[f.Project] >= e.d.Config.MaxChangesPerProject) {
		d.Reason += "; not contained live: this run reached its change limit"
		return
	}
	for _, fix := range e.fixesFor(f) {
		if fix.Effect != EffectContains || !fix.Unattended || e.checkPreconditions(fix, f) != nil {
			continue
		}
		out := e.execute(ctx, log, runID, f, fix)
		if out.changed {
			sum.Changes++
			sum.perProject[f.Project]++
		}
		d.ChangeID, d.ChangeStatus, d.Plan = out.changeID, string(out.status), out.plan
		d.Reason += fmt.Sprintf("; contained live until it merges by playbook %s: %s", fix.Playbook, out.reason)
		return
	}
}

// labelExemption finds the zerodrift-exempt label on the resource or its project.
func labelExemption(labels map[string]map[string]string, f *rules.Finding) (string, bool) {
	for _, key := range []string{f.Resource, "projects/" + f.Project} {
		if v, ok := labels[key][ExemptLabel]; ok {
			what := "the resource"
			if key != f.Resource {
				what = "project " + f.Project
			}
			return fmt.Sprintf("%s carries the label %s=%s", what, ExemptLabel, v), true
		}
	}
	return "", false
}

// params merges a step's parameters over the defaults of its action.
func (e *Engine) params(step Step) map[string]any {
	p := map[string]any{}
	for k, v := range e.d.Defaults[step.Action] {
		p[k] = v
	}
	for k, v := range step.Params {
		p[k] = v
	}
	return p
}

// dryRunPlan reads the live resource and plans the first step, to show what would change.
func (e *Engine) dryRunPlan(ctx context.Context, f *rules.Finding, fix Fix, reason string) (*remediators.Plan, string) {
	plan, err := e.planLive(ctx, f, fix)
	var refused *remediators.RefusedError
	switch {
	case errors.Is(err, remediators.ErrNothingToDo):
		return nil, "dry run: the live resource already complies"
	case errors.As(err, &refused):
		return nil, "dry run: " + refused.Error()
	case err != nil:
		return nil, reason + fmt.Sprintf(" (could not plan: %v)", err)
	}
	return plan, reason + ": " + plan.Summary
}

// outcome is the result of executing a fix.
type outcome struct {
	action, reason, changeID string
	status                   ledger.ChangeStatus
	plan                     *remediators.Plan
	changed                  bool
}

// execute carries out a fix within the rails: lock the resource, re-read it from its own
// API and re-judge it (CAI data can be minutes old), plan, record the intent, apply,
// record, verify by re-reading and re-judging, record. A crash at any step leaves a record
// (or only the lock) that the next run reconciles.
func (e *Engine) execute(ctx context.Context, log *zap.Logger, runID string, f *rules.Finding, fix Fix) outcome {
	// A lock a crashed run left is taken over, and the change it may have left in flight
	// settled first, so that one finding never ends with two changes done.
	if _, err := e.lock(ctx, log, f.Resource, runID); err != nil {
		return outcome{action: ActionRefused, reason: fmt.Sprintf("could not lock the resource: %v", err)}
	}
	defer e.unlock(ctx, log, f.Resource, runID)
	e.d.Failpoints.Hit(failpoint.ChangeAfterLock)
	if err := e.settle(ctx, log, runID, f.Resource); err != nil {
		return outcome{action: ActionRefused, reason: err.Error()}
	}
	var last outcome
	for _, step := range fix.Steps {
		last = e.executeStep(ctx, log, runID, f, fix.Playbook, fix.Effect, step)
		if last.action != ActionFix {
			return last
		}
	}
	return last
}

func (e *Engine) executeStep(ctx context.Context, log *zap.Logger, runID string, f *rules.Finding, playbook string, effect Effect, step Step) outcome {
	act, err := e.action(playbook, step.Action)
	if err != nil {
		return outcome{action: ActionRefused, reason: err.Error()}
	}
	log = log.With(zap.String("findingId", f.ID), zap.String("resource", f.Resource), zap.String("action", step.Action))
	snap, err := act.Snapshot(ctx, f.Resource)
	if errors.Is(err, remediators.ErrGone) {
		return outcome{action: ActionAlreadyFixed, reason: "the resource no longer exists"}
	}
	if err != nil {
		return outcome{action: ActionRefused, reason: fmt.Sprintf("could not read the resource before acting: %v", err)}
	}
	still, err := e.stillDrifts(f, snap)
	if err != nil {
		return outcome{action: ActionRefused, reason: err.Error()}
	}
	if !still {
		return outcome{action: ActionAlreadyFixed, reason: "re-read from its API, the resource no longer drifts"}
	}
	req := remediators.Request{Params: e.params(step), Evidence: f.Evidence}
	plan, err := act.Plan(ctx, snap, req)
	var refused *remediators.RefusedError
	switch {
	case errors.Is(err, remediators.ErrNothingToDo):
		return outcome{action: ActionAlreadyFixed, reason: "the live resource already complies"}
	case errors.As(err, &refused):
		return outcome{action: ActionRefused, reason: refused.Error()}
	case err != nil:
		return outcome{action: ActionRefused, reason: fmt.Sprintf("planning the change: %v", err)}
	}
	snapJSON, err := json.Marshal(snap)
	if err != nil {
		return outcome{action: ActionRefused, reason: fmt.Sprintf("encoding the snapshot: %v", err)}
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return outcome{action: ActionRefused, reason: fmt.Sprintf("encoding the plan: %v", err)}
	}
	change := ledger.Change{ID: newID("chg"), RunID: runID, Finding: f.ID, Resource: f.Resource, Playbook: playbook,
		Action: step.Action, Status: ledger.StatusPlanned, Snapshot: snapJSON, Plan: planJSON, At: e.d.Now().UTC()}
	if err := e.d.Ledger.PlanChange(ctx, change); err != nil {
		return outcome{action: ActionRefused, reason: fmt.Sprintf("recording the intent to change (nothing was changed): %v", err)}
	}
	e.d.Failpoints.Hit(failpoint.ChangeAfterPlan)
	log = log.With(zap.String("changeId", change.ID))
	log.Info("applying", zap.String("plan", plan.Summary))
	detail, err := act.Apply(ctx, snap, plan)
	e.d.Failpoints.Hit(failpoint.ChangeAfterApply)
	if err != nil {
		e.setStatus(ctx, log, change.ID, ledger.StatusFailed, err.Error())
		return outcome{action: ActionRefused, reason: fmt.Sprintf("applying the change failed: %v", err), changeID: change.ID,
			status: ledger.StatusFailed, plan: plan}
	}
	e.setStatus(ctx, log, change.ID, ledger.StatusApplied, detail)
	e.d.Failpoints.Hit(failpoint.ChangeAfterApplied)
	// From here the resource has changed: it counts against maxChanges whatever follows.
	out := outcome{action: ActionFix, changeID: change.ID, plan: plan, changed: true}
	if err := e.verify(ctx, f, act, effect, req); err != nil {
		e.setStatus(ctx, log, change.ID, ledger.StatusFailed, "verification: "+err.Error())
		e.d.Failpoints.Hit(failpoint.ChangeAfterVerify)
		out.status = ledger.StatusFailed
		out.reason = fmt.Sprintf("applied %s, but verification failed: %v (roll back with: zerodrift rollback %s --apply)", plan.Summary, err, change.ID)
		return out
	}
	e.setStatus(ctx, log, change.ID, ledger.StatusVerified, "re-read: "+verifiedBy(effect))
	e.d.Failpoints.Hit(failpoint.ChangeAfterVerify)
	out.status = ledger.StatusVerified
	out.reason = fmt.Sprintf("fixed by playbook %s: %s; verified", playbook, plan.Summary)
	return out
}

// setStatus records a change's new status; a ledger failure here is logged loudly, since the
// change itself has happened and the next run reconciles from the planned record.
func (e *Engine) setStatus(ctx context.Context, log *zap.Logger, id string, st ledger.ChangeStatus, detail string) {
	if err := e.d.Ledger.SetStatus(context.WithoutCancel(ctx), id, st, detail, e.d.Now().UTC()); err != nil {
		log.Error("recording a change's status failed; the next run reconciles it", zap.String("status", string(st)), zap.Error(err))
	}
}

// stillDrifts re-runs the finding's rule on a fresh snapshot.
func (e *Engine) stillDrifts(f *rules.Finding, snap *remediators.Snapshot) (bool, error) {
	r, ok := e.byRule[f.Rule]
	if !ok {
		return false, fmt.Errorf("rule %s is not enabled", f.Rule)
	}
	a, err := snap.Asset()
	if err != nil {
		return false, err
	}
	var out rules.Results
	if err := r.Evaluate(e.d.Env, a, &out); err != nil {
		return false, fmt.Errorf("re-judging %s: %w", f.Resource, err)
	}
	for _, g := range out.Findings {
		if g.ID == f.ID {
			return true, nil
		}
	}
	return false, nil
}

func verifiedBy(effect Effect) string {
	if effect == EffectResolves || effect == "" {
		return "the finding is gone"
	}
	return "the change holds"
}

// verify re-reads the resource. For a fix that resolves, the finding must be gone; for one
// that contains or observes, the action must have nothing left to do.
func (e *Engine) verify(ctx context.Context, f *rules.Finding, act remediators.Action, effect Effect, req remediators.Request) error {
	snap, err := act.Snapshot(ctx, f.Resource)
	if errors.Is(err, remediators.ErrGone) {
		return nil // deleted: nothing left to drift
	}
	if err != nil {
		return fmt.Errorf("re-reading the resource: %w", err)
	}
	if effect != EffectResolves && effect != "" {
		_, err := act.Plan(ctx, snap, req)
		if errors.Is(err, remediators.ErrNothingToDo) {
			return nil
		}
		return fmt.Errorf("the change does not hold on re-read (plan again: %v)", err)
	}
	still, err := e.stillDrifts(f, snap)
	if err != nil {
		return err
	}
	if still {
		return errors.New("the finding is still there after the change")
	}
	return nil
}

// reconcile finishes changes an earlier run left in flight (it crashed between recording
// its intent and recording the outcome): a change whose effect holds on the live resource is
// recorded as done; one that never reached the API, or whose effect does not hold, is
// recorded as failed, and this run redoes it when the finding is still there.
func (e *Engine) reconcile(ctx context.Context, log *zap.Logger, runID string) error {
	pending, err := e.d.Ledger.Changes(ctx, ledger.ChangeFilter{Statuses: []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusApplied}})
	if err != nil {
		return fmt.Errorf("listing changes left in flight: %w", err)
	}
	for _, c := range pending {
		log := log.With(zap.String("changeId", c.ID), zap.String("resource", c.Resource))
		act, ok := e.d.Actions[c.Action]
		if !ok {
			log.Warn("cannot reconcile a change whose action this build lacks", zap.String("action", c.Action))
			continue
		}
		// A change still in flight elsewhere (an on-call playbook run, another replica)
		// holds its resource's lock: only a change whose owner is gone (its lock released,
		// expired, or held by a process proven dead) is reconciled.
		if _, err := e.lock(ctx, log, c.Resource, runID); err != nil {
			log.Debug("a change is in flight elsewhere; not reconciling it", zap.Error(err))
			continue
		}
		if err := e.reconcileOne(ctx, log, runID, c, act); err != nil {
			log.Warn("cannot reconcile a change yet; will retry next run", zap.Error(err))
		}
		e.unlock(ctx, log, c.Resource, runID)
	}
	return nil
}

// settle reconciles the changes of a resource that earlier runs left in flight, with the
// resource's lock held: their runs no longer hold it, so they are over.
func (e *Engine) settle(ctx context.Context, log *zap.Logger, runID, resource string) error {
	pending, err := e.d.Ledger.Changes(ctx, ledger.ChangeFilter{Resource: resource,
		Statuses: []ledger.ChangeStatus{ledger.StatusPlanned, ledger.StatusApplied}})
	if err != nil {
		return fmt.Errorf("listing the changes of the resource left in flight: %w", err)
	}
	for _, c := range pending {
		act, ok := e.d.Actions[c.Action]
		if !ok {
			return fmt.Errorf("change %s was left in flight by action %s, which this build lacks: reconcile it by hand first", c.ID, c.Action)
		}
		if err := e.reconcileOne(ctx, log.With(zap.String("changeId", c.ID)), runID, c, act); err != nil {
			return fmt.Errorf("change %s was left in flight and cannot be reconciled yet: %w", c.ID, err)
		}
	}
	return nil
}

// reconcileOne records the outcome of one change an earlier run left in flight.
func (e *Engine) reconcileOne(ctx context.Context, log *zap.Logger, runID string, c ledger.Change, act remediators.Action) error {
	holds, err := e.holds(ctx, c, act)
	if err != nil {
		return err
	}
	by := "reconciled by " + runID + ": "
	switch {
	case holds && c.Status == ledger.StatusPlanned:
		e.setStatus(ctx, log, c.ID, ledger.StatusApplied, by+"the change had reached the API")
		e.setStatus(ctx, log, c.ID, ledger.StatusVerified, by+"the change holds")
	case holds:
		e.setStatus(ctx, log, c.ID, ledger.StatusVerified, by+"the change holds")
	case c.Status == ledger.StatusPlanned:
		e.setStatus(ctx, log, c.ID, ledger.StatusFailed, by+"interrupted before the change reached the API; redone if still needed")
	default:
		e.setStatus(ctx, log, c.ID, ledger.StatusFailed, by+"verification: the change does not hold on re-read; redone if still needed")
	}
	return nil
}

// holds tells whether an in-flight change's effect is on the live resource: the action
// has nothing left to do there, or the resource is gone.
func (e *Engine) holds(ctx context.Context, c ledger.Change, act remediators.Action) (bool, error) {
	snap, err := act.Snapshot(ctx, c.Resource)
	if errors.Is(err, remediators.ErrGone) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var plan remediators.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return false, fmt.Errorf("reading the plan of change %s: %w", c.ID, err)
	}
	_, err = act.Plan(ctx, snap, plan.Request)
	var refused *remediators.RefusedError
	switch {
	case errors.Is(err, remediators.ErrNothingToDo):
		return true, nil
	case err == nil, errors.As(err, &refused):
		// Something is left to do, or the action would refuse to do it now: either way
		// the change's effect is not there.
		return false, nil
	default:
		return false, fmt.Errorf("planning change %s again: %w", c.ID, err)
	}
}
