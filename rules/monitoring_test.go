package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// ---- helpers of this file

// monSubnetAsset builds a subnetwork asset of project p1 in us-central1 from its REST
// representation.
func monSubnetAsset(name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeSubnetwork,
		"//compute.googleapis.com/projects/p1/regions/us-central1/subnetworks/"+name, data)
}

// monLog is one audit log type with its exempted members.
func monLog(logType string, exempted ...string) inventory.AuditLogConfig {
	return inventory.AuditLogConfig{LogType: logType, ExemptedMembers: exempted}
}

// monAudit is the audit configuration of one service.
func monAudit(service string, logs ...inventory.AuditLogConfig) inventory.AuditConfig {
	return inventory.AuditConfig{Service: service, AuditLogConfigs: logs}
}

// monAllTypes enables every log type CIS asks for, exempting no one.
func monAllTypes() []inventory.AuditLogConfig {
	return []inventory.AuditLogConfig{monLog("ADMIN_READ"), monLog("DATA_READ"), monLog("DATA_WRITE")}
}

const (
	monOrg     = "//cloudresourcemanager.googleapis.com/organizations/9"
	monFolder  = "//cloudresourcemanager.googleapis.com/folders/456"
	monProject = "//cloudresourcemanager.googleapis.com/projects/123"
	monOther   = "//cloudresourcemanager.googleapis.com/projects/777"
)

// monAncestry is the hierarchy of project 123: folder 456 in organization 9.
var monAncestry = []string{"projects/123", "folders/456", "organizations/9"}

// monAuditPolicy builds an IAM-policy-only line of a project, folder or organization with
// the given ancestors and audit configurations, as a CAI export writes it.
func monAuditPolicy(typ, name string, ancestors []string, configs ...inventory.AuditConfig) *inventory.Asset {
	a := policyAsset(typ, name, bind("roles/owner", []string{"user:alice@acme.example"}))
	a.Ancestors = slices.Clone(ancestors)
	a.IAMPolicy.AuditConfigs = configs
	return a
}

// monProjectResource builds the resource line of a project (no policy).
func monProjectResource(name, id string, ancestors []string) *inventory.Asset {
	number := name[strings.LastIndexByte(name, '/')+1:]
	a := resourceAsset(inventory.TypeProject, name, fmt.Sprintf(`{"projectId":%q,"projectNumber":%q}`, id, number))
	a.Ancestors = slices.Clone(ancestors)
	return a
}

// monTallyScan judges assets together, as a scan of a whole inventory does.
func monTallyScan(t *testing.T, r SetRule, assets ...*inventory.Asset) Results {
	t.Helper()
	tally := r.Tally(testEnv())
	for _, a := range assets {
		if err := tally.Add(a); err != nil {
			t.Fatalf("Add(%s): %v", a.Name, err)
		}
	}
	var out Results
	if err := tally.Finish(&out); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return out
}

// ---- metadata

func TestMonitoringRulesMeta(t *testing.T) {
	want := []struct {
		id       string
		category string
		severity Severity
		cis      map[string][]string // version → controls
		types    []string
	}{
		{"firewall-logging-disabled", "FIREWALL_RULE_LOGGING_DISABLED", SeverityMedium,
			map[string][]string{"1.1": nil, "4.0": nil, "5.0": nil}, []string{inventory.TypeFirewall}},
		{"subnet-flow-logs-disabled", "FLOW_LOGS_DISABLED", SeverityLow,
			map[string][]string{"1.1": {"3.8"}, "3.0": {"3.8"}, "4.0": {"3.8"}, "5.0": {"3.10"}}, []string{inventory.TypeSubnetwork}},
		{"audit-logging-disabled", "AUDIT_LOGGING_DISABLED", SeverityLow,
			map[string][]string{"1.1": {"2.1"}, "4.0": {"2.1"}, "5.0": {"2.1"}},
			[]string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}},
	}
	rs := monitoringRules()
	if len(rs) != len(want) {
		t.Fatalf("monitoringRules() has %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity || !slices.Equal(m.AssetTypes, w.types) {
			t.Errorf("rule %d = %s %s %s %v, want %s %s %s %v", i, m.ID, m.Category, m.Severity, m.AssetTypes,
				w.id, w.category, w.severity, w.types)
		}
		for v, controls := range w.cis {
			if got := m.CIS.Controls(v); !slices.Equal(got, controls) {
				t.Errorf("%s in CIS %s: %v, want %v", m.ID, v, got, controls)
			}
		}
		if m.Title == "" || m.Description == "" || m.Remediation == "" || m.Flags == "" {
			t.Errorf("%s: title, description, remediation and flags are required", m.ID)
		}
		for what, s := range map[string]string{"title": m.Title, "description": m.Description,
			"remediation": m.Remediation, "flags": m.Flags} {
			if strings.Contains(s, "\n") {
				t.Errorf("%s: %s is one paragraph", m.ID, what)
			}
		}
		if strings.Contains(m.Description, "`") || strings.Contains(m.Remediation, "`") {
			t.Errorf("%s: description and remediation are plain text", m.ID)
		}
		if m.Playbook != "" || len(m.Categories) != 0 || m.SeverityNote != "" {
			t.Errorf("%s: Playbook %q, Categories %v, SeverityNote %q: want none", m.ID, m.Playbook, m.Categories, m.SeverityNote)
		}
	}
	if m := rs[0].Meta(); m.CIS != nil {
		t.Errorf("firewall-logging-disabled cites CIS %v, want nil", m.CIS)
	}
	if _, ok := rs[2].(SetRule); !ok {
		t.Error("audit-logging-disabled is not a SetRule")
	}
	for _, r := range rs[:2] {
		if _, ok := r.(SetRule); ok {
			t.Errorf("%s is a SetRule; it judges one asset", r.Meta().ID)
		}
	}
	a, b := monitoringRules(), monitoringRules()
	a[2].Meta().AssetTypes[0] = "changed"
	if b[2].Meta().AssetTypes[0] == "changed" {
		t.Error("two monitoringRules calls share their Meta")
	}
}

