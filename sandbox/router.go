package sandbox

import (
	"net/http"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// serviceSandbox names the sandbox's own endpoints, which are neither counted nor faulted.
const serviceSandbox = "sandbox"

// route is one API method: an HTTP method and a path pattern. Pattern segments in braces
// capture one path segment; a pattern may end in ":verb", as Google's custom methods do
// (projects/{project}:getIamPolicy).
type route struct {
	httpMethod string
	segs       []string
	verb       string
	service    string
	method     string
	handle     func(*Server, *call) response
	perms      []string // the IAM permissions Google requires of the caller (permissions.go)
}

// readOnly reports whether the method only reads the state's entries: a GET, or a policy
// read or permission test, which Google's APIs make as POSTs.
func (rt *route) readOnly() bool {
	return rt.httpMethod == http.MethodGet || strings.HasSuffix(rt.method, ".getIamPolicy") ||
		strings.HasSuffix(rt.method, ".testIamPermissions")
}

// call is one routed request.
type call struct {
	r      *http.Request
	params map[string]string
	body   []byte
	route  *route
}

// response is what a method answers: a body to encode as JSON, or an error.
type response struct {
	status int
	body   any
	err    *apiError
}

// reply answers 200 with body.
func reply(body any) response { return response{status: http.StatusOK, body: body} }

// fail answers the error.
func fail(e *apiError) response { return response{err: e} }

func newRoute(httpMethod, pattern, service, method string, h func(*Server, *call) response) route {
	rt := route{httpMethod: httpMethod, service: service, method: method, handle: h}
	segs := strings.Split(pattern, "/")
	last := segs[len(segs)-1]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		segs[len(segs)-1], rt.verb = last[:i], last[i+1:]
	}
	rt.segs = segs
	return rt
}

// match finds the route of a request path; routes with a verb are tried before those
// without, so that projects/p:getIamPolicy never reads as a project named "p:getIamPolicy".
func (s *Server) match(httpMethod, path string) (*route, map[string]string) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for pass := 0; pass < 2; pass++ {
		for i := range s.routes {
			rt := &s.routes[i]
			if (rt.verb != "") != (pass == 0) || rt.httpMethod != httpMethod || len(rt.segs) != len(segs) {
				continue
			}
			if params, ok := rt.matchSegs(segs); ok {
				return rt, params
			}
		}
	}
	return nil, nil
}

func (rt *route) matchSegs(segs []string) (map[string]string, bool) {
	var params map[string]string
	for i, p := range rt.segs {
		seg := segs[i]
		if i == len(segs)-1 && rt.verb != "" {
			var ok bool
			if seg, ok = strings.CutSuffix(seg, ":"+rt.verb); !ok {
				return nil, false
			}
		}
		if name, ok := strings.CutPrefix(p, "{"); ok {
			if seg == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = seg
			continue
		}
		if p != seg {
			return nil, false
		}
	}
	return params, true
}

