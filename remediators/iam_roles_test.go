package remediators_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"google.golang.org/genproto/googleapis/type/expr"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
)

// These tests remove a member from every role a finding lists (evidence.roles, as
// iam-non-org-member reports it) in one read-modify-write of the policy.

// outsider is a personal account that iam-non-org-member flags (no allowed domains are
// configured, so gmail.com is outside the organization).
const outsider = "user:outsider@gmail.com"

// grant is one member's grant of one role, to seed a policy with.
type grant struct {
	role, member string
	cond         *inventory.Condition
}

// grantLive adds grants to the policy of resource (a project) through the Resource Manager
// client, read-modify-write as a person's gcloud would: into the binding of the role and
// condition when there is one, else in a new binding at the end. The sandbox's call counts
// are reset afterwards, so that a test counts only the action's calls.
func (e *env) grantLive(resource string, grants ...grant) {
	e.t.Helper()
	opts, err := remediators.Config{Endpoint: e.url}.Options(e.ctx, inventory.ServiceResourceManager)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := resourcemanager.NewProjectsRESTClient(e.ctx, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	name := strings.TrimPrefix(resource, "//cloudresourcemanager.googleapis.com/")
	p, err := c.GetIamPolicy(e.ctx, &iampb.GetIamPolicyRequest{Resource: name, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
	if err != nil {
		e.t.Fatalf("reading the policy of %s: %v", name, err)
	}
	for _, g := range grants {
		i := slices.IndexFunc(p.Bindings, func(b *iampb.Binding) bool {
			if b.Role != g.role || (b.Condition == nil) != (g.cond == nil) {
				return false
			}
			return g.cond == nil || b.Condition.Expression == g.cond.Expression
		})
		if i < 0 {
			b := &iampb.Binding{Role: g.role}
			if g.cond != nil {
				b.Condition = &expr.Expr{Title: g.cond.Title, Description: g.cond.Description, Expression: g.cond.Expression}
			}
			p.Bindings = append(p.Bindings, b)
			i = len(p.Bindings) - 1
		}
		p.Bindings[i].Members = append(p.Bindings[i].Members, g.member)
	}
	p.Version = 3
	if _, err := c.SetIamPolicy(e.ctx, &iampb.SetIamPolicyRequest{Resource: name, Policy: p}); err != nil {
		e.t.Fatalf("writing the policy of %s: %v", name, err)
	}
	e.srv.ResetCalls()
}

// outsiderGrants are the outsider's grants on zd-prod: roles/editor with bob, a new
// binding of roles/logging.viewer, and roles/storage.admin only under the until-2030
// condition (the app holds it unconditionally too).
func outsiderGrants() []grant {
	return []grant{
		{role: "roles/editor", member: outsider},
		{role: "roles/logging.viewer", member: outsider},
		{role: "roles/storage.admin", member: outsider, cond: until2030()},
	}
}

// nonOrgFinding evaluates iam-non-org-member on a snapshot and returns the evidence of
// member's finding, as the engine's ledger keeps it (JSON).
func nonOrgFinding(t *testing.T, snap *remediators.Snapshot, member string) remediators.Request {
	t.Helper()
	for _, f := range evaluate(t, "iam-non-org-member", snap) {
		if strings.EqualFold(f.Evidence["member"].(string), member) {
			return roundTrip(t, remediators.Request{Evidence: f.Evidence})
		}
	}
	t.Fatalf("iam-non-org-member does not find %s in %s", member, snap.Resource)
	return remediators.Request{}
}

func nonOrgFinds(t *testing.T, snap *remediators.Snapshot, member string) bool {
	t.Helper()
	return slices.ContainsFunc(evaluate(t, "iam-non-org-member", snap), func(f rules.Finding) bool {
		return strings.EqualFold(f.Evidence["member"].(string), member)
	})
}

func rolesEvidence(member string, roles ...string) remediators.Request {
	return remediators.Request{Evidence: map[string]any{"member": member, "roles": roles, "conditional": false}}
}

func TestRemoveOutsideMemberFromEveryRoleInOneWrite(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	orig := e.snapshot(a, prod)
	e.grantLive(prod, outsiderGrants()...)

	snap := e.snapshot(a, prod)
	req := nonOrgFinding(t, snap, outsider)
	p, err := a.Plan(e.ctx, snap, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{outsider + " in roles/editor", outsider + " in roles/logging.viewer", outsider + " in roles/storage.admin if"} {
		if !strings.Contains(p.Summary, want) {
			t.Errorf("plan %q does not remove %q", p.Summary, want)
		}
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 1 {
		t.Errorf("%d policy writes, want one for every role", n)
	}
	fresh := e.snapshot(a, prod)
	if got, want := field(t, fresh.Data, "bindings"), field(t, orig.Data, "bindings"); got != want {
		t.Errorf("bindings after removal\n%s\nwant the scenario's\n%s", got, want)
	}
	if nonOrgFinds(t, fresh, outsider) {
		t.Error("iam-non-org-member still finds the outsider")
	}
	if _, err := a.Plan(e.ctx, fresh, req); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("Plan after Apply: %v, want ErrNothingToDo", err)
	}
	// Rollback puts every pair back, in one write, where it was.
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 2 {
		t.Errorf("%d policy writes after Restore, want 2", n)
	}
	if got, want := field(t, e.snapshot(a, prod).Data, "bindings"), field(t, snap.Data, "bindings"); got != want {
		t.Errorf("bindings after Restore\n%s\nwant\n%s", got, want)
	}
}

func TestRemoveOutsideMemberThroughEtagConflicts(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	// The outsider holds roles/viewer too, the role the concurrent writer grants: the retry
	// edits the binding the other writer changed.
	e.grantLive(prod, append(outsiderGrants(), grant{role: sandbox.ConcurrentWriterRole, member: outsider})...)
	snap := e.snapshot(a, prod)
	req := nonOrgFinding(t, snap, outsider)
	p, err := a.Plan(e.ctx, snap, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetFaults(sandbox.Faults{EtagConflicts: 2}); err != nil {
		t.Fatal(err)
	}
	applyThroughConflicts(t, e, a, snap, p, 2)
	pol := policyOf(t, e.snapshot(a, prod))
	for _, g := range append(outsiderGrants(), grant{role: sandbox.ConcurrentWriterRole, member: outsider}) {
		if hasGrant(pol, g.role, g.member, g.cond) {
			t.Errorf("the outsider still holds %s after the retries", g.role)
		}
	}
	if !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) || !hasGrant(pol, "roles/viewer", "group:devs@example.com", nil) ||
		!hasGrant(pol, "roles/editor", "user:bob@example.com", nil) || !hasGrant(pol, "roles/storage.admin", appMember, until2030()) {
		t.Errorf("policy after the retries = %+v", pol.Bindings)
	}
	// Rollback works on the policy as it is now: the concurrent writer's grant stays.
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol = policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) {
		t.Errorf("Restore dropped the concurrent writer's grant: %+v", pol.Bindings)
	}
	for _, g := range append(outsiderGrants(), grant{role: sandbox.ConcurrentWriterRole, member: outsider}) {
		if !hasGrant(pol, g.role, g.member, g.cond) {
			t.Errorf("Restore did not give the outsider %s back: %+v", g.role, pol.Bindings)
		}
	}
}

func TestRemoveOutsideMemberRefusals(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	solo := projectName(soloNumber)
	// zd-solo's only other owner leaves: the outsider is its last owner, and the change that
	// would take every role from it is refused as a whole.
	e.grantLive(solo, grant{role: "roles/owner", member: outsider}, grant{role: "roles/viewer", member: outsider})
	snap := e.snapshot(a, solo)
	req := nonOrgFinding(t, snap, outsider)
	if _, err := a.Plan(e.ctx, snap, req); err != nil {
		t.Fatalf("with another owner: %v", err)
	}
	soloSnap, op := e.plan(a, solo, grantEvidence("roles/owner", "user:solo@example.com", nil))
	if _, err := a.Apply(e.ctx, soloSnap, op); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()
	r := refused(t, e.planErr(a, solo, req))
	if !strings.Contains(r.Reason, "without an owner") || !strings.Contains(r.Reason, "none of its 2 roles") {
		t.Errorf("last owner: %v", r)
	}
	// zerodrift's own identity.
	r = refused(t, e.planErr(a, projectName(prodNumber), rolesEvidence(selfMember, "roles/editor", "roles/viewer")))
	if !strings.Contains(r.Reason, "zerodrift's own identity") {
		t.Errorf("self: %v", r)
	}
	// Malformed requests, each naming the field at fault.
	for _, tc := range []struct {
		req   remediators.Request
		field string
	}{
		{remediators.Request{Evidence: map[string]any{"member": outsider, "role": "roles/editor", "roles": []string{"roles/editor"}}}, "evidence.roles"},
		{remediators.Request{Evidence: map[string]any{"member": outsider}}, "evidence.role"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{}}}, "evidence.roles"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": "roles/editor"}}, "evidence.roles"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []any{"roles/editor", 7}}}, "evidence.roles"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []any{"roles/editor", "editor"}}}, "evidence.roles[1]"},
		{remediators.Request{Evidence: map[string]any{"roles": []string{"roles/editor"}}}, "evidence.member"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{"roles/editor"}, "conditional": true}}, "evidence.conditions"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{"roles/editor"},
			"conditions": []any{map[string]any{"role": "roles/viewer", "expression": "true"}}}}, "evidence.conditions[0].role"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{"roles/editor"},
			"conditions": []any{map[string]any{"role": "roles/editor"}}}}, "evidence.conditions[0]"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{"roles/editor"},
			"condition": map[string]any{"expression": "true"}}}, "evidence.condition"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "role": "roles/editor",
			"conditions": []any{map[string]any{"role": "roles/editor", "expression": "true"}}}}, "evidence.conditions"},
		{remediators.Request{Evidence: map[string]any{"member": outsider, "roles": []string{"roles/editor", "roles/viewer"}},
			Params: map[string]any{"replaceWith": "roles/browser"}}, "params.replaceWith"},
	} {
		err := e.planErr(a, projectName(prodNumber), tc.req)
		if !errors.Is(err, remediators.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("request %+v: %v, want ErrInvalidRequest naming %s", tc.req, err, tc.field)
		}
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 0 {
		t.Errorf("%d policy writes while refusing", n)
	}
}

