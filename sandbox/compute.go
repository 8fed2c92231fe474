package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

type scopeKind int

const (
	scopeGlobal scopeKind = iota
	scopeRegion
	scopeZone
)

// collection describes one compute resource collection the sandbox serves.
type collection struct {
	assetType string
	plural    string // the path segment, e.g. "firewalls"
	kind      string // e.g. "compute#firewall"
	scope     scopeKind
	discovery string // the CAI discovery name, e.g. "Firewall"
}

func collectionOf(assetType string) (collection, bool) {
	switch assetType {
	case inventory.TypeFirewall:
		return collection{assetType, "firewalls", "compute#firewall", scopeGlobal, "Firewall"}, true
	case inventory.TypeNetwork:
		return collection{assetType, "networks", "compute#network", scopeGlobal, "Network"}, true
	case inventory.TypeSubnetwork:
		return collection{assetType, "subnetworks", "compute#subnetwork", scopeRegion, "Subnetwork"}, true
	case inventory.TypeInstance:
		return collection{assetType, "instances", "compute#instance", scopeZone, "Instance"}, true
	}
	return collection{}, false
}

// scopeOf is the scope the call's path names: "global", "regions/R" or "zones/Z".
func (col collection) scopeOf(c *call) string {
	switch col.scope {
	case scopeRegion:
		return "regions/" + c.params["region"]
	case scopeZone:
		return "zones/" + c.params["zone"]
	}
	return "global"
}

// Compute's page size limit and default.
const computeMaxResults = 500

// computeNameRE is the RFC 1035 label compute requires of resource names.
var computeNameRE = regexp.MustCompile(`^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$`)

// computeProject resolves the project of a compute call; compute answers 404 for a
// project it does not know.
func (s *Server) computeProject(c *call) (string, *apiError) {
	p := c.params["project"]
	ref := s.st.project(p)
	if ref == nil {
		return "", errComputeNotFound("projects/" + p)
	}
	return ref.key(), nil
}

// computeTarget finds the entry a compute call names.
func (s *Server) computeTarget(c *call, col collection) (*entry, *apiError) {
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return nil, aerr
	}
	scope := col.scopeOf(c)
	e := s.st.entries[computeName(proj, scope, col.plural, c.params["resource"])]
	if e == nil || e.data == nil {
		return nil, errComputeNotFound(fmt.Sprintf("projects/%s/%s/%s/%s", c.params["project"], scope, col.plural, c.params["resource"]))
	}
	return e, nil
}

func computeGet(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		e, aerr := s.computeTarget(c, col)
		if aerr != nil {
			return fail(aerr)
		}
		return reply(e.data)
	}
}

func computeList(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		proj, aerr := s.computeProject(c)
		if aerr != nil {
			return fail(aerr)
		}
		q := c.r.URL.Query()
		size, aerr := pageSize(q, "maxResults", computeMaxResults, computeMaxResults)
		if aerr != nil {
			return fail(aerr)
		}
		filter, aerr := parseFilter(q.Get("filter"))
		if aerr != nil {
			return fail(aerr)
		}
		scope := col.scopeOf(c)
		ents := s.st.sortedEntries(col.assetType, func(e *entry) bool {
			return e.project == proj && e.scope == scope && e.data != nil && filter.matches(e.data)
		})
		page, next, aerr := pageOf(ents, func(e *entry) string { return e.short }, size, q.Get("pageToken"))
		if aerr != nil {
			return fail(aerr)
		}
		path := "projects/" + c.params["project"] + "/" + scope + "/" + col.plural
		body := map[string]any{"kind": col.kind + "List", "id": path, "selfLink": computeBase + path}
		if len(page) > 0 {
			items := make([]any, len(page))
			for i, e := range page {
				items[i] = e.data
			}
			body["items"] = items
		}
		if next != "" {
			body["nextPageToken"] = next
		}
		return reply(body)
	}
}

