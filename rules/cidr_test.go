package rules

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func TestParseSourceRange(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" when it must not parse
	}{
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{" 192.168.1.1 ", "192.168.1.1/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::/0", "::/0"},
		{"8000::/1", "8000::/1"},
		{"fe80::1%eth0", ""},
		{"0.0.0.0/33", ""},
		{"10.0.0.0/-1", ""},
		{"everything", ""},
		{"", ""},
	}
	for _, tc := range cases {
		p, ok := ParseSourceRange(tc.in)
		got := ""
		if ok {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("ParseSourceRange(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCoversInternet(t *testing.T) {
	// ladder covers all of IPv4 but 0.0.0.0: 0.0.0.1/32, 0.0.0.2/31, ..., 128.0.0.0/1.
	var ladder []string
	for bits := 32; bits >= 1; bits-- {
		start := uint32(1) << (32 - bits)
		a := netip.AddrFrom4([4]byte{byte(start >> 24), byte(start >> 16), byte(start >> 8), byte(start)})
		ladder = append(ladder, netip.PrefixFrom(a, bits).String())
	}
	filled := append([]string{"0.0.0.0"}, ladder...) // every range is needed
	cases := []struct {
		name   string
		ranges []string
		world  []string // nil when not covering
	}{
		{"nothing", nil, nil},
		{"IPv4 whole", []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}},
		{"IPv6 whole", []string{"::/0"}, []string{"::/0"}},
		{"both families", []string{"::/0", "0.0.0.0/0"}, []string{"0.0.0.0/0", "::/0"}},
		{"IPv4 halves", []string{"128.0.0.0/1", "0.0.0.0/1"}, []string{"0.0.0.0/1", "128.0.0.0/1"}},
		{"IPv6 halves", []string{"8000::/1", "::/1"}, []string{"::/1", "8000::/1"}},
		{"uneven tiling", []string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"}, []string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"}},
		{"overlapping halves", []string{"0.0.0.0/1", "64.0.0.0/2", "128.0.0.0/1"}, []string{"0.0.0.0/1", "128.0.0.0/1"}},
		{"non-canonical spelling kept", []string{"1.2.3.4/0"}, []string{"1.2.3.4/0"}},
		{"duplicates listed once", []string{"0.0.0.0/0", "0.0.0.0/0", " 0.0.0.0/0"}, []string{"0.0.0.0/0"}},
		{"covered IPv4, partial IPv6", []string{"0.0.0.0/0", "2001:db8::/32"}, []string{"0.0.0.0/0"}},
		{"half IPv4", []string{"0.0.0.0/1"}, nil},
		{"IPv4 halves but one is IPv6", []string{"0.0.0.0/1", "8000::/1"}, nil},
		{"private ranges", []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}, nil},
		{"IAP", []string{"35.235.240.0/20"}, nil},
		{"gap at the top", []string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3"}, nil},
		{"gap at the bottom", ladder, nil},
		{"gap at the bottom filled by a bare address", filled, filled},
		{"garbage ignored", []string{"x", "0.0.0.0/1", "", "128.0.0.0/1", "300.0.0.0/1"}, []string{"0.0.0.0/1", "128.0.0.0/1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			world, ok := CoversInternet(tc.ranges)
			if ok != (tc.world != nil) || !slices.Equal(world, tc.world) {
				t.Errorf("CoversInternet(%q) = %q, %v; want %q, %v", tc.ranges, world, ok, tc.world, tc.world != nil)
			}
		})
	}
}

// bruteBits is the block length of the brute-force CIDR test: 2^6 blocks per family.
const bruteBits = 6

// TestCoversInternetBruteForce compares CoversInternet with enumeration. Prefixes are drawn
// no longer than bruteBits, so each block of that length is either inside a prefix or
// disjoint from it, and the family is covered exactly when every block's first address lies
// in some prefix. Bare addresses (one /32 or /128 each) are thrown in; a handful of them can
// never complete a block of 2^26 addresses, so the oracle stays exact.
func TestCoversInternetBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	covered := 0
	const iterations = 3000
	for range iterations {
		var ranges []string
		var v4, v6 []netip.Prefix
		add := func(p netip.Prefix) {
			if p.Addr().Is4() {
				v4 = append(v4, p)
			} else {
				v6 = append(v6, p)
			}
			ranges = append(ranges, p.String())
		}
		for range rng.IntN(9) {
			bits := 32
			if rng.IntN(2) == 0 {
				bits = 128
			}
			add(randomPrefix(rng, bits, bruteBits))
		}
		// Tilings of a whole family cover it, and most interestingly miss by one piece,
		// which the random prefixes above may or may not fill.
		for _, fam := range []struct{ bits, chance int }{{32, 2}, {128, 4}} {
			if rng.IntN(fam.chance) != 0 {
				continue
			}
			pieces := tiling(rng, fam.bits, bruteBits)
			if rng.IntN(2) == 0 {
				i := rng.IntN(len(pieces))
				pieces = slices.Delete(pieces, i, i+1)
			}
			for _, p := range pieces {
				add(p)
			}
		}
		if rng.IntN(20) == 0 {
			add(netip.MustParsePrefix("0.0.0.0/0"))
		}
		if rng.IntN(3) == 0 {
			ranges = append(ranges, "192.0.2.7", "2001:db8::7", "junk")
		}
		rng.Shuffle(len(ranges), func(i, j int) { ranges[i], ranges[j] = ranges[j], ranges[i] })

		want4, want6 := blocksCovered(v4, 32, bruteBits), blocksCovered(v6, 128, bruteBits)
		world, ok := CoversInternet(ranges)
		if ok != (want4 || want6) {
			t.Fatalf("CoversInternet(%q) = %v, enumeration says IPv4 %v, IPv6 %v", ranges, ok, want4, want6)
		}
		if !ok {
			continue
		}
		covered++
		checkWorldIsMinimalCover(t, ranges, world, want4, want6)
	}
	// The generator must exercise both answers, or the comparison proves little.
	if covered < iterations/10 || covered > iterations*9/10 {
		t.Errorf("%d of %d random inputs cover the internet; rebalance the generator", covered, iterations)
	}
	t.Logf("%d of %d random inputs cover the internet", covered, iterations)
}

