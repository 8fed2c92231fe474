package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

// Event-driven mode: one changed asset, judged as soon as a Cloud Asset Inventory feed
// reports it, and decided with the rails of a run: exemptions (configured and by label),
// IaC routing to pull requests, unattended playbooks only, paused, preconditions, the
// resource lock, the re-read and re-judgement from the resource's own API before acting,
// verification, and a bound on live changes. Each event that has findings is recorded as a
// ledger run of kind "event" whose ID derives from the event's key, so the same change is
// decided once however often it is delivered.

// RunKindEvent is the ledger kind of the run that records one event.
const RunKindEvent = "event"

// DefaultEventWindow is the window over which EventOptions.MaxChanges bounds the live
// changes of events: the default schedule's period.
const DefaultEventWindow = 30 * time.Minute

// eventLockTTL is how long the lock on an event's asset outlives a handler that stopped
// renewing it (a crashed replica); a live handler renews it every third of it.
const eventLockTTL = time.Minute

// eventLockPrefix keeps the locks on events' assets apart from the locks on resources that
// live changes take.
const eventLockPrefix = "zerodrift-event:"

// ErrEventBusy is returned (wrapped) when another handler (another replica, or a delivery
// of the same event) is handling an event on the same asset: retry later.
var ErrEventBusy = errors.New("another handler is deciding an event on this asset")

// Event is one change of one asset.
type Event struct {
	// Asset is the asset as the change left it.
	Asset *inventory.Asset
	// Key identifies the change, e.g. the asset's name and update time: the same key is
	// the same change, decided once. It names the ledger run (EventRunID).
	Key string
	// Context holds assets that give Asset its context without being judged: its project,
	// whose zerodrift-exempt label exempts it and which maps the project's number to its ID.
	Context []*inventory.Asset
}

// EventOptions configure an EventHandler.
type EventOptions struct {
	// Apply makes live changes; without it (and without mode: apply in the configuration)
	// events are decided as a dry run.
	Apply bool
	// MaxChanges bounds the live changes of all events over Window; negative means the
	// configured maxChanges. maxChangesPerProject bounds those of one project over Window.
	MaxChanges int
	// Window is the sliding window of MaxChanges; DefaultEventWindow when zero.
	Window time.Duration
	// IaCMaxAge lets events share the Terraform index read within it; zero reads it for
	// every event that has findings to decide.
	IaCMaxAge time.Duration
}

// EventResult is what handling an event did.
type EventResult struct {
	// RunID is the ledger run of the event (recorded only when it has findings).
	RunID string
	// Duplicate is set when the event was decided before: nothing was done.
	Duplicate bool
	// Resumed is set when an earlier handling was interrupted: only the findings it left
	// undecided were decided.
	Resumed bool
	// Findings are the asset's findings.
	Findings []rules.Finding
	// Decisions are the decisions made now, in the order of Findings.
	Decisions []Decision
}

// EventHandler decides events. It is safe for concurrent use; events on different assets
// are decided concurrently.
type EventHandler struct {
	e      *Engine
	opts   EventOptions
	budget *changeBudget

	iacMu sync.Mutex
	iac   iacState
	iacAt time.Time
}

// NewEventHandler returns a handler of events with the engine's dependencies.
func (e *Engine) NewEventHandler(o EventOptions) *EventHandler {
	if o.MaxChanges < 0 {
		o.MaxChanges = *e.d.Config.MaxChanges
	}
	if o.Window <= 0 {
		o.Window = DefaultEventWindow
	}
	return &EventHandler{e: e, opts: o, budget: newChangeBudget(o.MaxChanges, e.d.Config.MaxChangesPerProject, o.Window)}
}

// Successor returns a handler of events with engine e, the engine of a configuration
// loaded since h was made, and options o. It shares h's change budget, limits set anew
// from o and e's configuration: the changes h made and those it has in flight still
// count within the window, so a reload never hands out a fresh budget. h stays usable
// until its events in flight are decided.
func (h *EventHandler) Successor(e *Engine, o EventOptions) *EventHandler {
	n := e.NewEventHandler(o)
	h.budget.setLimits(n.budget.max, n.budget.perProject, n.budget.window)
	n.budget = h.budget
	return n
}