func computeAggregated(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		proj, aerr := s.computeProject(c)
		if aerr != nil {
			return fail(aerr)
		}
		q := c.r.URL.Query()
		size, aerr := pageSize(q, "maxResults", computeMaxResults, computeMaxResults)
		if aerr != nil {
			return fail(aerr)
		}
		filter, aerr := parseFilter(q.Get("filter"))
		if aerr != nil {
			return fail(aerr)
		}
		ents := s.st.sortedEntries(col.assetType, func(e *entry) bool {
			return e.project == proj && e.data != nil && filter.matches(e.data)
		})
		key := func(e *entry) string { return e.scope + "/" + e.short }
		// Names sort by scope then name: scopes and names hold no character below "/".
		page, next, aerr := pageOf(ents, key, size, q.Get("pageToken"))
		if aerr != nil {
			return fail(aerr)
		}
		items := map[string]map[string][]any{}
		for _, e := range page {
			if items[e.scope] == nil {
				items[e.scope] = map[string][]any{}
			}
			items[e.scope][col.plural] = append(items[e.scope][col.plural], e.data)
		}
		path := "projects/" + c.params["project"] + "/aggregated/" + col.plural
		body := map[string]any{"kind": col.kind + "AggregatedList", "id": path, "selfLink": computeBase + path, "items": items}
		if next != "" {
			body["nextPageToken"] = next
		}
		return reply(body)
	}
}

func computeInsert(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		proj, aerr := s.computeProject(c)
		if aerr != nil {
			return fail(aerr)
		}
		d, aerr := decodeResource(c.body)
		if aerr != nil {
			return fail(aerr)
		}
		name := str(d, "name")
		if !computeNameRE.MatchString(name) {
			return fail(errInvalid(fmt.Sprintf("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", name)))
		}
		scope := col.scopeOf(c)
		full := computeName(proj, scope, col.plural, name)
		if s.st.entries[full] != nil {
			return fail(&apiError{code: http.StatusConflict, reason: "alreadyExists",
				message: fmt.Sprintf("The resource 'projects/%s/%s/%s/%s' already exists", c.params["project"], scope, col.plural, name)})
		}
		for _, k := range []string{"id", "selfLink", "creationTimestamp", "kind"} {
			delete(d, k)
		}
		if aerr := s.computeDefaults(col, proj, d, true); aerr != nil {
			return fail(aerr)
		}
		now := s.st.now()
		e := &entry{
			name: full, assetType: col.assetType, data: d, updateTime: now,
			project: proj, scope: scope, short: name,
			ancestors: s.st.projectAncestors(proj),
			resource: inventory.Resource{
				Version:              "v1",
				DiscoveryDocumentURI: "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
				DiscoveryName:        col.discovery,
				Parent:               s.st.projectParentName(proj),
				Location:             locationOf(scope),
			},
		}
		s.st.fillCompute(e, now)
		s.st.entries[full] = e
		return reply(s.newOperation(proj, scope, "insert", e.data))
	}
}

// computeWrite finds the target of a patch or update and decodes and checks its body: it
// may not change immutable fields and must carry the current fingerprint, if any.
func (s *Server) computeWrite(c *call, col collection) (*entry, map[string]any, *apiError) {
	e, aerr := s.computeTarget(c, col)
	if aerr != nil {
		return nil, nil, aerr
	}
	body, aerr := decodeResource(c.body)
	if aerr != nil {
		return nil, nil, aerr
	}
	if aerr := checkImmutable(e, body); aerr != nil {
		return nil, nil, aerr
	}
	if aerr := checkFingerprint(e, body); aerr != nil {
		return nil, nil, aerr
	}
	return e, body, nil
}

func computePatch(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		e, patch, aerr := s.computeWrite(c, col)
		if aerr != nil {
			return fail(aerr)
		}
		updated := cloneJSON(e.data)
		mergePatch(updated, patch)
		_, sentNetwork := patch["network"]
		if aerr := s.computeDefaults(col, e.project, updated, sentNetwork); aerr != nil {
			return fail(aerr)
		}
		s.commitCompute(e, updated)
		return reply(s.newOperation(e.project, e.scope, "patch", e.data))
	}
}

