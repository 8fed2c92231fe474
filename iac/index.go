package iac

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Problem is something in the Terraform that could not be read. It never stops the rest
// of the index from being built.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as FILE:LINE: MESSAGE.
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Index is the parsed Terraform of one repository: every module directory under the roots,
// evaluated as far as literals, variables, locals and interpolation allow. Build it with
// Load; it is read-only afterwards and safe for concurrent use.
type Index struct {
	// Roots are the root directories the index was loaded from, cleaned.
	Roots []string
	// Problems lists what could not be read or parsed, in file order.
	Problems []Problem

	// fsys is the file system the index was loaded from, to index it again with an edit
	// made (a patch of several edits, each found again after the ones before it).
	fsys      fs.FS
	files     map[string]*srcFile
	dirs      map[string]*modDir
	instances []*instance
	// unreadable lists configuration files that could not be fully parsed: they may declare
	// a resource the index cannot see.
	unreadable []string
	// states are the Terraform states of roots, by root directory (WithState), under
	// statesMu: the only part of the index that changes after Load.
	statesMu sync.RWMutex
	states   map[string]*State
}

// srcFile is one parsed file.
type srcFile struct {
	path string
	src  []byte
	body *hclsyntax.Body // nil for JSON variable files
}

// modDir is one directory of .tf files: a Terraform module.
type modDir struct {
	dir       string
	files     []*srcFile
	vars      map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	providers []*hclsyntax.Block
	blocks    []*tfBlock
	// varFiles are the directory's variable files in Terraform's order of precedence
	// (lowest first); optional are *.tfvars files Terraform reads only when told to.
	varFiles, optional []*srcFile
	jsonVars           map[*srcFile]map[string]*val
	// instances counts how many module instances evaluate this directory.
	instances int
	// badName is the first resource, data or module block whose name is not a Terraform
	// name: Terraform rejects the module, and Patch does not edit it.
	badName *tfBlock
}

// tfBlock is a resource, data or module block.
type tfBlock struct {
	kind string // "resource", "data" or "module"
	typ  string // resource or data type; "" for a module
	name string
	file *srcFile
	b    *hclsyntax.Block
	// source and shape are a module call's literal source and what zerodrift makes of it.
	source string
	shape  moduleShape
}

func (b *tfBlock) addr() string {
	switch b.kind {
	case "data":
		return "data." + b.typ + "." + b.name
	case "module":
		return "module." + b.name
	}
	return b.typ + "." + b.name
}

func (b *tfBlock) attr(name string) *hclsyntax.Attribute { return b.b.Body.Attributes[name] }

// instance is one evaluation of a module directory: a root, or a module call's instance.
type instance struct {
	ix   *Index
	mod  *modDir
	root string // the root directory the instance belongs to
	// prefix is the address prefix of what the instance declares, e.g. "module.base.".
	prefix    string
	vars      map[string]*val
	providers map[string]*providerConf // "google", "google.alias" → its defaults
	locals    map[string]*val
	busy      map[string]bool
	depth     int
	// exps caches the expansions of the instance's blocks; filled by freeze.
	exps map[*tfBlock][]expansion
}

// freeze evaluates everything Owner would otherwise evaluate lazily (locals, count and
// for_each), so that the index is read-only once Load returns.
func (in *instance) freeze() {
	names := make([]string, 0, len(in.mod.locals))
	for name := range in.mod.locals {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		in.local(name, 0)
	}
	in.exps = map[*tfBlock][]expansion{}
	for _, b := range in.mod.blocks {
		in.exps[b] = expansions(&scope{in: in}, b)
	}
}

// expansionsOf returns the instances of block b.
func (in *instance) expansionsOf(b *tfBlock) []expansion {
	if exs, ok := in.exps[b]; ok {
		return exs
	}
	return expansions(&scope{in: in}, b)
}

// maxModuleDepth bounds nested module calls.
const maxModuleDepth = 8

