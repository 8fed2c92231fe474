package rules

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// The fuzz targets of the firewall logic: each one holds ports.go or cidr.go to the
// brute-force references of reference_test.go.

// fuzzBytes reads a fuzzer's bytes as small numbers; past the end it reads zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func (b *fuzzBytes) next16() int { return int(b.next())<<8 | int(b.next()) }

// portRanges reads n port ranges, each anywhere in 0-65535 or in a small window at the
// bottom, at the top or around the well-known ports, where overlaps, adjacency and covering
// every port are likely.
func (b *fuzzBytes) portRanges(n int) []PortRange {
	rs := make([]PortRange, 0, n)
	for range n {
		var lo, hi int
		switch b.next() % 4 {
		case 0:
			lo, hi = b.next16(), b.next16()
		case 1:
			lo = int(b.next() % 64)
			hi = lo + int(b.next()%64)
		case 2:
			hi = MaxPort - int(b.next()%64)
			lo = hi - int(b.next()%64)
		default:
			lo = 16 + int(b.next()%16)
			hi = lo + int(b.next()%16)
		}
		rs = append(rs, PortRange{uint16(min(lo, hi)), uint16(max(lo, hi))})
	}
	return rs
}

// tableOf is the brute-force table of the union of rs.
func tableOf(rs []PortRange) portTable {
	t := newPortTable()
	for _, r := range rs {
		t.mark(int(r.First), int(r.Last))
	}
	return t
}

// checkPortSet holds s to the table of the ports it must hold and its canonical form
// (want.runs()): its ranges, what it says of itself, and Contains at every port where a
// range of the input or of the answer starts or ends, and next to it.
func checkPortSet(t *testing.T, what string, s PortSet, want portTable, wantRuns []PortRange, input ...[]PortRange) {
	t.Helper()
	if got := s.Ranges(); !slices.Equal(got, wantRuns) {
		t.Fatalf("%s: ranges %v, want %v", what, got, wantRuns)
	}
	probes := []int{0, MaxPort}
	for _, rs := range append(input, wantRuns) {
		for _, r := range rs {
			probes = append(probes, int(r.First)-1, int(r.First), int(r.Last), int(r.Last)+1)
		}
	}
	for _, p := range probes {
		if p >= 0 && p <= MaxPort && s.Contains(uint16(p)) != want[p] {
			t.Fatalf("%s: Contains(%d) = %v", what, p, !want[p])
		}
	}
	full, empty := slices.Equal(wantRuns, allPortRuns), len(wantRuns) == 0
	if s.IsAll() != full || s.IsEmpty() != empty {
		t.Fatalf("%s: IsAll %v IsEmpty %v, want %v %v", what, s.IsAll(), s.IsEmpty(), full, empty)
	}
	if got := s.String(); got != runsText(wantRuns) {
		t.Fatalf("%s: String() = %q, want %q", what, got, runsText(wantRuns))
	}
	back, err := ParsePortSet(s.Strings())
	if err != nil || !slices.Equal(back.Ranges(), wantRuns) {
		t.Fatalf("%s: ParsePortSet(%q) = %v, %v", what, s.Strings(), back.Ranges(), err)
	}
}

// FuzzPortSetMatchesReference: NewPortSet, Union, Contains, Overlaps, IsAll and String
// agree with a table of every port.
func FuzzPortSetMatchesReference(f *testing.F) {
	f.Add([]byte{0x11, 1, 0, 21})                                    // 21-42 and 16-47
	f.Add([]byte{0x09, 0, 0, 0, 0x7f, 0xff, 0, 0x80, 0, 0xff, 0xff}) // 0-32767 and 32768-65535
	f.Add([]byte{0x12, 1, 5, 3, 1, 9, 0, 2, 0, 0, 3, 4, 4})          // adjacent and nested windows
	f.Add([]byte{0x3f, 2, 0, 63, 1, 0, 63, 3, 15, 15, 0, 1, 2, 3, 4, 2, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		n := b.next()
		ra, rb := b.portRanges(int(n%8)), b.portRanges(int(n>>3%8))
		ta, tb := tableOf(ra), tableOf(rb)
		a, bs := NewPortSet(ra...), NewPortSet(rb...)
		checkPortSet(t, fmt.Sprint("NewPortSet", ra), a, ta, ta.runs(), ra)

		union, overlap := newPortTable(), false
		for p := range union {
			union[p] = ta[p] || tb[p]
			overlap = overlap || ta[p] && tb[p]
		}
		unionRuns := union.runs()
		checkPortSet(t, fmt.Sprint("union of ", ra, " and ", rb), a.Union(bs), union, unionRuns, ra, rb)
		if got := bs.Union(a).Ranges(); !slices.Equal(got, unionRuns) {
			t.Fatalf("union of %v and %v: ranges %v, want %v", rb, ra, got, unionRuns)
		}
		if a.Overlaps(bs) != overlap || bs.Overlaps(a) != overlap {
			t.Fatalf("Overlaps of %v and %v = %v, %v; want %v", ra, rb, a.Overlaps(bs), bs.Overlaps(a), overlap)
		}
	})
}

