package iac

import (
	"cmp"
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
// With a state, Owner first looks the live resource up by its provider ID in the states (a
// project's audit configuration by its project and service, a key of a project's metadata by
// the item's key and project, as the provider records them): when exactly one state instance
// is the resource and its address resolves to a block of the index, the match is Managed at
// that address and block, whatever the configuration's names and projects evaluate to. When
// no state holds the resource, Owner answers from the configuration alone, less the blocks a
// state records as other resources; for a project-wide setting, a new block is then
// considered when none is left.
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

// stateKey is how a live resource appears in a state: the resource types that can record
// it and a test of an instance.
type stateKey struct {
	// types are the resource types whose instances can be the resource. For those in direct,
	// the state address alone locates a block Patch can edit (the whole block is the
	// resource); the others (a binding's member list, a policy's data source, a module
	// call's input) are located by the configuration, which the state then confirms.
	types  []string
	direct map[string]targetKind
	// overriding are the resource types, among types, whose instance for the resource's
	// project overrides any declaration of it and which Patch does not edit (a
	// google_project_iam_policy sets the audit configuration with the rest of the policy),
	// with why: a match with such an instance is never Managed.
	overriding  map[string]string
	name        string   // the live name, for the target
	project     identity // the live project, for the target
	metadataKey string   // the project metadata key, for the target
	matches     func(r StateResource) bool
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
		return stateKey{types: []string{typ}, direct: map[string]targetKind{typ: tk}, name: name, matches: func(r StateResource) bool {
			for _, w := range want {
				if r.ID == w || resourcePath(r.SelfLink) == w {
					return true
				}
			}
			// Old provider versions used the bare name as the ID.
			return r.Name == name && r.Project != "" && (r.Project == id.id || r.Project == id.number) &&
				(r.ID == "" || r.ID == name)
		}}, true
	case inventory.TypeSubnetwork, inventory.TypeInstance:
		scope, coll, typ, tk := "regions", "subnetworks", KindSubnetwork, tSubnetwork
		if assetType == inventory.TypeInstance {
			scope, coll, typ, tk = "zones", "instances", KindInstance, tInstance
		}
		project, where, name, ok := splitRegional(p, scope, coll)
		if !ok {
			return stateKey{}, false
		}
		id := projectIdentity(project, evidence)
		var want []string
		for _, pr := range []string{id.id, id.number} {
			if pr != "" {
				want = append(want, "projects/"+pr+"/"+scope+"/"+where+"/"+coll+"/"+name)
			}
		}
		return stateKey{types: []string{typ}, direct: map[string]targetKind{typ: tk}, name: name, project: id, matches: func(r StateResource) bool {
			return slices.Contains(want, r.ID) || slices.Contains(want, resourcePath(r.SelfLink))
		}}, true
	case inventory.TypeComputeProject:
		project, ok := splitProject(p)
		key := evString(evidence, "metadataKey")
		if !ok || !validMetadataKey(key) {
			return stateKey{}, false
		}
		return metadataStateKey(projectIdentity(project, evidence), key), true
	case inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization:
		if isAuditFinding(assetType, evidence) {
			project, ok := splitProject(p)
			if !ok {
				return stateKey{}, false
			}
			return auditStateKey(projectIdentity(project, evidence)), true
		}
		role, member := evString(evidence, "role"), evString(evidence, "member")
		sc, ok := iamScopeOf(assetType, p, evidence)
		if role == "" || member == "" || !ok {
			return stateKey{}, false
		}
		// The provider's IDs start with the scope as the IAM updaters write it: a project ID
		// (or number), "folders/N", an organization number; both spellings are accepted.
		var scopes []string
		for _, x := range []string{sc.id.id, sc.id.number} {
			if x != "" {
				scopes = append(scopes, x, sc.prefixes[0]+x)
			}
		}
		cond := evCondition(evidence)
		prefix := "google_" + sc.kind
		memberT, bindingT, policyT := prefix+iamMemberSuffix, prefix+iamBindingSuffix, prefix+iamPolicySuffix
		return stateKey{types: []string{memberT, bindingT, policyT}, direct: map[string]targetKind{memberT: tIAMMember},
			matches: func(r StateResource) bool {
				for _, form := range scopes {
					switch r.Type {
					case memberT:
						if iamMemberIDMatches(r.ID, form+"/"+role, member, cond) {
							return true
						}
					case bindingT:
						want := form + "/" + role
						if cond != nil && cond.title != "" {
							want += "/" + cond.title
						}
						if r.ID == want {
							return true
						}
					case policyT:
						if r.ID == form {
							return true
						}
					}
				}
				return false
			}}, true
	case inventory.TypeServiceAccount, inventory.TypeServiceAccountKey:
		parts := strings.Split(p, "/")
		key := assetType == inventory.TypeServiceAccountKey
		if len(parts) < 4 || parts[0] != "projects" || parts[2] != "serviceAccounts" ||
			(key && (len(parts) != 6 || parts[4] != "keys")) || (!key && len(parts) != 4) {
			return stateKey{}, false
		}
		account := accountIdentity(parts[3], evidence)
		typ, tk := KindServiceAccount, tServiceAccount
		if key {
			typ, tk = KindServiceAccountKey, tServiceAccountKey
		}
		return stateKey{types: []string{typ}, direct: map[string]targetKind{typ: tk}, matches: func(r StateResource) bool {
			// projects/P/serviceAccounts/EMAIL[/keys/ID]; the project may be "-".
			rp := strings.Split(resourcePath(cmp.Or(r.ID, r.Name)), "/")
			if len(rp) != len(parts) || rp[0] != "projects" || rp[2] != "serviceAccounts" {
				return false
			}
			if key && (rp[4] != "keys" || rp[5] != parts[5]) {
				return false
			}
			return (account.id != "" && strings.EqualFold(rp[3], account.id)) || (account.number != "" && rp[3] == account.number)
		}}, true
	}
	return stateKey{}, false
}

