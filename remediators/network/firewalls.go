package network

import (
	"fmt"
	"maps"
	"slices"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/remediators/firewall"
)

// Who made a firewall rule that goes with the default network.
const (
	madeByGoogle    = "google"
	madeByZerodrift = "zerodrift"
)

// madeBy says who made a rule on the default network that is deleted with it and re-created
// by Restore: Google (one of DefaultFirewalls, by name) or zerodrift (a rule one of its
// firewall actions created and still only denying: firewall.MadeByZerodrift). Any other
// rule returns "": it is a dependent that blocks the deletion, even when its description
// mentions zerodrift.
func madeBy(fw *computepb.Firewall) string {
	switch {
	case slices.Contains(DefaultFirewalls(), fw.GetName()):
		return madeByGoogle
	case firewall.MadeByZerodrift(fw):
		return madeByZerodrift
	}
	return ""
}

// checkGoesWithNetwork fails unless every rule of a snapshot is on network n and one that
// goes with it (madeBy): Plan and Apply delete only such rules, whatever the snapshot holds.
func checkGoesWithNetwork(n netRef, fws map[string]*computepb.Firewall) error {
	for _, full := range slices.Sorted(maps.Keys(fws)) {
		fw := fws[full]
		if !n.is(fw.GetNetwork()) || madeBy(fw) == "" {
			return fmt.Errorf("%w: the snapshot of network %s holds firewall %s, which is neither a default rule of the network "+
				"nor one zerodrift created on it: not deleting it", remediators.ErrInvalidRequest, n, full)
		}
	}
	return nil
}
