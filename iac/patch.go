package iac

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zerodrift/zerodrift/rules"
)

// Terraform edits Patch makes, named as in the playbook catalogue.
const (
	EditReplaceWorldSourceRanges = "replace-world-source-ranges"
	EditDisableFirewall          = "disable-firewall"
	EditEnableFirewallLogging    = "enable-firewall-logging"
	EditAddDenyFirewall          = "add-deny-firewall"
	EditRemoveIAMMember          = "remove-iam-member"
	EditRemoveResource           = "remove-resource"
	EditEnableSubnetFlowLogs     = "enable-subnet-flow-logs"
	EditEnablePrivateAccess      = "enable-private-google-access"
	EditSetAuditConfig           = "set-audit-config"
	EditAddEgressDeny            = "add-egress-deny"
	EditSetInstanceMetadata      = "set-instance-metadata"
	EditRemoveExternalIP         = "remove-external-ip"
)

// Edits returns the names of the Terraform edits Patch makes, sorted: the playbook
// catalogue's Terraform edits must be these.
func Edits() []string {
	out := []string{EditReplaceWorldSourceRanges, EditDisableFirewall, EditEnableFirewallLogging, EditAddDenyFirewall,
		EditRemoveIAMMember, EditRemoveResource, EditEnableSubnetFlowLogs, EditEnablePrivateAccess, EditSetAuditConfig,
		EditAddEgressDeny, EditSetInstanceMetadata, EditRemoveExternalIP}
	slices.Sort(out)
	return out
}

// Patch is a change to one Terraform file.
type Patch struct {
	// File is the slash-separated path of the changed file inside the indexed file system.
	File   string `json:"file"`
	Before []byte `json:"-"`
	After  []byte `json:"-"`
	// Summary says in one sentence what changes, for a commit message or a PR body. It
	// quotes values from the cloud as HCL strings; escaping them for Markdown is the
	// caller's job.
	Summary string `json:"summary"`
	// Diff is the unified diff of File.
	Diff string `json:"diff"`
	// Warnings are what a reviewer must know: an edit in a local or a variable shared with
	// other declarations, a module instantiated more than once, remaining references.
	Warnings []string `json:"warnings,omitempty"`
	// Creates and Destroys are the Terraform addresses of the resources the patch adds and
	// deletes, spelled as Match.Address spells them (module.base.google_compute_firewall.x,
	// google_project_iam_member.sa_user["user:bob@x"]): a whole resource block added or
	// removed, or one instance of a for_each collection removed. An edit of a module call's
	// input (a rule of a firewall module's list, an entry of an IAM module's bindings) is not
	// listed, since what the module declares for it is not known here: it is in Updates.
	Creates  []string `json:"creates,omitempty"`
	Destroys []string `json:"destroys,omitempty"`
	// Updates are the addresses of the declarations the patch changes in place (an
	// attribute, a nested block, a list element).
	Updates []string `json:"updates,omitempty"`
	// ModuleInputs are the addresses of the module call inputs the patch changes (a rule
	// of a firewall-rules module's list, a subnet of a network module's, an entry of an IAM
	// module's bindings): what terraform plan shows for them depends on what the module
	// declares, which is not known here.
	ModuleInputs []string `json:"moduleInputs,omitempty"`

	// edits are the replaced byte ranges of Before, for tests.
	edits []edit
}

// ErrNotManaged is returned by Patch for a match that is not Managed.
var ErrNotManaged = errors.New("iac: the resource is not managed by exactly one declaration")

// Patch writes a Terraform edit into the declaration m names. m must be a Managed match
// returned by this index's Owner. params are the playbook's parameters for the edit:
// "ranges" ([]string, required) for replace-world-source-ranges, "metadata"
// (INCLUDE_ALL_METADATA or EXCLUDE_ALL_METADATA) for enable-firewall-logging, "ports"
// ([]string) and "priorityOffset" (int) for add-deny-firewall; "aggregationInterval",
// "flowSampling" and "metadata" for enable-subnet-flow-logs; "logTypes" ([]string) for
// set-audit-config; "priority" (int) for add-egress-deny; "key" and "value" (strings,
// required) for set-instance-metadata. Omitted parameters take the defaults the action
// catalogue documents. evidence is the finding's: replace-world-source-ranges also removes
// the ranges listed in evidence["worldRanges"], add-deny-firewall denies evidence["exposed"]
// unless params name ports, and remove-external-ip removes the external addresses of the
// interfaces evidence["interfaces"] (or evidence["accessConfigs"]) names. For a match of a
// finding that lists several roles, remove-iam-member removes the member from each grant,
// all in one file; the other edits do not apply.
//
// Only the edited expression (or the added or removed block) changes; every other byte of the
// file is kept, and the result is checked to parse.
//
// An error other than ErrNotManaged names the edit and the declaration (its address, file
// and line) before the reason, so that whoever reads it, in a report or a log, can open the
// file at the place Patch refused to edit.
func (ix *Index) Patch(m Match, edit string, params, evidence map[string]any) (*Patch, error) {
	if m.Status != Managed {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotManaged, cmp.Or(m.Address, "the resource"), m.Status)
	}
	p, err := ix.patch(m, edit, params, evidence)
	if err != nil {
		if pe := (*patchError)(nil); errors.As(err, &pe) {
			return nil, err // one grant's edit of a several-grant match, which names that grant
		}
		return nil, &patchError{edit: edit, address: m.Address, file: m.File, line: m.Line, err: err}
	}
	return p, nil
}

// patchError is a rejection by Patch, located at the declaration it was asked to edit.
type patchError struct {
	edit, address, file string
	line                int
	err                 error
}

func (e *patchError) Error() string {
	// The reasons start with the package's "iac: " as errors of their own; the place
	// already says it.
	return fmt.Sprintf("iac: %s of %s (%s:%d): %s", e.edit, e.address, e.file, e.line, strings.TrimPrefix(e.err.Error(), "iac: "))
}

func (e *patchError) Unwrap() error { return e.err }

