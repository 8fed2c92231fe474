package network

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/zerodrift/zerodrift/remediators/internal/gcputil"
)

// netRef names a network: its project and name, and its path projects/P/global/networks/N.
type netRef struct{ project, name string }

func (n netRef) String() string { return "projects/" + n.project + "/global/networks/" + n.name }

// is reports whether a network reference, in any of the forms compute accepts (a URL,
// projects/P/global/networks/N, global/networks/N or a bare name), names n.
func (n netRef) is(ref string) bool {
	switch {
	case ref == "":
		return false
	case strings.Contains(ref, "projects/"):
		return gcputil.ResourcePath(ref) == n.String()
	case strings.HasPrefix(ref, "global/networks/"):
		return strings.TrimPrefix(ref, "global/networks/") == n.name
	}
	return ref == n.name
}

// dependents lists, by full resource name and sorted, what still uses the network and
// would break or block its deletion: instances, instance templates, forwarding rules, Cloud
// Routers, VPN gateways (HA and classic) and tunnels, peerings, routes other than those
// Google made for the network, subnetworks other than an auto mode network's own, and
// firewall rules other than those named in keep (the rules in the snapshot: the default
// ones and those zerodrift created on the network).
func (r *Remediator) dependents(ctx context.Context, n netRef, net *computepb.Network, keep []string) ([]string, error) {
	var deps []string
	add := func(selfLink string) { deps = append(deps, gcputil.FullName(selfLink)) }
	for _, p := range net.GetPeerings() {
		deps = append(deps, gcputil.ComputePrefix+n.String()+"/peerings/"+p.GetName()+" (to "+gcputil.ResourcePath(p.GetNetwork())+")")
	}
	subnets := map[string]bool{}
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"subnetworks", func() error {
			pairs, err := gcputil.Drain(r.subnetworks.AggregatedList(ctx, &computepb.AggregatedListSubnetworksRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, s := range p.Value.GetSubnetworks() {
					if !n.is(s.GetNetwork()) {
						continue
					}
					subnets[gcputil.ResourcePath(s.GetSelfLink())] = true
					// An auto mode network's own subnetworks, named after it, go with it.
					if !(net.GetAutoCreateSubnetworks() && s.GetName() == n.name) {
						add(s.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"instances", func() error {
			pairs, err := gcputil.Drain(r.instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, in := range p.Value.GetInstances() {
					if slices.ContainsFunc(in.GetNetworkInterfaces(), func(ni *computepb.NetworkInterface) bool { return n.is(ni.GetNetwork()) }) {
						add(in.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"instance templates", func() error {
			pairs, err := gcputil.Drain(r.templates.AggregatedList(ctx, &computepb.AggregatedListInstanceTemplatesRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, t := range p.Value.GetInstanceTemplates() {
					if slices.ContainsFunc(t.GetProperties().GetNetworkInterfaces(), func(ni *computepb.NetworkInterface) bool { return n.is(ni.GetNetwork()) }) {
						add(t.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"forwarding rules", func() error {
			pairs, err := gcputil.Drain(r.forwardingRules.AggregatedList(ctx, &computepb.AggregatedListForwardingRulesRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, fr := range p.Value.GetForwardingRules() {
					if n.is(fr.GetNetwork()) || subnets[gcputil.ResourcePath(fr.GetSubnetwork())] {
						add(fr.GetSelfLink())
					}
				}
			}
			return err
		}},
	} {
		if err := step.run(); err != nil {
			return nil, fmt.Errorf("listing the %s of project %s: %w", step.what, n.project, err)
		}
	}
	routers, gateways := map[string]bool{}, map[string]bool{}
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"Cloud Routers", func() error {
			pairs, err := gcputil.Drain(r.routers.AggregatedList(ctx, &computepb.AggregatedListRoutersRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, x := range p.Value.GetRouters() {
					if n.is(x.GetNetwork()) {
						routers[gcputil.ResourcePath(x.GetSelfLink())] = true
						add(x.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"VPN gateways", func() error {
			pairs, err := gcputil.Drain(r.vpnGateways.AggregatedList(ctx, &computepb.AggregatedListVpnGatewaysRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, x := range p.Value.GetVpnGateways() {
					if n.is(x.GetNetwork()) {
						gateways[gcputil.ResourcePath(x.GetSelfLink())] = true
						add(x.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"target VPN gateways", func() error {
			pairs, err := gcputil.Drain(r.targetVpnGateways.AggregatedList(ctx, &computepb.AggregatedListTargetVpnGatewaysRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, x := range p.Value.GetTargetVpnGateways() {
					if n.is(x.GetNetwork()) {
						gateways[gcputil.ResourcePath(x.GetSelfLink())] = true
						add(x.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"VPN tunnels", func() error {
			pairs, err := gcputil.Drain(r.vpnTunnels.AggregatedList(ctx, &computepb.AggregatedListVpnTunnelsRequest{Project: n.project}).Next)
			for _, p := range pairs {
				for _, x := range p.Value.GetVpnTunnels() {
					if gateways[gcputil.ResourcePath(x.GetTargetVpnGateway())] || gateways[gcputil.ResourcePath(x.GetVpnGateway())] ||
						routers[gcputil.ResourcePath(x.GetRouter())] {
						add(x.GetSelfLink())
					}
				}
			}
			return err
		}},
		{"routes", func() error {
			routes, err := gcputil.Drain(r.routes.List(ctx, &computepb.ListRoutesRequest{Project: n.project}).Next)
			for _, x := range routes {
				if n.is(x.GetNetwork()) && !isSystemRoute(x, n) {
					add(x.GetSelfLink())
				}
			}
			return err
		}},
		{"firewalls", func() error {
			fws, err := gcputil.Drain(r.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: n.project}).Next)
			for _, x := range fws {
				if n.is(x.GetNetwork()) && !slices.Contains(keep, x.GetName()) {
					add(x.GetSelfLink())
				}
			}
			return err
		}},
	} {
		if err := step.run(); err != nil {
			return nil, fmt.Errorf("listing the %s of project %s: %w", step.what, n.project, err)
		}
	}
	slices.Sort(deps)
	return slices.Compact(deps), nil
}

// isSystemRoute reports whether a route of the network is one Google made for it and
// deletes with it: a subnet route (next hop the network itself) or the default route to
// the internet gateway.
func isSystemRoute(rt *computepb.Route, n netRef) bool {
	if n.is(rt.GetNextHopNetwork()) {
		return true
	}
	dest := rt.GetDestRange()
	return strings.HasPrefix(rt.GetName(), "default-route-") && (dest == "0.0.0.0/0" || dest == "::/0") &&
		strings.HasSuffix(rt.GetNextHopGateway(), "/global/gateways/default-internet-gateway")
}
