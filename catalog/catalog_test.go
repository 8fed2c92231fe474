package catalog

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/playbooks"
	"github.com/zerodrift/zerodrift/rules"
)

// fakeRule is a rule with the given Meta that never finds anything.
type fakeRule struct{ m rules.Meta }

func (r *fakeRule) Meta() *rules.Meta                                           { return &r.m }
func (r *fakeRule) Evaluate(*rules.Env, *inventory.Asset, *rules.Results) error { return nil }

func rule(m rules.Meta) rules.Rule {
	if m.Severity == rules.SeverityUnknown {
		m.Severity = rules.SeverityMedium
	}
	return &fakeRule{m: m}
}

func playbook(name string, rank int, unattended bool, fixes ...playbooks.Fix) *playbooks.Playbook {
	p := &playbooks.Playbook{}
	p.Metadata.Name = name
	p.Spec.Rank = rank
	p.Spec.Unattended = unattended
	p.Spec.Fixes = fixes
	return p
}

func newSet(t *testing.T, pbs ...*playbooks.Playbook) *playbooks.Set {
	t.Helper()
	s, err := playbooks.NewSet(pbs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func markdown(t *testing.T, es []Entry) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteMarkdown(&b, es); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// cells splits a Markdown table row at its unescaped pipes.
func cells(row string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	out = append(out, strings.TrimSpace(cur.String()))
	return out[1 : len(out)-1] // the row starts and ends with a pipe
}

// rowOf returns the cells of the table row of rule id.
func rowOf(t *testing.T, md, id string) []string {
	t.Helper()
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| `"+id+"` |") {
			return cells(l)
		}
	}
	t.Fatalf("no row for %s in\n%s", id, md)
	return nil
}

