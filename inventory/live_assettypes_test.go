package inventory_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
	"github.com/zerodrift/zerodrift/scan"
)

// Every call a live scan makes for each project, by service and method as the sandbox
// names them.
const (
	callPolicy      = "cloudresourcemanager projects.getIamPolicy"
	callComputeProj = "compute projects.get"
	callFirewalls   = "compute firewalls.list"
	callNetworks    = "compute networks.list"
	callSubnetworks = "compute subnetworks.aggregatedList"
	callInstances   = "compute instances.aggregatedList"
	callAccounts    = "iam projects.serviceAccounts.list"
	callKeys        = "iam projects.serviceAccounts.keys.list"
)

// projectCalls keeps the calls made for each project: it leaves out those that find the
// projects (projects.search, projects.get) and read their folders and organization, which
// every scan makes whatever asset types it asks for.
func projectCalls(calls map[string]int) map[string]int {
	out := map[string]int{}
	for m, n := range calls {
		if strings.HasPrefix(m, "cloudresourcemanager ") && m != callPolicy {
			continue
		}
		out[m] = n
	}
	return out
}

// hierarchyCalls counts the calls projectCalls leaves out.
func hierarchyCalls(calls map[string]int) int {
	n := 0
	for m, c := range calls {
		if strings.HasPrefix(m, "cloudresourcemanager ") && m != callPolicy {
			n += c
		}
	}
	return n
}

// rulesReadingOnly returns the default rules that read no asset type but those of types.
func rulesReadingOnly(types ...string) []rules.Rule {
	return slices.DeleteFunc(rules.Default(), func(r rules.Rule) bool {
		return slices.ContainsFunc(r.Meta().AssetTypes, func(t string) bool { return !slices.Contains(types, t) })
	})
}

// hierarchy are the asset types a live scan reads whatever it is asked for.
var hierarchy = []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization}

// The live source makes, for each project, only the calls the asset types asked for need:
// getIamPolicy always, the rest by type, and all of them when none is given or the default
// rules' types are. It hands on the types asked for and the hierarchy, nothing else.
func TestLiveCallsOnlyWhatTheAssetTypesNeed(t *testing.T) {
	sc := withComputeProject(t, liveScenario(t, 3, 2, ""))
	srv, url := startScaled(t, sc, 0, &callClock{})
	_, accounts, _, _ := scenarioCounts(sc)
	everything := map[string]int{callPolicy: 1, callComputeProj: 1, callFirewalls: 1, callNetworks: 1, callSubnetworks: 1,
		callInstances: 1, callAccounts: 1, callKeys: accounts}
	every := slices.Concat(hierarchy, []string{inventory.TypeComputeProject, inventory.TypeFirewall, inventory.TypeNetwork,
		inventory.TypeSubnetwork, inventory.TypeInstance, inventory.TypeServiceAccount, inventory.TypeServiceAccountKey})
	for _, tc := range []struct {
		name       string
		assetTypes []string
		calls      map[string]int
		types      []string // the types handed on, hierarchy included
	}{
		{"everything", nil, everything, every},
		{"default rules", ruleTypes(), everything, every},
		{"firewalls and networks", []string{inventory.TypeProject, inventory.TypeFirewall, inventory.TypeNetwork},
			map[string]int{callPolicy: 1, callFirewalls: 1, callNetworks: 1},
			slices.Concat(hierarchy, []string{inventory.TypeFirewall, inventory.TypeNetwork})},
		{"instances and compute settings", []string{inventory.TypeInstance, inventory.TypeComputeProject},
			map[string]int{callPolicy: 1, callComputeProj: 1, callInstances: 1},
			slices.Concat(hierarchy, []string{inventory.TypeComputeProject, inventory.TypeInstance})},
		{"subnetworks", []string{inventory.TypeSubnetwork},
			map[string]int{callPolicy: 1, callSubnetworks: 1},
			slices.Concat(hierarchy, []string{inventory.TypeSubnetwork})},
		// Keys are listed through their accounts, which are handed on too.
		{"keys", []string{inventory.TypeServiceAccountKey},
			map[string]int{callPolicy: 1, callAccounts: 1, callKeys: accounts},
			slices.Concat(hierarchy, []string{inventory.TypeServiceAccount, inventory.TypeServiceAccountKey})},
		{"service accounts", []string{inventory.TypeServiceAccount},
			map[string]int{callPolicy: 1, callAccounts: 1},
			slices.Concat(hierarchy, []string{inventory.TypeServiceAccount})},
		{"projects", []string{inventory.TypeProject}, map[string]int{callPolicy: 1}, hierarchy},
		// A type the live source does not read costs nothing.
		{"folders", []string{inventory.TypeFolder}, map[string]int{callPolicy: 1}, hierarchy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, AssetTypes: tc.assetTypes}, zap.NewNop())
			if len(res.errs) != 0 || res.failed != 0 {
				t.Fatalf("%d calls failed; source errors %v", res.failed, res.errs)
			}
			if got := projectCalls(res.calls); !maps.Equal(got, tc.calls) {
				t.Errorf("calls for p1 %v, want %v", got, tc.calls)
			}
			if got := hierarchyCalls(res.calls); got != 5 {
				t.Errorf("%d calls found p1 and read its folder and organization, want 5 (a get, and a get and a policy each): %v",
					got, res.calls)
			}
			if got := slices.Sorted(maps.Keys(res.byType)); !slices.Equal(got, slices.Sorted(slices.Values(tc.types))) {
				t.Errorf("assets of types %v, want %v", got, slices.Sorted(slices.Values(tc.types)))
			}
			if res.byType[inventory.TypeProject] != 1 {
				t.Errorf("%d projects read, want 1", res.byType[inventory.TypeProject])
			}
		})
	}
}

