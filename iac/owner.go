package iac

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zerodrift/zerodrift/inventory"
)

// Status says whether the Terraform declares a live resource.
type Status string

// Match statuses.
const (
	// Managed: exactly one block (or module list element or map entry) declares the
	// resource, and every argument that identifies it was evaluated.
	Managed Status = "managed"
	// Unmanaged: nothing in the indexed Terraform declares the resource or could.
	Unmanaged Status = "unmanaged"
	// Ambiguous: more than one place declares it (two roots, two instances of a module), or
	// one declares it and another may.
	Ambiguous Status = "ambiguous"
	// Unresolved: something may declare it but the index cannot tell (a name built from a
	// variable without a value, a for_each that cannot be evaluated, a module it does not
	// understand, a file it could not parse), or the asset type is not one it maps.
	Unresolved Status = "unresolved"
)

// Kinds of declaration a Match can name besides the IAM resource types
// (google_project_iam_member, google_folder_iam_binding, ...), which are used as they are.
const (
	KindFirewall          = "google_compute_firewall"
	KindNetwork           = "google_compute_network"
	KindServiceAccount    = "google_service_account"
	KindServiceAccountKey = "google_service_account_key"
	// KindFirewallRulesModule is an element of the rules (ingress_rules, egress_rules) input
	// of terraform-google-modules/network/google//modules/firewall-rules.
	KindFirewallRulesModule = "module:firewall-rules"
	// KindIAMModule is an entry of the bindings (or an element of conditional_bindings) of
	// terraform-google-modules/iam/google//modules/projects_iam (folders_iam,
	// organizations_iam).
	KindIAMModule = "module:iam"

	KindSubnetwork          = "google_compute_subnetwork"
	KindInstance            = "google_compute_instance"
	KindProjectMetadata     = "google_compute_project_metadata"
	KindProjectMetadataItem = "google_compute_project_metadata_item"
	KindAuditConfig         = "google_project_iam_audit_config"
	// KindSubnetsModule is an element of the subnets input of
	// terraform-google-modules/network/google or of its modules/subnets.
	KindSubnetsModule = "module:subnets"
)

const (
	kindUnrecognisedModule = "module"
	iamMemberSuffix        = "_iam_member"
	iamBindingSuffix       = "_iam_binding"
	iamPolicySuffix        = "_iam_policy"
)

// Candidate is a place that may declare a resource.
type Candidate struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Address string `json:"address,omitempty"`
	// Root is the Terraform root whose plan would include the declaration.
	Root string `json:"root,omitempty"`
	Why  string `json:"why"`
}

// Match tells which Terraform declares a live resource.
type Match struct {
	Status Status `json:"status"`
	// File and Line locate the declaration of a Managed resource: the block, or the list
	// element or map entry inside a module call or a for_each collection. File is a
	// slash-separated path inside the indexed file system.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Address is the Terraform address of the declaration, e.g.
	// google_compute_firewall.allow_ssh, google_project_iam_member.sa_user["user:bob@x"],
	// module.fw.rules[1] or module.base.module.iam.bindings["roles/editor"].
	Address string `json:"address,omitempty"`
	// Kind is the resource type (google_compute_firewall, google_project_iam_binding, ...)
	// or KindFirewallRulesModule / KindIAMModule.
	Kind string `json:"kind,omitempty"`
	// Root is the Terraform root directory the declaration belongs to.
	Root string `json:"root,omitempty"`
	// Why explains the decision in one sentence.
	Why string `json:"why"`
	// Candidates lists the places considered, for Ambiguous and Unresolved.
	Candidates []Candidate `json:"candidates,omitempty"`

	target *target
	// grants, for a finding that lists several roles, are the declarations of each of its
	// grants (each Managed); target is then nil.
	grants []roleGrant
}

// targetKind is what a Managed match points at, which decides the edits Patch can make.
type targetKind uint8

const (
	tFirewall targetKind = iota + 1
	tFirewallRule
	tNetwork
	tIAMMember
	tIAMBinding
	tIAMPolicy
	tIAMModule
	tIAMModuleConditional
	tServiceAccount
	tServiceAccountKey
	tSubnetwork
	tSubnetModule
	tInstance
	tProjectMetadata
	tProjectMetadataItem
	tAuditConfig
	// tNewBlock: no block declares the resource's setting yet, and Patch adds one (a
	// google_project_iam_audit_config, a google_compute_project_metadata_item) after b, a
	// block of the file that declares the project's IAM or metadata (or the project).
	tNewBlock
)

