package rules

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// This file answers one question about firewall source ranges: do they, together, let in
// the whole internet? A single 0.0.0.0/0 obviously does, but so do 0.0.0.0/1 plus
// 128.0.0.0/1, or ::/1 plus 8000::/1, and a rule written that way is just as open.

// ParseSourceRange reads one firewall source range: a CIDR such as "10.0.0.0/8" or a bare
// address, which stands for itself alone (/32 for IPv4, /128 for IPv6). Surrounding spaces
// are ignored and host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8). It reports false for
// anything else, including addresses with an IPv6 zone.
func ParseSourceRange(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// CoversInternet reports whether ranges, taken together, contain every IPv4 address or every
// IPv6 address. Unparseable ranges are ignored.
//
// When ok, world holds the ranges that make the union whole, as spelled in the input and in
// address order (IPv4 first): for each fully covered address family, the ranges not
// contained in another range of the input. Those are pairwise disjoint, so each one is needed,
// and together they are the smallest subset of the input that still covers the family.
// Ranges nested inside them (10.0.0.0/8 next to 0.0.0.0/0) and ranges of a family that is not
// fully covered are left out; a range written twice in different spellings ("0.0.0.0/0" and
// "1.2.3.4/0") is listed in each, so that removing the world ranges removes them all.
func CoversInternet(ranges []string) (world []string, ok bool) {
	if !mayCoverFamily(ranges) {
		return nil, false
	}
	type parsed struct {
		text   string
		prefix netip.Prefix
	}
	var all []parsed
	var v4, v6 []netip.Prefix
	for _, r := range ranges {
		p, ok := ParseSourceRange(r)
		if !ok {
			continue
		}
		all = append(all, parsed{strings.TrimSpace(r), p})
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}

	cover := append(familyCover(v4, netip.IPv4Unspecified()), familyCover(v6, netip.IPv6Unspecified())...)
	if len(cover) == 0 {
		return nil, false
	}
	slices.SortFunc(all, func(a, b parsed) int {
		return cmp.Or(comparePrefixes(a.prefix, b.prefix), strings.Compare(a.text, b.text))
	})
	for _, p := range all {
		if slices.Contains(cover, p.prefix) && !slices.Contains(world, p.text) {
			world = append(world, p.text)
		}
	}
	return world, true
}

// mayCoverFamily is a quick necessary condition for CoversInternet: prefixes can cover a
// family only if their sizes add up to at least the family's, that is if the fractions of
// the address space they take (2^-bits each) sum to 1 or more. The sums are kept in
// floating point, exact enough to tell a sum below 1/2 (most rules: a few private ranges),
// so the full computation runs only for ranges that come close.
func mayCoverFamily(ranges []string) bool {
	var v4, v6 float64
	for _, r := range ranges {
		p, ok := ParseSourceRange(r)
		if !ok {
			continue
		}
		if f := math.Ldexp(1, -p.Bits()); p.Addr().Is4() {
			v4 += f
		} else {
			v6 += f
		}
	}
	return v4 >= 0.5 || v6 >= 0.5
}

// familyCover returns the maximal prefixes of one address family (whose first address is
// zero) when their union is the whole family, and nil otherwise. All prefixes must be of
// that family and masked.
func familyCover(prefixes []netip.Prefix, zero netip.Addr) []netip.Prefix {
	if len(prefixes) == 0 {
		return nil
	}
	sorted := slices.Clone(prefixes)
	slices.SortFunc(sorted, comparePrefixes)

	// In address order, shorter prefixes first, a prefix nested in another comes after it,
	// and only the last maximal prefix kept can contain it: the earlier ones, being disjoint
	// from it, end before it starts.
	var maximal []netip.Prefix
	for _, p := range sorted {
		if n := len(maximal); n > 0 && maximal[n-1].Contains(p.Addr()) {
			continue
		}
		maximal = append(maximal, p)
	}

	// Disjoint and sorted: the union is the whole family exactly when each prefix starts
	// right after the previous one ends, the first at zero and the last at the top.
	next := zero
	for _, p := range maximal {
		if !next.IsValid() || p.Addr() != next {
			return nil
		}
		next = lastAddr(p).Next() // the zero Addr after the family's top address
	}
	if next.IsValid() {
		return nil
	}
	return maximal
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	b := a.As16()
	hostFrom := p.Bits()
	if a.Is4() {
		hostFrom += 96 // an IPv4 address sits in the last 4 bytes of As16
	}
	for i := hostFrom; i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last := netip.AddrFrom16(b)
	if a.Is4() {
		return last.Unmap()
	}
	return last
}

// comparePrefixes orders prefixes by family (IPv4 first), then address, then length
// (shorter first).
func comparePrefixes(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