// Load parses the Terraform under each root of fsys: every *.tf file in the root and the
// directories below it (skipping .terraform and hidden directories), the variable files
// Terraform reads (terraform.tfvars, *.auto.tfvars, their .json forms, and other *.tfvars),
// locals, provider defaults, and local modules the roots call. Roots are slash-separated
// paths inside fsys ("." for its top). Files that cannot be parsed are listed in
// Index.Problems and do not stop the rest; Load fails only when a root cannot be read.
func Load(fsys fs.FS, roots []string) (*Index, error) {
	ix := &Index{fsys: fsys, files: map[string]*srcFile{}, dirs: map[string]*modDir{}}
	for _, r := range roots {
		r = path.Clean(strings.TrimPrefix(r, "/"))
		if !fs.ValidPath(r) {
			return nil, fmt.Errorf("iac: root %q is not a path inside the repository", r)
		}
		info, err := fs.Stat(fsys, r)
		if err != nil {
			return nil, fmt.Errorf("iac: root %s: %w", r, err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("iac: root %s is not a directory", r)
		}
		if slices.Contains(ix.Roots, r) {
			continue
		}
		ix.Roots = append(ix.Roots, r)
		if err := ix.walk(fsys, r); err != nil {
			return nil, err
		}
	}
	ix.loadCalledModules(fsys)
	ix.evaluate()
	for _, in := range ix.instances {
		in.freeze()
	}
	slices.SortStableFunc(ix.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.File, b.File), a.Line-b.Line)
	})
	slices.Sort(ix.unreadable)
	ix.unreadable = slices.Compact(ix.unreadable)
	return ix, nil
}

// walk reads the directories under root.
func (ix *Index) walk(fsys fs.FS, root string) error {
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			ix.problem(p, 0, fmt.Sprintf("cannot read: %v", err))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != root && (d.Name() == ".terraform" || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			ix.loadDir(fsys, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("iac: walking %s: %w", root, err)
	}
	return nil
}

// hasErrors reports whether a file had problems (a variable file with syntax errors).
func (ix *Index) hasErrors(file string) bool {
	return slices.ContainsFunc(ix.Problems, func(p Problem) bool { return p.File == file })
}

func (ix *Index) problem(file string, line int, msg string) {
	ix.Problems = append(ix.Problems, Problem{File: file, Line: line, Message: msg})
}

// loadDir parses the configuration and variable files directly inside dir.
func (ix *Index) loadDir(fsys fs.FS, dir string) {
	if _, done := ix.dirs[dir]; done {
		return
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		ix.problem(dir, 0, fmt.Sprintf("cannot list: %v", err))
		return
	}
	m := &modDir{dir: dir, vars: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{},
		jsonVars: map[*srcFile]map[string]*val{}}
	var autoVars, plainVars []*srcFile
	var tfvars, tfvarsJSON *srcFile
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name, p := e.Name(), path.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(name, ".tf.json"):
			ix.problem(p, 0, "Terraform JSON configuration is not indexed; it may declare resources zerodrift cannot see")
			ix.unreadable = append(ix.unreadable, p)
		case strings.HasSuffix(name, ".tf"):
			if f := ix.parse(fsys, p, true); f != nil {
				m.files = append(m.files, f)
			}
		case name == "terraform.tfvars":
			tfvars = ix.parse(fsys, p, false)
		case name == "terraform.tfvars.json":
			tfvarsJSON = ix.parseJSONVars(fsys, p, m)
		case strings.HasSuffix(name, ".auto.tfvars"):
			autoVars = appendNonNil(autoVars, ix.parse(fsys, p, false))
		case strings.HasSuffix(name, ".auto.tfvars.json"):
			autoVars = appendNonNil(autoVars, ix.parseJSONVars(fsys, p, m))
		case strings.HasSuffix(name, ".tfvars"):
			plainVars = appendNonNil(plainVars, ix.parse(fsys, p, false))
		case strings.HasSuffix(name, ".tfvars.json"):
			plainVars = appendNonNil(plainVars, ix.parseJSONVars(fsys, p, m))
		}
	}
	if len(m.files) == 0 {
		return
	}
	m.varFiles = appendNonNil(appendNonNil(m.varFiles, tfvars), tfvarsJSON)
	slices.SortFunc(autoVars, func(a, b *srcFile) int { return strings.Compare(a.path, b.path) })
	m.varFiles = append(m.varFiles, autoVars...)
	m.optional = plainVars
	for _, f := range m.files {
		ix.collect(m, f)
	}
	ix.dirs[dir] = m
}

