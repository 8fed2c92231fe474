package rules

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// impliedWorldRange is the source the Compute API assumes for an ingress rule that names no
// source ranges, tags or service accounts.
const impliedWorldRange = "0.0.0.0/0"

// WorldSources reports whether a firewall rule's sources take in the whole internet, and
// through which source ranges (see CoversInternet). implied is true when the rule names no
// source at all, which the Compute API reads as 0.0.0.0/0; world is then ["0.0.0.0/0"].
// Source tags and service accounts add to the source ranges, never narrow them, so they
// matter only when they are the only sources. It looks at sources alone: direction,
// Disabled and the allowed list are the caller's business.
func WorldSources(fw *inventory.Firewall) (world []string, implied, ok bool) {
	if fw == nil {
		return nil, false, false
	}
	if len(fw.SourceRanges) == 0 {
		if len(fw.SourceTags) == 0 && len(fw.SourceServiceAccounts) == 0 {
			return []string{impliedWorldRange}, true, true
		}
		return nil, false, false
	}
	world, ok = CoversInternet(fw.SourceRanges)
	return world, false, ok
}

// firewallOpenIngress finds enabled ingress firewall rules that allow traffic from the whole
// internet.
type firewallOpenIngress struct{ meta Meta }

func newFirewallOpenIngress() *firewallOpenIngress {
	return &firewallOpenIngress{meta: Meta{
		ID:    "firewall-open-ingress",
		Title: "Firewall rule allows ingress from the whole internet",
		Description: "An enabled ingress firewall rule admits traffic from every address on the internet, " +
			"so anyone can reach the targeted instances on the allowed protocols and ports. " +
			"Administrative services (SSH, RDP) and databases exposed this way are a common way in.",
		Remediation: "Restrict the rule's source ranges to the networks that need access (for administrative " +
			"access, Identity-Aware Proxy's 35.235.240.0/20), narrow its protocols and ports, " +
			"or disable or delete the rule.",
		Flags: "An enabled `INGRESS` `ALLOW` rule whose sources reach the whole internet (`0.0.0.0/0`, `::/0`, " +
			"a set of ranges covering either, or no source at all). One finding per rule, whatever the ports; " +
			"the category is `OPEN_FIREWALL` when all ports are open, else the first port category exposed in this order: " +
			"SSH (tcp/sctp 22), RDP (tcp/udp 3389), telnet, FTP, SMTP, HTTP, POP3, MySQL, PostgreSQL, Redis, MongoDB, " +
			"Elasticsearch, Memcached, LDAP, NetBIOS, directory services, DNS, OracleDB, Cassandra, Cisco WebSM " +
			"(at the highest severity of those exposed), else `OPEN_FIREWALL` at low severity. " +
			"Port ranges are understood (`20-30` exposes 21, 22, 23). " +
			"Not flagged: disabled, `DENY` and `EGRESS` rules, tag- or service-account-only sources, " +
			"restricted ranges (IAP, private, half the internet). " +
			"Rules GKE and Kubernetes create (`gke-*`, `k8s-fw-*`, `k8s2-*`, `k8s-*-http-hc`) are skipped and listed " +
			"(`baseline.skipManagedFirewalls`).",
		Severity: SeverityHigh,
		Category: "OPEN_FIREWALL",
		Categories: []string{"OPEN_FIREWALL", "OPEN_SSH_PORT", "OPEN_RDP_PORT", "OPEN_TELNET_PORT", "OPEN_FTP_PORT",
			"OPEN_SMTP_PORT", "OPEN_HTTP_PORT", "OPEN_POP3_PORT", "OPEN_MYSQL_PORT", "OPEN_POSTGRESQL_PORT",
			"OPEN_REDIS_PORT", "OPEN_MONGODB_PORT", "OPEN_ELASTICSEARCH_PORT", "OPEN_MEMCACHED_PORT", "OPEN_LDAP_PORT",
			"OPEN_NETBIOS_PORT", "OPEN_DIRECTORY_SERVICES_PORT", "OPEN_DNS_PORT", "OPEN_ORACLEDB_PORT",
			"OPEN_CASSANDRA_PORT", "OPEN_CISCOSECURE_WEBSM_PORT"},
		SeverityNote: "critical (all ports), high, medium (HTTP, SMTP, NetBIOS), low",
		CIS:          CIS{"1.1": {"3.6", "3.7"}},
		AssetTypes:   []string{inventory.TypeFirewall},
	}}
}

func (r *firewallOpenIngress) Meta() *Meta { return &r.meta }

