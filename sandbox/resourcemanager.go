package sandbox

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// Resource manager's page size default and limit.
const (
	crmDefaultPageSize = 500
	crmMaxPageSize     = 1000
)

// projectParent reads a project's parent (folders/F or organizations/O) from its data, in
// the v1 shape CAI exports ({"type":"folder","id":"F"}) or the v3 shape ("folders/F"),
// and falls back on its ancestors.
func projectParent(e *entry, st *state) string {
	switch p := e.data["parent"].(type) {
	case string:
		if p != "" {
			return p
		}
	case map[string]any:
		id := str(p, "id")
		switch str(p, "type") {
		case "folder":
			return "folders/" + id
		case "organization":
			return "organizations/" + id
		}
	}
	if len(e.ancestors) > 1 {
		return e.ancestors[1]
	}
	if len(e.ancestors) == 1 {
		return st.parents[e.ancestors[0]]
	}
	return ""
}

// projectAncestors returns the ancestors of a new resource in the project: the project's
// own ancestors, or those its parents tell.
func (st *state) projectAncestors(projectID string) []string {
	ref := st.byID[projectID]
	if ref == nil {
		return nil
	}
	if ref.entry != nil && len(ref.entry.ancestors) > 0 {
		return append([]string(nil), ref.entry.ancestors...)
	}
	if ref.number == "" {
		return nil
	}
	return st.chain("projects/" + ref.number)
}

// chain returns node followed by its parents, up to the organization.
func (st *state) chain(node string) []string {
	out := []string{node}
	for p := st.parents[node]; p != "" && len(out) < 32; p = st.parents[p] {
		out = append(out, p)
	}
	return out
}

// projectParentName is the CAI resource.parent of a project's resources.
func (st *state) projectParentName(projectID string) string {
	if ref := st.byID[projectID]; ref != nil && ref.number != "" {
		return crmPrefix + "projects/" + ref.number
	}
	return ""
}

// lifecycle turns a v1 lifecycleState or v3 state into the v3 state.
func lifecycle(d map[string]any) string {
	if s := str(d, "state"); s != "" {
		return s
	}
	if s := str(d, "lifecycleState"); s != "" {
		return s
	}
	return "ACTIVE"
}

// projectV3 is a project in the shape of resource manager v3.
func (st *state) projectV3(ref *projectRef) map[string]any {
	d := ref.entry.data
	out := map[string]any{
		"name":      "projects/" + ref.number,
		"projectId": ref.id,
		"state":     lifecycle(d),
	}
	if p := projectParent(ref.entry, st); p != "" {
		out["parent"] = p
	}
	display := str(d, "displayName")
	if n := str(d, "name"); display == "" && n != "" && !strings.HasPrefix(n, "projects/") {
		display = n // the v1 shape calls the display name "name"
	}
	if display == "" {
		display = ref.id
	}
	out["displayName"] = display
	for _, k := range []string{"createTime", "updateTime", "deleteTime", "etag", "labels"} {
		if v, ok := d[k]; ok {
			out[k] = v
		}
	}
	return out
}

// crmProject resolves the project of a resource manager call; Google answers 403 for a
// project that does not exist.
func (s *Server) crmProject(c *call) (*projectRef, *apiError) {
	ref := s.st.project(c.params["project"])
	if ref == nil || ref.entry == nil || ref.number == "" {
		return nil, errCallerDenied()
	}
	return ref, nil
}

func (s *Server) getProject(c *call) response {
	ref, aerr := s.crmProject(c)
	if aerr != nil {
		return fail(aerr)
	}
	return reply(s.st.projectV3(ref))
}

