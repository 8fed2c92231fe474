package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// IAM permission enforcement.
//
// Every emulated Google Cloud method carries the IAM permissions Google requires of its
// caller (methodPermissions, after Google's per-method documentation). Enforcement is off
// by default: every call is allowed. WithPermissions or Server.SetPermissions turn it on
// with the permission set of one identity; a call whose method needs a permission outside
// the set is answered 403 PERMISSION_DENIED in the shape the API uses, with the missing
// permission named in the message, before the method runs (a disabled API is reported
// first, as Google does). The sandbox's own /sandbox/ endpoints and the GitHub emulator
// need no permission.
//
// A permission is checked on the method, not on each resource: the set stands for roles
// granted where zerodrift runs (the organization or a folder), so it holds on every
// project. Two simplifications: projects.search and organizations.search need
// resourcemanager.projects.get and resourcemanager.organizations.get and are denied
// without them, where Google answers the resources the caller may get; and the storage
// permissions, once granted, hold on every bucket (deploy/terraform grants
// storage.objects.get on the Terraform state buckets only).
//
// One permission is checked inside a method rather than on its call: a Cloud Asset
// Inventory export writes its object with the caller's storage.objects.create on the
// destination bucket, and its operation fails without it (export.go).

// The permissions of the Cloud Storage methods (gcs.go) and of writing an export's object.
const (
	permStorageObjectsGet    = "storage.objects.get"
	permStorageObjectsDelete = "storage.objects.delete"
	permStorageObjectsCreate = "storage.objects.create"
)

// innerPermissions are the permissions checked inside a method (see above): known to
// SetPermissions, though no call requires them.
func innerPermissions() []string { return []string{permStorageObjectsCreate} }

// permNetworksUpdatePolicy is what Compute Engine requires, on the rule's network, of every
// firewall rule write besides the firewalls permission.
const permNetworksUpdatePolicy = "compute.networks.updatePolicy"

// methodPermissions returns the IAM permissions each emulated method requires, keyed by
// service and method as the route table names them ("compute firewalls.patch").
func methodPermissions() map[string][]string {
	m := map[string][]string{}
	add := func(service, method string, perms ...string) { m[service+" "+method] = perms }

	// Compute Engine: reads need the collection's get or list permission (aggregated lists
	// too); firewall writes also need compute.networks.updatePolicy on the network.
	for _, plural := range []string{"firewalls", "networks", "subnetworks", "instances", "instanceTemplates",
		"routes", "forwardingRules", "routers", "vpnGateways", "targetVpnGateways", "vpnTunnels"} {
		add(ServiceCompute, plural+".list", "compute."+plural+".list")
		add(ServiceCompute, plural+".get", "compute."+plural+".get")
	}
	for _, plural := range []string{"subnetworks", "instances", "instanceTemplates", "forwardingRules", "routers",
		"vpnGateways", "targetVpnGateways", "vpnTunnels"} {
		add(ServiceCompute, plural+".aggregatedList", "compute."+plural+".list")
	}
	add(ServiceCompute, "firewalls.insert", "compute.firewalls.create", permNetworksUpdatePolicy)
	add(ServiceCompute, "firewalls.patch", "compute.firewalls.update", permNetworksUpdatePolicy)
	add(ServiceCompute, "firewalls.update", "compute.firewalls.update", permNetworksUpdatePolicy)
	add(ServiceCompute, "firewalls.delete", "compute.firewalls.delete", permNetworksUpdatePolicy)
	add(ServiceCompute, "networks.insert", "compute.networks.create")
	add(ServiceCompute, "networks.patch", "compute.networks.update")
	add(ServiceCompute, "networks.delete", "compute.networks.delete")
	add(ServiceCompute, "subnetworks.patch", "compute.subnetworks.update")
	add(ServiceCompute, "subnetworks.setPrivateIpGoogleAccess", "compute.subnetworks.setPrivateIpGoogleAccess")
	add(ServiceCompute, "globalOperations.get", "compute.globalOperations.get")
	add(ServiceCompute, "globalOperations.wait", "compute.globalOperations.get")
	add(ServiceCompute, "regionOperations.get", "compute.regionOperations.get")
	add(ServiceCompute, "regionOperations.wait", "compute.regionOperations.get")
	add(ServiceCompute, "zoneOperations.get", "compute.zoneOperations.get")
	add(ServiceCompute, "zoneOperations.wait", "compute.zoneOperations.get")
	add(ServiceCompute, "projects.get", "compute.projects.get")
	add(ServiceCompute, "projects.setCommonInstanceMetadata", "compute.projects.setCommonInstanceMetadata")
	add(ServiceCompute, "instances.setMetadata", "compute.instances.setMetadata")
	add(ServiceCompute, "instances.deleteAccessConfig", "compute.instances.deleteAccessConfig")
	// Adding an external address also uses the interface's subnetwork for it, as Compute
	// Engine documents (and compute.addresses.use on a static address, not emulated).
	add(ServiceCompute, "instances.addAccessConfig", "compute.instances.addAccessConfig", "compute.subnetworks.useExternalIp")

	// Resource Manager v3.
	for _, kind := range []string{"projects", "folders", "organizations"} {
		add(ServiceResourceManager, kind+".get", "resourcemanager."+kind+".get")
		add(ServiceResourceManager, kind+".getIamPolicy", "resourcemanager."+kind+".getIamPolicy")
		add(ServiceResourceManager, kind+".setIamPolicy", "resourcemanager."+kind+".setIamPolicy")
	}
	add(ServiceResourceManager, "projects.list", "resourcemanager.projects.list")
	add(ServiceResourceManager, "projects.search", "resourcemanager.projects.get")
	add(ServiceResourceManager, "folders.list", "resourcemanager.folders.list")
	add(ServiceResourceManager, "organizations.search", "resourcemanager.organizations.get")

	// IAM v1.
	for _, verb := range []string{"list", "get", "disable", "enable", "getIamPolicy", "setIamPolicy"} {
		add(ServiceIAM, "projects.serviceAccounts."+verb, "iam.serviceAccounts."+verb)
	}
	for _, verb := range []string{"list", "get", "delete", "disable", "enable"} {
		add(ServiceIAM, "projects.serviceAccounts.keys."+verb, "iam.serviceAccountKeys."+verb)
	}

	// Cloud Asset Inventory (asset.go, export.go): each content type needs one of these, the
	// resource's first (callPermissions). Polling an export needs what started it.
	add(ServiceCloudAsset, methodAssetsList, permAssetsListResource, permAssetsListIamPolicy)
	add(ServiceCloudAsset, methodExportAssets, permAssetsExportResource, permAssetsExportIamPolicy)
	add(ServiceCloudAsset, methodAssetOperationsGet, permAssetsExportResource, permAssetsExportIamPolicy)

	// Cloud Storage (gcs.go serves it outside the route table).
	add(ServiceStorage, methodObjectsGet, permStorageObjectsGet)
	add(ServiceStorage, methodObjectsDelete, permStorageObjectsDelete)
	return m
}

