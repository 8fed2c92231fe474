package iac

import (
	"maps"
	"slices"
	"strconv"
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
//     more;
//   - enable-subnet-flow-logs: one log_config (or the subnets module's subnet_flow_logs
//     inputs) with the interval, sampling and metadata asked for;
//   - enable-private-google-access: private_ip_google_access (subnet_private_access) is true;
//   - set-instance-metadata: the instance's (project's) metadata sets the key to the value,
//     in its map or its metadata item, a new one included;
//   - remove-external-ip: the interfaces the finding names have no access_config left, and
//     the others keep theirs;
//   - add-egress-deny: the network is unchanged, and an enabled, logged EGRESS rule on it
//     denies protocol all to 0.0.0.0/0 for every instance, at the priority asked for;
//   - set-audit-config: a google_project_iam_audit_config for allServices (a new one
//     included) enables every log type asked for, with nobody exempted from them.
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
	case EditEnableSubnetFlowLogs:
		checkFlowLogs(t, m2, req, p)
	case EditEnablePrivateAccess:
		want, got := "true", ""
		switch m2.target.kind {
		case tSubnetwork:
			got, _ = arg(m2.target.ex.sc, m2.target.b.b, "private_ip_google_access").str()
		case tSubnetModule:
			got, _ = m2.target.elem.attr("subnet_private_access").str()
		}
		if got != want {
			t.Fatalf("private access: %q, want %q\n%s", got, want, p.After)
		}
	case EditSetInstanceMetadata:
		checkMetadata(t, m2, req, p)
	case EditRemoveExternalIP:
		checkExternalIPRemoved(t, m, m2, req, p)
	case EditAddEgressDeny:
		checkEgressDeny(t, after, m, req, p)
	case EditSetAuditConfig:
		checkAuditConfig(t, m2, req, p)
	default:
		t.Fatalf("checkIntent does not know the edit %q", req.edit)
	}
}

// checkFlowLogs: the subnetwork's log_config (or the module's subnet_flow_logs inputs) has
// the interval, sampling and metadata asked for, and a legacy enable_flow_logs is true.
func checkFlowLogs(t testing.TB, m2 Match, req patchRequest, p *Patch) {
	t.Helper()
	c, err := flowLogParams(req.params)
	if err != nil {
		t.Fatal(err)
	}
	tg := m2.target
	got := map[string]*val{}
	switch tg.kind {
	case tSubnetwork:
		n := 0
		for _, b := range tg.b.b.Body.Blocks {
			if b.Type == "log_config" {
				n++
				for _, k := range []string{"aggregation_interval", "flow_sampling", "metadata"} {
					got[k] = arg(tg.ex.sc, b, k)
				}
			}
		}
		if n != 1 {
			t.Fatalf("flow logs: %d log_config blocks\n%s", n, p.After)
		}
		if v := arg(tg.ex.sc, tg.b.b, "enable_flow_logs"); v != nil && (v.kind != kBool || v.s != "true") {
			t.Fatalf("flow logs: enable_flow_logs is %v\n%s", v.s, p.After)
		}
	case tSubnetModule:
		if s, _ := tg.elem.attr("subnet_flow_logs").str(); s != "true" {
			t.Fatalf("flow logs: subnet_flow_logs is %q\n%s", s, p.After)
		}
		got["aggregation_interval"] = tg.elem.attr("subnet_flow_logs_interval")
		got["flow_sampling"] = tg.elem.attr("subnet_flow_logs_sampling")
		got["metadata"] = tg.elem.attr("subnet_flow_logs_metadata")
	default:
		t.Fatalf("flow logs on %s", m2.Address)
	}
	if s, _ := got["aggregation_interval"].str(); s != c.interval {
		t.Fatalf("flow logs: interval %q, want %q\n%s", s, c.interval, p.After)
	}
	if !sameNumber(got["flow_sampling"], c.sampling) {
		t.Fatalf("flow logs: sampling %v, want %s\n%s", got["flow_sampling"], c.sampling, p.After)
	}
	if s, _ := got["metadata"].str(); s != c.metadata {
		t.Fatalf("flow logs: metadata %q, want %q\n%s", s, c.metadata, p.After)
	}
}

// metadataOf evaluates the metadata key of a map written as an object or as a merge(...) of
// objects and references (the last argument that has the key wins, null ones are skipped);
// ok is false when it cannot be told.
func metadataOf(sc *scope, v *val, key string) (string, bool) {
	if v == nil {
		return "", false
	}
	if call, isCall := v.expr.(*hclsyntax.FunctionCallExpr); isCall && call.Name == "merge" {
		for i := len(call.Args) - 1; i >= 0; i-- {
			a := sc.eval(call.Args[i])
			if a.kind == kNull {
				continue // merge skips null arguments
			}
			if a.kind != kMap {
				return "", false
			}
			if x, ok := a.get(key); ok {
				return x.str()
			}
			if a.incomplete {
				return "", false
			}
		}
		return "", false
	}
	x, ok := v.get(key)
	if !ok {
		return "", false
	}
	return x.str()
}

// checkMetadata: the instance's metadata map (the project's metadata map, or its metadata
// item for the key) sets the key to the value.
func checkMetadata(t testing.TB, m2 Match, req patchRequest, p *Patch) {
	t.Helper()
	key, value := req.params["key"].(string), req.params["value"].(string)
	tg := m2.target
	var got string
	var ok bool
	switch tg.kind {
	case tInstance, tProjectMetadata:
		got, ok = metadataOf(tg.ex.sc, arg(tg.ex.sc, tg.b.b, "metadata"), key)
	case tProjectMetadataItem:
		if k, _ := arg(tg.ex.sc, tg.b.b, "key").str(); k != key {
			t.Fatalf("metadata: the item's key is %q, want %q\n%s", k, key, p.After)
		}
		got, ok = arg(tg.ex.sc, tg.b.b, "value").str()
	default:
		t.Fatalf("metadata on %s (%d)\n%s", m2.Address, tg.kind, p.After)
	}
	if !ok || got != value {
		t.Fatalf("metadata: %s is %q (known %v), want %q\n%s", key, got, ok, value, p.After)
	}
}