// patch is Patch for a Managed match; its errors say why, and Patch says where.
func (ix *Index) patch(m Match, edit string, params, evidence map[string]any) (*Patch, error) {
	if len(m.grants) > 0 {
		if m.grants[0].m.target == nil || m.grants[0].m.target.in.ix != ix {
			return nil, errors.New("iac: the match was not made by this index")
		}
		return ix.patchRoles(m, edit, params)
	}
	t := m.target
	if t == nil || t.in == nil || t.in.ix != ix {
		return nil, errors.New("iac: the match was not made by this index")
	}
	if b := t.in.mod.badName; b != nil {
		return nil, fmt.Errorf("iac: %s:%d names a %s block %s, which is not a Terraform name (a letter or \"_\" first, then letters, digits, \"_\" and \"-\"); Terraform rejects the module, so zerodrift does not edit it",
			b.file.path, b.b.TypeRange.Start.Line, b.kind, quote(b.name))
	}
	p := &patcher{ix: ix, t: t, m: m}
	var err error
	switch edit {
	case EditReplaceWorldSourceRanges:
		err = p.replaceWorld(params, evidence)
	case EditDisableFirewall:
		err = p.disable()
	case EditEnableFirewallLogging:
		err = p.enableLogging(params)
	case EditAddDenyFirewall:
		err = p.addDeny(params, evidence)
	case EditRemoveIAMMember:
		err = p.removeMember()
	case EditRemoveResource:
		err = p.removeResource()
	case EditEnableSubnetFlowLogs:
		err = p.enableFlowLogs(params)
	case EditEnablePrivateAccess:
		err = p.enablePrivateAccess()
	case EditSetAuditConfig:
		err = p.setAuditConfig(params)
	case EditAddEgressDeny:
		err = p.addEgressDeny(params)
	case EditSetInstanceMetadata:
		err = p.setMetadata(params, evidence)
	case EditRemoveExternalIP:
		err = p.removeExternalIP(evidence)
	default:
		err = fmt.Errorf("iac: unknown Terraform edit %q (a playbook's spec.terraform.edit): want one of %s", edit, strings.Join(Edits(), ", "))
	}
	if err != nil {
		return nil, err
	}
	return p.finish()
}

// patcher collects the edits of one Patch call.
type patcher struct {
	ix       *Index
	t        *target
	m        Match
	ed       *editor
	summary  string
	warnings []string
	// creates and destroys are the addresses of the resources the edit adds and deletes;
	// an edit that does neither changes p.m.Address in place.
	creates, destroys []string
}

// editorFor returns the editor of the file holding r; a patch edits one file.
func (p *patcher) editorFor(r hcl.Range) (*editor, error) {
	f := p.ix.files[r.Filename]
	if f == nil || f.body == nil {
		return nil, fmt.Errorf("iac: %s cannot be edited (not an HCL file of the index)", r.Filename)
	}
	if slices.Contains(p.ix.unreadable, f.path) || p.ix.hasErrors(f.path) {
		return nil, fmt.Errorf("iac: %s has syntax errors; fix them before zerodrift edits it", f.path)
	}
	if p.ed == nil {
		p.ed = &editor{f: f}
	} else if p.ed.f != f {
		return nil, fmt.Errorf("iac: the edit would change both %s and %s", p.ed.f.path, f.path)
	}
	return p.ed, nil
}

func (p *patcher) warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// warnScopes warns that a module call grants its bindings on more than one resource, so
// removing a member there removes it from all of them.
func (p *patcher) warnScopes(scopes []string) {
	if len(scopes) > 1 {
		p.warn("the module grants its bindings on %d resources (%s); the member loses the role on all of them",
			len(scopes), strings.Join(quotedList(scopes), ", "))
	}
}

// finish applies the edits, checks the result and builds the patch.
func (p *patcher) finish() (*Patch, error) {
	if p.ed == nil || len(p.ed.edits) == 0 {
		return nil, errors.New("iac: the edit changes nothing")
	}
	after, err := p.ed.apply()
	if err != nil {
		return nil, err
	}
	if _, diags := hclsyntax.ParseConfig(after, p.ed.f.path, hcl.InitialPos); diags.HasErrors() {
		return nil, fmt.Errorf("iac: internal error: the patched %s does not parse: %w", p.ed.f.path, diags)
	}
	if string(after) == string(p.ed.f.src) {
		return nil, errors.New("iac: the edit changes nothing")
	}
	if p.t.in.mod.instances > 1 && strings.HasPrefix(p.ed.f.path, p.t.in.mod.dir+"/") {
		p.warn("%s is instantiated %d times; the change applies to every instance", p.t.in.mod.dir, p.t.in.mod.instances)
	}
	var updates, inputs []string
	switch {
	case len(p.creates) > 0 || len(p.destroys) > 0:
	case p.t.kind.moduleInput():
		inputs = []string{p.m.Address}
	default:
		updates = []string{p.m.Address}
	}
	return &Patch{
		File:     p.ed.f.path,
		Before:   slices.Clone(p.ed.f.src),
		After:    after,
		Summary:  p.summary,
		Diff:     unifiedDiff(p.ed.f.path, p.ed.f.src, after),
		Warnings: p.warnings,
		Creates:  p.creates,
		Destroys: p.destroys,
		Updates:  updates,
		edits:    slices.Clone(p.ed.edits),

		ModuleInputs: inputs,
	}, nil
}

// where names the declaration for summaries.
func (p *patcher) where() string {
	return fmt.Sprintf("%s (%s:%d)", p.m.Address, p.m.File, p.m.Line)
}

// checkShared warns when the edited expression lies outside the declaration's own block:
// in a local, a variable's default or a variable file that other expressions also use.
func (p *patcher) checkShared(r hcl.Range, what string) {
	if p.inside(r) {
		return
	}
	f := p.ix.files[r.Filename]
	if f == nil || f.body == nil {
		return
	}
	ref := ""
	for name, a := range f.body.Attributes { // a variable file
		if within(r, a.SrcRange) {
			ref = "var." + name
		}
	}
	for _, b := range f.body.Blocks {
		switch {
		case b.Type == "locals":
			for name, a := range b.Body.Attributes {
				if within(r, a.SrcRange) {
					ref = "local." + name
				}
			}
		case b.Type == "variable" && len(b.Labels) == 1 && within(r, b.Range()):
			ref = "var." + b.Labels[0]
		}
	}
	if ref == "" {
		p.warn("%s is written at %s:%d, outside %s; check what else uses it", what, r.Filename, r.Start.Line, p.m.Address)
		return
	}
	uses := 0
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(ref) + `\b`)
	for _, mf := range p.t.in.mod.files {
		uses += len(re.FindAllIndex(mf.src, -1))
	}
	if uses > 1 {
		p.warn("%s is written in %s (%s:%d), which is used %d times in %s; the other uses change too",
			what, ref, r.Filename, r.Start.Line, uses, p.t.in.mod.dir)
	}
}

