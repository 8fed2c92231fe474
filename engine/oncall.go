package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

var findingIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// IsFindingID reports whether s has the shape of a finding ID.
func IsFindingID(s string) bool { return findingIDPattern.MatchString(s) }

// Target resolves on-call's --target for a playbook: a finding ID from a scan (which names
// one binding, key or rule exactly), found by scanning src; or a full resource name, read
// live and judged by the playbook's rules, which must then find exactly one finding.
func (e *Engine) Target(ctx context.Context, target string, fix Fix, fixes func(*rules.Finding) bool, src inventory.Source) (*rules.Finding, error) {
	if IsFindingID(target) {
		rep, err := scan.Run(ctx, src, scan.Options{Rules: e.d.Rules, Env: e.d.Env, CISVersion: e.d.Config.Baseline.CISVersion})
		if err != nil {
			return nil, err
		}
		for i := range rep.Findings {
			if rep.Findings[i].ID == target {
				f := rep.Findings[i]
				if !fixes(&f) {
					return nil, fmt.Errorf("finding %s (%s on %s) is not one playbook %s fixes", target, f.Rule, f.Resource, fix.Playbook)
				}
				return &f, nil
			}
		}
		return nil, fmt.Errorf("no finding %s in %s: it may be fixed already; scan again for current IDs", target, src.Describe())
	}
	if !strings.HasPrefix(target, "//") {
		return nil, fmt.Errorf("--target %q is neither a finding ID (16 hex digits) nor a full resource name (//compute.googleapis.com/projects/P/global/firewalls/NAME)", target)
	}
	act, _, err := e.firstAction(fix)
	if err != nil {
		return nil, err
	}
	snap, err := act.Snapshot(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	a, err := snap.Asset()
	if err != nil {
		return nil, err
	}
	var out rules.Results
	for _, r := range e.d.Rules {
		if !slices.Contains(r.Meta().AssetTypes, a.AssetType) {
			continue
		}
		if err := r.Evaluate(e.d.Env, a, &out); err != nil {
			return nil, fmt.Errorf("judging %s: %w", target, err)
		}
	}
	var matched []rules.Finding
	for _, f := range out.Findings {
		if fixes(&f) {
			matched = append(matched, f)
		}
	}
	switch len(matched) {
	case 0:
		return nil, fmt.Errorf("%s has no drift that playbook %s fixes: nothing to do", target, fix.Playbook)
	case 1:
		return &matched[0], nil
	}
	var ids []string
	for _, f := range matched {
		ids = append(ids, fmt.Sprintf("%s (%s %v)", f.ID, f.Rule, f.Evidence["member"]))
	}
	return nil, fmt.Errorf("%s has %d findings playbook %s fixes; name one with --target FINDING_ID: %s",
		target, len(matched), fix.Playbook, strings.Join(ids, ", "))
}

// Plan reads the finding's resource live and plans the playbook's first action on it,
// changing nothing: what on-call reviews before confirming.
func (e *Engine) Plan(ctx context.Context, f *rules.Finding, fix Fix) (*remediators.Plan, error) {
	if err := e.checkPreconditions(fix, f); err != nil {
		return nil, err
	}
	return e.planLive(ctx, f, fix)
}

// firstAction is the action a playbook's first step runs, with that step.
func (e *Engine) firstAction(fix Fix) (remediators.Action, Step, error) {
	if len(fix.Steps) == 0 {
		return nil, Step{}, fmt.Errorf("playbook %s has no actions", fix.Playbook)
	}
	act, err := e.action(fix.Playbook, fix.Steps[0].Action)
	return act, fix.Steps[0], err
}

// action looks up an action a playbook names.
func (e *Engine) action(playbook, name string) (remediators.Action, error) {
	act, ok := e.d.Actions[name]
	if !ok {
		return nil, fmt.Errorf("playbook %s names action %s, which this build does not have", playbook, name)
	}
	return act, nil
}

// planLive reads the finding's resource from its API and plans the playbook's first step
// on it, changing nothing. Errors are ErrNothingToDo, a *RefusedError, or why it could not
// plan.
func (e *Engine) planLive(ctx context.Context, f *rules.Finding, fix Fix) (*remediators.Plan, error) {
	act, step, err := e.firstAction(fix)
	if err != nil {
		return nil, err
	}
	snap, err := act.Snapshot(ctx, f.Resource)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Resource, err)
	}
	return act.Plan(ctx, snap, remediators.Request{Params: e.params(step), Evidence: f.Evidence})
}