func (r *firewallOpenIngress) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	fw, err := viewOf(r.meta.ID, a, (*inventory.Asset).Firewall)
	if err != nil || fw == nil {
		return err
	}
	open, err := judgeFirewall(fw)
	if err != nil {
		return fmt.Errorf("rule %s: firewall %s: %w", r.meta.ID, a.Name, err)
	}
	if open == nil {
		return nil
	}

	name := cmp.Or(fw.Name, a.ShortName())
	if skipManagedFirewall(&r.meta, env, a, name, "recreates the rule; change the cluster's Service or Ingress instead", out) {
		return nil
	}

	f := NewFinding(&r.meta, a, open.offending(), open.evidence(fw))
	f.Severity, f.Category = open.severity, open.category
	f.CIS = open.cisControls // 3.6 and 3.7 are numbered alike in every benchmark version
	out.Findings = append(out.Findings, f)
	return nil
}

// openIngress is the verdict on a firewall rule that admits the whole internet.
type openIngress struct {
	world        []string
	implied      bool
	exposure     Exposure
	allPortsOpen bool
	categories   []string // SCC categories matched, in priority order
	cisControls  []string
	category     string
	severity     Severity
}

// judgeFirewall returns the verdict on fw, or nil when it does not admit the internet: it
// is disabled, egress, deny-only, or its sources are narrower than the internet.
func judgeFirewall(fw *inventory.Firewall) (*openIngress, error) {
	switch d := strings.ToUpper(strings.TrimSpace(fw.Direction)); d {
	case "", "INGRESS":
	case "EGRESS":
		return nil, nil
	default:
		return nil, fmt.Errorf("unknown direction %q", fw.Direction)
	}
	if fw.Disabled || len(fw.Allowed) == 0 {
		return nil, nil
	}
	world, implied, ok := WorldSources(fw)
	if !ok {
		return nil, nil
	}
	exposure, err := ParseAllowed(fw.Allowed)
	if err != nil {
		return nil, fmt.Errorf("allowed: %w", err)
	}

	v := &openIngress{
		world:        world,
		implied:      implied,
		exposure:     exposure,
		allPortsOpen: exposure.AllPortsOpen(),
		cisControls:  []string{},
	}
	matched := MatchPortCategories(exposure)
	for _, c := range matched {
		if c.CISControl != "" {
			v.cisControls = append(v.cisControls, c.CISControl)
		}
	}
	switch {
	case v.allPortsOpen:
		v.category, v.severity = "OPEN_FIREWALL", SeverityCritical
		v.categories = []string{"OPEN_FIREWALL"}
	case len(matched) == 0:
		v.category, v.severity = "OPEN_FIREWALL", SeverityLow
		v.categories = []string{"OPEN_FIREWALL"}
	default:
		v.category = matched[0].Name
		for _, c := range matched {
			v.categories = append(v.categories, c.Name)
			v.severity = max(v.severity, c.Severity)
		}
	}
	return v, nil
}

// offending names the drift for the finding ID: the world ranges and what they reach, so
// widening or narrowing the exposure makes a new finding.
func (v *openIngress) offending() string {
	return strings.Join(v.world, ",") + " " + v.exposure.String()
}

func (v *openIngress) evidence(fw *inventory.Firewall) map[string]any {
	var exposed []map[string]any
	for _, proto := range v.exposure.Protocols() {
		var ports any = "all"
		if ps := v.exposure.Ports(proto); !ps.IsAll() {
			ports = ps.Strings()
		}
		exposed = append(exposed, map[string]any{"protocol": proto, "ports": ports})
	}
	ev := map[string]any{
		"direction":     "INGRESS",
		"worldRanges":   v.world,
		"impliedSource": v.implied,
		"exposed":       exposed,
		"categories":    v.categories,
		"allPortsOpen":  v.allPortsOpen,
		"cisControls":   v.cisControls,
	}
	for key, values := range map[string][]string{
		"sourceTags":            fw.SourceTags,
		"sourceServiceAccounts": fw.SourceServiceAccounts,
		"targetTags":            fw.TargetTags,
		"targetServiceAccounts": fw.TargetServiceAccounts,
	} {
		if len(values) > 0 {
			ev[key] = values
		}
	}
	if fw.Network != "" {
		ev["network"] = fw.Network
	}
	return ev
}

// ManagedFirewallPattern reports whether a firewall rule's name is one GKE or Kubernetes
// creates and reconciles, and which pattern it matches.
func ManagedFirewallPattern(name string) (pattern string, ok bool) {
	for _, prefix := range []string{"gke-", "k8s-fw-", "k8s2-"} {
		if strings.HasPrefix(name, prefix) {
			return prefix + "*", true
		}
	}
	const hcPrefix, hcSuffix = "k8s-", "-http-hc"
	if len(name) >= len(hcPrefix)+len(hcSuffix) &&
		strings.HasPrefix(name, hcPrefix) && strings.HasSuffix(name, hcSuffix) {
		return hcPrefix + "*" + hcSuffix, true
	}
	return "", false
}
