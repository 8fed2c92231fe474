package iac

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the Terraform edits of subnetworks (enable-subnet-flow-logs,
// enable-private-google-access), instances and project metadata (set-instance-metadata,
// remove-external-ip), networks (add-egress-deny) and a project's audit configuration
// (set-audit-config).

// errAlready starts the error of an edit whose change the Terraform already has: the live
// resource drifted from it, and terraform apply (not a pull request) puts it back.
const errAlready = "iac: %s already %s in Terraform; the live resource drifted from it, and terraform apply restores it"

// ---- enable-subnet-flow-logs and enable-private-google-access

// flowLogIntervals are the aggregation intervals VPC Flow Logs accept.
var flowLogIntervals = []string{"INTERVAL_5_SEC", "INTERVAL_30_SEC", "INTERVAL_1_MIN", "INTERVAL_5_MIN", "INTERVAL_10_MIN", "INTERVAL_15_MIN"}

// flowLogConfig is what enable-subnet-flow-logs writes.
type flowLogConfig struct {
	interval, sampling, metadata string // sampling as Terraform writes the number
}

// flowLogParams reads aggregationInterval, flowSampling (a number in (0, 1], as a number or
// its text) and metadata, with the provider's defaults.
func flowLogParams(params map[string]any) (flowLogConfig, error) {
	var c flowLogConfig
	var err error
	if c.interval, err = paramString(params, "aggregationInterval", "INTERVAL_5_SEC", flowLogIntervals); err != nil {
		return c, err
	}
	if c.metadata, err = paramString(params, "metadata", "INCLUDE_ALL_METADATA", []string{"INCLUDE_ALL_METADATA", "EXCLUDE_ALL_METADATA"}); err != nil {
		return c, err
	}
	f := 0.5
	if v, ok := params["flowSampling"]; ok && v != nil {
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case string:
			if f, err = strconv.ParseFloat(x, 64); err != nil {
				return c, fmt.Errorf("iac: parameter flowSampling: %s is not a number", quote(x))
			}
		default:
			return c, fmt.Errorf("iac: parameter flowSampling: want a number, got %T", v)
		}
	}
	if math.IsNaN(f) || f <= 0 || f > 1 {
		return c, fmt.Errorf("iac: parameter flowSampling: %v is not a sampling rate above 0 and at most 1", f)
	}
	c.sampling = strconv.FormatFloat(f, 'f', -1, 64)
	return c, nil
}

// sameNumber reports whether a value is the number text (0.5 and 0.50 are the same).
func sameNumber(v *val, text string) bool {
	s, ok := v.str()
	if !ok {
		return false
	}
	a, err1 := strconv.ParseFloat(s, 64)
	b, err2 := strconv.ParseFloat(text, 64)
	return err1 == nil && err2 == nil && a == b
}

func (p *patcher) enableFlowLogs(params map[string]any) error {
	c, err := flowLogParams(params)
	if err != nil {
		return err
	}
	t := p.t
	switch t.kind {
	case tSubnetwork:
		b := t.b.b
		ed, err := p.editorFor(b.Range())
		if err != nil {
			return err
		}
		configs, err := p.nestedBlocks(b, "log_config")
		if err != nil {
			return err
		}
		p.warnEveryInstance("flow logs are turned on for every instance")
		if err := p.legacyLoggingOn(ed, b, "enable_flow_logs"); err != nil {
			return err
		}
		want := [][2]string{{"aggregation_interval", quote(c.interval)}, {"flow_sampling", c.sampling}, {"metadata", quote(c.metadata)}}
		if len(configs) == 0 {
			var text strings.Builder
			text.WriteString("log_config {\n")
			for _, kv := range want {
				text.WriteString("  " + kv[0] + " = " + kv[1] + "\n")
			}
			text.WriteString("}\n")
			if err := insertNestedBlock(ed, b, text.String()); err != nil {
				return err
			}
			break
		}
		existing := configs[len(configs)-1]
		sc := t.ex.sc
		if m, ok := arg(sc, existing, "metadata").str(); ok && m == "CUSTOM_METADATA" {
			return fmt.Errorf("iac: the log_config of %s uses CUSTOM_METADATA; the playbook's metadata would drop its metadata_fields: edit it by hand", p.m.Address)
		}
		var edits []edit
		for _, kv := range want {
			v := arg(sc, existing, kv[0])
			switch {
			case v == nil:
				edits = append(edits, edit{existing.CloseBraceRange.Start.Byte, existing.CloseBraceRange.Start.Byte, kv[0] + " = " + kv[1] + "\n"})
			case kv[0] == "flow_sampling" && sameNumber(v, c.sampling), kv[0] != "flow_sampling" && quoteOf(v) == kv[1]:
			default:
				r := existing.Body.Attributes[kv[0]].Expr.Range()
				edits = append(edits, edit{r.Start.Byte, r.End.Byte, kv[1]})
			}
		}
		if len(edits) == 0 && len(ed.edits) == 0 {
			return fmt.Errorf(errAlready, p.m.Address, "has this log_config")
		}
		if len(edits) > 0 {
			if err := rewriteNested(ed, existing, edits); err != nil {
				return err
			}
		}
	case tSubnetModule:
		obj, err := p.listElementObject()
		if err != nil {
			return err
		}
		want := [][2]string{{"subnet_flow_logs", `"true"`}, {"subnet_flow_logs_interval", quote(c.interval)},
			{"subnet_flow_logs_sampling", quote(c.sampling)}, {"subnet_flow_logs_metadata", quote(c.metadata)}}
		var set [][2]string
		for _, kv := range want {
			v := t.elem.attr(kv[0])
			if v != nil && (quoteOf(v) == kv[1] || kv[0] == "subnet_flow_logs_sampling" && sameNumber(v, c.sampling)) {
				continue
			}
			set = append(set, kv)
		}
		if len(set) == 0 {
			return fmt.Errorf(errAlready, p.m.Address, "has these flow logs")
		}
		if err := p.setObjectItems(obj, "the subnet", set); err != nil {
			return err
		}
	default:
		return fmt.Errorf("iac: %s is not a subnetwork", p.m.Address)
	}
	p.summary = fmt.Sprintf("Turn on VPC flow logs (%s, sampling %s, %s) for %s", c.interval, c.sampling, c.metadata, p.where())
	return nil
}