// Fix applies a playbook to one finding by hand (on-call's playbook run --apply), with the
// same rails as a run: lock, re-read, re-judge, record the intent, apply, verify, record.
func (e *Engine) Fix(ctx context.Context, f *rules.Finding, fix Fix) (Decision, error) {
	runID := newID("run")
	log := e.d.Log.With(zap.String("runId", runID), zap.String("findingId", f.ID))
	if err := e.d.Ledger.StartRun(ctx, ledger.Run{ID: runID, Kind: "playbook", Mode: "apply", Source: "playbook " + fix.Playbook,
		Version: e.d.Version, StartedAt: e.d.Now().UTC(), Status: "running"}); err != nil {
		return Decision{}, fmt.Errorf("recording the start of run %s: %w", runID, err)
	}
	d := Decision{Finding: f.ID, Rule: f.Rule, Resource: f.Resource, Project: f.Project, Playbook: fix.Playbook}
	if err := e.recordFindings(ctx, runID, []rules.Finding{*f}); err != nil {
		return d, err
	}
	if err := e.checkPreconditions(fix, f); err != nil {
		d.Action, d.Reason = ActionRefused, err.Error()
	} else if e.d.Config.Paused {
		d.Action, d.Reason = ActionRefused, "paused: true in the configuration stops every live change, by hand too"
	} else {
		out := e.execute(ctx, log, runID, f, fix)
		d.Action, d.Reason, d.ChangeID, d.ChangeStatus, d.Plan = out.action, out.reason, out.changeID, string(out.status), out.plan
	}
	err := e.d.Ledger.RecordDecision(ctx, ledger.Decision{RunID: runID, Finding: d.Finding, Rule: d.Rule, Resource: d.Resource,
		Action: d.Action, Reason: d.Reason, Playbook: d.Playbook, ChangeID: d.ChangeID, At: e.d.Now().UTC()})
	status := "done"
	if d.Action == ActionRefused {
		status = "failed"
	}
	summary, _ := json.Marshal(map[string]string{"action": d.Action, "changeId": d.ChangeID})
	if ferr := e.d.Ledger.FinishRun(context.WithoutCancel(ctx), runID, status, summary, e.d.Now().UTC()); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return d, err
}

// RollbackPlan describes what a rollback would do.
type RollbackPlan struct {
	Change  ledger.Change
	Summary string
	// Drifted is set when the resource changed since zerodrift's change (someone undid or
	// changed it): rolling back then needs --force.
	Drifted string
}

