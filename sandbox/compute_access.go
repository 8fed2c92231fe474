package sandbox

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// The writes of Compute Engine that change how a subnetwork's or an instance's workloads
// reach, and are reached from, outside their network:
//
//	POST compute/v1/projects/{project}/regions/{region}/subnetworks/{resource}/setPrivateIpGoogleAccess
//	                                                                  subnetworks.setPrivateIpGoogleAccess
//	POST compute/v1/projects/{project}/zones/{zone}/instances/{resource}/addAccessConfig?networkInterface=N
//	                                                                  instances.addAccessConfig
//
// setPrivateIpGoogleAccess takes {privateIpGoogleAccess: bool} (absent reads as false, as
// the field's proto default), gives the subnetwork a new fingerprint and answers a region
// operation. It is refused (400) on a subnetwork Google manages for a service, whose purpose
// is neither PRIVATE nor PRIVATE_RFC_1918 nor unset. addAccessConfig takes an AccessConfig
// (instances.deleteAccessConfig, compute_project.go, is its reverse): the interface must
// exist and hold no IPv4 access config yet, as Compute Engine allows one per interface; the
// type defaults to ONE_TO_ONE_NAT (the only IPv4 type), the name to "External NAT" and the
// network tier to PREMIUM; a natIP, when given, must be an IPv4 address no other access
// config of the project holds; without one the interface gets an ephemeral address, drawn
// from 198.51.100.0/24 (a documentation range) as the first the project does not use. It
// answers a zone operation.

var subnetworksCollection, _ = collectionOf(inventory.TypeSubnetwork)

// setPrivateIpGoogleAccess answers subnetworks.setPrivateIpGoogleAccess.
func (s *Server) setPrivateIpGoogleAccess(c *call) response {
	e, aerr := s.computeTarget(c, subnetworksCollection)
	if aerr != nil {
		return fail(aerr)
	}
	body, err := decodeObject(c.body)
	if err != nil {
		return fail(errBadRequest("Invalid JSON payload received. " + err.Error()))
	}
	on := false
	if v, ok := body["privateIpGoogleAccess"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return fail(errInvalid(fmt.Sprintf("Invalid value for field 'privateIpGoogleAccess': '%v'. Must be a boolean.", v)))
		}
		on = b
	}
	switch p := str(e.data, "purpose"); p {
	case "", "PRIVATE", "PRIVATE_RFC_1918":
	default:
		return fail(errInvalid(fmt.Sprintf("Invalid value for field 'privateIpGoogleAccess': Private Google Access cannot be set "+
			"on a subnetwork of purpose %s.", p)))
	}
	if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
		return reply(s.failedOperation(c, e.project, e.scope, "setPrivateIpGoogleAccess", e.data, msg))
	}
	updated := cloneJSON(e.data)
	updated["privateIpGoogleAccess"] = on
	s.commitCompute(e, updated)
	return reply(s.newOperation(c, e.project, e.scope, "setPrivateIpGoogleAccess", e.data))
}

// ephemeralRange is where the sandbox draws the ephemeral addresses of access configs added
// without a natIP.
var ephemeralRange = netip.MustParsePrefix("198.51.100.0/24")

// natIPsInUse returns the external IPv4 addresses the access configs of a project's
// instances hold.
func (st *state) natIPsInUse(project string) map[string]string {
	used := map[string]string{}
	for _, e := range st.projectEntries(inventory.TypeInstance, project, func(e *entry) bool { return e.data != nil }) {
		nics, _ := e.data["networkInterfaces"].([]any)
		for _, n := range nics {
			nic, _ := n.(map[string]any)
			acs, _ := nic["accessConfigs"].([]any)
			for _, a := range acs {
				if ip := str(toMap(a), "natIP"); ip != "" {
					used[ip] = resourcePath(str(e.data, "selfLink"))
				}
			}
		}
	}
	return used
}

func toMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// addAccessConfig answers instances.addAccessConfig.
func (s *Server) addAccessConfig(c *call) response {
	e, aerr := s.computeTarget(c, instancesCollection)
	if aerr != nil {
		return fail(aerr)
	}
	nicName := c.r.URL.Query().Get("networkInterface")
	if nicName == "" {
		return fail(errInvalid("Required field 'networkInterface' not specified"))
	}
	ac, aerr := decodeResource(c.body)
	if aerr != nil {
		return fail(aerr)
	}
	updated := cloneJSON(e.data)
	nics, _ := updated["networkInterfaces"].([]any)
	var nic map[string]any
	for _, n := range nics {
		if m := toMap(n); m != nil && str(m, "name") == nicName {
			nic = m
		}
	}
	if nic == nil {
		return fail(errInvalid(fmt.Sprintf("Invalid value for field 'networkInterface': '%s'. "+
			"The instance has no network interface of that name.", nicName)))
	}
	if acs, _ := nic["accessConfigs"].([]any); len(acs) > 0 {
		return fail(errInvalid(fmt.Sprintf("At most one access config currently supported: network interface '%s' "+
			"has the access config '%s' already.", nicName, str(toMap(acs[0]), "name"))))
	}
	setDefault(ac, "type", "ONE_TO_ONE_NAT")
	setDefault(ac, "name", "External NAT")
	setDefault(ac, "networkTier", "PREMIUM")
	ac["kind"] = "compute#accessConfig"
	if t := str(ac, "type"); t != "ONE_TO_ONE_NAT" {
		return fail(errInvalid(fmt.Sprintf("Invalid value for field 'resource.type': '%s'. "+
			"An IPv4 access config is of type ONE_TO_ONE_NAT.", t)))
	}
	used := s.st.natIPsInUse(e.project)
	if ip := strings.TrimSpace(str(ac, "natIP")); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return fail(errInvalid(fmt.Sprintf("Invalid value for field 'resource.natIP': '%s'. Must be an IPv4 address.", ip)))
		}
		if by, ok := used[a.String()]; ok {
			return fail(errInvalid(fmt.Sprintf("Invalid value for field 'resource.natIP': '%s'. "+
				"The address is already in use by '%s'.", ip, by)))
		}
		ac["natIP"] = a.String()
	} else {
		for a := ephemeralRange.Addr().Next(); ephemeralRange.Contains(a); a = a.Next() {
			if _, ok := used[a.String()]; !ok {
				ac["natIP"] = a.String()
				break
			}
		}
		if str(ac, "natIP") == "" {
			return fail(errStatus(http.StatusServiceUnavailable, "The zone does not have enough resources available to fulfill the request: no ephemeral address left."))
		}
	}
	nic["accessConfigs"] = []any{ac}
	if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
		return reply(s.failedOperation(c, e.project, e.scope, "addAccessConfig", e.data, msg))
	}
	e.data = updated
	e.updateTime = s.st.now()
	return reply(s.newOperation(c, e.project, e.scope, "addAccessConfig", e.data))
}
