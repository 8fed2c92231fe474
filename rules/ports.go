package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// This file models what a firewall rule's "allowed" list lets through (protocols and
// ports) and which well-known services, as Security Command Center names them, that exposes.

// ProtocolAll is the IPProtocol value that matches every protocol and port.
const ProtocolAll = "all"

// protocolNumbers names the IP protocol numbers the Compute API also accepts by name.
var protocolNumbers = map[int]string{
	1:   "icmp",
	4:   "ipip",
	6:   "tcp",
	17:  "udp",
	50:  "esp",
	51:  "ah",
	132: "sctp",
}

// NormalizeProtocol returns the canonical spelling of a firewall IPProtocol: lower case, with
// the protocol numbers that have a name replaced by it ("6" and "TCP" are both "tcp"). Other
// numbers stay numbers, without leading zeros.
func NormalizeProtocol(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if !startsNumber(p) {
		return p // a name: strconv.Atoi would fail, and allocate its error
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 {
		if name, ok := protocolNumbers[n]; ok {
			return name
		}
		return strconv.Itoa(n)
	}
	return p
}

// startsNumber reports whether s could be a number for strconv.Atoi: it starts with a digit
// or a sign.
func startsNumber(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9' || s[0] == '+' || s[0] == '-')
}

// HasPorts reports whether a canonical protocol is one whose firewall entries can name ports:
// tcp, udp or sctp. Entries of any other protocol match all of that protocol's traffic.
func HasPorts(protocol string) bool {
	return protocol == "tcp" || protocol == "udp" || protocol == "sctp"
}

// MaxPort is the highest port number.
const MaxPort = 65535

// PortRange is an inclusive range of ports; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// String writes the range as the Compute API does: "22" or "20-30".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// ParsePortRange reads a firewall port entry: "22" or "20-30", each number within 0-65535
// and the first not above the last.
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	first, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("port %q: %w", s, err)
	}
	last := first
	if isRange {
		if last, err = parsePort(hi); err != nil {
			return PortRange{}, fmt.Errorf("port %q: %w", s, err)
		}
	}
	if first > last {
		return PortRange{}, fmt.Errorf("port %q: range ends before it starts", s)
	}
	return PortRange{first, last}, nil
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	// ParseUint alone would accept "+22" and "0x16" (with base 0); a port is plain digits.
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number in 0-%d", s, MaxPort)
	}
	return uint16(n), nil
}

// PortSet is a set of ports, kept as sorted, disjoint, non-adjacent ranges so that equal sets
// have equal representations. The zero value is the empty set.
type PortSet struct {
	ranges []PortRange
}

// NewPortSet returns the union of the given ranges.
func NewPortSet(ranges ...PortRange) PortSet {
	rs := slices.Clone(ranges)
	slices.SortFunc(rs, func(a, b PortRange) int {
		return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.Last, b.Last))
	})
	var merged []PortRange
	for _, r := range rs {
		// Merge into the previous range when r overlaps it or starts right after it.
		if n := len(merged); n > 0 && int(r.First) <= int(merged[n-1].Last)+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return PortSet{ranges: merged}
}

// AllPorts is the set of every port, 0-65535.
func AllPorts() PortSet { return PortSet{ranges: []PortRange{{0, MaxPort}}} }

// ParsePortSet reads a firewall entry's ports list ("22", "20-30", ...). An empty list gives
// the empty set; whether that means "all ports" is the caller's business (see ParseAllowed).
func ParsePortSet(specs []string) (PortSet, error) {
	rs := make([]PortRange, 0, len(specs))
	for _, s := range specs {
		r, err := ParsePortRange(s)
		if err != nil {
			return PortSet{}, err
		}
		rs = append(rs, r)
	}
	return NewPortSet(rs...), nil
}

// Ranges returns the set's ranges in order; the caller may modify the slice.
func (s PortSet) Ranges() []PortRange { return slices.Clone(s.ranges) }

// IsEmpty reports whether the set has no port.
func (s PortSet) IsEmpty() bool { return len(s.ranges) == 0 }

// IsAll reports whether the set holds every port, 0-65535.
func (s PortSet) IsAll() bool {
	return len(s.ranges) == 1 && s.ranges[0] == PortRange{0, MaxPort}
}

// Contains reports whether port is in the set.
func (s PortSet) Contains(port uint16) bool {
	i, found := slices.BinarySearchFunc(s.ranges, port, func(r PortRange, p uint16) int {
		return cmp.Compare(r.First, p)
	})
	if found {
		return true
	}
	return i > 0 && s.ranges[i-1].Last >= port
}

