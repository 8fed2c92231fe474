package iac

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestLoadProblems(t *testing.T) {
	ix, err := Load(os.DirFS("testdata/broken"), []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ix.Problems {
		got = append(got, p.File+":"+itoa(p.Line))
	}
	want := []string{"env/broken.tf:3", "env/terraform.tfvars:2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("problems at %v, want %v: %v", got, want, ix.Problems)
	}
	// The readable file is still indexed.
	if m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "fine"), nil); m.Status != Managed {
		t.Errorf("fine: %s (%s)", m.Status, m.Why)
	}
	// What no readable file declares may be in the broken one.
	m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "elsewhere"), nil)
	if m.Status != Unresolved || len(m.Candidates) != 1 || m.Candidates[0].File != "env/broken.tf" {
		t.Errorf("elsewhere: %s %+v", m.Status, m.Candidates)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func TestLoadRoots(t *testing.T) {
	fsys := fstest.MapFS{
		"infra/main.tf":                   {Data: []byte("resource \"google_compute_network\" \"n\" {\n  project = \"p\"\n  name = \"n\"\n}\n")},
		"infra/.hidden/main.tf":           {Data: []byte("resource \"google_compute_network\" \"h\" {\n  project = \"p\"\n  name = \"h\"\n}\n")},
		"infra/sub/main.tf":               {Data: []byte("resource \"google_compute_network\" \"s\" {\n  project = \"p\"\n  name = \"s\"\n}\n")},
		"infra/README.md":                 {Data: []byte("# not terraform")},
		"infra/cdktf/main.tf.json":        {Data: []byte("{}")},
		"infra/cdktf/also.tf":             {Data: []byte("")},
		"infra/sub/terraform.tfvars.json": {Data: []byte(`{"x": "y"}`)},
	}
	if _, err := Load(fsys, []string{"missing"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v", err)
	}
	if _, err := Load(fsys, []string{"../escape"}); err == nil {
		t.Error("a root outside the file system was accepted")
	}
	ix, err := Load(fsys, []string{"infra", "infra/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Roots) != 1 || ix.Roots[0] != "infra" {
		t.Errorf("roots %v", ix.Roots)
	}
	// h is in a hidden directory, so nothing readable declares it; the JSON file might.
	for name, want := range map[string]Status{"n": Managed, "s": Managed, "h": Unresolved} {
		m := ix.Owner(inventory.TypeNetwork, "//compute.googleapis.com/projects/p/global/networks/"+name, nil)
		if m.Status != want {
			t.Errorf("%s: %s, want %s (%s)", name, m.Status, want, m.Why)
		}
	}
	if len(ix.Problems) != 1 || !strings.Contains(ix.Problems[0].Message, "JSON configuration") {
		t.Errorf("problems %v", ix.Problems)
	}
}

// TestVariableFiles checks Terraform's precedence and the files it reads only when told.
func TestVariableFiles(t *testing.T) {
	fw := func(name string) string {
		project := "var.project"
		if name == "d" {
			project = `"q"` // its name is unknown: keep it away from the others' project
		}
		return "resource \"google_compute_firewall\" \"" + name + "\" {\n  project = " + project + "\n  name = var." + name + "\n}\n"
	}
	fsys := fstest.MapFS{
		"env/main.tf": {Data: []byte(`variable "project" { default = "p" }
variable "a" { default = "a-default" }
variable "b" { default = "b-default" }
variable "c" { default = "c-default" }
variable "d" { default = "d-default" }
variable "e" {}
` + fw("a") + fw("b") + fw("c") + fw("d") + fw("e"))},
		"env/terraform.tfvars":        {Data: []byte("a = \"a-tfvars\"\nb = \"b-tfvars\"\n")},
		"env/terraform.tfvars.json":   {Data: []byte(`{"b": "b-json"}`)},
		"env/z.auto.tfvars":           {Data: []byte("c = \"c-auto\"\n")},
		"env/prod.tfvars":             {Data: []byte("d = \"d-prod\"\ne = \"e-prod\"\n")},
		"env/staging.tfvars":          {Data: []byte("d = \"d-staging\"\ne = \"e-prod\"\nundeclared = 1\n")},
		"env/nested/terraform.tfvars": {Data: []byte("a = \"not-this-root\"\n")},
	}
	ix, err := Load(fsys, []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Status{
		"a-tfvars": Managed, "b-json": Managed, "c-auto": Managed, "e-prod": Managed,
		"a-default": Unmanaged, "b-tfvars": Unmanaged, "c-default": Unmanaged,
		"q/d-prod": Unresolved, "q/d-staging": Unresolved, // the -var-file files disagree
	} {
		project := "p"
		if p, n, ok := strings.Cut(name, "/"); ok {
			project, name = p, n
		}
		if m := ix.Owner(inventory.TypeFirewall, fwName(project, name), nil); m.Status != want {
			t.Errorf("%s: %s, want %s (%s)", name, m.Status, want, m.Why)
		}
	}
}

// TestLocalModules checks module instances: variables from the call, for_each on the
// call, providers passed down, a module called twice.
func TestLocalModules(t *testing.T) {
	fsys := fstest.MapFS{
		"live/main.tf": {Data: []byte(`provider "google" {
  project = "acme-prod"
}

provider "google" {
  alias   = "dev"
  project = "acme-dev"
}

module "fw" {
  for_each = toset(["a", "b"])
  source   = "../modules/fw"
  name     = "fw-${each.key}"
}

module "fw_dev" {
  source    = "../modules/fw"
  name      = "fw-a"
  providers = { google = google.dev }
}
`)},
		"modules/fw/main.tf": {Data: []byte(`variable "name" {}

resource "google_compute_firewall" "this" {
  name = var.name
}
`)},
	}
	ix, err := Load(fsys, []string{"live"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ project, name, want string }{
		{"acme-prod", "fw-a", `managed modules/fw/main.tf:3 module.fw["a"].google_compute_firewall.this`},
		{"acme-prod", "fw-b", `managed modules/fw/main.tf:3 module.fw["b"].google_compute_firewall.this`},
		{"acme-dev", "fw-a", `managed modules/fw/main.tf:3 module.fw_dev.google_compute_firewall.this`},
		{"acme-dev", "fw-b", `unmanaged []`},
	} {
		m := ix.Owner(inventory.TypeFirewall, fwName(tc.project, tc.name), nil)
		if got := where(m); got != tc.want {
			t.Errorf("%s/%s: %s, want %s", tc.project, tc.name, got, tc.want)
		}
	}
	// The module is shared: a patch of it says so.
	m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "fw-a"), nil)
	p, err := ix.Patch(m, EditDisableFirewall, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "instantiated 3 times") {
		t.Errorf("warnings %q", p.Warnings)
	}
}

func TestGlobMatch(t *testing.T) {
	lit := func(s string) part { return part{lit: s} }
	hole := part{hole: true}
	for _, tc := range []struct {
		p    []part
		s    string
		want bool
	}{
		{[]part{lit("a")}, "a", true},
		{[]part{lit("a")}, "ab", false},
		{[]part{hole, lit("-ssh")}, "allow-ssh", true},
		{[]part{hole, lit("-ssh")}, "allow-ssh-world", false},
		{[]part{lit("a-"), hole, lit("-b")}, "a--b", true},
		{[]part{lit("a-"), hole, lit("-b")}, "a-b", false},
		{[]part{lit("x"), hole, lit("y"), hole, lit("z")}, "xyz", true},
		{[]part{lit("x"), hole, lit("y"), hole, lit("z")}, "xzy", false},
		{[]part{hole}, "", true},
		{nil, "", true},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%v, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestUnifiedDiff(t *testing.T) {
	before := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	after := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl"
	want := "--- a/f.tf\n+++ b/f.tf\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -9,3 +9,4 @@\n i\n j\n k\n+l\n\\ No newline at end of file\n"
	if got := unifiedDiff("f.tf", []byte(before), []byte(after)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := unifiedDiff("f.tf", []byte(before), []byte(before)); got != "" {
		t.Errorf("no change: %q", got)
	}
}
