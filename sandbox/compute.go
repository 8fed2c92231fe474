package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
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

// Asset types of the compute resources the sandbox serves besides those inventory names:
// what uses a network, which deleting the default network must look for.
const (
	typeInstanceTemplate = "compute.googleapis.com/InstanceTemplate"
	typeForwardingRule   = "compute.googleapis.com/ForwardingRule"
	typeRouter           = "compute.googleapis.com/Router"
	typeVpnGateway       = "compute.googleapis.com/VpnGateway"
	typeTargetVpnGateway = "compute.googleapis.com/TargetVpnGateway"
	typeVpnTunnel        = "compute.googleapis.com/VpnTunnel"
	typeRoute            = "compute.googleapis.com/Route"
)

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
	case typeInstanceTemplate:
		return collection{assetType, "instanceTemplates", "compute#instanceTemplate", scopeGlobal, "InstanceTemplate"}, true
	case typeRoute:
		return collection{assetType, "routes", "compute#route", scopeGlobal, "Route"}, true
	case typeForwardingRule:
		return collection{assetType, "forwardingRules", "compute#forwardingRule", scopeRegion, "ForwardingRule"}, true
	case typeRouter:
		return collection{assetType, "routers", "compute#router", scopeRegion, "Router"}, true
	case typeVpnGateway:
		return collection{assetType, "vpnGateways", "compute#vpnGateway", scopeRegion, "VpnGateway"}, true
	case typeTargetVpnGateway:
		return collection{assetType, "targetVpnGateways", "compute#targetVpnGateway", scopeRegion, "TargetVpnGateway"}, true
	case typeVpnTunnel:
		return collection{assetType, "vpnTunnels", "compute#vpnTunnel", scopeRegion, "VpnTunnel"}, true
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

// computeListQuery reads what every compute list call shares: the project, and the
// maxResults, filter and other query parameters.
func (s *Server) computeListQuery(c *call) (string, url.Values, int, listFilter, *apiError) {
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return "", nil, 0, nil, aerr
	}
	q := c.r.URL.Query()
	size, aerr := pageSize(q, "maxResults", computeMaxResults, computeMaxResults)
	if aerr != nil {
		return "", nil, 0, nil, aerr
	}
	f, aerr := parseFilter(q.Get("filter"))
	if aerr != nil {
		return "", nil, 0, nil, aerr
	}
	return proj, q, size, f, nil
}