// isStateProject reports whether a project attribute or ID of a state instance ("P" or
// "projects/P") names the live project, by ID or number.
func isStateProject(s string, project identity) bool {
	s = strings.TrimPrefix(s, "projects/")
	return s != "" && (s == project.id || s == project.number)
}

// auditStateKey looks up a project's audit configuration for allServices: a
// google_project_iam_audit_config, whose ID is "{project}/audit_config/{service}" and whose
// project and service attributes say the same; or the project's google_project_iam_policy
// (its ID is the project), which overrides it.
func auditStateKey(project identity) stateKey {
	const policyT = "google_project" + iamPolicySuffix
	return stateKey{types: []string{KindAuditConfig, policyT}, direct: map[string]targetKind{KindAuditConfig: tAuditConfig},
		overriding: map[string]string{policyT: auditPolicyOverrides}, project: project,
		matches: func(r StateResource) bool {
			switch r.Type {
			case KindAuditConfig:
				if r.Service != "" || r.Project != "" {
					return r.Service == auditService && isStateProject(r.Project, project)
				}
				scope, service, ok := strings.Cut(r.ID, "/audit_config/")
				return ok && service == auditService && isStateProject(scope, project)
			case policyT:
				return isStateProject(r.ID, project)
			}
			return false
		}}
}