// within reports whether r lies inside outer.
func within(r, outer hcl.Range) bool {
	return r.Filename == outer.Filename && r.Start.Byte >= outer.Start.Byte && r.End.Byte <= outer.End.Byte
}

// ---- replace-world-source-ranges

// worldSet returns the normalized ranges to remove: 0.0.0.0/0, ::/0 and the evidence's.
func worldSet(evidence map[string]any) map[string]bool {
	set := map[string]bool{"0.0.0.0/0": true, "::/0": true}
	for _, r := range evStrings(evidence, "worldRanges") {
		if pfx, ok := rules.ParseSourceRange(r); ok {
			set[pfx.String()] = true
		}
	}
	return set
}

// paramStrings reads a list of strings from the parameters.
func paramStrings(params map[string]any, key string) ([]string, bool, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	switch v := v.(type) {
	case []string:
		return v, true, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok {
				return nil, true, fmt.Errorf("iac: parameter %s: %v is not a string", key, x)
			}
			out = append(out, s)
		}
		return out, true, nil
	}
	return nil, true, fmt.Errorf("iac: parameter %s: want a list of strings, got %T", key, v)
}

// paramString reads an optional string parameter restricted to allowed; def when absent.
func paramString(params map[string]any, key, def string, allowed []string) (string, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok || !slices.Contains(allowed, s) {
		return "", fmt.Errorf("iac: parameter %s: want one of %s", key, strings.Join(allowed, ", "))
	}
	return s, nil
}

// paramInt reads an optional integer parameter in [lo, hi]; def when absent.
func paramInt(params map[string]any, key string, def, lo, hi int) (int, error) {
	v, ok := params[key]
	if !ok || v == nil {
		return def, nil
	}
	var n int
	switch x := v.(type) {
	case int:
		n = x
	case int64:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return 0, fmt.Errorf("iac: parameter %s: %d is out of %d..%d", key, x, lo, hi)
		}
		n = int(x)
	case float64:
		if x != math.Trunc(x) || x < math.MinInt32 || x > math.MaxInt32 {
			return 0, fmt.Errorf("iac: parameter %s: want an integer, got %v", key, x)
		}
		n = int(x)
	default:
		return 0, fmt.Errorf("iac: parameter %s: want an integer, got %T", key, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("iac: parameter %s: %d is out of %d..%d", key, n, lo, hi)
	}
	return n, nil
}

// trustedRanges reads and checks params["ranges"]: CIDR ranges that do not, together, cover
// the internet. They are written back in canonical form.
func trustedRanges(params map[string]any) ([]string, error) {
	rs, ok, err := paramStrings(params, "ranges")
	if err != nil {
		return nil, err
	}
	if !ok || len(rs) == 0 {
		return nil, errors.New("iac: replace-world-source-ranges needs params.ranges, the trusted source ranges")
	}
	var out []string
	for _, r := range rs {
		pfx, ok := rules.ParseSourceRange(r)
		if !ok || !strings.Contains(strings.TrimSpace(r), "/") {
			return nil, fmt.Errorf("iac: parameter ranges: %s is not a CIDR range", quote(r))
		}
		if !slices.Contains(out, pfx.String()) {
			out = append(out, pfx.String())
		}
	}
	if world, covers := rules.CoversInternet(out); covers {
		return nil, fmt.Errorf("iac: parameter ranges: %s cover the whole internet", strings.Join(world, ", "))
	}
	return out, nil
}