func computeList(assetType string) func(*Server, *call) response {
	col, _ := collectionOf(assetType)
	return func(s *Server, c *call) response {
		proj, q, size, filter, aerr := s.computeListQuery(c)
		if aerr != nil {
			return fail(aerr)
		}
		scope := col.scopeOf(c)
		ents := s.st.projectEntries(col.assetType, proj, func(e *entry) bool {
			return e.scope == scope && e.data != nil && filter.matches(e.data)
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
		proj, q, size, filter, aerr := s.computeListQuery(c)
		if aerr != nil {
			return fail(aerr)
		}
		ents := s.st.projectEntries(col.assetType, proj, func(e *entry) bool {
			return e.data != nil && filter.matches(e.data)
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
		if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
			target := map[string]any{"selfLink": computeBase + strings.TrimPrefix(full, computePrefix)}
			return reply(s.failedOperation(c, proj, scope, "insert", target, msg))
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
		return reply(s.newOperation(c, proj, scope, "insert", e.data))
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
		if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
			return reply(s.failedOperation(c, e.project, e.scope, "patch", e.data, msg))
		}
		s.commitCompute(e, updated)
		return reply(s.newOperation(c, e.project, e.scope, "patch", e.data))
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
		if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
			return reply(s.failedOperation(c, e.project, e.scope, "update", e.data, msg))
		}
		s.commitCompute(e, d)
		return reply(s.newOperation(c, e.project, e.scope, "update", e.data))
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
		}
		if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
			return reply(s.failedOperation(c, e.project, e.scope, "delete", e.data, msg))
		}
		if col.assetType == inventory.TypeNetwork {
			// The subnetworks of an auto mode network go with it, and so do the routes
			// Google made for it (checkNetworkUnused let only those through).
			for _, u := range s.st.networkUsers(e) {
				if u.assetType == inventory.TypeSubnetwork || u.assetType == typeRoute {
					delete(s.st.entries, u.name)
				}
			}
		}
		delete(s.st.entries, e.name)
		return reply(s.newOperation(c, e.project, e.scope, "delete", e.data))
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
	if aerr := checkFirewallRanges(d); aerr != nil {
		return aerr
	}
	// Log metadata can only be given while logging is on: turning logging off drops it.
	if lc, ok := d["logConfig"].(map[string]any); ok && lc["enable"] != true {
		delete(lc, "metadata")
	}
	return nil
}

// checkFirewallRanges checks a firewall's source and destination ranges as compute does:
// each one a CIDR or an address, and all of one address family, since a firewall rule can
// contain either IPv4 or IPv6 ranges but not both.
func checkFirewallRanges(d map[string]any) *apiError {
	family := ""
	for _, field := range []string{"sourceRanges", "destinationRanges"} {
		list, _ := d[field].([]any)
		for i, v := range list {
			r, _ := v.(string)
			f, ok := rangeFamily(r)
			if !ok {
				return errInvalid(fmt.Sprintf("Invalid value for field 'resource.%s[%d]': '%s'. Must be a valid IPv4 or IPv6 CIDR range.", field, i, r))
			}
			if family != "" && f != family {
				return errInvalid(fmt.Sprintf("Invalid value for field 'resource.%s[%d]': '%s'. "+
					"A firewall rule can contain either IPv4 or IPv6 ranges, but not both.", field, i, r))
			}
			family = f
		}
	}
	return nil
}

// rangeFamily returns "IPv4" or "IPv6" for a CIDR range or a bare address.
func rangeFamily(r string) (string, bool) {
	r = strings.TrimSpace(r)
	var addr netip.Addr
	if p, err := netip.ParsePrefix(r); err == nil {
		addr = p.Addr()
	} else if a, err := netip.ParseAddr(r); err == nil && a.Zone() == "" {
		addr = a
	} else {
		return "", false
	}
	if addr.Is4() {
		return "IPv4", true
	}
	return "IPv6", true
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
		return errFingerprintMismatch()
	}
	return nil
}