// quoteOf returns a known value as Terraform would write it as a string, "" otherwise.
func quoteOf(v *val) string {
	if s, ok := v.str(); ok {
		return quote(s)
	}
	return ""
}

func (p *patcher) enablePrivateAccess() error {
	t := p.t
	switch t.kind {
	case tSubnetwork:
		if v := arg(t.ex.sc, t.b.b, "private_ip_google_access"); v != nil && v.kind == kBool && v.s == "true" {
			return fmt.Errorf(errAlready, p.m.Address, "has private_ip_google_access = true")
		}
		p.warnEveryInstance("Private Google Access is turned on for every instance")
		if err := p.setBlockAttr("private_ip_google_access", "true"); err != nil {
			return err
		}
	case tSubnetModule:
		obj, err := p.listElementObject()
		if err != nil {
			return err
		}
		if v := t.elem.attr("subnet_private_access"); v != nil {
			if s, ok := v.str(); ok && s == "true" {
				return fmt.Errorf(errAlready, p.m.Address, "has subnet_private_access = \"true\"")
			}
		}
		if err := p.setObjectItems(obj, "the subnet", [][2]string{{"subnet_private_access", `"true"`}}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("iac: %s is not a subnetwork", p.m.Address)
	}
	p.summary = fmt.Sprintf("Turn on Private Google Access for %s", p.where())
	return nil
}

// rewriteNested replaces the nested block b with its text after edits (byte ranges of the
// file inside b), formatted as terraform fmt formats it: an attribute added or removed
// realigns the others of its group, which a splice alone would not.
func rewriteNested(ed *editor, b *hclsyntax.Block, edits []edit) error {
	src := ed.f.src
	start, end := b.TypeRange.Start.Byte, b.Range().End.Byte
	if !onlySpaceBefore(src, start) || !onlySpaceBefore(src, b.CloseBraceRange.Start.Byte) {
		return fmt.Errorf("iac: the %s block at %s:%d is written on one line; edit it by hand", b.Type, ed.f.path, b.TypeRange.Start.Line)
	}
	es := slices.Clone(edits)
	slices.SortStableFunc(es, func(a, b edit) int { return a.start - b.start })
	var buf strings.Builder
	at := start
	for _, e := range es {
		if e.start < at || e.end > end || e.end < e.start {
			return errors.New("iac: internal error: overlapping edits")
		}
		buf.Write(src[at:e.start])
		buf.WriteString(e.text)
		at = e.end
	}
	buf.Write(src[at:end])
	indent := indentOf(src, start)
	text := strings.TrimSuffix(fmtBlock(buf.String(), indent), "\n")
	ed.replace(start, end, strings.TrimPrefix(text, indent))
	return nil
}

// ---- set-instance-metadata

// metadataParams reads key and value; the key must be the finding's (evidence.metadataKey)
// when the evidence names one.
func metadataParams(params, evidence map[string]any) (key, value string, err error) {
	key, _ = params["key"].(string)
	value, okValue := params["value"].(string)
	if !validMetadataKey(key) {
		return "", "", errors.New("iac: set-instance-metadata needs params.key, a metadata key of letters, digits, - and _")
	}
	if !okValue || len(value) > 256<<10 || !utf8.ValidString(value) {
		return "", "", errors.New("iac: set-instance-metadata needs params.value, a UTF-8 string of at most 256 KiB")
	}
	if k := evString(evidence, "metadataKey"); k != "" && k != key {
		return "", "", fmt.Errorf("iac: the finding is about the metadata key %s, not %s", quote(k), quote(key))
	}
	return key, value, nil
}

func (p *patcher) setMetadata(params, evidence map[string]any) error {
	key, value, err := metadataParams(params, evidence)
	if err != nil {
		return err
	}
	t := p.t
	what := fmt.Sprintf("%s = %s", keyText(key), quote(value))
	switch t.kind {
	case tInstance, tProjectMetadata:
		if t.kind == tProjectMetadata && key != t.metadataKey {
			return fmt.Errorf("iac: the match is for the metadata key %s, not %s", quote(t.metadataKey), quote(key))
		}
		b := t.b.b
		v := arg(t.ex.sc, b, "metadata")
		if v == nil || v.kind == kNull {
			if t.kind == tProjectMetadata {
				return fmt.Errorf("iac: %s has no metadata map; edit it by hand", p.m.Address)
			}
			if err := p.singleInstance("add metadata"); err != nil {
				return err
			}
			ed, err := p.editorFor(b.Range())
			if err != nil {
				return err
			}
			if a := b.Body.Attributes["metadata"]; a != nil { // metadata = null
				r := a.Expr.Range()
				ed.replace(r.Start.Byte, r.End.Byte, fmtExpr("{\n"+keyText(key)+" = "+quote(value)+"\n}", indentOf(ed.f.src, a.NameRange.Start.Byte)))
			} else if err := insertAttr(ed, b, "metadata", "{\n"+keyText(key)+" = "+quote(value)+"\n}"); err != nil {
				return err
			}
		} else if err := p.setMapKey(v, "metadata", key, value); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Set the metadata %s on %s", what, p.where())
	case tProjectMetadataItem:
		if key != t.metadataKey {
			return fmt.Errorf("iac: the match is for the metadata key %s, not %s", quote(t.metadataKey), quote(key))
		}
		v := arg(t.ex.sc, t.b.b, "value")
		if v == nil || v.expr == nil {
			return fmt.Errorf("iac: %s has no value; edit it by hand", p.m.Address)
		}
		if s, ok := v.str(); ok && s == value {
			return fmt.Errorf(errAlready, p.m.Address, "sets "+what)
		}
		r := v.expr.Range()
		ed, err := p.editorFor(r)
		if err != nil {
			return err
		}
		if p.shared(r) {
			return fmt.Errorf("iac: the value of %s is written in a block with count or for_each, so every instance shares it; edit it by hand", p.m.Address)
		}
		p.checkShared(r, "the value")
		ed.replace(r.Start.Byte, r.End.Byte, quote(value))
		p.summary = fmt.Sprintf("Set the project metadata %s in %s", what, p.where())
	case tNewBlock:
		if t.newType != KindProjectMetadataItem {
			return fmt.Errorf("iac: %s is not project metadata", p.m.Address)
		}
		if key != t.metadataKey {
			return fmt.Errorf("iac: the match is for the metadata key %s, not %s", quote(t.metadataKey), quote(key))
		}
		attrs := [][2]string{{"key", quote(key)}, {"value", quote(value)}}
		if err := p.addBlock("# Added by zerodrift: a setting of the project's common instance metadata.", attrs, ""); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Add %s, setting the project metadata %s, to %s", p.m.Address, what, p.newBlockWhere())
	default:
		return fmt.Errorf("iac: %s is not an instance or project metadata", p.m.Address)
	}
	return nil
}

// shared reports whether the text at r is shared by every instance of the declaration's
// block (count or for_each): it lies in the block, and not in the for_each collection's
// entry of this instance.
func (p *patcher) shared(r hcl.Range) bool {
	t := p.t
	if p.singleInstance("") == nil || !p.inside(r) {
		return false
	}
	return t.ex.coll == nil || t.ex.coll.expr == nil || !within(r, t.ex.coll.expr.Range())
}

// setMapKey sets key = value in the map a value comes from: an object constructor (in the
// block, or in the local, variable default or variable file it is written in), or a
// merge(...).
//
// merge(...) is last-wins: a key of a later argument replaces an earlier one's, and null
// arguments are skipped. The arguments are read from the last (lookupMerged), locals and
// variables evaluated as everywhere else: when the last argument that has the key sets it to
// the value, and no argument after that one is beyond evaluation, Terraform already
// declares the value and the edit reports so with errAlready, as the other edits do (the live
// resource drifted; terraform apply, not a pull request, restores it). Otherwise the key is
// set in the last argument, where it wins over every other: the last argument when it is an
// object written in place (an entry there is changed in place), or a new last argument
// { key = value }.
//
// When an argument that cannot be evaluated (a variable without a default, a local that is a
// function call or a for expression, ...) comes after every argument known to set the key,
// whether Terraform already declares the value cannot be told: that argument may set the key
// to anything. The edit then still sets the key in the last argument, with a warning naming
// the argument, rather than refusing. That is sound under last-wins whatever the argument
// holds: the patched Terraform declares the value either way, and at worst the change makes
// explicit what Terraform already said; refusing would leave a possibly real
// misconfiguration for a person to find. An earlier argument that sets the value is not
// taken to settle it, since the later argument may override it.
func (p *patcher) setMapKey(v *val, label, key, value string) error {
	set := keyText(key) + " = " + quote(value)
	switch e := v.expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		if v.kind != kMap {
			break
		}
		if v.incomplete {
			return fmt.Errorf("iac: %s of %s has keys that could not be evaluated; edit it by hand", label, p.m.Address)
		}
		if cur, ok := v.get(key); ok {
			if s, ok := cur.str(); ok && s == value {
				return fmt.Errorf(errAlready, p.m.Address, "sets "+set)
			}
		}
		if p.shared(e.SrcRange) {
			return fmt.Errorf("iac: %s of %s is written in a block with count or for_each, so every instance shares it; edit it by hand", label, p.m.Address)
		}
		return p.setObjectItems(e, label, [][2]string{{key, quote(value)}})
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "merge" || e.ExpandFinal {
			break
		}
		sc := p.scopeOf(e)
		got := sc.lookupMerged(e, key, 0)
		wanted := false
		if got.v != nil {
			s, ok := got.v.str()
			wanted = ok && s == value
		}
		if wanted && got.blocked == nil {
			return fmt.Errorf(errAlready, p.m.Address, fmt.Sprintf("sets %s (from %s, merged into its %s)", set, p.exprOf(got.from), label))
		}
		ed, err := p.editorFor(e.Range())
		if err != nil {
			return err
		}
		if p.shared(e.Range()) {
			return fmt.Errorf("iac: %s of %s is written in a block with count or for_each, so every instance shares it; edit it by hand", label, p.m.Address)
		}
		n := len(e.Args)
		if n > 0 {
			if obj, ok := e.Args[n-1].(*hclsyntax.ObjectConsExpr); ok && sc.eval(obj).incomplete {
				return fmt.Errorf("iac: %s of %s has keys that could not be evaluated; edit it by hand", label, p.m.Address)
			}
		}
		switch {
		case got.blocked != nil && wanted:
			p.warn("%s sets %s in the %s of %s, but %s, merged after it, could not be evaluated and may override it; "+
				"the key is set again in the last argument of merge(...), which wins: if %s does not set the key, this only makes the value explicit",
				p.exprOf(got.from), set, label, p.m.Address, p.exprOf(got.blocked), p.exprOf(got.blocked))
		case got.blocked != nil:
			p.warn("the %s of %s merges %s, which could not be evaluated and may already set %s; "+
				"the key is set in the last argument of merge(...), which wins", label, p.m.Address, p.exprOf(got.blocked), set)
		}
		if n > 0 {
			if obj, ok := e.Args[n-1].(*hclsyntax.ObjectConsExpr); ok {
				return p.setObjectItems(obj, label, [][2]string{{key, quote(value)}})
			}
			end := e.Args[n-1].Range().End.Byte
			p.checkShared(e.Range(), label)
			ed.replace(end, end, ", { "+set+" }")
			return nil
		}
		p.checkShared(e.Range(), label)
		ed.replace(e.CloseParenRange.Start.Byte, e.CloseParenRange.Start.Byte, "{ "+set+" }")
		return nil
	}
	return fmt.Errorf("iac: %s of %s is %s, not a map written in place or a merge(...); edit it by hand", label, p.m.Address, p.ix.exprText(v))
}