func appendNonNil(fs []*srcFile, f *srcFile) []*srcFile {
	if f == nil {
		return fs
	}
	return append(fs, f)
}

// parse reads and parses one HCL file; config marks a .tf file (as opposed to a variable
// file), whose parse errors make the file unreadable for ownership purposes.
func (ix *Index) parse(fsys fs.FS, p string, config bool) *srcFile {
	src, err := fs.ReadFile(fsys, p)
	if err != nil {
		ix.problem(p, 0, fmt.Sprintf("cannot read: %v", err))
		if config {
			ix.unreadable = append(ix.unreadable, p)
		}
		return nil
	}
	f, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
	for _, d := range diags {
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		ix.problem(p, line, msg)
	}
	if diags.HasErrors() && config {
		ix.unreadable = append(ix.unreadable, p)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok || body == nil {
		return nil
	}
	sf := &srcFile{path: p, src: src, body: body}
	ix.files[p] = sf
	return sf
}

// parseJSONVars reads a JSON variable file into plain values (without positions: such
// values cannot be patched).
func (ix *Index) parseJSONVars(fsys fs.FS, p string, m *modDir) *srcFile {
	src, err := fs.ReadFile(fsys, p)
	if err != nil {
		ix.problem(p, 0, fmt.Sprintf("cannot read: %v", err))
		return nil
	}
	var raw map[string]any
	if err := json.Unmarshal(src, &raw); err != nil {
		ix.problem(p, 0, fmt.Sprintf("not a JSON object of variable values: %v", err))
		return nil
	}
	sf := &srcFile{path: p, src: src}
	vals := map[string]*val{}
	for k, v := range raw {
		vals[k] = fromJSON(v)
	}
	m.jsonVars[sf] = vals
	return sf
}

func fromJSON(v any) *val {
	switch v := v.(type) {
	case nil:
		return &val{kind: kNull}
	case string:
		return &val{kind: kString, s: v}
	case bool:
		return &val{kind: kBool, s: fmt.Sprint(v)}
	case float64:
		return &val{kind: kNumber, s: fmt.Sprint(v)}
	case []any:
		out := &val{kind: kList}
		for _, e := range v {
			out.elems = append(out.elems, fromJSON(e))
		}
		return out
	case map[string]any:
		out := &val{kind: kMap}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out.items = append(out.items, mapItem{key: k, keyKnown: true, v: fromJSON(v[k])})
		}
		return out
	}
	return &val{kind: kUnknown}
}

// collect records the top-level blocks of one .tf file.
func (ix *Index) collect(m *modDir, f *srcFile) {
	for _, b := range f.body.Blocks {
		line := b.TypeRange.Start.Line
		switch b.Type {
		case "variable":
			if len(b.Labels) == 1 {
				m.vars[b.Labels[0]] = b
			}
		case "locals":
			for name, a := range b.Body.Attributes {
				if prev, dup := m.locals[name]; dup {
					ix.problem(f.path, a.NameRange.Start.Line, fmt.Sprintf("local.%s is also defined at %s:%d", name,
						prev.SrcRange.Filename, prev.SrcRange.Start.Line))
				}
				m.locals[name] = a
			}
		case "provider":
			if len(b.Labels) == 1 {
				m.providers = append(m.providers, b)
			}
		case "resource", "data":
			if len(b.Labels) == 2 {
				m.add(&tfBlock{kind: b.Type, typ: b.Labels[0], name: b.Labels[1], file: f, b: b})
			} else {
				ix.problem(f.path, line, fmt.Sprintf("%s block with %d labels", b.Type, len(b.Labels)))
			}
		case "module":
			if len(b.Labels) == 1 {
				mb := &tfBlock{kind: "module", name: b.Labels[0], file: f, b: b}
				if a := b.Body.Attributes["source"]; a != nil {
					mb.source, _ = (&scope{}).eval(a.Expr).str()
				}
				mb.shape = moduleShapeOf(mb.source)
				m.add(mb)
			}
		}
	}
}

