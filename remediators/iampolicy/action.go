package iampolicy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
	"github.com/zerodrift/zerodrift/rules"
)

// policyAction is what the actions on an IAM policy share: the resources they edit and
// the snapshot, which is the policy (version 3, with its etag) in the asset model's shape.
type policyAction struct{ r *Remediator }

func (a policyAction) AssetType() string { return inventory.TypeProject }
func (a policyAction) Close() error      { return a.r.Close() }

// AssetTypes lists the kinds of resources whose policies the action edits.
func (a policyAction) AssetTypes() []string {
	return []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}
}

// removeBinding is iam.removeBinding. Plan.Before and Plan.After hold the policy's bindings
// before and after, from which Restore knows which pairs to put back.
type removeBinding struct{ policyAction }

func (a *removeBinding) Name() string { return ActionRemoveBinding }

func (a policyAction) Snapshot(ctx context.Context, resource string) (*remediators.Snapshot, error) {
	t, err := parseTarget(resource)
	if err != nil {
		return nil, err
	}
	p, err := a.r.read(ctx, t)
	if err != nil {
		return nil, err
	}
	return &remediators.Snapshot{Resource: resource, AssetType: t.assetType(), Data: gcputil.MustJSON(p), ReadAt: time.Now().UTC()}, nil
}

// request is what the action is asked: the member and the grants of it to remove, read
// from the finding's evidence, and the optional narrower role to grant instead.
type request struct {
	member string
	// grants are the member's grants to remove: the one of evidence.role, or one for each
	// role of evidence.roles (one for each condition of a role the finding lists conditions
	// of). A pair of the policy is removed when it is one of them.
	grants      []grantRef
	replaceWith string
}

// grantRef names one grant of the request's member.
type grantRef struct {
	role string
	// cond, when set, selects the conditional grant whose condition has this expression
	// (and title, when given); nil selects the unconditional grant.
	cond *inventory.Condition
}

func (g grantRef) String() string {
	if g.cond == nil {
		return g.role + " unconditionally"
	}
	return fmt.Sprintf("%s under condition %q", g.role, g.cond.Expression)
}

// parseRequest reads the request. The evidence names one grant (evidence.role, with
// evidence.condition for a conditional one, as most IAM rules report it) or the member's
// roles on the policy (evidence.roles, with evidence.conditions for the roles held only
// conditionally, as iam-non-org-member reports it); never both.
func parseRequest(req remediators.Request) (request, error) {
	var rq request
	var err error
	if rq.member, err = req.EvidenceString("member"); err != nil {
		return rq, err
	}
	role, roles := req.Evidence["role"], req.Evidence["roles"]
	switch {
	case role != nil && roles != nil:
		return rq, fmt.Errorf("%w: evidence.role and evidence.roles are both given; a finding names one role or the list of them", remediators.ErrInvalidRequest)
	case roles != nil:
		rq.grants, err = parseRoles(req)
	default:
		rq.grants, err = parseRole(req)
	}
	if err != nil {
		return rq, err
	}
	if rq.member == "" {
		return rq, fmt.Errorf("%w: evidence.member names the member whose grant to remove, and is required", remediators.ErrInvalidRequest)
	}
	if rq.replaceWith, err = req.ParamString("replaceWith"); err != nil {
		return rq, err
	}
	if r := rq.replaceWith; r != "" {
		removed := rq.roles()
		switch {
		case len(removed) > 1:
			return rq, fmt.Errorf("%w: params.replaceWith grants one narrower role in place of one role, and the finding names %d (%s): "+
				"leave params.replaceWith out and grant the roles the member needs by hand", remediators.ErrInvalidRequest, len(removed), strings.Join(removed, ", "))
		case !isRoleName(r):
			return rq, fmt.Errorf("%w: params.replaceWith %q is not a role (roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME)", remediators.ErrInvalidRequest, r)
		case r == removed[0]:
			return rq, fmt.Errorf("%w: params.replaceWith is the role being removed, %s", remediators.ErrInvalidRequest, r)
		case rules.IsPrivilegedRole(r):
			return rq, fmt.Errorf("%w: params.replaceWith %s is an owner, editor or admin role, not a narrower one", remediators.ErrInvalidRequest, r)
		}
	}
	return rq, nil
}

