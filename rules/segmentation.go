package rules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the network segmentation rules: a default-deny egress baseline per VPC
// network, Private Google Access on workload subnets, few networks per project, and no
// "everything from every internal address" ingress rule.

// segmentationRules returns the segmentation rules, each a fresh value the caller owns.
func segmentationRules() []Rule {
	return []Rule{
		newEgressDenyNotSet(),
		newPrivateGoogleAccessDisabled(),
		newNetworkTooMany(),
		newFirewallOverlyBroadInternal(),
	}
}

// segNetworkKey names a network by project ID and network name, however it was written.
type segNetworkKey struct{ project, network string }

func (k segNetworkKey) String() string {
	return "projects/" + k.project + "/global/networks/" + k.network
}

// segParseNetworkRef reads a reference to a VPC network in any of the forms the Compute API
// and Cloud Asset Inventory use: a full URL ("https://www.googleapis.com/compute/v1/projects/P/
// global/networks/N"), a full resource name ("//compute.googleapis.com/projects/P/global/
// networks/N"), a relative name ("projects/P/global/networks/N") or a name relative to a
// project ("global/networks/N", whose project is ownProject). It reports false for anything
// else.
func segParseNetworkRef(ref, ownProject string) (segNetworkKey, bool) {
	parts := strings.Split(strings.TrimSpace(ref), "/")
	n := len(parts)
	if n < 3 || parts[n-3] != "global" || parts[n-2] != "networks" || parts[n-1] == "" {
		return segNetworkKey{}, false
	}
	network := parts[n-1]
	if n == 3 {
		if ownProject == "" {
			return segNetworkKey{}, false
		}
		return segNetworkKey{ownProject, network}, true
	}
	if n < 5 || parts[n-5] != "projects" || parts[n-4] == "" {
		return segNetworkKey{}, false
	}
	// What comes before projects/ must be nothing, or a URL's scheme, host and path.
	if prefix := strings.Join(parts[:n-5], "/"); prefix != "" &&
		!strings.HasPrefix(prefix, "https://") && !strings.HasPrefix(prefix, "http://") && !strings.HasPrefix(prefix, "//") {
		return segNetworkKey{}, false
	}
	return segNetworkKey{parts[n-4], network}, true
}

// segLastSegment is what follows the last slash of a URL or name ("europe-west1" of
// ".../regions/europe-west1").
func segLastSegment(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }

// segDirection returns a firewall rule's direction, INGRESS or EGRESS; the API reads an
// empty direction as INGRESS.
func segDirection(fw *inventory.Firewall) (string, error) {
	switch d := strings.ToUpper(strings.TrimSpace(fw.Direction)); d {
	case "", "INGRESS":
		return "INGRESS", nil
	case "EGRESS":
		return "EGRESS", nil
	default:
		return "", fmt.Errorf("unknown direction %q", fw.Direction)
	}
}

