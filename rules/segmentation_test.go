package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// segFirewall builds a firewall asset of project from its REST representation.
func segFirewall(project, name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeFirewall,
		"//compute.googleapis.com/projects/"+project+"/global/firewalls/"+name, data)
}

// segNetwork builds a custom-mode VPC network asset of project.
func segNetwork(project, name string) *inventory.Asset {
	return resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/"+project+"/global/networks/"+name,
		fmt.Sprintf(`{"name":%q,"autoCreateSubnetworks":false}`, name))
}

// segSubnetAsset builds a subnetwork asset of project p1 in europe-west1.
func segSubnetAsset(name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeSubnetwork,
		"//compute.googleapis.com/projects/p1/regions/europe-west1/subnetworks/"+name, data)
}

// segRunSet judges assets together as a scan does: one tally, every asset added in order,
// then finished once. It fails the test on an error.
func segRunSet(t *testing.T, r SetRule, env *Env, assets ...*inventory.Asset) Results {
	t.Helper()
	tally := r.Tally(env)
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

// segSummaries renders findings as "resource evidence-JSON", in order.
func segSummaries(t *testing.T, fs []Finding) []string {
	t.Helper()
	var out []string
	for _, f := range fs {
		out = append(out, strings.TrimPrefix(f.Resource, "//compute.googleapis.com/")+" "+jsonOf(t, f.Evidence))
	}
	return out
}

// segDenyEgress builds an EGRESS firewall of project p1 on network that denies protocol all;
// extra is appended to its JSON fields.
func segDenyEgress(name, network, extra string) *inventory.Asset {
	data := fmt.Sprintf(`{"name":%q,"network":%q,"direction":"EGRESS","priority":65534,"denied":[{"IPProtocol":"all"}]%s}`,
		name, network, extra)
	return segFirewall("p1", name, data)
}

const segVPCURL = "https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc"

func TestSegmentationRulesMeta(t *testing.T) {
	want := []struct {
		id       string
		category string
		severity Severity
		types    []string
		set      bool
	}{
		{"egress-deny-not-set", "EGRESS_DENY_RULE_NOT_SET", SeverityLow,
			[]string{inventory.TypeNetwork, inventory.TypeFirewall}, true},
		{"private-google-access-disabled", "PRIVATE_GOOGLE_ACCESS_DISABLED", SeverityLow,
			[]string{inventory.TypeSubnetwork}, false},
		{"network-too-many", "ZERODRIFT_TOO_MANY_NETWORKS", SeverityLow, []string{inventory.TypeNetwork}, true},
		{"firewall-overly-broad-internal", "ZERODRIFT_OVERLY_BROAD_INTERNAL_FIREWALL", SeverityMedium,
			[]string{inventory.TypeFirewall}, false},
	}
	rs := segmentationRules()
	if len(rs) != len(want) {
		t.Fatalf("segmentationRules() has %d rules, want %d", len(rs), len(want))
	}
	for i, w := range want {
		m := rs[i].Meta()
		if m.ID != w.id || m.Category != w.category || m.Severity != w.severity || m.CIS != nil ||
			!slices.Equal(m.AssetTypes, w.types) {
			t.Errorf("rule %d = %s %s %s %v %v, want %s %s %s no CIS %v", i,
				m.ID, m.Category, m.Severity, m.CIS, m.AssetTypes, w.id, w.category, w.severity, w.types)
		}
		if _, isSet := rs[i].(SetRule); isSet != w.set {
			t.Errorf("%s: set rule %v, want %v", m.ID, isSet, w.set)
		}
		if m.Title == "" || m.Description == "" || m.Remediation == "" || m.Flags == "" {
			t.Errorf("%s: title, description, remediation and flags are required", m.ID)
		}
		if strings.Contains(m.Description, "\n") || strings.Contains(m.Remediation, "\n") {
			t.Errorf("%s: description and remediation are one paragraph of plain text", m.ID)
		}
		if m.Playbook != "" {
			t.Errorf("%s: Playbook is %q, want none", m.ID, m.Playbook)
		}
		if strings.HasPrefix(m.Category, "ZERODRIFT_") && !strings.Contains(m.Flags, "Security Command Center has no category") {
			t.Errorf("%s: Flags does not say SCC has no category for %s", m.ID, m.Category)
		}
		if !strings.Contains(m.Flags, "`") {
			t.Errorf("%s: Flags has no literal value in a code span", m.ID)
		}
	}
	if len(ByID(rs)) != len(rs) {
		t.Error("segmentation rules share an ID")
	}
	// Once registered in Default, an ID may appear there, but only for the same rule.
	mine := ByID(rs)
	for _, r := range Default() {
		if m, dup := mine[r.Meta().ID]; dup && reflect.TypeOf(r) != reflect.TypeOf(m) {
			t.Errorf("rule ID %s is already taken by another rule", r.Meta().ID)
		}
	}
	a, b := segmentationRules(), segmentationRules()
	a[0].Meta().AssetTypes[0] = "changed"
	a[3].Meta().Title = "changed"
	if b[0].Meta().AssetTypes[0] == "changed" || b[3].Meta().Title == "changed" {
		t.Error("two segmentationRules calls share their Meta")
	}
}

func TestEgressDenyNotSet(t *testing.T) {
	net := segNetwork("p1", "vpc")
	none := `{"egressDenyRules":[],"network":"vpc","project":"p1"}`
	cases := []struct {
		name   string
		assets []*inventory.Asset
		want   []string // segSummaries of the findings
	}{
		{"network without firewall rules", []*inventory.Asset{net},
			[]string{"projects/p1/global/networks/vpc " + none}},
		{"deny all to 0.0.0.0/0, full URL",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, `,"destinationRanges":["0.0.0.0/0"]`)}, nil},
		{"deny all, relative name projects/P/global/networks/N",
			[]*inventory.Asset{net, segDenyEgress("deny-all", "projects/p1/global/networks/vpc", `,"destinationRanges":["0.0.0.0/0"]`)}, nil},
		{"deny all, name relative to the project global/networks/N",
			[]*inventory.Asset{net, segDenyEgress("deny-all", "global/networks/vpc", `,"destinationRanges":["0.0.0.0/0"]`)}, nil},
		{"firewall seen before the network",
			[]*inventory.Asset{segDenyEgress("deny-all", segVPCURL, ""), net}, nil},
		{"no destinationRanges means 0.0.0.0/0",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, "")}, nil},
		{"two halves cover the internet",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, `,"destinationRanges":["128.0.0.0/1","0.0.0.0/1"]`)}, nil},
		{"IPv4 and IPv6 internet",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, `,"destinationRanges":["0.0.0.0/0","::/0"]`)}, nil},
		{"direction and protocol in other cases",
			[]*inventory.Asset{net, segFirewall("p1", "deny-all",
				`{"name":"deny-all","network":"`+segVPCURL+`","direction":"egress","denied":[{"IPProtocol":"ALL"}]}`)}, nil},
		{"a qualifying rule beside one that does not",
			[]*inventory.Asset{net, segDenyEgress("deny-web", segVPCURL, `,"targetTags":["web"]`),
				segDenyEgress("deny-all", segVPCURL, "")}, nil},
		{"firewall without network belongs to the default network",
			[]*inventory.Asset{segNetwork("p1", "default"), segFirewall("p1", "deny-all",
				`{"name":"deny-all","direction":"EGRESS","denied":[{"IPProtocol":"all"}]}`)}, nil},
		{"network with IAM policy only is not judged",
			[]*inventory.Asset{{Name: "//compute.googleapis.com/projects/p1/global/networks/vpc", AssetType: inventory.TypeNetwork}}, nil},
		{"firewall of a network not in the scan",
			[]*inventory.Asset{segDenyEgress("deny-web", segVPCURL, `,"targetTags":["web"]`)}, nil},

		{"deny tcp only",
			[]*inventory.Asset{net, segFirewall("p1", "deny-tcp",
				`{"name":"deny-tcp","network":"`+segVPCURL+`","direction":"EGRESS","denied":[{"IPProtocol":"tcp"}]}`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-tcp: denies tcp:all, not protocol all"],"network":"vpc","project":"p1"}`}},
		{"deny every protocol by name is not protocol all",
			[]*inventory.Asset{net, segFirewall("p1", "deny-many",
				`{"name":"deny-many","network":"`+segVPCURL+`","direction":"EGRESS","denied":[{"IPProtocol":"tcp"},{"IPProtocol":"udp"},{"IPProtocol":"icmp"}]}`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-many: denies icmp:all;tcp:all;udp:all, not protocol all"],"network":"vpc","project":"p1"}`}},
		{"deny with target tags",
			[]*inventory.Asset{net, segDenyEgress("deny-web", segVPCURL, `,"targetTags":["web","db"]`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-web: applies only to targetTags web,db"],"network":"vpc","project":"p1"}`}},
		{"deny with target service accounts",
			[]*inventory.Asset{net, segDenyEgress("deny-sa", segVPCURL, `,"targetServiceAccounts":["app@p1.iam.gserviceaccount.com"]`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-sa: applies only to targetServiceAccounts app@p1.iam.gserviceaccount.com"],"network":"vpc","project":"p1"}`}},
		{"disabled deny",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, `,"disabled":true`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-all: disabled"],"network":"vpc","project":"p1"}`}},
		{"ingress deny all",
			[]*inventory.Asset{net, segFirewall("p1", "deny-all-in",
				`{"name":"deny-all-in","network":"`+segVPCURL+`","sourceRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"all"}]}`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-all-in: direction INGRESS, not EGRESS"],"network":"vpc","project":"p1"}`}},
		{"ordinary ingress deny is not listed",
			[]*inventory.Asset{net, segFirewall("p1", "deny-ssh",
				`{"name":"deny-ssh","network":"`+segVPCURL+`","direction":"INGRESS","sourceRanges":["0.0.0.0/0"],"denied":[{"IPProtocol":"tcp","ports":["22"]}]}`)},
			[]string{"projects/p1/global/networks/vpc " + none}},
		{"egress allow is not a deny",
			[]*inventory.Asset{net, segFirewall("p1", "allow-all-out",
				`{"name":"allow-all-out","network":"`+segVPCURL+`","direction":"EGRESS","allowed":[{"IPProtocol":"all"}]}`)},
			[]string{"projects/p1/global/networks/vpc " + none}},
		{"deny to 10.0.0.0/8 only",
			[]*inventory.Asset{net, segDenyEgress("deny-internal", segVPCURL, `,"destinationRanges":["10.0.0.0/8"]`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-internal: destinationRanges 10.0.0.0/8 do not cover 0.0.0.0/0"],"network":"vpc","project":"p1"}`}},
		{"deny to the IPv6 internet only",
			[]*inventory.Asset{net, segDenyEgress("deny-v6", segVPCURL, `,"destinationRanges":["::/0"]`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-v6: destinationRanges ::/0 do not cover 0.0.0.0/0"],"network":"vpc","project":"p1"}`}},
		{"several reasons, rules sorted by name",
			[]*inventory.Asset{net,
				segDenyEgress("z-deny", segVPCURL, `,"disabled":true,"targetTags":["web"]`),
				segFirewall("p1", "a-deny", `{"name":"a-deny","network":"`+segVPCURL+`","direction":"EGRESS","destinationRanges":["10.0.0.0/8"],"denied":[{"IPProtocol":"udp","ports":["53"]}]}`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["a-deny: denies udp:53, not protocol all; destinationRanges 10.0.0.0/8 do not cover 0.0.0.0/0","z-deny: disabled; applies only to targetTags web"],"network":"vpc","project":"p1"}`}},
		{"the same firewall twice is listed once",
			[]*inventory.Asset{net, segDenyEgress("deny-all", segVPCURL, `,"disabled":true`), segDenyEgress("deny-all", segVPCURL, `,"disabled":true`)},
			[]string{`projects/p1/global/networks/vpc {"egressDenyRules":["deny-all: disabled"],"network":"vpc","project":"p1"}`}},
		{"deny-all of another network does not count",
			[]*inventory.Asset{net, segNetwork("p1", "other"), segDenyEgress("deny-all", "global/networks/other", "")},
			[]string{"projects/p1/global/networks/vpc " + none}},
		{"global/networks/N is relative to the firewall's own project",
			[]*inventory.Asset{net, segFirewall("p2", "deny-all",
				`{"name":"deny-all","network":"global/networks/vpc","direction":"EGRESS","denied":[{"IPProtocol":"all"}]}`)},
			[]string{"projects/p1/global/networks/vpc " + none}},
		{"two networks in two projects, one has the rule",
			[]*inventory.Asset{segNetwork("p2", "vpc"), net, segDenyEgress("deny-all", segVPCURL, "")},
			[]string{`projects/p2/global/networks/vpc {"egressDenyRules":[],"network":"vpc","project":"p2"}`}},
		{"two networks in two projects, in project order",
			[]*inventory.Asset{segNetwork("p2", "vpc"), net},
			[]string{"projects/p1/global/networks/vpc " + none,
				`projects/p2/global/networks/vpc {"egressDenyRules":[],"network":"vpc","project":"p2"}`}},
		{"legacy network",
			[]*inventory.Asset{resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/global/networks/old",
				`{"name":"old","IPv4Range":"10.240.0.0/16"}`)},
			[]string{`projects/p1/global/networks/old {"egressDenyRules":[],"network":"old","project":"p1"}`}},
	}
	r := newEgressDenyNotSet()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := segRunSet(t, r, testEnv(), tc.assets...)
			if len(out.Skipped) != 0 {
				t.Errorf("skipped %+v", out.Skipped)
			}
			if got := segSummaries(t, out.Findings); !slices.Equal(got, tc.want) {
				t.Errorf("findings\n got %q\nwant %q", got, tc.want)
			}
			for _, f := range out.Findings {
				if f.Rule != "egress-deny-not-set" || f.Category != "EGRESS_DENY_RULE_NOT_SET" || f.Severity != SeverityLow ||
					f.AssetType != inventory.TypeNetwork || f.Project != f.Evidence["project"] {
					t.Errorf("finding %s %s %s %s in %q", f.Rule, f.Category, f.Severity, f.AssetType, f.Project)
				}
			}
		})
	}
}

func TestEgressDenyNotSetAlone(t *testing.T) {
	r := newEgressDenyNotSet()
	f := onlyFinding(t, evaluate(t, r, testEnv(), segNetwork("p1", "vpc")))
	if f.Resource != "//compute.googleapis.com/projects/p1/global/networks/vpc" || f.Project != "p1" {
		t.Errorf("finding on %s in %s", f.Resource, f.Project)
	}
	// A firewall alone names no network asset to flag.
	noResults(t, evaluate(t, r, testEnv(), segDenyEgress("deny-web", segVPCURL, `,"targetTags":["web"]`)))
	noResults(t, evaluate(t, r, testEnv(), segDenyEgress("deny-all", segVPCURL, "")))
}

func TestEgressDenyNotSetStableIDs(t *testing.T) {
	r := newEgressDenyNotSet()
	first := onlyFinding(t, segRunSet(t, r, testEnv(), segNetwork("p1", "vpc")))
	// A later scan with a near-miss rule is the same drift: the network still lacks the rule.
	second := onlyFinding(t, segRunSet(t, r, testEnv(), segDenyEgress("deny-all", segVPCURL, `,"disabled":true`), segNetwork("p1", "vpc")))
	if first.ID != second.ID {
		t.Errorf("ID changed between scans: %s then %s", first.ID, second.ID)
	}
	other := onlyFinding(t, segRunSet(t, r, testEnv(), segNetwork("p2", "vpc")))
	if other.ID == first.ID {
		t.Error("two networks got the same finding ID")
	}
}

func TestSegParseNetworkRef(t *testing.T) {
	for _, tc := range []struct {
		ref, own string
		want     string // "" when not a network reference
	}{
		{"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc", "p9", "p1/vpc"},
		{"https://compute.googleapis.com/compute/beta/projects/p1/global/networks/vpc", "", "p1/vpc"},
		{"//compute.googleapis.com/projects/p1/global/networks/vpc", "", "p1/vpc"},
		{"projects/p1/global/networks/vpc", "p9", "p1/vpc"},
		{" global/networks/vpc ", "p9", "p9/vpc"},
		{"global/networks/vpc", "", ""},
		{"networks/vpc", "p1", ""},
		{"vpc", "p1", ""},
		{"", "p1", ""},
		{"projects/p1/global/networks/", "", ""},
		{"projects//global/networks/vpc", "", ""},
		{"projects/p1/regions/r1/networks/vpc", "", ""},
		{"junk/projects/p1/global/networks/vpc", "", ""},
		{"https://www.googleapis.com/compute/v1/projects/p1/global/firewalls/vpc", "", ""},
	} {
		k, ok := segParseNetworkRef(tc.ref, tc.own)
		got := ""
		if ok {
			got = k.project + "/" + k.network
		}
		if got != tc.want {
			t.Errorf("segParseNetworkRef(%q, %q) = %q, want %q", tc.ref, tc.own, got, tc.want)
		}
	}
}

func TestPrivateGoogleAccessDisabled(t *testing.T) {
	const net = `"network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc","region":"https://www.googleapis.com/compute/v1/projects/p1/regions/europe-west1"`
	want := `{"network":"vpc","region":"europe-west1","subnetwork":"s1"}`
	cases := []struct {
		name, data, evidence string // evidence "" when no finding
	}{
		{"purpose unset, access absent", `{"name":"s1",` + net + `,"ipCidrRange":"10.0.0.0/24"}`, want},
		{"purpose PRIVATE, access false", `{"name":"s1",` + net + `,"purpose":"PRIVATE","privateIpGoogleAccess":false}`, want},
		{"legacy purpose PRIVATE_RFC_1918", `{"name":"s1",` + net + `,"purpose":"PRIVATE_RFC_1918"}`, want},
		{"region and name from the asset name", `{"network":"projects/p1/global/networks/vpc"}`, want},
		{"access on", `{"name":"s1",` + net + `,"privateIpGoogleAccess":true}`, ""},
		{"PRIVATE with access on", `{"name":"s1",` + net + `,"purpose":"PRIVATE","privateIpGoogleAccess":true}`, ""},
		{"regional proxy-only subnet", `{"name":"s1",` + net + `,"purpose":"REGIONAL_MANAGED_PROXY","role":"ACTIVE"}`, ""},
		{"global proxy-only subnet", `{"name":"s1",` + net + `,"purpose":"GLOBAL_MANAGED_PROXY","role":"ACTIVE"}`, ""},
		{"internal HTTPS load balancer subnet", `{"name":"s1",` + net + `,"purpose":"INTERNAL_HTTPS_LOAD_BALANCER"}`, ""},
		{"Private Service Connect subnet", `{"name":"s1",` + net + `,"purpose":"PRIVATE_SERVICE_CONNECT"}`, ""},
		{"private NAT subnet", `{"name":"s1",` + net + `,"purpose":"PRIVATE_NAT"}`, ""},
	}
	r := newPrivateGoogleAccessDisabled()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := segSubnetAsset("s1", tc.data)
			out := evaluate(t, r, testEnv(), a)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Category != "PRIVATE_GOOGLE_ACCESS_DISABLED" || f.Severity != SeverityLow || f.Project != "p1" ||
				f.Resource != a.Name || f.AssetType != inventory.TypeSubnetwork {
				t.Errorf("finding %s %s on %s in %q", f.Category, f.Severity, f.Resource, f.Project)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence %s, want %s", got, tc.evidence)
			}
		})
	}
	t.Run("IAM policy only", func(t *testing.T) {
		noResults(t, evaluate(t, r, testEnv(), &inventory.Asset{
			Name: "//compute.googleapis.com/projects/p1/regions/europe-west1/subnetworks/s1", AssetType: inventory.TypeSubnetwork}))
	})
	t.Run("stable ID", func(t *testing.T) {
		a := segSubnetAsset("s1", `{"name":"s1",`+net+`}`)
		b := segSubnetAsset("s1", `{"name":"s1",`+net+`,"ipCidrRange":"10.9.0.0/24","purpose":"PRIVATE"}`)
		fa, fb := onlyFinding(t, evaluate(t, r, testEnv(), a)), onlyFinding(t, evaluate(t, r, testEnv(), b))
		if fa.ID != fb.ID {
			t.Errorf("ID changed between scans: %s then %s", fa.ID, fb.ID)
		}
		if fc := onlyFinding(t, evaluate(t, r, testEnv(), segSubnetAsset("s2", `{"name":"s2"}`))); fc.ID == fa.ID {
			t.Error("two subnetworks got the same finding ID")
		}
	})
}

func withAncestors(a *inventory.Asset, ancestors ...string) *inventory.Asset {
	a.Ancestors = ancestors
	return a
}

// Without the number in the networks' ancestry, the finding names the project by ID.
func TestNetworkTooManyWithoutAncestry(t *testing.T) {
	var as []*inventory.Asset
	for _, n := range []string{"a", "b"} {
		as = append(as, withAncestors(segNetwork("p1", n)))
	}
	out := segRunSet(t, newNetworkTooMany(), testEnv(), as...)
	if len(out.Findings) != 1 || out.Findings[0].Resource != "//cloudresourcemanager.googleapis.com/projects/p1" || out.Findings[0].Project != "p1" {
		t.Fatalf("findings %+v, want one on the project by ID", out.Findings)
	}
}

func TestNetworkTooMany(t *testing.T) {
	// Each project's networks carry its number first in their ancestry, as CAI has them.
	number := map[string]string{"p1": "101", "p2": "102"}
	nets := func(project string, names ...string) []*inventory.Asset {
		var as []*inventory.Asset
		for _, n := range names {
			a := segNetwork(project, n)
			a.Ancestors = []string{"projects/" + number[project], "organizations/9"}
			as = append(as, a)
		}
		return as
	}
	withMax := func(n int) *Env { e := testEnv(); e.MaxNetworksPerProject = n; return e }
	cases := []struct {
		name   string
		env    *Env
		assets []*inventory.Asset
		want   []string // "project evidence-JSON"
	}{
		{"one network, the default limit", testEnv(), nets("p1", "vpc"), nil},
		{"one over the default limit", testEnv(), nets("p1", "b", "a"),
			[]string{`p1 {"count":2,"max":1,"networks":["a","b"]}`}},
		{"at a configured limit of 3", withMax(3), nets("p1", "a", "b", "c"), nil},
		{"over a configured limit of 3", withMax(3), nets("p1", "d", "a", "c", "b"),
			[]string{`p1 {"count":4,"max":3,"networks":["a","b","c","d"]}`}},
		{"a limit of 0 counts as 1", withMax(0), nets("p1", "a", "b"),
			[]string{`p1 {"count":2,"max":1,"networks":["a","b"]}`}},
		{"a negative limit counts as 1", withMax(-2), nets("p1", "a"), nil},
		{"projects counted apart", testEnv(), append(nets("p2", "a"), nets("p1", "a", "b")...),
			[]string{`p1 {"count":2,"max":1,"networks":["a","b"]}`}},
		{"findings in project order", testEnv(), append(nets("p2", "x", "y"), nets("p1", "a", "b")...),
			[]string{`p1 {"count":2,"max":1,"networks":["a","b"]}`, `p2 {"count":2,"max":1,"networks":["x","y"]}`}},
		{"the same network twice counts once", testEnv(), nets("p1", "a", "a"), nil},
		{"legacy networks count", testEnv(), append(nets("p1", "a"), withAncestors(resourceAsset(inventory.TypeNetwork,
			"//compute.googleapis.com/projects/p1/global/networks/old", `{"name":"old","IPv4Range":"10.240.0.0/16"}`), "projects/101")),
			[]string{`p1 {"count":2,"max":1,"networks":["a","old"]}`}},
		{"IAM policy only lines do not count", testEnv(), append(nets("p1", "a"),
			&inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/networks/b", AssetType: inventory.TypeNetwork}), nil},
	}
	r := newNetworkTooMany()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := segRunSet(t, r, tc.env, tc.assets...)
			var got []string
			for _, f := range out.Findings {
				got = append(got, f.Project+" "+jsonOf(t, f.Evidence))
				if f.Resource != "//cloudresourcemanager.googleapis.com/projects/"+number[f.Project] || f.AssetType != inventory.TypeProject ||
					f.Category != "ZERODRIFT_TOO_MANY_NETWORKS" || f.Severity != SeverityLow || f.Rule != "network-too-many" {
					t.Errorf("finding %s %s %s on %s (%s) in %q", f.Rule, f.Category, f.Severity, f.Resource, f.AssetType, f.Project)
				}
			}
			if !slices.Equal(got, tc.want) || len(out.Skipped) != 0 {
				t.Errorf("findings\n got %q\nwant %q\nskipped %+v", got, tc.want, out.Skipped)
			}
		})
	}
	t.Run("stable ID while networks come and go", func(t *testing.T) {
		a := onlyFinding(t, segRunSet(t, r, testEnv(), nets("p1", "a", "b")...))
		b := onlyFinding(t, segRunSet(t, r, testEnv(), nets("p1", "b", "c", "d")...))
		if a.ID != b.ID {
			t.Errorf("ID changed between scans: %s then %s", a.ID, b.ID)
		}
		if c := onlyFinding(t, segRunSet(t, r, testEnv(), nets("p2", "a", "b")...)); c.ID == a.ID {
			t.Error("two projects got the same finding ID")
		}
	})
	t.Run("one network alone never drifts", func(t *testing.T) {
		noResults(t, evaluate(t, r, withMax(0), segNetwork("p1", "a")))
	})
}

func TestFirewallOverlyBroadInternal(t *testing.T) {
	cases := []struct {
		name     string
		data     string
		evidence string // "" when no finding
	}{
		{"default-allow-internal",
			`{"name":"x","network":"global/networks/default","direction":"INGRESS","priority":65534,"sourceRanges":["10.128.0.0/9"],"allowed":[{"IPProtocol":"tcp","ports":["0-65535"]},{"IPProtocol":"udp","ports":["0-65535"]},{"IPProtocol":"icmp"}]}`,
			`{"allowed":["icmp","tcp:0-65535","udp:0-65535"],"broadSources":["10.128.0.0/9"],"firewall":"x"}`},
		{"all from 172.16.0.0/12",
			`{"name":"x","sourceRanges":["172.16.0.0/12"],"allowed":[{"IPProtocol":"all"}]}`,
			`{"allowed":["all"],"broadSources":["172.16.0.0/12"],"firewall":"x"}`},
		{"tcp and udp without ports from 10.0.0.0/8",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"udp"},{"IPProtocol":"tcp"}]}`,
			`{"allowed":["tcp:0-65535","udp:0-65535"],"broadSources":["10.0.0.0/8"],"firewall":"x"}`},
		{"ports 1-65535 and numeric protocols",
			`{"name":"x","direction":"ingress","sourceRanges":["192.168.0.0/16"],"allowed":[{"IPProtocol":"6","ports":["1-65535"]},{"IPProtocol":"17","ports":["1-1000","1001-65535"]}]}`,
			`{"allowed":["tcp:1-65535","udp:1-65535"],"broadSources":["192.168.0.0/16"],"firewall":"x"}`},
		{"a superset of 10.0.0.0/8",
			`{"name":"x","sourceRanges":["8.0.0.0/6"],"allowed":[{"IPProtocol":"all"}]}`,
			`{"allowed":["all"],"broadSources":["8.0.0.0/6"],"firewall":"x"}`},
		{"half the internet, short of all of it",
			`{"name":"x","sourceRanges":["0.0.0.0/1"],"allowed":[{"IPProtocol":"all"}]}`,
			`{"allowed":["all"],"broadSources":["0.0.0.0/1"],"firewall":"x"}`},
		{"only the broad sources are listed, in address order",
			`{"name":"x","sourceRanges":["10.1.0.0/16","192.168.0.0/16"," 172.16.0.0/12","35.235.240.0/20","fd00::/8"],"allowed":[{"IPProtocol":"all"}]}`,
			`{"allowed":["all"],"broadSources":["172.16.0.0/12","192.168.0.0/16"],"firewall":"x"}`},
		{"source tags beside the range do not narrow it",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"sourceTags":["app"],"allowed":[{"IPProtocol":"all"}]}`,
			`{"allowed":["all"],"broadSources":["10.0.0.0/8"],"firewall":"x"}`},

		{"192.168.0.0/16 on tcp:22 only",
			`{"name":"x","sourceRanges":["192.168.0.0/16"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`, ""},
		{"tcp on every port but no udp",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp"},{"IPProtocol":"icmp"}]}`, ""},
		{"udp on every port but no tcp",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"udp"}]}`, ""},
		{"tcp missing port 1",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["2-65535"]},{"IPProtocol":"udp"}]}`, ""},
		{"target tags",
			`{"name":"x","sourceRanges":["10.128.0.0/9"],"targetTags":["app"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"target service accounts",
			`{"name":"x","sourceRanges":["10.128.0.0/9"],"targetServiceAccounts":["app@p1.iam.gserviceaccount.com"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"10.1.0.0/16",
			`{"name":"x","sourceRanges":["10.1.0.0/16"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"a /24",
			`{"name":"x","sourceRanges":["192.168.1.0/24"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"half of the auto-mode space",
			`{"name":"x","sourceRanges":["10.128.0.0/10"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"two halves that only together make a block",
			`{"name":"x","sourceRanges":["172.16.0.0/13","172.24.0.0/13"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"0.0.0.0/0 is firewall-open-ingress's",
			`{"name":"x","sourceRanges":["0.0.0.0/0","10.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"no sources at all means 0.0.0.0/0",
			`{"name":"x","allowed":[{"IPProtocol":"all"}]}`, ""},
		{"source tags only",
			`{"name":"x","sourceTags":["app"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"disabled",
			`{"name":"x","disabled":true,"sourceRanges":["10.128.0.0/9"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"deny rule",
			`{"name":"x","sourceRanges":["10.0.0.0/8"],"denied":[{"IPProtocol":"all"}]}`, ""},
		{"egress rule",
			`{"name":"x","direction":"EGRESS","destinationRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"egress rule with source ranges",
			`{"name":"x","direction":"EGRESS","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`, ""},
		{"IPv6 ULA range",
			`{"name":"x","sourceRanges":["fc00::/7"],"allowed":[{"IPProtocol":"all"}]}`, ""},
	}
	r := newFirewallOverlyBroadInternal()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := firewallAsset("x", tc.data)
			out := evaluate(t, r, testEnv(), a)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Category != "ZERODRIFT_OVERLY_BROAD_INTERNAL_FIREWALL" || f.Severity != SeverityMedium ||
				f.Project != "p1" || f.Resource != a.Name || f.Rule != "firewall-overly-broad-internal" {
				t.Errorf("finding %s %s %s on %s in %q", f.Rule, f.Category, f.Severity, f.Resource, f.Project)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence %s, want %s", got, tc.evidence)
			}
		})
	}
}

func TestFirewallOverlyBroadInternalManaged(t *testing.T) {
	r := newFirewallOverlyBroadInternal()
	a := firewallAsset("gke-prod-1a2b3c4d-all",
		`{"name":"gke-prod-1a2b3c4d-all","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`)
	out := evaluate(t, r, testEnv(), a)
	if len(out.Findings) != 0 || len(out.Skipped) != 1 {
		t.Fatalf("want one skip and no finding, got %+v and %+v", out.Findings, out.Skipped)
	}
	s := out.Skipped[0]
	if s.Rule != "firewall-overly-broad-internal" || s.Resource != a.Name || s.Project != "p1" || !strings.Contains(s.Reason, "gke-*") {
		t.Errorf("skip %+v", s)
	}
	env := testEnv()
	env.SkipManagedFirewalls = false
	if f := onlyFinding(t, evaluate(t, r, env, a)); f.Evidence["firewall"] != "gke-prod-1a2b3c4d-all" {
		t.Errorf("evidence %v", f.Evidence)
	}
	// A managed rule that is not broad is neither flagged nor skipped.
	noResults(t, evaluate(t, r, testEnv(), firewallAsset("gke-prod-1a2b3c4d-ssh",
		`{"name":"gke-prod-1a2b3c4d-ssh","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`)))
}

func TestFirewallOverlyBroadInternalStableIDs(t *testing.T) {
	r := newFirewallOverlyBroadInternal()
	base := `{"name":"x","sourceRanges":["10.128.0.0/9"],"allowed":[{"IPProtocol":"tcp"},{"IPProtocol":"udp"},{"IPProtocol":"icmp"}]}`
	first := onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset("x", base)))
	// The same drift written another way, in another scan.
	same := `{"name":"x","priority":900,"sourceRanges":["10.128.0.0/9"],"allowed":[{"IPProtocol":"icmp"},{"IPProtocol":"udp","ports":["0-65535"]},{"IPProtocol":"6"}]}`
	if again := onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset("x", same))); again.ID != first.ID {
		t.Errorf("ID changed between scans: %s then %s", first.ID, again.ID)
	}
	wider := `{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp"},{"IPProtocol":"udp"},{"IPProtocol":"icmp"}]}`
	if w := onlyFinding(t, evaluate(t, r, testEnv(), firewallAsset("x", wider))); w.ID == first.ID {
		t.Error("a wider source kept the finding ID")
	}
}

func TestSegmentationErrors(t *testing.T) {
	type errCase struct {
		name  string
		rule  Rule
		asset *inventory.Asset
	}
	egress, pga, tooMany, broad := newEgressDenyNotSet(), newPrivateGoogleAccessDisabled(), newNetworkTooMany(), newFirewallOverlyBroadInternal()
	cases := []errCase{
		{"egress: network not json", egress, resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/global/networks/vpc", `{"name":`)},
		{"egress: network wrong shape", egress, resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/global/networks/vpc", `{"autoCreateSubnetworks":"yes"}`)},
		{"egress: network name not a network", egress, resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/networks/vpc", `{"name":"vpc"}`)},
		{"egress: firewall not json", egress, segFirewall("p1", "x", `{"name":"x",`)},
		{"egress: firewall network not a URL", egress, segDenyEgress("x", "networks/vpc", "")},
		{"egress: firewall network of a region", egress, segDenyEgress("x", "projects/p1/regions/r1/networks/vpc", "")},
		{"egress: unknown direction", egress, segFirewall("p1", "x", `{"name":"x","network":"global/networks/vpc","direction":"SIDEWAYS","denied":[{"IPProtocol":"all"}]}`)},
		{"egress: denied entry without protocol", egress, segFirewall("p1", "x", `{"name":"x","network":"global/networks/vpc","direction":"EGRESS","denied":[{"ports":["22"]}]}`)},
		{"egress: denied port malformed", egress, segFirewall("p1", "x", `{"name":"x","network":"global/networks/vpc","direction":"EGRESS","denied":[{"IPProtocol":"tcp","ports":["22-"]}]}`)},
		{"egress: wrong asset type", egress, segSubnetAsset("s1", `{"name":"s1"}`)},
		{"pga: not json", pga, segSubnetAsset("s1", `[`)},
		{"pga: wrong shape", pga, segSubnetAsset("s1", `{"privateIpGoogleAccess":"no"}`)},
		{"pga: wrong asset type", pga, segNetwork("p1", "vpc")},
		{"too many: not json", tooMany, resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/global/networks/vpc", `{"name":`)},
		{"too many: name not a network", tooMany, resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/networks/vpc", `{"name":"vpc"}`)},
		{"too many: wrong asset type", tooMany, firewallAsset("x", `{"name":"x"}`)},
		{"broad: not json", broad, firewallAsset("x", `{"name":"x","allowed":7}`)},
		{"broad: unknown direction", broad, firewallAsset("x", `{"name":"x","direction":"BOTH","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"all"}]}`)},
		{"broad: allowed entry without protocol", broad, firewallAsset("x", `{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"ports":["22"]}]}`)},
		{"broad: port out of range", broad, firewallAsset("x", `{"name":"x","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["70000"]}]}`)},
		{"broad: wrong asset type", broad, segNetwork("p1", "vpc")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out Results
			err := tc.rule.Evaluate(testEnv(), tc.asset, &out)
			errorNames(t, err, tc.asset)
			if err != nil && !strings.Contains(err.Error(), tc.rule.Meta().ID) {
				t.Errorf("error %q does not name the rule %s", err, tc.rule.Meta().ID)
			}
			noResults(t, out)
			// A set rule's tally reports the same through Add, as a scan calls it.
			if sr, ok := tc.rule.(SetRule); ok && slices.Contains(sr.Meta().AssetTypes, tc.asset.AssetType) {
				err := sr.Tally(testEnv()).Add(tc.asset)
				errorNames(t, err, tc.asset)
				if err != nil && !strings.Contains(err.Error(), sr.Meta().ID) {
					t.Errorf("tally error %q does not name the rule %s", err, sr.Meta().ID)
				}
			}
		})
	}
	// Evaluate without env or results is an error, not a panic.
	for _, r := range segmentationRules() {
		a := &inventory.Asset{Name: "//compute.googleapis.com/projects/p1/x", AssetType: r.Meta().AssetTypes[0]}
		if err := r.Evaluate(nil, a, &Results{}); err == nil {
			t.Errorf("%s: no error without Env", r.Meta().ID)
		}
		if err := r.Evaluate(testEnv(), a, nil); err == nil {
			t.Errorf("%s: no error without Results", r.Meta().ID)
		}
	}
}

// TestSegmentationRulesSurviveOddAssets is TestRulesSurviveOddAssets for these rules, which
// Default may not hold yet: no panic, and assets without resource data give nothing.
func TestSegmentationRulesSurviveOddAssets(t *testing.T) {
	for _, r := range segmentationRules() {
		for _, typ := range r.Meta().AssetTypes {
			name := "//example.googleapis.com/projects/p1/things/x"
			for what, a := range map[string]*inventory.Asset{
				"bare":       {Name: name, AssetType: typ},
				"empty data": {Name: name, AssetType: typ, Resource: &inventory.Resource{}},
				"policy":     {Name: name, AssetType: typ, IAMPolicy: &inventory.Policy{}},
				"empty name": {AssetType: typ},
			} {
				t.Run(r.Meta().ID+"/"+typ+"/"+what, func(t *testing.T) {
					noResults(t, evaluate(t, r, testEnv(), a))
				})
			}
			for _, data := range []string{`null`, `[]`, `"x"`, `{`, `{"name":7}`, `{}`} {
				a := &inventory.Asset{Name: name, AssetType: typ, Resource: &inventory.Resource{Data: json.RawMessage(data)}}
				var out Results
				_ = r.Evaluate(testEnv(), a, &out) // an error is fine; a panic is not
			}
		}
	}
}