// parseRole reads the one grant of evidence.role and evidence.condition.
func parseRole(req remediators.Request) ([]grantRef, error) {
	role, err := req.EvidenceString("role")
	if err != nil {
		return nil, err
	}
	if role == "" {
		return nil, fmt.Errorf("%w: evidence.role (or evidence.roles) and evidence.member name the grant to remove, and are required", remediators.ErrInvalidRequest)
	}
	if req.Evidence["conditions"] != nil {
		return nil, fmt.Errorf("%w: evidence.conditions lists the conditions of evidence.roles; the condition of evidence.role is evidence.condition", remediators.ErrInvalidRequest)
	}
	g := grantRef{role: role}
	cond, err := req.EvidenceMap("condition")
	if err != nil {
		return nil, err
	}
	switch {
	case cond != nil && strings.TrimSpace(cond["expression"]) == "":
		return nil, fmt.Errorf("%w: evidence.condition has no expression", remediators.ErrInvalidRequest)
	case cond != nil:
		g.cond = &inventory.Condition{Title: cond["title"], Expression: cond["expression"]}
	case req.Evidence["conditional"] == true:
		return nil, fmt.Errorf("%w: evidence.conditional is true and evidence.condition is missing", remediators.ErrInvalidRequest)
	}
	return []grantRef{g}, nil
}

// parseRoles reads the grants of evidence.roles, a non-empty list of roles. A role that
// evidence.conditions lists conditions of (the member holds it only conditionally) stands
// for its grants under those conditions, any other role for its unconditional grant: as
// for evidence.role, a grant the finding does not name is kept.
func parseRoles(req remediators.Request) ([]grantRef, error) {
	roles, err := stringList(req.Evidence["roles"])
	if err != nil {
		return nil, fmt.Errorf("%w: evidence.roles: %w", remediators.ErrInvalidRequest, err)
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("%w: evidence.roles is empty; it names the roles to remove the member from", remediators.ErrInvalidRequest)
	}
	for i, r := range roles {
		if !isRoleName(r) {
			return nil, fmt.Errorf("%w: evidence.roles[%d] %q is not a role (roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME)",
				remediators.ErrInvalidRequest, i, r)
		}
	}
	if req.Evidence["condition"] != nil {
		return nil, fmt.Errorf("%w: evidence.condition is the condition of evidence.role; the conditions of evidence.roles are listed in evidence.conditions",
			remediators.ErrInvalidRequest)
	}
	conds, err := roleConditions(req.Evidence["conditions"], roles)
	if err != nil {
		return nil, err
	}
	var out []grantRef
	for _, r := range slices.Compact(slices.Sorted(slices.Values(roles))) {
		switch {
		case len(conds[r]) > 0:
			for _, c := range conds[r] {
				out = append(out, grantRef{role: r, cond: c})
			}
		case req.Evidence["conditional"] == true:
			return nil, fmt.Errorf("%w: evidence.conditional is true and evidence.conditions names no condition of %s", remediators.ErrInvalidRequest, r)
		default:
			out = append(out, grantRef{role: r})
		}
	}
	return out, nil
}

// stringList reads a list of strings, as Go ([]string) or as decoded YAML or JSON ([]any).
func stringList(v any) ([]string, error) {
	switch t := v.(type) {
	case []string:
		return slices.Clone(t), nil
	case []any:
		out := make([]string, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d is a %T, want a string", i, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %T, want a list of roles", v)
}

// roleConditions reads evidence.conditions, a list of {role, title, expression}, by role;
// each role must be one of roles.
func roleConditions(v any, roles []string) (map[string][]*inventory.Condition, error) {
	if v == nil {
		return nil, nil
	}
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	case []map[string]string:
		for _, m := range t {
			list = append(list, m)
		}
	case []map[string]any:
		for _, m := range t {
			list = append(list, m)
		}
	default:
		return nil, fmt.Errorf("%w: evidence.conditions is a %T, want a list of {role, title, expression}", remediators.ErrInvalidRequest, v)
	}
	out := map[string][]*inventory.Condition{}
	for i, e := range list {
		key := fmt.Sprintf("conditions[%d]", i)
		m, err := remediators.Request{Evidence: map[string]any{key: e}}.EvidenceMap(key)
		if err != nil {
			return nil, err
		}
		switch {
		case m == nil:
			return nil, fmt.Errorf("%w: evidence.%s is empty, want {role, title, expression}", remediators.ErrInvalidRequest, key)
		case !slices.Contains(roles, m["role"]):
			return nil, fmt.Errorf("%w: evidence.%s.role %q is not one of evidence.roles", remediators.ErrInvalidRequest, key, m["role"])
		case strings.TrimSpace(m["expression"]) == "":
			return nil, fmt.Errorf("%w: evidence.%s has no expression", remediators.ErrInvalidRequest, key)
		}
		out[m["role"]] = append(out[m["role"]], &inventory.Condition{Title: m["title"], Expression: m["expression"]})
	}
	return out, nil
}