// accessConfigs counts the access_config blocks of each network_interface of an instance
// match.
func accessConfigs(m Match) []int {
	var out []int
	for _, b := range m.target.b.b.Body.Blocks {
		if b.Type != "network_interface" {
			continue
		}
		n := 0
		for _, ac := range b.Body.Blocks {
			if ac.Type == "access_config" {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

// checkExternalIPRemoved: the interfaces the finding names have no access configuration
// left; the others are as they were.
func checkExternalIPRemoved(t testing.TB, m, m2 Match, req patchRequest, p *Patch) {
	t.Helper()
	nics, err := externalInterfaces(req.evidence)
	if err != nil {
		t.Fatal(err)
	}
	before, now := accessConfigs(m), accessConfigs(m2)
	if len(before) != len(now) {
		t.Fatalf("remove-external-ip: %d interfaces, %d before\n%s", len(now), len(before), p.After)
	}
	for i := range now {
		want := before[i]
		if slices.Contains(nics, i) {
			want = 0
		}
		if now[i] != want {
			t.Fatalf("remove-external-ip: nic%d has %d access configs, want %d\n%s", i, now[i], want, p.After)
		}
	}
}

// checkEgressDeny: the network is unchanged, and a firewall rule that the
// egress-deny-not-set rule would count is declared on it.
func checkEgressDeny(t testing.TB, after *Index, m Match, req patchRequest, p *Patch) {
	t.Helper()
	project, _ := projectOf(m.target.in, m.target.b, m.target.ex.sc).str()
	name, err := egressDenyName(m.target.name)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := req.params["name"].(string); ok {
		name = n
	}
	d := after.Owner(inventory.TypeFirewall, fwName(project, name), map[string]any{"network": m.target.name})
	if d.Status != Managed {
		t.Fatalf("add-egress-deny: the rule %s is %s (%s)\n%s", name, d.Status, d.Why, p.After)
	}
	want := map[string]string{"direction": "EGRESS", "priority": "65535"}
	if n, ok := req.params["priority"].(int); ok {
		want["priority"] = strconv.Itoa(n)
	}
	for k, w := range want {
		if s, _ := firewallArg(d, k).str(); s != w {
			t.Fatalf("add-egress-deny: %s is %q, want %q\n%s", k, s, w, p.After)
		}
	}
	if r, ok := firewallArg(d, "destination_ranges").strings(); !ok || !slices.Equal(r, []string{"0.0.0.0/0"}) {
		t.Fatalf("add-egress-deny: destination_ranges %q\n%s", r, p.After)
	}
	if s, ok := firewallArg(d, "network").str(); !ok || lastSegment(s) != m.target.name {
		t.Fatalf("add-egress-deny: network %q\n%s", s, p.After)
	}
	for _, a := range []string{"target_tags", "target_service_accounts", "disabled", "source_ranges"} {
		if firewallArg(d, a) != nil {
			t.Fatalf("add-egress-deny: the rule sets %s\n%s", a, p.After)
		}
	}
	var protocols []string
	for _, b := range d.target.b.b.Body.Blocks {
		switch b.Type {
		case "deny":
			s, _ := arg(d.target.ex.sc, b, "protocol").str()
			protocols = append(protocols, s)
		case "allow":
			t.Fatalf("add-egress-deny: the rule allows\n%s", p.After)
		}
	}
	if !slices.Equal(protocols, []string{"all"}) {
		t.Fatalf("add-egress-deny: denies %q\n%s", protocols, p.After)
	}
	if logMetadata(d) == nil {
		t.Fatalf("add-egress-deny: the rule does not log\n%s", p.After)
	}
}

// checkAuditConfig: a google_project_iam_audit_config for allServices declares the project's
// audit configuration, enabling every log type asked for with nobody exempted.
func checkAuditConfig(t testing.TB, m2 Match, req patchRequest, p *Patch) {
	t.Helper()
	types, err := auditTypes(req.params)
	if err != nil {
		t.Fatal(err)
	}
	tg := m2.target
	if tg.kind != tAuditConfig {
		t.Fatalf("set-audit-config: after the patch %s is not an audit config (%d)\n%s", m2.Address, tg.kind, p.After)
	}
	if s, _ := arg(tg.ex.sc, tg.b.b, "service").str(); s != auditService {
		t.Fatalf("set-audit-config: service %q\n%s", s, p.After)
	}
	enabled := map[string]bool{}
	for _, b := range tg.b.b.Body.Blocks {
		if b.Type != "audit_log_config" {
			continue
		}
		lt, _ := arg(tg.ex.sc, b, "log_type").str()
		enabled[lt] = true
		if ex := arg(tg.ex.sc, b, "exempted_members"); slices.Contains(types, lt) && ex != nil && (ex.kind != kList || len(ex.elems) > 0) {
			t.Fatalf("set-audit-config: %s still exempts members\n%s", lt, p.After)
		}
	}
	for _, lt := range types {
		if !enabled[lt] {
			t.Fatalf("set-audit-config: %s is not enabled\n%s", lt, p.After)
		}
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
	var own []hcl.Range
	if m.target != nil {
		own = append(own, m.target.b.b.Range())
	}
	for _, g := range m.grants {
		own = append(own, g.m.target.b.b.Range())
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		r := b.Range()
		if slices.Contains(own, r) || b.Type == "locals" || b.Type == "variable" {
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
