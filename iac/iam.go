package iac

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zerodrift/zerodrift/inventory"
)

// moduleShape is a public module whose inputs zerodrift understands.
type moduleShape uint8

const (
	shapeNone moduleShape = iota
	shapeFirewallRules
	shapeProjectsIAM
	shapeFoldersIAM
	shapeOrganizationsIAM
	// shapeNetwork is the network module itself, whose subnets input zerodrift understands
	// (and nothing else: it stays opaque for networks and firewall rules).
	shapeNetwork
	shapeSubnets
)

// moduleShapeOf recognises a module source: the registry address, a GitHub or git address of
// the module's repository, or a local path that ends in the module's directory (a vendored
// copy).
func moduleShapeOf(source string) moduleShape {
	s := strings.ToLower(source)
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	_, local := localSourceDir("", source)
	type shape struct {
		registry, repo, dir string
		shape               moduleShape
	}
	for _, sh := range []shape{
		{"terraform-google-modules/network/google", "terraform-google-modules/terraform-google-network", "modules/firewall-rules", shapeFirewallRules},
		{"terraform-google-modules/iam/google", "terraform-google-modules/terraform-google-iam", "modules/projects_iam", shapeProjectsIAM},
		{"terraform-google-modules/iam/google", "terraform-google-modules/terraform-google-iam", "modules/folders_iam", shapeFoldersIAM},
		{"terraform-google-modules/iam/google", "terraform-google-modules/terraform-google-iam", "modules/organizations_iam", shapeOrganizationsIAM},
		{"terraform-google-modules/network/google", "terraform-google-modules/terraform-google-network", "modules/subnets", shapeSubnets},
		{"terraform-google-modules/network/google", "terraform-google-modules/terraform-google-network", "", shapeNetwork},
	} {
		if local {
			if sh.dir != "" && strings.HasSuffix(s, "/"+sh.dir) {
				return sh.shape
			}
			continue
		}
		root, sub, ok := strings.Cut(s, "//")
		if strings.Contains(s, "://") {
			// git::https://github.com/org/repo.git//modules/x
			scheme, rest, _ := strings.Cut(s, "://")
			root, sub, ok = strings.Cut(rest, "//")
			root = scheme + "://" + root
		}
		if sh.dir == "" && !ok {
			ok = true // the module at the root of its repository
		}
		if !ok || strings.TrimSuffix(sub, "/") != sh.dir {
			continue
		}
		root = strings.TrimSuffix(root, ".git")
		if strings.HasSuffix(root, sh.registry) || strings.HasSuffix(root, sh.repo) {
			return sh.shape
		}
	}
	return shapeNone
}

// moduleCalls yields every instance of every call of a module of the given shape.
func (ix *Index) moduleCalls(shape moduleShape, fn func(in *instance, b *tfBlock, ex expansion)) {
	for _, in := range ix.instances {
		for _, b := range in.mod.blocks {
			if b.kind == "module" && b.shape == shape {
				for _, ex := range in.expansionsOf(b) {
					fn(in, b, ex)
				}
			}
		}
	}
}

// iamScope is the resource an IAM policy belongs to.
type iamScope struct {
	kind     string // "project", "folder" or "organization"
	id       identity
	attr     string // the argument of google_<kind>_iam_*: project, folder, org_id
	prefixes []string
	// moduleShape and moduleInput name the module that grants roles on this kind of
	// resource and the input listing the resources.
	moduleShape moduleShape
	moduleInput string
}

func iamScopeOf(assetType, path string, ev map[string]any) (iamScope, bool) {
	coll, id, ok := strings.Cut(path, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return iamScope{}, false
	}
	switch {
	case assetType == inventory.TypeProject && coll == "projects":
		return iamScope{kind: "project", id: projectIdentity(id, ev), attr: "project", prefixes: []string{"projects/"},
			moduleShape: shapeProjectsIAM, moduleInput: "projects"}, true
	case assetType == inventory.TypeFolder && coll == "folders":
		return iamScope{kind: "folder", id: identity{number: id}, attr: "folder", prefixes: []string{"folders/"},
			moduleShape: shapeFoldersIAM, moduleInput: "folders"}, true
	case assetType == inventory.TypeOrganization && coll == "organizations":
		return iamScope{kind: "organization", id: identity{number: id}, attr: "org_id", prefixes: []string{"organizations/"},
			moduleShape: shapeOrganizationsIAM, moduleInput: "organizations"}, true
	}
	return iamScope{}, false
}