func isRoleName(r string) bool {
	parts := strings.Split(r, "/")
	switch {
	case len(parts) == 2:
		return parts[0] == "roles" && parts[1] != ""
	case len(parts) == 4:
		return (parts[0] == "projects" || parts[0] == "organizations") && parts[1] != "" && parts[2] == "roles" && parts[3] != ""
	}
	return false
}

// roles lists the roles the request removes the member from, each once, in request order.
func (rq request) roles() []string {
	var out []string
	for _, g := range rq.grants {
		if !slices.Contains(out, g.role) {
			out = append(out, g.role)
		}
	}
	return out
}

// selects reports whether a pair of the policy is one of the grants the request names.
// Members are compared without regard to case, as IAM compares principals' emails.
func (rq request) selects(p pair) bool {
	if !strings.EqualFold(p.member, rq.member) {
		return false
	}
	return slices.ContainsFunc(rq.grants, func(g grantRef) bool {
		if p.role != g.role {
			return false
		}
		if g.cond == nil || p.cond == nil {
			return g.cond == nil && p.cond == nil
		}
		return p.cond.Expression == g.cond.Expression && (g.cond.Title == "" || p.cond.Title == g.cond.Title)
	})
}

// change is a planned edit of a policy.
type change struct {
	after          []inventory.Binding
	removed, added []pair
}

// plan computes the edit of policy p the request asks, refusing what is unsafe: every
// grant the request names that the policy still has is removed in the one change, and a
// grant it no longer has is left out of it.
func (a *removeBinding) plan(t target, p *inventory.Policy, rq request) (change, error) {
	if a.r.isSelf(rq.member) {
		return change{}, &remediators.RefusedError{Reason: fmt.Sprintf(
			"%s is zerodrift's own identity: removing its grant of %s could cut zerodrift off", rq.member, strings.Join(rq.roles(), ", "))}
	}
	var targets []pair
	for _, q := range pairs(p.Bindings) {
		if rq.selects(q) {
			targets = append(targets, q)
		}
	}
	if len(targets) == 0 {
		what := make([]string, len(rq.grants))
		for i, g := range rq.grants {
			what[i] = g.String()
		}
		return change{}, fmt.Errorf("%s does not hold %s in the policy of %s: %w", rq.member, strings.Join(what, " or "), t.name, remediators.ErrNothingToDo)
	}
	after := p.Bindings
	var ownerRolesRemoved []string
	for _, q := range targets {
		after = without(after, q)
		if slices.Contains(ownerRoles(t.kind), q.role) && !slices.Contains(ownerRolesRemoved, q.role) {
			ownerRolesRemoved = append(ownerRolesRemoved, q.role)
		}
	}
	if rq.replaceWith != "" {
		for _, q := range targets {
			after = with(after, pair{rq.replaceWith, q.member, q.cond}, nil)
		}
	}
	if len(ownerRolesRemoved) > 0 && len(owners(after, t.kind)) == 0 {
		reason := fmt.Sprintf("removing %s from %s would leave %s without an owner (%s held unconditionally by anyone)",
			rq.member, strings.Join(ownerRolesRemoved, " and "), t.name, strings.Join(ownerRoles(t.kind), " or "))
		if roles := rq.roles(); len(roles) > 1 {
			reason += fmt.Sprintf("; none of its %d roles (%s) is removed", len(roles), strings.Join(roles, ", "))
		}
		return change{}, &remediators.RefusedError{Reason: reason}
	}
	removed, added := diff(p.Bindings, after)
	return change{after: after, removed: removed, added: added}, nil
}