// ---- firewall-logging-disabled

func TestFirewallLoggingDisabled(t *testing.T) {
	r := newFirewallLoggingDisabled()
	cases := []struct {
		name     string
		asset    *inventory.Asset
		evidence string // "" when no finding
	}{
		{"logging on",
			firewallAsset("allow-ssh", `{"name":"allow-ssh","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}],"logConfig":{"enable":true}}`), ""},
		{"logging on without metadata",
			firewallAsset("allow-ssh", `{"name":"allow-ssh","allowed":[{"IPProtocol":"tcp"}],"logConfig":{"enable":true,"metadata":"EXCLUDE_ALL_METADATA"}}`), ""},
		{"logging off",
			firewallAsset("allow-ssh", `{"name":"allow-ssh","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}],"logConfig":{"enable":false}}`),
			`{"action":"allow","direction":"INGRESS","firewall":"allow-ssh","logConfigPresent":true}`},
		{"logConfig with metadata only is off",
			firewallAsset("allow-ssh", `{"name":"allow-ssh","allowed":[{"IPProtocol":"tcp"}],"logConfig":{"metadata":"INCLUDE_ALL_METADATA"}}`),
			`{"action":"allow","direction":"INGRESS","firewall":"allow-ssh","logConfigPresent":true}`},
		{"logConfig absent",
			firewallAsset("allow-web", `{"name":"allow-web","direction":"INGRESS","allowed":[{"IPProtocol":"tcp","ports":["443"]}]}`),
			`{"action":"allow","direction":"INGRESS","firewall":"allow-web","logConfigPresent":false}`},
		{"egress deny rule",
			firewallAsset("deny-egress", `{"name":"deny-egress","direction":"EGRESS","destinationRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}],"priority":65000}`),
			`{"action":"deny","direction":"EGRESS","firewall":"deny-egress","logConfigPresent":false}`},
		{"ingress deny rule",
			firewallAsset("deny-rdp", `{"name":"deny-rdp","denied":[{"IPProtocol":"tcp","ports":["3389"]}],"logConfig":{"enable":false}}`),
			`{"action":"deny","direction":"INGRESS","firewall":"deny-rdp","logConfigPresent":true}`},
		{"egress allow rule",
			firewallAsset("allow-egress", `{"name":"allow-egress","direction":"EGRESS","allowed":[{"IPProtocol":"tcp","ports":["443"]}]}`),
			`{"action":"allow","direction":"EGRESS","firewall":"allow-egress","logConfigPresent":false}`},
		{"name taken from the asset",
			firewallAsset("unnamed", `{"allowed":[{"IPProtocol":"udp"}]}`),
			`{"action":"allow","direction":"INGRESS","firewall":"unnamed","logConfigPresent":false}`},
		{"disabled rule without logging",
			firewallAsset("old", `{"name":"old","disabled":true,"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`), ""},
		{"disabled rule with logging off",
			firewallAsset("old", `{"name":"old","disabled":true,"denied":[{"IPProtocol":"all"}],"logConfig":{"enable":false}}`), ""},
		{"IAM policy only",
			&inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/firewalls/x", AssetType: inventory.TypeFirewall}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Rule != "firewall-logging-disabled" || f.Category != "FIREWALL_RULE_LOGGING_DISABLED" ||
				f.Severity != SeverityMedium || f.Project != "p1" || f.Resource != tc.asset.Name ||
				f.AssetType != inventory.TypeFirewall || f.CIS != nil || f.Playbook != "" {
				t.Errorf("finding %+v", f)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence\n got %s\nwant %s", got, tc.evidence)
			}
		})
	}
}

