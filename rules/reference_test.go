package rules

import (
	"cmp"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// Brute-force references for the firewall logic: they answer the same questions as
// ports.go and cidr.go by enumeration, with none of their data structures, so that the
// fuzz targets in fuzz_test.go can hold the real code to them.

// ---- ports: a table of 65,536 booleans

// portTable is the brute-force model of a set of ports: one bool per port.
type portTable []bool

func newPortTable() portTable { return make(portTable, MaxPort+1) }

// mark adds the ports first to last.
func (t portTable) mark(first, last int) {
	for p := first; p <= last; p++ {
		t[p] = true
	}
}

// runs is the canonical form of the table: its maximal runs of members, in order.
func (t portTable) runs() []PortRange {
	var out []PortRange
	for p := 0; p <= MaxPort; p++ {
		if !t[p] {
			continue
		}
		first := p
		for p < MaxPort && t[p+1] {
			p++
		}
		out = append(out, PortRange{uint16(first), uint16(p)})
	}
	return out
}

// allPortRuns is the canonical form of the table of every port.
var allPortRuns = []PortRange{{0, MaxPort}}

// runsText writes the canonical form of a table as PortSet.String should: "all" for
// every port, else each run as "22" or "20-30", separated by commas.
func runsText(rs []PortRange) string {
	if slices.Equal(rs, allPortRuns) {
		return "all"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.Itoa(int(r.First))
		if r.Last != r.First {
			parts[i] += "-" + strconv.Itoa(int(r.Last))
		}
	}
	return strings.Join(parts, ",")
}

// parsePortReference reads "22" or "20-30" (spaces allowed around each number), numbers
// of plain ASCII digits up to 65535, the first not above the last.
func parsePortReference(spec string) (first, last int, ok bool) {
	parts := strings.Split(strings.TrimSpace(spec), "-")
	if len(parts) > 2 {
		return 0, 0, false
	}
	nums := make([]int, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return 0, 0, false
		}
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				return 0, 0, false
			}
			if n = n*10 + int(c-'0'); n > MaxPort {
				return 0, 0, false
			}
		}
		nums[i] = n
	}
	first, last = nums[0], nums[len(nums)-1]
	return first, last, first <= last
}

// exposureReference is ParseAllowed by enumeration: a table of the ports of each
// canonical protocol (and its canonical form), or all for the "all" protocol. bad is the
// index of the first entry ParseAllowed must reject, -1 when every entry is good; when the
// entry is rejected for a port rather than for a missing protocol, portBad is set and
// badPort is that port.
type exposureReference struct {
	all     bool
	tables  map[string]portTable
	runs    map[string][]PortRange
	bad     int
	portBad bool
	badPort string
}

func newExposureReference(entries []inventory.FirewallRule) exposureReference {
	ref := exposureReference{tables: map[string]portTable{}, runs: map[string][]PortRange{}, bad: -1}
	for i, e := range entries {
		proto := normalizeProtocolReference(e.IPProtocol)
		if proto == "" {
			ref.bad = i
			return ref
		}
		if proto == ProtocolAll {
			ref.all = true
			continue
		}
		t := ref.tables[proto]
		if t == nil {
			t = newPortTable()
			ref.tables[proto] = t
		}
		if (proto != "tcp" && proto != "udp" && proto != "sctp") || len(e.Ports) == 0 {
			t.mark(0, MaxPort)
			continue
		}
		for _, spec := range e.Ports {
			first, last, ok := parsePortReference(spec)
			if !ok {
				ref.bad, ref.portBad, ref.badPort = i, true, spec
				return ref
			}
			t.mark(first, last)
		}
	}
	for proto, t := range ref.tables {
		ref.runs[proto] = t.runs()
	}
	return ref
}

// ports is the canonical form of the ports of a protocol, spelt in any way
// NormalizeProtocol accepts.
func (ref exposureReference) ports(protocol string) []PortRange {
	if ref.all {
		return allPortRuns
	}
	return ref.runs[normalizeProtocolReference(protocol)]
}

// exposes reports whether port of protocol is open.
func (ref exposureReference) exposes(protocol string, port int) bool {
	if ref.all {
		return true
	}
	t := ref.tables[normalizeProtocolReference(protocol)]
	return t != nil && t[port]
}