// FuzzParsePortSetMatchesReference: a ports list parses exactly when each entry is "N" or
// "N-M" with N <= M <= 65535, to the ports a table says; a rejection quotes the entry.
func FuzzParsePortSetMatchesReference(f *testing.F) {
	for _, s := range []string{"22", "20-25,22,26", " 7 - 9 ", "0-65535", "65536", "1-2-3", "30-20", "+22", "0x16",
		"", "-", "22-", "-5", "0022", "00000000000000000022", "٣", "22,ssh", "1--2", "1-\u00a02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		entries := strings.Split(spec, ",")
		if len(entries) > 64 {
			t.Skip()
		}
		want, bad, rejected := newPortTable(), "", false
		for _, e := range entries {
			first, last, ok := parsePortReference(e)
			if !ok {
				bad, rejected = e, true
				break
			}
			if r, err := ParsePortRange(e); err != nil || r != (PortRange{uint16(first), uint16(last)}) {
				t.Fatalf("ParsePortRange(%q) = %v, %v; want %d-%d", e, r, err, first, last)
			}
			want.mark(first, last)
		}
		s, err := ParsePortSet(entries)
		switch {
		case rejected && err == nil:
			t.Fatalf("ParsePortSet(%q) = %v, want an error about %q", entries, s, bad)
		case rejected && !strings.Contains(err.Error(), strconv.Quote(bad)):
			t.Fatalf("ParsePortSet(%q): error %q does not quote the entry %q", entries, err, bad)
		case !rejected && err != nil:
			t.Fatalf("ParsePortSet(%q): %v", entries, err)
		case !rejected:
			checkPortSet(t, fmt.Sprintf("ParsePortSet(%q)", entries), s, want, want.runs())
		}
	})
}

// allowedEntries reads "tcp:22,80-90;udp;6:53;all" as a firewall's allowed list: entries
// separated by ";", each a protocol and, after ":", its ports separated by ",".
func allowedEntries(spec string) []inventory.FirewallRule {
	var out []inventory.FirewallRule
	for _, e := range strings.Split(spec, ";") {
		proto, ports, hasPorts := strings.Cut(e, ":")
		r := inventory.FirewallRule{IPProtocol: proto}
		if hasPorts {
			r.Ports = strings.Split(ports, ",")
		}
		out = append(out, r)
	}
	return out
}

// probeProtocols are the protocols every exposure is asked about, in several spellings.
var probeProtocols = []string{"tcp", "TCP", " 6 ", "udp", "17", "sctp", "132", "icmp", "1", "esp", "47", "0047", "all", "", "ipv6-icmp"}

