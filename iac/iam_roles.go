package iac

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// This file maps and patches a finding that names a member and every role it holds on a
// policy (evidence.roles, as iam-non-org-member and sa-role-separation report them) rather
// than one role: each of its grants is mapped as a one-role finding is, and remove-iam-member
// removes the member from all of them in one pull request.

// roleGrant is one grant of a finding that lists several roles, and where it is declared.
type roleGrant struct {
	// label names the grant for people: the role, and the condition of a conditional one.
	label string
	// assetType, resource and evidence are what Owner maps the grant from: the finding's,
	// with evidence.role (and evidence.condition) for this grant.
	assetType, resource string
	evidence            map[string]any
	m                   Match
}

// rolesEvidence reports whether the evidence names a member and a list of roles instead of
// one role.
func rolesEvidence(ev map[string]any) bool {
	return evString(ev, "role") == "" && evString(ev, "member") != "" && ev["roles"] != nil
}

// roleGrants splits a finding that lists several roles into one evidence per grant: a role
// that evidence.conditions lists conditions of (one the member holds only conditionally)
// stands for its grant under each of them, any other role for its unconditional grant, as
// the live action iam.removeBinding reads the finding.
func roleGrants(ev map[string]any) []map[string]any {
	roles := slices.Compact(slices.Sorted(slices.Values(evStrings(ev, "roles"))))
	conds := evConditions(ev)
	var out []map[string]any
	for _, r := range roles {
		if r == "" {
			continue
		}
		one := maps.Clone(ev)
		delete(one, "roles")
		delete(one, "conditions")
		delete(one, "conditional")
		one["role"] = r
		if len(conds[r]) == 0 {
			out = append(out, one)
			continue
		}
		for _, c := range conds[r] {
			g := maps.Clone(one)
			g["condition"] = map[string]string{"title": c.title, "expression": c.expression}
			out = append(out, g)
		}
	}
	return out
}

// evConditions reads evidence.conditions, a list of {role, title, expression}, by role.
func evConditions(ev map[string]any) map[string][]condition {
	out := map[string][]condition{}
	add := func(m map[string]any) {
		r, _ := m["role"].(string)
		e, _ := m["expression"].(string)
		t, _ := m["title"].(string)
		if r != "" && strings.TrimSpace(e) != "" {
			out[r] = append(out[r], condition{title: t, expression: e})
		}
	}
	switch cs := ev["conditions"].(type) {
	case []map[string]string:
		for _, c := range cs {
			add(map[string]any{"role": c["role"], "title": c["title"], "expression": c["expression"]})
		}
	case []map[string]any:
		for _, c := range cs {
			add(c)
		}
	case []any:
		for _, x := range cs {
			switch c := x.(type) {
			case map[string]any:
				add(c)
			case map[string]string:
				add(map[string]any{"role": c["role"], "title": c["title"], "expression": c["expression"]})
			}
		}
	}
	return out
}

func grantLabel(ev map[string]any) string {
	if c := evCondition(ev); c != nil {
		return fmt.Sprintf("%s (condition %s)", evString(ev, "role"), quote(c.expression))
	}
	return evString(ev, "role")
}