func TestCISText(t *testing.T) {
	all := rules.CISVersions
	for _, tc := range []struct {
		name string
		cis  rules.CIS
		want string
	}{
		{"same in every version", rules.CIS{"1.1": {"3.1"}}, "3.1"},
		{"several controls", rules.CIS{"1.1": {"3.6", "3.7"}}, "3.6, 3.7"},
		{"none", nil, "—"},
		{"renumbered in 5.0", rules.CIS{"1.1": {"1.5"}, "5.0": {"1.6"}}, "1.5 (v1.1–v4.0), 1.6 (v5.0)"},
		{"new in 2.0", rules.CIS{"2.0": {"2.1"}}, "2.1 (v2.0–v5.0)"},
		{"renumbered twice", rules.CIS{"1.1": {"1.5"}, "1.3": {"1.6"}, "5.0": {"1.7"}},
			"1.5 (v1.1–v1.2), 1.6 (v1.3–v4.0), 1.7 (v5.0)"},
		{"several controls renumbered", rules.CIS{"1.1": {"3.6", "3.7"}, "5.0": {"3.8"}},
			"3.6, 3.7 (v1.1–v4.0); 3.8 (v5.0)"},
		{"same numbering written twice", rules.CIS{"1.1": {"3.1"}, "3.0": {"3.1"}}, "3.1"},
	} {
		es := Build([]rules.Rule{rule(rules.Meta{ID: "r", CIS: tc.cis})}, nil, nil)
		if got := cisText(es[0].CIS, all); got != tc.want {
			t.Errorf("%s: cisText = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMarkdownCISColumns: the v1.1–4.0 column lists controls per version when they change
// inside it; the v5.0 column shows the newest numbering.
func TestMarkdownCISColumns(t *testing.T) {
	if got := rules.CISVersions; got[0] != "1.1" || got[len(got)-1] != "5.0" {
		t.Skipf("written for benchmark versions 1.1 to 5.0, have %v", got)
	}
	es := Build([]rules.Rule{
		rule(rules.Meta{ID: "renumbered-in-5", CIS: rules.CIS{"1.1": {"1.5"}, "5.0": {"1.6"}}}),
		rule(rules.Meta{ID: "renumbered-in-3", CIS: rules.CIS{"1.1": {"1.5"}, "3.0": {"1.6"}}}),
		rule(rules.Meta{ID: "new-in-5", CIS: rules.CIS{"5.0": {"2.9"}}}),
		rule(rules.Meta{ID: "none"}),
	}, nil, nil)
	md := markdown(t, es)
	if header := strings.SplitN(md, "\n", 2)[0]; header != "| ID | What it flags | SCC category | CIS v1.1–4.0 | CIS v5.0 | Severity | Playbooks |" {
		t.Errorf("header = %q", header)
	}
	for id, want := range map[string][2]string{
		"renumbered-in-5": {"1.5", "1.6"},
		"renumbered-in-3": {"1.5 (v1.1–v2.0), 1.6 (v3.0–v4.0)", "1.6"},
		"new-in-5":        {"—", "2.9"},
		"none":            {"—", "—"},
	} {
		row := rowOf(t, md, id)
		if got := [2]string{row[3], row[4]}; got != want {
			t.Errorf("%s: CIS cells %q, want %q", id, got, want)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	es := Build([]rules.Rule{
		rule(rules.Meta{ID: "piped", Flags: "a | b\nc\r\nd `x|y`", Categories: []string{"A|B", "C"},
			SeverityNote: "high | low"}),
		rule(rules.Meta{ID: "no-flags", Description: "Falls back to the description.", Category: "CAT"}),
		rule(rules.Meta{ID: "tick", Category: "a`b"}),
	}, nil, nil)
	md := markdown(t, es)
	for i, l := range strings.Split(strings.TrimSuffix(md, "\n"), "\n") {
		if n := len(cells(l)); n != 7 {
			t.Errorf("line %d has %d cells, want 7: %q", i+1, n, l)
		}
	}
	row := rowOf(t, md, "piped")
	if want := "a \\| b c d `x\\|y`"; row[1] != want {
		t.Errorf("flags cell = %q, want %q", row[1], want)
	}
	if want := "`A\\|B`, `C`"; row[2] != want {
		t.Errorf("category cell = %q, want %q", row[2], want)
	}
	if want := `high \| low`; row[5] != want {
		t.Errorf("severity cell = %q, want %q", row[5], want)
	}
	if row[6] != "—" {
		t.Errorf("playbooks cell = %q, want —", row[6])
	}
	row = rowOf(t, md, "no-flags")
	if row[1] != "Falls back to the description." || row[5] != "medium" {
		t.Errorf("no-flags row = %q", row)
	}
	if !strings.Contains(md, "| `tick` | — | `` a`b `` |") {
		t.Errorf("a category with a backtick is not a code span:\n%s", md)
	}
}

func TestPlaybooksOfARule(t *testing.T) {
	set := newSet(t,
		playbook("logging", 40, true, playbooks.Fix{Rule: "fw"}),
		playbook("restrict", 10, true, playbooks.Fix{Rule: "fw", When: &playbooks.When{Categories: []string{"OPEN_SSH_PORT", "OPEN_RDP_PORT"}}}),
		playbook("deny", 30, false, playbooks.Fix{Rule: "fw", When: &playbooks.When{Ports: []string{"22", "tcp:3389"}}}),
		playbook("disable", 20, false, playbooks.Fix{Rule: "fw"}, playbooks.Fix{Rule: "fw", When: &playbooks.When{Ports: []string{"22"}}}),
		playbook("odd-ports", 50, false, playbooks.Fix{Rule: "fw", When: &playbooks.When{Ports: []string{"20-30", "8443", "udp:22"}}},
			playbooks.Fix{Rule: "fw", When: &playbooks.When{Categories: []string{"OPEN_FIREWALL"}}}),
		playbook("keys", 10, false, playbooks.Fix{Rule: "key"}),
	)
	es := Build([]rules.Rule{
		rule(rules.Meta{ID: "fw"}), rule(rules.Meta{ID: "key"}), rule(rules.Meta{ID: "lonely"}),
	}, set, nil)

	var names []string
	whens := map[string]string{}
	for _, p := range es[0].Playbooks {
		names = append(names, p.Name)
		whens[p.Name] = p.When
	}
	if want := []string{"restrict", "disable", "deny", "logging", "odd-ports"}; !slices.Equal(names, want) {
		t.Errorf("fw's playbooks = %v, want %v (by rank)", names, want)
	}
	for name, want := range map[string]string{
		"restrict":  "SSH, RDP",
		"deny":      "SSH, RDP",
		"disable":   "", // one of its fixes takes every finding
		"logging":   "",
		"odd-ports": "ports 20-30, port 8443, port udp:22 or OPEN_FIREWALL",
	} {
		if whens[name] != want {
			t.Errorf("%s: when = %q, want %q", name, whens[name], want)
		}
	}
	if !es[0].Unattended || es[1].Unattended || es[2].Unattended {
		t.Errorf("unattended = %v %v %v, want true false false", es[0].Unattended, es[1].Unattended, es[2].Unattended)
	}
	if len(es[2].Playbooks) != 0 || es[2].Playbooks == nil {
		t.Errorf("lonely's playbooks = %#v, want an empty list", es[2].Playbooks)
	}

	md := markdown(t, es)
	if got, want := rowOf(t, md, "fw")[6], "`restrict` (SSH, RDP; unattended), `disable`, `deny` (SSH, RDP), "+
		"`logging` (unattended), `odd-ports` (ports 20-30, port 8443, port udp:22 or OPEN_FIREWALL)"; got != want {
		t.Errorf("fw's playbooks cell =\n%q, want\n%q", got, want)
	}
	if got := rowOf(t, md, "key")[6]; got != "`keys`" {
		t.Errorf("key's playbooks cell = %q", got)
	}

	var b bytes.Buffer
	if err := WriteTable(&b, es, ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"restrict (SSH, RDP; unattended)", "logging (unattended)", "3 rules; 2 with a playbook, 1 with an unattended one."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "deny (SSH, RDP; unattended)") {
		t.Errorf("table marks an attended playbook unattended:\n%s", b.String())
	}
}

// TestBuiltinPlaybooks: the built-ins are attributed to the rules they fix, with the
// configuration's unattended overrides.
func TestBuiltinPlaybooks(t *testing.T) {
	set, err := playbooks.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	es := Build(rules.Default(), set, nil)
	byID := map[string]Entry{}
	for _, e := range es {
		byID[e.ID] = e
	}
	fw := byID["firewall-open-ingress"]
	got := map[string]Playbook{}
	for _, p := range fw.Playbooks {
		got[p.Name] = p
	}
	if p := got["firewall-restrict-sources"]; !p.Unattended || p.When != "SSH, RDP" {
		t.Errorf("firewall-restrict-sources = %+v, want unattended, when SSH, RDP", p)
	}
	if p := got["firewall-deny-ports"]; p.Unattended || p.When != "SSH, RDP" {
		t.Errorf("firewall-deny-ports = %+v, want attended, when SSH, RDP", p)
	}
	if p, ok := got["firewall-disable"]; !ok || p.When != "" {
		t.Errorf("firewall-disable = %+v, %v", p, ok)
	}
	for _, id := range []string{"sa-user-managed-key", "sa-key-not-rotated"} {
		if ps := byID[id].Playbooks; len(ps) != 1 || ps[0].Name != "sa-key-disable" {
			t.Errorf("%s's playbooks = %+v, want sa-key-disable", id, ps)
		}
	}

	overridden, err := set.WithUnattended(map[string]bool{"firewall-restrict-sources": false, "firewall-enable-logging": false})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Build(rules.Default(), overridden, nil) {
		if e.ID == "firewall-open-ingress" && e.Unattended {
			t.Errorf("firewall-open-ingress is unattended with both unattended playbooks turned off: %+v", e.Playbooks)
		}
	}
}

// TestFirewallCategories: firewall-open-ingress lists every category its findings carry.
func TestFirewallCategories(t *testing.T) {
	want := []string{"OPEN_FIREWALL"}
	for _, c := range rules.PortCategories() {
		want = append(want, c.Name)
		if _, ok := serviceNames[c.Name]; !ok {
			t.Errorf("serviceNames has no name for %s", c.Name)
		}
	}
	for _, r := range rules.Default() {
		if r.Meta().ID == "firewall-open-ingress" {
			if got := r.Meta().Categories; !slices.Equal(got, want) {
				t.Errorf("firewall-open-ingress's Categories = %v, want %v", got, want)
			}
			return
		}
	}
	t.Fatal("rules.Default() has no firewall-open-ingress")
}

func TestJSON(t *testing.T) {
	set := newSet(t, playbook("fix", 10, true, playbooks.Fix{Rule: "a", When: &playbooks.When{Categories: []string{"X"}}}))
	es := Build([]rules.Rule{
		rule(rules.Meta{ID: "a", Title: "A", Severity: rules.SeverityHigh, SeverityNote: "critical, high", Category: "CAT_A",
			CIS: rules.CIS{"1.1": {"1.5"}, "5.0": {"1.6"}}, AssetTypes: []string{"compute.googleapis.com/Firewall"},
			Flags: "flags", Description: "<description>", Remediation: "remediation"}),
		rule(rules.Meta{ID: "b"}),
		nil,
	}, set, []string{"b", "not-a-rule"})
	var b bytes.Buffer
	if err := WriteJSON(&b, es); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(got) != 2 {
		t.Fatalf("%d entries, want 2:\n%s", len(got), b.String())
	}
	wantKeys := []string{"assetTypes", "categories", "cis", "description", "disabled", "flags", "id", "playbooks",
		"remediation", "severity", "severityNote", "title", "unattended"}
	for _, e := range got {
		var keys []string
		for k := range e {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("keys = %v, want %v", keys, wantKeys)
		}
		cis, _ := e["cis"].(map[string]any)
		for _, v := range rules.CISVersions {
			if _, ok := cis[v].([]any); !ok {
				t.Errorf("%s: cis[%q] = %#v, want a list", e["id"], v, cis[v])
			}
		}
		for _, k := range []string{"categories", "playbooks", "assetTypes"} {
			if _, ok := e[k].([]any); !ok {
				t.Errorf("%s: %s = %#v, want a list", e["id"], k, e[k])
			}
		}
	}
	a, bb := got[0], got[1]
	if a["id"] != "a" || a["severity"] != "HIGH" || a["severityNote"] != "critical, high" || a["disabled"] != false ||
		a["unattended"] != true || a["description"] != "<description>" {
		t.Errorf("a = %v", a)
	}
	if cis := a["cis"].(map[string]any); cis["4.0"].([]any)[0] != "1.5" || cis["5.0"].([]any)[0] != "1.6" {
		t.Errorf("a's cis = %v", cis)
	}
	pbs := a["playbooks"].([]any)
	if len(pbs) != 1 {
		t.Fatalf("a's playbooks = %v", pbs)
	}
	p := pbs[0].(map[string]any)
	if len(p) != 3 || p["name"] != "fix" || p["unattended"] != true || p["when"] != "X" {
		t.Errorf("a's playbook = %v, want exactly name, unattended and when", p)
	}
	if bb["disabled"] != true || bb["unattended"] != false || len(bb["playbooks"].([]any)) != 0 {
		t.Errorf("b = %v", bb)
	}
	if !strings.Contains(b.String(), `"<description>"`) {
		t.Errorf("JSON escapes HTML:\n%s", b.String())
	}

	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("no entries: %q, %v; want []", b.String(), err)
	}
}

func TestTable(t *testing.T) {
	set := newSet(t, playbook("fix\x1b[2J", 10, false, playbooks.Fix{Rule: "evil\x1b]0;title\x07"}))
	es := Build([]rules.Rule{
		rule(rules.Meta{ID: "evil\x1b]0;title\x07", SeverityNote: "critical (owner, editor), high\u202e",
			Categories: []string{"A", "B", "C", "D", "E", "F"}, CIS: rules.CIS{"1.1": {"1.5"}, "5.0": {"1.6"}}}),
		rule(rules.Meta{ID: "off", Severity: rules.SeverityLow, Category: "X", CIS: rules.CIS{"1.1": {"3.1"}}}),
	}, set, []string{"off"})
	var b bytes.Buffer
	if err := WriteTable(&b, es, ""); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, r := range out {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
			t.Fatalf("table holds control character %U:\n%q", r, out)
		}
	}
	lines := strings.Split(out, "\n")
	header := lines[0]
	col := func(name string) int { return strings.Index(header, name) }
	for _, want := range []struct {
		line int
		col  string
		text string
	}{
		{1, "STATUS", "enabled"}, {1, "SEVERITY", "critical (owner, editor)"}, {2, "SEVERITY", "high"},
		{1, "CATEGORY", "A"}, {3, "CATEGORY", "C"}, {4, "CATEGORY", "+3 more"},
		{1, "CIS", "1.5 (v1.1–v4.0)"}, {2, "CIS", "1.6 (v5.0)"}, {1, "PLAYBOOKS", "fix [2J"},
		{5, "STATUS", "disabled"}, {5, "SEVERITY", "low"}, {5, "CIS", "3.1"}, {5, "PLAYBOOKS", "—"},
	} {
		l := []rune(lines[want.line])
		c := len([]rune(header[:col(want.col)]))
		if c >= len(l) || !strings.HasPrefix(string(l[c:]), want.text) {
			t.Errorf("line %d, column %s: want %q in\n%s", want.line, want.col, want.text, out)
		}
	}
	for i, l := range lines {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d ends in spaces: %q", i, l)
		}
	}
	if !strings.Contains(out, "2 rules, 1 disabled by the configuration; 1 with a playbook, 0 with an unattended one.") {
		t.Errorf("summary missing:\n%s", out)
	}

	b.Reset()
	if err := WriteTable(&b, es, "1.3"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "CIS v1.3") || strings.Contains(b.String(), "1.6") || !strings.Contains(b.String(), "1.5") {
		t.Errorf("--cis-version 1.3:\n%s", b.String())
	}
	if err := WriteTable(&b, es, "9.9"); err == nil {
		t.Error("unknown benchmark version accepted")
	}
}

func TestSplitTopLevel(t *testing.T) {
	got := splitTopLevel("critical (all ports), high, medium (HTTP, SMTP, NetBIOS), low")
	if want := []string{"critical (all ports)", "high", "medium (HTTP, SMTP, NetBIOS)", "low"}; !slices.Equal(got, want) {
		t.Errorf("splitTopLevel = %q, want %q", got, want)
	}
}
