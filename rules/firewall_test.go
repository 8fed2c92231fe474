package rules

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// fwWant is what a firewall-open-ingress finding must say.
type fwWant struct {
	category   string
	severity   Severity
	categories []string
	world      []string
	allPorts   bool
	cis        []string
	exposed    string // JSON of evidence["exposed"]; checked when set
	implied    bool
}

func TestFirewallOpenIngressFindings(t *testing.T) {
	ssh := []string{"OPEN_SSH_PORT"}
	openFW := []string{"OPEN_FIREWALL"}
	world4 := []string{"0.0.0.0/0"}
	cases := []struct {
		name string
		data string
		want fwWant
	}{
		{"ssh from anywhere",
			`{"name":"allow-ssh","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc","direction":"INGRESS","priority":1000,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"},
				exposed: `[{"ports":["22"],"protocol":"tcp"}]`}},
		{"direction empty means ingress",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"direction in lower case",
			`{"name":"x","direction":"ingress","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"ssh over sctp",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"sctp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"numeric protocol 6 is tcp",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"6","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"},
				exposed: `[{"ports":["22"],"protocol":"tcp"}]`}},
		{"protocol in upper case",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"TCP","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"rdp over tcp",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["3389"]}]}`,
			fwWant{category: "OPEN_RDP_PORT", severity: SeverityHigh, categories: []string{"OPEN_RDP_PORT"}, world: world4, cis: []string{"3.7"}}},
		{"rdp over udp (numeric 17)",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"17","ports":["3389"]}]}`,
			fwWant{category: "OPEN_RDP_PORT", severity: SeverityHigh, categories: []string{"OPEN_RDP_PORT"}, world: world4, cis: []string{"3.7"}}},
		{"ssh and rdp",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["3389","22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: []string{"OPEN_SSH_PORT", "OPEN_RDP_PORT"},
				world: world4, cis: []string{"3.6", "3.7"}, exposed: `[{"ports":["22","3389"],"protocol":"tcp"}]`}},
		{"range 20-30 exposes ftp, ssh, telnet and smtp; ssh wins",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["20-30"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh,
				categories: []string{"OPEN_SSH_PORT", "OPEN_TELNET_PORT", "OPEN_FTP_PORT", "OPEN_SMTP_PORT"},
				world:      world4, cis: []string{"3.6"}, exposed: `[{"ports":["20-30"],"protocol":"tcp"}]`}},
		{"tcp without ports is every port",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp"}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityCritical, categories: openFW, world: world4, allPorts: true,
				cis: []string{"3.6", "3.7"}, exposed: `[{"ports":"all","protocol":"tcp"}]`}},
		{"protocol all",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"all"},{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityCritical, categories: openFW, world: world4, allPorts: true,
				cis: []string{"3.6", "3.7"}, exposed: `[{"ports":"all","protocol":"all"}]`}},
		{"udp without ports exposes rdp but not ssh",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"udp"}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityCritical, categories: openFW, world: world4, allPorts: true,
				cis: []string{"3.7"}}},
		{"port ranges that add up to every port",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["0-1000"]},{"IPProtocol":"tcp","ports":["1001-65535"]}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityCritical, categories: openFW, world: world4, allPorts: true,
				cis: []string{"3.6", "3.7"}, exposed: `[{"ports":"all","protocol":"tcp"}]`}},
		{"https only",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["443"]}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityLow, categories: openFW, world: world4, cis: []string{}}},
		{"icmp only",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"icmp"}]}`,
			fwWant{category: "OPEN_FIREWALL", severity: SeverityLow, categories: openFW, world: world4, cis: []string{},
				exposed: `[{"ports":"all","protocol":"icmp"}]`}},
		{"http is medium",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["80","443"]}]}`,
			fwWant{category: "OPEN_HTTP_PORT", severity: SeverityMedium, categories: []string{"OPEN_HTTP_PORT"}, world: world4, cis: []string{}}},
		{"category by priority, severity by the worst",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["3306","80"]}]}`,
			fwWant{category: "OPEN_HTTP_PORT", severity: SeverityHigh, categories: []string{"OPEN_HTTP_PORT", "OPEN_MYSQL_PORT"},
				world: world4, cis: []string{}}},
		{"two halves of IPv4 make the internet",
			`{"name":"x","sourceRanges":["128.0.0.0/1","0.0.0.0/1"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: []string{"0.0.0.0/1", "128.0.0.0/1"}, cis: []string{"3.6"}}},
		{"IPv6 everywhere",
			`{"name":"x","sourceRanges":["::/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: []string{"::/0"}, cis: []string{"3.6"}}},
		{"two halves of IPv6 make the internet",
			`{"name":"x","sourceRanges":["8000::/1","::/1","10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: []string{"::/1", "8000::/1"}, cis: []string{"3.6"}}},
		{"nested and garbage ranges are left out of the world ranges",
			`{"name":"x","sourceRanges":["10.0.0.0/8","0.0.0.0/0","not-a-range","1.2.3.4"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"no sources at all implies 0.0.0.0/0",
			`{"name":"x","allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}, implied: true}},
		{"source tags do not narrow a world range",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"sourceTags":["bastion"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
		{"targets do not suppress the finding",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"targetTags":["web"],"targetServiceAccounts":["web@p1.iam.gserviceaccount.com"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
			fwWant{category: "OPEN_SSH_PORT", severity: SeverityHigh, categories: ssh, world: world4, cis: []string{"3.6"}}},
	}
	r := ruleByID(t, "firewall-open-ingress")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := firewallAsset("x", tc.data)
			f := onlyFinding(t, evaluate(t, r, testEnv(), a))
			checkFirewallFinding(t, f, tc.want)
		})
	}
}

func checkFirewallFinding(t *testing.T, f Finding, want fwWant) {
	t.Helper()
	if f.Rule != "firewall-open-ingress" || f.Category != want.category || f.Severity != want.severity {
		t.Errorf("finding is %s %s %s, want firewall-open-ingress %s %s", f.Rule, f.Category, f.Severity, want.category, want.severity)
	}
	ev := f.Evidence
	checks := []struct {
		key  string
		want any
	}{
		{"direction", "INGRESS"},
		{"worldRanges", want.world},
		{"impliedSource", want.implied},
		{"categories", want.categories},
		{"allPortsOpen", want.allPorts},
		{"cisControls", want.cis},
	}
	for _, c := range checks {
		if got, want := jsonOf(t, ev[c.key]), jsonOf(t, c.want); got != want {
			t.Errorf("evidence %s = %s, want %s", c.key, got, want)
		}
	}
	if want.exposed != "" {
		if got := jsonOf(t, ev["exposed"]); got != want.exposed {
			t.Errorf("evidence exposed = %s, want %s", got, want.exposed)
		}
	}
}

func TestFirewallOpenIngressNotFindings(t *testing.T) {
	cases := []struct{ name, data string }{
		{"ssh through Identity-Aware Proxy only",
			`{"name":"x","sourceRanges":["35.235.240.0/20"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`},
		{"disabled rule open to the world",
			`{"name":"x","disabled":true,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"all"}]}`},
		{"deny from everywhere",
			`{"name":"x","sourceRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}]}`},
		{"egress to everywhere",
			`{"name":"x","direction":"EGRESS","destinationRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"all"}]}`},
		{"egress without ranges",
			`{"name":"x","direction":"EGRESS","allowed":[{"IPProtocol":"all"}]}`},
		{"source tags only",
			`{"name":"x","sourceTags":["bastion"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`},
		{"source service accounts only",
			`{"name":"x","sourceServiceAccounts":["jump@p1.iam.gserviceaccount.com"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`},
		{"half of the internet",
			`{"name":"x","sourceRanges":["0.0.0.0/1"],"allowed":[{"IPProtocol":"all"}]}`},
		{"half of IPv6",
			`{"name":"x","sourceRanges":["::/1"],"allowed":[{"IPProtocol":"all"}]}`},
		{"private ranges",
			`{"name":"x","sourceRanges":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16","fd00::/8"],"allowed":[{"IPProtocol":"all"}]}`},
		{"almost everything, one /32 missing",
			`{"name":"x","sourceRanges":["0.0.0.0/1","128.0.0.0/2","192.0.0.0/3","224.0.0.0/4","240.0.0.0/5","248.0.0.0/6","252.0.0.0/7","254.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`},
		{"only unparseable ranges",
			`{"name":"x","sourceRanges":["everything","0.0.0.0/33"],"allowed":[{"IPProtocol":"all"}]}`},
		{"no allowed and no denied",
			`{"name":"x","sourceRanges":["0.0.0.0/0"]}`},
	}
	r := ruleByID(t, "firewall-open-ingress")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			noResults(t, evaluate(t, r, testEnv(), firewallAsset("x", tc.data)))
		})
	}
}

func TestFirewallOpenIngressManagedRules(t *testing.T) {
	r := ruleByID(t, "firewall-open-ingress")
	open := `{"name":%q,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["30000-32767"]}]}`
	for _, name := range []string{"gke-prod-1a2b3c-all", "k8s-fw-a1b2c3d4e5", "k8s2-abc-def-ghi", "k8s-0123abcd-node-http-hc"} {
		t.Run(name+"/skipped", func(t *testing.T) {
			out := evaluate(t, r, testEnv(), firewallAsset(name, fmt.Sprintf(open, name)))
			if len(out.Findings) != 0 || len(out.Skipped) != 1 {
				t.Fatalf("want one skip and no finding, got findings %+v skips %+v", out.Findings, out.Skipped)
			}
			s := out.Skipped[0]
			if s.Rule != "firewall-open-ingress" || s.Project != "p1" || !strings.HasSuffix(s.Resource, "/"+name) ||
				!strings.HasPrefix(s.Reason, "managed by GKE/Kubernetes: ") {
				t.Errorf("skip = %+v", s)
			}
		})
		t.Run(name+"/reported when the switch is off", func(t *testing.T) {
			env := testEnv()
			env.SkipManagedFirewalls = false
			f := onlyFinding(t, evaluate(t, r, env, firewallAsset(name, fmt.Sprintf(open, name))))
			if f.Category != "OPEN_FIREWALL" || f.Severity != SeverityLow {
				t.Errorf("finding %s %s, want OPEN_FIREWALL LOW", f.Category, f.Severity)
			}
		})
		t.Run(name+"/nothing when not open", func(t *testing.T) {
			closed := fmt.Sprintf(`{"name":%q,"sourceRanges":["130.211.0.0/22","35.191.0.0/16"],"allowed":[{"IPProtocol":"tcp"}]}`, name)
			noResults(t, evaluate(t, r, testEnv(), firewallAsset(name, closed)))
		})
	}
	for _, name := range []string{"k8s-http-hc", "my-gke-rule", "k8s-ingress"} {
		t.Run(name+"/not a managed name", func(t *testing.T) {
			onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset(name, fmt.Sprintf(open, name))))
		})
	}
}

