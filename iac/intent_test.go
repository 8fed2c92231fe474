package iac

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// patchRequest is one call of Patch, kept to check what the patch wrote.
type patchRequest struct {
	assetType, resource string
	edit                string
	params, evidence    map[string]any
}

// touches reports whether the edit changes bytes of r, or inserts strictly inside it.
func (e edit) touches(r hcl.Range) bool {
	return e.start < r.End.Byte && r.Start.Byte < e.end || e.start == e.end && e.start > r.Start.Byte && e.start < r.End.Byte
}

// checkIntent asserts that a patch of a one-file index made the edit it was asked for,
// where it was asked: the edits touch no top-level block but the declaration's own (or a
// locals or variable block holding the edited expression), and, read again, the file
// declares the resource with the change in place:
//   - replace-world-source-ranges: the trusted ranges are in, the world ranges (0.0.0.0/0,
//     ::/0, the evidence's) are out, nothing else came in, unevaluable elements stayed, the
//     list no longer covers the internet, and the ranges taken out besides the world ones
//     are only those that covered it with the rest;
//   - disable-firewall: disabled is true;
//   - enable-firewall-logging: log_config's metadata is the one asked for;
//   - add-deny-firewall: the rule is unchanged, and a deny rule from the whole internet is
//     declared next to it;
//   - remove-resource and remove-iam-member: nothing declares the resource (or grant) any
//     more.
func checkIntent(t testing.TB, m Match, req patchRequest, p *Patch) {
	t.Helper()
	if p.File == m.File {
		checkEditsInPlace(t, m, p)
	}
	after := loadOne(t, strings.TrimPrefix(p.File, "env/"), p.After)
	m2 := after.Owner(req.assetType, req.resource, req.evidence)
	if req.edit == EditRemoveResource || req.edit == EditRemoveIAMMember {
		if m2.Status == Managed {
			t.Fatalf("%s: %s is still declared at %s:%d\n%s", req.edit, req.resource, m2.File, m2.Line, p.After)
		}
		return
	}
	if m2.Status != Managed || m2.Address != m.Address {
		t.Fatalf("%s: after the patch %s is %s %s (%s), want managed %s\n%s", req.edit, req.resource, m2.Status, m2.Address, m2.Why, m.Address, p.After)
	}
	switch req.edit {
	case EditReplaceWorldSourceRanges:
		checkWorldReplaced(t, m, m2, req, p)
	case EditDisableFirewall:
		if s, _ := firewallArg(m2, "disabled").str(); s != "true" {
			t.Fatalf("disable: disabled is %q\n%s", s, p.After)
		}
	case EditEnableFirewallLogging:
		want := "INCLUDE_ALL_METADATA"
		if s, ok := req.params["metadata"].(string); ok {
			want = s
		}
		if got, _ := logMetadata(m2).str(); got != want {
			t.Fatalf("logging: metadata is %q, want %q\n%s", got, want, p.After)
		}
		if a := firewallArg(m2, "enable_logging"); a != nil && a.kind != kNull {
			if s, _ := a.str(); s != "true" {
				t.Fatalf("logging: enable_logging is %q\n%s", s, p.After)
			}
		}
	case EditAddDenyFirewall:
		k0, u0, _ := sourceRanges(m)
		k1, u1, _ := sourceRanges(m2)
		if !slices.Equal(k0, k1) || u0 != u1 {
			t.Fatalf("add-deny: the rule's ranges changed from %q to %q\n%s", k0, k1, p.After)
		}
		name, err := denyName(m.target.name)
		if err != nil {
			t.Fatal(err)
		}
		denyRes := req.resource[:strings.LastIndexByte(req.resource, '/')+1] + name
		d := after.Owner(inventory.TypeFirewall, denyRes, nil)
		if d.Status != Managed {
			t.Fatalf("add-deny: the deny rule %s is %s (%s)\n%s", denyRes, d.Status, d.Why, p.After)
		}
		if k, u, _ := sourceRanges(d); u != 0 || !slices.Equal(k, []string{"0.0.0.0/0", "::/0"}) {
			t.Fatalf("add-deny: the deny rule's ranges are %q\n%s", k, p.After)
		}
	default:
		t.Fatalf("checkIntent does not know the edit %q", req.edit)
	}
}

// checkEditsInPlace asserts that every edit of p lies in the declaration's top-level block
// or in a locals or variable block, or (add-deny-firewall) between top-level blocks.
func checkEditsInPlace(t testing.TB, m Match, p *Patch) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(p.Before, p.File, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("Patch edited a file with syntax errors: %v", diags)
	}
	own := m.target.b.b.Range()
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		r := b.Range()
		if r == own || b.Type == "locals" || b.Type == "variable" {
			continue
		}
		for _, e := range p.edits {
			if e.touches(r) {
				t.Fatalf("the patch of %s changes the block %s %q at %s:%d\n%s", m.Address, b.Type, b.Labels, p.File, r.Start.Line, p.Diff)
			}
		}
	}
}

