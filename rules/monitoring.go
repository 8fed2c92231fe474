package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file holds the rules that check zerodrift's eyes are open: that firewall rules,
// subnetworks and the resource hierarchy record what goes on in them.

// monitoringRules returns the logging and monitoring rules, each a fresh value.
func monitoringRules() []Rule {
	return []Rule{
		newFirewallLoggingDisabled(),
		newSubnetFlowLogsDisabled(),
		newAuditLoggingDisabled(),
	}
}

// resourceURLTail is the last path segment of a resource URL or name: "us-central1" of
// "https://www.googleapis.com/compute/v1/projects/p1/regions/us-central1".
func resourceURLTail(url string) string {
	return url[strings.LastIndexByte(url, '/')+1:]
}

// ---- firewall-logging-disabled

// firewallLoggingDisabled finds enabled firewall rules that do not log their connections.
type firewallLoggingDisabled struct{ meta Meta }

func newFirewallLoggingDisabled() *firewallLoggingDisabled {
	return &firewallLoggingDisabled{meta: Meta{
		ID:    "firewall-logging-disabled",
		Title: "Firewall rule does not log its connections",
		Description: "Firewall Rules Logging records every connection a rule allows or denies. " +
			"Without it nothing shows what reached or left the instances through the rule, so probing, " +
			"lateral movement and exfiltration leave no trace in the network, and nobody can tell whether " +
			"the rule is still used before narrowing or deleting it.",
		Remediation: "Turn logging on for the rule (gcloud compute firewall-rules update RULE --enable-logging; " +
			"--logging-metadata=exclude-all keeps the volume down), or delete the rule if nothing needs it.",
		Flags: "An enabled firewall rule (`disabled` unset or `false`) of either direction (`INGRESS` or `EGRESS`) " +
			"and either action (`allowed` or `denied`) whose `logConfig` is absent or has `enable: false`. " +
			"Not flagged: rules with `logConfig.enable: true`, whatever their `metadata`, and disabled rules " +
			"(`disabled: true`), which match no traffic. Rules GKE and Kubernetes create and reconcile " +
			"(`gke-*`, `k8s-fw-*`, `k8s2-*`, `k8s-*-http-hc`) are listed as skipped while managed firewalls are " +
			"skipped (the default), and flagged otherwise.",
		Severity:   SeverityMedium,
		Category:   "FIREWALL_RULE_LOGGING_DISABLED",
		AssetTypes: []string{inventory.TypeFirewall},
	}}
}

func (r *firewallLoggingDisabled) Meta() *Meta { return &r.meta }

func (r *firewallLoggingDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	fw, err := viewOf(r.meta.ID, a, (*inventory.Asset).Firewall)
	if err != nil || fw == nil {
		return err
	}
	if fw.Disabled || fw.LogsEnabled() {
		return nil
	}

	name := cmp.Or(fw.Name, a.ShortName())
	if skipManagedFirewall(&r.meta, env, a, name, "recreates and rewrites the rule, so a logging setting changed by hand may not last", out) {
		return nil
	}

	direction := strings.ToUpper(strings.TrimSpace(fw.Direction))
	if direction == "" {
		direction = "INGRESS"
	}
	ev := map[string]any{
		"firewall":         name,
		"logConfigPresent": fw.LogConfig != nil,
		"direction":        direction,
	}
	switch {
	case len(fw.Allowed) > 0:
		ev["action"] = "allow"
	case len(fw.Denied) > 0:
		ev["action"] = "deny"
	}
	// Absent and enable:false are the same drift: the API reads an absent logConfig as off.
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, "logConfig.enable=false", ev))
	return nil
}

// ---- subnet-flow-logs-disabled

// subnetFlowLogsDisabled finds workload subnetworks without VPC flow logs.
type subnetFlowLogsDisabled struct{ meta Meta }