// moduleInput reports whether a target of this kind is a module call's input rather than a
// resource the configuration declares itself.
func (k targetKind) moduleInput() bool {
	switch k {
	case tFirewallRule, tSubnetModule, tIAMModule, tIAMModuleConditional:
		return true
	}
	return false
}

// target is what Patch needs to find the declaration again.
type target struct {
	kind targetKind
	in   *instance
	b    *tfBlock
	ex   expansion
	// rules, ruleIdx and rulesInput locate an element of a module's list input: a rule of
	// the firewall-rules module, a subnet of the network or subnets module.
	rules      *val
	ruleIdx    int
	rulesInput string
	elem       *val
	// members and memberIdx locate an IAM member inside a list.
	members   *val
	memberIdx int
	// binding is the binding block of a data "google_iam_policy".
	binding *hclsyntax.Block
	// bindings and bindingIdx locate a module's bindings map entry; conds and condIdx a
	// module's conditional_bindings element.
	bindings   *val
	bindingIdx int
	conds      *val
	condIdx    int
	// name is the live resource's name (a firewall's), for edits that derive new names.
	name string
	// scopes lists the projects (folders, organizations) an IAM module binding applies to.
	scopes []string
	// newType, newProject and newProvider describe the block a tNewBlock target adds: its
	// resource type, and the text of its project and provider arguments ("" to leave one
	// out). metadataKey is the project metadata key a compute project finding is about.
	newType, newProject, newProvider string
	metadataKey                      string
	// project is the live project of the resource, for names Patch derives.
	project identity
}

// hit is one place that declares, or may declare, the resource.
type hit struct {
	exact bool
	file  string
	line  int
	addr  string
	kind  string
	root  string
	why   string
	t     *target
}

