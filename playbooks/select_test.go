package playbooks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// firewallFinding runs the real firewall-open-ingress rule on a rule open to the world
// that allows allowed (the Compute API's JSON), and returns its finding.
func firewallFinding(t *testing.T, allowed string) rules.Finding {
	t.Helper()
	a := &inventory.Asset{
		Name:      "//compute.googleapis.com/projects/p1/global/firewalls/fw",
		AssetType: inventory.TypeFirewall,
		Resource: &inventory.Resource{Data: json.RawMessage(fmt.Sprintf(
			`{"name":"fw","network":"global/networks/n","sourceRanges":["0.0.0.0/0"],"allowed":%s}`, allowed))},
	}
	var out rules.Results
	r := rules.ByID(rules.Default())["firewall-open-ingress"]
	if err := r.Evaluate(rules.DefaultEnv(time.Time{}), a, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Findings) != 1 {
		t.Fatalf("allowed %s: %d findings, want 1", allowed, len(out.Findings))
	}
	return out.Findings[0]
}

// viaJSON returns the finding as it comes back from JSON (the ledger, a report): evidence
// lists become []any.
func viaJSON(t *testing.T, f rules.Finding) rules.Finding {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var out rules.Finding
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(pbs []*Playbook) []string {
	out := make([]string, len(pbs))
	for i, p := range pbs {
		out[i] = p.Metadata.Name
	}
	return out
}

func TestForFirewallFindings(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"firewall-restrict-sources", "firewall-disable", "firewall-deny-ports", "firewall-enable-logging"}
	cases := []struct {
		allowed string
		want    []string
	}{
		{`[{"IPProtocol":"tcp","ports":["22"]}]`, all},
		{`[{"IPProtocol":"tcp","ports":["20-30"]}]`, all},
		{`[{"IPProtocol":"udp","ports":["3389"]}]`, all},
		{`[{"IPProtocol":"tcp","ports":["443"]}]`, []string{"firewall-disable", "firewall-enable-logging"}},
		{`[{"IPProtocol":"tcp","ports":["80","443"]},{"IPProtocol":"icmp"}]`, []string{"firewall-disable", "firewall-enable-logging"}},
		// Every port: no SSH category (the finding is OPEN_FIREWALL), so no unattended
		// narrowing, but port 22 is exposed, so it can be contained.
		{`[{"IPProtocol":"tcp"}]`, []string{"firewall-disable", "firewall-deny-ports", "firewall-enable-logging"}},
		{`[{"IPProtocol":"all"}]`, []string{"firewall-disable", "firewall-deny-ports", "firewall-enable-logging"}},
	}
	for _, c := range cases {
		f := firewallFinding(t, c.allowed)
		for _, f := range []rules.Finding{f, viaJSON(t, f)} {
			if got := names(s.For(f)); !slices.Equal(got, c.want) {
				t.Errorf("allowed %s (category %s, evidence %T): For = %v, want %v", c.allowed, f.Category, f.Evidence["exposed"], got, c.want)
			}
		}
	}
}

func TestForOtherRules(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for rule, want := range map[string][]string{
		"network-default":       {"network-delete-default"},
		"network-legacy":        nil,
		"sa-admin-role":         {"iam-remove-admin-binding"},
		"sa-user-project-level": {"iam-remove-project-sa-user"},
		"iam-public-member":     {"iam-remove-public-member"},
		"sa-user-managed-key":   {"sa-key-disable"},
		"sa-key-not-rotated":    {"sa-key-disable"},
		"no-such-rule":          nil,

		"firewall-logging-disabled":        {"firewall-log-connections"},
		"subnet-flow-logs-disabled":        {"subnet-enable-flow-logs"},
		"audit-logging-disabled":           {"project-enable-audit-logs"},
		"private-google-access-disabled":   {"subnet-enable-private-google-access"},
		"egress-deny-not-set":              {"network-add-egress-deny"},
		"compute-serial-port-enabled":      {"instance-disable-serial-port"},
		"compute-os-login-disabled":        {"instance-enable-os-login"},
		"compute-public-ip":                {"instance-remove-external-ip"},
		"compute-project-ssh-keys-allowed": {"instance-block-project-ssh-keys"},
		"compute-default-sa":               nil,
	} {
		if got := names(s.For(rules.Finding{Rule: rule})); !slices.Equal(got, want) {
			t.Errorf("For(%s) = %v, want %v", rule, got, want)
		}
	}
	var none *Set
	if none.For(rules.Finding{Rule: "network-default"}) != nil || none.Len() != 0 {
		t.Error("a nil Set has playbooks")
	}
}