func newSubnetFlowLogsDisabled() *subnetFlowLogsDisabled {
	return &subnetFlowLogsDisabled{meta: Meta{
		ID:    "subnet-flow-logs-disabled",
		Title: "Subnetwork does not record VPC flow logs",
		Description: "VPC Flow Logs record a sample of the network flows sent and received by the instances, " +
			"GKE nodes and other workloads of a subnetwork. Without them nothing shows who talked to whom, " +
			"so network monitoring, the investigation of an incident and the review of firewall changes " +
			"have nothing to go on.",
		Remediation: "Turn flow logs on for the subnetwork (gcloud compute networks subnets update SUBNET " +
			"--region=REGION --enable-flow-logs), with the aggregation interval, sampling rate and metadata " +
			"that monitoring needs.",
		Flags: "A subnetwork that holds workloads (`purpose` `PRIVATE`, the legacy spelling `PRIVATE_RFC_1918`, " +
			"or unset) and whose flow logs are off: " +
			"`logConfig.enable` is `false` or unset, or, where `logConfig` is absent, the legacy " +
			"`enableFlowLogs` is `false` or unset. " +
			"Not flagged: subnetworks with `logConfig.enable: true`, or with `enableFlowLogs: true` and no " +
			"`logConfig`; and subnetworks Google manages for a service, whose `purpose` is anything else " +
			"(`REGIONAL_MANAGED_PROXY`, `GLOBAL_MANAGED_PROXY`, `INTERNAL_HTTPS_LOAD_BALANCER`, " +
			"`PRIVATE_SERVICE_CONNECT`, `PRIVATE_NAT` and others), to which flow logs do not apply. " +
			"The aggregation interval, sampling rate and metadata of enabled flow logs are not checked.",
		Severity:   SeverityLow,
		Category:   "FLOW_LOGS_DISABLED",
		CIS:        CIS{"1.1": {"3.8"}, "5.0": {"3.10"}},
		AssetTypes: []string{inventory.TypeSubnetwork},
	}}
}

func (r *subnetFlowLogsDisabled) Meta() *Meta { return &r.meta }

func (r *subnetFlowLogsDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	if err := checkInput(&r.meta, env, a, out); err != nil {
		return err
	}
	s, err := viewOf(r.meta.ID, a, (*inventory.Asset).Subnetwork)
	if err != nil || s == nil {
		return err
	}
	if !s.IsPrivate() || s.FlowLogsEnabled() {
		return nil
	}
	ev := map[string]any{
		"subnetwork":       cmp.Or(s.Name, a.ShortName()),
		"region":           resourceURLTail(cmp.Or(s.Region, subnetRegionFromName(a.Name))),
		"network":          resourceURLTail(s.Network),
		"ipCidrRange":      s.IPCidrRange,
		"logConfigPresent": s.LogConfig != nil,
	}
	if s.LogConfig == nil && s.EnableFlowLogs != nil {
		ev["enableFlowLogs"] = *s.EnableFlowLogs
	}
	// logConfig.enable false, unset, or an absent logConfig without enableFlowLogs are one
	// drift: no flow logs.
	out.Findings = append(out.Findings, NewFinding(&r.meta, a, "logConfig.enable=false", ev))
	return nil
}

// subnetRegionFromName reads the region of a subnetwork asset's name
// (//compute.googleapis.com/projects/p1/regions/REGION/subnetworks/x), or "".
func subnetRegionFromName(name string) string {
	_, rest, ok := strings.Cut(name, "/regions/")
	if !ok {
		return ""
	}
	region, _, _ := strings.Cut(rest, "/")
	return region
}

// ---- audit-logging-disabled

// The log types CIS requires for allServices, sorted, and the bit each sets in a summary.
var auditRequiredLogTypes = [...]string{"ADMIN_READ", "DATA_READ", "DATA_WRITE"}

const auditAllServices = "allServices"

// auditLogBit is the bit of a required log type, or 0 for any other.
func auditLogBit(logType string) uint8 {
	for i, t := range auditRequiredLogTypes {
		if t == logType {
			return 1 << i
		}
	}
	return 0
}

// auditLoggingDisabled finds projects whose effective audit configuration, their own and
// their ancestors' together, does not log every read and write of every service.
type auditLoggingDisabled struct{ meta Meta }