func TestFirewallLoggingDisabledManagedRules(t *testing.T) {
	r := newFirewallLoggingDisabled()
	const unlogged = `{"name":%q,"sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["10256"]}]}`
	for _, name := range []string{"gke-prod-1a2b3c-all", "k8s-fw-a1b2c3d4e5", "k8s2-abc-def-ghi", "k8s-0123abcd-node-http-hc"} {
		t.Run(name+"/skipped", func(t *testing.T) {
			out := evaluate(t, r, testEnv(), firewallAsset(name, fmt.Sprintf(unlogged, name)))
			if len(out.Findings) != 0 || len(out.Skipped) != 1 {
				t.Fatalf("want one skip and no finding, got findings %+v skips %+v", out.Findings, out.Skipped)
			}
			s := out.Skipped[0]
			if s.Rule != "firewall-logging-disabled" || s.Project != "p1" || !strings.HasSuffix(s.Resource, "/"+name) ||
				!strings.HasPrefix(s.Reason, "managed by GKE/Kubernetes: ") {
				t.Errorf("skip = %+v", s)
			}
		})
		t.Run(name+"/reported when the switch is off", func(t *testing.T) {
			env := testEnv()
			env.SkipManagedFirewalls = false
			f := onlyFinding(t, evaluate(t, r, env, firewallAsset(name, fmt.Sprintf(unlogged, name))))
			if f.Evidence["firewall"] != name {
				t.Errorf("evidence %v", f.Evidence)
			}
		})
		t.Run(name+"/nothing when logged", func(t *testing.T) {
			logged := fmt.Sprintf(`{"name":%q,"allowed":[{"IPProtocol":"tcp"}],"logConfig":{"enable":true}}`, name)
			noResults(t, evaluate(t, r, testEnv(), firewallAsset(name, logged)))
		})
		t.Run(name+"/nothing when disabled", func(t *testing.T) {
			disabled := fmt.Sprintf(`{"name":%q,"disabled":true,"allowed":[{"IPProtocol":"tcp"}]}`, name)
			noResults(t, evaluate(t, r, testEnv(), firewallAsset(name, disabled)))
		})
	}
	for _, name := range []string{"k8s-http-hc", "my-gke-rule", "k8s-ingress"} {
		t.Run(name+"/not a managed name", func(t *testing.T) {
			onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset(name, fmt.Sprintf(unlogged, name))))
		})
	}
}

func TestFirewallLoggingDisabledFindingIDs(t *testing.T) {
	r := newFirewallLoggingDisabled()
	absent := firewallAsset("allow-ssh", `{"name":"allow-ssh","allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`)
	off := firewallAsset("allow-ssh", `{"name":"allow-ssh","allowed":[{"IPProtocol":"tcp","ports":["22","80"]}],"logConfig":{"enable":false}}`)
	other := firewallAsset("allow-web", `{"name":"allow-web","allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`)
	first := onlyFinding(t, evaluate(t, r, testEnv(), absent))
	if again := onlyFinding(t, evaluate(t, r, testEnv(), absent)); again.ID != first.ID {
		t.Errorf("ID changed between scans: %s then %s", first.ID, again.ID)
	}
	// Turning logging off explicitly, or changing the ports, is the same drift.
	if f := onlyFinding(t, evaluate(t, r, testEnv(), off)); f.ID != first.ID {
		t.Errorf("enable:false has ID %s, absent logConfig %s: want the same", f.ID, first.ID)
	}
	if f := onlyFinding(t, evaluate(t, r, testEnv(), other)); f.ID == first.ID {
		t.Errorf("two firewalls share the ID %s", f.ID)
	}
	if len(first.ID) != 16 {
		t.Errorf("ID %q is not 16 hex digits", first.ID)
	}
}

// ---- subnet-flow-logs-disabled

