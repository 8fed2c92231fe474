package remediators_test

import (
	"errors"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/remediators"
)

// hostileSegments are path segments a hostile or corrupt asset name may hold: a traversal,
// an escaped one, a newline, markup, a query or fragment, a space.
var hostileSegments = []string{"..", ".", "%2e%2e", "a\nb", "<img src=x onerror=alert(1)>", "a?alt=media", "a#b", "a b", "A"}

// hostileNames returns, for an action's asset type, full resource names whose every part
// in turn is hostile.
func hostileNames(assetType string) []string {
	var out []string
	for _, s := range hostileSegments {
		switch assetType {
		case inventory.TypeFirewall:
			out = append(out, firewallName(prodProject, s), firewallName(s, "allow-ssh"))
		case inventory.TypeNetwork:
			out = append(out, networkName(prodProject, s), networkName(s, "default"))
		case inventory.TypeSubnetwork:
			out = append(out, "//compute.googleapis.com/projects/"+prodProject+"/regions/europe-west4/subnetworks/"+s,
				"//compute.googleapis.com/projects/"+prodProject+"/regions/"+s+"/subnetworks/default")
		case inventory.TypeInstance:
			out = append(out, "//compute.googleapis.com/projects/"+prodProject+"/zones/europe-west4-a/instances/"+s,
				"//compute.googleapis.com/projects/"+prodProject+"/zones/"+s+"/instances/web-1",
				"//compute.googleapis.com/projects/"+s) // the project's metadata, which compute.setMetadata also sets
		case inventory.TypeProject:
			out = append(out, "//cloudresourcemanager.googleapis.com/projects/"+s, "//cloudresourcemanager.googleapis.com/folders/"+s,
				"//cloudresourcemanager.googleapis.com/organizations/"+s)
		case inventory.TypeServiceAccountKey:
			out = append(out, keyName(s, "0123456789abcdef"), keyName("ci@acme-prod.iam.gserviceaccount.com", s),
				"//iam.googleapis.com/projects/"+s+"/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com/keys/0123456789abcdef")
		}
	}
	return out
}

// A resource name no Google API could have given is refused before any request is made,
// by every action: the client would otherwise put it in a URL, where ".." or a "?" steers
// the request elsewhere.
func TestHostileResourceNamesNeverReachTheAPI(t *testing.T) {
	e := newEnv(t)
	calls := func() int {
		n := 0
		for _, c := range e.srv.Calls() {
			n += c.Count
		}
		return n
	}
	for _, name := range e.reg.Names() {
		a := e.reg[name]
		names := hostileNames(a.AssetType())
		if len(names) == 0 {
			t.Errorf("%s: no hostile names for its asset type %s", name, a.AssetType())
		}
		for _, resource := range names {
			before := calls()
			_, err := a.Snapshot(e.ctx, resource)
			if !errors.Is(err, remediators.ErrInvalidRequest) {
				t.Errorf("%s of %q: %v, want ErrInvalidRequest", name, resource, err)
			}
			if n := calls() - before; n != 0 {
				t.Errorf("%s of %q made %d calls", name, resource, n)
			}
		}
	}
}