// Overlaps reports whether the two sets share at least one port.
func (s PortSet) Overlaps(o PortSet) bool {
	i, j := 0, 0
	for i < len(s.ranges) && j < len(o.ranges) {
		a, b := s.ranges[i], o.ranges[j]
		if a.Last < b.First {
			i++
		} else if b.Last < a.First {
			j++
		} else {
			return true
		}
	}
	return false
}

// Union returns the ports in either set.
func (s PortSet) Union(o PortSet) PortSet {
	return NewPortSet(append(slices.Clone(s.ranges), o.ranges...)...)
}

// Strings writes the set as a Compute API ports list, e.g. ["22", "80-90"]; nil when empty.
func (s PortSet) Strings() []string {
	var out []string
	for _, r := range s.ranges {
		out = append(out, r.String())
	}
	return out
}

// String writes the set as "all" when it holds every port, else as a comma-separated list.
func (s PortSet) String() string {
	if s.IsAll() {
		return "all"
	}
	return strings.Join(s.Strings(), ",")
}

// Exposure is what a firewall rule's allowed list lets through: for each canonical protocol
// (see NormalizeProtocol), the set of ports. A protocol without ports (icmp, esp, ...) is
// recorded with AllPorts, meaning all of its traffic. The zero value exposes nothing.
type Exposure struct {
	all     bool               // the "all" protocol: every protocol, every port
	byProto map[string]PortSet // never holds ProtocolAll
}

// ParseAllowed reads a firewall rule's allowed (or denied) entries. A tcp, udp or sctp entry
// without ports means every port of that protocol, as it does in the Compute API; entries of
// one protocol add up. An entry without IPProtocol or with a malformed port is an error.
func ParseAllowed(entries []inventory.FirewallRule) (Exposure, error) {
	e := Exposure{byProto: make(map[string]PortSet)}
	for i, entry := range entries {
		proto := NormalizeProtocol(entry.IPProtocol)
		switch {
		case proto == "":
			return Exposure{}, fmt.Errorf("entry %d has no IPProtocol", i)
		case proto == ProtocolAll:
			e.all = true
		case HasPorts(proto) && len(entry.Ports) > 0:
			ps, err := ParsePortSet(entry.Ports)
			if err != nil {
				return Exposure{}, fmt.Errorf("entry %d (%s): %w", i, proto, err)
			}
			e.byProto[proto] = e.byProto[proto].Union(ps)
		default:
			// No ports listed, or a protocol that has no ports: all of it.
			e.byProto[proto] = AllPorts()
		}
	}
	if e.all {
		e.byProto = nil
	}
	return e, nil
}

// IsEmpty reports whether nothing is exposed.
func (e Exposure) IsEmpty() bool { return !e.all && len(e.byProto) == 0 }