// viewJSON is the bindings as Plan.Before and Plan.After hold them.
func viewJSON(bs []inventory.Binding) json.RawMessage { return planView("bindings", bs) }

func readView(raw json.RawMessage, what string) ([]inventory.Binding, error) {
	return readPlanView[inventory.Binding](raw, "bindings", what)
}

// planView is one part of a policy as Plan.Before and Plan.After hold it: {"FIELD": [...]},
// an empty list rather than null.
func planView[T any](field string, items []T) json.RawMessage {
	if items == nil {
		items = []T{}
	}
	return gcputil.MustJSON(map[string][]T{field: items})
}

// readPlanView reads back what planView wrote; what says which of the plan's views it is.
func readPlanView[T any](raw json.RawMessage, field, what string) ([]T, error) {
	var v map[string][]T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%w: reading the plan's %s %s: %w", remediators.ErrInvalidRequest, what, field, err)
	}
	return v[field], nil
}

func decodePolicy(snap *remediators.Snapshot) (*inventory.Policy, error) {
	var p inventory.Policy
	if err := json.Unmarshal(snap.Data, &p); err != nil {
		return nil, fmt.Errorf("reading the policy snapshot of %s: %w", snap.Resource, err)
	}
	return &p, nil
}

func pairsText(ps []pair) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

func (a *removeBinding) checkSnapshot(snap *remediators.Snapshot, plan *remediators.Plan) (target, error) {
	if snap == nil {
		return target{}, fmt.Errorf("%w: %s needs a snapshot", remediators.ErrInvalidRequest, ActionRemoveBinding)
	}
	t, err := parseTarget(snap.Resource)
	if err != nil {
		return t, err
	}
	return t, gcputil.CheckSnapshot(snap, t.assetType(), plan, ActionRemoveBinding)
}

func (a *removeBinding) Plan(_ context.Context, snap *remediators.Snapshot, req remediators.Request) (*remediators.Plan, error) {
	t, err := a.checkSnapshot(snap, nil)
	if err != nil {
		return nil, err
	}
	rq, err := parseRequest(req)
	if err != nil {
		return nil, err
	}
	p, err := decodePolicy(snap)
	if err != nil {
		return nil, err
	}
	ch, err := a.plan(t, p, rq)
	if err != nil {
		return nil, fmt.Errorf("planning %s on the policy of %s: %w", ActionRemoveBinding, t.name, err)
	}
	summary := "remove " + pairsText(ch.removed)
	if len(ch.added) > 0 {
		summary += "; grant " + pairsText(ch.added)
	}
	return &remediators.Plan{Action: ActionRemoveBinding, Resource: snap.Resource, Request: req, Summary: summary,
		Before: viewJSON(p.Bindings), After: viewJSON(ch.after)}, nil
}

func samePairs(a, b []pair) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(p pair) bool { return !slices.ContainsFunc(b, p.same) })
}

func (a *removeBinding) Apply(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) (string, error) {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return "", err
	}
	rq, err := parseRequest(plan.Request)
	if err != nil {
		return "", err
	}
	before, err := readView(plan.Before, "before")
	if err != nil {
		return "", err
	}
	after, err := readView(plan.After, "after")
	if err != nil {
		return "", err
	}
	wantRemoved, wantAdded := diff(before, after)
	// The first write carries the snapshot's etag: if anything changed since, it fails
	// with a conflict and the policy is read again, so no change is ever written over.
	p, err := decodePolicy(snap)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		ch, err := a.plan(t, p, rq)
		if err != nil {
			return "", fmt.Errorf("planning %s on the policy of %s (etag %s): %w", ActionRemoveBinding, t.name, p.Etag, err)
		}
		if !samePairs(ch.removed, wantRemoved) || !samePairs(ch.added, wantAdded) {
			return "", fmt.Errorf("the policy of %s changed since the plan: the change would now remove [%s] and grant [%s]: %w",
				t.name, pairsText(ch.removed), pairsText(ch.added), remediators.ErrChanged)
		}
		next := clonePolicy(p)
		next.Bindings = ch.after
		a.r.log.Info("setting IAM policy", zap.String("action", ActionRemoveBinding), zap.String("resource", t.name),
			zap.String("etag", p.Etag), zap.Int("attempt", attempt+1), zap.String("remove", pairsText(ch.removed)),
			zap.String("grant", pairsText(ch.added)))
		written, err := a.r.write(ctx, t, next)
		if err == nil {
			if err := a.verify(ctx, t, ch.removed, ch.added); err != nil {
				return "", fmt.Errorf("verifying the IAM policy of %s: %w", t.name, err)
			}
			return fmt.Sprintf("policy of %s written at attempt %d, etag %s → %s: %s", t.name, attempt+1, p.Etag, written.Etag, plan.Summary), nil
		}
		if err := a.retry(ctx, t, attempt, err); err != nil {
			return "", err
		}
		if p, err = a.r.read(ctx, t); err != nil {
			return "", err
		}
	}
}

