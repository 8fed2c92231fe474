package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestNormalizeProtocol(t *testing.T) {
	for in, want := range map[string]string{
		"tcp": "tcp", "TCP": "tcp", " Udp ": "udp", "6": "tcp", "17": "udp", "132": "sctp", "1": "icmp",
		"50": "esp", "51": "ah", "4": "ipip", "006": "tcp", "47": "47", "0047": "47", "all": "all", "ALL": "all",
		"ipv6-icmp": "ipv6-icmp", "": "",
	} {
		if got := NormalizeProtocol(in); got != want {
			t.Errorf("NormalizeProtocol(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	for in, want := range map[string]PortRange{
		"22": {22, 22}, "0": {0, 0}, "65535": {65535, 65535}, "20-30": {20, 30}, " 7 - 9 ": {7, 9}, "5-5": {5, 5},
	} {
		got, err := ParsePortRange(in)
		if err != nil || got != want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "ssh", "65536", "-1", "+22", "0x16", "30-20", "1-2-3", "1-", "-5", "22/tcp"} {
		if got, err := ParsePortRange(in); err == nil {
			t.Errorf("ParsePortRange(%q) = %v, want an error", in, got)
		}
	}
}

func TestPortSet(t *testing.T) {
	s, err := ParsePortSet([]string{"443", "20-30", "25", "31", "8080-8090", "8085"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Strings(), []string{"20-31", "443", "8080-8090"}; !slices.Equal(got, want) {
		t.Errorf("Strings() = %q, want %q (sorted, merged, adjacent joined)", got, want)
	}
	if s.String() != "20-31,443,8080-8090" || s.IsAll() || s.IsEmpty() {
		t.Errorf("String() = %q, IsAll %v, IsEmpty %v", s, s.IsAll(), s.IsEmpty())
	}
	for port, want := range map[uint16]bool{19: false, 20: true, 22: true, 31: true, 32: false, 443: true, 8090: true, 8091: false, 0: false} {
		if got := s.Contains(port); got != want {
			t.Errorf("Contains(%d) = %v, want %v", port, got, want)
		}
	}
	if !AllPorts().IsAll() || AllPorts().String() != "all" {
		t.Error("AllPorts is not all")
	}
	halves := NewPortSet(PortRange{0, 32767}, PortRange{32768, MaxPort})
	if !halves.IsAll() {
		t.Errorf("0-32767 + 32768-65535 = %v, want all", halves)
	}
	var empty PortSet
	if !empty.IsEmpty() || empty.Contains(0) || empty.Overlaps(AllPorts()) || empty.Strings() != nil {
		t.Error("the zero PortSet is not empty")
	}
}

// TestPortSetBruteForce compares PortSet with a 65,536-entry membership table, for random
// ranges drawn around the edges (0, 65535) so that coverage of every port happens often.
func TestPortSetBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	edges := []uint16{0, 1, 2, 21, 22, 23, 1000, 32767, 32768, 65533, 65534, 65535}
	pick := func() uint16 {
		if rng.IntN(3) == 0 {
			return uint16(rng.UintN(MaxPort + 1))
		}
		return edges[rng.IntN(len(edges))]
	}
	randomRanges := func() []PortRange {
		var rs []PortRange
		for range 1 + rng.IntN(6) {
			a, b := pick(), pick()
			rs = append(rs, PortRange{min(a, b), max(a, b)})
		}
		return rs
	}
	all := 0
	const iterations = 400
	for range iterations {
		ra, rb := randomRanges(), randomRanges()
		a, b := NewPortSet(ra...), NewPortSet(rb...)
		inA, inB := membership(ra), membership(rb)

		union := a.Union(b)
		wantAll, wantOverlap := true, false
		for p := range MaxPort + 1 {
			wantAll = wantAll && (inA[p] || inB[p])
			wantOverlap = wantOverlap || (inA[p] && inB[p])
		}
		// Membership can only go wrong at the edges of ranges; probe those and a sample.
		for _, port := range probePorts(rng, ra, rb) {
			p := int(port)
			if a.Contains(port) != inA[p] || b.Contains(port) != inB[p] {
				t.Fatalf("Contains(%d) wrong for %v or %v", p, ra, rb)
			}
			if union.Contains(port) != (inA[p] || inB[p]) {
				t.Fatalf("Union of %v and %v: Contains(%d) wrong", ra, rb, p)
			}
		}
		if union.IsAll() != wantAll {
			t.Fatalf("Union of %v and %v: IsAll() = %v, want %v", ra, rb, union.IsAll(), wantAll)
		}
		if a.Overlaps(b) != wantOverlap || b.Overlaps(a) != wantOverlap {
			t.Fatalf("Overlaps(%v, %v) = %v, want %v", ra, rb, a.Overlaps(b), wantOverlap)
		}
		// The representation is canonical: sorted, disjoint and not adjacent.
		rs := union.Ranges()
		for i := 1; i < len(rs); i++ {
			if int(rs[i].First) <= int(rs[i-1].Last)+1 {
				t.Fatalf("ranges %v are not canonical", rs)
			}
		}
		// Parsing the written form gives the same set back.
		back, err := ParsePortSet(union.Strings())
		if err != nil || !slices.Equal(back.Ranges(), rs) {
			t.Fatalf("round trip of %v gave %v, %v", rs, back.Ranges(), err)
		}
		if wantAll {
			all++
		}
	}
	if all < iterations/20 || all > iterations*19/20 {
		t.Errorf("%d of %d random unions are all ports; rebalance the generator", all, iterations)
	}
}

// probePorts returns the ports around the edges of the given ranges, plus random ones.
func probePorts(rng *rand.Rand, sets ...[]PortRange) []uint16 {
	ports := []uint16{0, MaxPort}
	for _, rs := range sets {
		for _, r := range rs {
			ports = append(ports, r.First, r.Last, r.First-1, r.Last+1) // wrapping around is fine
		}
	}
	for range 64 {
		ports = append(ports, uint16(rng.UintN(MaxPort+1)))
	}
	return ports
}

// membership is the brute-force model of a port set: one bool per port.
func membership(rs []PortRange) []bool {
	in := make([]bool, MaxPort+1)
	for _, r := range rs {
		for p := int(r.First); p <= int(r.Last); p++ {
			in[p] = true
		}
	}
	return in
}

func TestParseAllowed(t *testing.T) {
	cases := []struct {
		name     string
		entries  []inventory.FirewallRule
		want     string
		allPorts bool
	}{
		{"nothing", nil, "", false},
		{"one port", []inventory.FirewallRule{{IPProtocol: "tcp", Ports: []string{"22"}}}, "tcp:22", false},
		{"entries of one protocol add up", []inventory.FirewallRule{
			{IPProtocol: "tcp", Ports: []string{"80"}}, {IPProtocol: "6", Ports: []string{"22"}}}, "tcp:22,80", false},
		{"tcp without ports", []inventory.FirewallRule{{IPProtocol: "tcp"}}, "tcp:all", true},
		{"sctp without ports", []inventory.FirewallRule{{IPProtocol: "sctp"}}, "sctp:all", true},
		{"ranges make all", []inventory.FirewallRule{{IPProtocol: "udp", Ports: []string{"0-100", "101-65535"}}}, "udp:all", true},
		{"icmp has no ports", []inventory.FirewallRule{{IPProtocol: "icmp", Ports: []string{"8"}}}, "icmp:all", false},
		{"numbered protocol", []inventory.FirewallRule{{IPProtocol: "47"}}, "47:all", false},
		{"all swallows the rest", []inventory.FirewallRule{{IPProtocol: "tcp", Ports: []string{"22"}}, {IPProtocol: "ALL"}}, "all:all", true},
		{"protocols in order", []inventory.FirewallRule{{IPProtocol: "udp", Ports: []string{"53"}}, {IPProtocol: "icmp"},
			{IPProtocol: "tcp", Ports: []string{"53"}}}, "icmp:all;tcp:53;udp:53", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseAllowed(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			if e.String() != tc.want || e.AllPortsOpen() != tc.allPorts || e.IsEmpty() != (tc.want == "") {
				t.Errorf("got %q, all ports %v, empty %v; want %q, %v", e, e.AllPortsOpen(), e.IsEmpty(), tc.want, tc.allPorts)
			}
		})
	}
	for _, bad := range [][]inventory.FirewallRule{
		{{IPProtocol: ""}},
		{{IPProtocol: "  "}},
		{{IPProtocol: "tcp", Ports: []string{"http"}}},
		{{IPProtocol: "udp", Ports: []string{"1-70000"}}},
	} {
		if e, err := ParseAllowed(bad); err == nil {
			t.Errorf("ParseAllowed(%+v) = %v, want an error", bad, e)
		}
	}
}

func TestExposure(t *testing.T) {
	e, err := ParseAllowed([]inventory.FirewallRule{{IPProtocol: "tcp", Ports: []string{"20-30"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range MatchPortCategories(e) {
		got = append(got, c.Name)
	}
	if want := []string{"OPEN_SSH_PORT", "OPEN_TELNET_PORT", "OPEN_FTP_PORT", "OPEN_SMTP_PORT"}; !slices.Equal(got, want) {
		t.Errorf("20-30 matches %q, want %q", got, want)
	}
	if !e.Exposes("TCP", portList(22)) || e.Exposes("udp", portList(22)) || e.Exposes("tcp", portList(31)) {
		t.Error("Exposes gives wrong answers for tcp 20-30")
	}
	all, _ := ParseAllowed([]inventory.FirewallRule{{IPProtocol: "all"}})
	if !all.Exposes("sctp", portList(22)) || !all.Ports("anything").IsAll() {
		t.Error("the all protocol does not expose everything")
	}
}

func TestPortCategoriesTable(t *testing.T) {
	cats := PortCategories()
	if len(cats) != 20 || cats[0].Name != "OPEN_SSH_PORT" || cats[1].Name != "OPEN_RDP_PORT" {
		t.Fatalf("categories start %v, want SSH then RDP, 20 in all", cats[:2])
	}
	names := map[string]bool{}
	for _, c := range cats {
		if names[c.Name] {
			t.Errorf("category %s listed twice", c.Name)
		}
		names[c.Name] = true
		if c.Severity != SeverityHigh && c.Severity != SeverityMedium {
			t.Errorf("%s has severity %s", c.Name, c.Severity)
		}
		if len(c.ports) == 0 {
			t.Errorf("%s has no ports", c.Name)
		}
	}
	// Changing the returned copy must not change the rules.
	cats[0].Name = "CHANGED"
	if PortCategories()[0].Name != "OPEN_SSH_PORT" {
		t.Error("PortCategories returned the table itself")
	}
}

func ExampleParseAllowed() {
	e, _ := ParseAllowed([]inventory.FirewallRule{
		{IPProtocol: "6", Ports: []string{"443", "20-30"}},
		{IPProtocol: "UDP"},
	})
	fmt.Println(e, e.AllPortsOpen())
	for _, c := range MatchPortCategories(e) {
		fmt.Println(c.Name, c.Severity)
	}
	// Output:
	// tcp:20-30,443;udp:all true
	// OPEN_SSH_PORT HIGH
	// OPEN_RDP_PORT HIGH
	// OPEN_TELNET_PORT HIGH
	// OPEN_FTP_PORT HIGH
	// OPEN_SMTP_PORT MEDIUM
	// OPEN_POSTGRESQL_PORT HIGH
	// OPEN_MEMCACHED_PORT HIGH
	// OPEN_LDAP_PORT HIGH
	// OPEN_NETBIOS_PORT MEDIUM
	// OPEN_DIRECTORY_SERVICES_PORT HIGH
	// OPEN_DNS_PORT HIGH
	// OPEN_ORACLEDB_PORT HIGH
}