// FuzzExposureMatchesReference: ParseAllowed and everything an Exposure answers (ports per
// protocol, all ports open, its canonical string, the SCC port categories) agree with
// tables of every port per protocol; a rejection names the entry, and the port.
func FuzzExposureMatchesReference(f *testing.F) {
	for _, s := range []string{"tcp:22", "tcp:0-1000;6:1001-65535", "udp;icmp:8;47", "TCP:20-30,443;UDP", "ALL;tcp:22",
		"sctp:22;tcp:3389", "tcp:27018;udp:11214-11215;tcp:61621", "tcp:ssh", ";tcp:22", "tcp:1-70000", "udp:,",
		"17:53;tcp:", " 6 :22", "+6:22;-1:5", "tcp:389;udp:636", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		entries := allowedEntries(spec)
		if len(entries) > 32 {
			t.Skip()
		}
		e, err := ParseAllowed(entries)
		ref := newExposureReference(entries)
		if ref.bad >= 0 {
			if err == nil {
				t.Fatalf("ParseAllowed(%q) = %v, want an error about entry %d", spec, e, ref.bad)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("entry %d ", ref.bad)) ||
				ref.portBad && !strings.Contains(err.Error(), strconv.Quote(ref.badPort)) {
				t.Fatalf("ParseAllowed(%q): error %q does not name entry %d and port %q", spec, err, ref.bad, ref.badPort)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseAllowed(%q): %v", spec, err)
		}
		if got, want := e.Protocols(), ref.protocols(); !slices.Equal(got, want) {
			t.Fatalf("ParseAllowed(%q).Protocols() = %q, want %q", spec, got, want)
		}
		for _, p := range append(slices.Clone(probeProtocols), ref.protocols()...) {
			if got, want := e.Ports(p).Ranges(), ref.ports(p); !slices.Equal(got, want) {
				t.Fatalf("ParseAllowed(%q).Ports(%q) = %v, want %v", spec, p, got, want)
			}
		}
		if e.String() != ref.text() || e.AllPortsOpen() != ref.allPortsOpen() || e.IsEmpty() != (len(ref.protocols()) == 0) {
			t.Fatalf("ParseAllowed(%q) = %q (all ports %v, empty %v), want %q (%v, %v)", spec, e, e.AllPortsOpen(), e.IsEmpty(),
				ref.text(), ref.allPortsOpen(), len(ref.protocols()) == 0)
		}
		var got []string
		for _, c := range MatchPortCategories(e) {
			got = append(got, c.Name)
		}
		if want := ref.categories(); !slices.Equal(got, want) {
			t.Fatalf("ParseAllowed(%q) reaches %q, want %q", spec, got, want)
		}
	})
}

// FuzzCoversInternetMatchesReference: for any list of ranges, CoversInternet agrees with
// probing every address where a gap in the union could start, and its world ranges are
// the input's spellings of the ranges no other range contains.
func FuzzCoversInternetMatchesReference(f *testing.F) {
	for _, s := range []string{"0.0.0.0/0", "0.0.0.0/1,128.0.0.0/1", "10.0.0.0/8,192.168.1.0/24", "::/1,8000::/1,1.2.3.4",
		"0.0.0.0/2,64.0.0.0/2,128.0.0.0/2,192.0.0.0/3,224.0.0.0/3", " 0.0.0.0/0 ,1.2.3.4/0", "::ffff:0.0.0.0/96", "x,/0",
		"0.0.0.0,0.0.0.1/32,0.0.0.2/31,0.0.0.4/30,0.0.0.8/29,0.0.0.16/28,0.0.0.32/27,0.0.0.64/26,0.0.0.128/25,0.0.1.0/24," +
			"0.0.2.0/23,0.0.4.0/22,0.0.8.0/21,0.0.16.0/20,0.0.32.0/19,0.0.64.0/18,0.0.128.0/17,0.1.0.0/16,0.2.0.0/15,0.4.0.0/14," +
			"0.8.0.0/13,0.16.0.0/12,0.32.0.0/11,0.64.0.0/10,0.128.0.0/9,1.0.0.0/8,2.0.0.0/7,4.0.0.0/6,8.0.0.0/5,16.0.0.0/4," +
			"32.0.0.0/3,64.0.0.0/2,128.0.0.0/1",
		"255.255.255.255,0.0.0.0/1,128.0.0.0/2,192.0.0.0/3,224.0.0.0/4,240.0.0.0/5,248.0.0.0/6,252.0.0.0/7,254.0.0.0/8",
		"::/0,0.0.0.0/0,::/1", "fe80::1%eth0/1,8000::/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ranges := strings.Split(list, ",")
		if len(ranges) > 64 {
			t.Skip() // the references compare every pair of ranges
		}
		world, ok := CoversInternet(ranges)
		want, wantOK := coversInternetReference(ranges)
		if ok != wantOK || !slices.Equal(world, want) {
			t.Fatalf("CoversInternet(%q) = %q, %v; want %q, %v", ranges, world, ok, want, wantOK)
		}
	})
}

// smallBits is the resolution of FuzzCoversInternetSmallSpace: it draws prefixes no
// longer than this, so that each of the 2^smallBits blocks of that length of a family is
// either inside a prefix or outside it, and enumerating the blocks is exact.
const smallBits = 12

