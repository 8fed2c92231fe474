package deploy_test

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/zerodrift/zerodrift/deploy"
	"github.com/zerodrift/zerodrift/sandbox"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/permissions.md from deploy.Permissions")

// readVerb is the last part of a permission that only reads.
var readVerb = regexp.MustCompile(`\.(get|list|getIamPolicy)$`)

func TestPermissionsAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	known := sandbox.KnownPermissions()
	for _, p := range deploy.Permissions() {
		switch {
		case seen[p.Name]:
			t.Errorf("%s is listed twice", p.Name)
		case p.Why == "" || strings.Contains(p.Why, "|"):
			t.Errorf("%s: Why %q is empty or holds a |", p.Name, p.Why)
		case p.Role != deploy.Scanner && p.Role != deploy.Remediator:
			t.Errorf("%s: role %q", p.Name, p.Role)
		case p.Scope != deploy.ScopeOrganization && p.Scope != deploy.ScopeStateBucket:
			t.Errorf("%s: scope %q", p.Name, p.Scope)
		case p.Role == deploy.Scanner && !readVerb.MatchString(p.Name):
			t.Errorf("%s is in the scan-only role but does not read", p.Name)
		case !slices.Contains(known, p.Name):
			// The engine's tests prove each permission needed against the sandbox: it must
			// be one the sandbox enforces.
			t.Errorf("%s is no permission the sandbox enforces (sandbox.KnownPermissions)", p.Name)
		}
		seen[p.Name] = true
	}
	scanner, remediator := deploy.ScannerPermissions(), deploy.RemediatorPermissions()
	if !slices.IsSorted(scanner) || !slices.IsSorted(remediator) || len(remediator) != len(seen) {
		t.Errorf("ScannerPermissions %v, RemediatorPermissions %v", scanner, remediator)
	}
	for _, p := range scanner {
		if !slices.Contains(remediator, p) {
			t.Errorf("the remediator role lacks the scanner's %s", p)
		}
	}
	// Fresh slices: a caller's change does not reach the next caller.
	scanner[0] = "changed"
	if deploy.ScannerPermissions()[0] == "changed" {
		t.Error("ScannerPermissions returns shared state")
	}
	all := append(deploy.RolePermissions(deploy.Remediator, deploy.ScopeOrganization), deploy.RolePermissions(deploy.Remediator, deploy.ScopeStateBucket)...)
	slices.Sort(all)
	if !slices.Equal(all, deploy.RemediatorPermissions()) {
		t.Errorf("the remediator's organization and bucket permissions %v are not all its permissions", all)
	}
	if got := deploy.RolePermissions(deploy.Scanner, deploy.ScopeStateBucket); !slices.Equal(got, []string{"storage.objects.get"}) {
		t.Errorf("state bucket permissions %v", got)
	}
}

// terraform is the parsed Terraform of deploy/terraform.
type terraform struct {
	src       map[string][]byte
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name"
	blocks    []*hclsyntax.Block
}

func loadTerraform(t *testing.T) *terraform {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("terraform", "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Terraform in deploy/terraform: %v", err)
	}
	tf := &terraform{src: map[string][]byte{}, locals: map[string]*hclsyntax.Attribute{}, resources: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, name := range files {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %v", name, diags)
		}
		tf.src[name] = f.Bytes
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			tf.blocks = append(tf.blocks, b)
			switch b.Type {
			case "locals":
				for n, a := range b.Body.Attributes {
					tf.locals[n] = a
				}
			case "resource":
				tf.resources[b.Labels[0]+"."+b.Labels[1]] = b
			}
		}
	}
	return tf
}