// TestFirewallPortCategories walks every SCC port category: each port it names, alone and
// from the world, must be reported under that category.
func TestFirewallPortCategories(t *testing.T) {
	cases := []struct {
		protocol string
		port     string
		category string
		severity Severity
	}{
		{"tcp", "22", "OPEN_SSH_PORT", SeverityHigh},
		{"sctp", "22", "OPEN_SSH_PORT", SeverityHigh},
		{"tcp", "3389", "OPEN_RDP_PORT", SeverityHigh},
		{"udp", "3389", "OPEN_RDP_PORT", SeverityHigh},
		{"tcp", "23", "OPEN_TELNET_PORT", SeverityHigh},
		{"tcp", "21", "OPEN_FTP_PORT", SeverityHigh},
		{"tcp", "25", "OPEN_SMTP_PORT", SeverityMedium},
		{"tcp", "80", "OPEN_HTTP_PORT", SeverityMedium},
		{"tcp", "110", "OPEN_POP3_PORT", SeverityHigh},
		{"tcp", "3306", "OPEN_MYSQL_PORT", SeverityHigh},
		{"tcp", "5432", "OPEN_POSTGRESQL_PORT", SeverityHigh},
		{"udp", "5432", "OPEN_POSTGRESQL_PORT", SeverityHigh},
		{"tcp", "6379", "OPEN_REDIS_PORT", SeverityHigh},
		{"tcp", "27017", "OPEN_MONGODB_PORT", SeverityHigh},
		{"tcp", "27019", "OPEN_MONGODB_PORT", SeverityHigh},
		{"tcp", "9200", "OPEN_ELASTICSEARCH_PORT", SeverityHigh},
		{"tcp", "9300", "OPEN_ELASTICSEARCH_PORT", SeverityHigh},
		{"tcp", "11211", "OPEN_MEMCACHED_PORT", SeverityHigh},
		{"udp", "11211", "OPEN_MEMCACHED_PORT", SeverityHigh},
		{"udp", "11215", "OPEN_MEMCACHED_PORT", SeverityHigh},
		{"tcp", "389", "OPEN_LDAP_PORT", SeverityHigh},
		{"tcp", "636", "OPEN_LDAP_PORT", SeverityHigh},
		{"udp", "389", "OPEN_LDAP_PORT", SeverityHigh},
		{"tcp", "137", "OPEN_NETBIOS_PORT", SeverityMedium},
		{"udp", "139", "OPEN_NETBIOS_PORT", SeverityMedium},
		{"tcp", "445", "OPEN_DIRECTORY_SERVICES_PORT", SeverityHigh},
		{"udp", "445", "OPEN_DIRECTORY_SERVICES_PORT", SeverityHigh},
		{"tcp", "53", "OPEN_DNS_PORT", SeverityHigh},
		{"udp", "53", "OPEN_DNS_PORT", SeverityHigh},
		{"tcp", "1521", "OPEN_ORACLEDB_PORT", SeverityHigh},
		{"tcp", "2483", "OPEN_ORACLEDB_PORT", SeverityHigh},
		{"udp", "2484", "OPEN_ORACLEDB_PORT", SeverityHigh},
		{"tcp", "7000", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "7001", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "7199", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "8888", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "9042", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "9160", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "61621", "OPEN_CASSANDRA_PORT", SeverityHigh},
		{"tcp", "9090", "OPEN_CISCOSECURE_WEBSM_PORT", SeverityHigh},
		// Same ports, protocols the categories do not name.
		{"udp", "22", "OPEN_FIREWALL", SeverityLow},
		{"sctp", "3389", "OPEN_FIREWALL", SeverityLow},
		{"udp", "3306", "OPEN_FIREWALL", SeverityLow},
		{"udp", "636", "OPEN_FIREWALL", SeverityLow},
		{"udp", "1521", "OPEN_FIREWALL", SeverityLow},
		{"tcp", "11213", "OPEN_FIREWALL", SeverityLow},
	}
	r := ruleByID(t, "firewall-open-ingress")
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.protocol+"/"+tc.port, func(t *testing.T) {
			data := fmt.Sprintf(`{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":%q,"ports":[%q]}]}`, tc.protocol, tc.port)
			f := onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset("x", data)))
			if f.Category != tc.category || f.Severity != tc.severity {
				t.Errorf("got %s %s, want %s %s", f.Category, f.Severity, tc.category, tc.severity)
			}
		})
		seen[tc.category] = true
	}
	for _, c := range PortCategories() {
		if !seen[c.Name] {
			t.Errorf("category %s is not tested", c.Name)
		}
	}
}