// fingerprint returns a compute-style fingerprint (8 bytes in base64).
func fingerprint(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// networkUsers returns the resources that use a network and keep it from being deleted:
// firewalls, subnetworks, instances, forwarding rules (by network or subnetwork), Cloud
// Routers, VPN gateways and routes. Instance templates only name a network, and do not.
func (st *state) networkUsers(network *entry) []*entry {
	path := resourcePath(str(network.data, "selfLink"))
	var users []*entry
	for _, t := range []string{inventory.TypeFirewall, inventory.TypeSubnetwork, inventory.TypeInstance,
		typeForwardingRule, typeRouter, typeVpnGateway, typeTargetVpnGateway, typeRoute} {
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
			if sub := str(e.data, "subnetwork"); sub != "" && e.assetType == typeForwardingRule {
				if s := st.entries[computePrefix+resourcePath(sub)]; s != nil && s.data != nil {
					refs = append(refs, str(s.data, "network"))
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

// isSystemRoute reports whether a route of the network is one Google makes and deletes with
// the network: a subnet route (next hop the network itself) or the default route to the
// internet gateway.
func isSystemRoute(route *entry, networkPath string) bool {
	if hop := str(route.data, "nextHopNetwork"); hop != "" && resourcePath(hop) == networkPath {
		return true
	}
	dest := str(route.data, "destRange")
	return strings.HasPrefix(route.short, "default-route-") && (dest == "0.0.0.0/0" || dest == "::/0") &&
		strings.HasSuffix(str(route.data, "nextHopGateway"), "/global/gateways/default-internet-gateway")
}

// checkNetworkUnused answers 400 resourceInUseByAnotherResource, as compute does, when
// something other than an auto mode network's own subnetworks and Google's routes for it
// uses the network.
func (st *state) checkNetworkUnused(network *entry) *apiError {
	auto, _ := network.data["autoCreateSubnetworks"].(bool)
	path := resourcePath(str(network.data, "selfLink"))
	for _, u := range st.networkUsers(network) {
		if u.assetType == inventory.TypeSubnetwork && auto || u.assetType == typeRoute && isSystemRoute(u, path) {
			continue
		}
		return &apiError{code: http.StatusBadRequest, reason: "resourceInUseByAnotherResource",
			message: fmt.Sprintf("The network resource '%s' is already being used by '%s'",
				resourcePath(str(network.data, "selfLink")), resourcePath(str(u.data, "selfLink")))}
	}
	return nil
}

// newOperation records a finished compute operation on target and returns it as the call
// that started it sees it: RUNNING when Faults.PendingOperationPolls holds it back.
func (s *Server) newOperation(c *call, project, scope, opType string, target map[string]any) map[string]any {
	op, key := s.recordOperation(project, scope, opType, target)
	if n := s.faults.pendingPolls(c.route.service, c.route.method); n > 0 {
		s.st.opPolls[key] = n
		return runningView(op)
	}
	return op
}

// failedOperation records an operation on target that ended with an error, as Compute
// Engine reports a write it accepted but could not carry out, and returns it as newOperation does.
func (s *Server) failedOperation(c *call, project, scope, opType string, target map[string]any, message string) map[string]any {
	op := s.newOperation(c, project, scope, opType, target)
	for _, o := range []map[string]any{op, s.st.ops[project+"/"+scope+"/"+str(op, "name")]} {
		if o["status"] != "DONE" {
			continue // the pending view: the error shows once the operation is done
		}
		o["httpErrorStatusCode"] = http.StatusInternalServerError
		o["httpErrorMessage"] = "INTERNAL SERVER ERROR"
		o["error"] = map[string]any{"errors": []any{map[string]any{"code": "INTERNAL_ERROR", "message": message}}}
	}
	return op
}

// runningView is an operation as it looks before it is done.
func runningView(op map[string]any) map[string]any {
	v := cloneJSON(op)
	v["status"] = "RUNNING"
	v["progress"] = 0
	delete(v, "endTime")
	return v
}

// recordOperation stores a DONE compute operation and returns it with its key in st.ops.
func (s *Server) recordOperation(project, scope, opType string, target map[string]any) (map[string]any, string) {
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
		"status":        "DONE",
		"user":          "sandbox@zerodrift.invalid",
		"progress":      100,
		"insertTime":    ts,
		"startTime":     ts,
		"endTime":       ts,
		"selfLink":      computeBase + "projects/" + project + "/" + scope + "/operations/" + name,
	}
	if id := str(target, "id"); id != "" {
		op["targetId"] = id
	}
	switch {
	case strings.HasPrefix(scope, "regions/"):
		op["region"] = computeBase + "projects/" + project + "/" + scope
	case strings.HasPrefix(scope, "zones/"):
		op["zone"] = computeBase + "projects/" + project + "/" + scope
	}
	key := project + "/" + scope + "/" + name
	s.st.ops[key] = op
	return op, key
}

// getOperation answers the get and wait of global, region and zone operations: every
// operation is DONE, but for those Faults.PendingOperationPolls holds back for a few polls.
func (s *Server) getOperation(c *call) response {
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return fail(aerr)
	}
	scope := "global"
	if r, ok := c.params["region"]; ok {
		scope = "regions/" + r
	} else if z, ok := c.params["zone"]; ok {
		scope = "zones/" + z
	}
	key := proj + "/" + scope + "/" + c.params["operation"]
	op := s.st.ops[key]
	if op == nil {
		return fail(errComputeNotFound(fmt.Sprintf("projects/%s/%s/operations/%s", c.params["project"], scope, c.params["operation"])))
	}
	if n := s.st.opPolls[key]; n > 0 {
		s.st.opPolls[key] = n - 1
		return reply(runningView(op))
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