func quotedList(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func tupleText(ss []string) string { return "[" + strings.Join(quotedList(ss), ", ") + "]" }

func (p *patcher) replaceWorld(params, evidence map[string]any) error {
	trusted, err := trustedRanges(params)
	if err != nil {
		return err
	}
	world := worldSet(evidence)
	t := p.t
	switch t.kind {
	case tFirewall:
		b := t.b.b
		if d := arg(t.ex.sc, b, "direction"); d != nil {
			if s, ok := d.str(); ok && strings.EqualFold(s, "EGRESS") {
				return fmt.Errorf("iac: %s is an egress rule; it has no source ranges", p.m.Address)
			}
		}
		a := b.Body.Attributes["source_ranges"]
		if a == nil {
			if err := p.singleInstance("add source_ranges"); err != nil {
				return err
			}
			if b.Body.Attributes["source_tags"] != nil || b.Body.Attributes["source_service_accounts"] != nil {
				return fmt.Errorf("iac: %s has no source_ranges but has source tags or service accounts; it is not open through source ranges", p.m.Address)
			}
			ed, err := p.editorFor(b.Range())
			if err != nil {
				return err
			}
			if err := insertAttr(ed, b, "source_ranges", tupleText(trusted)); err != nil {
				return err
			}
			p.summary = fmt.Sprintf("Add source_ranges = %s to %s: a firewall rule without source ranges admits the whole internet",
				tupleText(trusted), p.where())
			return nil
		}
		return p.editRanges(t.ex.sc.eval(a.Expr), a.Expr, p.singleInstance("") != nil, "source_ranges", trusted, world)
	case tFirewallRule:
		obj, err := p.listElementObject()
		if err != nil {
			return err
		}
		if t.rulesInput == "egress_rules" {
			return fmt.Errorf("iac: %s is an egress rule; it has no source ranges", p.m.Address)
		}
		if d := t.elem.attr("direction"); d != nil {
			if s, ok := d.str(); ok && strings.EqualFold(s, "EGRESS") {
				return fmt.Errorf("iac: %s is an egress rule; it has no source ranges", p.m.Address)
			}
		}
		key := "ranges"
		if t.rulesInput == "ingress_rules" {
			key = "source_ranges"
		}
		i := objectItemIndex(obj, key)
		if i < 0 {
			if err := p.setObjectItem(obj, key, tupleText(trusted)); err != nil {
				return err
			}
			p.summary = fmt.Sprintf("Add %s = %s to %s: a rule without source ranges admits the whole internet", key, tupleText(trusted), p.where())
			return nil
		}
		v, _ := t.elem.get(key)
		return p.editRanges(v, obj.Items[i].ValueExpr, false, key, trusted, world)
	}
	return fmt.Errorf("iac: %s is not a firewall rule", p.m.Address)
}

// editRanges rewrites a list of source ranges: world ranges out, trusted ranges in, in the
// tuple where the list is written; or, when the list is not written as a tuple but its value
// is known, the slot's expression becomes a literal list.
func (p *patcher) editRanges(v *val, slot hclsyntax.Expression, multi bool, label string, trusted []string, world map[string]bool) error {
	if v == nil {
		return fmt.Errorf("iac: %s of %s could not be evaluated", label, p.m.Address)
	}
	isWorld := func(s string) bool {
		pfx, ok := rules.ParseSourceRange(s)
		return ok && world[pfx.String()]
	}
	if err := p.closeWorld(v, label, trusted, world, isWorld); err != nil {
		return err
	}
	if tuple, ok := v.expr.(*hclsyntax.TupleConsExpr); ok && v.kind == kList && len(v.sites) == len(v.elems) {
		remove := map[int]bool{}
		var kept, removed []string
		insertAt := -1
		for i, e := range v.elems {
			j := slices.Index(tuple.Exprs, v.sites[i])
			if j < 0 {
				return fmt.Errorf("iac: internal error: %s element not found", label)
			}
			s, ok := e.str()
			switch {
			case !ok:
				p.warn("an element of %s (%s) could not be evaluated and was kept", label, p.ix.exprText(e))
			case isWorld(s):
				remove[j] = true
				removed = append(removed, s)
				if insertAt < 0 {
					insertAt = j
				}
			default:
				kept = append(kept, s)
			}
		}
		if len(remove) == 0 {
			return fmt.Errorf("iac: %s of %s has no range open to the internet", label, p.m.Address)
		}
		var add []string
		for _, r := range trusted {
			if !slices.Contains(kept, r) {
				add = append(add, r)
			}
		}
		if multi && p.inside(tuple.SrcRange) {
			return fmt.Errorf("iac: %s of %s is written in a block with count or for_each, so every instance shares it; edit it by hand", label, p.m.Address)
		}
		ed, err := p.editorFor(tuple.SrcRange)
		if err != nil {
			return err
		}
		if err := replaceSeq(ed, tuple.SrcRange, tupleItems(tuple), seqEdit{remove: remove, insertAt: insertAt, insert: quotedList(add), tuple: true}); err != nil {
			return err
		}
		p.checkShared(tuple.SrcRange, label)
		p.summary = fmt.Sprintf("Replace %s with %s in %s of %s", strings.Join(quotedList(removed), ", "),
			strings.Join(quotedList(trusted), ", "), label, p.where())
		return nil
	}
	ss, ok := v.strings()
	if !ok || slot == nil {
		return fmt.Errorf("iac: %s of %s is %s, which could not be evaluated; edit it by hand", label, p.m.Address, p.ix.exprText(&val{expr: slot}))
	}
	if multi {
		return fmt.Errorf("iac: %s of %s is %s, shared by every instance of the block; edit it by hand", label, p.m.Address, p.ix.exprText(&val{expr: slot}))
	}
	var next, removed []string
	for _, s := range ss {
		if isWorld(s) {
			removed = append(removed, s)
		} else if !slices.Contains(next, s) {
			next = append(next, s)
		}
	}
	if len(removed) == 0 {
		return fmt.Errorf("iac: %s of %s has no range open to the internet", label, p.m.Address)
	}
	for _, r := range trusted {
		if !slices.Contains(next, r) {
			next = append(next, r)
		}
	}
	r := slot.Range()
	ed, err := p.editorFor(r)
	if err != nil {
		return err
	}
	ed.replace(r.Start.Byte, r.End.Byte, tupleText(next))
	p.warn("%s was %s; it is replaced by a literal list", label, p.ix.exprText(&val{expr: slot}))
	p.summary = fmt.Sprintf("Replace %s with %s in %s of %s", strings.Join(quotedList(removed), ", "),
		strings.Join(quotedList(trusted), ", "), label, p.where())
	return nil
}

// closeWorld adds to world whatever still covers the internet once the world ranges are
// gone: ranges that together cover it although none does alone (0.0.0.0/1 and
// 128.0.0.0/1), and ranges nested in a world range that cover it with the others kept or
// with the trusted ranges added (0.0.0.0/1 next to 0.0.0.0/0, with 128.0.0.0/1 trusted). It
// grows world until what the edit keeps, with the trusted ranges, no longer covers the
// internet. Elements that cannot be evaluated are kept, with a warning, by the caller.
func (p *patcher) closeWorld(v *val, label string, trusted []string, world map[string]bool, isWorld func(string) bool) error {
	var known []string
	for _, e := range v.elems {
		if s, ok := e.str(); ok {
			known = append(known, s)
		}
	}
	for {
		next := slices.Clone(trusted)
		for _, s := range known {
			if !isWorld(s) {
				next = append(next, s)
			}
		}
		w, covers := rules.CoversInternet(next)
		if !covers {
			return nil
		}
		grew := false
		for _, r := range w {
			if pfx, ok := rules.ParseSourceRange(r); ok && !world[pfx.String()] && !slices.Contains(trusted, pfx.String()) {
				world[pfx.String()] = true
				grew = true
			}
		}
		if !grew {
			return fmt.Errorf("iac: %s of %s would still admit the whole internet (%s); edit it by hand",
				label, p.m.Address, strings.Join(w, ", "))
		}
	}
}

// singleInstance returns an error when the declaration's block has more than one instance
// (count or for_each), so that changing the block itself would change the others too.
func (p *patcher) singleInstance(what string) error {
	if p.t.ex.key == "" || len(p.t.in.expansionsOf(p.t.b)) <= 1 {
		return nil
	}
	return fmt.Errorf("iac: to %s, %s would change every instance of %s (count or for_each); edit it by hand",
		what, p.m.Address, p.t.in.prefix+p.t.b.addr())
}

// warnEveryInstance warns, when the declaration's block has count or for_each, that the edit
// of the block changes every instance: what says how.
func (p *patcher) warnEveryInstance(what string) {
	if p.singleInstance("") != nil {
		p.warn("%s has count or for_each: %s", p.t.in.prefix+p.t.b.addr(), what)
	}
}

// setBlockAttr sets name = text in the declaration's own block.
func (p *patcher) setBlockAttr(name, text string) error {
	ed, err := p.editorFor(p.t.b.b.Range())
	if err != nil {
		return err
	}
	return setAttr(ed, p.t.b.b, name, text)
}

// nestedBlocks returns the blocks of type typ nested in b, in order. A dynamic block of that
// type is an error: its blocks are not written out to edit.
func (p *patcher) nestedBlocks(b *hclsyntax.Block, typ string) ([]*hclsyntax.Block, error) {
	var out []*hclsyntax.Block
	for _, nb := range b.Body.Blocks {
		switch {
		case nb.Type == typ:
			out = append(out, nb)
		case nb.Type == "dynamic" && len(nb.Labels) == 1 && nb.Labels[0] == typ:
			return nil, fmt.Errorf("iac: %s builds %s with a dynamic block; edit it by hand", p.m.Address, typ)
		}
	}
	return out, nil
}

// inside reports whether r lies inside the declaration's own block (for a module element,
// the module call).
func (p *patcher) inside(r hcl.Range) bool { return within(r, p.t.b.b.Range()) }

// replaceSeq rewrites a tuple or object constructor in place.
func replaceSeq(ed *editor, r hcl.Range, items []seqItem, op seqEdit) error {
	open, close, err := bounds(ed.f.src, r)
	if err != nil {
		return err
	}
	src := ed.f.src
	text := rewriteSeq(src, open, close, items, op)
	if len(text) == 2 && bytes.IndexByte(src[open:close], '\n') >= 0 && bytes.Contains(src[lineStart(src, open):open], []byte("=")) &&
		(lineAssigns(src, lineStart(src, open)-1) || lineAssigns(src, lineEnd(src, close))) {
		// "x = []" would join the alignment group of a neighbouring "a = b" line, and
		// terraform fmt would realign lines outside the edit: keep the brackets apart.
		text = text[:1] + "\n" + indentOf(src, open) + text[1:]
	}
	ed.replace(open, close+1, fmtExpr(text, indentOf(src, open)))
	return nil
}

// lineAssigns reports whether the line holding off (if any) is an assignment terraform fmt
// aligns: "name = value" with the value complete on that line.
func lineAssigns(src []byte, off int) bool {
	if off < 0 || off >= len(src) {
		return false
	}
	line := src[lineStart(src, off):lineEnd(src, off)]
	toks, diags := hclsyntax.LexConfig(line, "", hcl.InitialPos)
	if diags.HasErrors() {
		return false
	}
	for i, t := range toks {
		if i > 0 && t.Type == hclsyntax.TokenEqual {
			net := 0
			for _, u := range toks[i:] {
				net += bracketChange(u.Type)
			}
			return net == 0
		}
	}
	return false
}

// listElementObject returns the object constructor of a module's list input element (a rule
// of the firewall-rules module, a subnet of the network or subnets module).
func (p *patcher) listElementObject() (*hclsyntax.ObjectConsExpr, error) {
	obj, ok := p.t.elem.expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("iac: %s is not written as an object; edit it by hand", p.m.Address)
	}
	return obj, nil
}