// segCoversIPv4Internet reports whether ranges together take in every IPv4 address.
func segCoversIPv4Internet(ranges []string) bool {
	world, ok := CoversInternet(ranges)
	if !ok {
		return false
	}
	for _, w := range world {
		if p, ok := ParseSourceRange(w); ok && p.Addr().Is4() {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------
// egress-deny-not-set

// egressDenyNotSet finds VPC networks without a firewall rule that denies all egress to the
// internet, the default-deny baseline that higher-priority allow rules then open up.
type egressDenyNotSet struct{ meta Meta }

func newEgressDenyNotSet() *egressDenyNotSet {
	return &egressDenyNotSet{meta: Meta{
		ID:    "egress-deny-not-set",
		Title: "Network has no rule denying egress to the internet",
		Description: "A VPC network allows all egress by default, so a compromised instance can reach any " +
			"address on the internet to exfiltrate data or fetch tooling. A zero-trust network denies egress " +
			"by default with a low-priority rule and opens only the destinations workloads need with " +
			"higher-priority allow rules.",
		Remediation: "Create an enabled EGRESS firewall rule on the network that denies protocol all to " +
			"0.0.0.0/0 for every instance (no target tags or service accounts) at a low priority such as " +
			"65534, then add higher-priority EGRESS allow rules for the destinations workloads need " +
			"(for example Private Google Access ranges).",
		Flags: "Every network (VPC or legacy) for which no firewall rule of that network is all of: " +
			"direction `EGRESS`; not disabled; a `denied` entry with `IPProtocol` `all`; " +
			"`destinationRanges` that together cover every IPv4 address (`0.0.0.0/0`, or ranges such as " +
			"`0.0.0.0/1` and `128.0.0.0/1`; no `destinationRanges` means `0.0.0.0/0`); and no " +
			"`targetTags` or `targetServiceAccounts`. A firewall rule names its network by URL " +
			"(`https://www.googleapis.com/compute/v1/projects/P/global/networks/N`, " +
			"`projects/P/global/networks/N` or `global/networks/N`); one without a `network` belongs to " +
			"the project's `default` network, as in the Compute API. Priority is not considered. " +
			"Deny rules that come close (egress deny rules, and ingress rules denying `all`) are listed " +
			"in the evidence with why they do not count, e.g. a `tcp`-only deny, target tags, a disabled " +
			"rule, direction `INGRESS` or `destinationRanges` of `10.0.0.0/8` only. A network is judged " +
			"with every firewall rule of the scan; one that has the rule is not flagged, nor is a " +
			"firewall rule whose network is not in the scan.",
		Severity:   SeverityLow,
		Category:   "EGRESS_DENY_RULE_NOT_SET",
		AssetTypes: []string{inventory.TypeNetwork, inventory.TypeFirewall},
	}}
}

func (r *egressDenyNotSet) Meta() *Meta { return &r.meta }

func (r *egressDenyNotSet) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return JudgeAlone(r, env, a, out)
}

func (r *egressDenyNotSet) Tally(*Env) Tally {
	return &egressDenyTally{meta: &r.meta, networks: map[segNetworkKey]*egressDenyState{}}
}

// egressDenyState is what the tally keeps of one network.
type egressDenyState struct {
	name      string   // the network asset's full name; "" until the network is seen
	qualified bool     // some firewall rule of the network denies all egress to the internet
	near      []string // deny rules that do not qualify: "NAME: reason; reason"
}

type egressDenyTally struct {
	meta     *Meta
	networks map[segNetworkKey]*egressDenyState
}

func (t *egressDenyTally) state(k segNetworkKey) *egressDenyState {
	s := t.networks[k]
	if s == nil {
		s = &egressDenyState{}
		t.networks[k] = s
	}
	return s
}

func (t *egressDenyTally) Add(a *inventory.Asset) error {
	switch a.AssetType {
	case inventory.TypeNetwork:
		n, err := viewOf(t.meta.ID, a, (*inventory.Asset).Network)
		if err != nil || n == nil {
			return err
		}
		k, ok := segParseNetworkRef(a.Name, "")
		if !ok {
			return fmt.Errorf("rule %s: network %s: the name is not //compute.googleapis.com/projects/P/global/networks/N", t.meta.ID, a.Name)
		}
		t.state(k).name = a.Name
		return nil
	case inventory.TypeFirewall:
		return t.addFirewall(a)
	default:
		return fmt.Errorf("rule %s: asset %s is a %q, not one of %q", t.meta.ID, a.Name, a.AssetType, t.meta.AssetTypes)
	}
}

func (t *egressDenyTally) addFirewall(a *inventory.Asset) error {
	fw, err := viewOf(t.meta.ID, a, (*inventory.Asset).Firewall)
	if err != nil || fw == nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("rule %s: firewall %s: %w", t.meta.ID, a.Name, err) }
	dir, err := segDirection(fw)
	if err != nil {
		return fail(err)
	}
	if len(fw.Denied) == 0 {
		return nil
	}
	denied, err := ParseAllowed(fw.Denied)
	if err != nil {
		return fail(fmt.Errorf("denied: %w", err))
	}
	deniesAll := slices.Equal(denied.Protocols(), []string{ProtocolAll})
	if dir == "INGRESS" && !deniesAll {
		return nil // an ordinary ingress deny rule: nothing like an egress baseline
	}
	ref := cmp.Or(strings.TrimSpace(fw.Network), "global/networks/default")
	k, ok := segParseNetworkRef(ref, a.Project())
	if !ok {
		return fail(fmt.Errorf("network %q is not a network URL", fw.Network))
	}

	var why []string
	if dir == "INGRESS" {
		why = append(why, "direction INGRESS, not EGRESS")
	}
	if fw.Disabled {
		why = append(why, "disabled")
	}
	if !deniesAll {
		why = append(why, "denies "+denied.String()+", not protocol all")
	}
	if dir == "EGRESS" {
		dst := fw.DestinationRanges
		if len(dst) == 0 {
			dst = []string{impliedWorldRange}
		}
		if !segCoversIPv4Internet(dst) {
			why = append(why, "destinationRanges "+strings.Join(dst, ",")+" do not cover 0.0.0.0/0")
		}
	}
	if len(fw.TargetTags) > 0 {
		why = append(why, "applies only to targetTags "+strings.Join(fw.TargetTags, ","))
	}
	if len(fw.TargetServiceAccounts) > 0 {
		why = append(why, "applies only to targetServiceAccounts "+strings.Join(fw.TargetServiceAccounts, ","))
	}

	s := t.state(k)
	if len(why) == 0 {
		s.qualified, s.near = true, nil // the near misses no longer matter
		return nil
	}
	if s.qualified {
		return nil
	}
	s.near = append(s.near, cmp.Or(fw.Name, a.ShortName())+": "+strings.Join(why, "; "))
	return nil
}

func (t *egressDenyTally) Finish(out *Results) error {
	keys := make([]segNetworkKey, 0, len(t.networks))
	for k, s := range t.networks {
		if s.name != "" && !s.qualified {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b segNetworkKey) int {
		return cmp.Or(strings.Compare(a.project, b.project), strings.Compare(a.network, b.network))
	})
	for _, k := range keys {
		s := t.networks[k]
		near := slices.Clone(s.near)
		slices.Sort(near)
		near = slices.Compact(near)
		if near == nil {
			near = []string{}
		}
		a := &inventory.Asset{Name: s.name, AssetType: inventory.TypeNetwork}
		out.Findings = append(out.Findings, NewFinding(t.meta, a, k.String(), map[string]any{
			"network":         k.network,
			"project":         k.project,
			"egressDenyRules": near,
		}))
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// private-google-access-disabled

// privateGoogleAccessDisabled finds workload subnetworks whose instances without an external
// address cannot reach Google APIs privately.
type privateGoogleAccessDisabled struct{ meta Meta }

func newPrivateGoogleAccessDisabled() *privateGoogleAccessDisabled {
	return &privateGoogleAccessDisabled{meta: Meta{
		ID:    "private-google-access-disabled",
		Title: "Subnetwork has Private Google Access disabled",
		Description: "Without Private Google Access, instances that have only internal addresses cannot reach " +
			"Google APIs and services, which pushes teams to give instances external addresses or open " +
			"egress to the internet, the opposite of a segmented network.",
		Remediation: "Enable Private Google Access on the subnetwork (gcloud compute networks subnets update " +
			"SUBNET --region=REGION --enable-private-ip-google-access), and route Google API traffic " +
			"through private.googleapis.com or restricted.googleapis.com.",
		Flags: "Subnetworks that hold workloads (`purpose` `PRIVATE`, the legacy spelling `PRIVATE_RFC_1918`, " +
			"or unset) whose `privateIpGoogleAccess` is `false` or absent. Subnetworks Google manages for a " +
			"service (`purpose` `REGIONAL_MANAGED_PROXY`, `GLOBAL_MANAGED_PROXY`, " +
			"`INTERNAL_HTTPS_LOAD_BALANCER`, `PRIVATE_SERVICE_CONNECT`, `PRIVATE_NAT` and others) are not " +
			"flagged: Private Google Access does not apply to them.",
		Severity:   SeverityLow,
		Category:   "PRIVATE_GOOGLE_ACCESS_DISABLED",
		AssetTypes: []string{inventory.TypeSubnetwork},
	}}
}

func (r *privateGoogleAccessDisabled) Meta() *Meta { return &r.meta }

func (r *privateGoogleAccessDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	s, err := viewOf(r.meta.ID, a, (*inventory.Asset).Subnetwork)
	if err != nil || s == nil {
		return err
	}
	if !s.IsPrivate() || s.PrivateIPGoogleAccess {
		return nil
	}
	region := segLastSegment(s.Region)
	if region == "" {
		// //compute.googleapis.com/projects/P/regions/R/subnetworks/S
		if _, rest, ok := strings.Cut(a.Name, "/regions/"); ok {
			region, _, _ = strings.Cut(rest, "/")
		}
	}
	ev := map[string]any{
		"subnetwork": cmp.Or(s.Name, a.ShortName()),
		"region":     region,
		"network":    segLastSegment(s.Network),
	}
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, "privateIpGoogleAccess=false", ev))
	return nil
}

// ---------------------------------------------------------------------------------------
// network-too-many

// networkTooMany finds projects with more VPC networks than the baseline allows.
type networkTooMany struct{ meta Meta }

func newNetworkTooMany() *networkTooMany {
	return &networkTooMany{meta: Meta{
		ID:    "network-too-many",
		Title: "Project has more VPC networks than the baseline allows",
		Description: "Every VPC network is a separate security perimeter with its own firewall rules, routes " +
			"and peerings to keep right; networks beyond what a project needs multiply the rules to review " +
			"and often connect through peering or VPNs in ways nobody tracks, which undermines segmentation.",
		Remediation: "Consolidate workloads into the networks the project is meant to have (or a Shared VPC " +
			"host project), delete the networks left unused, or raise the baseline's network limit if the " +
			"extra networks are intended.",
		Flags: "Projects with more networks (VPC and legacy alike) than the baseline's " +
			"`MaxNetworksPerProject` (default `1`; a value below `1` counts as `1`). A project at the limit " +
			"is not flagged. The finding is on the project, named as Cloud Asset Inventory names it " +
			"(`//cloudresourcemanager.googleapis.com/projects/PROJECT_NUMBER`, by ID when the networks do " +
			"not give the number), one per project whatever the " +
			"networks are, and lists them in the evidence. Security Command Center has no category for " +
			"this, hence zerodrift's own `ZERODRIFT_TOO_MANY_NETWORKS`.",
		Severity:   SeverityLow,
		Category:   "ZERODRIFT_TOO_MANY_NETWORKS",
		AssetTypes: []string{inventory.TypeNetwork},
	}}
}

func (r *networkTooMany) Meta() *Meta { return &r.meta }

func (r *networkTooMany) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return JudgeAlone(r, env, a, out)
}