// add records a block of the module, and the first whose name Terraform rejects (not UTF-8,
// or not an identifier: a letter or "_" first, then letters, digits, "_" and "-").
func (m *modDir) add(b *tfBlock) {
	if m.badName == nil && (!utf8.ValidString(b.name) || !hclsyntax.ValidIdentifier(b.name)) {
		m.badName = b
	}
	m.blocks = append(m.blocks, b)
}

// moduleSource returns a module call's source, when it is a literal string.
func moduleSource(b *tfBlock) string { return b.source }

// localSourceDir resolves a local module source ("./x", "../x") against the caller's
// directory; ok is false for registry, git and other remote sources.
func localSourceDir(callerDir, source string) (string, bool) {
	if !strings.HasPrefix(source, "./") && !strings.HasPrefix(source, "../") {
		return "", false
	}
	return path.Join(callerDir, source), true
}

// loadCalledModules loads local modules the loaded directories call from outside the roots.
func (ix *Index) loadCalledModules(fsys fs.FS) {
	for range maxModuleDepth {
		var todo []string
		for _, m := range ix.sortedDirs() {
			for _, b := range m.blocks {
				if b.kind != "module" || b.shape != shapeNone {
					continue
				}
				dir, ok := localSourceDir(m.dir, moduleSource(b))
				if !ok {
					continue
				}
				if dir == ".." || strings.HasPrefix(dir, "../") || !fs.ValidPath(dir) {
					ix.problem(b.file.path, b.b.TypeRange.Start.Line,
						fmt.Sprintf("module %q: source %q leaves the repository", b.name, moduleSource(b)))
					continue
				}
				if _, done := ix.dirs[dir]; !done {
					todo = append(todo, dir)
				}
			}
		}
		if len(todo) == 0 {
			return
		}
		for _, dir := range todo {
			if _, done := ix.dirs[dir]; done {
				continue
			}
			ix.loadDir(fsys, dir)
			if _, ok := ix.dirs[dir]; !ok {
				ix.dirs[dir] = &modDir{dir: dir, vars: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}}
				if _, err := fs.Stat(fsys, dir); errors.Is(err, fs.ErrNotExist) {
					ix.problem(dir, 0, "local module directory does not exist")
				}
			}
		}
	}
}

func (ix *Index) sortedDirs() []*modDir {
	out := make([]*modDir, 0, len(ix.dirs))
	for _, m := range ix.dirs {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *modDir) int { return strings.Compare(a.dir, b.dir) })
	return out
}

// evaluate creates the module instances: every directory no other loaded directory calls
// is a root; called directories are evaluated once per call.
func (ix *Index) evaluate() {
	called := map[string]bool{}
	for _, m := range ix.dirs {
		for _, b := range m.blocks {
			if b.kind != "module" || b.shape != shapeNone {
				continue
			}
			if dir, ok := localSourceDir(m.dir, moduleSource(b)); ok && dir != m.dir {
				called[dir] = true
			}
		}
	}
	for _, m := range ix.sortedDirs() {
		if called[m.dir] || len(m.files) == 0 {
			continue
		}
		in := ix.newInstance(m, m.dir, "", 0)
		in.vars = rootVars(m)
		in.providers = map[string]*providerConf{}
		in.configureProviders()
		ix.expand(in)
	}
}

func (ix *Index) newInstance(m *modDir, root, prefix string, depth int) *instance {
	m.instances++
	in := &instance{ix: ix, mod: m, root: root, prefix: prefix, locals: map[string]*val{}, busy: map[string]bool{}, depth: depth}
	ix.instances = append(ix.instances, in)
	return in
}