// Owner tells which Terraform declares the live resource of the given CAI asset type and full
// resource name. evidence is the finding's evidence: IAM findings need "role" and "member"
// (and "condition" for a conditional grant), or "member" and "roles" (with "conditions"
// for the roles held only conditionally) for a finding about every role a member holds,
// whose grants are then mapped one by one (see ownerOfRoles); a firewall's or subnetwork's "network" is
// checked when present; a key's "serviceAccount" email identifies its account. Because a
// project's IAM policy is named by project number, Owner also reads the project ID from
// evidence["project"] (or "projectId") and the number from evidence["projectNumber"]: pass
// the finding's Project.
//
// Two findings are about a setting of a project rather than a resource of their own:
//   - a compute project (compute.googleapis.com/Project) finding names its metadata key in
//     evidence["metadataKey"]: the google_compute_project_metadata_item for that key, or the
//     google_compute_project_metadata, declares it;
//   - a project finding with evidence["missingLogTypes"] or ["exemptedMembers"] and no role
//     or member (audit-logging-disabled) is about the audit configuration for allServices:
//     the google_project_iam_audit_config declares it.
//
// When nothing declares such a setting but the Terraform declares the project's IAM (or
// metadata items, or the project itself), the match is Managed with the address of a new
// block (google_project_iam_audit_config.<project>_all_services,
// google_compute_project_metadata_item.<project>_<key>) that Patch adds to the file holding
// most of them, after the last; when two roots hold them it is Ambiguous.
//
// When the index carries Terraform state (WithState), the state is consulted first (see
// WithState).
func (ix *Index) Owner(assetType, resourceName string, evidence map[string]any) Match {
	path := resourcePath(resourceName)
	var hits []hit
	// newBlock, for a project-wide setting, says where a new block for it goes when nothing
	// declares it.
	var newBlock func() []hit
	switch assetType {
	case inventory.TypeFirewall:
		project, name, ok := splitPath(path, "projects", "global", "firewalls")
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a firewall's resource name", resourceName)}
		}
		hits = ix.firewallHits(projectIdentity(project, evidence), name, lastSegment(evString(evidence, "network")))
	case inventory.TypeNetwork:
		project, name, ok := splitPath(path, "projects", "global", "networks")
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a network's resource name", resourceName)}
		}
		hits = ix.networkHits(projectIdentity(project, evidence), name)
	case inventory.TypeSubnetwork:
		project, region, name, ok := splitRegional(path, "regions", "subnetworks")
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a subnetwork's resource name", resourceName)}
		}
		hits = ix.subnetworkHits(projectIdentity(project, evidence), region, name, lastSegment(evString(evidence, "network")))
	case inventory.TypeInstance:
		project, zone, name, ok := splitRegional(path, "zones", "instances")
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not an instance's resource name", resourceName)}
		}
		hits = ix.instanceHits(projectIdentity(project, evidence), zone, name)
	case inventory.TypeComputeProject:
		project, ok := splitProject(path)
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a compute project's resource name", resourceName)}
		}
		key := evString(evidence, "metadataKey")
		if !validMetadataKey(key) {
			return Match{Status: Unresolved, Why: "a compute project finding needs evidence.metadataKey, the metadata key it is about, to be mapped to Terraform"}
		}
		hits, newBlock = ix.projectMetadataHits(projectIdentity(project, evidence), key)
	case inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization:
		if rolesEvidence(evidence) {
			return ix.ownerOfRoles(assetType, resourceName, evidence)
		}
		if isAuditFinding(assetType, evidence) {
			project, ok := splitProject(path)
			if !ok {
				return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a project's resource name", resourceName)}
			}
			hits, newBlock = ix.auditHits(projectIdentity(project, evidence))
			break
		}
		role, member := evString(evidence, "role"), evString(evidence, "member")
		if role == "" || member == "" {
			return Match{Status: Unresolved, Why: "the finding names no role (nor list of roles) and member, nor the audit configuration, " +
				"which is what maps a finding on a project, folder or organization to its Terraform"}
		}
		sc, ok := iamScopeOf(assetType, path, evidence)
		if !ok {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a project, folder or organization name", resourceName)}
		}
		hits = ix.iamHits(sc, role, member, evCondition(evidence))
	case inventory.TypeServiceAccountKey:
		parts := strings.Split(path, "/")
		if len(parts) != 6 || parts[0] != "projects" || parts[2] != "serviceAccounts" || parts[4] != "keys" {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a service account key's resource name", resourceName)}
		}
		hits = ix.keyHits(accountIdentity(parts[3], evidence))
	case inventory.TypeServiceAccount:
		parts := strings.Split(path, "/")
		if len(parts) != 4 || parts[0] != "projects" || parts[2] != "serviceAccounts" {
			return Match{Status: Unresolved, Why: fmt.Sprintf("%s is not a service account's resource name", resourceName)}
		}
		hits = ix.serviceAccountHits(projectIdentity(parts[1], evidence), accountIdentity(parts[3], evidence))
	default:
		return Match{Status: Unresolved, Why: fmt.Sprintf("zerodrift does not map %s assets to Terraform", assetType)}
	}
	if m, ok := ix.ownerFromState(assetType, path, evidence, hits); ok {
		return m
	}
	hits = ix.pruneByState(assetType, path, evidence, hits)
	if len(hits) == 0 && newBlock != nil {
		hits = newBlock()
	}
	return ix.decide(hits)
}