func (r *networkTooMany) Tally(env *Env) Tally {
	limit := 1
	if env != nil && env.MaxNetworksPerProject > 1 {
		limit = env.MaxNetworksPerProject
	}
	return &networkCountTally{meta: &r.meta, max: limit, byProject: map[string]map[string]struct{}{}, numbers: map[string]string{}}
}

type networkCountTally struct {
	meta      *Meta
	max       int
	byProject map[string]map[string]struct{} // project ID → network names
	numbers   map[string]string              // project ID → number, from the networks' ancestry
}

func (t *networkCountTally) Add(a *inventory.Asset) error {
	if a.AssetType != inventory.TypeNetwork {
		return fmt.Errorf("rule %s: asset %s is a %q, not one of %q", t.meta.ID, a.Name, a.AssetType, t.meta.AssetTypes)
	}
	n, err := viewOf(t.meta.ID, a, (*inventory.Asset).Network)
	if err != nil || n == nil {
		return err
	}
	k, ok := segParseNetworkRef(a.Name, "")
	if !ok {
		return fmt.Errorf("rule %s: network %s: the name is not //compute.googleapis.com/projects/P/global/networks/N", t.meta.ID, a.Name)
	}
	names := t.byProject[k.project]
	if names == nil {
		names = map[string]struct{}{}
		t.byProject[k.project] = names
	}
	names[k.network] = struct{}{}
	// CAI names a project by its number, which the network's ancestry gives first.
	if len(a.Ancestors) > 0 && strings.HasPrefix(a.Ancestors[0], "projects/") && t.numbers[k.project] == "" {
		t.numbers[k.project] = strings.TrimPrefix(a.Ancestors[0], "projects/")
	}
	return nil
}