// buildRoutes lists every method the sandbox serves.
func (s *Server) buildRoutes() []route {
	const (
		cp = "compute/v1/projects/{project}/"
		sa = "v1/projects/{project}/serviceAccounts/{account}"
	)
	c, rm, ia := ServiceCompute, ServiceResourceManager, ServiceIAM
	get, post, patch, put, del := http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete
	return []route{
		// Compute Engine v1. The project's own settings (compute_project.go).
		newRoute(get, "compute/v1/projects/{project}", c, "projects.get", (*Server).getComputeProject),
		newRoute(post, cp+"setCommonInstanceMetadata", c, "projects.setCommonInstanceMetadata", (*Server).setCommonInstanceMetadata),
		newRoute(get, cp+"global/firewalls", c, "firewalls.list", computeList(inventory.TypeFirewall)),
		newRoute(post, cp+"global/firewalls", c, "firewalls.insert", computeInsert(inventory.TypeFirewall)),
		newRoute(get, cp+"global/firewalls/{resource}", c, "firewalls.get", computeGet(inventory.TypeFirewall)),
		newRoute(patch, cp+"global/firewalls/{resource}", c, "firewalls.patch", computePatch(inventory.TypeFirewall)),
		newRoute(put, cp+"global/firewalls/{resource}", c, "firewalls.update", computeUpdate(inventory.TypeFirewall)),
		newRoute(del, cp+"global/firewalls/{resource}", c, "firewalls.delete", computeDelete(inventory.TypeFirewall)),
		newRoute(get, cp+"global/networks", c, "networks.list", computeList(inventory.TypeNetwork)),
		newRoute(post, cp+"global/networks", c, "networks.insert", computeInsert(inventory.TypeNetwork)),
		newRoute(get, cp+"global/networks/{resource}", c, "networks.get", computeGet(inventory.TypeNetwork)),
		newRoute(patch, cp+"global/networks/{resource}", c, "networks.patch", computePatch(inventory.TypeNetwork)),
		newRoute(del, cp+"global/networks/{resource}", c, "networks.delete", computeDelete(inventory.TypeNetwork)),
		newRoute(get, cp+"aggregated/subnetworks", c, "subnetworks.aggregatedList", computeAggregated(inventory.TypeSubnetwork)),
		newRoute(get, cp+"regions/{region}/subnetworks", c, "subnetworks.list", computeList(inventory.TypeSubnetwork)),
		newRoute(get, cp+"regions/{region}/subnetworks/{resource}", c, "subnetworks.get", computeGet(inventory.TypeSubnetwork)),
		newRoute(patch, cp+"regions/{region}/subnetworks/{resource}", c, "subnetworks.patch", computePatch(inventory.TypeSubnetwork)),
		newRoute(post, cp+"regions/{region}/subnetworks/{resource}/setPrivateIpGoogleAccess", c, "subnetworks.setPrivateIpGoogleAccess",
			(*Server).setPrivateIpGoogleAccess),
		newRoute(get, cp+"aggregated/instances", c, "instances.aggregatedList", computeAggregated(inventory.TypeInstance)),
		newRoute(get, cp+"zones/{zone}/instances", c, "instances.list", computeList(inventory.TypeInstance)),
		newRoute(get, cp+"zones/{zone}/instances/{resource}", c, "instances.get", computeGet(inventory.TypeInstance)),
		newRoute(post, cp+"zones/{zone}/instances/{resource}/setMetadata", c, "instances.setMetadata", (*Server).setInstanceMetadata),
		newRoute(post, cp+"zones/{zone}/instances/{resource}/deleteAccessConfig", c, "instances.deleteAccessConfig", (*Server).deleteAccessConfig),
		newRoute(post, cp+"zones/{zone}/instances/{resource}/addAccessConfig", c, "instances.addAccessConfig", (*Server).addAccessConfig),
		newRoute(get, cp+"global/instanceTemplates", c, "instanceTemplates.list", computeList(typeInstanceTemplate)),
		newRoute(get, cp+"global/instanceTemplates/{resource}", c, "instanceTemplates.get", computeGet(typeInstanceTemplate)),
		newRoute(get, cp+"aggregated/instanceTemplates", c, "instanceTemplates.aggregatedList", computeAggregated(typeInstanceTemplate)),
		newRoute(get, cp+"global/routes", c, "routes.list", computeList(typeRoute)),
		newRoute(get, cp+"global/routes/{resource}", c, "routes.get", computeGet(typeRoute)),
		newRoute(get, cp+"aggregated/forwardingRules", c, "forwardingRules.aggregatedList", computeAggregated(typeForwardingRule)),
		newRoute(get, cp+"regions/{region}/forwardingRules", c, "forwardingRules.list", computeList(typeForwardingRule)),
		newRoute(get, cp+"regions/{region}/forwardingRules/{resource}", c, "forwardingRules.get", computeGet(typeForwardingRule)),
		newRoute(get, cp+"aggregated/routers", c, "routers.aggregatedList", computeAggregated(typeRouter)),
		newRoute(get, cp+"regions/{region}/routers", c, "routers.list", computeList(typeRouter)),
		newRoute(get, cp+"regions/{region}/routers/{resource}", c, "routers.get", computeGet(typeRouter)),
		newRoute(get, cp+"aggregated/vpnGateways", c, "vpnGateways.aggregatedList", computeAggregated(typeVpnGateway)),
		newRoute(get, cp+"regions/{region}/vpnGateways", c, "vpnGateways.list", computeList(typeVpnGateway)),
		newRoute(get, cp+"regions/{region}/vpnGateways/{resource}", c, "vpnGateways.get", computeGet(typeVpnGateway)),
		newRoute(get, cp+"aggregated/targetVpnGateways", c, "targetVpnGateways.aggregatedList", computeAggregated(typeTargetVpnGateway)),
		newRoute(get, cp+"regions/{region}/targetVpnGateways", c, "targetVpnGateways.list", computeList(typeTargetVpnGateway)),
		newRoute(get, cp+"regions/{region}/targetVpnGateways/{resource}", c, "targetVpnGateways.get", computeGet(typeTargetVpnGateway)),
		newRoute(get, cp+"aggregated/vpnTunnels", c, "vpnTunnels.aggregatedList", computeAggregated(typeVpnTunnel)),
		newRoute(get, cp+"regions/{region}/vpnTunnels", c, "vpnTunnels.list", computeList(typeVpnTunnel)),
		newRoute(get, cp+"regions/{region}/vpnTunnels/{resource}", c, "vpnTunnels.get", computeGet(typeVpnTunnel)),
		newRoute(get, cp+"global/operations/{operation}", c, "globalOperations.get", (*Server).getOperation),
		newRoute(post, cp+"global/operations/{operation}/wait", c, "globalOperations.wait", (*Server).getOperation),
		newRoute(get, cp+"regions/{region}/operations/{operation}", c, "regionOperations.get", (*Server).getOperation),
		newRoute(post, cp+"regions/{region}/operations/{operation}/wait", c, "regionOperations.wait", (*Server).getOperation),
		newRoute(get, cp+"zones/{zone}/operations/{operation}", c, "zoneOperations.get", (*Server).getOperation),
		newRoute(post, cp+"zones/{zone}/operations/{operation}/wait", c, "zoneOperations.wait", (*Server).getOperation),

		// Resource Manager v3.
		newRoute(get, "v3/projects/{project}", rm, "projects.get", (*Server).getProject),
		newRoute(get, "v3/projects", rm, "projects.list", (*Server).listProjects),
		newRoute(get, "v3/projects:search", rm, "projects.search", (*Server).searchProjects),
		newRoute(post, "v3/projects/{project}:getIamPolicy", rm, "projects.getIamPolicy", crmGetPolicy("projects")),
		newRoute(post, "v3/projects/{project}:setIamPolicy", rm, "projects.setIamPolicy", crmSetPolicy("projects")),
		newRoute(get, "v3/folders/{folder}", rm, "folders.get", (*Server).getFolder),
		newRoute(get, "v3/folders", rm, "folders.list", (*Server).listFolders),
		newRoute(post, "v3/folders/{folder}:getIamPolicy", rm, "folders.getIamPolicy", crmGetPolicy("folders")),
		newRoute(post, "v3/folders/{folder}:setIamPolicy", rm, "folders.setIamPolicy", crmSetPolicy("folders")),
		newRoute(get, "v3/organizations/{organization}", rm, "organizations.get", (*Server).getOrganization),
		newRoute(get, "v3/organizations:search", rm, "organizations.search", (*Server).searchOrganizations),
		newRoute(post, "v3/organizations/{organization}:getIamPolicy", rm, "organizations.getIamPolicy", crmGetPolicy("organizations")),
		newRoute(post, "v3/organizations/{organization}:setIamPolicy", rm, "organizations.setIamPolicy", crmSetPolicy("organizations")),

		// IAM v1.
		newRoute(get, "v1/projects/{project}/serviceAccounts", ia, "projects.serviceAccounts.list", (*Server).listServiceAccounts),
		newRoute(get, sa, ia, "projects.serviceAccounts.get", (*Server).getServiceAccount),
		newRoute(post, sa+":disable", ia, "projects.serviceAccounts.disable", setAccountDisabled(true)),
		newRoute(post, sa+":enable", ia, "projects.serviceAccounts.enable", setAccountDisabled(false)),
		newRoute(post, sa+":getIamPolicy", ia, "projects.serviceAccounts.getIamPolicy", (*Server).getAccountPolicy),
		newRoute(post, sa+":setIamPolicy", ia, "projects.serviceAccounts.setIamPolicy", (*Server).setAccountPolicy),
		newRoute(get, sa+"/keys", ia, "projects.serviceAccounts.keys.list", (*Server).listKeys),
		newRoute(get, sa+"/keys/{key}", ia, "projects.serviceAccounts.keys.get", (*Server).getKey),
		newRoute(del, sa+"/keys/{key}", ia, "projects.serviceAccounts.keys.delete", (*Server).deleteKey),
		newRoute(post, sa+"/keys/{key}:disable", ia, "projects.serviceAccounts.keys.disable", setKeyDisabled(true)),
		newRoute(post, sa+"/keys/{key}:enable", ia, "projects.serviceAccounts.keys.enable", setKeyDisabled(false)),
		// Cloud Asset Inventory v1: ListAssets (asset.go), ExportAssets and its operations (export.go).
		assetsListRoute(),
		exportAssetsRoute(),
		exportOperationRoute(),

		// The sandbox's own endpoints.
		newRoute(get, "sandbox/v1/state", serviceSandbox, "state", (*Server).dumpState),
		newRoute(post, "sandbox/v1/drift", serviceSandbox, "drift", (*Server).drift),
	}
}

// dumpState answers the current state as CAI assets, for debugging.
func (s *Server) dumpState(*call) response {
	return reply(map[string]any{"projects": s.st.projectIDs(), "assets": s.st.assets()})
}
