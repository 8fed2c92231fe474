package deploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/zerodrift/zerodrift/deploy"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/permissions.md from deploy.Permissions")

// readVerb is the last part of a permission that only reads. Cloud Asset Inventory's list
// and export permissions read the inventory: an export writes only where
// storage.objects.create lets it.
var readVerb = regexp.MustCompile(`\.(get|list|getIamPolicy|listResource|listIamPolicy|exportResource|exportIamPolicy)$`)

// scannerWrites are the only writes of the scan-only identity, each in the one scope it may
// be granted in: the objects of its own asset exports, on its export bucket only.
var scannerWrites = map[string]deploy.Scope{
	"storage.objects.create": deploy.ScopeExportBucket,
	"storage.objects.delete": deploy.ScopeExportBucket,
}

// scannerUses are the scan-only identity's permissions that neither read nor write what it
// watches, each in the one scope it may be granted in: consuming its own feed's
// subscription (pulling and acknowledging its messages), and charging its quota project.
var scannerUses = map[string]deploy.Scope{
	"pubsub.subscriptions.consume": deploy.ScopeEventSubscription,
	"serviceusage.services.use":    deploy.ScopeQuotaProject,
}

func TestPermissionsAreWellFormed(t *testing.T) {
	type key struct {
		name  string
		scope deploy.Scope
	}
	seen := map[key]bool{}
	names := map[string]bool{}
	known := sandbox.KnownPermissions()
	for _, p := range deploy.Permissions() {
		switch {
		case seen[key{p.Name, p.Scope}]:
			t.Errorf("%s is listed twice in scope %s", p.Name, p.Scope)
		case p.Why == "" || strings.Contains(p.Why, "|"):
			t.Errorf("%s: Why %q is empty or holds a |", p.Name, p.Why)
		case p.Role != deploy.Scanner && p.Role != deploy.Remediator:
			t.Errorf("%s: role %q", p.Name, p.Role)
		case !slices.Contains(deploy.Scopes(), p.Scope):
			t.Errorf("%s: scope %q", p.Name, p.Scope)
		case !slices.Contains(deploy.Features(), p.Feature):
			t.Errorf("%s: feature %q", p.Name, p.Feature)
		case p.Scope != deploy.ScopeOrganization && p.Role != deploy.Scanner:
			// The custom roles of single resources are granted in both modes.
			t.Errorf("%s is granted on the %s, but only to the remediator", p.Name, p.Scope)
		case p.Feature == deploy.FeatureCycle && !slices.Contains(known, p.Name):
			// The engine's tests prove each permission of the cycle needed against the
			// sandbox: it must be one the sandbox enforces.
			t.Errorf("%s is no permission the sandbox enforces (sandbox.KnownPermissions)", p.Name)
		}
		if p.Role == deploy.Scanner && !readVerb.MatchString(p.Name) {
			allowed, write := scannerWrites[p.Name]
			if !write {
				allowed = scannerUses[p.Name]
			}
			if allowed != p.Scope {
				t.Errorf("%s is in the scan-only role (on the %s) but does not read", p.Name, p.Scope)
			}
		}
		seen[key{p.Name, p.Scope}], names[p.Name] = true, true
	}
	// The scanner's writes and uses are exactly those the maps above allow.
	for name, scope := range scannerWrites {
		if !slices.Contains(deploy.RolePermissions(deploy.Scanner, scope), name) {
			t.Errorf("the scan-only role lacks %s on the %s: scannerWrites is out of date", name, scope)
		}
	}
	for name, scope := range scannerUses {
		if !slices.Contains(deploy.RolePermissions(deploy.Scanner, scope), name) {
			t.Errorf("the scan-only role lacks %s on the %s: scannerUses is out of date", name, scope)
		}
	}

	// ScannerPermissions and RemediatorPermissions are the cycle's, which the engine proves.
	var cycle, cycleScanner []string
	for _, p := range deploy.Permissions() {
		if p.Feature == deploy.FeatureCycle {
			cycle = append(cycle, p.Name)
			if p.Role == deploy.Scanner {
				cycleScanner = append(cycleScanner, p.Name)
			}
		}
	}
	scanner, remediator := deploy.ScannerPermissions(), deploy.RemediatorPermissions()
	if !slices.Equal(remediator, distinct(cycle)) || !slices.Equal(scanner, distinct(cycleScanner)) {
		t.Errorf("ScannerPermissions %v, RemediatorPermissions %v: want the cycle's %v and %v", scanner, remediator, cycleScanner, cycle)
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

	// The roles of all scopes grant every permission, once each.
	var all []string
	for _, scope := range deploy.Scopes() {
		perms := deploy.RolePermissions(deploy.Remediator, scope)
		if len(perms) == 0 {
			t.Errorf("no permission is granted on the %s", scope)
		}
		if scope != deploy.ScopeOrganization && !slices.Equal(perms, deploy.RolePermissions(deploy.Scanner, scope)) {
			t.Errorf("the %s's role differs between the scanner and the remediator", scope)
		}
		all = append(all, perms...)
	}
	if len(all) != len(seen) || !slices.Equal(distinct(all), distinct(slices.Collect(maps.Keys(names)))) {
		t.Errorf("the roles of all scopes grant %v, not each permission once", all)
	}
	for scope, want := range map[deploy.Scope][]string{
		deploy.ScopeStateBucket:       {"storage.objects.get"},
		deploy.ScopeExportBucket:      {"storage.objects.create", "storage.objects.delete", "storage.objects.get"},
		deploy.ScopeQuotaProject:      {"serviceusage.services.use"},
		deploy.ScopeEventSubscription: {"pubsub.subscriptions.consume"},
	} {
		if got := deploy.RolePermissions(deploy.Scanner, scope); !slices.Equal(got, want) {
			t.Errorf("%s permissions %v, want %v", scope, got, want)
		}
	}
}

// distinct returns the distinct strings of xs, sorted.
func distinct(xs []string) []string { return slices.Compact(slices.Sorted(slices.Values(xs))) }

// terraform is the parsed Terraform of deploy/terraform.
type terraform struct {
	src       map[string][]byte
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // "type.name", and "data.type.name" for data sources
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
			case "data":
				tf.resources["data."+b.Labels[0]+"."+b.Labels[1]] = b
			}
		}
	}
	return tf
}