func computeUpdate(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		e, d, aerr := s.computeWrite(c, col)
		if aerr != nil {
			return fail(aerr)
		}
		for _, k := range []string{"id", "selfLink", "creationTimestamp", "kind", "name", "region", "zone"} {
			if v, ok := e.data[k]; ok {
				d[k] = v
			}
		}
		_, sentNetwork := d["network"]
		if aerr := s.computeDefaults(col, e.project, d, sentNetwork); aerr != nil {
			return fail(aerr)
		}
		s.commitCompute(e, d)
		return reply(s.newOperation(e.project, e.scope, "update", e.data))
	}
}

func computeDelete(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		e, aerr := s.computeTarget(c, col)
		if aerr != nil {
			return fail(aerr)
		}
		if col.assetType == inventory.TypeNetwork {
			if aerr := s.st.checkNetworkUnused(e); aerr != nil {
				return fail(aerr)
			}
			// The subnetworks of an auto mode network go with it.
			for _, sub := range s.st.networkUsers(e) {
				if sub.assetType == inventory.TypeSubnetwork {
					delete(s.st.entries, sub.name)
				}
			}
		}
		delete(s.st.entries, e.name)
		return reply(s.newOperation(e.project, e.scope, "delete", e.data))
	}
}

// commitCompute stores new data for a compute resource, as a write that succeeded.
func (s *Server) commitCompute(e *entry, d map[string]any) {
	if _, ok := e.data["fingerprint"]; ok || e.assetType == inventory.TypeSubnetwork {
		d["fingerprint"] = fingerprint(s.st.newID(e.name))
	}
	e.data = d
	e.updateTime = s.st.now()
}

// computeDefaults fills and checks what compute fills and checks on a written resource;
// checkNetwork asks to check that the firewall's network exists (when the caller set it).
func (s *Server) computeDefaults(col collection, project string, d map[string]any, checkNetwork bool) *apiError {
	if col.assetType != inventory.TypeFirewall {
		return nil
	}
	setDefault(d, "direction", "INGRESS")
	setDefault(d, "priority", json.Number("1000"))
	network := networkURL(project, str(d, "network"))
	d["network"] = network
	if checkNetwork && s.st.entries[computePrefix+resourcePath(network)] == nil {
		return errComputeNotFound(resourcePath(network))
	}
	if _, both := d["denied"]; both && d["allowed"] != nil {
		return errInvalid("Invalid value for field 'resource': a firewall rule sets either 'allowed' or 'denied', not both.")
	}
	return nil
}

func checkImmutable(e *entry, d map[string]any) *apiError {
	if name, ok := d["name"]; ok && name != e.short {
		return errInvalid(fmt.Sprintf("Invalid value for field 'resource.name': '%v'. Resource name cannot be changed.", name))
	}
	for _, k := range []string{"id", "selfLink", "creationTimestamp", "kind"} {
		delete(d, k)
	}
	return nil
}

// checkFingerprint answers 412 when the caller sent a fingerprint that is not the current one.
func checkFingerprint(e *entry, d map[string]any) *apiError {
	sent, cur := str(d, "fingerprint"), str(e.data, "fingerprint")
	delete(d, "fingerprint")
	if sent != "" && cur != "" && sent != cur {
		return &apiError{code: http.StatusPreconditionFailed, reason: "conditionNotMet",
			message: "Supplied fingerprint does not match current metadata fingerprint."}
	}
	return nil
}