// scopeOf evaluates the resource an IAM resource block applies to; a project defaults to
// the provider's.
func (s iamScope) of(in *instance, b *tfBlock, sc *scope) *val {
	if v := arg(sc, b.b, s.attr); v != nil {
		return v
	}
	if s.kind == "project" {
		return in.providerProject(b, sc)
	}
	return unknown(nil)
}

// condVals is a condition as Terraform writes it: a condition block or the fields of a
// module's conditional binding.
type condVals struct{ title, expression *val }

func condBlock(sc *scope, body *hclsyntax.Body) (*condVals, bool) {
	for _, b := range body.Blocks {
		switch b.Type {
		case "condition":
			return &condVals{title: arg(sc, b, "title"), expression: arg(sc, b, "expression")}, true
		case "dynamic":
			if len(b.Labels) == 1 && b.Labels[0] == "condition" {
				return nil, false
			}
		}
	}
	return nil, true
}

// fitCondition compares a declared condition with the live one; both nil is a match.
func fitCondition(tf *condVals, known bool, live *condition) fit {
	if !known {
		return fitMaybe
	}
	if tf == nil || live == nil {
		if tf == nil && live == nil {
			return fitYes
		}
		return fitNo
	}
	f := fitYes
	if tf.expression == nil {
		return fitNo
	}
	f = min(f, fitTrimmed(tf.expression, live.expression))
	if tf.title != nil && live.title != "" {
		f = min(f, fitTrimmed(tf.title, live.title))
	}
	return f
}

func fitTrimmed(v *val, want string) fit {
	if s, ok := v.str(); ok {
		if strings.TrimSpace(s) == strings.TrimSpace(want) {
			return fitYes
		}
		return fitNo
	}
	return fitString(v, strings.TrimSpace(want), false)
}

// memberIn finds a member in a list of members: the index of an exact element, or -1 with
// fitMaybe when an element (or the list) could not be evaluated.
func memberIn(list *val, member string) (int, fit) {
	if list == nil {
		return -1, fitNo
	}
	if list.kind != kList {
		if list.kind == kUnknown {
			return -1, fitMaybe
		}
		return -1, fitNo
	}
	best := fitNo
	for i, e := range list.elems {
		switch fitString(e, member, true) {
		case fitYes:
			return i, fitYes
		case fitMaybe:
			best = fitMaybe
		}
	}
	return -1, best
}

// iamHits finds the declarations of a grant of role to member on a project, folder or
// organization: *_iam_member, *_iam_binding, *_iam_policy with its data
// "google_iam_policy", and the terraform-google-modules/iam modules.
func (ix *Index) iamHits(s iamScope, role, member string, cond *condition) []hit {
	var hits []hit
	prefix := "google_" + s.kind
	scopeCheck := func(c *criteria, in *instance, b *tfBlock, sc *scope) {
		v := s.of(in, b, sc)
		c.check(s.kind, v, fitIdentity(v, s.id, false, s.prefixes...), s.id.String())
	}
	// google_*_iam_member
	ix.resourceExpansions("resource", prefix+iamMemberSuffix, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		r, m := arg(ex.sc, b.b, "role"), arg(ex.sc, b.b, "member")
		if r == nil || m == nil {
			return
		}
		c.check("role", r, fitString(r, role, false), role)
		c.check("member", m, fitString(m, member, true), member)
		scopeCheck(c, in, b, ex.sc)
		tc, known := condBlock(ex.sc, b.b.Body)
		c.check("condition", nil, fitCondition(tc, known, cond), condText(cond))
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		hits = append(hits, blockHit(in, b, ex, c, prefix+iamMemberSuffix, &target{kind: tIAMMember, in: in, b: b, ex: ex}))
	})
	// google_*_iam_binding
	ix.resourceExpansions("resource", prefix+iamBindingSuffix, func(in *instance, b *tfBlock, ex expansion) {
		c := ix.newCriteria()
		r, ms := arg(ex.sc, b.b, "role"), arg(ex.sc, b.b, "members")
		if r == nil || ms == nil {
			return
		}
		c.check("role", r, fitString(r, role, false), role)
		idx, mf := memberIn(ms, member)
		c.check("member", ms, mf, member)
		scopeCheck(c, in, b, ex.sc)
		tc, known := condBlock(ex.sc, b.b.Body)
		c.check("condition", nil, fitCondition(tc, known, cond), condText(cond))
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		h := blockHit(in, b, ex, c, prefix+iamBindingSuffix, &target{kind: tIAMBinding, in: in, b: b, ex: ex, members: ms, memberIdx: idx})
		if idx >= 0 {
			h.file, h.line = valLine(ms.elems[idx], siteAt(ms, idx), h.line)
		}
		hits = append(hits, h)
	})
	// google_*_iam_policy + data "google_iam_policy"
	ix.resourceExpansions("resource", prefix+iamPolicySuffix, func(in *instance, b *tfBlock, ex expansion) {
		hits = append(hits, ix.policyHits(s, in, b, ex, role, member, cond, prefix+iamPolicySuffix, scopeCheck)...)
	})
	// terraform-google-modules/iam
	ix.moduleCalls(s.moduleShape, func(in *instance, b *tfBlock, ex expansion) {
		hits = append(hits, ix.iamModuleHits(s, in, b, ex, role, member, cond)...)
	})
	if s.kind == "project" {
		hits = append(hits, ix.opaqueModuleHits(s.id, []string{role, member}, "role and member")...)
	} else {
		hits = append(hits, ix.opaqueModuleHits(identity{}, []string{role, member}, "role and member")...)
	}
	return hits
}