// evalContext evaluates the locals that depend only on other locals (the permission lists),
// with the functions they use.
func (tf *terraform) evalContext(t *testing.T) *hcl.EvalContext {
	t.Helper()
	vals := map[string]cty.Value{}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"concat": stdlib.ConcatFunc}}
	for progress := true; progress; {
		progress = false
		for name, a := range tf.locals {
			if _, done := vals[name]; done {
				continue
			}
			ready := true
			for _, v := range a.Expr.Variables() {
				attr, ok := v[1].(hcl.TraverseAttr)
				_, known := vals[attr.Name]
				ready = ready && v.RootName() == "local" && ok && known
			}
			if !ready {
				continue
			}
			ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(vals)}
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %v", name, diags)
			}
			vals[name], progress = v, true
		}
	}
	ctx.Variables = map[string]cty.Value{"local": cty.ObjectVal(vals)}
	return ctx
}

func stringList(t *testing.T, what string, v cty.Value) []string {
	t.Helper()
	if !v.CanIterateElements() {
		t.Fatalf("%s is %s, not a list", what, v.Type().FriendlyName())
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String {
			t.Fatalf("%s holds a %s", what, e.Type().FriendlyName())
		}
		out = append(out, e.AsString())
	}
	return out
}

func (tf *terraform) attr(t *testing.T, resource, name string) *hclsyntax.Attribute {
	t.Helper()
	b := tf.resources[resource]
	if b == nil {
		t.Fatalf("deploy/terraform has no resource %s", resource)
	}
	a := b.Body.Attributes[name]
	if a == nil {
		t.Fatalf("%s has no %s", resource, name)
	}
	return a
}

// text is the source of an expression.
func (tf *terraform) text(e hclsyntax.Expression) string {
	r := e.Range()
	return string(tf.src[r.Filename][r.Start.Byte:r.End.Byte])
}

// refs lists what an expression refers to, as "root.attr" ("var.mode", "local.member",
// "google_service_account.zerodrift").
func refs(e hclsyntax.Expression) []string {
	var out []string
	for _, v := range e.Variables() {
		s := v.RootName()
		if len(v) > 1 {
			if a, ok := v[1].(hcl.TraverseAttr); ok {
				s += "." + a.Name
			}
		}
		out = append(out, s)
	}
	return out
}

// The custom roles of the Terraform hold exactly the permissions deploy/permissions.go
// lists: the drift check between Go and Terraform.
func TestTerraformRolesMatchPermissions(t *testing.T) {
	tf := loadTerraform(t)
	ctx := tf.evalContext(t)
	want := map[string][]string{
		string(deploy.Scanner):    deploy.RolePermissions(deploy.Scanner, deploy.ScopeOrganization),
		string(deploy.Remediator): deploy.RolePermissions(deploy.Remediator, deploy.ScopeOrganization),
		deploy.StateReaderRoleID:  deploy.RolePermissions(deploy.Remediator, deploy.ScopeStateBucket),
	}
	got := map[string][]string{}
	for name, b := range tf.resources {
		if b.Labels[0] != "google_organization_iam_custom_role" {
			continue
		}
		id, diags := tf.attr(t, name, "role_id").Expr.Value(nil)
		if diags.HasErrors() || id.Type() != cty.String {
			t.Fatalf("%s.role_id is not a literal string: %v", name, diags)
		}
		v, diags := tf.attr(t, name, "permissions").Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s.permissions: %v", name, diags)
		}
		perms := stringList(t, name+".permissions", v)
		sorted := slices.Sorted(slices.Values(perms))
		if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
			t.Errorf("%s lists a permission twice: %v", name, perms)
		}
		got[id.AsString()] = sorted
	}
	for role, w := range want {
		g, ok := got[role]
		switch {
		case !ok:
			t.Errorf("deploy/terraform creates no custom role %s", role)
		case !slices.Equal(g, w):
			var add, remove []string
			for _, p := range w {
				if !slices.Contains(g, p) {
					add = append(add, p)
				}
			}
			for _, p := range g {
				if !slices.Contains(w, p) {
					remove = append(remove, p)
				}
			}
			t.Errorf("custom role %s in deploy/terraform drifted from deploy/permissions.go: add %q, remove %q", role, add, remove)
		}
	}
	if len(got) != len(want) {
		t.Errorf("custom roles %v, want %d", slices.Sorted(maps.Keys(got)), len(want))
	}
}