// attachPermissions sets each route's permissions from methodPermissions. A Google Cloud
// route left without any is denied whenever permissions are enforced (see
// Server.checkPermissions), so that a method added without its permission fails closed.
func attachPermissions(routes []route) {
	perms := methodPermissions()
	for i := range routes {
		routes[i].perms = perms[routes[i].service+" "+routes[i].method]
	}
}

// KnownPermissions returns every IAM permission some emulated method requires (writing an
// export's object included), sorted: the permissions WithPermissions and SetPermissions
// accept. The caller owns the slice.
func KnownPermissions() []string {
	out := innerPermissions()
	for _, ps := range methodPermissions() {
		out = append(out, ps...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RequiredPermissions returns the IAM permissions an emulated method requires, with
// service and method as CallCount names them (e.g. "compute", "firewalls.patch"); nil for
// a method the sandbox does not emulate. The caller owns the slice.
func RequiredPermissions(service, method string) []string {
	return slices.Clone(methodPermissions()[service+" "+method])
}

// permissionSet is the permissions in force: enforce is false until a set is given.
type permissionSet struct {
	mu      sync.RWMutex
	enforce bool
	granted map[string]bool
}

// WithPermissions starts the server enforcing IAM permissions: a Google Cloud call whose
// method needs a permission outside perms is denied (403 PERMISSION_DENIED). See
// Server.SetPermissions; New fails on a permission no emulated method requires.
func WithPermissions(perms []string) Option {
	return func(s *settings) {
		s.permissions = slices.Clone(perms)
		if s.permissions == nil {
			s.permissions = []string{}
		}
	}
}

// SetPermissions makes the server enforce exactly perms, from the next call on: a Google
// Cloud call whose method needs a permission outside perms is answered 403
// PERMISSION_DENIED, naming the permission. An empty perms denies every Google Cloud call.
// A permission that no emulated method requires (a typo, or one of a method the sandbox
// does not emulate) is an error, and the permissions in force are left as they were:
// filter a wider set through KnownPermissions first.
func (s *Server) SetPermissions(perms []string) error {
	known := KnownPermissions()
	granted := map[string]bool{}
	var unknown []string
	for _, p := range perms {
		if _, ok := slices.BinarySearch(known, p); !ok {
			unknown = append(unknown, fmt.Sprintf("%q", p))
			continue
		}
		granted[p] = true
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("permissions: no emulated method requires %s (see sandbox.KnownPermissions)", strings.Join(slices.Compact(unknown), ", "))
	}
	s.perms.mu.Lock()
	defer s.perms.mu.Unlock()
	s.perms.enforce, s.perms.granted = true, granted
	return nil
}

// DisablePermissionChecks stops enforcing permissions: every call is allowed again, as
// when the server was built without WithPermissions.
func (s *Server) DisablePermissionChecks() {
	s.perms.mu.Lock()
	defer s.perms.mu.Unlock()
	s.perms.enforce, s.perms.granted = false, nil
}

// missing returns the first of perms not granted and true; true with "" for a method
// listed without permissions (it fails closed); false when all are granted, or when
// permissions are not enforced.
func (ps *permissionSet) missing(perms []string) (string, bool) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	if !ps.enforce {
		return "", false
	}
	if len(perms) == 0 {
		return "", true
	}
	for _, p := range perms {
		if !ps.granted[p] {
			return p, true
		}
	}
	return "", false
}

// checkPermissions answers 403 when the call's method needs a permission not granted. It
// runs under s.mu: naming the network of a firewall write reads the state.
func (s *Server) checkPermissions(c *call) *apiError {
	if c.route.service == serviceSandbox {
		return nil
	}
	p, denied := s.perms.missing(callPermissions(c))
	switch {
	case !denied:
		return nil
	case p == "":
		// A method added without its permissions: deny, rather than let a role pass untested.
		return errPermissionDenied(c.route.service, fmt.Sprintf("(unknown: the sandbox lists no permission for %s %s)",
			c.route.service, c.route.method), s.permissionResource(c, ""))
	}
	return errPermissionDenied(c.route.service, p, s.permissionResource(c, p))
}

// permissionResource names the resource a denied permission is checked on, as the API's
// message names it.
func (s *Server) permissionResource(c *call, perm string) string {
	switch c.route.service {
	case ServiceCompute:
		if perm == permNetworksUpdatePolicy {
			return s.firewallNetwork(c)
		}
		if c.params["resource"] == "" && c.params["operation"] == "" {
			return "projects/" + c.params["project"]
		}
		// The resource a custom method (setMetadata, an operation's wait) acts on.
		name := strings.TrimPrefix(c.r.URL.Path, "/compute/v1/")
		if last := c.route.segs[len(c.route.segs)-1]; !strings.HasPrefix(last, "{") {
			name = strings.TrimSuffix(name, "/"+last)
		}
		return name
	case ServiceResourceManager:
		name := strings.TrimPrefix(c.r.URL.Path, "/v3/")
		if i := strings.IndexByte(name, ':'); i >= 0 {
			name = name[:i]
		}
		if p := c.r.URL.Query().Get("parent"); p != "" {
			name = p
		}
		return crmPrefix + name
	}
	return ""
}

// firewallNetwork is the network of the firewall rule a write names: the rule's own, else
// the one the request body gives, else the default network.
func (s *Server) firewallNetwork(c *call) string {
	project := c.params["project"]
	network := ""
	if ref := s.st.project(project); ref != nil && c.params["resource"] != "" {
		if e := s.st.entries[computeName(ref.key(), "global", "firewalls", c.params["resource"])]; e != nil && e.data != nil {
			network = str(e.data, "network")
		}
	}
	if network == "" && len(c.body) > 0 {
		var body struct {
			Network string `json:"network"`
		}
		if json.Unmarshal(c.body, &body) == nil {
			network = body.Network
		}
	}
	return resourcePath(networkURL(project, network))
}

// errPermissionDenied is the 403 each API answers a caller lacking permission, naming the
// permission (and the resource, where the API does).
func errPermissionDenied(service, perm, resource string) *apiError {
	info := []any{map[string]any{
		"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
		"reason":   "IAM_PERMISSION_DENIED",
		"domain":   "iam.googleapis.com",
		"metadata": map[string]string{"permission": perm},
	}}
	switch service {
	case ServiceCompute:
		return &apiError{code: http.StatusForbidden, reason: "forbidden",
			message: fmt.Sprintf("Required '%s' permission for '%s'", perm, resource)}
	case ServiceResourceManager:
		info[0].(map[string]any)["metadata"].(map[string]string)["resource"] = resource
		return &apiError{code: http.StatusForbidden, reason: "forbidden", details: info,
			message: fmt.Sprintf("Permission '%s' denied on resource '%s' (or it may not exist).", perm, resource)}
	case ServiceStorage:
		return &apiError{code: http.StatusForbidden, reason: "forbidden",
			message: fmt.Sprintf("The caller does not have %s access to the Google Cloud Storage object. "+
				"Permission '%s' denied on resource (or it may not exist).", perm, perm)}
	}
	e := errPermission(perm)
	e.details = info
	return e
}

// checkStoragePermission is checkPermissions for a Cloud Storage call requiring perms.
func (s *Server) checkStoragePermission(perms []string) *apiError {
	if p, denied := s.perms.missing(perms); denied {
		return errPermissionDenied(ServiceStorage, p, "")
	}
	return nil
}
