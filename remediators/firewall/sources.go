package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/rules"
)

// planRestrictSources plans firewall.restrictSources on fw.
func planRestrictSources(fw *computepb.Firewall, req remediators.Request) (*computepb.Firewall, string, error) {
	trusted, err := trustedRanges(req)
	if err != nil {
		return nil, "", err
	}
	if why := whyClosed(fw, false); why != "" {
		return nil, "", fmt.Errorf("the rule admits nothing from the internet: %s: %w", why, remediators.ErrNothingToDo)
	}
	_, implied, _ := rules.WorldSources(toInventory(fw))
	after, err := restrictRanges(fw.GetSourceRanges(), implied, trusted)
	if err != nil {
		return nil, "", err
	}
	summary := fmt.Sprintf("sourceRanges %s → %s", rangesText(fw.GetSourceRanges()), rangesText(after))
	return &computepb.Firewall{SourceRanges: after}, summary, nil
}

func rangesText(rs []string) string { return "[" + strings.Join(rs, ", ") + "]" }

// trustedRanges reads and checks Params["ranges"]: at least one range, each a CIDR or an
// address, and not, together, the whole internet.
func trustedRanges(req remediators.Request) ([]netip.Prefix, error) {
	raw, err := req.ParamStrings("ranges")
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: params.ranges, the trusted source ranges, is required", remediators.ErrInvalidRequest)
	}
	var out []netip.Prefix
	for _, s := range raw {
		p, ok := rules.ParseSourceRange(s)
		if !ok {
			return nil, fmt.Errorf("%w: params.ranges: %q is not a CIDR range", remediators.ErrInvalidRequest, s)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	texts := make([]string, len(out))
	for i, p := range out {
		texts[i] = p.String()
	}
	if world, ok := rules.CoversInternet(texts); ok {
		return nil, fmt.Errorf("%w: params.ranges %v cover the whole internet (through %v): they trust everyone",
			remediators.ErrInvalidRequest, raw, world)
	}
	return out, nil
}

// restrictRanges computes a rule's new source ranges: current without every range that
// makes it reach the internet (repeatedly: 0.0.0.0/1 and 128.0.0.0/1 may still cover it
// once 0.0.0.0/0 is gone), the other ranges kept in order, and the trusted ranges added,
// those already there left out. implied says the rule has no source at all, which the
// Compute API reads as 0.0.0.0/0. Only trusted ranges of the rule's own address family are
// added, since a rule cannot hold both IPv4 and IPv6 ranges.
func restrictRanges(current []string, implied bool, trusted []netip.Prefix) ([]string, error) {
	families := map[bool]bool{} // Is4 → the rule has sources of that family
	if implied {
		families[true] = true
	}
	for _, r := range current {
		if p, ok := rules.ParseSourceRange(r); ok {
			families[p.Addr().Is4()] = true
		}
	}
	kept := slices.Clone(current)
	for {
		world, ok := rules.CoversInternet(kept)
		if !ok {
			break
		}
		kept = slices.DeleteFunc(kept, func(r string) bool { return slices.Contains(world, strings.TrimSpace(r)) })
	}
	have := map[netip.Prefix]bool{}
	for _, r := range kept {
		if p, ok := rules.ParseSourceRange(r); ok {
			have[p] = true
		}
	}
	out := kept
	var skipped []string
	for _, t := range trusted {
		switch {
		case !families[t.Addr().Is4()]:
			skipped = append(skipped, t.String())
		case !have[t]:
			have[t] = true
			out = append(out, t.String())
		}
	}
	if len(out) == 0 {
		return nil, &remediators.RefusedError{Reason: fmt.Sprintf(
			"no trusted range is of the rule's address family (%s), and a rule cannot mix IPv4 and IPv6 ranges: "+
				"left without sources it would be open to the whole internet again (trusted ranges %v); "+
				"disable the rule or configure a trusted range of its family", familyNames(families), skipped)}
	}
	if fams := rangeFamilies(out); len(fams) > 1 {
		return nil, &remediators.RefusedError{Reason: fmt.Sprintf(
			"the rule's sources would mix IPv4 and IPv6 ranges (%v), which the Compute API refuses; split the rule first", out)}
	}
	if world, ok := rules.CoversInternet(out); ok {
		return nil, &remediators.RefusedError{Reason: fmt.Sprintf(
			"the kept and trusted ranges %v together still cover the whole internet (through %v)", out, world)}
	}
	return out, nil
}

func rangeFamilies(rs []string) map[bool]bool {
	out := map[bool]bool{}
	for _, r := range rs {
		if p, ok := rules.ParseSourceRange(r); ok {
			out[p.Addr().Is4()] = true
		}
	}
	return out
}

func familyNames(f map[bool]bool) string {
	var names []string
	if f[true] {
		names = append(names, "IPv4")
	}
	if f[false] {
		names = append(names, "IPv6")
	}
	return strings.Join(names, " and ")
}