// decide turns the hits into a match: one exact hit and nothing else is Managed.
func (ix *Index) decide(hits []hit) Match {
	seen := map[string]bool{}
	var exact, maybe []hit
	for _, h := range hits {
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", h.root, h.addr, h.file, h.line)
		if seen[key] {
			continue
		}
		seen[key] = true
		if h.exact {
			exact = append(exact, h)
		} else {
			maybe = append(maybe, h)
		}
	}
	sortHits := func(hs []hit) {
		slices.SortStableFunc(hs, func(a, b hit) int {
			return cmp.Or(strings.Compare(a.file, b.file), a.line-b.line, strings.Compare(a.addr, b.addr))
		})
	}
	sortHits(exact)
	sortHits(maybe)
	all := append(append([]hit{}, exact...), maybe...)
	cands := make([]Candidate, 0, len(all))
	for _, h := range all {
		cands = append(cands, Candidate{File: h.file, Line: h.line, Address: h.addr, Root: h.root, Why: h.why})
	}
	switch {
	case len(exact) == 1 && len(maybe) == 0:
		h := exact[0]
		return Match{Status: Managed, File: h.file, Line: h.line, Address: h.addr, Kind: h.kind, Root: h.root, Why: h.why, target: h.t}
	case len(exact) > 1:
		return Match{Status: Ambiguous, Candidates: cands,
			Why: fmt.Sprintf("%d declarations match; Terraform would manage the resource from more than one place", len(exact))}
	case len(exact) == 1:
		return Match{Status: Ambiguous, Candidates: cands,
			Why: fmt.Sprintf("%s:%d declares it, and %d other declaration(s) may as well", exact[0].file, exact[0].line, len(maybe))}
	case len(maybe) > 0:
		return Match{Status: Unresolved, Candidates: cands, Why: "a declaration may match but could not be fully evaluated"}
	}
	if len(ix.unreadable) > 0 {
		for _, f := range ix.unreadable {
			cands = append(cands, Candidate{File: f, Why: "this configuration file could not be read or parsed; it may declare the resource"})
		}
		return Match{Status: Unresolved, Candidates: cands,
			Why: "no readable declaration matches, but some configuration files could not be parsed"}
	}
	return Match{Status: Unmanaged, Why: "no Terraform under the indexed roots declares it"}
}

// resourcePath strips the service prefix of a full resource name or a self link.
func resourcePath(name string) string {
	if rest, ok := strings.CutPrefix(name, "//"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return rest[i+1:]
		}
		return ""
	}
	if i := strings.Index(name, "/projects/"); i >= 0 && strings.HasPrefix(name, "https://") {
		return name[i+1:]
	}
	return name
}

// splitPath reads "projects/P/<mid>/<coll>/NAME".
func splitPath(p, first, mid, coll string) (project, name string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[0] != first || parts[2] != mid || parts[3] != coll || parts[1] == "" || parts[4] == "" {
		return "", "", false
	}
	return parts[1], parts[4], true
}

// splitProject reads "projects/P".
func splitProject(p string) (project string, ok bool) {
	coll, project, ok := strings.Cut(p, "/")
	if !ok || coll != "projects" || project == "" || strings.Contains(project, "/") {
		return "", false
	}
	return project, true
}

// splitRegional reads "projects/P/<scope>/<where>/<coll>/NAME" (scope "regions" or "zones").
func splitRegional(p, scope, coll string) (project, where, name string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != scope || parts[4] != coll ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return "", "", "", false
	}
	return parts[1], parts[3], parts[5], true
}

func lastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// evString reads a string from the evidence.
func evString(ev map[string]any, key string) string {
	s, _ := ev[key].(string)
	return s
}

// evStrings reads a list of strings from the evidence, as Go or as decoded JSON.
func evStrings(ev map[string]any, key string) []string {
	switch v := ev[key].(type) {
	case []string:
		return v
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{v}
	}
	return nil
}

// condition is an IAM condition as the finding reports it.
type condition struct{ title, expression string }

func evCondition(ev map[string]any) *condition {
	switch c := ev["condition"].(type) {
	case map[string]string:
		return &condition{title: c["title"], expression: c["expression"]}
	case map[string]any:
		t, _ := c["title"].(string)
		e, _ := c["expression"].(string)
		return &condition{title: t, expression: e}
	case *inventory.Condition:
		if c != nil {
			return &condition{title: c.Title, expression: c.Expression}
		}
	case inventory.Condition:
		return &condition{title: c.Title, expression: c.Expression}
	}
	return nil
}

// identity is what a live project (folder, organization, account) can be called.
type identity struct {
	id     string // a project ID or an email; "" when unknown
	number string // a project number or an account's unique ID; "" when unknown
}

