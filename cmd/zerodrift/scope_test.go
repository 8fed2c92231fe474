package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/sandbox"
)

// projectMethods are the calls a live scan makes for each project, by service and method.
var projectMethods = []string{
	"cloudresourcemanager projects.getIamPolicy", "compute projects.get", "compute firewalls.list",
	"compute networks.list", "compute subnetworks.aggregatedList", "compute instances.aggregatedList",
	"iam projects.serviceAccounts.list", "iam projects.serviceAccounts.keys.list",
}

// scanCalls runs `zerodrift scan` over every project of the built-in sandbox, reached at
// gcp.endpoint with the configuration text extra, and returns the calls per project it made
// by method (answered or not).
func scanCalls(t *testing.T, extra string) map[string]int {
	t.Helper()
	sc, err := sandbox.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	args := []string{"scan", "--format", "json", "--config", writeConfig(t, "gcp:\n  endpoint: "+url+"\n"+extra)}
	for _, p := range srv.Projects() {
		args = append(args, "--project", p)
	}
	if code, _, errOut := runRulesCmd(t, args...); code != exitOK {
		t.Fatalf("scan: exit %d: %s", code, errOut)
	}
	calls := map[string]int{}
	for _, c := range srv.Calls() {
		if m := c.Service + " " + c.Method; slices.Contains(projectMethods, m) {
			calls[m] += c.Count
		}
	}
	return calls
}

// `zerodrift scan` reads each project live for the enabled rules only: all the calls with
// the default rules, and with only the rules that read the hierarchy, firewalls and
// networks enabled, the project's policy, firewalls and networks, nothing of IAM.
func TestScanReadsLiveOnlyWhatTheEnabledRulesRead(t *testing.T) {
	all := scanCalls(t, "")
	for _, m := range projectMethods {
		if all[m] == 0 {
			t.Errorf("the default rules made no %s call: %v", m, all)
		}
	}
	kept := []string{inventory.TypeProject, inventory.TypeFolder, inventory.TypeOrganization, inventory.TypeFirewall, inventory.TypeNetwork}
	var disabled []string
	for _, r := range rules.Default() {
		if slices.ContainsFunc(r.Meta().AssetTypes, func(t string) bool { return !slices.Contains(kept, t) }) {
			disabled = append(disabled, r.Meta().ID)
		}
	}
	if len(disabled) == 0 || len(disabled) == len(rules.Default()) {
		t.Fatalf("%d of %d rules disabled", len(disabled), len(rules.Default()))
	}
	reduced := scanCalls(t, "baseline:\n  disabledRules: ["+strings.Join(disabled, ", ")+"]\n")
	for _, m := range projectMethods {
		want := 0
		if m == "cloudresourcemanager projects.getIamPolicy" || m == "compute firewalls.list" || m == "compute networks.list" {
			want = all[m]
		}
		if reduced[m] != want {
			t.Errorf("with %v disabled: %d calls of %s, want %d (%d with every rule)", disabled, reduced[m], m, want, all[m])
		}
	}
}
