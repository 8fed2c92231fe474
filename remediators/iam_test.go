package remediators_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/sandbox"
)

// until2030 is the condition of the scenario's conditional grant.
func until2030() *inventory.Condition {
	return &inventory.Condition{Title: "until-2030", Description: "temporary", Expression: `request.time < timestamp("2030-01-01T00:00:00Z")`}
}

func grantEvidence(role, member string, cond *inventory.Condition) remediators.Request {
	ev := map[string]any{"role": role, "member": member, "conditional": cond != nil}
	if cond != nil {
		ev["condition"] = map[string]string{"title": cond.Title, "expression": cond.Expression}
	}
	return remediators.Request{Evidence: ev}
}

func setIamCalls(srv *sandbox.Server, status int) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Method == "projects.setIamPolicy" && c.Status == status {
			n += c.Count
		}
	}
	return n
}

func TestRemoveBindingEtagConflicts(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{EtagConflicts: 2}))
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	snap, p := e.plan(a, prod, grantEvidence("roles/editor", appMember, nil))
	applyThroughConflicts(t, e, a, snap, p, 2)
	pol := policyOf(t, e.snapshot(a, prod))
	if hasGrant(pol, "roles/editor", appMember, nil) || !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) ||
		!hasGrant(pol, "roles/editor", "user:bob@example.com", nil) || len(pol.AuditConfigs) != 1 {
		t.Errorf("policy after the retries = %+v", pol)
	}
	// Restore works on the current policy: the concurrent writer's grant stays.
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol = policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, "roles/editor", appMember, nil) || !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) {
		t.Errorf("policy after Restore = %+v", pol)
	}
}

func TestRemoveBindingGivesUpAfterRetryBudget(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{EtagConflicts: 100}))
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	snap, p := e.plan(a, prod, grantEvidence("roles/editor", appMember, nil))
	_, err := a.Apply(e.ctx, snap, p)
	if !errors.Is(err, remediators.ErrChanged) || !strings.Contains(err.Error(), "gave up after 6 attempts") {
		t.Fatalf("Apply against endless conflicts: %v", err)
	}
	if n := setIamCalls(e.srv, http.StatusConflict); n != 6 {
		t.Errorf("%d conflicting writes, want 6 (1 + 5 retries)", n)
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 0 {
		t.Errorf("%d successful writes", n)
	}
	if err := e.srv.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	pol := policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, "roles/editor", appMember, nil) {
		t.Errorf("the binding was removed although every write failed: %+v", pol)
	}
}

func TestRemoveBindingRefusals(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	// The last owner.
	r := refused(t, e.planErr(a, projectName(soloNumber), grantEvidence("roles/owner", "user:solo@example.com", nil)))
	if !strings.Contains(r.Reason, "without an owner") {
		t.Errorf("last owner: %v", r)
	}
	// The last organization administrator.
	refused(t, e.planErr(a, "//cloudresourcemanager.googleapis.com/organizations/320000000001",
		grantEvidence("roles/resourcemanager.organizationAdmin", "group:admins@example.com", nil)))
	// zerodrift's own grant.
	r = refused(t, e.planErr(a, projectName(prodNumber), grantEvidence("roles/editor", selfMember, nil)))
	if !strings.Contains(r.Reason, "zerodrift's own identity") {
		t.Errorf("self: %v", r)
	}
	// Nothing to do: the pair is absent (no such member, or not under that condition).
	for _, req := range []remediators.Request{
		grantEvidence("roles/editor", "user:nobody@example.com", nil),
		grantEvidence("roles/editor", appMember, until2030()),
		grantEvidence("roles/owner", appMember, nil),
	} {
		if err := e.planErr(a, projectName(prodNumber), req); !errors.Is(err, remediators.ErrNothingToDo) {
			t.Errorf("absent pair %v: %v, want ErrNothingToDo", req.Evidence, err)
		}
	}
	// Malformed requests.
	for _, req := range []remediators.Request{
		{},
		{Evidence: map[string]any{"role": "roles/editor"}},
		{Evidence: map[string]any{"role": "roles/editor", "member": appMember, "conditional": true}},
		{Evidence: map[string]any{"role": "roles/editor", "member": appMember}, Params: map[string]any{"replaceWith": "roles/owner"}},
		{Evidence: map[string]any{"role": "roles/editor", "member": appMember}, Params: map[string]any{"replaceWith": "viewer"}},
		{Evidence: map[string]any{"role": "roles/editor", "member": appMember}, Params: map[string]any{"replaceWith": "roles/compute.admin"}},
	} {
		if err := e.planErr(a, projectName(prodNumber), req); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("request %+v: %v, want ErrInvalidRequest", req, err)
		}
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 0 {
		t.Errorf("%d policy writes while refusing", n)
	}
}

func TestRemoveConditionalBindingExactly(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	// The finding names the condition by title and expression, as rules report it.
	snap, p := e.plan(a, prod, grantEvidence("roles/storage.admin", appMember, &inventory.Condition{Title: until2030().Title, Expression: until2030().Expression}))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	after := e.snapshot(a, prod)
	pol := policyOf(t, after)
	if hasGrant(pol, "roles/storage.admin", appMember, until2030()) || !hasGrant(pol, "roles/storage.admin", appMember, nil) {
		t.Errorf("policy after removing the conditional grant = %+v", pol.Bindings)
	}
	for _, b := range pol.Bindings {
		if b.Condition != nil {
			t.Errorf("a conditional binding is left: %+v", b)
		}
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	if got, want := field(t, e.snapshot(a, prod).Data, "bindings"), field(t, snap.Data, "bindings"); got != want {
		t.Errorf("bindings after Restore\n%s\nwant\n%s", got, want)
	}

	// Removing the unconditional grant leaves the conditional one.
	snap, p = e.plan(a, prod, grantEvidence("roles/storage.admin", appMember, nil))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol = policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, "roles/storage.admin", appMember, until2030()) || hasGrant(pol, "roles/storage.admin", appMember, nil) || pol.Version != 3 {
		t.Errorf("policy after removing the unconditional grant = %+v", pol)
	}
}

func TestRemoveBindingRestoreKeepsLaterChanges(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionRemoveBinding)
	prod := projectName(prodNumber)
	snap, p := e.plan(a, prod, grantEvidence("roles/editor", appMember, nil))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	// Someone else removes bob afterwards; restoring must not bring bob back.
	other := e.snapshot(a, prod)
	op, err := a.Plan(e.ctx, other, grantEvidence("roles/editor", "user:bob@example.com", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(e.ctx, other, op); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol := policyOf(t, e.snapshot(a, prod))
	if !hasGrant(pol, "roles/editor", appMember, nil) || hasGrant(pol, "roles/editor", "user:bob@example.com", nil) {
		t.Errorf("policy after Restore = %+v", pol.Bindings)
	}
}