func TestFirewallOpenIngressEvidence(t *testing.T) {
	data := `{"name":"web","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc",
		"sourceRanges":["0.0.0.0/0","::/0"],"sourceTags":["lb"],"targetTags":["web"],
		"targetServiceAccounts":["web@p1.iam.gserviceaccount.com"],
		"allowed":[{"IPProtocol":"tcp","ports":["443","80"]},{"IPProtocol":"udp","ports":["53"]},{"IPProtocol":"1"}]}`
	a := firewallAsset("web", data)
	f := onlyFinding(t, evaluate(t, ruleByID(t, "firewall-open-ingress"), testEnv(), a))
	want := `{"allPortsOpen":false,"categories":["OPEN_HTTP_PORT","OPEN_DNS_PORT"],"cisControls":[],"direction":"INGRESS",` +
		`"exposed":[{"ports":"all","protocol":"icmp"},{"ports":["80","443"],"protocol":"tcp"},{"ports":["53"],"protocol":"udp"}],` +
		`"impliedSource":false,"network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc",` +
		`"sourceTags":["lb"],"targetServiceAccounts":["web@p1.iam.gserviceaccount.com"],"targetTags":["web"],` +
		`"worldRanges":["0.0.0.0/0","::/0"]}`
	if got := jsonOf(t, f.Evidence); got != want {
		t.Errorf("evidence\n got %s\nwant %s", got, want)
	}
	if f.Project != "p1" || f.Resource != a.Name || f.AssetType != inventory.TypeFirewall || f.Title == "" {
		t.Errorf("finding header = %+v", f)
	}
	if f.Category != "OPEN_HTTP_PORT" || f.Severity != SeverityHigh {
		t.Errorf("got %s %s, want OPEN_HTTP_PORT HIGH", f.Category, f.Severity)
	}
}