// PlanRollback checks that a change can be rolled back and says how.
func (e *Engine) PlanRollback(ctx context.Context, changeID string) (*RollbackPlan, error) {
	c, err := e.d.Ledger.GetChange(ctx, changeID)
	if err != nil {
		return nil, fmt.Errorf("reading change %s: %w", changeID, err)
	}
	switch c.Status {
	case ledger.StatusApplied, ledger.StatusVerified:
	case ledger.StatusFailed:
		events, err := e.d.Ledger.Events(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("reading the history of change %s: %w", c.ID, err)
		}
		applied := false
		for _, ev := range events {
			applied = applied || ev.Status == ledger.StatusApplied
		}
		if !applied {
			return nil, fmt.Errorf("change %s never reached the API (it failed before being applied): nothing to roll back", c.ID)
		}
	case ledger.StatusRolledBack:
		return nil, fmt.Errorf("change %s is already rolled back", c.ID)
	default:
		return nil, fmt.Errorf("change %s is %s: only an applied change can be rolled back", c.ID, c.Status)
	}
	act, ok := e.d.Actions[c.Action]
	if !ok {
		return nil, fmt.Errorf("change %s was made by action %s, which this build does not have", c.ID, c.Action)
	}
	var plan remediators.Plan
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return nil, fmt.Errorf("reading the plan of change %s: %w", c.ID, err)
	}
	rp := &RollbackPlan{Change: *c, Summary: fmt.Sprintf("undo %s on %s: %s", c.Action, c.Resource, plan.Summary)}
	current, err := act.Snapshot(ctx, c.Resource)
	switch {
	case errors.Is(err, remediators.ErrGone):
		if plan.After != nil && string(plan.After) != "null" {
			rp.Drifted = "the resource has been deleted since"
		}
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", c.Resource, err)
	default:
		if _, perr := act.Plan(ctx, current, plan.Request); !errors.Is(perr, remediators.ErrNothingToDo) {
			rp.Drifted = "the resource no longer holds zerodrift's change (someone changed it since)"
		}
	}
	return rp, nil
}

// Rollback restores a change's snapshot and records it. It refuses when the resource changed
// since zerodrift's change, unless force.
func (e *Engine) Rollback(ctx context.Context, changeID string, force bool) (*RollbackPlan, error) {
	rp, err := e.PlanRollback(ctx, changeID)
	if err != nil {
		return nil, err
	}
	if rp.Drifted != "" && !force {
		return rp, fmt.Errorf("refusing to roll back change %s: %s; --force rolls back anyway", changeID, rp.Drifted)
	}
	c := rp.Change
	act := e.d.Actions[c.Action]
	var snap remediators.Snapshot
	var plan remediators.Plan
	if err := json.Unmarshal(c.Snapshot, &snap); err != nil {
		return rp, fmt.Errorf("reading the snapshot of change %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(c.Plan, &plan); err != nil {
		return rp, fmt.Errorf("reading the plan of change %s: %w", c.ID, err)
	}
	runID := newID("run")
	if err := e.d.Ledger.StartRun(ctx, ledger.Run{ID: runID, Kind: "rollback", Mode: "apply", Source: "rollback " + c.ID,
		Version: e.d.Version, StartedAt: e.d.Now().UTC(), Status: "running"}); err != nil {
		return rp, fmt.Errorf("recording the start of run %s: %w", runID, err)
	}
	log := e.d.Log.With(zap.String("runId", runID), zap.String("changeId", c.ID))
	if _, err := e.lock(ctx, log, c.Resource, runID); err != nil {
		return rp, e.finish(ctx, runID, fmt.Errorf("locking %s: %w", c.Resource, err))
	}
	defer e.unlock(ctx, log, c.Resource, runID)
	if err := act.Restore(ctx, &snap, &plan); err != nil {
		return rp, e.finish(ctx, runID, fmt.Errorf("restoring %s from change %s: %w", c.Resource, c.ID, err))
	}
	detail := "restored from the snapshot by " + runID
	if rp.Drifted != "" {
		detail += " (forced: " + rp.Drifted + ")"
	}
	if err := e.d.Ledger.SetStatus(context.WithoutCancel(ctx), c.ID, ledger.StatusRolledBack, detail, e.d.Now().UTC()); err != nil {
		return rp, e.finish(ctx, runID, fmt.Errorf("recording the rollback of change %s (the resource WAS restored): %w", c.ID, err))
	}
	return rp, e.finish(ctx, runID, nil)
}

// finish records the end of a run, keeping the run's own error first.
func (e *Engine) finish(ctx context.Context, runID string, runErr error) error {
	status := "done"
	if runErr != nil {
		status = "failed"
	}
	if err := e.d.Ledger.FinishRun(context.WithoutCancel(ctx), runID, status, nil, e.d.Now().UTC()); err != nil {
		return errors.Join(runErr, fmt.Errorf("recording the end of run %s: %w", runID, err))
	}
	return runErr
}
