package iac

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/zerodrift/zerodrift/inventory"
)

// hostileStrings returns values from the cloud that try to break out of an HCL string.
func hostileStrings() []string {
	return []string{
		`plain`,
		`quote " inside`,
		`back\slash\`,
		`${var.secret}`,
		`$${already escaped}`,
		`%{ if true }x%{ endif }`,
		`%%{`,
		"new\nline",
		"carriage\rreturn\ttab",
		"`backticks` and ```fences```",
		"\"]\n}\nresource \"google_compute_firewall\" \"evil\" {\n  name = \"x\"\n#",
		"nul\x00byte and bell\x07",
		"line\u2028separator",
		"trailing $",
		"trailing %",
		"$",
		"${",
		"unicode é ✓ 🚀",
		"bad utf8 \xff\xfe",
	}
}

// evalQuoted parses `x = <quote(s)>` and returns the string it evaluates to.
func evalQuoted(t testing.TB, s string) string {
	t.Helper()
	src := "x = " + quote(s) + "\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), "q.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("quote(%q) = %s does not parse: %v", s, quote(s), diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() || len(attrs) != 1 {
		t.Fatalf("quote(%q): %v", s, diags)
	}
	if strings.Contains(src, "\n") && strings.Count(src, "\n") != 1 {
		t.Fatalf("quote(%q) = %s spans lines", s, quote(s))
	}
	v, diags := attrs["x"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("quote(%q) = %s does not evaluate without variables: %v", s, quote(s), diags)
	}
	return v.AsString()
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range hostileStrings() {
		got := evalQuoted(t, s)
		var want strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte
			want.WriteRune(r)
		}
		if got != want.String() {
			t.Errorf("quote(%q) = %s evaluates to %q", s, quote(s), got)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range hostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := evalQuoted(t, s)
		// HCL strings are cty strings, which are NFC-normalized.
		if utf8.ValidString(s) && got != cty.StringVal(s).AsString() {
			t.Errorf("quote(%q) = %s evaluates to %q", s, quote(s), got)
		}
	})
}

// TestHostileNames declares firewalls whose names carry HCL syntax, finds them by their
// live names and patches them: the output parses and nothing is injected.
func TestHostileNames(t *testing.T) {
	for _, name := range hostileStrings() {
		if strings.Contains(name, "/") || !utf8.ValidString(name) {
			continue // not a path segment of a resource name
		}
		t.Run(name, func(t *testing.T) {
			src := "provider \"google\" {\n  project = \"acme-prod\"\n}\n\n" +
				"resource \"google_compute_firewall\" \"fw\" {\n  name          = " + quote(name) + "\n" +
				"  source_ranges = [\"0.0.0.0/0\"]\n\n  allow {\n    protocol = \"tcp\"\n  }\n}\n"
			ix := loadOne(t, "main.tf", []byte(src))
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", name), nil)
			if m.Status != Managed {
				t.Fatalf("owner: %s (%s)", m.Status, m.Why)
			}
			p, err := ix.Patch(m, EditReplaceWorldSourceRanges, iap(), map[string]any{"worldRanges": []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			checkPatch(t, p)
			if strings.Contains(string(p.After), "evil") != strings.Contains(src, "evil") {
				t.Error("a block was injected")
			}
			if !strings.Contains(p.Summary, quote(name)) && !strings.Contains(p.Summary, "google_compute_firewall.fw") {
				t.Errorf("summary %q", p.Summary)
			}
			// A deny rule's name derives from the live name: a name GCP would refuse is not written.
			if _, err := ix.Patch(m, EditAddDenyFirewall, map[string]any{"ports": []string{"22"}}, nil); err == nil && name != "plain" {
				t.Errorf("add-deny-firewall accepted the name %q", name)
			}
		})
	}
}

// TestHostileParams feeds values that are not what they claim to be.
func TestHostileParams(t *testing.T) {
	src := []byte("resource \"google_compute_firewall\" \"fw\" {\n  project       = \"p\"\n  name          = \"fw\"\n" +
		"  source_ranges = [\"0.0.0.0/0\"]\n}\n")
	ix := loadOne(t, "main.tf", src)
	m := ix.Owner(inventory.TypeFirewall, fwName("p", "fw"), nil)
	for _, s := range hostileStrings() {
		if _, err := ix.Patch(m, EditReplaceWorldSourceRanges, map[string]any{"ranges": []string{s}}, nil); err == nil {
			t.Errorf("range %q accepted", s)
		}
		if _, err := ix.Patch(m, EditEnableFirewallLogging, map[string]any{"metadata": s}, nil); err == nil {
			t.Errorf("metadata %q accepted", s)
		}
		if _, err := ix.Patch(m, EditAddDenyFirewall, map[string]any{"ports": []string{s}}, nil); err == nil {
			t.Errorf("port %q accepted", s)
		}
		ev := map[string]any{"exposed": []map[string]any{{"protocol": s, "ports": []string{"22"}}}}
		if _, err := ix.Patch(m, EditAddDenyFirewall, nil, ev); err == nil && s != "plain" {
			t.Errorf("protocol %q accepted", s)
		}
		// Hostile world ranges from the evidence are ignored, not written.
		p, err := ix.Patch(m, EditReplaceWorldSourceRanges, iap(), map[string]any{"worldRanges": []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		checkPatch(t, p)
	}
	// A member with quotes is removed, never written.
	member := `user:a"b${c}@acme.example`
	src = []byte("resource \"google_project_iam_binding\" \"b\" {\n  project = \"p\"\n  role    = \"roles/viewer\"\n" +
		"  members = [" + quote(member) + ", \"user:ok@acme.example\"]\n}\n")
	ix = loadOne(t, "main.tf", src)
	m = ix.Owner(inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/p",
		map[string]any{"role": "roles/viewer", "member": member})
	p, err := ix.Patch(m, EditRemoveIAMMember, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPatch(t, p)
	if strings.Contains(string(p.After), `a\"b`) {
		t.Errorf("member not removed:\n%s", p.After)
	}
}