// retry handles a failed write: a conflict within the retry budget waits and returns nil
// (the caller reads the policy again and plans again); anything else is returned.
func (a *removeBinding) retry(ctx context.Context, t target, attempt int, err error) error {
	if !gcputil.IsConflict(err) {
		return err
	}
	if attempt >= a.r.set.ConflictRetries {
		return fmt.Errorf("the policy of %s kept changing under concurrent writers; gave up after %d attempts: %w (last: %w)",
			t.name, attempt+1, remediators.ErrChanged, err)
	}
	a.r.log.Info("IAM policy changed concurrently; reading it again", zap.String("resource", t.name), zap.Int("attempt", attempt+1), zap.Error(err))
	if err := a.r.pause(ctx, attempt); err != nil {
		return fmt.Errorf("waiting to retry the IAM policy of %s: %w", t.name, err)
	}
	return nil
}

// pause waits before retry number attempt+1: the backoff doubles, with jitter.
func (r *Remediator) pause(ctx context.Context, attempt int) error {
	d := r.set.ConflictBackoff
	for range attempt {
		d = min(2*d, remediators.MaxConflictBackoff)
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// verify re-reads the policy and checks the removed pairs are gone and the added ones there.
func (a *removeBinding) verify(ctx context.Context, t target, gone, there []pair) error {
	p, err := a.r.read(ctx, t)
	if err != nil {
		return err
	}
	for _, q := range gone {
		if has(p.Bindings, q) {
			return fmt.Errorf("%s is still granted", q)
		}
	}
	for _, q := range there {
		if !has(p.Bindings, q) {
			return fmt.Errorf("%s is not granted", q)
		}
	}
	return nil
}

// Restore puts back, on the policy as it is now (read-modify-write with its etag, never
// the snapshot's whole policy), the pairs the change removed, and takes away those it added.
func (a *removeBinding) Restore(ctx context.Context, snap *remediators.Snapshot, plan *remediators.Plan) error {
	t, err := a.checkSnapshot(snap, plan)
	if err != nil {
		return err
	}
	before, err := readView(plan.Before, "before")
	if err != nil {
		return err
	}
	after, err := readView(plan.After, "after")
	if err != nil {
		return err
	}
	removed, added := diff(before, after)
	for attempt := 0; ; attempt++ {
		cur, err := a.r.read(ctx, t)
		if err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
		next := cur.Bindings
		for _, q := range added {
			next = without(next, q)
		}
		for _, q := range removed {
			next = with(next, q, before)
		}
		if bytes.Equal(viewJSON(next), viewJSON(cur.Bindings)) {
			a.r.log.Info("IAM policy already restored", zap.String("resource", t.name))
			return nil
		}
		p := clonePolicy(cur)
		p.Bindings = next
		a.r.log.Info("restoring IAM policy", zap.String("action", ActionRemoveBinding), zap.String("resource", t.name),
			zap.String("etag", cur.Etag), zap.Int("attempt", attempt+1), zap.String("grant", pairsText(removed)),
			zap.String("remove", pairsText(added)))
		_, err = a.r.write(ctx, t, p)
		if err == nil {
			if err := a.verify(ctx, t, added, removed); err != nil {
				return fmt.Errorf("verifying the restored IAM policy of %s: %w", t.name, err)
			}
			return nil
		}
		if err := a.retry(ctx, t, attempt, err); err != nil {
			return fmt.Errorf("restoring: %w", err)
		}
	}
}