// exprOf quotes an expression as written, for messages.
func (p *patcher) exprOf(e hclsyntax.Expression) string {
	return p.ix.exprText(&val{expr: e})
}

// scopeOf returns the scope an expression the edited value comes from is evaluated in: the
// declaration's for an expression in its block, its module instance's for one in a local of
// the module; otherwise (an input of the module call in the calling module, a variable's
// default or variable file) a scope that knows no names, so that a reference there is
// unknown rather than taken for a name of the wrong module.
func (p *patcher) scopeOf(e hclsyntax.Expression) *scope {
	r := e.Range()
	if p.inside(r) {
		return p.t.ex.sc
	}
	for _, a := range p.t.in.mod.locals {
		if within(r, a.Expr.Range()) {
			return &scope{in: p.t.in}
		}
	}
	return &scope{}
}

// mergedKey is what a merge(...) holds for one key.
type mergedKey struct {
	// v is the key's value in the last argument that has it, nil when no argument that
	// could be evaluated has it; from is that argument, as written.
	v    *val
	from hclsyntax.Expression
	// blocked is the last argument after from (anywhere, when v is nil) that could not be
	// evaluated, or whose keys could not all be: it may set the key too, and then its value
	// wins over v.
	blocked hclsyntax.Expression
}

// lookupMerged looks key up in a merge(...) call evaluated in sc, as Terraform merges: null
// arguments are skipped, and the last argument that has the key decides. An argument that is
// itself a merge(...), or a local whose expression is one, is looked into.
func (sc *scope) lookupMerged(call *hclsyntax.FunctionCallExpr, key string, depth int) mergedKey {
	var res mergedKey
	if depth > maxEvalDepth || call.ExpandFinal {
		res.blocked = call
		return res
	}
	for i := len(call.Args) - 1; i >= 0; i-- {
		a := call.Args[i]
		var sub mergedKey
		if inner, isc := sc.mergeCall(a); inner != nil {
			sub = isc.lookupMerged(inner, key, depth+1)
		} else {
			v := sc.evalDepth(a, depth+1)
			switch v.kind {
			case kNull:
			case kMap:
				if x, ok := v.get(key); ok {
					sub.v, sub.from = x, a
				}
				if v.incomplete {
					sub.blocked = a
				}
			default:
				sub.blocked = a
			}
		}
		if res.blocked == nil {
			res.blocked = sub.blocked
		}
		if sub.v != nil {
			res.v, res.from = sub.v, sub.from
			return res
		}
	}
	return res
}