// EventRunID is the ID of the ledger run that records the event of key.
func EventRunID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "evt-" + hex.EncodeToString(sum[:16])
}

// Handle judges the event's asset and decides each finding, recording everything in the
// ledger before it returns: a caller may acknowledge the event once Handle returns nil. An
// asset without findings is not recorded. An event already decided is a Duplicate; one
// whose handling was interrupted is resumed. An error means the event was not (fully)
// decided and should be handled again later; ErrEventBusy says another handler holds it.
func (h *EventHandler) Handle(ctx context.Context, ev Event) (*EventResult, error) {
	if ev.Asset == nil || ev.Asset.Name == "" || ev.Key == "" {
		return nil, errors.New("handling an event: it needs an asset with a name and a key")
	}
	now := h.e.d.Now().UTC()
	e := h.e.at(now)
	res := &EventResult{RunID: EventRunID(ev.Key)}
	log := e.d.Log.With(zap.String("runId", res.RunID), zap.String("asset", ev.Asset.Name), zap.String("eventKey", ev.Key))
	rep := e.judge(ev)
	for _, se := range rep.Errors {
		log.Warn("a rule could not judge the asset", zap.String("service", se.Service), zap.String("message", se.Message))
	}
	res.Findings = rep.Findings
	if len(res.Findings) == 0 {
		return res, nil
	}

	release, err := e.holdEventLock(ctx, log, ev.Asset.Name)
	if err != nil {
		return nil, err
	}
	defer release()

	cfg := e.d.Config
	mode := "report"
	if h.opts.Apply || cfg.Mode == "apply" {
		mode = "apply"
	}
	decided, err := e.startEventRun(ctx, log, ev, mode, now, res)
	if err != nil || res.Duplicate {
		return res, err
	}
	if err := e.recordFindings(ctx, res.RunID, res.Findings); err != nil {
		return res, err
	}
	st := h.loadIaC(ctx, log, e, now)
	ex := newExemptions(cfg.Exemptions, now)
	sum := RunSummary{Findings: len(res.Findings), ByAction: map[string]int{}, MaxChanges: h.opts.MaxChanges, Paused: cfg.Paused,
		Errors: len(rep.Errors), perProject: map[string]int{}}
	runErr := h.decideAll(ctx, log, e, rep, ex, st, mode, decided, &sum, res)
	status := "done"
	if runErr != nil {
		status = "failed"
		sum.Stopped = runErr.Error()
	}
	summary, _ := json.Marshal(sum)
	if err := e.d.Ledger.FinishRun(context.WithoutCancel(ctx), res.RunID, status, summary, e.d.Now().UTC()); err != nil {
		return res, errors.Join(runErr, fmt.Errorf("recording the end of event run %s: %w", res.RunID, err))
	}
	return res, runErr
}

// decideAll decides the findings left undecided and records each decision.
func (h *EventHandler) decideAll(ctx context.Context, log *zap.Logger, e *Engine, rep *scan.Report, ex *exemptions, st iacState,
	mode string, decided map[string]bool, sum *RunSummary, res *EventResult) error {
	for i := range res.Findings {
		f := &res.Findings[i]
		if decided[f.ID] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("event run %s stopped before finding %s: %w", res.RunID, f.ID, err)
		}
		granted, why := h.budget.reserve(f.Project, e.d.Now())
		limit := sum.Changes
		if granted {
			limit++
		}
		before := sum.Changes
		d := e.decide(ctx, log, f, rep, ex, st, mode, limit, sum, res.RunID)
		if granted {
			h.budget.settle(f.Project, sum.Changes > before, e.d.Now())
		} else if d.Action == ActionSkippedLimit {
			d.Reason = why
		}
		res.Decisions = append(res.Decisions, d)
		sum.ByAction[d.Action]++
		if err := e.d.Ledger.RecordDecision(ctx, ledger.Decision{RunID: res.RunID, Finding: d.Finding, Rule: d.Rule,
			Resource: d.Resource, Action: d.Action, Reason: d.Reason, Playbook: d.Playbook, ChangeID: d.ChangeID,
			At: e.d.Now().UTC()}); err != nil {
			return fmt.Errorf("recording the decision on finding %s: %w", f.ID, err)
		}
		log.Info("event decided", zap.String("findingId", f.ID), zap.String("rule", f.Rule), zap.String("action", d.Action),
			zap.String("changeId", d.ChangeID), zap.String("reason", d.Reason))
	}
	return nil
}

