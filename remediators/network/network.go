// Package network holds the live action on VPC networks: deleting a project's default
// network once nothing uses it.
package network

import (
	"context"
	"errors"
	"fmt"
	"sync"

	compute "cloud.google.com/go/compute/apiv1"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/remediators"
)

// ActionDeleteDefault is the name playbooks use for the default network's deletion.
const ActionDeleteDefault = "network.deleteDefault"

// DefaultNetwork is the name of the network Google creates in new projects.
const DefaultNetwork = "default"

// DefaultFirewalls returns the names of the firewall rules Google creates with a default
// network. They are deleted with it and re-created by Restore, as are the rules zerodrift's
// own firewall actions created on it; any other rule on the network is a dependent.
func DefaultFirewalls() []string {
	return []string{"default-allow-icmp", "default-allow-internal", "default-allow-rdp", "default-allow-ssh"}
}

// Remediator holds the Compute API clients the network action reads and writes through.
type Remediator struct {
	networks          *compute.NetworksClient
	firewalls         *compute.FirewallsClient
	subnetworks       *compute.SubnetworksClient
	instances         *compute.InstancesClient
	templates         *compute.InstanceTemplatesClient
	forwardingRules   *compute.ForwardingRulesClient
	routers           *compute.RoutersClient
	vpnGateways       *compute.VpnGatewaysClient
	targetVpnGateways *compute.TargetVpnGatewaysClient
	vpnTunnels        *compute.VpnTunnelsClient
	routes            *compute.RoutesClient
	closers           []func() error

	log *zap.Logger
	set remediators.Settings

	closeOnce sync.Once
	closeErr  error
}

// New creates the Compute API clients from opts (endpoint, credentials) and returns the
// remediator; set tunes operation waits. Close releases the clients.
func New(ctx context.Context, opts []option.ClientOption, log *zap.Logger, set remediators.Settings) (*Remediator, error) {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Remediator{log: log, set: set.WithDefaults()}
	steps := []struct {
		what string
		mk   func() (func() error, error)
	}{
		{"networks", func() (func() error, error) {
			c, err := compute.NewNetworksRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.NetworksCallOptions{}
			}
			r.networks = c
			return closer(c), err
		}},
		{"firewalls", func() (func() error, error) {
			c, err := compute.NewFirewallsRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.FirewallsCallOptions{}
			}
			r.firewalls = c
			return closer(c), err
		}},
		{"subnetworks", func() (func() error, error) {
			c, err := compute.NewSubnetworksRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.SubnetworksCallOptions{}
			}
			r.subnetworks = c
			return closer(c), err
		}},
		{"instances", func() (func() error, error) {
			c, err := compute.NewInstancesRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.InstancesCallOptions{}
			}
			r.instances = c
			return closer(c), err
		}},
		{"instance templates", func() (func() error, error) {
			c, err := compute.NewInstanceTemplatesRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.InstanceTemplatesCallOptions{}
			}
			r.templates = c
			return closer(c), err
		}},
		{"forwarding rules", func() (func() error, error) {
			c, err := compute.NewForwardingRulesRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.ForwardingRulesCallOptions{}
			}
			r.forwardingRules = c
			return closer(c), err
		}},
		{"routers", func() (func() error, error) {
			c, err := compute.NewRoutersRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.RoutersCallOptions{}
			}
			r.routers = c
			return closer(c), err
		}},
		{"VPN gateways", func() (func() error, error) {
			c, err := compute.NewVpnGatewaysRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.VpnGatewaysCallOptions{}
			}
			r.vpnGateways = c
			return closer(c), err
		}},
		{"target VPN gateways", func() (func() error, error) {
			c, err := compute.NewTargetVpnGatewaysRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.TargetVpnGatewaysCallOptions{}
			}
			r.targetVpnGateways = c
			return closer(c), err
		}},
		{"VPN tunnels", func() (func() error, error) {
			c, err := compute.NewVpnTunnelsRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.VpnTunnelsCallOptions{}
			}
			r.vpnTunnels = c
			return closer(c), err
		}},
		{"routes", func() (func() error, error) {
			c, err := compute.NewRoutesRESTClient(ctx, opts...)
			if err == nil {
				*c.CallOptions = compute.RoutesCallOptions{}
			}
			r.routes = c
			return closer(c), err
		}},
	}
	for _, s := range steps {
		c, err := s.mk()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("creating the compute %s client: %w", s.what, err), r.Close())
		}
		r.closers = append(r.closers, c)
	}
	return r, nil
}

func closer(c interface{ Close() error }) func() error { return c.Close }

// Close releases the clients; it is safe to call more than once.
func (r *Remediator) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		for _, c := range r.closers {
			errs = append(errs, c())
		}
		if err := errors.Join(errs...); err != nil {
			r.closeErr = fmt.Errorf("closing the compute clients: %w", err)
		}
	})
	return r.closeErr
}

// DeleteDefault returns network.deleteDefault.
func (r *Remediator) DeleteDefault() remediators.Action { return &deleteDefault{r: r} }

// Actions returns every network action.
func (r *Remediator) Actions() []remediators.Action { return []remediators.Action{r.DeleteDefault()} }