// mergeCall returns the merge(...) call an argument of merge is, directly or as a local of
// sc's module instance, with the scope to evaluate it in; nil otherwise.
func (sc *scope) mergeCall(e hclsyntax.Expression) (*hclsyntax.FunctionCallExpr, *scope) {
	e = unparen(e)
	if tr, ok := e.(*hclsyntax.ScopeTraversalExpr); ok && sc.in != nil && len(tr.Traversal) == 2 && tr.Traversal.RootName() == "local" {
		name, ok := tr.Traversal[1].(hcl.TraverseAttr)
		a := sc.in.mod.locals[name.Name]
		if !ok || a == nil {
			return nil, nil
		}
		// Locals are evaluated in the module instance (in.local).
		sc, e = &scope{in: sc.in}, unparen(a.Expr)
	}
	if call, ok := e.(*hclsyntax.FunctionCallExpr); ok && call.Name == "merge" {
		return call, sc
	}
	return nil, nil
}

// unparen strips the parentheses around an expression.
func unparen(e hclsyntax.Expression) hclsyntax.Expression {
	for {
		pe, ok := e.(*hclsyntax.ParenthesesExpr)
		if !ok {
			return e
		}
		e = pe.Expression
	}
}

// ---- remove-external-ip
//
// Only the external IPv4 address (access_config) goes, as the live action
// (instance.removeExternalIP) does: an external IPv6 address is reported in a warning.