// protocols lists the exposed protocols in order; just "all" for the "all" protocol.
func (ref exposureReference) protocols() []string {
	if ref.all {
		return []string{ProtocolAll}
	}
	var ps []string
	for p := range ref.tables {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// allPortsOpen reports whether some protocol with ports has every port open.
func (ref exposureReference) allPortsOpen() bool {
	return ref.all || slices.ContainsFunc([]string{"tcp", "udp", "sctp"}, func(p string) bool {
		return slices.Equal(ref.runs[p], allPortRuns)
	})
}

// text writes the exposure as Exposure.String should.
func (ref exposureReference) text() string {
	var parts []string
	for _, p := range ref.protocols() {
		parts = append(parts, p+":"+runsText(ref.ports(p)))
	}
	return strings.Join(parts, ";")
}

// categories names the SCC port categories the exposure reaches, in table order, by
// looking at every port of every category.
func (ref exposureReference) categories() []string {
	var out []string
	for _, c := range PortCategories() {
		if ref.reaches(c) {
			out = append(out, c.Name)
		}
	}
	return out
}

func (ref exposureReference) reaches(c PortCategory) bool {
	for _, pp := range c.ports {
		for _, proto := range pp.protocols {
			for _, r := range pp.ports.Ranges() {
				for p := int(r.First); p <= int(r.Last); p++ {
					if ref.exposes(proto, p) {
						return true
					}
				}
			}
		}
	}
	return false
}

// ---- source ranges: probing addresses

// sourceRange is one parsed input range and its spelling.
type sourceRange struct {
	text   string
	prefix netip.Prefix
}

func parseSourceRanges(ranges []string) []sourceRange {
	var out []sourceRange
	for _, r := range ranges {
		if p, ok := ParseSourceRange(r); ok {
			out = append(out, sourceRange{strings.TrimSpace(r), p})
		}
	}
	return out
}

// pastEnd is the address right after the last one of a masked prefix, by integer
// arithmetic on the address; false when the prefix reaches the top of its family.
func pastEnd(p netip.Prefix) (netip.Addr, bool) {
	a := p.Addr()
	n := new(big.Int).SetBytes(a.AsSlice())
	n.Add(n, new(big.Int).Lsh(big.NewInt(1), uint(a.BitLen()-p.Bits())))
	if n.BitLen() > a.BitLen() {
		return netip.Addr{}, false
	}
	b := n.FillBytes(make([]byte, a.BitLen()/8))
	next, _ := netip.AddrFromSlice(b)
	return next, true
}

// familyCoveredReference reports whether the prefixes of one family (zero is its first
// address) together hold every address of it. A gap in a union of prefixes starts at the
// family's first address or right after the end of a prefix, so the union is whole exactly
// when each of those addresses lies in some prefix: probing them one by one is exact.
func familyCoveredReference(rs []sourceRange, zero netip.Addr) bool {
	probes := []netip.Addr{zero}
	found := false
	for _, r := range rs {
		if r.prefix.Addr().Is4() != zero.Is4() {
			continue
		}
		found = true
		if a, ok := pastEnd(r.prefix); ok {
			probes = append(probes, a)
		}
	}
	if !found {
		return false
	}
	for _, a := range probes {
		if !slices.ContainsFunc(rs, func(r sourceRange) bool { return r.prefix.Contains(a) }) {
			return false
		}
	}
	return true
}

// worldReference lists what CoversInternet must return as world for inputs whose IPv4 and
// IPv6 coverage is known: every spelling, once, of a range of a covered family that no
// other range strictly contains, in family, address, length and spelling order.
func worldReference(rs []sourceRange, covered4, covered6 bool) []string {
	var keep []sourceRange
	for _, r := range rs {
		if r.prefix.Addr().Is4() && !covered4 || r.prefix.Addr().Is6() && !covered6 {
			continue
		}
		inside := slices.ContainsFunc(rs, func(o sourceRange) bool {
			return o.prefix.Bits() < r.prefix.Bits() && o.prefix.Contains(r.prefix.Addr())
		})
		if !inside {
			keep = append(keep, r)
		}
	}
	slices.SortFunc(keep, func(a, b sourceRange) int {
		return cmp.Or(
			cmp.Compare(a.prefix.Addr().BitLen(), b.prefix.Addr().BitLen()),
			a.prefix.Addr().Compare(b.prefix.Addr()),
			cmp.Compare(a.prefix.Bits(), b.prefix.Bits()),
			strings.Compare(a.text, b.text))
	})
	var world []string
	for _, r := range keep {
		if !slices.Contains(world, r.text) {
			world = append(world, r.text)
		}
	}
	return world
}

// coversInternetReference is CoversInternet by probing addresses.
func coversInternetReference(ranges []string) ([]string, bool) {
	rs := parseSourceRanges(ranges)
	covered4 := familyCoveredReference(rs, netip.IPv4Unspecified())
	covered6 := familyCoveredReference(rs, netip.IPv6Unspecified())
	if !covered4 && !covered6 {
		return nil, false
	}
	return worldReference(rs, covered4, covered6), true
}

// ---- a firewall rule's verdict

// firewallVerdict is what firewall-open-ingress must conclude about a firewall rule.
type firewallVerdict struct {
	bad          bool // the rule must fail: an unknown direction, or a bad allowed entry
	open         bool // it admits the internet
	world        []string
	implied      bool
	allPortsOpen bool
	categories   []string // SCC port categories reached, in priority order
}

// firewallVerdictReference judges fw with the references: an enabled ingress rule with
// allowed entries whose sources take in the whole internet (no source at all, or source
// ranges that cover a family) is open.
func firewallVerdictReference(fw *inventory.Firewall) firewallVerdict {
	switch strings.ToUpper(strings.TrimSpace(fw.Direction)) {
	case "", "INGRESS":
	case "EGRESS":
		return firewallVerdict{}
	default:
		return firewallVerdict{bad: true}
	}
	if fw.Disabled || len(fw.Allowed) == 0 {
		return firewallVerdict{}
	}
	var v firewallVerdict
	switch {
	case len(fw.SourceRanges) > 0:
		var covers bool
		if v.world, covers = coversInternetReference(fw.SourceRanges); !covers {
			return firewallVerdict{}
		}
	case len(fw.SourceTags) == 0 && len(fw.SourceServiceAccounts) == 0:
		v.world, v.implied = []string{"0.0.0.0/0"}, true
	default:
		return firewallVerdict{}
	}
	ref := newExposureReference(fw.Allowed)
	if ref.bad >= 0 {
		return firewallVerdict{bad: true}
	}
	v.open, v.allPortsOpen, v.categories = true, ref.allPortsOpen(), ref.categories()
	return v
}