// at returns the engine evaluating at now: rules judge an event at the time it is handled,
// not when the engine was built.
func (e *Engine) at(now time.Time) *Engine {
	c := *e
	if e.d.Env != nil {
		env := *e.d.Env
		env.Now = now
		c.d.Env = &env
	}
	return &c
}

// judge runs the rules on the event's asset, with its context assets to learn labels and
// project numbers from; only the event's asset's findings are kept.
func (e *Engine) judge(ev Event) *scan.Report {
	cfg := e.d.Config
	s := scan.New(scan.Options{Rules: e.d.Rules, Env: e.d.Env, CISVersion: cfg.Baseline.CISVersion,
		LabelKeys: []string{ExemptLabel}, InScope: InScope(cfg.Scope), Partial: true})
	for _, a := range ev.Context {
		if a != nil && a.Name != ev.Asset.Name {
			_ = s.Add(a) // Add never fails: a rule's error is recorded in the report
		}
	}
	_ = s.Add(ev.Asset)
	rep := s.Report("event " + ev.Asset.Name)
	kept := rep.Findings[:0]
	for _, f := range rep.Findings {
		if f.Resource == ev.Asset.Name {
			kept = append(kept, f)
		}
	}
	rep.Findings = kept
	errs := rep.Errors[:0]
	for _, se := range rep.Errors {
		if se.Resource == ev.Asset.Name {
			errs = append(errs, se)
		}
	}
	rep.Errors = errs
	return rep
}