// objectItemIndex finds an object item by its literal key.
func objectItemIndex(obj *hclsyntax.ObjectConsExpr, key string) int {
	for i, it := range obj.Items {
		k, ok := (&scope{}).objectKey(it.KeyExpr, 0)
		if ok && k == key {
			return i
		}
	}
	return -1
}

// setObjectItem sets key = value in an object constructor.
func (p *patcher) setObjectItem(obj *hclsyntax.ObjectConsExpr, key, value string) error {
	return p.setObjectItems(obj, "the rule", [][2]string{{key, value}})
}

// setObjectItems sets each key = value of kvs in an object constructor, in one edit; what
// names the object in warnings. Keys are written bare when they are HCL identifiers, quoted
// otherwise.
func (p *patcher) setObjectItems(obj *hclsyntax.ObjectConsExpr, what string, kvs [][2]string) error {
	ed, err := p.editorFor(obj.SrcRange)
	if err != nil {
		return err
	}
	items := objectItems(obj)
	op := seqEdit{insertAt: len(items), override: map[int]string{}}
	for _, kv := range kvs {
		if i := objectItemIndex(obj, kv[0]); i >= 0 {
			keyText := string(ed.f.src[items[i].start:obj.Items[i].KeyExpr.Range().End.Byte])
			op.override[i] = keyText + " = " + kv[1]
		} else {
			op.insert = append(op.insert, keyText(kv[0])+" = "+kv[1])
		}
	}
	p.checkShared(obj.SrcRange, what)
	return replaceSeq(ed, obj.SrcRange, items, op)
}