// ownerOfRoles maps a finding that lists several roles: each grant as a one-role finding,
// then together. Every grant declared (each Managed) is Managed, at the first declaration,
// with the addresses of all; none declared is Unmanaged. Some declared and others not is
// Unresolved: a pull request would leave the grants made outside Terraform, which is half
// the fix, so the finding is reported with the declarations as candidates. A grant that is
// Ambiguous or Unresolved makes the whole so.
func (ix *Index) ownerOfRoles(assetType, resourceName string, evidence map[string]any) Match {
	evs := roleGrants(evidence)
	if len(evs) == 0 {
		return Match{Status: Unresolved, Why: "evidence.roles names no role; the roles and the member are what map a finding on a " +
			"project, folder or organization to its Terraform"}
	}
	var grants []roleGrant
	var declared, undeclared, unsure []roleGrant
	for _, ev := range evs {
		g := roleGrant{label: grantLabel(ev), assetType: assetType, resource: resourceName, evidence: ev,
			m: ix.Owner(assetType, resourceName, ev)}
		grants = append(grants, g)
		switch g.m.Status {
		case Managed:
			declared = append(declared, g)
		case Unmanaged:
			undeclared = append(undeclared, g)
		default:
			unsure = append(unsure, g)
		}
	}
	labels := func(gs []roleGrant) string {
		out := make([]string, len(gs))
		for i, g := range gs {
			out[i] = g.label
		}
		return strings.Join(out, ", ")
	}
	var cands []Candidate
	for _, g := range grants {
		if g.m.Status == Managed {
			cands = append(cands, Candidate{File: g.m.File, Line: g.m.Line, Address: g.m.Address, Root: g.m.Root,
				Why: "declares the grant of " + g.label + ": " + g.m.Why})
		}
		cands = append(cands, g.m.Candidates...)
	}
	switch {
	case len(unsure) > 0:
		status := Unresolved
		var why []string
		for _, g := range unsure {
			if g.m.Status == Ambiguous {
				status = Ambiguous
			}
			why = append(why, fmt.Sprintf("the grant of %s is %s: %s", g.label, g.m.Status, g.m.Why))
		}
		return Match{Status: status, Candidates: cands, Why: strings.Join(why, "; ")}
	case len(declared) == 0:
		return Match{Status: Unmanaged, Why: "no Terraform under the indexed roots grants the member any of " + labels(grants)}
	case len(undeclared) > 0:
		verb := "was"
		if len(undeclared) > 1 {
			verb = "were"
		}
		return Match{Status: Unresolved, Candidates: cands,
			Why: fmt.Sprintf("only some of the member's grants are declared: Terraform grants %s, and %s %s granted outside it; "+
				"a pull request would leave %s, so remove the member by hand, in code and live", labels(declared), labels(undeclared), verb, labels(undeclared))}
	}
	slices.SortStableFunc(declared, func(a, b roleGrant) int {
		return cmp.Or(strings.Compare(a.m.File, b.m.File), a.m.Line-b.m.Line, strings.Compare(a.m.Address, b.m.Address))
	})
	addrs := make([]string, len(declared))
	why := make([]string, len(declared))
	for i, g := range declared {
		addrs[i] = g.m.Address
		why[i] = g.label + ": " + g.m.Why
	}
	first := declared[0].m
	return Match{Status: Managed, File: first.File, Line: first.Line, Address: strings.Join(addrs, ", "), Kind: first.Kind,
		Root: first.Root, Why: strings.Join(why, "; "), grants: declared}
}

// patchRoles writes remove-iam-member for a Managed match of several grants: the member is
// removed from each, one after the other, each edit found again in the file as the edits
// before it left it (a removal can touch what the next one edits: the blank lines between
// two blocks, an entry of the same bindings map). The grants must be declared in one file,
// since a patch changes one.
func (ix *Index) patchRoles(m Match, name string, params map[string]any) (*Patch, error) {
	if name != EditRemoveIAMMember {
		return nil, fmt.Errorf("iac: the finding names %d grants; of the Terraform edits, only %s applies to several at once", len(m.grants), EditRemoveIAMMember)
	}
	var files []string
	for _, g := range m.grants {
		if !slices.Contains(files, g.m.File) {
			files = append(files, g.m.File)
		}
	}
	if len(files) > 1 {
		return nil, fmt.Errorf("iac: the member's grants are declared in %d files (%s), and a pull request edits one; remove the member from them by hand",
			len(files), strings.Join(files, ", "))
	}
	var file string
	var before, src []byte
	var summaries, warnings, creates, destroys, updates, inputs []string
	for i, g := range m.grants {
		cur, gm := ix, g.m
		if i > 0 {
			next, err := ix.withFile(file, src)
			if err != nil {
				return nil, err
			}
			cur, gm = next, next.Owner(g.assetType, g.resource, g.evidence)
			switch {
			case gm.Status == Unmanaged:
				// An edit before this one removed it too (a members list the grants share).
				continue
			case gm.Status != Managed:
				return nil, fmt.Errorf("iac: after removing the member from the grants before it, the grant of %s is %s (%s); edit the file by hand",
					g.label, gm.Status, gm.Why)
			}
			// Summaries locate the declarations in the file as it is on the base branch.
			gm.Line = g.m.Line
		}
		p, err := cur.Patch(gm, name, params, g.evidence)
		if err != nil {
			return nil, err // Patch names the grant's declaration and the edit
		}
		switch {
		case i == 0:
			file, before = p.File, p.Before
		case p.File != file:
			return nil, fmt.Errorf("iac: removing the member from its grants would change both %s and %s, and a pull request edits one file; edit them by hand", file, p.File)
		}
		src = p.After
		if len(summaries) > 0 && p.Summary != "" {
			p.Summary = strings.ToLower(p.Summary[:1]) + p.Summary[1:]
		}
		summaries = append(summaries, p.Summary)
		for _, w := range p.Warnings {
			if !slices.Contains(warnings, w) {
				warnings = append(warnings, w)
			}
		}
		creates, destroys, updates = appendNew(creates, p.Creates...), appendNew(destroys, p.Destroys...), appendNew(updates, p.Updates...)
		inputs = appendNew(inputs, p.ModuleInputs...)
	}
	return &Patch{
		File:     file,
		Before:   before,
		After:    src,
		Summary:  strings.Join(summaries, "; "),
		Diff:     unifiedDiff(file, before, src),
		Warnings: warnings,
		Creates:  creates,
		Destroys: destroys,
		Updates:  updates,
		edits:    lineEdits(before, src),

		ModuleInputs: inputs,
	}, nil
}