// The assets of the types asked for are those a full scan reads, in the same order.
func TestLiveReadsTheAskedTypesAsAFullScanDoes(t *testing.T) {
	sc := withComputeProject(t, liveScenario(t, 5, 3, ""))
	srv, url := startScaled(t, sc, 0, &callClock{})
	names := func(assetTypes []string, keep func(string) bool) []string {
		live, err := inventory.NewLive(t.Context(), inventory.LiveConfig{Endpoint: url, AssetTypes: assetTypes}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		var out []string
		errs, err := live.Scan(t.Context(), srv.Projects(), func(a *inventory.Asset) error {
			if keep(a.AssetType) {
				out = append(out, a.AssetType+" "+a.Name+" "+string(a.Resource.Data))
			}
			return nil
		})
		if err != nil || len(errs) != 0 {
			t.Fatalf("scan: %v, errors %v", err, errs)
		}
		return out
	}
	asked := []string{inventory.TypeProject, inventory.TypeComputeProject, inventory.TypeNetwork, inventory.TypeInstance}
	keep := func(typ string) bool { return slices.Contains(asked, typ) }
	full := names(nil, keep)
	part := names(asked, func(typ string) bool { return typ != inventory.TypeFolder && typ != inventory.TypeOrganization })
	if !slices.Equal(full, part) || len(full) != 4 {
		t.Errorf("asked for %v, read\n%v\nwhere a full scan reads\n%v", asked, part, full)
	}
}

// When the Compute API is disabled, the first compute call the asset types need is the only
// one made, and its failure the only compute error: firewalls when they are asked for,
// else the compute settings, else the first list.
func TestLiveFirstComputeCallStandsForTheAPI(t *testing.T) {
	sc := withComputeProject(t, liveScenario(t, 3, 2, "disabledServices:\n  p1: [compute.googleapis.com]\n"))
	srv, url := startScaled(t, sc, 0, &callClock{})
	for _, tc := range []struct {
		assetTypes []string
		call, what string // the one compute call, and the resource its SourceError names
	}{
		{nil, callFirewalls, "firewalls"},
		{[]string{inventory.TypeInstance, inventory.TypeComputeProject, inventory.TypeFirewall}, callFirewalls, "firewalls"},
		{[]string{inventory.TypeInstance, inventory.TypeComputeProject}, callComputeProj, "project"},
		{[]string{inventory.TypeSubnetwork, inventory.TypeNetwork, inventory.TypeInstance}, callNetworks, "networks"},
		{[]string{inventory.TypeInstance}, callInstances, "aggregated instances"},
	} {
		res := liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, AssetTypes: tc.assetTypes}, zap.NewNop())
		var compute []string
		for _, c := range srv.Calls() {
			if c.Service == inventory.ServiceCompute {
				compute = append(compute, c.Service+" "+c.Method+" "+http.StatusText(c.Status))
			}
		}
		if want := []string{tc.call + " Forbidden"}; !slices.Equal(compute, want) {
			t.Errorf("%v: compute calls %v, want %v", tc.assetTypes, compute, want)
		}
		if len(res.errs) != 1 || res.errs[0].Service != inventory.ServiceCompute || res.errs[0].Resource != tc.what ||
			res.errs[0].Code != http.StatusForbidden {
			t.Errorf("%v: source errors %+v, want one compute 403 on %s", tc.assetTypes, res.errs, tc.what)
		}
		if res.byType[inventory.TypeProject] != 1 {
			t.Errorf("%v: the project was not read: %v", tc.assetTypes, res.byType)
		}
	}
}