func isNumber(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

func projectIdentity(fromName string, ev map[string]any) identity {
	var id identity
	fromName = strings.TrimPrefix(fromName, "projects/")
	if isNumber(fromName) {
		id.number = fromName
	} else {
		id.id = fromName
	}
	for _, k := range []string{"project", "projectId"} {
		if s := strings.TrimPrefix(evString(ev, k), "projects/"); s != "" {
			if isNumber(s) {
				id.number = cmp.Or(id.number, s)
			} else {
				id.id = cmp.Or(id.id, s)
			}
		}
	}
	if s := evString(ev, "projectNumber"); isNumber(s) {
		id.number = cmp.Or(id.number, s)
	}
	return id
}

func accountIdentity(fromName string, ev map[string]any) identity {
	var id identity
	if strings.Contains(fromName, "@") {
		id.id = fromName
	} else {
		id.number = fromName
	}
	for _, k := range []string{"serviceAccount", "email"} {
		if s := evString(ev, k); strings.Contains(s, "@") {
			id.id = cmp.Or(id.id, strings.TrimPrefix(s, "serviceAccount:"))
		}
	}
	return id
}

// fitIdentity compares a Terraform value, with the given prefixes stripped, to an identity:
// numbers with the number, names with the id, without regard to case when fold is set. A
// spelling of the identity that is not known cannot be ruled out.
func fitIdentity(v *val, id identity, fold bool, prefixes ...string) fit {
	if s, ok := v.str(); ok {
		for _, p := range prefixes {
			s = strings.TrimPrefix(s, p)
		}
		want := id.id
		if isNumber(s) {
			want = id.number
		}
		switch {
		case want == "":
			return fitMaybe
		case s == want || (fold && strings.EqualFold(s, want)):
			return fitYes
		}
		return fitNo
	}
	if v.pattern() == nil {
		return fitNo
	}
	if id.id == "" || id.number == "" {
		return fitMaybe
	}
	for _, want := range []string{id.id, id.number} {
		for _, p := range append([]string{""}, prefixes...) {
			if fitString(v, p+want, fold) != fitNo {
				return fitMaybe
			}
		}
	}
	return fitNo
}

// exprText returns an expression's source text, shortened, for explanations.
func (ix *Index) exprText(v *val) string {
	if v == nil || v.expr == nil {
		return "a value that could not be evaluated"
	}
	r := v.expr.Range()
	f := ix.files[r.Filename]
	if f == nil || r.End.Byte > len(f.src) || r.Start.Byte > r.End.Byte {
		return "a value that could not be evaluated"
	}
	s := strings.Join(strings.Fields(string(f.src[r.Start.Byte:r.End.Byte])), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// criteria builds the explanation of a hit from named comparisons.
type criteria struct {
	ix      *Index
	fit     fit
	matched []string
	unsure  []string
}

func (ix *Index) newCriteria() *criteria { return &criteria{ix: ix, fit: fitYes} }

func (c *criteria) check(label string, v *val, f fit, shown string) {
	c.fit = min(c.fit, f)
	if c.fit == fitNo {
		return // the hit is dropped: no explanation needed
	}
	switch f {
	case fitYes:
		c.matched = append(c.matched, fmt.Sprintf("%s %s", label, quote(shown)))
	case fitMaybe:
		if s, ok := v.str(); ok {
			c.unsure = append(c.unsure, fmt.Sprintf("%s %s cannot be compared with %s, which is only partly known", label, quote(s), quote(shown)))
		} else {
			c.unsure = append(c.unsure, fmt.Sprintf("%s is %s, which could not be evaluated", label, c.ix.exprText(v)))
		}
	}
}

func (c *criteria) uncertain(reason string) {
	if reason != "" {
		c.fit = min(c.fit, fitMaybe)
		c.unsure = append(c.unsure, reason)
	}
}

func (c *criteria) why() string {
	var b strings.Builder
	if len(c.matched) > 0 {
		b.WriteString(strings.Join(c.matched, ", "))
		b.WriteString(" match")
	}
	if len(c.unsure) > 0 {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strings.Join(c.unsure, "; "))
	}
	return b.String()
}

// valLine returns the line where a value (or, failing that, a fallback) is written.
func valLine(v *val, site hclsyntax.Expression, fallback int) (string, int) {
	if site != nil {
		r := site.Range()
		return r.Filename, r.Start.Line
	}
	if v != nil && v.expr != nil {
		r := v.expr.Range()
		return r.Filename, r.Start.Line
	}
	return "", fallback
}

// resourceExpansions yields every instance of every resource block of type typ.
func (ix *Index) resourceExpansions(kind, typ string, fn func(in *instance, b *tfBlock, ex expansion)) {
	for _, in := range ix.instances {
		for _, b := range in.mod.blocks {
			if b.kind == kind && b.typ == typ {
				for _, ex := range in.expansionsOf(b) {
					fn(in, b, ex)
				}
			}
		}
	}
}

// blockHit builds the hit of a block instance.
func blockHit(in *instance, b *tfBlock, ex expansion, c *criteria, kind string, t *target) hit {
	h := hit{exact: c.fit == fitYes, file: b.file.path, line: b.b.TypeRange.Start.Line, addr: in.prefix + b.addr() + ex.key,
		kind: kind, root: in.root, why: c.why(), t: t}
	if ex.coll != nil {
		var site hclsyntax.Expression
		if ex.coll.kind == kList && ex.coll.sites != nil {
			site = ex.coll.sites[ex.at]
		} else if ex.coll.kind == kMap && ex.coll.items[ex.at].site != nil {
			site = ex.coll.items[ex.at].site.KeyExpr
		}
		if site != nil {
			r := site.Range()
			h.file, h.line = r.Filename, r.Start.Line
		}
	}
	return h
}

// arg evaluates a block argument in a scope; nil when absent.
func arg(sc *scope, b *hclsyntax.Block, name string) *val {
	if a := b.Body.Attributes[name]; a != nil {
		return sc.eval(a.Expr)
	}
	return nil
}

// projectOf evaluates a resource's project: its project argument or its provider's default.
func projectOf(in *instance, b *tfBlock, sc *scope) *val {
	if p := arg(sc, b.b, "project"); p != nil {
		return p
	}
	return in.providerProject(b, sc)
}

func (id identity) String() string { return cmp.Or(id.id, id.number) }

// checkProject compares a block's project (its project argument or its provider's default)
// with the live project, and returns it.
func (c *criteria) checkProject(in *instance, b *tfBlock, sc *scope, project identity) *val {
	p := projectOf(in, b, sc)
	c.check("project", p, fitIdentity(p, project, false, "projects/"), project.String())
	return p
}

// byNameInProject starts the criteria of a block instance that declares a resource by its
// name argument in a project: the name, then the project. ok is false when the block has no
// name argument.
func (ix *Index) byNameInProject(in *instance, b *tfBlock, ex expansion, name string, project identity) (*criteria, bool) {
	n := arg(ex.sc, b.b, "name")
	if n == nil {
		return nil, false
	}
	c := ix.newCriteria()
	c.check("name", n, fitString(n, name, false), name)
	c.checkProject(in, b, ex.sc, project)
	return c, true
}

// otherNetwork reports whether v, a network argument (a name or a URL), names another network
// than the finding's; false when either is not known.
func otherNetwork(v *val, network string) bool {
	if v == nil || network == "" {
		return false
	}
	s, ok := v.str()
	return ok && lastSegment(s) != network
}

// networkModuleProject reads the project_id of a call of a terraform-google-modules/network
// module (firewall-rules, subnets, or the network module itself), and how it compares with
// the live project. ok is false when the call has no project_id, is for another project, or
// its network_name is another network than the finding's.
func networkModuleProject(b *tfBlock, ex expansion, project identity, network string) (p *val, pf fit, ok bool) {
	p = arg(ex.sc, b.b, "project_id")
	if p == nil {
		return nil, fitNo, false
	}
	pf = fitIdentity(p, project, false, "projects/")
	if pf == fitNo || otherNetwork(arg(ex.sc, b.b, "network_name"), network) {
		return nil, fitNo, false
	}
	return p, pf, true
}

// listInputHits matches the elements of a module call's list input (the rules of a
// firewall-rules module, the subnets of a network module), each of which declares a
// resource of the given kind. element adds an element's own comparisons to its criteria and
// returns the element's target (its kind and live names; listInputHits fills in where it
// is), or nil when the element declares no such resource. The call's project_id p, whose fit
// with the live project is pf, is then checked, and the call's expansion. An input that could
// not be evaluated is one uncertain hit: any of its elements may be the resource.
func (ix *Index) listInputHits(in *instance, b *tfBlock, ex expansion, input, kind string, project identity, p *val, pf fit,
	element func(c *criteria, e *val) *target) []hit {
	list := arg(ex.sc, b.b, input)
	if list == nil || list.kind == kNull {
		return nil
	}
	base := in.prefix + "module." + b.name + ex.key + "." + input
	if list.kind != kList {
		c := ix.newCriteria()
		c.check("project_id", p, pf, project.String())
		c.uncertain(fmt.Sprintf("%s is %s, which could not be evaluated", input, ix.exprText(list)))
		c.uncertain(ex.uncertain)
		return []hit{{file: b.file.path, line: b.b.TypeRange.Start.Line, addr: base, kind: kind, root: in.root, why: c.why()}}
	}
	var hits []hit
	for i, e := range list.elems {
		c := ix.newCriteria()
		t := element(c, e)
		if t == nil {
			continue
		}
		c.check("project_id", p, pf, project.String())
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			continue
		}
		t.in, t.b, t.ex = in, b, ex
		t.rules, t.ruleIdx, t.rulesInput, t.elem = list, i, input, e
		file, line := valLine(e, siteAt(list, i), b.b.TypeRange.Start.Line)
		hits = append(hits, hit{exact: c.fit == fitYes, file: cmp.Or(file, b.file.path), line: line,
			addr: fmt.Sprintf("%s[%d]", base, i), kind: kind, root: in.root, why: c.why(), t: t})
	}
	return hits
}

// firewallHits finds declarations of the firewall rule name in project.
func (ix *Index) firewallHits(project identity, name, network string) []hit {
	var hits []hit
	ix.resourceExpansions("resource", KindFirewall, func(in *instance, b *tfBlock, ex expansion) {
		c, ok := ix.byNameInProject(in, b, ex, name, project)
		if !ok || otherNetwork(arg(ex.sc, b.b, "network"), network) {
			return
		}
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindFirewall, &target{kind: tFirewall, in: in, b: b, ex: ex, name: name}))
	})
	ix.moduleCalls(shapeFirewallRules, func(in *instance, b *tfBlock, ex expansion) {
		p, pf, ok := networkModuleProject(b, ex, project, network)
		if !ok {
			return
		}
		for _, input := range []string{"rules", "ingress_rules", "egress_rules"} {
			hits = append(hits, ix.listInputHits(in, b, ex, input, KindFirewallRulesModule, project, p, pf, func(c *criteria, e *val) *target {
				n := e.attr("name")
				if n == nil {
					return nil
				}
				c.check("rule name", n, fitString(n, name, false), name)
				return &target{kind: tFirewallRule, name: name}
			})...)
		}
	})
	hits = append(hits, ix.opaqueModuleHits(project, []string{name}, "firewall rule")...)
	return hits
}

