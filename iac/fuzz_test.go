package iac

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// buildFirewallFile writes a file with a firewall named name whose source_ranges has the
// given elements ("L" stands for a reference to a local that holds 0.0.0.0/0), laid out on
// one line or one per line, between other blocks with comments.
func buildFirewallFile(name, elems string, multiline bool, comment string) string {
	comment = strings.NewReplacer("\n", " ", "\r", " ", "*/", "* /").Replace(comment)
	var items []string
	for _, e := range strings.Split(elems, ",") {
		if e == "L" {
			items = append(items, "local.anywhere")
		} else {
			items = append(items, quote(e))
		}
	}
	var list string
	if multiline {
		var b strings.Builder
		b.WriteString("[\n")
		for i, it := range items {
			if i%3 == 1 {
				b.WriteString("    # " + comment + "\n")
			}
			b.WriteString("    " + it + ",")
			if i%2 == 1 {
				b.WriteString(" # " + comment)
			}
			b.WriteString("\n")
			if i%4 == 3 {
				b.WriteString("\n")
			}
		}
		b.WriteString("  ]")
		list = b.String()
	} else {
		list = "[" + strings.Join(items, ", ") + "]"
	}
	return "# " + comment + "\nlocals {\n  anywhere = \"0.0.0.0/0\" # " + comment + "\n}\n\n" +
		"/* " + comment + " */\nresource \"google_compute_firewall\" \"fw\" {\n  project = \"acme-prod\"\n  name    = " + quote(name) + "\n" +
		"  source_ranges = " + list + "\n\n  allow {\n    protocol = \"tcp\"\n  }\n}\n\n" +
		"# " + comment + "\nresource \"google_compute_network\" \"n\" {\n  name = \"n\"\n}\n"
}

// FuzzPatchReplaceWorld patches generated firewalls: whenever Patch succeeds, the output
// parses, only the firewall's block changed, and the rule no longer admits the internet.
func FuzzPatchReplaceWorld(f *testing.F) {
	f.Add("allow-ssh", "0.0.0.0/0", false, "c")
	f.Add("allow-ssh", "10.0.0.0/8,0.0.0.0/0,::/0", true, "comment")
	f.Add("x", "0.0.0.0/1,128.0.0.0/1,L", true, "# nested")
	f.Add("a\"b${c}", "L,192.0.2.0/24", false, "${x} %{y}")
	f.Add("n", "::/0,8000::/1,::/1", true, "")
	f.Add("n", "0.0.0.0/0", true, "*/ /* ")
	f.Fuzz(func(t *testing.T, name, elems string, multiline bool, comment string) {
		if name == "" || strings.ContainsAny(name, "/") || len(elems) > 400 ||
			!utf8.ValidString(name) || cty.StringVal(name).AsString() != name {
			t.Skip() // not a name the cloud could report: names are UTF-8, and HCL normalizes to NFC
		}
		src := buildFirewallFile(name, elems, multiline, comment)
		ix := loadOne(t, "main.tf", []byte(src))
		if len(ix.Problems) > 0 {
			t.Skip() // the generator wrote something HCL rejects (e.g. invalid UTF-8)
		}
		m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", name), nil)
		if m.Status != Managed {
			t.Fatalf("owner of %q: %s (%s)\n%s", name, m.Status, m.Why, src)
		}
		world := strings.Split(elems, ",")
		p, err := ix.Patch(m, EditReplaceWorldSourceRanges, map[string]any{"ranges": []string{"35.235.240.0/20"}},
			map[string]any{"worldRanges": world})
		if err != nil {
			return
		}
		checkPatch(t, p)
		ix2 := loadOne(t, "main.tf", p.After)
		if len(ix2.Problems) > 0 {
			t.Fatalf("patched file: %v\n%s", ix2.Problems, p.After)
		}
		m2 := ix2.Owner(inventory.TypeFirewall, fwName("acme-prod", name), nil)
		if m2.Status != Managed {
			t.Fatalf("after the patch: %s (%s)\n%s", m2.Status, m2.Why, p.After)
		}
		v := m2.target.ex.sc.eval(m2.target.b.attr("source_ranges").Expr)
		if ss, ok := v.strings(); ok {
			if w, covers := rules.CoversInternet(ss); covers {
				t.Fatalf("still open to %v:\n%s", w, p.After)
			}
		}
	})
}

// FuzzPatchAnyFile patches whatever file the fuzzer writes that declares the firewall
// "fw" in project "p": Patch never panics, and its output parses with the other blocks
// intact.
func FuzzPatchAnyFile(f *testing.F) {
	for _, name := range []string{"firewall.tf", "module_rules.tf", "variables.tf"} {
		src, err := os.ReadFile("testdata/patch/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Add("resource \"google_compute_firewall\" \"x\" {\n  project = \"p\"\n  name = \"fw\"\n  source_ranges = [\"0.0.0.0/0\"]\n}\n")
	f.Add("resource \"google_compute_firewall\" \"x\" {\n  project = \"p\"\n  name = \"fw\"\n}\n")
	f.Add("module \"m\" {\n  source = \"terraform-google-modules/network/google//modules/firewall-rules\"\n  project_id = \"p\"\n" +
		"  rules = [{ name = \"fw\", ranges = [\"::/0\"] }, {\n    name = \"y\"\n  }]\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<14 {
			t.Skip()
		}
		ix := loadOne(t, "main.tf", []byte(src))
		for _, project := range []string{"p", "acme-prod"} {
			for _, name := range []string{"fw", "allow-ssh", "allow-multi", "allow-rdp-split", "allow-admin"} {
				m := ix.Owner(inventory.TypeFirewall, fwName(project, name), nil)
				if m.Status != Managed {
					continue
				}
				for _, edit := range []string{EditReplaceWorldSourceRanges, EditDisableFirewall, EditEnableFirewallLogging, EditRemoveResource} {
					p, err := ix.Patch(m, edit, map[string]any{"ranges": []string{"10.0.0.0/8"}},
						map[string]any{"worldRanges": []string{"0.0.0.0/1", "128.0.0.0/1"}})
					if err == nil {
						checkPatch(t, p)
					}
				}
			}
		}
	})
}