func TestSubnetFlowLogsDisabled(t *testing.T) {
	r := newSubnetFlowLogsDisabled()
	const base = `"name":"app","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/prod-vpc",` +
		`"region":"https://www.googleapis.com/compute/v1/projects/p1/regions/us-central1","ipCidrRange":"10.10.0.0/20"`
	subnet := func(extra string) *inventory.Asset {
		if extra != "" {
			extra = "," + extra
		}
		return monSubnetAsset("app", "{"+base+extra+"}")
	}
	const ev = `"ipCidrRange":"10.10.0.0/20","logConfigPresent":%s,"network":"prod-vpc","region":"us-central1","subnetwork":"app"`
	cases := []struct {
		name     string
		asset    *inventory.Asset
		evidence string // "" when no finding
	}{
		{"flow logs on", subnet(`"logConfig":{"enable":true,"aggregationInterval":"INTERVAL_5_SEC","flowSampling":0.5}`), ""},
		{"flow logs on, purpose PRIVATE", subnet(`"purpose":"PRIVATE","logConfig":{"enable":true}`), ""},
		{"legacy enableFlowLogs on", subnet(`"enableFlowLogs":true`), ""},
		{"flow logs off", subnet(`"logConfig":{"enable":false}`), "{" + fmt.Sprintf(ev, "true") + "}"},
		{"logConfig without enable", subnet(`"logConfig":{"aggregationInterval":"INTERVAL_5_SEC"}`), "{" + fmt.Sprintf(ev, "true") + "}"},
		{"no logging fields", subnet(``), "{" + fmt.Sprintf(ev, "false") + "}"},
		{"purpose PRIVATE, no logging", subnet(`"purpose":"PRIVATE"`), "{" + fmt.Sprintf(ev, "false") + "}"},
		{"legacy purpose PRIVATE_RFC_1918, no logging", subnet(`"purpose":"PRIVATE_RFC_1918"`), "{" + fmt.Sprintf(ev, "false") + "}"},
		{"legacy purpose PRIVATE_RFC_1918, flow logs on", subnet(`"purpose":"PRIVATE_RFC_1918","logConfig":{"enable":true}`), ""},
		{"legacy enableFlowLogs off",
			subnet(`"enableFlowLogs":false`), `{"enableFlowLogs":false,` + fmt.Sprintf(ev, "false") + "}"},
		{"logConfig off wins over legacy enableFlowLogs on",
			subnet(`"enableFlowLogs":true,"logConfig":{"enable":false}`), "{" + fmt.Sprintf(ev, "true") + "}"},
		{"region taken from the asset name",
			monSubnetAsset("db", `{"name":"db","network":"projects/p1/global/networks/prod-vpc","ipCidrRange":"10.20.0.0/24"}`),
			`{"ipCidrRange":"10.20.0.0/24","logConfigPresent":false,"network":"prod-vpc","region":"us-central1","subnetwork":"db"}`},
		{"IAM policy only",
			&inventory.Asset{Name: "//compute.googleapis.com/projects/p1/regions/us-central1/subnetworks/x", AssetType: inventory.TypeSubnetwork}, ""},
	}
	for _, purpose := range []string{"REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER",
		"PRIVATE_SERVICE_CONNECT", "PRIVATE_NAT", "PEER_MIGRATION"} {
		cases = append(cases, struct {
			name     string
			asset    *inventory.Asset
			evidence string
		}{purpose + " subnet without flow logs", subnet(`"purpose":"` + purpose + `","role":"ACTIVE"`), ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Rule != "subnet-flow-logs-disabled" || f.Category != "FLOW_LOGS_DISABLED" || f.Severity != SeverityLow ||
				f.Project != "p1" || f.Resource != tc.asset.Name || f.AssetType != inventory.TypeSubnetwork {
				t.Errorf("finding %+v", f)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence\n got %s\nwant %s", got, tc.evidence)
			}
		})
	}
}

func TestSubnetFlowLogsDisabledFindingIDs(t *testing.T) {
	r := newSubnetFlowLogsDisabled()
	off := monSubnetAsset("app", `{"name":"app","ipCidrRange":"10.10.0.0/20","logConfig":{"enable":false}}`)
	legacyOff := monSubnetAsset("app", `{"name":"app","ipCidrRange":"10.10.0.0/20","enableFlowLogs":false}`)
	other := monSubnetAsset("db", `{"name":"db","ipCidrRange":"10.10.0.0/20","logConfig":{"enable":false}}`)
	first := onlyFinding(t, evaluate(t, r, testEnv(), off))
	if again := onlyFinding(t, evaluate(t, r, testEnv(), off)); again.ID != first.ID {
		t.Errorf("ID changed between scans: %s then %s", first.ID, again.ID)
	}
	if f := onlyFinding(t, evaluate(t, r, testEnv(), legacyOff)); f.ID != first.ID {
		t.Errorf("legacy enableFlowLogs:false has ID %s, logConfig.enable:false %s: want the same", f.ID, first.ID)
	}
	if f := onlyFinding(t, evaluate(t, r, testEnv(), other)); f.ID == first.ID {
		t.Errorf("two subnetworks share the ID %s", f.ID)
	}
}

// ---- errors

func TestMonitoringRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		rule  Rule
		asset *inventory.Asset
	}{
		{newFirewallLoggingDisabled(), firewallAsset("x", `{"name":`)},
		{newFirewallLoggingDisabled(), firewallAsset("x", `{"name":"x","logConfig":{"enable":"yes"}}`)},
		{newSubnetFlowLogsDisabled(), monSubnetAsset("x", `{"name":`)},
		{newSubnetFlowLogsDisabled(), monSubnetAsset("x", `{"name":"x","logConfig":{"enable":"yes"}}`)},
		{newSubnetFlowLogsDisabled(), monSubnetAsset("x", `{"name":"x","enableFlowLogs":"no"}`)},
		{newAuditLoggingDisabled(), resourceAsset(inventory.TypeProject, monProject, `{"projectId":7}`)},
		{newAuditLoggingDisabled(), resourceAsset(inventory.TypeProject, monProject, `{"projectId":`)},
	} {
		t.Run(tc.rule.Meta().ID+"/"+string(tc.asset.Resource.Data), func(t *testing.T) {
			var out Results
			err := tc.rule.Evaluate(testEnv(), tc.asset, &out)
			errorNames(t, err, tc.asset)
			if err != nil && !strings.Contains(err.Error(), tc.rule.Meta().ID) {
				t.Errorf("error %q does not name the rule", err)
			}
			noResults(t, out)
		})
	}
	// A malformed project line with its policy attached (as the live source gives it) is
	// not judged either.
	t.Run("audit-logging-disabled/malformed project with policy", func(t *testing.T) {
		a := resourceAsset(inventory.TypeProject, monProject, `{"projectId":[]}`)
		a.IAMPolicy = &inventory.Policy{}
		tally := newAuditLoggingDisabled().Tally(testEnv())
		err := tally.Add(a)
		errorNames(t, err, a)
		var out Results
		if err := tally.Finish(&out); err != nil {
			t.Fatal(err)
		}
		noResults(t, out)
	})
	for _, r := range monitoringRules() {
		t.Run(r.Meta().ID+"/wrong asset type", func(t *testing.T) {
			a := networkAsset("default", `{"name":"default"}`)
			err := r.Evaluate(testEnv(), a, &Results{})
			errorNames(t, err, a)
			if err != nil && !strings.Contains(err.Error(), r.Meta().ID) {
				t.Errorf("error %q does not name the rule", err)
			}
		})
		t.Run(r.Meta().ID+"/no Env", func(t *testing.T) {
			a := &inventory.Asset{Name: "x", AssetType: r.Meta().AssetTypes[0]}
			if err := r.Evaluate(nil, a, &Results{}); err == nil {
				t.Error("want an error without Env")
			}
		})
	}
	t.Run("audit tally refuses a network", func(t *testing.T) {
		a := networkAsset("default", `{"name":"default"}`)
		errorNames(t, newAuditLoggingDisabled().Tally(testEnv()).Add(a), a)
		if err := newAuditLoggingDisabled().Tally(testEnv()).Add(nil); err == nil {
			t.Error("want an error for a nil asset")
		}
	})
}

// ---- audit-logging-disabled

