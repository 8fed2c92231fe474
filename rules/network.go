package rules

import (
	"cmp"

	"github.com/zerodrift/zerodrift/inventory"
)

// networkDefault finds networks named "default", which every project used to get.
type networkDefault struct{ meta Meta }

func newNetworkDefault() *networkDefault {
	return &networkDefault{meta: Meta{
		ID:    "network-default",
		Title: "Project has a default network",
		Description: "The default network is created automatically with a subnet in every region and " +
			"permissive firewall rules (SSH and RDP from anywhere, all internal traffic), " +
			"so nobody chose its shape and workloads land in it by accident.",
		Remediation: "Move workloads to a purpose-built VPC network, then delete the default network; " +
			"stop new projects from getting one with the compute.skipDefaultNetworkCreation organization policy.",
		Flags:      "A VPC network named `default`.",
		Severity:   SeverityMedium,
		Category:   "DEFAULT_NETWORK",
		CIS:        CIS{"1.1": {"3.1"}},
		AssetTypes: []string{inventory.TypeNetwork},
	}}
}

func (r *networkDefault) Meta() *Meta { return &r.meta }

func (r *networkDefault) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	n, err := viewOf(r.meta.ID, a, (*inventory.Asset).Network)
	if err != nil || n == nil {
		return err
	}
	name := cmp.Or(n.Name, a.ShortName())
	if name != "default" {
		return nil
	}
	ev := map[string]any{"network": name}
	if n.AutoCreateSubnetworks != nil {
		ev["autoCreateSubnetworks"] = *n.AutoCreateSubnetworks
	}
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, name, ev))
	return nil
}

// networkLegacy finds legacy (pre-VPC) networks: one network-wide IPv4 range, no subnets.
type networkLegacy struct{ meta Meta }

func newNetworkLegacy() *networkLegacy {
	return &networkLegacy{meta: Meta{
		ID:    "network-legacy",
		Title: "Project has a legacy network",
		Description: "A legacy network has a single IPv4 range shared by every region and no subnetworks, " +
			"so traffic cannot be segmented by subnet, flow logs cannot be enabled and " +
			"private access features are unavailable.",
		Remediation: "Create a VPC network with custom subnetworks, move the workloads to it and delete the legacy network.",
		Flags:       "A legacy (pre-VPC) network: one network-wide `IPv4Range`, no subnetworks.",
		Severity:    SeverityHigh,
		Category:    "LEGACY_NETWORK",
		CIS:         CIS{"1.1": {"3.2"}},
		AssetTypes:  []string{inventory.TypeNetwork},
	}}
}

func (r *networkLegacy) Meta() *Meta { return &r.meta }

func (r *networkLegacy) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	n, err := viewOf(r.meta.ID, a, (*inventory.Asset).Network)
	if err != nil || n == nil {
		return err
	}
	if !n.IsLegacy() {
		return nil
	}
	ev := map[string]any{
		"network":   cmp.Or(n.Name, a.ShortName()),
		"IPv4Range": n.IPv4Range,
	}
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, n.IPv4Range, ev))
	return nil
}