// rootVars gives a root's variables their values: the default, then the variable files in
// Terraform's order. Of the *.tfvars files Terraform reads only when named, a value is taken
// when all such files that set the variable agree; otherwise it is unknown.
func rootVars(m *modDir) map[string]*val {
	vars := map[string]*val{}
	sc := &scope{}
	for name, b := range m.vars {
		if d := b.Body.Attributes["default"]; d != nil {
			vars[name] = sc.eval(d.Expr)
		} else {
			vars[name] = unknown(nil)
		}
	}
	fileVals := func(f *srcFile) map[string]*val {
		if f.body == nil {
			return m.jsonVars[f]
		}
		out := map[string]*val{}
		for name, a := range f.body.Attributes {
			out[name] = sc.eval(a.Expr)
		}
		return out
	}
	for _, f := range m.varFiles {
		for name, v := range fileVals(f) {
			if _, declared := m.vars[name]; declared {
				vars[name] = v
			}
		}
	}
	optional := map[string][]*val{}
	for _, f := range m.optional {
		for name, v := range fileVals(f) {
			optional[name] = append(optional[name], v)
		}
	}
	for name, vs := range optional {
		if _, declared := m.vars[name]; !declared {
			continue
		}
		agreed := vs[0]
		for _, v := range vs[1:] {
			if !sameValue(agreed, v) {
				agreed = unknown(nil)
				break
			}
		}
		vars[name] = agreed
	}
	return vars
}

// sameValue reports whether two known values are equal.
func sameValue(a, b *val) bool {
	if !a.known() || !b.known() || a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kList:
		if len(a.elems) != len(b.elems) {
			return false
		}
		for i := range a.elems {
			if !sameValue(a.elems[i], b.elems[i]) {
				return false
			}
		}
		return true
	case kMap:
		if len(a.items) != len(b.items) || a.incomplete || b.incomplete {
			return false
		}
		for _, it := range a.items {
			o, ok := b.get(it.key)
			if !ok || !sameValue(it.v, o) {
				return false
			}
		}
		return true
	}
	return a.s == b.s
}

// configureProviders reads the instance's own provider "google" and "google-beta" blocks.
func (in *instance) configureProviders() {
	sc := &scope{in: in}
	for _, b := range in.mod.providers {
		name := b.Labels[0]
		if name != "google" && name != "google-beta" {
			continue
		}
		key := name
		if a := b.Body.Attributes["alias"]; a != nil {
			if s, ok := sc.eval(a.Expr).str(); ok {
				key = name + "." + s
			} else {
				continue
			}
		}
		conf := &providerConf{}
		for _, d := range []struct {
			name string
			v    **val
		}{{"project", &conf.project}, {"region", &conf.region}, {"zone", &conf.zone}} {
			if a := b.Body.Attributes[d.name]; a != nil {
				*d.v = sc.eval(a.Expr)
			} else {
				*d.v = unknown(nil)
			}
		}
		in.providers[key] = conf
	}
}

// providerConf holds the defaults of a provider configuration that decide which live
// resource a block declares: the project, region and zone of resources that leave them out.
// A default the configuration does not set is unknown (it may come from the environment).
type providerConf struct {
	project, region, zone *val
}

// local evaluates local.name once, memoized; a reference cycle is unknown.
func (in *instance) local(name string, depth int) *val {
	if v, ok := in.locals[name]; ok {
		return v
	}
	a := in.mod.locals[name]
	if a == nil || in.busy[name] {
		return unknown(nil)
	}
	in.busy[name] = true
	v := (&scope{in: in}).evalDepth(a.Expr, depth)
	delete(in.busy, name)
	in.locals[name] = v
	return v
}

// block returns the instance's block of the given kind, type and name.
func (in *instance) block(kind, typ, name string) *tfBlock {
	for _, b := range in.mod.blocks {
		if b.kind == kind && b.typ == typ && b.name == name {
			return b
		}
	}
	return nil
}

