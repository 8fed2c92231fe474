package iac

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// This file holds the evaluator. It knows literals, var.*, local.*, each.*, count.index,
// string interpolation, tuples and objects, indexing into them, and the conversions toset,
// tolist and tomap (for_each needs them). It also resolves the few attributes of other
// resources that follow from their own arguments (a service account's email, a network's
// name). Everything else is unknown: the evaluator never guesses.

// kind is the kind of an evaluated value.
type kind uint8

const (
	kUnknown kind = iota
	kNull
	kString
	kNumber
	kBool
	kList
	kMap
)

// part is one piece of a partly known string: a literal or a hole that stands for any text.
type part struct {
	lit  string
	hole bool
}

// mapItem is one entry of an evaluated map or object.
type mapItem struct {
	key      string
	keyKnown bool
	v        *val
	// site is the item as written, when the map is an object constructor.
	site *hclsyntax.ObjectConsItem
}

// val is an evaluated value together with where it was written.
type val struct {
	kind kind
	s    string // text of a string, number or bool
	// parts describes an unknown string whose pieces are partly known, e.g. "${var.x}-ssh".
	parts []part
	elems []*val
	// sites holds, for a list written as a tuple, the element expressions as written,
	// parallel to elems; nil otherwise.
	sites []hclsyntax.Expression
	items []mapItem
	// expr is the expression the value comes from (after following references).
	expr hclsyntax.Expression
	// incomplete marks a map with an item whose key is unknown.
	incomplete bool
}

func unknown(e hclsyntax.Expression) *val { return &val{kind: kUnknown, expr: e} }

func (v *val) known() bool { return v != nil && v.kind != kUnknown }

// str returns the value's text and whether it is a known string (numbers and bools count,
// as Terraform converts them).
func (v *val) str() (string, bool) {
	if v == nil {
		return "", false
	}
	switch v.kind {
	case kString, kNumber, kBool:
		return v.s, true
	}
	return "", false
}

// pattern returns the value as a string pattern: a known string is one literal, an
// unknown value a single hole (or its known parts), and anything else nil (never a string).
func (v *val) pattern() []part {
	if s, ok := v.str(); ok {
		return []part{{lit: s}}
	}
	if v == nil || v.kind == kUnknown {
		if v != nil && v.parts != nil {
			return v.parts
		}
		return []part{{hole: true}}
	}
	return nil
}

// get returns the map item with key k.
func (v *val) get(k string) (*val, bool) {
	if v == nil || v.kind != kMap {
		return nil, false
	}
	for _, it := range v.items {
		if it.keyKnown && it.key == k {
			return it.v, true
		}
	}
	return nil, false
}

// attr returns the map item k, unknown when v is unknown or incomplete and lacks it, and nil
// when v is known and lacks it.
func (v *val) attr(k string) *val {
	if it, ok := v.get(k); ok {
		return it
	}
	if v == nil || v.kind == kUnknown || (v.kind == kMap && v.incomplete) {
		return unknown(nil)
	}
	return nil
}