// appendNew appends the elements of add that s does not hold yet.
func appendNew(s []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(s, a) {
			s = append(s, a)
		}
	}
	return s
}

// lineEdits are the edits that turn before into after, one per run of changed lines.
func lineEdits(before, after []byte) []edit {
	a, b := splitLines(string(before)), splitLines(string(after))
	off := make([]int, len(a)+1)
	for i, l := range a {
		off[i+1] = off[i] + len(l)
	}
	var out []edit
	ops := diffLines(a, b)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start, removed := ops[i].a, 0
		var text strings.Builder
		for ; i < len(ops) && ops[i].kind != ' '; i++ {
			if ops[i].kind == '-' {
				removed++
			} else {
				text.WriteString(ops[i].text)
			}
		}
		out = append(out, edit{start: off[start], end: off[start+removed], text: text.String()})
	}
	return out
}

// withFile indexes again the files this index was loaded from, with the file at name
// holding src instead, and gives the new index this one's states.
func (ix *Index) withFile(name string, src []byte) (*Index, error) {
	if ix.fsys == nil {
		return nil, errors.New("iac: internal error: the index keeps no file system to index again")
	}
	next, err := Load(overlayFS{base: ix.fsys, name: name, src: src}, ix.Roots)
	if err != nil {
		return nil, fmt.Errorf("iac: indexing %s again after an edit: %w", name, err)
	}
	ix.statesMu.RLock()
	defer ix.statesMu.RUnlock()
	for root, st := range ix.states {
		next.WithState(root, st)
	}
	return next, nil
}

// overlayFS is a file system with one file's content replaced.
type overlayFS struct {
	base fs.FS
	name string
	src  []byte
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if name != o.name {
		return o.base.Open(name)
	}
	info, err := o.Stat(name)
	if err != nil {
		return nil, err
	}
	return &memFile{info: info, r: bytes.NewReader(o.src)}, nil
}

func (o overlayFS) ReadFile(name string) ([]byte, error) {
	if name != o.name {
		return fs.ReadFile(o.base, name)
	}
	return slices.Clone(o.src), nil
}

func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(o.base, name) }

func (o overlayFS) Stat(name string) (fs.FileInfo, error) {
	info, err := fs.Stat(o.base, name)
	if err != nil || name != o.name {
		return info, err
	}
	return memInfo{name: path.Base(name), size: int64(len(o.src)), mode: info.Mode(), mod: info.ModTime()}, nil
}

// memFile is the replaced file of an overlayFS, opened.
type memFile struct {
	info fs.FileInfo
	r    *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *memFile) Close() error               { return nil }

// memInfo describes the replaced file of an overlayFS.
type memInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