func TestFirewallOpenIngressFindingIDs(t *testing.T) {
	r := ruleByID(t, "firewall-open-ingress")
	id := func(t *testing.T, name, data string) string {
		t.Helper()
		return onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset(name, data))).ID
	}
	const base = `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22","80"]}]}`
	first := id(t, "x", base)
	if again := id(t, "x", base); again != first {
		t.Errorf("ID changed between two evaluations: %s then %s", first, again)
	}
	same := map[string]string{
		"ports in another order": `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["80","22"]}]}`,
		"protocol spelt 6":       `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"6","ports":["22"]},{"IPProtocol":"tcp","ports":["80"]}]}`,
		"a nested range added":   `{"name":"x","sourceRanges":["10.0.0.0/8","0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22","80"]}]}`,
		"a description changed":  `{"name":"x","description":"temporary","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22","80"]}]}`,
	}
	for name, data := range same {
		if got := id(t, "x", data); got != first {
			t.Errorf("%s: ID %s, want the same %s", name, got, first)
		}
	}
	different := map[string]string{
		"another port":          `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22","80","443"]}]}`,
		"another protocol":      `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"udp","ports":["22","80"]}]}`,
		"another world range":   `{"name":"x","sourceRanges":["0.0.0.0/0","::/0"],"allowed":[{"IPProtocol":"tcp","ports":["22","80"]}]}`,
		"halves instead":        `{"name":"x","sourceRanges":["0.0.0.0/1","128.0.0.0/1"],"allowed":[{"IPProtocol":"tcp","ports":["22","80"]}]}`,
		"all ports":             `{"name":"x","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp"}]}`,
		"another firewall rule": "",
	}
	for name, data := range different {
		asset := "x"
		if data == "" {
			asset, data = "y", base
		}
		if got := id(t, asset, data); got == first {
			t.Errorf("%s: ID %s is the same as the base's", name, got)
		}
	}
}