func (t *networkCountTally) Finish(out *Results) error {
	projects := make([]string, 0, len(t.byProject))
	for p, names := range t.byProject {
		if len(names) > t.max {
			projects = append(projects, p)
		}
	}
	slices.Sort(projects)
	for _, p := range projects {
		names := make([]string, 0, len(t.byProject[p]))
		for n := range t.byProject[p] {
			names = append(names, n)
		}
		slices.Sort(names)
		a := &inventory.Asset{Name: "//cloudresourcemanager.googleapis.com/projects/" + cmp.Or(t.numbers[p], p), AssetType: inventory.TypeProject}
		// The network list changes as networks come and go; the project alone keeps the ID
		// stable while the project stays over the limit.
		f := NewFinding(t.meta, a, p, map[string]any{
			"networks": names,
			"count":    len(names),
			"max":      t.max,
		})
		f.Project = p // a project asset without data would say "projects/ID"
		out.Findings = append(out.Findings, f)
	}
	return nil
}

// ---------------------------------------------------------------------------------------
// firewall-overly-broad-internal

// segBroadInternalBlocks are the internal ranges a rule may not admit whole: the RFC 1918
// blocks and the space of auto-mode subnets.
var segBroadInternalBlocks = [...]netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("10.128.0.0/9"),
}

