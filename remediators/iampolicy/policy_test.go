package iampolicy

import (
	"encoding/json"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func bindings(t *testing.T, s string) []inventory.Binding {
	t.Helper()
	var bs []inventory.Binding
	if err := json.Unmarshal([]byte(s), &bs); err != nil {
		t.Fatal(err)
	}
	return bs
}

func js(bs []inventory.Binding) string {
	b, _ := json.Marshal(bs)
	return string(b)
}

func TestWithoutAndWith(t *testing.T) {
	cond := &inventory.Condition{Title: "t", Expression: "e"}
	orig := bindings(t, `[{"role":"r/a","members":["x","y"]},{"role":"r/b","members":["x"]},{"role":"r/b","members":["x"],"condition":{"title":"t","expression":"e"}}]`)
	p := pair{"r/a", "x", nil}
	got := without(orig, p)
	if js(got) != `[{"role":"r/a","members":["y"]},{"role":"r/b","members":["x"]},{"role":"r/b","members":["x"],"condition":{"title":"t","expression":"e"}}]` {
		t.Errorf("without = %s", js(got))
	}
	if back := with(got, p, orig); js(back) != js(orig) {
		t.Errorf("with puts it back at %s, want %s", js(back), js(orig))
	}
	// A binding left empty is dropped, and put back at its place.
	q := pair{"r/b", "x", nil}
	got = without(orig, q)
	if len(got) != 2 || got[1].Condition == nil {
		t.Errorf("without = %s", js(got))
	}
	if back := with(got, q, orig); js(back) != js(orig) {
		t.Errorf("with = %s", js(back))
	}
	// The conditional pair is a different pair.
	c := pair{"r/b", "x", cond}
	if got := without(orig, c); !has(got, q) || has(got, c) {
		t.Errorf("without conditional = %s", js(got))
	}
	removed, added := diff(orig, with(without(orig, p), pair{"r/v", "x", nil}, nil))
	if len(removed) != 1 || removed[0] != p || len(added) != 1 || added[0].role != "r/v" {
		t.Errorf("diff = %v, %v", removed, added)
	}
}

func TestOwners(t *testing.T) {
	bs := bindings(t, `[{"role":"roles/owner","members":["deleted:user:a@x","user:b@x"],"condition":{"expression":"e"}},
		{"role":"roles/owner","members":["deleted:user:c@x"]},{"role":"roles/resourcemanager.organizationAdmin","members":["group:g@x"]}]`)
	if got := owners(bs, kindProject); len(got) != 0 {
		t.Errorf("project owners = %v", got)
	}
	if got := owners(bs, kindOrganization); len(got) != 1 || got[0] != "group:g@x" {
		t.Errorf("organization owners = %v", got)
	}
}

func TestPolicyConversion(t *testing.T) {
	p := &inventory.Policy{Version: 3, Etag: "BwYAAAAAAAE=",
		Bindings:     bindings(t, `[{"role":"roles/viewer","members":["user:a@x"],"condition":{"title":"t","description":"d","expression":"e"}}]`),
		AuditConfigs: []inventory.AuditConfig{{Service: "allServices", AuditLogConfigs: []inventory.AuditLogConfig{{LogType: "DATA_READ", ExemptedMembers: []string{"user:b@x"}}}}}}
	pb, err := toProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if pb.GetVersion() != 3 {
		t.Errorf("version = %d", pb.GetVersion())
	}
	if back, _ := json.Marshal(fromProto(pb)); string(back) != string(mustJSON(t, p)) {
		t.Errorf("round trip = %s, want %s", back, mustJSON(t, p))
	}
	if _, err := toProto(&inventory.Policy{}); err == nil {
		t.Error("a policy without an etag was converted for writing")
	}
	pb, err = toProto(&inventory.Policy{Etag: "ACAB", Bindings: bindings(t, `[{"role":"roles/viewer","members":["user:a@x"]}]`)})
	if err != nil || pb.GetVersion() != 1 {
		t.Errorf("unconditional policy: version %d, %v", pb.GetVersion(), err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