// Protocols returns the exposed canonical protocols in order: just ProtocolAll when the
// rule allows every protocol.
func (e Exposure) Protocols() []string {
	if e.all {
		return []string{ProtocolAll}
	}
	ps := make([]string, 0, len(e.byProto))
	for p := range e.byProto {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Ports returns the exposed ports of a protocol, which is normalized first; AllPorts for
// every protocol when the rule allows the "all" protocol.
func (e Exposure) Ports(protocol string) PortSet {
	if e.all {
		return AllPorts()
	}
	return e.byProto[NormalizeProtocol(protocol)]
}

// Exposes reports whether traffic of protocol to any of ports gets through.
func (e Exposure) Exposes(protocol string, ports PortSet) bool {
	return e.Ports(protocol).Overlaps(ports)
}

// AllPortsOpen reports whether the rule opens every port of some protocol that has ports:
// the "all" protocol, or tcp, udp or sctp without a ports list or with ranges that together
// cover 0-65535.
func (e Exposure) AllPortsOpen() bool {
	if e.all {
		return true
	}
	for p, ps := range e.byProto {
		if HasPorts(p) && ps.IsAll() {
			return true
		}
	}
	return false
}

// String writes the exposure canonically, e.g. "tcp:22,80-90;udp:all", or "all:all" for the
// "all" protocol. Equal exposures give equal strings.
func (e Exposure) String() string {
	var parts []string
	for _, p := range e.Protocols() {
		parts = append(parts, p+":"+e.Ports(p).String())
	}
	return strings.Join(parts, ";")
}

// PortCategory is a Security Command Center finding category for a service reachable on
// well-known ports, e.g. OPEN_SSH_PORT for tcp or sctp 22.
type PortCategory struct {
	// Name is the SCC category, e.g. OPEN_SSH_PORT.
	Name string
	// Severity is how bad exposing the service to the internet is.
	Severity Severity
	// CISControl is the CIS benchmark control about this exposure ("3.6" for SSH, "3.7" for
	// RDP, the same in every benchmark version), or "" when there is none.
	CISControl string

	ports []protocolPorts
}

type protocolPorts struct {
	protocols []string
	ports     PortSet
}

// ExposedBy reports whether the exposure reaches the category's service on any of its ports.
func (c PortCategory) ExposedBy(e Exposure) bool {
	for _, pp := range c.ports {
		for _, proto := range pp.protocols {
			if e.Exposes(proto, pp.ports) {
				return true
			}
		}
	}
	return false
}

// portList is the set of the given single ports.
func portList(ps ...uint16) PortSet {
	rs := make([]PortRange, len(ps))
	for i, p := range ps {
		rs[i] = PortRange{p, p}
	}
	return NewPortSet(rs...)
}

// portSpan is the set of ports first to last, inclusive.
func portSpan(first, last uint16) PortSet { return NewPortSet(PortRange{first, last}) }

// portCategories lists the SCC port categories in priority order: a firewall rule that
// exposes several services is reported under the first. Never modified.
var portCategories = [...]PortCategory{
	{Name: "OPEN_SSH_PORT", Severity: SeverityHigh, CISControl: "3.6", ports: []protocolPorts{
		{[]string{"tcp", "sctp"}, portList(22)},
	}},
	{Name: "OPEN_RDP_PORT", Severity: SeverityHigh, CISControl: "3.7", ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portList(3389)},
	}},
	{Name: "OPEN_TELNET_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(23)},
	}},
	{Name: "OPEN_FTP_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(21)},
	}},
	{Name: "OPEN_SMTP_PORT", Severity: SeverityMedium, ports: []protocolPorts{
		{[]string{"tcp"}, portList(25)},
	}},
	{Name: "OPEN_HTTP_PORT", Severity: SeverityMedium, ports: []protocolPorts{
		{[]string{"tcp"}, portList(80)},
	}},
	{Name: "OPEN_POP3_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(110)},
	}},
	{Name: "OPEN_MYSQL_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(3306)},
	}},
	{Name: "OPEN_POSTGRESQL_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portList(5432)},
	}},
	{Name: "OPEN_REDIS_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(6379)},
	}},
	{Name: "OPEN_MONGODB_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portSpan(27017, 27019)},
	}},
	{Name: "OPEN_ELASTICSEARCH_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(9200, 9300)},
	}},
	{Name: "OPEN_MEMCACHED_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portList(11211).Union(portSpan(11214, 11215))},
	}},
	{Name: "OPEN_LDAP_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(389, 636)},
		{[]string{"udp"}, portList(389)},
	}},
	{Name: "OPEN_NETBIOS_PORT", Severity: SeverityMedium, ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portSpan(137, 139)},
	}},
	{Name: "OPEN_DIRECTORY_SERVICES_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portList(445)},
	}},
	{Name: "OPEN_DNS_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp", "udp"}, portList(53)},
	}},
	{Name: "OPEN_ORACLEDB_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(1521)},
		{[]string{"tcp", "udp"}, portSpan(2483, 2484)},
	}},
	{Name: "OPEN_CASSANDRA_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(7199, 8888, 9042, 9160).
			Union(portSpan(7000, 7001)).
			Union(portSpan(61620, 61621))},
	}},
	{Name: "OPEN_CISCOSECURE_WEBSM_PORT", Severity: SeverityHigh, ports: []protocolPorts{
		{[]string{"tcp"}, portList(9090)},
	}},
}

// PortCategories returns the SCC port categories zerodrift knows, in priority order (SSH
// first, then RDP, ...).
func PortCategories() []PortCategory { return slices.Clone(portCategories[:]) }

// MatchPortCategories returns the port categories the exposure reaches, in priority order.
func MatchPortCategories(e Exposure) []PortCategory {
	var out []PortCategory
	for _, c := range portCategories {
		if c.ExposedBy(e) {
			out = append(out, c)
		}
	}
	return out
}