func condText(c *condition) string {
	if c == nil {
		return "none"
	}
	return c.expression
}

func siteAt(list *val, i int) hclsyntax.Expression {
	if list != nil && list.sites != nil && i >= 0 && i < len(list.sites) {
		return list.sites[i]
	}
	return nil
}

// policyHits matches the bindings of the data "google_iam_policy" an *_iam_policy resource
// uses.
func (ix *Index) policyHits(s iamScope, in *instance, b *tfBlock, ex expansion, role, member string, cond *condition,
	kind string, scopeCheck func(*criteria, *instance, *tfBlock, *scope)) []hit {
	a := b.attr("policy_data")
	if a == nil {
		return nil
	}
	var data *tfBlock
	if tr, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr); ok && len(tr.Traversal) == 4 {
		parts := strings.Split(traversalKey(tr.Traversal), ".")
		if len(parts) == 4 && parts[0] == "data" && parts[1] == "google_iam_policy" && parts[3] == "policy_data" {
			data = in.block("data", "google_iam_policy", parts[2])
		}
	}
	if data == nil {
		c := ix.newCriteria()
		scopeCheck(c, in, b, ex.sc)
		if c.fit == fitNo {
			return nil
		}
		c.uncertain(fmt.Sprintf("policy_data is %s, which is not a data \"google_iam_policy\" in the same module",
			ix.exprText(&val{expr: a.Expr})))
		return []hit{blockHit(in, b, ex, c, kind, nil)}
	}
	var hits []hit
	dsc := &scope{in: in}
	for _, bb := range data.b.Body.Blocks {
		if bb.Type == "dynamic" && len(bb.Labels) == 1 && bb.Labels[0] == "binding" {
			c := ix.newCriteria()
			scopeCheck(c, in, b, ex.sc)
			c.uncertain("a dynamic \"binding\" block of " + data.addr() + " could not be evaluated")
			if c.fit != fitNo {
				h := blockHit(in, b, ex, c, kind, nil)
				h.file, h.line = data.file.path, bb.TypeRange.Start.Line
				hits = append(hits, h)
			}
			continue
		}
		if bb.Type != "binding" {
			continue
		}
		c := ix.newCriteria()
		r, ms := arg(dsc, bb, "role"), arg(dsc, bb, "members")
		if r == nil || ms == nil {
			continue
		}
		c.check("role", r, fitString(r, role, false), role)
		idx, mf := memberIn(ms, member)
		c.check("member", ms, mf, member)
		scopeCheck(c, in, b, ex.sc)
		tc, known := condBlock(dsc, bb.Body)
		c.check("condition", nil, fitCondition(tc, known, cond), condText(cond))
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			continue
		}
		h := blockHit(in, b, ex, c, kind, &target{kind: tIAMPolicy, in: in, b: data, ex: ex, members: ms, memberIdx: idx, binding: bb})
		h.why += " (in a binding of " + data.addr() + ")"
		h.file, h.line = data.file.path, bb.TypeRange.Start.Line
		if idx >= 0 {
			h.file, h.line = valLine(ms.elems[idx], siteAt(ms, idx), h.line)
		}
		hits = append(hits, h)
	}
	return hits
}