// nicIndex reads a live interface name, nic0, nic1, ...: GCE names interfaces by position.
func nicIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "nic")
	if !ok || rest == "" || len(rest) > 2 || strings.Trim(rest, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// externalInterfaces returns the interfaces the finding names, by position: evidence
// "interfaces", else the interface part of "accessConfigs" ("nic0/External NAT").
func externalInterfaces(evidence map[string]any) ([]int, error) {
	names := evStrings(evidence, "interfaces")
	if len(names) == 0 {
		for _, ac := range evStrings(evidence, "accessConfigs") {
			nic, _, _ := strings.Cut(ac, "/")
			names = append(names, nic)
		}
	}
	var out []int
	for _, n := range names {
		i, ok := nicIndex(n)
		if !ok {
			return nil, fmt.Errorf("iac: evidence names the interface %s, which is not nic0, nic1 and so on", quote(n))
		}
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("iac: remove-external-ip needs evidence.interfaces, the interfaces with an external address")
	}
	slices.Sort(out)
	return out, nil
}

func (p *patcher) removeExternalIP(evidence map[string]any) error {
	nics, err := externalInterfaces(evidence)
	if err != nil {
		return err
	}
	t := p.t
	if t.kind != tInstance {
		return fmt.Errorf("iac: %s is not an instance", p.m.Address)
	}
	if err := p.singleInstance("remove the external address"); err != nil {
		return err
	}
	b := t.b.b
	ifaces, err := p.nestedBlocks(b, "network_interface")
	if err != nil {
		return err
	}
	ed, err := p.editorFor(b.Range())
	if err != nil {
		return err
	}
	addrRef := regexp.MustCompile(`\bgoogle_compute_(global_)?address\.[A-Za-z0-9_-]+`)
	var removedFrom []string
	for _, n := range nics {
		if n >= len(ifaces) {
			return fmt.Errorf("iac: %s declares %d network_interface block(s); the finding names nic%d", p.m.Address, len(ifaces), n)
		}
		ni := ifaces[n]
		var gone []*hclsyntax.Block
		for _, ac := range ni.Body.Blocks {
			switch {
			case ac.Type == "access_config":
				gone = append(gone, ac)
				if a := ac.Body.Attributes["nat_ip"]; a != nil {
					if ref := addrRef.FindString(exprSource(ed.f.src, a.Expr)); ref != "" {
						p.warn("nic%d's nat_ip is %s's address, which stays reserved (and billed): release it if nothing else uses it", n, ref)
					}
				}
			case ac.Type == "ipv6_access_config", ac.Type == "dynamic" && len(ac.Labels) == 1 && ac.Labels[0] == "ipv6_access_config":
				// As the live action does, the external IPv6 address is left: removing it
				// can need a stack_type or subnet change that a person decides.
				p.warn("nic%d keeps its ipv6_access_config (external IPv6): remove it by hand, with stack_type = \"IPV4_ONLY\" or a subnet with internal IPv6 access", n)
			case ac.Type == "dynamic" && len(ac.Labels) == 1 && ac.Labels[0] == "access_config":
				return fmt.Errorf("iac: network_interface %d of %s builds access_config with a dynamic block; edit it by hand", n, p.m.Address)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if err := removeNested(ed, ni, gone); err != nil {
			return err
		}
		removedFrom = append(removedFrom, fmt.Sprintf("nic%d", n))
	}
	if len(removedFrom) == 0 {
		return fmt.Errorf("iac: the network_interface blocks of %s that the finding names declare no access_config; the external address was added outside Terraform, and terraform apply removes it", p.m.Address)
	}
	p.summary = fmt.Sprintf("Remove the external IP address (access_config) of %s from %s", strings.Join(removedFrom, ", "), p.where())
	return nil
}

// removeNested removes blocks nested in b (with their lead comments), and formats b again
// when that brings attribute lines together.
func removeNested(ed *editor, b *hclsyntax.Block, gone []*hclsyntax.Block) error {
	src := ed.f.src
	limit := b.OpenBraceRange.End.Byte
	slices.SortFunc(gone, func(x, y *hclsyntax.Block) int { return x.Range().Start.Byte - y.Range().Start.Byte })
	// Blocks with nothing but blank lines between them go in one region, so that the blank
	// lines around them are not claimed twice.
	var edits []edit
	for i := 0; i < len(gone); {
		j := i
		for j+1 < len(gone) {
			end, _, _ := tail(src, gone[j].Range().End.Byte)
			next := leadStart(src, lineStart(src, gone[j+1].Range().Start.Byte), limit)
			if end > next || strings.TrimSpace(string(src[end:next])) != "" {
				break
			}
			j++
		}
		rs, re, repl := removeRegion(src, gone[i].Range().Start.Byte, gone[j].Range().End.Byte, limit)
		edits = append(edits, edit{rs, re, repl})
		i = j + 1
	}
	return rewriteNested(ed, b, edits)
}

// ---- add-egress-deny

// egressDenyName derives the egress deny rule's name from the network's:
// zerodrift-deny-all-egress-NETWORK, cut to the 63 characters GCP allows. The live action
// (firewall.createEgressDeny) names its rule zerodrift-deny-all-egress when it is free in
// the project; the Terraform cannot tell what is free, so it always names the network.
func egressDenyName(network string) (string, error) {
	const prefix = "zerodrift-deny-all-egress-"
	if !inventory.IsComputeName(network) {
		return "", fmt.Errorf("iac: the network name %s is not a valid GCP name; cannot derive a firewall rule's name", quote(network))
	}
	return strings.TrimRight(truncate(prefix+network, 63), "-"), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (p *patcher) addEgressDeny(params map[string]any) error {
	prio, err := paramInt(params, "priority", 65535, 0, 65535)
	if err != nil {
		return err
	}
	t := p.t
	if t.kind != tNetwork {
		return fmt.Errorf("iac: %s is not a network", p.m.Address)
	}
	if t.ex.key != "" {
		return fmt.Errorf("iac: %s has count or for_each; add the egress deny rule by hand", p.m.Address)
	}
	name, err := egressDenyName(t.name)
	if err != nil {
		return err
	}
	if v, ok := params["name"]; ok && v != nil {
		if name, ok = v.(string); !ok || !inventory.IsComputeName(name) {
			return errors.New("iac: parameter name: want a firewall rule name: lower-case letters, digits and hyphens, starting with a letter, at most 63 characters")
		}
	}
	var project identity
	if s, ok := projectOf(t.in, t.b, t.ex.sc).str(); ok {
		project = projectIdentity(s, nil)
	}
	for _, h := range p.ix.firewallHits(project, name, t.name) {
		if h.exact {
			return fmt.Errorf("iac: a firewall rule named %s is already declared at %s:%d; the rule says it does not deny all egress to the internet: edit it by hand",
				quote(name), h.file, h.line)
		}
	}
	// Refer to the network as the module's other firewall rules do (self_link otherwise).
	ref := t.b.addr() + ".self_link"
	refRe := regexp.MustCompile(`^` + regexp.QuoteMeta(t.b.addr()) + `\.(self_link|name|id)$`)
	for _, b := range t.in.mod.blocks {
		if b.kind != "resource" || b.typ != KindFirewall || b.attr("network") == nil {
			continue
		}
		if s := exprSource(b.file.src, b.attr("network").Expr); refRe.MatchString(s) {
			ref = s
			break
		}
	}
	attrs := [][2]string{{"name", quote(name)}}
	src := t.b.file.src
	if a := t.b.attr("project"); a != nil {
		if s := exprSource(src, a.Expr); copyable(s) {
			attrs = append(attrs, [2]string{"project", s})
		} else if project.id != "" {
			attrs = append(attrs, [2]string{"project", quote(project.id)})
		} else {
			return fmt.Errorf("iac: the project of %s cannot be copied; add the egress deny rule by hand", p.m.Address)
		}
	}
	provider := ""
	if a := t.b.attr("provider"); a != nil {
		provider = exprSource(src, a.Expr)
	}
	attrs = append(attrs, [2]string{"network", ref}, [2]string{"direction", `"EGRESS"`}, [2]string{"priority", strconv.Itoa(prio)},
		[2]string{"destination_ranges", `["0.0.0.0/0"]`})
	label := t.b.name + "_deny_all_egress"
	for i := 2; t.in.block("resource", KindFirewall, label) != nil; i++ {
		label = fmt.Sprintf("%s_deny_all_egress_%d", t.b.name, i)
	}
	text := "# Added by zerodrift: denies all egress to the internet; EGRESS allow rules with a\n" +
		"# lower priority number let through what workloads need.\n" +
		blockText(KindFirewall, label, provider, attrs, "deny {\n  protocol = \"all\"\n}\n\nlog_config {\n  metadata = \"INCLUDE_ALL_METADATA\"\n}\n")
	ed, err := p.editorFor(t.b.b.Range())
	if err != nil {
		return err
	}
	insertBlockAfter(ed, t.b.b, text)
	p.creates = append(p.creates, t.in.prefix+KindFirewall+"."+label)
	p.summary = fmt.Sprintf("Add the egress deny rule %s (priority %d, to 0.0.0.0/0) next to %s", quote(name), prio, p.where())
	return nil
}

// blockText writes a resource block: the attributes in order, then the nested blocks' text
// (at column 0), after a blank line. fmtBlock aligns it.
func blockText(typ, label, provider string, attrs [][2]string, nested string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "resource %s %s {\n", quote(typ), quote(label))
	if provider != "" {
		b.WriteString("  provider = " + provider + "\n\n")
	}
	for _, a := range attrs {
		fmt.Fprintf(&b, "  %s = %s\n", a[0], a[1])
	}
	if nested != "" {
		b.WriteString("\n")
		b.WriteString(indentLines(strings.TrimRight(nested, "\n"), "  ", false) + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// newBlockWhere says where a tNewBlock target's block goes, for summaries.
func (p *patcher) newBlockWhere() string {
	return fmt.Sprintf("%s, after %s (line %d)", p.m.File, p.t.in.prefix+p.t.b.addr(), p.m.Line)
}

// addBlock adds the block a tNewBlock target stands for after its anchor: its project and
// provider, then attrs and nested.
func (p *patcher) addBlock(comment string, attrs [][2]string, nested string) error {
	t := p.t
	if t.in.block("resource", t.newType, t.name) != nil {
		return fmt.Errorf("iac: %s is already declared; the index is out of date", p.m.Address)
	}
	var all [][2]string
	if t.newProject != "" {
		all = append(all, [2]string{"project", t.newProject})
	}
	all = append(all, attrs...)
	ed, err := p.editorFor(t.b.b.Range())
	if err != nil {
		return err
	}
	insertBlockAfter(ed, t.b.b, comment+"\n"+blockText(t.newType, t.name, t.newProvider, all, nested))
	p.creates = append(p.creates, p.m.Address)
	return nil
}

// ---- set-audit-config

func (p *patcher) setAuditConfig(params map[string]any) error {
	types, err := auditTypes(params)
	if err != nil {
		return err
	}
	t := p.t
	switch t.kind {
	case tNewBlock:
		if t.newType != KindAuditConfig {
			return fmt.Errorf("iac: %s is not an audit configuration", p.m.Address)
		}
		var nested strings.Builder
		for i, lt := range types {
			if i > 0 {
				nested.WriteString("\n")
			}
			nested.WriteString("audit_log_config {\n  log_type = " + quote(lt) + "\n}\n")
		}
		if err := p.addBlock("# Added by zerodrift: audit logs of every read and write, for every service.",
			[][2]string{{"service", quote(auditService)}}, nested.String()); err != nil {
			return err
		}
		p.summary = fmt.Sprintf("Add %s, turning on the %s audit logs of every service, to %s", p.m.Address, strings.Join(types, ", "), p.newBlockWhere())
		return nil
	case tAuditConfig:
	default:
		return fmt.Errorf("iac: %s is not an audit configuration", p.m.Address)
	}
	b := t.b.b
	ed, err := p.editorFor(b.Range())
	if err != nil {
		return err
	}
	have := map[string]bool{}
	var exempted []string
	configs, err := p.nestedBlocks(b, "audit_log_config")
	if err != nil {
		return err
	}
	for _, nb := range configs {
		lt, ok := arg(t.ex.sc, nb, "log_type").str()
		if !ok {
			return fmt.Errorf("iac: an audit_log_config of %s has a log_type that could not be evaluated; edit it by hand", p.m.Address)
		}
		have[lt] = true
		a := nb.Body.Attributes["exempted_members"]
		if a == nil || !slices.Contains(types, lt) {
			continue
		}
		if v := arg(t.ex.sc, nb, "exempted_members"); v.kind == kList && len(v.elems) == 0 {
			continue
		}
		rs, re, repl := removeRegion(ed.f.src, a.SrcRange.Start.Byte, a.SrcRange.End.Byte, nb.OpenBraceRange.End.Byte)
		if err := rewriteNested(ed, nb, []edit{{rs, re, repl}}); err != nil {
			return err
		}
		exempted = append(exempted, lt)
	}
	var missing []string
	for _, lt := range types {
		if !have[lt] {
			missing = append(missing, lt)
		}
	}
	if len(missing) > 0 {
		var text strings.Builder
		for i, lt := range missing {
			if i > 0 {
				text.WriteString("\n")
			}
			text.WriteString("audit_log_config {\n  log_type = " + quote(lt) + "\n}\n")
		}
		if err := insertNestedBlock(ed, b, text.String()); err != nil {
			return err
		}
	}
	if len(missing) == 0 && len(exempted) == 0 {
		return fmt.Errorf("iac: %s already enables %s with nobody exempted in Terraform; the live policy drifted from it "+
			"(terraform apply restores it), or the gap is in a folder's or the organization's audit configuration",
			p.m.Address, strings.Join(types, ", "))
	}
	p.warnEveryInstance("the audit configuration of every instance changes")
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "turn on the "+strings.Join(missing, ", ")+" audit logs")
	}
	if len(exempted) > 0 {
		parts = append(parts, "stop exempting members from "+strings.Join(exempted, ", "))
	}
	s := strings.Join(parts, " and ")
	p.summary = fmt.Sprintf("%s%s in %s", strings.ToUpper(s[:1]), s[1:], p.where())
	return nil
}