// metadataStateKey looks up what declares a key of a project's common instance metadata: a
// google_compute_project_metadata_item, whose ID is the key and whose project attribute is
// the project, or the project's google_compute_project_metadata, whose ID is the project.
func metadataStateKey(project identity, key string) stateKey {
	return stateKey{types: []string{KindProjectMetadataItem, KindProjectMetadata},
		direct:  map[string]targetKind{KindProjectMetadataItem: tProjectMetadataItem, KindProjectMetadata: tProjectMetadata},
		project: project, metadataKey: key,
		matches: func(r StateResource) bool {
			switch r.Type {
			case KindProjectMetadataItem:
				return r.ID == key && isStateProject(r.Project, project)
			case KindProjectMetadata:
				return isStateProject(cmp.Or(r.Project, r.ID), project)
			}
			return false
		}}
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
// hits are the configuration's answers, which locate resources the state records inside
// a module call or a member list.
func (ix *Index) ownerFromState(assetType, p string, evidence map[string]any, hits []hit) (Match, bool) {
	ix.statesMu.RLock()
	defer ix.statesMu.RUnlock()
	if len(ix.states) == 0 {
		return Match{}, false
	}
	key, ok := stateKeyOf(assetType, p, evidence)
	if !ok {
		return Match{}, false
	}
	var found []hit
	var cands []Candidate
	overridden := false
	for _, root := range slices.Sorted(maps.Keys(ix.states)) {
		for _, r := range ix.states[root].Resources {
			if !slices.Contains(key.types, r.Type) || !key.matches(r) {
				continue
			}
			if why, ok := key.overriding[r.Type]; ok {
				cands = append(cands, overridingCandidate(root, r.Address, why, hits))
				overridden = true
				continue
			}
			var confirmed []hit
			if tk, direct := key.direct[r.Type]; direct {
				if h, ok := ix.stateHit(root, r.Address, r.Type, tk, key); ok {
					confirmed = append(confirmed, h)
				}
			}
			if len(confirmed) == 0 {
				confirmed = confirmedHits(root, r.Address, hits)
			}
			if len(confirmed) == 0 {
				if _, direct := key.direct[r.Type]; direct || strings.Contains(r.Address, "module.") {
					cands = append(cands, Candidate{Address: r.Address, Root: root,
						Why: "the Terraform state records the resource at this address, which no evaluated block of the index has"})
				}
				// A binding or policy the configuration does not list the member in: the
				// member was granted outside Terraform, and the configuration answers.
				continue
			}
			for _, h := range confirmed {
				found = append(found, h)
				cands = append(cands, Candidate{File: h.file, Line: h.line, Address: h.addr, Root: h.root, Why: h.why})
			}
		}
	}
	switch {
	case len(cands) == 0:
		return Match{}, false
	case len(cands) == 1 && len(found) == 1 && found[0].exact:
		h := found[0]
		return Match{Status: Managed, File: h.file, Line: h.line, Address: h.addr, Kind: h.kind, Root: h.root, Why: h.why, target: h.t}, true
	case len(cands) == 1 && len(found) == 1:
		return Match{Status: Unresolved, Candidates: cands,
			Why: "the Terraform state records the resource at " + found[0].addr + ", but the configuration there could not be fully evaluated"}, true
	case len(cands) == 1 && overridden:
		return Match{Status: Unresolved, Candidates: cands, Why: cands[0].Why}, true
	case len(cands) == 1:
		return Match{Status: Unresolved, Candidates: cands,
			Why: "the Terraform state records the resource at an address that could not be traced to a block"}, true
	}
	return Match{Status: Ambiguous, Candidates: cands,
		Why: fmt.Sprintf("%d Terraform state instances record the resource", len(cands))}, true
}

// overridingCandidate is the candidate of a state instance of root at addr that overrides
// the resource (see stateKey.overriding), located by the configuration hit of the same
// address when there is one.
func overridingCandidate(root, addr, why string, hits []hit) Candidate {
	c := Candidate{Address: addr, Root: root, Why: fmt.Sprintf("the Terraform state of %s records %s for the project; %s", root, addr, why)}
	if i := slices.IndexFunc(hits, func(h hit) bool { return h.root == root && h.addr == addr }); i >= 0 {
		c.File, c.Line = hits[i].file, hits[i].line
	}
	return c
}

// confirmedHits returns the configuration hits of root that the state address addr is: the
// same address, or a resource inside the module call the hit is an input element of. The
// state settles what the configuration could not evaluate (names, projects), but not where
// in the block the resource is: a hit whose member is still unknown stays uncertain.
func confirmedHits(root, addr string, hits []hit) []hit {
	var out []hit
	for _, h := range hits {
		if h.root != root || h.t == nil {
			continue
		}
		call := h.t.in.prefix + h.t.b.addr() + h.t.ex.key
		if h.addr != addr && (h.t.b.kind != "module" || !strings.HasPrefix(addr, call+".")) {
			continue
		}
		h.exact = h.t.members == nil || h.t.memberIdx >= 0
		h.why = fmt.Sprintf("the Terraform state of %s records the resource as %s; %s", root, addr, h.why)
		out = append(out, h)
	}
	return out
}

// stateHit resolves a state address of root to the block instance of type typ that declares
// it; its target, of kind tk, carries the live names of key.
func (ix *Index) stateHit(root, addr, typ string, tk targetKind, key stateKey) (hit, bool) {
	for _, in := range ix.instances {
		if in.root != root || !strings.HasPrefix(addr, in.prefix) {
			continue
		}
		for _, b := range in.mod.blocks {
			if b.kind != "resource" || b.typ != typ {
				continue
			}
			for _, ex := range in.expansionsOf(b) {
				if ex.uncertain != "" || in.prefix+b.addr()+ex.key != addr {
					continue
				}
				c := ix.newCriteria()
				h := blockHit(in, b, ex, c, typ, &target{kind: tk, in: in, b: b, ex: ex, name: key.name, project: key.project,
					metadataKey: key.metadataKey})
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
		if h.exact || st == nil || !slices.Contains(key.types, h.kind) {
			return false
		}
		for _, r := range st.Resources {
			if r.Address == h.addr && r.Type == h.kind && r.ID != "" {
				return !key.matches(r)
			}
		}
		return false
	})
}