// resourceAttr resolves an attribute of another resource that follows from its arguments:
// a service account's email, name, id and member, a network's name, id and self_link, and
// a project's project_id. Resources with count or for_each are unknown.
func (in *instance) resourceAttr(typ, name, attr string, depth int) *val {
	b := in.block("resource", typ, name)
	if b == nil || b.attr("count") != nil || b.attr("for_each") != nil || depth > maxEvalDepth {
		return unknown(nil)
	}
	sc := &scope{in: in}
	arg := func(n string) *val {
		if a := b.attr(n); a != nil {
			return sc.evalDepth(a.Expr, depth+1)
		}
		return nil
	}
	project := func() *val {
		if p := arg("project"); p != nil {
			return p
		}
		return in.providerProject(b, sc)
	}
	join := func(vs ...any) *val { return concat(vs...) }
	switch typ {
	case "google_service_account":
		id := arg("account_id")
		if id == nil {
			return unknown(nil)
		}
		email := join(id, "@", project(), ".iam.gserviceaccount.com")
		switch attr {
		case "email":
			return email
		case "account_id":
			return id
		case "member":
			return join("serviceAccount:", email)
		case "name", "id":
			return join("projects/", project(), "/serviceAccounts/", email)
		}
	case "google_compute_network":
		n := arg("name")
		if n == nil {
			return unknown(nil)
		}
		switch attr {
		case "name":
			return n
		case "id":
			return join("projects/", project(), "/global/networks/", n)
		case "self_link":
			return join("https://www.googleapis.com/compute/v1/projects/", project(), "/global/networks/", n)
		}
	case "google_project":
		if attr == "project_id" {
			if p := arg("project_id"); p != nil {
				return p
			}
		}
	}
	return unknown(nil)
}

// concat joins strings and values into one string value, partial when some are unknown.
func concat(vs ...any) *val {
	var parts []part
	for _, v := range vs {
		switch v := v.(type) {
		case string:
			parts = append(parts, part{lit: v})
		case *val:
			p := v.pattern()
			if p == nil {
				return unknown(nil)
			}
			parts = append(parts, p...)
		}
	}
	var merged []part
	for _, p := range parts {
		if n := len(merged); n > 0 && p.hole == merged[n-1].hole {
			merged[n-1].lit += p.lit
			continue
		}
		merged = append(merged, p)
	}
	if len(merged) == 1 && !merged[0].hole {
		return &val{kind: kString, s: merged[0].lit}
	}
	if len(merged) == 0 {
		return &val{kind: kString}
	}
	return &val{kind: kUnknown, parts: merged}
}

// providerProject returns the default project of the provider configuration a block uses.
func (in *instance) providerProject(b *tfBlock, sc *scope) *val {
	return in.providerDefault(b, "project")
}

// providerDefault returns a default ("project", "region" or "zone") of the provider
// configuration a block uses; unknown when the configuration does not set it.
func (in *instance) providerDefault(b *tfBlock, what string) *val {
	key := "google"
	if a := b.attr("provider"); a != nil {
		tr, diags := hcl.AbsTraversalForExpr(a.Expr)
		if diags.HasErrors() || len(tr) == 0 {
			return unknown(nil)
		}
		key = tr.RootName()
		if len(tr) > 1 {
			at, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				return unknown(nil)
			}
			key += "." + at.Name
		}
	}
	conf := in.providers[key]
	if conf == nil {
		return unknown(nil)
	}
	var v *val
	switch what {
	case "project":
		v = conf.project
	case "region":
		v = conf.region
	case "zone":
		v = conf.zone
	}
	if v == nil {
		return unknown(nil)
	}
	return v
}