// networkHits finds declarations of the network name in project.
func (ix *Index) networkHits(project identity, name string) []hit {
	var hits []hit
	ix.resourceExpansions("resource", KindNetwork, func(in *instance, b *tfBlock, ex expansion) {
		c, ok := ix.byNameInProject(in, b, ex, name, project)
		if !ok {
			return
		}
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindNetwork, &target{kind: tNetwork, in: in, b: b, ex: ex, name: name}))
	})
	hits = append(hits, ix.opaqueModuleHits(project, []string{name}, "network")...)
	return hits
}

// serviceAccountHits finds declarations of a service account.
func (ix *Index) serviceAccountHits(project identity, account identity) []hit {
	var hits []hit
	ix.resourceExpansions("resource", KindServiceAccount, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		id := arg(ex.sc, b.b, "account_id")
		if id == nil {
			return
		}
		p := c.checkProject(in, b, ex.sc, project)
		if account.id != "" {
			email := concat(id, "@", p, ".iam.gserviceaccount.com")
			email.expr = id.expr
			c.check("email", email, fitString(email, account.id, true), account.id)
		} else {
			c.uncertain("the account's email is not known (pass evidence.email)")
		}
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, KindServiceAccount, &target{kind: tServiceAccount, in: in, b: b, ex: ex}))
	})
	if account.id != "" {
		hits = append(hits, ix.opaqueModuleHits(project, []string{account.id, strings.SplitN(account.id, "@", 2)[0]}, "service account")...)
	}
	return hits
}