// strings returns the elements of a list as strings; ok is false when the value or an
// element is unknown or not a string.
func (v *val) strings() (out []string, ok bool) {
	if v == nil || v.kind != kList {
		return nil, false
	}
	for _, e := range v.elems {
		s, ok := e.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// scope is what names mean where an expression is evaluated.
type scope struct {
	in *instance
	// each is set inside a block with for_each; eachKey and eachValue may be unknown.
	each               bool
	eachKey, eachValue *val
	// countIndex is set inside a block with count.
	countIndex *val
}

// eval evaluates e in sc.
func (sc *scope) eval(e hclsyntax.Expression) *val {
	return sc.evalDepth(e, 0)
}

// maxEvalDepth bounds nesting and reference chains, so hostile input cannot exhaust the stack.
const maxEvalDepth = 64

func (sc *scope) evalDepth(e hclsyntax.Expression, depth int) *val {
	if e == nil {
		return unknown(nil)
	}
	if depth > maxEvalDepth {
		return unknown(e)
	}
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return fromCty(e.Val, e)
	case *hclsyntax.TemplateExpr:
		return sc.evalTemplate(e, depth)
	case *hclsyntax.TemplateWrapExpr:
		return sc.evalDepth(e.Wrapped, depth+1)
	case *hclsyntax.ParenthesesExpr:
		return sc.evalDepth(e.Expression, depth+1)
	case *hclsyntax.ScopeTraversalExpr:
		return sc.evalTraversal(e, depth)
	case *hclsyntax.RelativeTraversalExpr:
		return applyTraversal(sc.evalDepth(e.Source, depth+1), e.Traversal, e)
	case *hclsyntax.IndexExpr:
		coll := sc.evalDepth(e.Collection, depth+1)
		key := sc.evalDepth(e.Key, depth+1)
		k, ok := key.str()
		if !ok {
			return unknown(e)
		}
		return index(coll, k, e)
	case *hclsyntax.TupleConsExpr:
		v := &val{kind: kList, expr: e, sites: e.Exprs}
		for _, x := range e.Exprs {
			v.elems = append(v.elems, sc.evalDepth(x, depth+1))
		}
		return v
	case *hclsyntax.ObjectConsExpr:
		v := &val{kind: kMap, expr: e}
		for i := range e.Items {
			it := &e.Items[i]
			key, known := sc.objectKey(it.KeyExpr, depth)
			if !known {
				v.incomplete = true
			}
			v.items = append(v.items, mapItem{key: key, keyKnown: known, v: sc.evalDepth(it.ValueExpr, depth+1), site: it})
		}
		return v
	case *hclsyntax.FunctionCallExpr:
		return sc.evalCall(e, depth)
	}
	return unknown(e)
}

// objectKey evaluates an object constructor's key: a naked identifier is a literal name.
func (sc *scope) objectKey(k hclsyntax.Expression, depth int) (string, bool) {
	if ck, ok := k.(*hclsyntax.ObjectConsKeyExpr); ok {
		if !ck.ForceNonLiteral {
			if name := hcl.ExprAsKeyword(ck.Wrapped); name != "" {
				return name, true
			}
		}
		k = ck.Wrapped
	}
	return sc.evalDepth(k, depth+1).str()
}

// evalCall knows only the type conversions that for_each and module inputs are written
// with; they do not compute new values, so the result keeps its origin.
func (sc *scope) evalCall(e *hclsyntax.FunctionCallExpr, depth int) *val {
	if len(e.Args) != 1 || e.ExpandFinal {
		return unknown(e)
	}
	arg := sc.evalDepth(e.Args[0], depth+1)
	switch e.Name {
	case "tolist", "tomap":
		if arg.kind == kUnknown {
			return unknown(e)
		}
		return arg
	case "toset":
		if arg.kind != kList {
			return unknown(e)
		}
		out := &val{kind: kList, expr: arg.expr}
		seen := map[string]bool{}
		for i, x := range arg.elems {
			s, ok := x.str()
			if !ok {
				return unknown(e) // a set of unknowns cannot be keyed
			}
			if seen[s] {
				continue
			}
			seen[s] = true
			out.elems = append(out.elems, x)
			if arg.sites != nil {
				out.sites = append(out.sites, arg.sites[i])
			}
		}
		return out
	}
	return unknown(e)
}

// evalTemplate joins a string template's parts; unknown parts become holes.
func (sc *scope) evalTemplate(e *hclsyntax.TemplateExpr, depth int) *val {
	var parts []part
	add := func(p part) {
		if n := len(parts); n > 0 && !p.hole && !parts[n-1].hole {
			parts[n-1].lit += p.lit
			return
		}
		if n := len(parts); n > 0 && p.hole && parts[n-1].hole {
			return
		}
		parts = append(parts, p)
	}
	for _, p := range e.Parts {
		v := sc.evalDepth(p, depth+1)
		switch {
		case v.kind == kString || v.kind == kNumber || v.kind == kBool:
			add(part{lit: v.s})
		case v.kind == kUnknown && v.parts != nil:
			for _, q := range v.parts {
				add(q)
			}
		case v.kind == kUnknown:
			add(part{hole: true})
		default:
			return unknown(e) // null or a collection in a template is an error in Terraform
		}
	}
	if len(parts) == 0 {
		return &val{kind: kString, expr: e}
	}
	if len(parts) == 1 && !parts[0].hole {
		return &val{kind: kString, s: parts[0].lit, expr: e}
	}
	return &val{kind: kUnknown, parts: parts, expr: e}
}

// evalTraversal resolves var.*, local.*, each.*, count.index and derivable resource
// attributes, then walks the rest of the traversal.
func (sc *scope) evalTraversal(e *hclsyntax.ScopeTraversalExpr, depth int) *val {
	v := sc.resolveTraversal(e, depth)
	if v.kind == kUnknown && v.expr == nil {
		c := *v
		c.expr = e // explain an unknown by the reference that produced it
		return &c
	}
	return v
}

func (sc *scope) resolveTraversal(e *hclsyntax.ScopeTraversalExpr, depth int) *val {
	tr := e.Traversal
	if len(tr) == 0 {
		return unknown(e)
	}
	attrAt := func(i int) (string, bool) {
		if i >= len(tr) {
			return "", false
		}
		a, ok := tr[i].(hcl.TraverseAttr)
		return a.Name, ok
	}
	root := tr.RootName()
	switch root {
	case "var":
		name, ok := attrAt(1)
		if !ok || sc.in == nil {
			return unknown(e)
		}
		v, declared := sc.in.vars[name]
		if !declared || v == nil {
			return unknown(e)
		}
		return applyTraversal(v, tr[2:], e)
	case "local":
		name, ok := attrAt(1)
		if !ok || sc.in == nil {
			return unknown(e)
		}
		return applyTraversal(sc.in.local(name, depth+1), tr[2:], e)
	case "each":
		name, ok := attrAt(1)
		if !ok || !sc.each {
			return unknown(e)
		}
		switch name {
		case "key":
			return applyTraversal(orUnknown(sc.eachKey, e), tr[2:], e)
		case "value":
			return applyTraversal(orUnknown(sc.eachValue, e), tr[2:], e)
		}
		return unknown(e)
	case "count":
		if name, ok := attrAt(1); ok && name == "index" && sc.countIndex != nil {
			return applyTraversal(sc.countIndex, tr[2:], e)
		}
		return unknown(e)
	}
	if strings.HasPrefix(root, "google_") && sc.in != nil {
		name, ok1 := attrAt(1)
		attr, ok2 := attrAt(2)
		if ok1 && ok2 {
			return applyTraversal(sc.in.resourceAttr(root, name, attr, depth+1), tr[3:], e)
		}
	}
	return unknown(e)
}

func orUnknown(v *val, e hclsyntax.Expression) *val {
	if v == nil {
		return unknown(e)
	}
	return v
}

// applyTraversal walks attribute and index steps into v.
func applyTraversal(v *val, tr hcl.Traversal, e hclsyntax.Expression) *val {
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseAttr:
			v = index(v, s.Name, e)
		case hcl.TraverseIndex:
			k := fromCty(s.Key, nil)
			key, ok := k.str()
			if !ok {
				return unknown(e)
			}
			v = index(v, key, e)
		default:
			return unknown(e)
		}
	}
	return v
}