// keyText writes an object key: bare when it is an HCL identifier that is not a keyword,
// quoted otherwise.
func keyText(k string) string {
	if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`).MatchString(k) && k != "true" && k != "false" && k != "null" {
		return k
	}
	return quote(k)
}

// ---- disable-firewall and enable-firewall-logging

func (p *patcher) disable() error {
	t := p.t
	switch t.kind {
	case tFirewall:
		if d := arg(t.ex.sc, t.b.b, "disabled"); d != nil {
			if s, ok := d.str(); ok && s == "true" {
				return fmt.Errorf("iac: %s is already disabled in Terraform", p.m.Address)
			}
		}
		if err := p.singleInstance("set disabled = true"); err != nil {
			return err
		}
		if err := p.setBlockAttr("disabled", "true"); err != nil {
			return err
		}
	case tFirewallRule:
		obj, err := p.listElementObject()
		if err != nil {
			return err
		}
		if err := p.setObjectItem(obj, "disabled", "true"); err != nil {
			return err
		}
		p.warn("the firewall-rules module reads disabled only in versions whose rule type has it (optional attributes); older versions silently drop it: check the module version")
	default:
		return fmt.Errorf("iac: %s is not a firewall rule", p.m.Address)
	}
	p.summary = fmt.Sprintf("Disable %s (disabled = true)", p.where())
	return nil
}

func (p *patcher) enableLogging(params map[string]any) error {
	metadata, err := paramString(params, "metadata", "INCLUDE_ALL_METADATA", []string{"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"})
	if err != nil {
		return err
	}
	t := p.t
	switch t.kind {
	case tFirewall:
		b := t.b.b
		ed, err := p.editorFor(b.Range())
		if err != nil {
			return err
		}
		configs, err := p.nestedBlocks(b, "log_config")
		if err != nil {
			return err
		}
		if err := p.legacyLoggingOn(ed, b, "enable_logging"); err != nil {
			return err
		}
		p.warnEveryInstance("logging is turned on for every instance")
		if len(configs) > 0 {
			if err := setAttr(ed, configs[len(configs)-1], "metadata", quote(metadata)); err != nil {
				return err
			}
		} else if err := insertNestedBlock(ed, b, "log_config {\n  metadata = "+quote(metadata)+"\n}\n"); err != nil {
			return err
		}
	case tFirewallRule:
		obj, err := p.listElementObject()
		if err != nil {
			return err
		}
		if err := p.setObjectItem(obj, "log_config", "{ metadata = "+quote(metadata)+" }"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("iac: %s is not a firewall rule", p.m.Address)
	}
	p.summary = fmt.Sprintf("Turn on firewall rules logging (%s) for %s", metadata, p.where())
	return nil
}

// legacyLoggingOn sets the deprecated boolean argument name of b (a firewall's
// enable_logging, a subnetwork's enable_flow_logs), when b has it, to true, so that it does
// not contradict the log_config the edit writes; and warns that it is deprecated.
func (p *patcher) legacyLoggingOn(ed *editor, b *hclsyntax.Block, name string) error {
	v := arg(p.t.ex.sc, b, name)
	if v == nil {
		return nil
	}
	if v.kind != kBool || v.s != "true" {
		if err := setAttr(ed, b, name, "true"); err != nil {
			return err
		}
	}
	p.warn("%s is deprecated in favour of log_config; it is set to true here, remove it when the provider version allows", name)
	return nil
}

// ---- remove-iam-member and remove-resource

func (p *patcher) removeMember() error {
	t := p.t
	switch t.kind {
	case tIAMMember:
		if err := p.removeInstance(); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Remove %s, which grants the role", p.where())
		return nil
	case tIAMBinding:
		return p.removeFromMembers(func(ed *editor, tuple *hclsyntax.TupleConsExpr) bool {
			a := t.b.attr("members")
			if a == nil || a.Expr != hclsyntax.Expression(tuple) || t.ex.key != "" {
				return false
			}
			removeBlock(ed, t.b.b, 0)
			p.destroys = append(p.destroys, p.m.Address)
			return true
		})
	case tIAMPolicy:
		return p.removeFromMembers(func(ed *editor, tuple *hclsyntax.TupleConsExpr) bool {
			a := t.binding.Body.Attributes["members"]
			if a == nil || a.Expr != hclsyntax.Expression(tuple) {
				return false
			}
			removeBlock(ed, t.binding, t.b.b.OpenBraceRange.End.Byte)
			return true
		})
	case tIAMModule:
		p.warnScopes(t.scopes)
		return p.removeFromMembers(func(ed *editor, tuple *hclsyntax.TupleConsExpr) bool {
			obj, ok := t.bindings.expr.(*hclsyntax.ObjectConsExpr)
			it := t.bindings.items[t.bindingIdx]
			if !ok || it.site == nil || it.site.ValueExpr != hclsyntax.Expression(tuple) {
				return false
			}
			j := slices.IndexFunc(obj.Items, func(x hclsyntax.ObjectConsItem) bool { return x.ValueExpr == it.site.ValueExpr })
			if j < 0 {
				return false
			}
			if err := replaceSeq(ed, obj.SrcRange, objectItems(obj), seqEdit{remove: map[int]bool{j: true}, insertAt: -1}); err != nil {
				return false
			}
			return true
		})
	case tIAMModuleConditional:
		p.warnScopes(t.scopes)
		return p.removeFromMembers(func(ed *editor, tuple *hclsyntax.TupleConsExpr) bool {
			list, ok := t.conds.expr.(*hclsyntax.TupleConsExpr)
			site := siteAt(t.conds, t.condIdx)
			if !ok || site == nil {
				return false
			}
			j := slices.Index(list.Exprs, site)
			if j < 0 {
				return false
			}
			return replaceSeq(ed, list.SrcRange, tupleItems(list), seqEdit{remove: map[int]bool{j: true}, insertAt: -1, tuple: true}) == nil
		})
	}
	return fmt.Errorf("iac: %s does not grant IAM roles", p.m.Address)
}

// removeFromMembers deletes the member's element from its list. When that empties the list,
// emptied may remove the container instead (the binding block, the map entry) and reports
// whether it did.
func (p *patcher) removeFromMembers(emptied func(*editor, *hclsyntax.TupleConsExpr) bool) error {
	t := p.t
	if t.members == nil || t.memberIdx < 0 {
		return fmt.Errorf("iac: the member is not an element of a members list of %s", p.m.Address)
	}
	tuple, ok := t.members.expr.(*hclsyntax.TupleConsExpr)
	site := siteAt(t.members, t.memberIdx)
	if !ok || site == nil {
		return fmt.Errorf("iac: the members of %s are not written as a list; edit them by hand", p.m.Address)
	}
	j := slices.Index(tuple.Exprs, site)
	if j < 0 {
		return errors.New("iac: internal error: member element not found")
	}
	ed, err := p.editorFor(tuple.SrcRange)
	if err != nil {
		return err
	}
	member, _ := t.members.elems[t.memberIdx].str()
	p.checkShared(tuple.SrcRange, "the members list")
	if len(tuple.Exprs) == 1 && emptied(ed, tuple) {
		p.summary = fmt.Sprintf("Remove %s, the only member, and with it the now empty grant of %s", quote(member), p.where())
		return nil
	}
	if err := replaceSeq(ed, tuple.SrcRange, tupleItems(tuple), seqEdit{remove: map[int]bool{j: true}, insertAt: -1, tuple: true}); err != nil {
		return err
	}
	p.summary = fmt.Sprintf("Remove %s from the members of %s", quote(member), p.where())
	return nil
}

func (p *patcher) removeResource() error {
	t := p.t
	switch t.kind {
	case tFirewall, tNetwork, tServiceAccount, tServiceAccountKey, tIAMMember, tIAMBinding:
		if err := p.removeInstance(); err != nil {
			return err
		}
		if t.ex.coll == nil {
			p.checkReferences()
		}
		p.summary = fmt.Sprintf("Remove %s", p.where())
		return nil
	case tFirewallRule:
		list, ok := t.rules.expr.(*hclsyntax.TupleConsExpr)
		site := siteAt(t.rules, t.ruleIdx)
		if !ok || site == nil {
			return fmt.Errorf("iac: the %s input of %s is not written as a list; edit it by hand", t.rulesInput, t.in.prefix+t.b.addr())
		}
		j := slices.Index(list.Exprs, site)
		ed, err := p.editorFor(list.SrcRange)
		if err != nil || j < 0 {
			return cmp.Or(err, errors.New("iac: internal error: rule element not found"))
		}
		p.checkShared(list.SrcRange, "the "+t.rulesInput+" list")
		if err := replaceSeq(ed, list.SrcRange, tupleItems(list), seqEdit{remove: map[int]bool{j: true}, insertAt: -1, tuple: true}); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Remove the rule %s from %s", quote(t.name), p.where())
		return nil
	}
	return fmt.Errorf("iac: remove-resource cannot remove %s", p.m.Address)
}

// removeInstance removes a resource instance: its element or entry in the for_each
// collection, or the whole block.
func (p *patcher) removeInstance() error {
	t := p.t
	if t.ex.coll != nil {
		coll := t.ex.coll
		switch x := coll.expr.(type) {
		case *hclsyntax.TupleConsExpr:
			site := siteAt(coll, t.ex.at)
			j := slices.Index(x.Exprs, site)
			if j < 0 {
				return fmt.Errorf("iac: the for_each of %s is not written as a list; edit it by hand", p.m.Address)
			}
			ed, err := p.editorFor(x.SrcRange)
			if err != nil {
				return err
			}
			p.checkShared(x.SrcRange, "the for_each collection")
			if err := replaceSeq(ed, x.SrcRange, tupleItems(x), seqEdit{remove: map[int]bool{j: true}, insertAt: -1, tuple: true}); err != nil {
				return err
			}
			p.destroys = append(p.destroys, p.m.Address)
			return nil
		case *hclsyntax.ObjectConsExpr:
			it := coll.items[t.ex.at]
			j := slices.IndexFunc(x.Items, func(o hclsyntax.ObjectConsItem) bool { return it.site != nil && o.KeyExpr == it.site.KeyExpr })
			if j < 0 {
				return fmt.Errorf("iac: the for_each of %s is not written as a map; edit it by hand", p.m.Address)
			}
			ed, err := p.editorFor(x.SrcRange)
			if err != nil {
				return err
			}
			p.checkShared(x.SrcRange, "the for_each collection")
			if err := replaceSeq(ed, x.SrcRange, objectItems(x), seqEdit{remove: map[int]bool{j: true}, insertAt: -1}); err != nil {
				return err
			}
			p.destroys = append(p.destroys, p.m.Address)
			return nil
		}
		return fmt.Errorf("iac: the for_each of %s is not written as a list or a map; edit it by hand", p.m.Address)
	}
	if t.ex.key != "" {
		return fmt.Errorf("iac: %s is one instance of a block with count; edit it by hand", p.m.Address)
	}
	ed, err := p.editorFor(t.b.b.Range())
	if err != nil {
		return err
	}
	removeBlock(ed, t.b.b, 0)
	p.destroys = append(p.destroys, p.m.Address)
	return nil
}

// checkReferences warns about other blocks of the module that refer to a removed resource.
func (p *patcher) checkReferences() {
	t := p.t
	ref := regexp.MustCompile(`\b` + regexp.QuoteMeta(t.b.typ+"."+t.b.name) + `\b`)
	own := t.b.b.Range()
	for _, f := range t.in.mod.files {
		for _, loc := range ref.FindAllIndex(f.src, -1) {
			if f.path == own.Filename && loc[0] >= own.Start.Byte && loc[0] < own.End.Byte {
				continue
			}
			line := 1 + strings.Count(string(f.src[:loc[0]]), "\n")
			p.warn("%s:%d still refers to %s; remove or change that too", f.path, line, t.b.typ+"."+t.b.name)
		}
	}
}

// ---- add-deny-firewall

// denyRule is one protocol and its ports for a deny block.
type denyRule struct {
	protocol string
	ports    []string
}

// denyRules reads params["ports"] ("22", "20-30", "udp:3389") or, without it, the
// evidence's exposed protocols and ports.
func denyRules(params, evidence map[string]any) ([]denyRule, error) {
	var out []denyRule
	add := func(proto, port string) {
		for i := range out {
			if out[i].protocol == proto {
				if port != "" && !slices.Contains(out[i].ports, port) {
					out[i].ports = append(out[i].ports, port)
				}
				return
			}
		}
		r := denyRule{protocol: proto}
		if port != "" {
			r.ports = []string{port}
		}
		out = append(out, r)
	}
	portRe := regexp.MustCompile(`^[0-9]{1,5}(-[0-9]{1,5})?$`)
	protoRe := regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	ports, ok, err := paramStrings(params, "ports")
	if err != nil {
		return nil, err
	}
	if ok {
		for _, s := range ports {
			proto, port, found := strings.Cut(s, ":")
			if !found {
				proto, port = "tcp", s
			}
			proto = strings.ToLower(proto)
			if !protoRe.MatchString(proto) || !portRe.MatchString(port) {
				return nil, fmt.Errorf("iac: parameter ports: %s is not a port such as \"22\", \"20-30\" or \"udp:3389\"", quote(s))
			}
			add(proto, port)
		}
		if len(out) == 0 {
			return nil, errors.New("iac: parameter ports is empty")
		}
		return out, nil
	}
	var exposed []map[string]any
	switch v := evidence["exposed"].(type) {
	case []map[string]any:
		exposed = v
	case []any:
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				exposed = append(exposed, m)
			}
		}
	}
	for _, e := range exposed {
		proto, _ := e["protocol"].(string)
		proto = strings.ToLower(proto)
		if !protoRe.MatchString(proto) {
			return nil, fmt.Errorf("iac: evidence.exposed: protocol %s is not a protocol name", quote(proto))
		}
		var ports []string
		switch ps := e["ports"].(type) {
		case []string:
			ports = ps
		case []any:
			for _, x := range ps {
				if s, ok := x.(string); ok {
					ports = append(ports, s)
				}
			}
		}
		if len(ports) == 0 {
			add(proto, "")
			continue
		}
		for _, port := range ports {
			if !portRe.MatchString(port) {
				return nil, fmt.Errorf("iac: evidence.exposed: %s is not a port", quote(port))
			}
			add(proto, port)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("iac: add-deny-firewall needs params.ports or evidence.exposed")
	}
	return out, nil
}

// denyName derives the deny rule's name from the open rule's: NAME-deny-world, cut to the
// 63 characters GCP allows.
func denyName(name string) (string, error) {
	const suffix = "-deny-world"
	if !regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`).MatchString(name) {
		return "", fmt.Errorf("iac: the firewall name %s is not a valid GCP name; cannot derive a deny rule's name", quote(name))
	}
	base := name
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	return base + suffix, nil
}