// keyHits finds the key resources of a service account. The key's ID is not in the
// configuration, so a key is Managed only when exactly one key resource names the account.
func (ix *Index) keyHits(account identity) []hit {
	var hits []hit
	ix.resourceExpansions("resource", KindServiceAccountKey, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		sa := arg(ex.sc, b.b, "service_account_id")
		if sa == nil {
			return
		}
		f := fitAccount(sa, account)
		c.check("service_account_id", sa, f, account.String())
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		h := blockHit(in, b, ex, c, KindServiceAccountKey, &target{kind: tServiceAccountKey, in: in, b: b, ex: ex})
		h.why += " (the key ID is not in Terraform: a key resource is matched by its account)"
		hits = append(hits, h)
	})
	if account.id != "" {
		hits = append(hits, ix.opaqueModuleHits(identity{}, []string{account.id}, "service account key")...)
	}
	return hits
}

// fitAccount compares a service_account_id (email, unique ID or
// projects/P/serviceAccounts/EMAIL) with an account identity.
func fitAccount(v *val, account identity) fit {
	const marker = "serviceaccounts/"
	if s, ok := v.str(); ok {
		if i := strings.LastIndex(strings.ToLower(s), marker); i >= 0 {
			s = s[i+len(marker):]
		}
		return fitIdentity(&val{kind: kString, s: s}, account, true)
	}
	p := v.pattern()
	if p == nil {
		return fitNo
	}
	if account.id == "" || account.number == "" {
		return fitMaybe
	}
	p = lowerPattern(p)
	// Keep what follows the last literal "serviceAccounts/", if any.
	for i := len(p) - 1; i >= 0; i-- {
		if j := strings.LastIndex(p[i].lit, marker); !p[i].hole && j >= 0 {
			p = append([]part{{lit: p[i].lit[j+len(marker):]}}, p[i+1:]...)
			break
		}
	}
	for _, want := range []string{account.id, account.number} {
		if globMatch(p, strings.ToLower(want)) {
			return fitMaybe
		}
	}
	return fitNo
}