// checkWorldReplaced checks replace-world-source-ranges; see checkIntent.
func checkWorldReplaced(t testing.TB, m, m2 Match, req patchRequest, p *Patch) {
	t.Helper()
	params, _, err := paramStrings(req.params, "ranges")
	if err != nil {
		t.Fatal(err)
	}
	trusted := map[string]bool{}
	for _, r := range params {
		pfx, _ := rules.ParseSourceRange(r)
		trusted[pfx.String()] = true
	}
	base := worldSet(req.evidence)
	k0, u0, present := sourceRanges(m)
	k1, u1, _ := sourceRanges(m2)
	if !present {
		if u1 != 0 || !maps.Equal(setOf(k1), trusted) {
			t.Fatalf("replace-world: added %q, want the trusted %q\n%s", k1, slices.Sorted(maps.Keys(trusted)), p.After)
		}
		return
	}
	before, now := setOf(k0), setOf(k1)
	var extra []string // taken out although not a world range
	for s := range before {
		if !now[s] && !base[normRange(s)] {
			extra = append(extra, s)
		}
	}
	for s := range now {
		if !before[s] && !trusted[s] || base[normRange(s)] && !trusted[s] {
			t.Fatalf("replace-world: %q in the result %q (before %q)\n%s", s, k1, k0, p.After)
		}
	}
	for r := range trusted {
		if !now[r] {
			t.Fatalf("replace-world: the trusted range %s is missing from %q\n%s", r, k1, p.After)
		}
	}
	if u1 != u0 {
		t.Fatalf("replace-world: %d unevaluable elements before, %d after\n%s", u0, u1, p.After)
	}
	if w, covers := rules.CoversInternet(k1); covers {
		t.Fatalf("replace-world: %q still covers the internet through %q\n%s", k1, w, p.After)
	}
	if _, covers := rules.CoversInternet(append(slices.Clone(k1), extra...)); len(extra) > 0 && !covers {
		t.Fatalf("replace-world: %q taken out of %q, but with them %q does not cover the internet\n%s", extra, k0, k1, p.After)
	}
}

func setOf(ss []string) map[string]bool {
	out := make(map[string]bool, len(ss))
	for _, s := range ss {
		out[s] = true
	}
	return out
}

// normRange is the canonical form of a source range, or s itself when it is not one.
func normRange(s string) string {
	if pfx, ok := rules.ParseSourceRange(s); ok {
		return pfx.String()
	}
	return s
}

// firewallArg evaluates an argument of a Managed firewall match: of the resource block, or
// of the firewall-rules module element. It is nil when not set.
func firewallArg(m Match, name string) *val {
	t := m.target
	if t.kind == tFirewallRule {
		v, _ := t.elem.get(name)
		return v
	}
	return arg(t.ex.sc, t.b.b, name)
}

// sourceRanges evaluates a Managed firewall match's source ranges: the elements known as
// strings, in order, and how many are not; present is false when the rule has none set.
func sourceRanges(m Match) (known []string, unknown int, present bool) {
	key := "source_ranges"
	if t := m.target; t.kind == tFirewallRule && t.rulesInput != "ingress_rules" {
		key = "ranges"
	}
	v := firewallArg(m, key)
	if v == nil || v.kind == kNull {
		return nil, 0, false
	}
	if v.kind != kList {
		return nil, 1, true
	}
	for _, e := range v.elems {
		if s, ok := e.str(); ok {
			known = append(known, s)
		} else {
			unknown++
		}
	}
	return known, unknown, true
}

// logMetadata evaluates the metadata of a Managed firewall match's log_config.
func logMetadata(m Match) *val {
	t := m.target
	if t.kind == tFirewallRule {
		return firewallArg(m, "log_config").attr("metadata")
	}
	for _, b := range t.b.b.Body.Blocks {
		if b.Type == "log_config" {
			return arg(t.ex.sc, b, "metadata")
		}
	}
	return nil
}

// TestPatchReplaceWorldLeavesNoCover: ranges that still cover the internet once the world
// ranges are gone go too: halves nested in 0.0.0.0/0, and a kept half that the trusted
// ranges complete.
func TestPatchReplaceWorldLeavesNoCover(t *testing.T) {
	for _, tc := range []struct {
		ranges, trusted, want string
	}{
		{`"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"`, "35.235.240.0/20", `["35.235.240.0/20", "10.0.0.0/8"]`},
		{`"0.0.0.0/1", "0.0.0.0/0"`, "128.0.0.0/1", `["128.0.0.0/1"]`},
		{`"::/0", "::/1", "0.0.0.0/1"`, "8000::/1", `["8000::/1", "0.0.0.0/1"]`},
	} {
		src := "resource \"google_compute_firewall\" \"x\" {\n  project       = \"p\"\n  name          = \"fw\"\n  source_ranges = [" + tc.ranges + "]\n}\n"
		ix := loadOne(t, "main.tf", []byte(src))
		world, _ := rules.CoversInternet(strings.Split(strings.ReplaceAll(strings.ReplaceAll(tc.ranges, `"`, ""), " ", ""), ","))
		req := patchRequest{assetType: inventory.TypeFirewall, resource: fwName("p", "fw"), edit: EditReplaceWorldSourceRanges,
			params: map[string]any{"ranges": []string{tc.trusted}}, evidence: map[string]any{"worldRanges": world}}
		m := ix.Owner(req.assetType, req.resource, nil)
		p, err := ix.Patch(m, req.edit, req.params, req.evidence)
		if err != nil {
			t.Fatalf("%s: %v", tc.ranges, err)
		}
		checkPatch(t, p)
		checkIntent(t, m, req, p)
		if !strings.Contains(string(p.After), "source_ranges = "+tc.want) {
			t.Errorf("[%s] with %s trusted:\n%s", tc.ranges, tc.trusted, p.After)
		}
	}
}