func TestFirewallOpenIngressErrors(t *testing.T) {
	r := ruleByID(t, "firewall-open-ingress")
	cases := map[string]string{
		"not json":            `not json`,
		"wrong shape":         `{"allowed":"tcp"}`,
		"source ranges shape": `{"sourceRanges":"0.0.0.0/0","allowed":[{"IPProtocol":"tcp"}]}`,
		"port not a number":   `{"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["ssh"]}]}`,
		"port too large":      `{"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["70000"]}]}`,
		"range backwards":     `{"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["30-20"]}]}`,
		"no protocol":         `{"sourceRanges":["0.0.0.0/0"],"allowed":[{"ports":["22"]}]}`,
		"unknown direction":   `{"direction":"SIDEWAYS","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp"}]}`,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			a := firewallAsset("x", data)
			var out Results
			err := r.Evaluate(testEnv(), a, &out)
			errorNames(t, err, a)
			noResults(t, out)
		})
	}
	t.Run("wrong asset type", func(t *testing.T) {
		a := networkAsset("default", `{"name":"default"}`)
		errorNames(t, r.Evaluate(testEnv(), a, &Results{}), a)
	})
	t.Run("nil arguments", func(t *testing.T) {
		a := firewallAsset("x", `{}`)
		if err := r.Evaluate(nil, a, &Results{}); err == nil {
			t.Error("nil env: want an error")
		}
		if err := r.Evaluate(testEnv(), nil, &Results{}); err == nil {
			t.Error("nil asset: want an error")
		}
		if err := r.Evaluate(testEnv(), a, nil); err == nil {
			t.Error("nil results: want an error")
		}
	})
}