// fingerprint returns a compute-style fingerprint (8 bytes in base64).
func fingerprint(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// networkUsers returns the firewalls, subnetworks and instances that use a network.
func (st *state) networkUsers(network *entry) []*entry {
	path := resourcePath(str(network.data, "selfLink"))
	var users []*entry
	for _, t := range []string{inventory.TypeFirewall, inventory.TypeSubnetwork, inventory.TypeInstance} {
		for _, e := range st.sortedEntries(t, nil) {
			if e.data == nil {
				continue
			}
			refs := []string{str(e.data, "network")}
			if nics, ok := e.data["networkInterfaces"].([]any); ok {
				for _, n := range nics {
					if m, ok := n.(map[string]any); ok {
						refs = append(refs, str(m, "network"))
					}
				}
			}
			for _, r := range refs {
				if r != "" && resourcePath(r) == path {
					users = append(users, e)
					break
				}
			}
		}
	}
	return users
}

// checkNetworkUnused answers 400 resourceInUseByAnotherResource, as compute does, when
// something other than an auto mode network's own subnetworks uses the network.
func (st *state) checkNetworkUnused(network *entry) *apiError {
	auto, _ := network.data["autoCreateSubnetworks"].(bool)
	for _, u := range st.networkUsers(network) {
		if u.assetType == inventory.TypeSubnetwork && auto {
			continue
		}
		return &apiError{code: http.StatusBadRequest, reason: "resourceInUseByAnotherResource",
			message: fmt.Sprintf("The network resource '%s' is already being used by '%s'",
				resourcePath(str(network.data, "selfLink")), resourcePath(str(u.data, "selfLink")))}
	}
	return nil
}

// newOperation records a finished compute operation on target and returns it.
func (s *Server) newOperation(project, scope, opType string, target map[string]any) map[string]any {
	now := s.st.now()
	id := s.st.newID("operation")
	name := fmt.Sprintf("operation-%d-%s", now.UnixMilli(), id)
	ts := now.Format(computeTimeLayout)
	op := map[string]any{
		"kind":          "compute#operation",
		"id":            id,
		"name":          name,
		"operationType": opType,
		"targetLink":    str(target, "selfLink"),
		"targetId":      str(target, "id"),
		"status":        "DONE",
		"user":          "sandbox@zerodrift.invalid",
		"progress":      100,
		"insertTime":    ts,
		"startTime":     ts,
		"endTime":       ts,
		"selfLink":      computeBase + "projects/" + project + "/" + scope + "/operations/" + name,
	}
	switch {
	case strings.HasPrefix(scope, "regions/"):
		op["region"] = computeBase + "projects/" + project + "/" + scope
	case strings.HasPrefix(scope, "zones/"):
		op["zone"] = computeBase + "projects/" + project + "/" + scope
	}
	s.st.ops[project+"/"+scope+"/"+name] = op
	return op
}

// getOperation answers operations.get and operations.wait: every operation is DONE.
func (s *Server) getOperation(c *call) response {
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return fail(aerr)
	}
	scope := "global"
	if r, ok := c.params["region"]; ok {
		scope = "regions/" + r
	}
	op := s.st.ops[proj+"/"+scope+"/"+c.params["operation"]]
	if op == nil {
		return fail(errComputeNotFound(fmt.Sprintf("projects/%s/%s/operations/%s", c.params["project"], scope, c.params["operation"])))
	}
	return reply(op)
}

// decodeResource decodes a request body holding a compute resource.
func decodeResource(body []byte) (map[string]any, *apiError) {
	d, err := decodeObject(body)
	if err != nil {
		return nil, errBadRequest("Invalid JSON payload received. " + err.Error())
	}
	if d == nil {
		return nil, errInvalid("Required field 'resource' not specified")
	}
	return d, nil
}

// mergePatch applies an RFC 7386 JSON merge patch, as compute's PATCH methods do.
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
			}
			mergePatch(dm, pv)
			dst[k] = dm
		default:
			dst[k] = v
		}
	}
}

// cloneJSON deep-copies decoded JSON.
func cloneJSON(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneJSON(t)
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneValue(x)
		}
		return out
	}
	return v
}

// networkURL expands a network reference as compute does: a name, global/networks/N,
// projects/P/global/networks/N or a full URL; empty means the default network.
func networkURL(project, v string) string {
	switch {
	case v == "":
		return computeBase + "projects/" + project + "/global/networks/default"
	case strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://"):
		return computeBase + resourcePath(v)
	case strings.HasPrefix(v, "projects/"):
		return computeBase + v
	case strings.HasPrefix(v, "global/"):
		return computeBase + "projects/" + project + "/" + v
	}
	return computeBase + "projects/" + project + "/global/networks/" + v
}

// resourcePath strips a compute URL to projects/P/...
func resourcePath(u string) string {
	if i := strings.Index(u, "projects/"); i >= 0 {
		return u[i:]
	}
	return u
}

// locationOf is the CAI location of a compute scope.
func locationOf(scope string) string {
	if scope == "global" {
		return "global"
	}
	return lastSegment(scope)
}
