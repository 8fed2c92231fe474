package remediators_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/iampolicy"
	"github.com/zerodrift/zerodrift/sandbox"
)

func auditJSON(t *testing.T, p *inventory.Policy) string {
	t.Helper()
	b, err := json.Marshal(p.AuditConfigs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func bindingsJSON(t *testing.T, p *inventory.Policy) string {
	t.Helper()
	b, err := json.Marshal(p.Bindings)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The allServices config gets the three log types with nobody exempted; the other
// service's config (exemption included) and every binding stay as they were.
func TestSetAuditConfigKeepsOtherConfigsAndBindings(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionSetAuditConfig)
	edge := projectName(edgeNumber)
	snap, p := e.plan(a, edge, remediators.Request{})
	if want := "allServices audit logs: enable DATA_READ, DATA_WRITE; drop the exemptions ADMIN_READ user:bot@example.com; " +
		"every binding and every other service's audit config kept"; p.Summary != want {
		t.Errorf("summary %q, want %q", p.Summary, want)
	}
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	before, after := policyOf(t, snap), policyOf(t, e.snapshot(a, edge))
	const want = `[{"service":"storage.googleapis.com","auditLogConfigs":[{"logType":"DATA_READ","exemptedMembers":["serviceAccount:etl@zd-edge.iam.gserviceaccount.com"]}]},` +
		`{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ"},{"logType":"DATA_READ"},{"logType":"DATA_WRITE"}]}]`
	if got := auditJSON(t, after); got != want {
		t.Errorf("audit configs\n%s\nwant\n%s", got, want)
	}
	if bindingsJSON(t, after) != bindingsJSON(t, before) {
		t.Errorf("bindings changed: %s, were %s", bindingsJSON(t, after), bindingsJSON(t, before))
	}
	if f := evaluate(t, "audit-logging-disabled", e.snapshot(a, edge)); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	restored := policyOf(t, e.snapshot(a, edge))
	if auditJSON(t, restored) != auditJSON(t, before) || bindingsJSON(t, restored) != bindingsJSON(t, before) {
		t.Errorf("after Restore: %s and %s", auditJSON(t, restored), bindingsJSON(t, restored))
	}
}

// The write carries the etag: a concurrent writer makes it fail, the policy is read again
// and the change written on top of the writer's, whose binding stays; Restore likewise.
func TestSetAuditConfigEtagConflict(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{EtagConflicts: 2}))
	a := e.action(iampolicy.ActionSetAuditConfig)
	edge := projectName(edgeNumber)
	snap, p := e.plan(a, edge, remediators.Request{})
	applyThroughConflicts(t, e, a, snap, p, 2)
	pol := policyOf(t, e.snapshot(a, edge))
	if !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) || !hasGrant(pol, "roles/owner", "user:alice@example.com", nil) ||
		!hasGrant(pol, "roles/viewer", "group:devs@example.com", nil) {
		t.Errorf("bindings after the retries = %+v", pol.Bindings)
	}
	if f := evaluate(t, "audit-logging-disabled", e.snapshot(a, edge)); len(f) != 0 {
		t.Errorf("findings after Apply: %+v", f)
	}
	if err := e.srv.SetFaults(sandbox.Faults{EtagConflicts: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	pol = policyOf(t, e.snapshot(a, edge))
	if !hasGrant(pol, sandbox.ConcurrentWriterRole, sandbox.ConcurrentWriterMember, nil) || auditJSON(t, pol) != auditJSON(t, policyOf(t, snap)) {
		t.Errorf("policy after Restore = %+v", pol)
	}
	if c := setIamCalls(e.srv, http.StatusConflict); c != 3 {
		t.Errorf("%d conflicts in all, want 3", c)
	}
}

func TestSetAuditConfigGivesUpAfterRetryBudget(t *testing.T) {
	e := newEnv(t, sandbox.WithFaults(sandbox.Faults{EtagConflicts: 100}))
	a := e.action(iampolicy.ActionSetAuditConfig)
	snap, p := e.plan(a, projectName(edgeNumber), remediators.Request{})
	if _, err := a.Apply(e.ctx, snap, p); !errors.Is(err, remediators.ErrChanged) || !strings.Contains(err.Error(), "gave up after 6 attempts") {
		t.Fatalf("Apply against endless conflicts: %v", err)
	}
	if n := setIamCalls(e.srv, http.StatusOK); n != 0 {
		t.Errorf("%d successful writes", n)
	}
}

// Only the log types asked for are touched; folders and organizations are edited alike.
func TestSetAuditConfigLogTypesAndTargets(t *testing.T) {
	e := newEnv(t)
	a := e.action(iampolicy.ActionSetAuditConfig)
	edge := projectName(edgeNumber)
	snap, p := e.plan(a, edge, roundTrip(t, remediators.Request{Params: map[string]any{"logTypes": []string{"DATA_WRITE"}}}))
	if _, err := a.Apply(e.ctx, snap, p); err != nil {
		t.Fatal(err)
	}
	const want = `{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ","exemptedMembers":["user:bot@example.com"]},{"logType":"DATA_WRITE"}]}`
	if got := auditJSON(t, policyOf(t, e.snapshot(a, edge))); !strings.HasSuffix(got, want+"]") {
		t.Errorf("audit configs %s, want allServices %s", got, want)
	}
	if err := e.planErr(a, edge, remediators.Request{Params: map[string]any{"logTypes": []any{"DATA_WRITE"}}}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("DATA_WRITE again: %v", err)
	}
	for _, params := range []map[string]any{{"logTypes": []any{"ADMIN_WRITE"}}, {"logTypes": []any{}}, {"logTypes": 3}} {
		if err := e.planErr(a, edge, remediators.Request{Params: params}); !errors.Is(err, remediators.ErrInvalidRequest) {
			t.Errorf("params %v: %v, want ErrInvalidRequest", params, err)
		}
	}
	// A folder without any audit config gets an allServices one.
	folder := "//cloudresourcemanager.googleapis.com/" + folderName
	fs, fp := e.plan(a, folder, remediators.Request{})
	if _, err := a.Apply(e.ctx, fs, fp); err != nil {
		t.Fatal(err)
	}
	if got := auditJSON(t, policyOf(t, e.snapshot(a, folder))); got != `[{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ"},{"logType":"DATA_READ"},{"logType":"DATA_WRITE"}]}]` {
		t.Errorf("folder audit configs %s", got)
	}
	if err := a.Restore(e.ctx, fs, fp); err != nil {
		t.Fatal(err)
	}
	if got := auditJSON(t, policyOf(t, e.snapshot(a, folder))); got != "null" {
		t.Errorf("folder audit configs after Restore %s", got)
	}
	if n := calls(e.srv, "folders.setIamPolicy", http.StatusOK); n != 2 {
		t.Errorf("%d folder policy writes, want 2", n)
	}
}