func TestRemoveOutsideMemberPlansWhatIsLeft(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	// A role the member no longer holds is left out of the plan.
	e.grantLive(prod, grant{role: "roles/editor", member: outsider})
	snap, p := e.plan(a, prod, rolesEvidence(outsider, "roles/editor", "roles/logging.viewer"))
	if p.Summary != "remove "+outsider+" in roles/editor" {
		t.Errorf("summary = %q", p.Summary)
	}
	// One role with replaceWith grants the narrower role, as for evidence.role.
	if rp, err := a.Plan(e.ctx, snap, remediators.Request{Evidence: rolesEvidence(outsider, "roles/editor").Evidence,
		Params: map[string]any{"replaceWith": "roles/browser"}}); err != nil || !strings.Contains(rp.Summary, "grant "+outsider+" in roles/browser") {
		t.Errorf("one role with replaceWith: %v %+v", err, rp)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	// None left: nothing to do.
	if err := e.planErr(a, prod, rolesEvidence(outsider, "roles/editor", "roles/logging.viewer")); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("no role left: %v, want ErrNothingToDo", err)
	}

	// Members are compared as IAM compares emails: each spelling of the member goes.
	e.grantLive(prod, grant{role: "roles/editor", member: "user:Outsider@Gmail.com"}, grant{role: "roles/logging.viewer", member: outsider})
	snap = e.snapshot(a, prod)
	req := nonOrgFinding(t, snap, outsider)
	p, err := a.Plan(e.ctx, snap, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if fresh := e.snapshot(a, prod); nonOrgFinds(t, fresh, outsider) {
		t.Errorf("after removing %s: %s", p.Summary, field(t, fresh.Data, "bindings"))
	}

	// As for evidence.role, a role's conditional grant that the finding does not name stays:
	// iam-non-org-member lists the conditions of roles held only conditionally, so the
	// unconditional grant of a role held both ways goes and the conditional one is kept.
	e.grantLive(prod, grant{role: "roles/storage.admin", member: outsider}, grant{role: "roles/storage.admin", member: outsider, cond: until2030()})
	snap = e.snapshot(a, prod)
	p, err = a.Plan(e.ctx, snap, nonOrgFinding(t, snap, outsider))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol := policyOf(t, e.snapshot(a, prod))
	if hasGrant(pol, "roles/storage.admin", outsider, nil) || !hasGrant(pol, "roles/storage.admin", outsider, until2030()) {
		t.Errorf("after %s: %+v", p.Summary, pol.Bindings)
	}
}

// TestRemoveOutsideMemberChangedSincePlan: a grant the plan removes that someone else
// removed before Apply makes the change another one than was planned (and than Restore
// would undo), so nothing is written.
func TestRemoveOutsideMemberChangedSincePlan(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	e.grantLive(prod, outsiderGrants()...)
	snap := e.snapshot(a, prod)
	p, err := a.Plan(e.ctx, snap, nonOrgFinding(t, snap, outsider))
	if err != nil {
		t.Fatal(err)
	}
	other, op := e.plan(a, prod, grantEvidence("roles/logging.viewer", outsider, nil))
	if _, err := a.Apply(e.ctx, other, op); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) {
		t.Fatalf("Apply of a plan a concurrent change overtook: %v, want ErrChanged", err)
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 0 {
		t.Errorf("%d policy writes", n)
	}
	pol := policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, "roles/editor", outsider, nil) || !hasGrant(pol, "roles/storage.admin", outsider, until2030()) {
		t.Errorf("policy after the refused Apply = %+v", pol.Bindings)
	}
}
