package rules

// Default returns zerodrift's built-in rules, each a fresh value the caller owns.
func Default() []Rule {
	rs := []Rule{
		newFirewallOpenIngress(),
		newNetworkDefault(),
		newNetworkLegacy(),
		newSAAdminRole(),
		newSAUserProjectLevel(),
		newSAUserManagedKey(),
		newSAKeyNotRotated(),
		newIAMPublicMember(),
	}
	rs = append(rs, monitoringRules()...)
	rs = append(rs, segmentationRules()...)
	rs = append(rs, computeRules()...)
	rs = append(rs, identityRules()...)
	return rs
}

// ByID indexes rules by their Meta().ID, leaving out nil entries. Should two rules share an ID, the later one wins;
// Default never has duplicates.
func ByID(rs []Rule) map[string]Rule {
	m := make(map[string]Rule, len(rs))
	for _, r := range rs {
		if r == nil {
			continue
		}
		m[r.Meta().ID] = r
	}
	return m
}