// TestWhenPorts exercises when.ports alone, with protocols and ranges on both sides.
func TestWhenPorts(t *testing.T) {
	doc := func(name string, rank int, when string) string {
		return fmt.Sprintf("apiVersion: zerodrift.dev/v1\nkind: Playbook\nmetadata: {name: %s, title: T}\n"+
			"spec:\n  fixes:\n    - rule: firewall-open-ingress\n      when: %s\n"+
			"  actions: [{action: firewall.disable}]\n  risk: low\n  rank: %d\n", name, when, rank)
	}
	files := fstest.MapFS{"w.yaml": {Data: []byte(strings.Join([]string{
		doc("ssh", 5, `{ports: ["22"]}`),
		doc("udp-dns", 1, `{ports: ["udp:53"]}`),
		doc("web-range", 5, `{ports: [8000-8100, 443]}`),
		doc("ssh-and-web", 3, `{ports: [22], categories: [OPEN_HTTP_PORT]}`),
	}, "---\n"))}}
	pbs, err := Load(files, ".")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(pbs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		allowed string
		want    []string
	}{
		{`[{"IPProtocol":"tcp","ports":["22"]}]`, []string{"ssh"}},
		{`[{"IPProtocol":"tcp","ports":["20-30"]}]`, []string{"ssh"}},
		{`[{"IPProtocol":"6","ports":["8080"]}]`, []string{"web-range"}},
		{`[{"IPProtocol":"tcp","ports":["53"]}]`, nil},
		{`[{"IPProtocol":"udp","ports":["53"]}]`, []string{"udp-dns"}},
		{`[{"IPProtocol":"tcp","ports":["22","80"]}]`, []string{"ssh-and-web", "ssh"}},
		{`[{"IPProtocol":"tcp","ports":["80"]}]`, nil},
		{`[{"IPProtocol":"all"}]`, []string{"udp-dns", "ssh", "web-range"}},
		{`[{"IPProtocol":"icmp"}]`, nil},
	}
	for _, c := range cases {
		f := firewallFinding(t, c.allowed)
		if got := names(s.For(f)); !slices.Equal(got, c.want) {
			t.Errorf("allowed %s: For = %v, want %v", c.allowed, got, c.want)
		}
	}
}

func TestGetAndAll(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := s.Get("sa-key-disable"); !ok || p.Metadata.Name != "sa-key-disable" {
		t.Errorf("Get(sa-key-disable) = %v, %v", p, ok)
	}
	if _, ok := s.Get("nope"); ok {
		t.Error("Get(nope) found a playbook")
	}
	all := s.All()
	all[0] = nil
	if s.All()[0] == nil {
		t.Error("All hands out the set's own slice")
	}
	if _, err := NewSet([]*Playbook{all[1], all[1]}); err == nil {
		t.Error("NewSet accepted a name twice")
	}
}

func TestWithUnattended(t *testing.T) {
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.WithUnattended(map[string]bool{"firewall-restrict-sources": false, "sa-key-disable": true})
	if err != nil {
		t.Fatal(err)
	}
	fw, _ := o.Get("firewall-restrict-sources")
	key, _ := o.Get("sa-key-disable")
	if fw.Spec.Unattended || *fw.DeclaredUnattended != true || !key.Spec.Unattended || *key.DeclaredUnattended != false {
		t.Errorf("overridden: restrict-sources %v (file %v), sa-key-disable %v (file %v)",
			fw.Spec.Unattended, *fw.DeclaredUnattended, key.Spec.Unattended, *key.DeclaredUnattended)
	}
	// The original set, and its playbooks, are untouched.
	orig, _ := s.Get("firewall-restrict-sources")
	if !orig.Spec.Unattended || orig.DeclaredUnattended != nil {
		t.Errorf("WithUnattended changed the original set: %+v", orig)
	}
	// Selection uses the overridden playbooks; untouched ones are shared.
	f := firewallFinding(t, `[{"IPProtocol":"tcp","ports":["22"]}]`)
	if got := o.For(f)[0]; got != fw || got.Spec.Unattended {
		t.Errorf("For on the overridden set = %+v", got)
	}
	same, _ := o.Get("firewall-disable")
	if orig, _ := s.Get("firewall-disable"); same != orig {
		t.Error("a playbook without override was copied")
	}
	// Overriding twice keeps what the file says.
	o2, err := o.WithUnattended(map[string]bool{"firewall-restrict-sources": true})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := o2.Get("firewall-restrict-sources"); !p.Spec.Unattended || *p.DeclaredUnattended != true {
		t.Errorf("second override: %v (file %v)", p.Spec.Unattended, *p.DeclaredUnattended)
	}
	if _, err := s.WithUnattended(map[string]bool{"firewall-restrict": true, "zz": false}); err == nil ||
		err.Error() != `unattended overrides name no playbook: "firewall-restrict", "zz"` {
		t.Errorf("unknown names: %v", err)
	}
}