// holdEventLock takes the lock on the event's asset for this handler, renewing it until
// released, so replicas decide the events of one asset one at a time.
func (e *Engine) holdEventLock(ctx context.Context, log *zap.Logger, asset string) (func(), error) {
	key, owner := eventLockPrefix+asset, newID("evh")
	if err := e.d.Ledger.Lock(ctx, key, owner, eventLockTTL, e.d.Now().UTC()); err != nil {
		if errors.Is(err, ledger.ErrLocked) {
			return nil, fmt.Errorf("locking the events of %s: %w (%w)", asset, ErrEventBusy, err)
		}
		return nil, fmt.Errorf("locking the events of %s: %w", asset, err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(eventLockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := e.d.Ledger.Lock(context.WithoutCancel(ctx), key, owner, eventLockTTL, e.d.Now().UTC()); err != nil {
					log.Warn("renewing the lock on an event's asset", zap.Error(err))
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := e.d.Ledger.Unlock(context.WithoutCancel(ctx), key, owner); err != nil {
			log.Warn("releasing the lock on an event's asset", zap.Error(err))
		}
	}, nil
}

// startEventRun records the event's run, or finds it: a run that finished makes the event a
// duplicate; one that did not was interrupted, and the findings it decided are returned so
// that only the others are decided now.
func (e *Engine) startEventRun(ctx context.Context, log *zap.Logger, ev Event, mode string, now time.Time, res *EventResult) (map[string]bool, error) {
	source := fmt.Sprintf("event: %s (%s)", ev.Asset.Name, ev.Key)
	err := e.d.Ledger.StartRun(ctx, ledger.Run{ID: res.RunID, Kind: RunKindEvent, Mode: mode, Source: source,
		Version: e.d.Version, StartedAt: now, Status: "running"})
	if err == nil {
		return map[string]bool{}, nil
	}
	if !errors.Is(err, ledger.ErrExists) {
		return nil, fmt.Errorf("recording the start of event run %s: %w", res.RunID, err)
	}
	run, err := e.d.Ledger.GetRun(ctx, res.RunID)
	if err != nil {
		return nil, fmt.Errorf("reading event run %s: %w", res.RunID, err)
	}
	if run.Status == "done" {
		res.Duplicate = true
		log.Debug("event already decided")
		return nil, nil
	}
	ds, err := e.d.Ledger.Decisions(ctx, res.RunID)
	if err != nil {
		return nil, fmt.Errorf("reading the decisions of event run %s: %w", res.RunID, err)
	}
	decided := make(map[string]bool, len(ds))
	for _, d := range ds {
		decided[d.Finding] = true
	}
	res.Resumed = true
	log.Info("resuming an event whose handling was interrupted", zap.String("status", run.Status), zap.Int("decided", len(decided)))
	// A change the interrupted handling left in flight is finished first (its resource
	// lock is this run's).
	if err := e.reconcile(ctx, log, res.RunID); err != nil {
		return nil, err
	}
	return decided, nil
}

// loadIaC reads the Terraform index, sharing one read within IaCMaxAge.
func (h *EventHandler) loadIaC(ctx context.Context, log *zap.Logger, e *Engine, now time.Time) iacState {
	if h.opts.IaCMaxAge <= 0 {
		return e.loadIaC(ctx, log)
	}
	h.iacMu.Lock()
	defer h.iacMu.Unlock()
	if !h.iacAt.IsZero() && now.Sub(h.iacAt) < h.opts.IaCMaxAge {
		return h.iac
	}
	st := e.loadIaC(ctx, log)
	if st.err != nil {
		return st // not kept: the next event reads again
	}
	h.iac, h.iacAt = st, now
	return st
}

// changeBudget bounds the live changes of events over a sliding window, in all and per
// project, as maxChanges and maxChangesPerProject bound those of one run. A decision that
// may change a resource reserves a change first and settles it after.
type changeBudget struct {
	max, perProject int
	window          time.Duration

	mu         sync.Mutex
	made       []madeChange // changes made within the window, oldest first
	byProject  map[string]int
	reserved   int
	reservedBy map[string]int
}

type madeChange struct {
	at      time.Time
	project string
}

func newChangeBudget(maxChanges, perProject int, window time.Duration) *changeBudget {
	return &changeBudget{max: maxChanges, perProject: perProject, window: window, byProject: map[string]int{},
		reservedBy: map[string]int{}}
}

// setLimits changes the bounds; the changes made and reserved stay counted.
func (b *changeBudget) setLimits(maxChanges, perProject int, window time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.max, b.perProject, b.window = maxChanges, perProject, window
}

// prune forgets the changes that left the window. The caller holds b.mu.
func (b *changeBudget) prune(now time.Time) {
	i := 0
	for i < len(b.made) && !b.made[i].at.After(now.Add(-b.window)) {
		if b.byProject[b.made[i].project]--; b.byProject[b.made[i].project] <= 0 {
			delete(b.byProject, b.made[i].project)
		}
		i++
	}
	b.made = b.made[i:]
}

// reserve reserves one live change in project; when none is left it says why.
func (b *changeBudget) reserve(project string, now time.Time) (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	if len(b.made)+b.reserved >= b.max {
		return false, fmt.Sprintf("events reached maxChanges (%d live changes in %s): no more until older ones leave the window; the next scheduled run retries",
			b.max, b.window)
	}
	if b.perProject > 0 && b.byProject[project]+b.reservedBy[project] >= b.perProject {
		return false, fmt.Sprintf("events reached maxChangesPerProject (%d live changes in %s) in project %s; the next scheduled run retries",
			b.perProject, b.window, project)
	}
	b.reserved++
	b.reservedBy[project]++
	return true, ""
}

// settle ends a reservation: the change was made, or it was not and the slot is free again.
func (b *changeBudget) settle(project string, changed bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved--
	if b.reservedBy[project]--; b.reservedBy[project] <= 0 {
		delete(b.reservedBy, project)
	}
	if changed {
		b.made = append(b.made, madeChange{at: now, project: project})
		b.byProject[project]++
	}
}