// iamModuleHits matches a call of the projects_iam (folders_iam, organizations_iam) module:
// its resource list input, bindings = { "roles/x" = [members] } and conditional_bindings.
func (ix *Index) iamModuleHits(s iamScope, in *instance, b *tfBlock, ex expansion, role, member string, cond *condition) []hit {
	scopes := arg(ex.sc, b.b, s.moduleInput)
	if scopes == nil {
		return nil
	}
	_, sf := listFit(scopes, func(v *val) fit { return fitIdentity(v, s.id, false, s.prefixes...) })
	if sf == fitNo {
		return nil
	}
	var scopeNames []string
	if ss, ok := scopes.strings(); ok {
		scopeNames = ss
	}
	base := in.prefix + "module." + b.name + ex.key
	var hits []hit
	add := func(c *criteria, v *val, site hclsyntax.Expression, addr string, t *target) {
		c.check(s.moduleInput, scopes, sf, s.id.String())
		c.uncertain(ex.uncertain)
		if c.fit == fitNo {
			return
		}
		file, line := valLine(v, site, b.b.TypeRange.Start.Line)
		if file == "" {
			file = b.file.path
		}
		if t != nil {
			t.scopes = scopeNames
		}
		hits = append(hits, hit{exact: c.fit == fitYes, file: file, line: line, addr: addr, kind: KindIAMModule, root: in.root, why: c.why(), t: t})
	}
	if cond == nil {
		if bindings := arg(ex.sc, b.b, "bindings"); bindings != nil {
			switch bindings.kind {
			case kMap:
				for i, it := range bindings.items {
					c := ix.newCriteria()
					if it.keyKnown {
						c.check("role", nil, fitString(&val{kind: kString, s: it.key}, role, false), role)
					} else {
						c.uncertain("a role key of bindings could not be evaluated")
					}
					idx, mf := memberIn(it.v, member)
					c.check("member", it.v, mf, member)
					var site hclsyntax.Expression
					if idx >= 0 {
						site = siteAt(it.v, idx)
					} else if it.site != nil {
						site = it.site.KeyExpr
					}
					var elem *val
					if idx >= 0 {
						elem = it.v.elems[idx]
					}
					add(c, elem, site, base+".bindings["+quote(it.key)+"]",
						&target{kind: tIAMModule, in: in, b: b, ex: ex, bindings: bindings, bindingIdx: i, members: it.v, memberIdx: idx})
				}
			case kUnknown:
				c := ix.newCriteria()
				c.uncertain("bindings is " + ix.exprText(bindings) + ", which could not be evaluated")
				add(c, nil, nil, base+".bindings", nil)
			}
		}
	}
	if conds := arg(ex.sc, b.b, "conditional_bindings"); conds != nil {
		switch conds.kind {
		case kList:
			for i, e := range conds.elems {
				c := ix.newCriteria()
				r := e.attr("role")
				if r == nil {
					continue
				}
				c.check("role", r, fitString(r, role, false), role)
				ms := e.attr("members")
				idx, mf := memberIn(ms, member)
				c.check("member", ms, mf, member)
				var tc *condVals
				if ex := e.attr("expression"); ex != nil {
					tc = &condVals{title: e.attr("title"), expression: ex}
				}
				c.check("condition", nil, fitCondition(tc, true, cond), condText(cond))
				site := siteAt(conds, i)
				var elem *val
				if idx >= 0 {
					site, elem = siteAt(ms, idx), ms.elems[idx]
				}
				add(c, elem, site, fmt.Sprintf("%s.conditional_bindings[%d]", base, i),
					&target{kind: tIAMModuleConditional, in: in, b: b, ex: ex, conds: conds, condIdx: i, members: ms, memberIdx: idx})
			}
		case kUnknown:
			c := ix.newCriteria()
			c.uncertain("conditional_bindings is " + ix.exprText(conds) + ", which could not be evaluated")
			add(c, nil, nil, base+".conditional_bindings", nil)
		}
	}
	return hits
}

// listFit applies f to each element of a list and returns the best fit and its index.
func listFit(list *val, f func(*val) fit) (int, fit) {
	if list.kind == kUnknown {
		return -1, fitMaybe
	}
	if list.kind != kList {
		return -1, fitNo
	}
	best, at := fitNo, -1
	for i, e := range list.elems {
		if x := f(e); x > best {
			best, at = x, i
		}
	}
	return at, best
}