// evalContext evaluates the locals that depend only on other locals and on vars (the
// permission lists, the event feeds), with the functions they use. vars may be nil: the
// locals that read a variable are then left out.
func (tf *terraform) evalContext(t *testing.T, vars map[string]cty.Value) *hcl.EvalContext {
	t.Helper()
	vals := map[string]cty.Value{}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"concat": stdlib.ConcatFunc}}
	variables := func() map[string]cty.Value {
		return map[string]cty.Value{"local": cty.ObjectVal(vals), "var": cty.ObjectVal(vars)}
	}
	for progress := true; progress; {
		progress = false
		for name, a := range tf.locals {
			if _, done := vals[name]; done {
				continue
			}
			ready := true
			for _, v := range a.Expr.Variables() {
				attr, ok := v[1].(hcl.TraverseAttr)
				known := false
				switch v.RootName() {
				case "local":
					_, known = vals[attr.Name]
				case "var":
					_, known = vars[attr.Name]
				}
				ready = ready && ok && known
			}
			if !ready {
				continue
			}
			ctx.Variables = variables()
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %v", name, diags)
			}
			vals[name], progress = v, true
		}
	}
	ctx.Variables = variables()
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

// customRoles returns the custom roles of the Terraform by role ID: the resource's name
// ("google_organization_iam_custom_role.scanner") and its permissions, sorted.
func (tf *terraform) customRoles(t *testing.T) (resources map[string]string, permissions map[string][]string) {
	t.Helper()
	ctx := tf.evalContext(t, nil)
	resources, permissions = map[string]string{}, map[string][]string{}
	for name, b := range tf.resources {
		if b.Type != "resource" || b.Labels[0] != "google_organization_iam_custom_role" {
			continue
		}
		id, diags := tf.attr(t, name, "role_id").Expr.Value(nil)
		if diags.HasErrors() || id.Type() != cty.String {
			t.Fatalf("%s.role_id is not a literal string: %v", name, diags)
		}
		if _, dup := resources[id.AsString()]; dup {
			t.Fatalf("two custom roles %s", id.AsString())
		}
		if b.Body.Attributes["count"] != nil || b.Body.Attributes["for_each"] != nil {
			// A deleted custom role's ID cannot be used again for weeks.
			t.Errorf("%s is created conditionally: every custom role must always exist", name)
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
		resources[id.AsString()], permissions[id.AsString()] = name, sorted
	}
	return resources, permissions
}

// The custom roles of the Terraform hold exactly the permissions deploy/permissions.go
// lists: the drift check between Go and Terraform.
func TestTerraformRolesMatchPermissions(t *testing.T) {
	tf := loadTerraform(t)
	want := map[string][]string{
		string(deploy.Scanner):    deploy.RolePermissions(deploy.Scanner, deploy.ScopeOrganization),
		string(deploy.Remediator): deploy.RolePermissions(deploy.Remediator, deploy.ScopeOrganization),
	}
	for _, scope := range deploy.Scopes()[1:] {
		want[scope.RoleID()] = deploy.RolePermissions(deploy.Remediator, scope)
	}
	_, got := tf.customRoles(t)
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

// grant is how the Terraform grants one custom role.
type grant struct {
	resource string            // the IAM member resource
	on       map[string]string // its attributes that say where, as written
}

// The Terraform grants the role var.mode names on the organization or the folder, each
// role of a single resource on that resource only (state buckets, the export bucket, the
// quota project, the event subscription), each to zerodrift's GSA, and Workload Identity
// to the Kubernetes ServiceAccount.
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

	// Each role of a single resource is granted by one resource, on that resource only.
	want := map[string]grant{
		deploy.StateReaderRoleID: {"google_storage_bucket_iam_member.state",
			map[string]string{"for_each": "toset(var.state_buckets)", "bucket": "each.value"}},
		deploy.ExportWriterRoleID: {"google_storage_bucket_iam_member.export",
			map[string]string{"count": `var.export_bucket == "" ? 0 : 1`, "bucket": "var.export_bucket"}},
		deploy.QuotaUserRoleID: {"google_project_iam_member.quota",
			map[string]string{"project": "local.quota_project"}},
		deploy.EventConsumerRoleID: {"google_pubsub_subscription_iam_member.events",
			map[string]string{"count": "var.events ? 1 : 0", "project": "local.events_project",
				"subscription": "google_pubsub_subscription.events[0].name"}},
	}
	roles, _ := tf.customRoles(t)
	for _, scope := range deploy.Scopes()[1:] {
		if _, ok := want[scope.RoleID()]; !ok {
			t.Errorf("the test does not say how the %s's role %s is granted", scope, scope.RoleID())
		}
	}
	for id, g := range want {
		var grantedBy []string
		for name, b := range tf.resources {
			if a := b.Body.Attributes["role"]; a != nil && slices.Contains(refs(a.Expr), roles[id]) {
				grantedBy = append(grantedBy, name)
			}
		}
		if !slices.Equal(grantedBy, []string{g.resource}) {
			t.Errorf("%s is granted by %v, want only %s", id, grantedBy, g.resource)
			continue
		}
		if got := tf.text(tf.attr(t, g.resource, "role").Expr); got != roles[id]+".name" {
			t.Errorf("%s grants %s, want %s.name", g.resource, got, roles[id])
		}
		if got := tf.text(tf.attr(t, g.resource, "member").Expr); got != "local.member" {
			t.Errorf("%s grants to %s, want local.member", g.resource, got)
		}
		for attr, w := range g.on {
			if got := tf.text(tf.attr(t, g.resource, attr).Expr); got != w {
				t.Errorf("%s.%s = %s, want %s", g.resource, attr, got, w)
			}
		}
	}
	if got := tf.text(tf.locals["quota_project"].Expr); got != "coalesce(var.quota_project, var.project)" {
		t.Errorf("local.quota_project = %s", got)
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

// hierarchyTypes are the asset types whose IAM policies zerodrift's rules read (and of
// which they read nothing else); of every other type they read the resource.
var hierarchyTypes = []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}

// With var.events, the Terraform creates what event mode needs, and nothing without it: a
// topic, its subscription, the Cloud Asset service agent allowed to publish, and one feed
// per content type (of the organization, or of var.folder_id) with the asset types the
// rules read of that content.
func TestTerraformEventFeeds(t *testing.T) {
	tf := loadTerraform(t)

	// The asset types of each feed are those the rules read.
	var readByRules []string
	for _, r := range rules.Default() {
		readByRules = append(readByRules, r.Meta().AssetTypes...)
	}
	readByRules = distinct(readByRules)
	want := map[string][]string{}
	for _, typ := range readByRules {
		content := "RESOURCE"
		if slices.Contains(hierarchyTypes, typ) {
			content = "IAM_POLICY"
		}
		want[content] = append(want[content], typ)
	}
	feeds := tf.evalContext(t, nil).Variables["local"].GetAttr("event_feeds")
	got := map[string][]string{}
	for it := feeds.ElementIterator(); it.Next(); {
		k, f := it.Element()
		content := f.GetAttr("content_type").AsString()
		if _, dup := got[content]; dup {
			t.Errorf("two feeds of content type %s", content)
		}
		got[content] = distinct(stringList(t, "local.event_feeds."+k.AsString()+".asset_types", f.GetAttr("asset_types")))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("local.event_feeds has the asset types %v, want those the rules read %v", got, want)
	}

	// Feeds of the organization, or of the folder, only with var.events.
	for _, c := range []struct {
		events        bool
		folder        string
		org, inFolder int
	}{{false, "", 0, 0}, {false, "111", 0, 0}, {true, "", 2, 0}, {true, "111", 0, 2}} {
		ctx := tf.evalContext(t, map[string]cty.Value{"events": cty.BoolVal(c.events), "folder_id": cty.StringVal(c.folder)})
		locals := ctx.Variables["local"]
		if n, m := locals.GetAttr("organization_feeds").LengthInt(), locals.GetAttr("folder_feeds").LengthInt(); n != c.org || m != c.inFolder {
			t.Errorf("events %t, folder %q: %d organization feeds and %d folder feeds, want %d and %d", c.events, c.folder, n, m, c.org, c.inFolder)
		}
	}
	for r, forEach := range map[string]string{"google_cloud_asset_organization_feed.events": "local.organization_feeds",
		"google_cloud_asset_folder_feed.events": "local.folder_feeds"} {
		for attr, w := range map[string]string{"for_each": forEach, "billing_project": "local.events_project",
			"content_type": "each.value.content_type", "asset_types": "each.value.asset_types", "depends_on": "[google_pubsub_topic_iam_member.cloud_asset_publisher]"} {
			if got := tf.text(tf.attr(t, r, attr).Expr); got != w {
				t.Errorf("%s.%s = %s, want %s", r, attr, got, w)
			}
		}
		if topic := nested(t, tf.resources[r], "feed_output_config", "pubsub_destination").Attributes["topic"]; topic == nil ||
			tf.text(topic.Expr) != "google_pubsub_topic.events[0].id" {
			t.Errorf("%s does not publish to google_pubsub_topic.events", r)
		}
	}
	if got := tf.text(tf.attr(t, "google_cloud_asset_organization_feed.events", "org_id").Expr); got != "var.org_id" {
		t.Errorf("the organization feeds watch %s", got)
	}
	if got := tf.text(tf.attr(t, "google_cloud_asset_folder_feed.events", "folder").Expr); got != "var.folder_id" {
		t.Errorf("the folder feeds watch %s", got)
	}

	// The topic, the subscription and the grants exist only with var.events.
	for _, r := range []string{"google_pubsub_topic.events", "google_pubsub_subscription.events", "data.google_project.events",
		"google_pubsub_topic_iam_member.cloud_asset_publisher", "google_pubsub_subscription_iam_member.events"} {
		if got := tf.text(tf.attr(t, r, "count").Expr); got != "var.events ? 1 : 0" {
			t.Errorf("%s.count = %s, want var.events ? 1 : 0", r, got)
		}
	}
	sub := "google_pubsub_subscription.events"
	if got := tf.text(tf.attr(t, sub, "topic").Expr); got != "google_pubsub_topic.events[0].id" {
		t.Errorf("%s.topic = %s", sub, got)
	}
	if ttl := nested(t, tf.resources[sub], "expiration_policy").Attributes["ttl"]; ttl == nil || tf.text(ttl.Expr) != `""` {
		t.Errorf("%s expires when no one pulls from it: want expiration_policy { ttl = \"\" }", sub)
	}
	pub := "google_pubsub_topic_iam_member.cloud_asset_publisher"
	for attr, w := range map[string]string{"topic": "google_pubsub_topic.events[0].name", "role": `"roles/pubsub.publisher"`,
		"member": `"serviceAccount:service-${data.google_project.events[0].number}@gcp-sa-cloudasset.iam.gserviceaccount.com"`} {
		if got := tf.text(tf.attr(t, pub, attr).Expr); got != w {
			t.Errorf("%s.%s = %s, want %s", pub, attr, got, w)
		}
	}
	if got := tf.text(tf.attr(t, "data.google_project.events", "project_id").Expr); got != "local.events_project" {
		t.Errorf("the Cloud Asset service agent is that of %s, want local.events_project", got)
	}
}

// nested returns the body of the block at path inside b, failing the test when it is not
// there exactly once.
func nested(t *testing.T, b *hclsyntax.Block, path ...string) *hclsyntax.Body {
	t.Helper()
	body := b.Body
	for _, typ := range path {
		var found []*hclsyntax.Block
		for _, c := range body.Blocks {
			if c.Type == typ {
				found = append(found, c)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%s %s: %d %s blocks, want 1", b.Labels[0], b.Labels[1], len(found), typ)
		}
		body = found[0].Body
	}
	return body
}

// The Terraform is formatted as terraform fmt writes it.
func TestTerraformIsFormatted(t *testing.T) {
	tf := loadTerraform(t)
	for name, src := range tf.src {
		if got := hclwrite.Format(src); !bytes.Equal(got, src) {
			t.Errorf("%s is not formatted (terraform fmt):\n%s", name, got)
		}
	}
}

// Markers around the generated table of docs/permissions.md.
const (
	tableBegin = "<!-- BEGIN generated from deploy/permissions.go by `go test ./deploy -update`; do not edit -->\n"
	tableEnd   = "<!-- END generated -->\n"
)

// grantedOn names where each scope's permissions are granted, in the table.
var grantedOn = map[deploy.Scope]string{
	deploy.ScopeOrganization:      "organization (or folder)",
	deploy.ScopeStateBucket:       "Terraform state buckets",
	deploy.ScopeExportBucket:      "asset export bucket",
	deploy.ScopeQuotaProject:      "quota project",
	deploy.ScopeEventSubscription: "event feed's subscription",
}

// renderTable is the permissions table of docs/permissions.md.
func renderTable() string {
	var b strings.Builder
	b.WriteString("| Permission | zerodriftScanner | zerodriftRemediator | Granted on | Feature | Why (which step uses it) |\n")
	b.WriteString("| --- | :-: | :-: | --- | --- | --- |\n")
	for _, p := range deploy.Permissions() {
		scanner := ""
		if p.Role == deploy.Scanner {
			scanner = "✓"
		}
		granted := grantedOn[p.Scope]
		if id := p.Scope.RoleID(); id != "" {
			granted += ", by " + id
		}
		fmt.Fprintf(&b, "| `%s` | %s | ✓ | %s | %s | %s |\n", p.Name, scanner, granted, p.Feature, p.Why)
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
