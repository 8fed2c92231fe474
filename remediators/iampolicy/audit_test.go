package iampolicy

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
)

func auditConfigs(t *testing.T, s string) []inventory.AuditConfig {
	t.Helper()
	var acs []inventory.AuditConfig
	if err := json.Unmarshal([]byte(s), &acs); err != nil {
		t.Fatal(err)
	}
	return acs
}

func TestPlanAudit(t *testing.T) {
	// Two allServices entries (which Google merges): exemptions go from both, missing
	// types are added to the first; log types not asked about keep their exemptions.
	cur := auditConfigs(t, `[{"service":"storage.googleapis.com","auditLogConfigs":[{"logType":"DATA_READ","exemptedMembers":["user:a@x"]}]},
		{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ","exemptedMembers":["user:b@x"]}]},
		{"service":"allServices","auditLogConfigs":[{"logType":"DATA_WRITE","exemptedMembers":["user:c@x","user:b@x"]}]}]`)
	orig := mustJSON(t, cur)
	ch, err := planAudit(cur, []string{"DATA_READ", "DATA_WRITE"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.enabled, []string{"DATA_READ"}) || !slices.Equal(ch.unexempted, []string{"DATA_WRITE user:b@x", "DATA_WRITE user:c@x"}) {
		t.Errorf("change = %+v", ch)
	}
	want := `[{"service":"storage.googleapis.com","auditLogConfigs":[{"logType":"DATA_READ","exemptedMembers":["user:a@x"]}]},` +
		`{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ","exemptedMembers":["user:b@x"]},{"logType":"DATA_READ"}]},` +
		`{"service":"allServices","auditLogConfigs":[{"logType":"DATA_WRITE"}]}]`
	if got := string(mustJSON(t, ch.after)); got != want {
		t.Errorf("after\n%s\nwant\n%s", got, want)
	}
	if string(mustJSON(t, cur)) != string(orig) {
		t.Error("planAudit changed its input")
	}
	if _, err := planAudit(ch.after, []string{"DATA_READ", "DATA_WRITE"}); !errors.Is(err, remediators.ErrNothingToDo) {
		t.Errorf("planning again: %v", err)
	}
	// No config at all: an allServices one is added.
	ch, err = planAudit(nil, AuditLogTypes())
	if err != nil || string(mustJSON(t, ch.after)) != `[{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ"},{"logType":"DATA_READ"},{"logType":"DATA_WRITE"}]}]` {
		t.Errorf("from nothing: %s, %v", mustJSON(t, ch.after), err)
	}
}

func TestWithAllServices(t *testing.T) {
	orig := auditConfigs(t, `[{"service":"a"},{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]},{"service":"b"}]`)
	// The other services changed since; allServices goes back where it is now.
	cur := auditConfigs(t, `[{"service":"c"},{"service":"allServices","auditLogConfigs":[{"logType":"ADMIN_READ"}]}]`)
	if got := string(mustJSON(t, withAllServices(cur, orig))); got != `[{"service":"c"},{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]}]` {
		t.Errorf("withAllServices = %s", got)
	}
	// The snapshot had none: allServices goes.
	if got := withAllServices(cur, auditConfigs(t, `[{"service":"c"}]`)); string(mustJSON(t, got)) != `[{"service":"c"}]` {
		t.Errorf("withAllServices = %s", mustJSON(t, got))
	}
	// Now none: it comes back at the snapshot's place.
	if got := string(mustJSON(t, withAllServices(auditConfigs(t, `[{"service":"a"},{"service":"b"}]`), orig))); got != string(mustJSON(t, orig)) {
		t.Errorf("withAllServices = %s", got)
	}
}