// The Terraform grants the role var.mode names, the state reader on the state buckets only,
// and Workload Identity to the Kubernetes ServiceAccount.
func TestTerraformGrants(t *testing.T) {
	tf := loadTerraform(t)
	role := tf.locals["role"]
	if role == nil {
		t.Fatal("no local.role")
	}
	if r := refs(role.Expr); !slices.Contains(r, "var.mode") || !slices.Contains(r, "google_organization_iam_custom_role.scanner") ||
		!slices.Contains(r, "google_organization_iam_custom_role.remediator") || !strings.Contains(tf.text(role.Expr), `"remediate"`) {
		t.Errorf("local.role = %s, want the remediator role for mode remediate and else the scanner's", tf.text(role.Expr))
	}
	for _, r := range []string{"google_organization_iam_member.zerodrift", "google_folder_iam_member.zerodrift"} {
		if got := tf.text(tf.attr(t, r, "role").Expr); got != "local.role" {
			t.Errorf("%s grants %s, want local.role", r, got)
		}
		if got := tf.text(tf.attr(t, r, "member").Expr); got != "local.member" {
			t.Errorf("%s grants to %s, want local.member", r, got)
		}
	}
	if got := refs(tf.attr(t, "google_storage_bucket_iam_member.state", "role").Expr); !slices.Equal(got, []string{"google_organization_iam_custom_role.state_reader"}) {
		t.Errorf("the state buckets are granted %v, want the state reader role", got)
	}
	wi := "google_service_account_iam_member.workload_identity"
	if got := tf.text(tf.attr(t, wi, "role").Expr); got != `"roles/iam.workloadIdentityUser"` {
		t.Errorf("%s.role = %s", wi, got)
	}
	if got := tf.text(tf.attr(t, wi, "member").Expr); got != `"serviceAccount:${local.workload_pool}[${var.namespace}/${var.k8s_service_account}]"` {
		t.Errorf("%s.member = %s", wi, got)
	}
	if got := tf.text(tf.locals["workload_pool"].Expr); got != `"${coalesce(var.workload_identity_project, var.project)}.svc.id.goog"` {
		t.Errorf("local.workload_pool = %s", got)
	}
	// Every variable and output says what it is.
	for _, b := range tf.blocks {
		if (b.Type == "variable" || b.Type == "output") && b.Body.Attributes["description"] == nil {
			t.Errorf("%s %q has no description", b.Type, b.Labels[0])
		}
	}
}

// Markers around the generated table of docs/permissions.md.
const (
	tableBegin = "<!-- BEGIN generated from deploy/permissions.go by `go test ./deploy -update`; do not edit -->\n"
	tableEnd   = "<!-- END generated -->\n"
)

// renderTable is the permissions table of docs/permissions.md.
func renderTable() string {
	var b strings.Builder
	b.WriteString("| Permission | zerodriftScanner | zerodriftRemediator | Granted on | Why (which step uses it) |\n")
	b.WriteString("| --- | :-: | :-: | --- | --- |\n")
	for _, p := range deploy.Permissions() {
		scanner := ""
		if p.Role == deploy.Scanner {
			scanner = "✓"
		}
		granted := "organization (or folder)"
		if p.Scope == deploy.ScopeStateBucket {
			granted = "Terraform state buckets, by zerodriftStateReader"
		}
		fmt.Fprintf(&b, "| `%s` | %s | ✓ | %s | %s |\n", p.Name, scanner, granted, p.Why)
	}
	return b.String()
}

// docs/permissions.md holds the table of deploy.Permissions.
func TestDocsTableMatchesPermissions(t *testing.T) {
	const path = "../docs/permissions.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	before, rest, ok1 := strings.Cut(doc, tableBegin)
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the markers of its generated table", path)
	}
	want := renderTable()
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+tableBegin+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the table of %s drifted from deploy/permissions.go: run go test ./deploy -update", path)
}