// checkWorldIsMinimalCover checks CoversInternet's world ranges: taken from the input,
// covering the same families, and each one needed.
func checkWorldIsMinimalCover(t *testing.T, ranges, world []string, want4, want6 bool) {
	t.Helper()
	for _, w := range world {
		if !slices.Contains(ranges, w) {
			t.Fatalf("world range %q is not in the input %q", w, ranges)
		}
	}
	var w4, w6 []netip.Prefix
	for _, w := range world {
		p, _ := ParseSourceRange(w)
		if p.Addr().Is4() {
			w4 = append(w4, p)
		} else {
			w6 = append(w6, p)
		}
	}
	if (len(w4) > 0) != want4 || (len(w6) > 0) != want6 {
		t.Fatalf("world %q for input %q: want IPv4 %v, IPv6 %v", world, ranges, want4, want6)
	}
	for _, fam := range [][]netip.Prefix{w4, w6} {
		if len(fam) == 0 {
			continue
		}
		bits := fam[0].Addr().BitLen()
		if !blocksCovered(fam, bits, bruteBits) {
			t.Fatalf("world %q does not cover its family", world)
		}
		for i := range fam {
			without := slices.Delete(slices.Clone(fam), i, i+1)
			if blocksCovered(without, bits, bruteBits) {
				t.Fatalf("world %q: %s is not needed", world, fam[i])
			}
		}
	}
}

// randomPrefix draws a masked prefix of a family (bits 32 or 128), 1 to maxLen long.
func randomPrefix(rng *rand.Rand, bits, maxLen int) netip.Prefix {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	var a netip.Addr
	if bits == 32 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16(b)
	}
	p, err := a.Prefix(1 + rng.IntN(maxLen))
	if err != nil {
		panic(err)
	}
	return p
}

// tiling splits a whole family into disjoint prefixes at most maxLen long, by random
// halving.
func tiling(rng *rand.Rand, bits, maxLen int) []netip.Prefix {
	zero := netip.IPv4Unspecified()
	if bits == 128 {
		zero = netip.IPv6Unspecified()
	}
	var out []netip.Prefix
	var split func(p netip.Prefix)
	split = func(p netip.Prefix) {
		if p.Bits() == maxLen || rng.IntN(3) == 0 {
			out = append(out, p)
			return
		}
		lo := netip.PrefixFrom(p.Addr(), p.Bits()+1)
		hi := netip.PrefixFrom(lastAddr(lo).Next(), p.Bits()+1)
		split(lo)
		split(hi)
	}
	split(netip.PrefixFrom(zero, 0))
	return out
}

// blocksCovered reports whether every block of length l of the family lies in one of ps.
func blocksCovered(ps []netip.Prefix, bits, l int) bool {
	for blk := range 1 << l {
		var b [16]byte
		// The block number is the top l bits of the address.
		b[0] = byte(blk << (8 - l))
		var first netip.Addr
		if bits == 32 {
			first = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			first = netip.AddrFrom16(b)
		}
		in := false
		for _, p := range ps {
			if p.Bits() <= l && p.Contains(first) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

func TestLastAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0/0":      "255.255.255.255",
		"10.0.0.0/8":     "10.255.255.255",
		"192.0.2.7/32":   "192.0.2.7",
		"::/0":           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db8::/32":  "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db8::/127": "2001:db8::1",
	} {
		if got := lastAddr(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

func ExampleCoversInternet() {
	world, ok := CoversInternet([]string{"10.0.0.0/8", "128.0.0.0/1", "0.0.0.0/1"})
	fmt.Println(world, ok)
	_, ok = CoversInternet([]string{"35.235.240.0/20"})
	fmt.Println(ok)
	// Output:
	// [0.0.0.0/1 128.0.0.0/1] true
	// false
}