// A scan says once which calls and services it skips, and says nothing when it skips none.
func TestLiveLogsTheCallsItSkips(t *testing.T) {
	srv, url := startScaled(t, liveScenario(t, 3, 2, ""), 0, &callClock{})
	skipLogs := func(assetTypes []string) []observer.LoggedEntry {
		core, logs := observer.New(zap.DebugLevel)
		liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, AssetTypes: assetTypes}, zap.New(core))
		return logs.FilterMessageSnippet("skips").AllUntimed()
	}
	if got := skipLogs(nil); len(got) != 0 {
		t.Errorf("a scan of everything logged skips: %v", got)
	}
	got := skipLogs([]string{inventory.TypeProject, inventory.TypeFirewall, inventory.TypeNetwork})
	if len(got) != 1 {
		t.Fatalf("%d logs of skipped calls, want 1: %v", len(got), got)
	}
	fields := got[0].ContextMap()
	wantCalls := []any{callComputeProj, callSubnetworks, callInstances, callAccounts, callKeys}
	if calls, _ := fields["skippedCalls"].([]any); !slices.Equal(calls, wantCalls) {
		t.Errorf("skippedCalls %v, want %v", fields["skippedCalls"], wantCalls)
	}
	if svcs, _ := fields["skippedServices"].([]any); !slices.Equal(svcs, []any{inventory.ServiceIAM}) {
		t.Errorf("skippedServices %v, want [iam]", fields["skippedServices"])
	}
}

// On a synthetic organisation, the default rules cost 7 calls per project and a key list
// per service account, as ever; without the rules that read instances, compute settings,
// subnetworks and keys (CIS section 4, OS Login, key age), 3: the project's policy, its
// firewalls and its networks.
func TestLiveCallsPerProjectFollowTheEnabledRules(t *testing.T) {
	sc := sandbox.SyntheticScenario(40, 3)
	projects, accounts, _, nodes := scenarioCounts(sc)
	srv, url := startScaled(t, sc, 0, &callClock{})
	reduced := rulesReadingOnly(inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization,
		inventory.TypeFirewall, inventory.TypeNetwork)
	if len(reduced) == 0 || len(reduced) == len(rules.Default()) {
		t.Fatalf("%d of %d default rules read only the hierarchy, firewalls and networks", len(reduced), len(rules.Default()))
	}
	for _, tc := range []struct {
		name       string
		rules      []rules.Rule
		perProject int // besides key lists
		keyLists   int
	}{
		{"default rules", rules.Default(), 7, accounts},
		{"no instance, subnetwork or key rules", reduced, 3, 0},
	} {
		types := scan.New(scan.Options{Rules: tc.rules}).AssetTypes()
		res := liveScanOf(t, srv, inventory.LiveConfig{Endpoint: url, AssetTypes: types}, zap.NewNop())
		if len(res.errs) != 0 || res.failed != 0 {
			t.Fatalf("%s: %d calls failed; source errors %v", tc.name, res.failed, res.errs)
		}
		calls := projectCalls(res.calls)
		keys := calls[callKeys]
		delete(calls, callKeys)
		n := 0
		for m, c := range calls {
			if c != projects {
				t.Errorf("%s: %d calls of %s for %d projects, want one each", tc.name, c, m, projects)
			}
			n += c
		}
		if n != tc.perProject*projects || keys != tc.keyLists {
			t.Errorf("%s: %d calls for %d projects (%v) and %d key lists, want %d a project and %d key lists",
				tc.name, n, projects, calls, keys, tc.perProject, tc.keyLists)
		}
		if h := hierarchyCalls(res.calls); h != 2*nodes+(projects+99)/100 {
			t.Errorf("%s: %d calls found the projects and read %d folders and organizations", tc.name, h, nodes)
		}
		t.Logf("%s (asset types %v): %d calls per project, %d key lists for %d service accounts, %d calls in all for %d projects",
			tc.name, types, n/projects, keys, accounts, res.total(), projects)
	}
}