func TestFirewallOpenIngressWithoutResource(t *testing.T) {
	r := ruleByID(t, "firewall-open-ingress")
	for name, a := range map[string]*inventory.Asset{
		"IAM policy only": {Name: "//compute.googleapis.com/projects/p1/global/firewalls/x", AssetType: inventory.TypeFirewall,
			IAMPolicy: &inventory.Policy{}},
		"empty data": firewallAsset("x", ""),
	} {
		t.Run(name, func(t *testing.T) {
			noResults(t, evaluate(t, r, testEnv(), a))
		})
	}
}

func TestWorldSources(t *testing.T) {
	if _, _, ok := WorldSources(nil); ok {
		t.Error("WorldSources(nil) reports the world")
	}
	world, implied, ok := WorldSources(&inventory.Firewall{})
	if !ok || !implied || !slices.Equal(world, []string{"0.0.0.0/0"}) {
		t.Errorf("no sources: got %v %v %v, want [0.0.0.0/0] true true", world, implied, ok)
	}
	world, implied, ok = WorldSources(&inventory.Firewall{SourceRanges: []string{"::/0"}, SourceTags: []string{"t"}})
	if !ok || implied || !slices.Equal(world, []string{"::/0"}) {
		t.Errorf("::/0 with tags: got %v %v %v", world, implied, ok)
	}
}