// firewallOverlyBroadInternal finds ingress rules that let every protocol in from whole
// internal address blocks, as the default network's default-allow-internal does.
type firewallOverlyBroadInternal struct{ meta Meta }

func newFirewallOverlyBroadInternal() *firewallOverlyBroadInternal {
	return &firewallOverlyBroadInternal{meta: Meta{
		ID:    "firewall-overly-broad-internal",
		Title: "Firewall rule allows all traffic from whole internal ranges",
		Description: "An enabled ingress rule that allows every protocol and port from a whole private address " +
			"block to every instance of its network makes the network flat: any compromised instance can " +
			"reach every other one on any port, which defeats micro-segmentation and lets an intruder move " +
			"laterally.",
		Remediation: "Replace the rule with rules that allow only the protocols and ports each tier needs, from " +
			"the subnets or service accounts that need them, to target tags or target service accounts; " +
			"then delete or disable the broad rule (on the default network, default-allow-internal).",
		Flags: "Enabled `INGRESS` rules with an `allowed` list, no `targetTags` and no " +
			"`targetServiceAccounts`, that allow every protocol (`IPProtocol` `all`, or both `tcp` and " +
			"`udp` on every port: no `ports`, or ports covering `0-65535` or `1-65535`) from a source range " +
			"that contains a whole `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` or the auto-mode subnet " +
			"space `10.128.0.0/9`: the `default-allow-internal` shape (`10.128.0.0/9`, `tcp:0-65535`, " +
			"`udp:0-65535`, `icmp`). Not flagged: rules limited to some ports or protocols, narrower sources " +
			"(`10.1.0.0/16`, a `/24`, several ranges that only together make a block), rules with target " +
			"tags or service accounts, disabled, `DENY` and `EGRESS` rules, and rules whose sources take in " +
			"the whole internet (`0.0.0.0/0`), which firewall-open-ingress reports. Rules GKE and " +
			"Kubernetes manage (`gke-*`, `k8s-fw-*`, `k8s2-*`, `k8s-*-http-hc`) are listed as skipped when " +
			"managed firewalls are skipped. Security Command Center has no category for this, hence " +
			"zerodrift's own `ZERODRIFT_OVERLY_BROAD_INTERNAL_FIREWALL`.",
		Severity:   SeverityMedium,
		Category:   "ZERODRIFT_OVERLY_BROAD_INTERNAL_FIREWALL",
		AssetTypes: []string{inventory.TypeFirewall},
	}}
}