// crmProjects returns the projects the scenario holds as Project assets, by project ID.
func (s *Server) crmProjects(keep func(map[string]any) bool) []map[string]any {
	var out []map[string]any
	for _, id := range s.st.projectIDs() {
		ref := s.st.byID[id]
		if ref.entry == nil || ref.number == "" {
			continue
		}
		p := s.st.projectV3(ref)
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) listProjects(c *call) response {
	q := c.r.URL.Query()
	parent := q.Get("parent")
	if parent == "" {
		return fail(errInvalid("Request contains an invalid argument: parent is required."))
	}
	showDeleted := q.Get("showDeleted") == "true"
	return s.pageProjects(c, "projects", s.crmProjects(func(p map[string]any) bool {
		return p["parent"] == parent && (showDeleted || p["state"] == "ACTIVE")
	}))
}

func (s *Server) searchProjects(c *call) response {
	// Resource manager v3 matches projects that match any of the query's terms:
	// "labels.color:red labels.size:big" finds the red ones and the big ones.
	match, aerr := parseSearchQuery(c.r.URL.Query().Get("query"), anyTerm, map[string]string{
		"parent": "parent", "id": "projectId", "projectid": "projectId", "name": "displayName",
		"displayname": "displayName", "state": "state", "lifecyclestate": "state",
		"number": "number", "projectnumber": "number", "parent.type": "parent.type", "parent.id": "parent.id",
	})
	if aerr != nil {
		return fail(aerr)
	}
	return s.pageProjects(c, "projects", s.crmProjects(func(p map[string]any) bool {
		parent, _ := p["parent"].(string)
		kind, id, _ := strings.Cut(parent, "/")
		return match(map[string]string{
			"parent": parent, "projectId": str(p, "projectId"), "displayName": str(p, "displayName"),
			"state": str(p, "state"), "number": strings.TrimPrefix(str(p, "name"), "projects/"),
			"parent.type": strings.TrimSuffix(kind, "s"), "parent.id": id,
		})
	}))
}

// pageProjects answers one page of a list, sorted by name, under the given field.
func (s *Server) pageProjects(c *call, field string, items []map[string]any) response {
	q := c.r.URL.Query()
	size, aerr := pageSize(q, "pageSize", crmDefaultPageSize, crmMaxPageSize)
	if aerr != nil {
		return fail(aerr)
	}
	sort.Slice(items, func(i, j int) bool { return str(items[i], "name") < str(items[j], "name") })
	page, next, aerr := pageOf(items, func(m map[string]any) string { return str(m, "name") }, size, q.Get("pageToken"))
	if aerr != nil {
		return fail(aerr)
	}
	body := map[string]any{}
	if len(page) > 0 {
		body[field] = page
	}
	if next != "" {
		body["nextPageToken"] = next
	}
	return reply(body)
}

// How the terms of a search query combine.
const (
	everyTerm = false // all terms must match
	anyTerm   = true  // one matching term is enough
)

// parseSearchQuery parses resource manager's search query: space-separated key:value or
// key=value terms, of which every one, or any one, must match (combine); a value ending in *
// matches a prefix, and the words AND and OR are skipped. keys maps the accepted keys (lower
// case) to the fields handed to the returned matcher. An empty query matches everything.
func parseSearchQuery(query string, combine bool, keys map[string]string) (func(map[string]string) bool, *apiError) {
	type term struct{ field, value string }
	var terms []term
	for _, t := range strings.Fields(query) {
		if t == "AND" || t == "OR" {
			continue
		}
		i := strings.IndexAny(t, ":=")
		if i <= 0 {
			return nil, errInvalid(fmt.Sprintf("Request contains an invalid argument: query term %q is not key:value.", t))
		}
		field, ok := keys[strings.ToLower(t[:i])]
		if !ok {
			return nil, errInvalid(fmt.Sprintf("Request contains an invalid argument: the sandbox does not search by %q.", t[:i]))
		}
		terms = append(terms, term{field, unquote(t[i+1:])})
	}
	return func(fields map[string]string) bool {
		if len(terms) == 0 {
			return true
		}
		for _, t := range terms {
			v := fields[t.field]
			ok := strings.EqualFold(v, t.value)
			if prefix, isPrefix := strings.CutSuffix(t.value, "*"); isPrefix {
				ok = strings.HasPrefix(strings.ToLower(v), strings.ToLower(prefix))
			}
			if ok == combine {
				return ok
			}
		}
		return !combine
	}, nil
}

// folderV3 is a folder in the shape of resource manager v3; the folder may be known only
// from ancestors, and then has no display name.
func (st *state) folderV3(name string) map[string]any {
	out := map[string]any{"name": name, "state": "ACTIVE"}
	if p := st.parents[name]; p != "" {
		out["parent"] = p
	}
	if e := st.entries[crmPrefix+name]; e != nil && e.data != nil {
		out["state"] = lifecycle(e.data)
		for _, k := range []string{"displayName", "createTime", "updateTime", "deleteTime", "etag"} {
			if v, ok := e.data[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

// organizationV3 is an organization in the shape of resource manager v3, from the v1
// shape CAI exports (owner.directoryCustomerId, creationTime, lifecycleState).
func (st *state) organizationV3(name string) map[string]any {
	out := map[string]any{"name": name, "state": "ACTIVE"}
	e := st.entries[crmPrefix+name]
	if e == nil || e.data == nil {
		return out
	}
	d := e.data
	out["state"] = lifecycle(d)
	if v := str(d, "displayName"); v != "" {
		out["displayName"] = v
	}
	customer := str(d, "directoryCustomerId")
	if owner, ok := d["owner"].(map[string]any); ok && customer == "" {
		customer = str(owner, "directoryCustomerId")
	}
	if customer != "" {
		out["directoryCustomerId"] = customer
	}
	if v := str(d, "createTime"); v != "" {
		out["createTime"] = v
	} else if v := str(d, "creationTime"); v != "" {
		out["createTime"] = v
	}
	for _, k := range []string{"updateTime", "deleteTime", "etag"} {
		if v, ok := d[k]; ok {
			out[k] = v
		}
	}
	return out
}

func (s *Server) getFolder(c *call) response {
	name := "folders/" + c.params["folder"]
	if !s.st.nodes[name] {
		return fail(errCallerDenied())
	}
	return reply(s.st.folderV3(name))
}

func (s *Server) listFolders(c *call) response {
	q := c.r.URL.Query()
	parent := q.Get("parent")
	if parent == "" {
		return fail(errInvalid("Request contains an invalid argument: parent is required."))
	}
	var items []map[string]any
	for n := range s.st.nodes {
		if strings.HasPrefix(n, "folders/") && s.st.parents[n] == parent {
			f := s.st.folderV3(n)
			if q.Get("showDeleted") == "true" || f["state"] == "ACTIVE" {
				items = append(items, f)
			}
		}
	}
	return s.pageProjects(c, "folders", items)
}

func (s *Server) getOrganization(c *call) response {
	name := "organizations/" + c.params["organization"]
	if !s.st.nodes[name] {
		return fail(errCallerDenied())
	}
	return reply(s.st.organizationV3(name))
}

func (s *Server) searchOrganizations(c *call) response {
	match, aerr := parseSearchQuery(c.r.URL.Query().Get("query"), everyTerm, map[string]string{
		"domain": "displayName", "directorycustomerid": "directoryCustomerId",
	})
	if aerr != nil {
		return fail(aerr)
	}
	var items []map[string]any
	for n := range s.st.nodes {
		if strings.HasPrefix(n, "organizations/") {
			o := s.st.organizationV3(n)
			if match(map[string]string{"displayName": str(o, "displayName"), "directoryCustomerId": str(o, "directoryCustomerId")}) {
				items = append(items, o)
			}
		}
	}
	return s.pageProjects(c, "organizations", items)
}

// crmPolicyTarget finds the entry holding the policy of projects/P, folders/F or
// organizations/O. create makes an entry for a folder or organization the scenario knows
// only from ancestors, to hold a policy being written.
func (s *Server) crmPolicyTarget(kind string, c *call, create bool) (*entry, *apiError) {
	var name string
	switch kind {
	case "projects":
		ref, aerr := s.crmProject(c)
		if aerr != nil {
			return nil, aerr
		}
		name = "projects/" + ref.number
	case "folders":
		name = "folders/" + c.params["folder"]
	default:
		name = "organizations/" + c.params["organization"]
	}
	if kind != "projects" && !s.st.nodes[name] {
		return nil, errCallerDenied()
	}
	if s.denied[name] {
		return nil, errCallerDenied()
	}
	e := s.st.entries[crmPrefix+name]
	if e == nil && create {
		t := inventory.TypeFolder
		if kind == "organizations" {
			t = inventory.TypeOrganization
		}
		e = &entry{name: crmPrefix + name, assetType: t, ancestors: s.st.chain(name)}
		s.st.entries[e.name] = e
	}
	return e, nil
}

func crmGetPolicy(kind string) func(*Server, *call) response {
	return func(s *Server, c *call) response {
		e, aerr := s.crmPolicyTarget(kind, c, false)
		if aerr != nil {
			return fail(aerr)
		}
		var req struct {
			Options struct {
				RequestedPolicyVersion int `json:"requestedPolicyVersion"`
			} `json:"options"`
		}
		if aerr := decodeBody(c.body, &req); aerr != nil {
			return fail(aerr)
		}
		return s.readPolicy(e, req.Options.RequestedPolicyVersion)
	}
}

func crmSetPolicy(kind string) func(*Server, *call) response {
	return func(s *Server, c *call) response {
		e, aerr := s.crmPolicyTarget(kind, c, true)
		if aerr != nil {
			return fail(aerr)
		}
		return s.writePolicy(e, c)
	}
}
