package iac

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// WithState gives the index the Terraform state of the root module in directory root (as
// Index.Roots and Match.Root name it, e.g. the directory Backend was read from); a nil state
// forgets it. It is safe to call while Owner runs; st must not be modified afterwards.
//
// With a state, Owner first looks the live resource up by its provider ID in the states:
// when exactly one state instance is the resource and its address resolves to a block of
// the index, the match is Managed at that address and block, whatever the configuration's
// names evaluate to. When no state holds the resource, Owner answers from the configuration
// alone.
func (ix *Index) WithState(root string, st *State) {
	root = path.Clean(strings.TrimPrefix(root, "/"))
	ix.statesMu.Lock()
	defer ix.statesMu.Unlock()
	if st == nil {
		delete(ix.states, root)
		return
	}
	if ix.states == nil {
		ix.states = map[string]*State{}
	}
	ix.states[root] = st
}

// stateKey is how a live resource appears in a state: its type and a test of an instance.
type stateKey struct {
	typ     string
	kind    string
	tkind   targetKind
	name    string // the live name, for the target
	matches func(r StateResource) bool
}

// stateKeyOf builds the state lookup of a live resource; ok is false for resources Owner
// does not look up in state.
func stateKeyOf(assetType, p string, evidence map[string]any) (stateKey, bool) {
	switch assetType {
	case inventory.TypeFirewall, inventory.TypeNetwork:
		coll, typ, tk := "firewalls", KindFirewall, tFirewall
		if assetType == inventory.TypeNetwork {
			coll, typ, tk = "networks", KindNetwork, tNetwork
		}
		project, name, ok := splitPath(p, "projects", "global", coll)
		if !ok {
			return stateKey{}, false
		}
		id := projectIdentity(project, evidence)
		var want []string
		for _, pr := range []string{id.id, id.number} {
			if pr != "" {
				want = append(want, "projects/"+pr+"/global/"+coll+"/"+name)
			}
		}
		return stateKey{typ: typ, kind: typ, tkind: tk, name: name, matches: func(r StateResource) bool {
			for _, w := range want {
				if r.ID == w || resourcePath(r.SelfLink) == w {
					return true
				}
			}
			// Old provider versions used the bare name as the ID.
			return r.Name == name && r.Project != "" && (r.Project == id.id || r.Project == id.number) &&
				(r.ID == "" || r.ID == name)
		}}, true
	case inventory.TypeProject:
		role, member := evString(evidence, "role"), evString(evidence, "member")
		coll, project, ok := strings.Cut(p, "/")
		if role == "" || member == "" || !ok || coll != "projects" || project == "" || strings.Contains(project, "/") {
			return stateKey{}, false
		}
		id := projectIdentity(project, evidence)
		cond := evCondition(evidence)
		typ := "google_project" + iamMemberSuffix
		return stateKey{typ: typ, kind: typ, tkind: tIAMMember, matches: func(r StateResource) bool {
			for _, pr := range []string{id.id, id.number} {
				if pr == "" {
					continue
				}
				for _, form := range []string{pr, "projects/" + pr} {
					if iamMemberIDMatches(r.ID, form+"/"+role, member, cond) {
						return true
					}
				}
			}
			return false
		}}, true
	}
	return stateKey{}, false
}

// iamMemberIDMatches compares a google_*_iam_member ID — "{scope}/{role}/{member}", with
// "/{condition title}" appended for a conditional grant — with a grant. Members are compared
// without regard to case, as IAM does for emails.
func iamMemberIDMatches(id, scopeRole, member string, cond *condition) bool {
	rest, ok := strings.CutPrefix(id, scopeRole+"/")
	if !ok || len(rest) < len(member) || !strings.EqualFold(rest[:len(member)], member) {
		return false
	}
	rest = rest[len(member):]
	if cond == nil || (cond.title == "" && cond.expression == "") {
		return rest == ""
	}
	return cond.title != "" && rest == "/"+cond.title
}

// ownerFromState answers Owner from the states given with WithState; ok is false when no
// state holds the resource (or none was given), and Owner then answers from configuration.
func (ix *Index) ownerFromState(assetType, p string, evidence map[string]any) (Match, bool) {
	ix.statesMu.RLock()
	defer ix.statesMu.RUnlock()
	if len(ix.states) == 0 {
		return Match{}, false
	}
	key, ok := stateKeyOf(assetType, p, evidence)
	if !ok {
		return Match{}, false
	}
	var hits []hit
	var cands []Candidate
	for _, root := range slices.Sorted(maps.Keys(ix.states)) {
		for _, r := range ix.states[root].Resources {
			if r.Type != key.typ || !key.matches(r) {
				continue
			}
			h, found := ix.stateHit(root, r.Address, key)
			if !found {
				cands = append(cands, Candidate{Address: r.Address, Root: root,
					Why: "the Terraform state records the resource at this address, which no evaluated block of the index has"})
				continue
			}
			hits = append(hits, h)
			cands = append(cands, Candidate{File: h.file, Line: h.line, Address: h.addr, Root: h.root, Why: h.why})
		}
	}
	switch {
	case len(cands) == 0:
		return Match{}, false
	case len(cands) == 1 && len(hits) == 1:
		h := hits[0]
		return Match{Status: Managed, File: h.file, Line: h.line, Address: h.addr, Kind: h.kind, Root: h.root, Why: h.why, target: h.t}, true
	case len(cands) == 1:
		return Match{Status: Unresolved, Candidates: cands,
			Why: "the Terraform state records the resource at an address that could not be traced to a block"}, true
	}
	return Match{Status: Ambiguous, Candidates: cands,
		Why: fmt.Sprintf("%d Terraform state instances record the resource", len(cands))}, true
}

// stateHit resolves a state address of root to the block instance that declares it.
func (ix *Index) stateHit(root, addr string, key stateKey) (hit, bool) {
	for _, in := range ix.instances {
		if in.root != root || !strings.HasPrefix(addr, in.prefix) {
			continue
		}
		for _, b := range in.mod.blocks {
			if b.kind != "resource" || b.typ != key.typ {
				continue
			}
			for _, ex := range in.expansionsOf(b) {
				if ex.uncertain != "" || in.prefix+b.addr()+ex.key != addr {
					continue
				}
				c := ix.newCriteria()
				h := blockHit(in, b, ex, c, key.kind, &target{kind: key.tkind, in: in, b: b, ex: ex, name: key.name})
				h.exact = true
				h.why = fmt.Sprintf("the Terraform state of %s records the resource as %s", root, addr)
				return h, true
			}
		}
	}
	return hit{}, false
}

// pruneByState drops the uncertain hits that a state proves to be other live resources: an
// instance whose address the state records with another provider ID does not manage this
// one. Exact hits are kept whatever the state says.
func (ix *Index) pruneByState(assetType, p string, evidence map[string]any, hits []hit) []hit {
	ix.statesMu.RLock()
	defer ix.statesMu.RUnlock()
	if len(ix.states) == 0 {
		return hits
	}
	key, ok := stateKeyOf(assetType, p, evidence)
	if !ok {
		return hits
	}
	return slices.DeleteFunc(slices.Clone(hits), func(h hit) bool {
		st := ix.states[h.root]
		if h.exact || st == nil || h.kind != key.typ {
			return false
		}
		for _, r := range st.Resources {
			if r.Address == h.addr && r.Type == key.typ && r.ID != "" {
				return !key.matches(r)
			}
		}
		return false
	})
}