// expand creates the instances of the local modules in.mod calls.
func (ix *Index) expand(in *instance) {
	if in.depth >= maxModuleDepth {
		return
	}
	for _, b := range in.mod.blocks {
		if b.kind != "module" || b.shape != shapeNone {
			continue
		}
		dir, ok := localSourceDir(in.mod.dir, moduleSource(b))
		if !ok {
			continue
		}
		child := ix.dirs[dir]
		if child == nil || len(child.files) == 0 || dir == in.mod.dir {
			continue
		}
		for _, ex := range expansions(&scope{in: in}, b) {
			prefix := in.prefix + "module." + b.name + ex.key + "."
			c := ix.newInstance(child, in.root, prefix, in.depth+1)
			c.vars = map[string]*val{}
			for name, vb := range child.vars {
				if a := b.attr(name); a != nil {
					c.vars[name] = ex.sc.eval(a.Expr)
				} else if d := vb.Body.Attributes["default"]; d != nil {
					c.vars[name] = (&scope{}).eval(d.Expr)
				} else {
					c.vars[name] = unknown(nil)
				}
			}
			c.providers = in.childProviders(b)
			c.configureProviders()
			ix.expand(c)
		}
	}
}

// childProviders passes provider configurations to a module call: the defaults are
// inherited, and a providers = { google = google.x } map renames.
func (in *instance) childProviders(call *tfBlock) map[string]*providerConf {
	out := map[string]*providerConf{}
	for k, v := range in.providers {
		if !strings.Contains(k, ".") {
			out[k] = v
		}
	}
	a := call.attr("providers")
	if a == nil {
		return out
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return out
	}
	for _, it := range obj.Items {
		kt, d1 := hcl.AbsTraversalForExpr(it.KeyExpr)
		vt, d2 := hcl.AbsTraversalForExpr(it.ValueExpr)
		if d1.HasErrors() || d2.HasErrors() {
			continue
		}
		out[traversalKey(kt)] = in.providers[traversalKey(vt)]
	}
	return out
}

func traversalKey(tr hcl.Traversal) string {
	s := tr.RootName()
	for _, step := range tr[1:] {
		if a, ok := step.(hcl.TraverseAttr); ok {
			s += "." + a.Name
		}
	}
	return s
}

// expansion is one instance of a block with count or for_each.
type expansion struct {
	key string // address suffix: "", "[0]" or "[\"k\"]"
	sc  *scope
	// coll and at locate the for_each element or map entry the instance comes from.
	coll *val
	at   int
	// uncertain explains why the instance might not exist or be keyed otherwise.
	uncertain string
}

// expansions evaluates a block's count or for_each.
func expansions(parent *scope, b *tfBlock) []expansion {
	if a := b.attr("for_each"); a != nil {
		coll := parent.eval(a.Expr)
		var out []expansion
		switch coll.kind {
		case kList:
			for i, e := range coll.elems {
				s, _ := e.str()
				out = append(out, expansion{key: "[" + quote(s) + "]", coll: coll, at: i,
					sc: &scope{in: parent.in, each: true, eachKey: e, eachValue: e}})
			}
			return out
		case kMap:
			for i, it := range coll.items {
				if !it.keyKnown {
					continue
				}
				out = append(out, expansion{key: "[" + quote(it.key) + "]", coll: coll, at: i,
					sc: &scope{in: parent.in, each: true, eachKey: &val{kind: kString, s: it.key, expr: it.site.KeyExpr}, eachValue: it.v}})
			}
			if coll.incomplete {
				out = append(out, expansion{key: "[?]", uncertain: "for_each has a key that could not be evaluated",
					sc: &scope{in: parent.in, each: true}})
			}
			return out
		case kNull:
			return nil
		}
		return []expansion{{key: "[?]", uncertain: "for_each could not be evaluated", sc: &scope{in: parent.in, each: true}}}
	}
	if a := b.attr("count"); a != nil {
		c := parent.eval(a.Expr)
		if c.kind == kNumber {
			var n int
			if _, err := fmt.Sscanf(c.s, "%d", &n); err == nil && n >= 0 && n <= 1000 {
				out := make([]expansion, 0, n)
				for i := range n {
					idx := &val{kind: kNumber, s: fmt.Sprint(i)}
					out = append(out, expansion{key: fmt.Sprintf("[%d]", i), sc: &scope{in: parent.in, countIndex: idx}})
				}
				return out
			}
		}
		return []expansion{{key: "[?]", uncertain: "count could not be evaluated", sc: &scope{in: parent.in, countIndex: unknown(nil)}}}
	}
	return []expansion{{sc: &scope{in: parent.in}}}
}