func (p *patcher) addDeny(params, evidence map[string]any) error {
	deny, err := denyRules(params, evidence)
	if err != nil {
		return err
	}
	offset := 1
	if v, ok := params["priorityOffset"]; ok && v != nil {
		switch n := v.(type) {
		case int:
			offset = n
		case int64:
			offset = int(n)
		case float64:
			offset = int(n)
		default:
			return fmt.Errorf("iac: parameter priorityOffset: want an int, got %T", v)
		}
		if offset < 1 || offset > 65535 {
			return fmt.Errorf("iac: parameter priorityOffset: %d is out of 1..65535", offset)
		}
	}
	t := p.t
	name, err := denyName(t.name)
	if err != nil {
		return err
	}
	priorityOf := func(v *val) (int, error) {
		if v == nil || v.kind == kNull {
			return 1000, nil
		}
		s, ok := v.str()
		n, err := strconv.Atoi(s)
		if !ok || err != nil {
			return 0, fmt.Errorf("iac: the priority of %s could not be evaluated", p.m.Address)
		}
		return n, nil
	}
	switch t.kind {
	case tFirewall:
		if t.ex.key != "" {
			return fmt.Errorf("iac: %s has count or for_each; add the deny rule by hand", p.m.Address)
		}
		prio, err := priorityOf(arg(t.ex.sc, t.b.b, "priority"))
		if err != nil {
			return err
		}
		if prio-offset < 0 {
			return fmt.Errorf("iac: %s has priority %d; a deny rule cannot be placed %d above it", p.m.Address, prio, offset)
		}
		src := t.b.file.src
		copyAttr := func(n string) string {
			if a := t.b.attr(n); a != nil {
				r := a.Expr.Range()
				return string(src[r.Start.Byte:r.End.Byte])
			}
			return ""
		}
		label := t.b.name + "_deny_world"
		for i := 2; t.in.block("resource", t.b.typ, label) != nil; i++ {
			label = fmt.Sprintf("%s_deny_world_%d", t.b.name, i)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# Added by zerodrift: denies from the internet what %s admits.\n", t.b.addr())
		fmt.Fprintf(&b, "resource %s %s {\n", quote(t.b.typ), quote(label))
		attrs := [][2]string{{"name", quote(name)}}
		for _, n := range []string{"project", "network"} {
			if s := copyAttr(n); s != "" && !strings.Contains(s, "\n") {
				attrs = append(attrs, [2]string{n, s})
			}
		}
		attrs = append(attrs, [2]string{"direction", `"INGRESS"`}, [2]string{"priority", strconv.Itoa(prio - offset)},
			[2]string{"source_ranges", `["0.0.0.0/0", "::/0"]`})
		for _, n := range []string{"target_tags", "target_service_accounts"} {
			if s := copyAttr(n); s != "" && !strings.Contains(s, "\n") {
				attrs = append(attrs, [2]string{n, s})
			}
		}
		for _, a := range attrs {
			fmt.Fprintf(&b, "  %s = %s\n", a[0], a[1])
		}
		for _, d := range deny {
			fmt.Fprintf(&b, "\n  deny {\n    protocol = %s\n", quote(d.protocol))
			if len(d.ports) > 0 {
				fmt.Fprintf(&b, "    ports = %s\n", tupleText(d.ports))
			}
			b.WriteString("  }\n")
		}
		// Logged, like every rule of the baseline (firewall-logging-disabled).
		b.WriteString("\n  log_config {\n    metadata = \"INCLUDE_ALL_METADATA\"\n  }\n")
		b.WriteString("}\n")
		ed, err := p.editorFor(t.b.b.Range())
		if err != nil {
			return err
		}
		insertBlockAfter(ed, t.b.b, b.String())
		p.creates = append(p.creates, t.in.prefix+t.b.typ+"."+label)
		p.summary = fmt.Sprintf("Add the deny rule %s (priority %d) next to %s", quote(name), prio-offset, p.where())
		return nil
	case tFirewallRule:
		list, ok := t.rules.expr.(*hclsyntax.TupleConsExpr)
		site := siteAt(t.rules, t.ruleIdx)
		if !ok || site == nil {
			return fmt.Errorf("iac: the %s input of %s is not written as a list; edit it by hand", t.rulesInput, t.in.prefix+t.b.addr())
		}
		j := slices.Index(list.Exprs, site)
		if j < 0 {
			return errors.New("iac: internal error: rule element not found")
		}
		prio, err := priorityOf(t.elem.attr("priority"))
		if err != nil {
			return err
		}
		if prio-offset < 0 {
			return fmt.Errorf("iac: %s has priority %d; a deny rule cannot be placed %d above it", p.m.Address, prio, offset)
		}
		ed, err := p.editorFor(list.SrcRange)
		if err != nil {
			return err
		}
		indent := indentOf(ed.f.src, site.Range().Start.Byte)
		rangesKey := "ranges"
		if t.rulesInput == "ingress_rules" {
			rangesKey = "source_ranges"
		}
		lines := []string{"{", "  name = " + quote(name)}
		if t.rulesInput == "rules" {
			lines = append(lines, `  direction = "INGRESS"`)
		}
		lines = append(lines, "  priority = "+strconv.Itoa(prio-offset), "  "+rangesKey+` = ["0.0.0.0/0", "::/0"]`)
		if obj, ok := t.elem.expr.(*hclsyntax.ObjectConsExpr); ok {
			for _, n := range []string{"target_tags", "target_service_accounts"} {
				if i := objectItemIndex(obj, n); i >= 0 {
					r := obj.Items[i].ValueExpr.Range()
					if s := string(ed.f.src[r.Start.Byte:r.End.Byte]); !strings.Contains(s, "\n") {
						lines = append(lines, "  "+n+" = "+s)
					}
				}
			}
		}
		var denies []string
		for _, d := range deny {
			s := "{ protocol = " + quote(d.protocol)
			if len(d.ports) > 0 {
				s += ", ports = " + tupleText(d.ports)
			}
			denies = append(denies, s+" }")
		}
		lines = append(lines, "  deny = ["+strings.Join(denies, ", ")+"]")
		if t.rulesInput == "rules" {
			lines = append(lines, "  allow = []")
		}
		lines = append(lines, "}")
		text := strings.Join(lines, "\n")
		text = strings.ReplaceAll(text, "\n", "\n"+indent)
		p.checkShared(list.SrcRange, "the "+t.rulesInput+" list")
		if err := replaceSeq(ed, list.SrcRange, tupleItems(list), seqEdit{insertAt: j + 1, insert: []string{text}, tuple: true}); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Add the deny rule %s (priority %d) after %s", quote(name), prio-offset, p.where())
		return nil
	}
	return fmt.Errorf("iac: %s is not a firewall rule", p.m.Address)
}