// fuzzSeeds are firewall resources the fuzz test starts from.
var fuzzSeeds = []string{
	`{"name":"allow-ssh","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
	`{"name":"gke-x","sourceRanges":["0.0.0.0/1","128.0.0.0/1"],"allowed":[{"IPProtocol":"all"}],"targetTags":["n"]}`,
	`{"name":"v6","direction":"INGRESS","sourceRanges":["8000::/1","::/1","1.2.3.4"],"allowed":[{"IPProtocol":"6","ports":["20-30","3389"]},{"IPProtocol":"udp"}]}`,
	`{"name":"implied","allowed":[{"IPProtocol":"icmp"}]}`,
	`{"name":"deny","direction":"EGRESS","disabled":true,"destinationRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}]}`,
	`{"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["65535","0-0"," 7 - 9 "]}]}`,
	`{"allowed":[{}]}`,
	`[]`,
	`{"name":"web","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["3306","80","137"]}]}`,
	`{"name":"off","disabled":true,"sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"all"}]}`,
	`{"name":"jump","sourceServiceAccounts":["jump@p1.iam.gserviceaccount.com"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`,
	`{"name":"bastion","sourceTags":["bastion"],"sourceRanges":["::/1","8000::/1"],"allowed":[{"IPProtocol":"udp","ports":["3389","5432"]}]}`,
	`{"name":"k8s-fw-x","direction":"sideways","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["x"]}]}`,
	`{"name":"k8s-0-http-hc","direction":" ingress ","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"TCP","ports":["80","1-70000"]}]}`,
}

// FuzzFirewallEvaluate: the rule reaches the verdict of the references on any firewall
// resource: it fails exactly on an unknown direction or a bad allowed entry, naming the
// asset; it reports (or skips, for a managed name) exactly the rules whose sources take in
// the internet, with their world ranges, all-ports flag, categories and severity.
func FuzzFirewallEvaluate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, true)
	}
	r := newFirewallOpenIngress()
	f.Fuzz(func(t *testing.T, data string, skipManaged bool) {
		env := testEnv()
		env.SkipManagedFirewalls = skipManaged
		a := firewallAsset("fuzz", data)
		var out Results
		err := r.Evaluate(env, a, &out)
		fw, decodeErr := a.Firewall()
		var want firewallVerdict
		switch {
		case errors.Is(decodeErr, inventory.ErrNoResource):
		case decodeErr != nil:
			want.bad = true
		default:
			want = firewallVerdictReference(fw)
		}
		if want.bad != (err != nil) {
			t.Fatalf("Evaluate(%s): error %v, want one: %v", data, err, want.bad)
		}
		if err != nil {
			if len(out.Findings)+len(out.Skipped) != 0 || !strings.Contains(err.Error(), a.Name) {
				t.Fatalf("error %v (not naming %s) with results %+v", err, a.Name, out)
			}
			return
		}
		if n := len(out.Findings) + len(out.Skipped); n != 0 && !want.open || n != 1 && want.open {
			t.Fatalf("Evaluate(%s): %d results, want open %v", data, n, want.open)
		}
		if len(out.Skipped) > 0 {
			if _, managed := ManagedFirewallPattern(cmp.Or(fw.Name, a.ShortName())); !managed || !skipManaged {
				t.Fatalf("skipped %+v", out.Skipped)
			}
		}
		for _, fd := range out.Findings {
			categories, severity := want.categories, SeverityLow
			for _, c := range PortCategories() {
				if slices.Contains(categories, c.Name) {
					severity = max(severity, c.Severity)
				}
			}
			switch {
			case want.allPortsOpen:
				categories, severity = []string{"OPEN_FIREWALL"}, SeverityCritical
			case len(categories) == 0:
				categories = []string{"OPEN_FIREWALL"}
			}
			got := fwWant{world: fd.Evidence["worldRanges"].([]string), implied: fd.Evidence["impliedSource"].(bool),
				allPorts: fd.Evidence["allPortsOpen"].(bool), categories: fd.Evidence["categories"].([]string), severity: fd.Severity}
			if !slices.Equal(got.world, want.world) || got.implied != want.implied || got.allPorts != want.allPortsOpen ||
				!slices.Equal(got.categories, categories) || got.severity != severity || fd.Category != categories[0] {
				t.Fatalf("Evaluate(%s) = %+v (category %s), want %+v, categories %q, severity %s", data, got, fd.Category, want, categories, severity)
			}
			if _, err := json.Marshal(fd); err != nil || fd.ID == "" {
				t.Fatalf("finding %+v: ID %q, marshal: %v", fd, fd.ID, err)
			}
		}
	})
}

func BenchmarkFirewallEvaluate(b *testing.B) {
	a := firewallAsset("allow-web", `{"kind":"compute#firewall","id":"123","name":"allow-web",
		"network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc","priority":1000,
		"direction":"INGRESS","sourceRanges":["0.0.0.0/0","10.0.0.0/8"],"targetTags":["web"],
		"allowed":[{"IPProtocol":"tcp","ports":["80","443","8080-8090"]},{"IPProtocol":"icmp"}],
		"logConfig":{"enable":false}}`)
	r := newFirewallOpenIngress()
	env := testEnv()
	b.ReportAllocs()
	for b.Loop() {
		var out Results
		if err := r.Evaluate(env, a, &out); err != nil || len(out.Findings) != 1 {
			b.Fatalf("Evaluate: %v, %d findings", err, len(out.Findings))
		}
	}
}

// TestFirewallDecodeErrorUnwraps checks that the rule wraps the decoder's error with %w, so
// callers can still inspect the cause.
func TestFirewallDecodeErrorUnwraps(t *testing.T) {
	a := firewallAsset("x", `{"allowed":"tcp"}`)
	err := ruleByID(t, "firewall-open-ingress").Evaluate(testEnv(), a, &Results{})
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		t.Errorf("error %v does not wrap the *json.UnmarshalTypeError behind it", err)
	}
}