func TestAuditLoggingDisabled(t *testing.T) {
	r := newAuditLoggingDisabled()
	full := monAudit("allServices", monAllTypes()...)
	orgFull := monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"}, full)
	folderEmpty := monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"})
	orgEmpty := monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"})
	projectLine := monProjectResource(monProject, "p1", monAncestry)
	projectPolicy := func(configs ...inventory.AuditConfig) *inventory.Asset {
		return monAuditPolicy(inventory.TypeProject, monProject, monAncestry, configs...)
	}
	cases := []struct {
		name     string
		assets   []*inventory.Asset
		evidence string // "" when no finding
	}{
		{"organization has the full allServices configuration",
			[]*inventory.Asset{orgFull, folderEmpty, projectLine, projectPolicy(),
				monAuditPolicy(inventory.TypeProject, monOther, []string{"projects/777", "organizations/9"})},
			""},
		{"project has the full configuration itself",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectLine, projectPolicy(full)}, ""},
		{"log types add up along the ancestry",
			[]*inventory.Asset{orgEmpty, projectLine,
				monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"},
					monAudit("allServices", monLog("DATA_READ"))),
				projectPolicy(monAudit("allServices", monLog("DATA_WRITE"), monLog("ADMIN_READ")))},
			""},
		{"folder has DATA_READ only and the project nothing",
			[]*inventory.Asset{orgEmpty, projectLine,
				monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"},
					monAudit("allServices", monLog("DATA_READ"))),
				projectPolicy()},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":["folders/456"],` +
				`"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_WRITE"]}`},
		{"per-service configurations do not stand in for allServices",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectLine,
				projectPolicy(monAudit("storage.googleapis.com", monAllTypes()...),
					monAudit("bigquery.googleapis.com", monAllTypes()...))},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":[],` +
				`"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_READ","DATA_WRITE"]}`},
		{"no audit configuration anywhere",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectPolicy()},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":[],` +
				`"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_READ","DATA_WRITE"]}`},
		{"member exempted at the organization",
			[]*inventory.Asset{folderEmpty, projectLine, projectPolicy(),
				monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"},
					monAudit("allServices", monLog("ADMIN_READ"), monLog("DATA_READ", "user:bob@acme.example"), monLog("DATA_WRITE")))},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":["organizations/9"],` +
				`"exemptedMembers":["DATA_READ user:bob@acme.example"],"missingLogTypes":[]}`},
		{"exemptions gathered, sorted and deduplicated along the ancestry",
			[]*inventory.Asset{projectLine,
				monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"},
					monAudit("allServices", monLog("ADMIN_READ"), monLog("DATA_READ", "user:bob@acme.example", "group:ops@acme.example"), monLog("DATA_WRITE"))),
				monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"},
					monAudit("allServices", monLog("DATA_WRITE", "serviceAccount:etl@p1.iam.gserviceaccount.com"))),
				projectPolicy(monAudit("allServices", monLog("DATA_READ", "user:bob@acme.example")))},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],` +
				`"configuredOn":["projects/123","folders/456","organizations/9"],` +
				`"exemptedMembers":["DATA_READ group:ops@acme.example","DATA_READ user:bob@acme.example","DATA_WRITE serviceAccount:etl@p1.iam.gserviceaccount.com"],` +
				`"missingLogTypes":[]}`},
		{"per-service exemptions are not flagged",
			[]*inventory.Asset{orgFull, projectLine,
				projectPolicy(monAudit("storage.googleapis.com", monLog("DATA_READ", "user:bob@acme.example")))},
			""},
		{"ancestor policies that were not read add nothing",
			[]*inventory.Asset{projectLine, projectPolicy(monAudit("allServices", monLog("ADMIN_READ")))},
			`{"ancestorPoliciesNotRead":["folders/456","organizations/9"],"ancestorPoliciesRead":[],"configuredOn":["projects/123"],` +
				`"exemptedMembers":[],"missingLogTypes":["DATA_READ","DATA_WRITE"]}`},
		{"the project's policy never came through",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectLine}, ""},
		{"an allServices entry without log types",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectLine, projectPolicy(monAudit("allServices"))},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":["projects/123"],` +
				`"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_READ","DATA_WRITE"]}`},
		{"the longer ancestry of the project's two lines wins",
			[]*inventory.Asset{orgFull, folderEmpty, monProjectResource(monProject, "p1", []string{"projects/123"}), projectPolicy()},
			""},
		{"lines with different ancestries of one length: the lesser wins, in any order",
			[]*inventory.Asset{orgEmpty,
				monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"}, monAudit("allServices")),
				monProjectResource(monProject, "p1", monAncestry),
				monAuditPolicy(inventory.TypeProject, monProject, []string{"projects/123", "folders/999", "organizations/9"})},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":["folders/456"],` +
				`"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_READ","DATA_WRITE"]}`},
		{"only folders and organizations",
			[]*inventory.Asset{orgEmpty, folderEmpty}, ""},
		{"unknown log types count for nothing",
			[]*inventory.Asset{orgEmpty, folderEmpty, projectLine,
				projectPolicy(monAudit("allServices", monLog("ADMIN_READ"), monLog("DATA_WRITE"), monLog("LOG_TYPE_UNSPECIFIED", "user:x@acme.example")))},
			`{"ancestorPoliciesNotRead":[],"ancestorPoliciesRead":["folders/456","organizations/9"],"configuredOn":["projects/123"],` +
				`"exemptedMembers":[],"missingLogTypes":["DATA_READ"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := monTallyScan(t, r, tc.assets...)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Rule != "audit-logging-disabled" || f.Category != "AUDIT_LOGGING_DISABLED" || f.Severity != SeverityLow ||
				f.Resource != monProject || f.AssetType != inventory.TypeProject || f.Title != r.Meta().Title {
				t.Errorf("finding %+v", f)
			}
			wantProject := "projects/123" // an export's policy line names the project by number
			for _, a := range tc.assets {
				if a.Name == monProject && a.Resource != nil {
					wantProject = "p1" // learnt from the project's resource line
				}
			}
			if f.Project != wantProject {
				t.Errorf("project %q, want %q", f.Project, wantProject)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence\n got %s\nwant %s", got, tc.evidence)
			}
			// The same assets in reverse order: ancestors after the project, the policy
			// line before the resource line.
			rev := slices.Clone(tc.assets)
			slices.Reverse(rev)
			back := onlyFinding(t, monTallyScan(t, r, rev...))
			if back.ID != f.ID || jsonOf(t, back) != jsonOf(t, f) {
				t.Errorf("reversed order gives\n%s\nnot\n%s", jsonOf(t, back), jsonOf(t, f))
			}
		})
	}
}

// Every order of the assets gives the same findings, in the same order.
func TestAuditLoggingDisabledOrder(t *testing.T) {
	r := newAuditLoggingDisabled()
	assets := []*inventory.Asset{
		monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"},
			monAudit("allServices", monLog("ADMIN_READ"), monLog("DATA_READ", "user:bob@acme.example"))),
		monAuditPolicy(inventory.TypeFolder, monFolder, []string{"folders/456", "organizations/9"},
			monAudit("allServices", monLog("DATA_WRITE"))),
		monProjectResource(monProject, "p1", monAncestry),
		monAuditPolicy(inventory.TypeProject, monProject, monAncestry),
		monAuditPolicy(inventory.TypeProject, monOther, []string{"projects/777", "organizations/9"}),
		monProjectResource("//cloudresourcemanager.googleapis.com/projects/55", "p55", []string{"projects/55", "folders/456", "organizations/9"}),
		monAuditPolicy(inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/55",
			[]string{"projects/55", "folders/456", "organizations/9"}, monAudit("allServices", monLog("ADMIN_READ", "user:carol@acme.example"))),
	}
	want := monTallyScan(t, r, assets...)
	if len(want.Findings) != 3 {
		t.Fatalf("want 3 findings, got %s", jsonOf(t, want.Findings))
	}
	var resources []string
	for _, f := range want.Findings {
		resources = append(resources, f.Resource)
	}
	if !slices.IsSorted(resources) {
		t.Errorf("findings not in a deterministic order: %v", resources)
	}
	if got := want.Findings[2].Evidence["missingLogTypes"]; jsonOf(t, got) != `["DATA_WRITE"]` {
		t.Errorf("project 777 sees only the organization: missing %v, want [DATA_WRITE]", got)
	}
	// Every rotation and the reverse of each.
	for i := range assets {
		order := append(slices.Clone(assets[i:]), assets[:i]...)
		reversed := slices.Clone(order)
		slices.Reverse(reversed)
		for _, o := range [][]*inventory.Asset{order, reversed} {
			if got := monTallyScan(t, r, o...); jsonOf(t, got) != jsonOf(t, want) {
				t.Errorf("order starting at %d gives\n%s\nwant\n%s", i, jsonOf(t, got), jsonOf(t, want))
			}
		}
	}
}

// The same drift has the same finding ID in every scan; another drift has another.
func TestAuditLoggingDisabledFindingIDs(t *testing.T) {
	r := newAuditLoggingDisabled()
	scan := func(projectConfigs ...inventory.AuditConfig) Finding {
		t.Helper()
		return onlyFinding(t, monTallyScan(t, r,
			monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"},
				monAudit("allServices", monLog("DATA_READ", "user:bob@acme.example"))),
			monProjectResource(monProject, "p1", monAncestry),
			monAuditPolicy(inventory.TypeProject, monProject, monAncestry, projectConfigs...)))
	}
	first := scan()
	if again := scan(); again.ID != first.ID {
		t.Errorf("ID changed between scans: %s then %s", first.ID, again.ID)
	}
	if len(first.ID) != 16 {
		t.Errorf("ID %q is not 16 hex digits", first.ID)
	}
	// Where the log types come from does not matter, only what is missing.
	if f := scan(monAudit("allServices", monLog("DATA_READ"))); f.ID != first.ID {
		t.Errorf("DATA_READ enabled twice changed the ID: %s, want %s", f.ID, first.ID)
	}
	if f := scan(monAudit("allServices", monLog("ADMIN_READ"))); f.ID == first.ID {
		t.Errorf("closing part of the gap kept the ID %s", f.ID)
	}
	if f := scan(monAudit("allServices", monLog("DATA_READ", "user:eve@acme.example"))); f.ID == first.ID {
		t.Errorf("a new exemption kept the ID %s", f.ID)
	}
	// Another project with the same gap is another finding.
	other := onlyFinding(t, monTallyScan(t, r,
		monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"},
			monAudit("allServices", monLog("DATA_READ", "user:bob@acme.example"))),
		monAuditPolicy(inventory.TypeProject, monOther, []string{"projects/777", "organizations/9"})))
	if other.ID == first.ID {
		t.Errorf("two projects share the ID %s", other.ID)
	}
}

// Evaluate judges one asset as if it were the whole inventory.
func TestAuditLoggingDisabledAlone(t *testing.T) {
	r := newAuditLoggingDisabled()
	bare := monAuditPolicy(inventory.TypeProject, monProject, monAncestry)
	f := onlyFinding(t, evaluate(t, r, testEnv(), bare))
	if got, want := jsonOf(t, f.Evidence), `{"ancestorPoliciesNotRead":["folders/456","organizations/9"],"ancestorPoliciesRead":[],`+
		`"configuredOn":[],"exemptedMembers":[],"missingLogTypes":["ADMIN_READ","DATA_READ","DATA_WRITE"]}`; got != want {
		t.Errorf("evidence\n got %s\nwant %s", got, want)
	}
	if f.Project != "projects/123" {
		t.Errorf("project %q, want projects/123", f.Project)
	}
	// The live source gives the project's data and policy on one asset.
	live := monProjectResource(monProject, "p1", monAncestry)
	live.IAMPolicy = &inventory.Policy{AuditConfigs: []inventory.AuditConfig{monAudit("allServices", monLog("DATA_WRITE"))}}
	lf := onlyFinding(t, evaluate(t, r, testEnv(), live))
	if lf.Project != "p1" || jsonOf(t, lf.Evidence["missingLogTypes"]) != `["ADMIN_READ","DATA_READ"]` {
		t.Errorf("live project finding %s", jsonOf(t, lf))
	}
	live.IAMPolicy.AuditConfigs = []inventory.AuditConfig{monAudit("allServices", monAllTypes()...)}
	noResults(t, evaluate(t, r, testEnv(), live))

	for name, a := range map[string]*inventory.Asset{
		"project without policy":       monProjectResource(monProject, "p1", monAncestry),
		"organization without config":  monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"}),
		"folder with an exemption":     monAuditPolicy(inventory.TypeFolder, monFolder, nil, monAudit("allServices", monLog("DATA_READ", "user:bob@acme.example"))),
		"project without policy, bare": {Name: monProject, AssetType: inventory.TypeProject},
	} {
		t.Run(name, func(t *testing.T) { noResults(t, evaluate(t, r, testEnv(), a)) })
	}
}

// The tally keeps its own summary: changing or dropping the assets after Add changes
// nothing, and a policy read twice is judged by the weaker read, whatever the order.
func TestAuditTallyKeepsSummaries(t *testing.T) {
	r := newAuditLoggingDisabled()
	org := monAuditPolicy(inventory.TypeOrganization, monOrg, []string{"organizations/9"}, monAudit("allServices", monAllTypes()...))
	project := monAuditPolicy(inventory.TypeProject, monProject, monAncestry)
	tally := r.Tally(testEnv())
	for _, a := range []*inventory.Asset{org, project} {
		if err := tally.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	org.IAMPolicy.AuditConfigs[0].AuditLogConfigs[0].ExemptedMembers = []string{"user:eve@acme.example"}
	org.IAMPolicy.AuditConfigs = nil
	project.Ancestors[2] = "organizations/1"
	var out Results
	if err := tally.Finish(&out); err != nil {
		t.Fatal(err)
	}
	noResults(t, out)

	at := r.Tally(testEnv()).(*auditTally)
	for _, a := range []*inventory.Asset{
		monAuditPolicy(inventory.TypeOrganization, monOrg, nil, monAudit("allServices", monAllTypes()...)),
		monAuditPolicy(inventory.TypeOrganization, monOrg, nil,
			monAudit("allServices", monLog("DATA_READ", "user:bob@acme.example"), monLog("DATA_WRITE"))),
	} {
		if err := at.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	s := at.policies["organizations/9"]
	if s == nil || !s.configured || s.types != auditLogBit("DATA_READ")|auditLogBit("DATA_WRITE") ||
		!slices.Equal(s.exempted, []string{"DATA_READ user:bob@acme.example"}) {
		t.Errorf("merged summary %+v", s)
	}
	// A read without an allServices entry makes the merged summary unconfigured.
	bt := r.Tally(testEnv()).(*auditTally)
	for _, a := range []*inventory.Asset{
		monAuditPolicy(inventory.TypeOrganization, monOrg, nil, monAudit("allServices", monAllTypes()...)),
		monAuditPolicy(inventory.TypeOrganization, monOrg, nil, monAudit("storage.googleapis.com", monAllTypes()...)),
	} {
		if err := bt.Add(a); err != nil {
			t.Fatal(err)
		}
	}
	if s := bt.policies["organizations/9"]; s == nil || s.configured || s.types != 0 || len(s.exempted) != 0 {
		t.Errorf("merged summary %+v, want an unconfigured one", s)
	}
	if len(at.projects) != 0 {
		t.Errorf("an organization made a project: %+v", at.projects)
	}
}