func newAuditLoggingDisabled() *auditLoggingDisabled {
	return &auditLoggingDisabled{meta: Meta{
		ID:    "audit-logging-disabled",
		Title: "Project does not record Data Access audit logs for every service",
		Description: "Admin Activity audit logs are always written, but Data Access audit logs (ADMIN_READ, " +
			"DATA_READ and DATA_WRITE) are off for most services unless an audit configuration turns them on. " +
			"Without an allServices configuration enabling all three, on the project or a folder or organization " +
			"above it, with nobody exempted, reads of configuration and reads and writes of data leave no record " +
			"of who did what, and misuse or exfiltration cannot be investigated.",
		Remediation: "Add an audit configuration for allServices with the log types ADMIN_READ, DATA_READ and " +
			"DATA_WRITE and no exempted members to the organization's IAM policy (or to a folder's or the " +
			"project's), and remove exempted members from the allServices configurations of the project and " +
			"its ancestors.",
		Flags: "A project whose effective audit configuration, the `auditConfigs` of its own IAM policy together " +
			"with those of every folder and organization above it, lacks an `allServices` entry enabling any of " +
			"`ADMIN_READ`, `DATA_READ` and `DATA_WRITE`, or exempts members (`exemptedMembers`) from any of them " +
			"in an `allServices` entry: one finding per project; folders and organizations are read, not flagged. " +
			"Not flagged: log types enabled at different levels that add up to all three (`DATA_READ` on a folder, " +
			"`ADMIN_READ` and `DATA_WRITE` on the project); a project whose IAM policy the scan did not read. " +
			"Entries for a single service (`storage.googleapis.com`) do not stand in for `allServices`, " +
			"and their exemptions are not flagged. A folder or organization whose IAM policy was not read " +
			"adds nothing; the evidence lists which were read.",
		Severity:   SeverityLow,
		Category:   "AUDIT_LOGGING_DISABLED",
		CIS:        CIS{"1.1": {"2.1"}},
		AssetTypes: hierarchyTypes(),
	}}
}

func (r *auditLoggingDisabled) Meta() *Meta { return &r.meta }

func (r *auditLoggingDisabled) Evaluate(env *Env, a *inventory.Asset, out *Results) error {
	return JudgeAlone(r, env, a, out)
}

func (r *auditLoggingDisabled) Tally(*Env) Tally {
	return &auditTally{
		meta:     &r.meta,
		policies: map[string]*auditSummary{},
		projects: map[string]*auditProject{},
	}
}

// auditSummary is what the verdict needs of one IAM policy: its allServices configuration.
type auditSummary struct {
	configured bool     // the policy has an allServices entry
	types      uint8    // the required log types it enables (auditLogBit)
	exempted   []string // "LOG_TYPE member" of its required log types, sorted, once each
}

// auditProject is what the verdict needs of a project besides its policy.
type auditProject struct {
	name      string   // full resource name: the finding's resource
	id        string   // project ID, when its data came through
	ancestors []string // "projects/N", "folders/N", "organizations/N", upwards
}

// auditTally gathers the allServices configuration of every project, folder and
// organization policy seen, and each project's ancestry.
type auditTally struct {
	meta     *Meta
	policies map[string]*auditSummary // by hierarchy key ("folders/456")
	projects map[string]*auditProject // by hierarchy key ("projects/123")
}

// auditKey is the hierarchy key of a resource manager asset: "folders/456" for
// //cloudresourcemanager.googleapis.com/folders/456, as ancestors name it.
func auditKey(name string) string {
	return strings.TrimPrefix(name, "//cloudresourcemanager.googleapis.com/")
}