func (r *firewallOverlyBroadInternal) Meta() *Meta { return &r.meta }

func (r *firewallOverlyBroadInternal) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	fw, err := viewOf(r.meta.ID, a, (*inventory.Asset).Firewall)
	if err != nil || fw == nil {
		return err
	}
	broad, exposure, err := segJudgeBroadInternal(fw)
	if err != nil {
		return fmt.Errorf("rule %s: firewall %s: %w", r.meta.ID, a.Name, err)
	}
	if len(broad) == 0 {
		return nil
	}

	name := cmp.Or(fw.Name, a.ShortName())
	if skipManagedFirewall(&r.meta, env, a, name, "recreates the rule; change the cluster's configuration instead", out) {
		return nil
	}

	var allowed []string
	for _, p := range exposure.Protocols() {
		if ps := exposure.Ports(p); p != ProtocolAll && HasPorts(p) {
			allowed = append(allowed, p+":"+strings.Join(ps.Strings(), ","))
		} else {
			allowed = append(allowed, p)
		}
	}
	ev := map[string]any{
		"firewall":     name,
		"broadSources": broad,
		"allowed":      allowed,
	}
	offending := strings.Join(broad, ",") + " " + exposure.String()
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, offending, ev))
	return nil
}

// segJudgeBroadInternal returns the source ranges, as spelled and in address order, through
// which fw lets every protocol in from a whole internal block to every instance; none when it
// does not.
func segJudgeBroadInternal(fw *inventory.Firewall) (broad []string, e Exposure, err error) {
	dir, err := segDirection(fw)
	if err != nil {
		return nil, Exposure{}, err
	}
	if dir != "INGRESS" || fw.Disabled || len(fw.Allowed) == 0 ||
		len(fw.TargetTags) > 0 || len(fw.TargetServiceAccounts) > 0 || len(fw.SourceRanges) == 0 {
		return nil, Exposure{}, nil
	}
	if _, _, world := WorldSources(fw); world {
		return nil, Exposure{}, nil // firewall-open-ingress's business
	}
	e, err = ParseAllowed(fw.Allowed)
	if err != nil {
		return nil, Exposure{}, fmt.Errorf("allowed: %w", err)
	}
	if !segEveryPort(e.Ports("tcp")) || !segEveryPort(e.Ports("udp")) {
		return nil, Exposure{}, nil
	}

	type source struct {
		text   string
		prefix netip.Prefix
	}
	var found []source
	for _, r := range fw.SourceRanges {
		p, ok := ParseSourceRange(r)
		if !ok || !p.Addr().Is4() {
			continue
		}
		for _, b := range segBroadInternalBlocks {
			if p.Bits() <= b.Bits() && p.Contains(b.Addr()) {
				found = append(found, source{strings.TrimSpace(r), p})
				break
			}
		}
	}
	slices.SortFunc(found, func(a, b source) int {
		return cmp.Or(comparePrefixes(a.prefix, b.prefix), strings.Compare(a.text, b.text))
	})
	for _, s := range found {
		if !slices.Contains(broad, s.text) {
			broad = append(broad, s.text)
		}
	}
	return broad, e, nil
}

// segEveryPort reports whether ps holds every usable port, 1-65535 (port 0 is not needed).
func segEveryPort(ps PortSet) bool {
	return ps.Union(NewPortSet(PortRange{0, 0})).IsAll()
}