func lowerPattern(p []part) []part {
	out := make([]part, len(p))
	for i, q := range p {
		out[i] = part{lit: strings.ToLower(q.lit), hole: q.hole}
	}
	return out
}

// opaqueModuleHits reports calls of modules zerodrift does not understand (registry or git
// sources other than the shapes it knows) whose inputs mention every one of the given
// strings, unless an input names another project: such a module may declare the resource.
// The network module (terraform-google-modules/network/google) declares networks, routes and
// firewall rules besides subnets, so it counts as not understood unless understood names it.
func (ix *Index) opaqueModuleHits(project identity, mentions []string, what string, understood ...moduleShape) []hit {
	var hits []hit
	for _, in := range ix.instances {
		for _, b := range in.mod.blocks {
			if b.kind != "module" {
				continue
			}
			src := moduleSource(b)
			if b.shape != shapeNone && (b.shape != shapeNetwork || slices.Contains(understood, shapeNetwork)) {
				continue
			}
			if _, local := localSourceDir(in.mod.dir, src); local {
				continue
			}
			for _, ex := range in.expansionsOf(b) {
				var strs []string
				otherProject := false
				for name, a := range b.b.Body.Attributes {
					v := ex.sc.eval(a.Expr)
					collectStrings(v, &strs, 0)
					if (name == "project" || name == "project_id") && project.String() != "" {
						if fitIdentity(v, project, false, "projects/") == fitNo {
							otherProject = true
						}
					}
				}
				if otherProject || !mentionsAll(strs, mentions) {
					continue
				}
				hits = append(hits, hit{file: b.file.path, line: b.b.TypeRange.Start.Line, addr: in.prefix + "module." + b.name + ex.key,
					kind: kindUnrecognisedModule, root: in.root,
					why: fmt.Sprintf("module %q (source %s) is not one zerodrift understands, and its inputs mention the %s", b.name, quote(src), what)})
			}
		}
	}
	return hits
}

func collectStrings(v *val, out *[]string, depth int) {
	if v == nil || depth > maxEvalDepth {
		return
	}
	if s, ok := v.str(); ok {
		*out = append(*out, s)
	}
	for _, e := range v.elems {
		collectStrings(e, out, depth+1)
	}
	for _, it := range v.items {
		if it.keyKnown {
			*out = append(*out, it.key)
		}
		collectStrings(it.v, out, depth+1)
	}
}

func mentionsAll(strs, mentions []string) bool {
	for _, m := range mentions {
		if !slices.ContainsFunc(strs, func(s string) bool { return strings.EqualFold(s, m) }) {
			return false
		}
	}
	return len(mentions) > 0
}