// smallSpaceRanges reads source ranges, four bytes each: prefixes of both families up to
// smallBits long, written with host bits set or as IPv4-mapped IPv6; bare addresses,
// which can never fill a block; duplicates with spaces, and junk. It returns the masked
// prefixes of at most smallBits of each family too.
func (b *fuzzBytes) smallSpaceRanges() (ranges []string, v4, v6 []netip.Prefix) {
	for len(*b) > 0 && len(ranges) < 64 {
		kind, bits, hi, lo := b.next(), int(b.next()%(smallBits+1)), b.next(), b.next()
		var text string
		switch kind % 8 {
		case 0, 1, 2:
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{hi, lo, hi ^ lo, 0x5a}), bits)
			text = p.String()
			v4 = append(v4, p.Masked())
		case 3:
			var a [16]byte
			a[0], a[1], a[15] = hi, lo, 1
			p := netip.PrefixFrom(netip.AddrFrom16(a), bits)
			text = p.String()
			v6 = append(v6, p.Masked())
		case 4:
			p := netip.PrefixFrom(netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: hi, 13: lo}), bits)
			text = p.String() // ::ffff:a.b.c.d/n, IPv6 around ::
			v6 = append(v6, p.Masked())
		case 5:
			text = netip.AddrFrom4([4]byte{hi, lo, 1, 2}).String()
		case 6:
			text = netip.AddrFrom16([16]byte{0: hi, 1: lo, 15: 2}).String()
		default:
			if len(ranges) > 0 && lo%2 == 0 {
				text = " " + ranges[hi%uint8(len(ranges))] + "\t" // the same range spelt again
			} else {
				text = "junk/" + strconv.Itoa(int(hi))
			}
		}
		ranges = append(ranges, text)
	}
	return ranges, v4, v6
}

// blocksCoverFamily marks, for each prefix of one family no longer than smallBits, the
// blocks of length smallBits it holds, and reports whether every block is marked.
func blocksCoverFamily(ps []netip.Prefix) bool {
	if len(ps) == 0 {
		return false
	}
	var marked [1 << smallBits]bool
	for _, p := range ps {
		first := int(binary.BigEndian.Uint16(p.Addr().AsSlice()) >> (16 - smallBits))
		for blk := first; blk < first+1<<(smallBits-p.Bits()); blk++ {
			marked[blk] = true
		}
	}
	return !slices.Contains(marked[:], false)
}

// FuzzCoversInternetSmallSpace: over prefixes short enough to enumerate the blocks of
// each family, CoversInternet agrees with the enumeration and its world ranges are the
// input's spellings of the ranges no other range contains.
func FuzzCoversInternetSmallSpace(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})                                                  // 0.0.0.0/0
	f.Add([]byte{0, 1, 0, 0, 1, 1, 0x80, 0})                                   // the two IPv4 halves
	f.Add([]byte{3, 1, 0, 0, 3, 1, 0x80, 0, 4, 1, 0, 0, 7, 0, 0, 0})           // the IPv6 halves, ::ffff:0.0.0.0/1 again
	f.Add([]byte{0, 2, 0, 0, 0, 2, 0x40, 0, 0, 2, 0x80, 0, 0, 3, 0xc0, 0})     // a quarter short of a /3
	f.Add([]byte{0, 1, 0, 0, 5, 0, 0x80, 1, 0, 2, 0x80, 0, 0, 2, 0xc0, 0})     // a bare address does not fill the gap
	f.Add([]byte{0, 12, 0xff, 0xf0, 0, 1, 0, 0, 0, 2, 0x80, 0, 0, 3, 0xc0, 0}) // the top /12 but a gap below it
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		ranges, v4, v6 := b.smallSpaceRanges()
		covered4, covered6 := blocksCoverFamily(v4), blocksCoverFamily(v6)
		world, ok := CoversInternet(ranges)
		if ok != (covered4 || covered6) {
			t.Fatalf("CoversInternet(%q) = %v; the blocks say IPv4 %v, IPv6 %v", ranges, ok, covered4, covered6)
		}
		var want []string
		if ok {
			want = worldReference(parseSourceRanges(ranges), covered4, covered6)
		}
		if !slices.Equal(world, want) {
			t.Fatalf("CoversInternet(%q) world = %q, want %q", ranges, world, want)
		}
		if probed, probedOK := coversInternetReference(ranges); probedOK != ok || !reflect.DeepEqual(probed, want) {
			t.Fatalf("the references disagree on %q: probing says %q, %v", ranges, probed, probedOK)
		}
	})
}