// index returns v[key] for a list (numeric key) or a map.
func index(v *val, key string, e hclsyntax.Expression) *val {
	switch v.kind {
	case kList:
		n := 0
		for _, c := range key {
			if c < '0' || c > '9' || n > len(v.elems) {
				return unknown(e)
			}
			n = n*10 + int(c-'0')
		}
		if key == "" || n >= len(v.elems) {
			return unknown(e)
		}
		return v.elems[n]
	case kMap:
		return orUnknown(v.attr(key), e)
	}
	return unknown(e)
}

// fromCty converts a literal.
func fromCty(c cty.Value, e hclsyntax.Expression) *val {
	if !c.IsKnown() {
		return unknown(e)
	}
	if c.IsNull() {
		return &val{kind: kNull, expr: e}
	}
	switch c.Type() {
	case cty.String:
		return &val{kind: kString, s: c.AsString(), expr: e}
	case cty.Number:
		return &val{kind: kNumber, s: c.AsBigFloat().Text('f', -1), expr: e}
	case cty.Bool:
		if c.True() {
			return &val{kind: kBool, s: "true", expr: e}
		}
		return &val{kind: kBool, s: "false", expr: e}
	}
	return unknown(e)
}

// globMatch reports whether s fits the pattern: literals match themselves, holes any text.
// Middle literals are found leftmost-first, which is exact for this kind of pattern and
// linear in the input.
func globMatch(p []part, s string) bool {
	if len(p) > 0 && !p[0].hole {
		rest, ok := strings.CutPrefix(s, p[0].lit)
		if !ok {
			return false
		}
		s, p = rest, p[1:]
	}
	if len(p) == 0 {
		return s == ""
	}
	if last := p[len(p)-1]; !last.hole {
		rest, ok := strings.CutSuffix(s, last.lit)
		if !ok {
			return false
		}
		s, p = rest, p[:len(p)-1]
		if len(p) == 0 {
			return s == ""
		}
	}
	for _, q := range p {
		if q.hole {
			continue
		}
		i := strings.Index(s, q.lit)
		if i < 0 {
			return false
		}
		s = s[i+len(q.lit):]
	}
	return true
}

// fit says how a value compares with a live string.
type fit uint8

const (
	fitNo fit = iota
	fitMaybe
	fitYes
)

// fitString compares a value with the live string want; fold compares without regard to case.
func fitString(v *val, want string, fold bool) fit {
	if s, ok := v.str(); ok {
		if s == want || (fold && strings.EqualFold(s, want)) {
			return fitYes
		}
		return fitNo
	}
	p := v.pattern()
	if p == nil {
		return fitNo
	}
	if fold {
		lp := make([]part, len(p))
		for i, q := range p {
			lp[i] = part{lit: strings.ToLower(q.lit), hole: q.hole}
		}
		p, want = lp, strings.ToLower(want)
	}
	if globMatch(p, want) {
		return fitMaybe
	}
	return fitNo
}