func (t *auditTally) Add(a *inventory.Asset) error {
	if a == nil {
		return fmt.Errorf("rule %s: no asset to judge", t.meta.ID)
	}
	if !slices.Contains(t.meta.AssetTypes, a.AssetType) {
		return fmt.Errorf("rule %s: asset %s is a %q, not one of %q", t.meta.ID, a.Name, a.AssetType, t.meta.AssetTypes)
	}
	key := auditKey(a.Name)
	if a.AssetType == inventory.TypeProject {
		var id string
		if a.Resource != nil && len(a.Resource.Data) > 0 {
			p, err := a.ProjectData()
			if err != nil {
				return fmt.Errorf("rule %s: %w", t.meta.ID, err)
			}
			id = p.ProjectID
		}
		p := t.projects[key]
		if p == nil {
			p = &auditProject{name: a.Name}
			t.projects[key] = p
		}
		p.id = cmp.Or(p.id, id)
		// The resource and policy lines of a project carry the same ancestry; should they
		// differ, the longer (then the lesser) wins, so the order they come in does not matter.
		if n, o := len(a.Ancestors), len(p.ancestors); n > o || n == o && slices.Compare(a.Ancestors, p.ancestors) < 0 {
			p.ancestors = slices.Clone(a.Ancestors)
		}
	}
	if a.IAMPolicy != nil {
		s := summarizeAudit(a.IAMPolicy)
		if prev := t.policies[key]; prev != nil {
			s = prev.merge(s)
		}
		t.policies[key] = s
	}
	return nil
}

// summarizeAudit keeps the allServices configuration of a policy.
func summarizeAudit(p *inventory.Policy) *auditSummary {
	s := &auditSummary{}
	for _, ac := range p.AuditConfigs {
		if ac.Service != auditAllServices {
			continue
		}
		s.configured = true
		for _, lc := range ac.AuditLogConfigs {
			bit := auditLogBit(lc.LogType)
			if bit == 0 {
				continue
			}
			s.types |= bit
			for _, m := range lc.ExemptedMembers {
				s.exempted = append(s.exempted, lc.LogType+" "+m)
			}
		}
	}
	slices.Sort(s.exempted)
	s.exempted = slices.Compact(s.exempted)
	return s
}

// merge combines two reads of the same policy, which a scan should not give but may: the
// result is the weaker of the two (log types both enable, exemptions of either), whatever
// the order they came in.
func (s *auditSummary) merge(o *auditSummary) *auditSummary {
	ex := append(slices.Clone(s.exempted), o.exempted...)
	slices.Sort(ex)
	return &auditSummary{
		configured: s.configured && o.configured,
		types:      s.types & o.types,
		exempted:   slices.Compact(ex),
	}
}

func (t *auditTally) Finish(out *Results) error {
	for _, key := range slices.Sorted(maps.Keys(t.projects)) {
		own, read := t.policies[key]
		if !read {
			continue // the project's policy never came: nothing to judge
		}
		p := t.projects[key]
		var (
			types      = own.types
			exempted   = slices.Clone(own.exempted)
			configured = []string{}
			readAnc    = []string{}
			unreadAnc  = []string{}
		)
		if own.configured {
			configured = append(configured, key)
		}
		seen := map[string]bool{key: true}
		for _, anc := range p.ancestors {
			if seen[anc] {
				continue
			}
			seen[anc] = true
			s, ok := t.policies[anc]
			if !ok {
				unreadAnc = append(unreadAnc, anc)
				continue
			}
			readAnc = append(readAnc, anc)
			types |= s.types
			exempted = append(exempted, s.exempted...)
			if s.configured {
				configured = append(configured, anc)
			}
		}
		missing := []string{}
		for i, lt := range auditRequiredLogTypes {
			if types&(1<<i) == 0 {
				missing = append(missing, lt)
			}
		}
		slices.Sort(exempted)
		exempted = slices.Compact(exempted)
		if len(missing) == 0 && len(exempted) == 0 {
			continue
		}
		if exempted == nil {
			exempted = []string{}
		}
		ev := map[string]any{
			"missingLogTypes":         missing,
			"exemptedMembers":         exempted,
			"configuredOn":            configured,
			"ancestorPoliciesRead":    readAnc,
			"ancestorPoliciesNotRead": unreadAnc,
		}
		// The gap itself names the drift: closing part of it, or exempting someone else,
		// is a new finding.
		offending := auditAllServices + " missing " + strings.Join(missing, ",") +
			" exempted " + strings.Join(exempted, ",")
		f := NewFinding(t.meta, &inventory.Asset{Name: p.name, AssetType: inventory.TypeProject}, offending, ev)
		if p.id != "" {
			f.Project = p.id
		}
		out.Findings = append(out.Findings, f)
	}
	return nil
}
