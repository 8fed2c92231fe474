package rules

import (
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestNetworkDefault(t *testing.T) {
	r := ruleByID(t, "network-default")
	cases := []struct {
		name     string
		asset    *inventory.Asset
		evidence string // "" when no finding
	}{
		{"auto-mode default network",
			networkAsset("default", `{"name":"default","autoCreateSubnetworks":true,"subnetworks":["https://www.googleapis.com/compute/v1/projects/p1/regions/europe-west1/subnetworks/default"]}`),
			`{"autoCreateSubnetworks":true,"network":"default"}`},
		{"custom-mode default network",
			networkAsset("default", `{"name":"default","autoCreateSubnetworks":false}`),
			`{"autoCreateSubnetworks":false,"network":"default"}`},
		{"legacy default network has no autoCreateSubnetworks",
			networkAsset("default", `{"name":"default","IPv4Range":"10.240.0.0/16"}`),
			`{"network":"default"}`},
		{"name taken from the asset when the data has none",
			networkAsset("default", `{"autoCreateSubnetworks":true}`),
			`{"autoCreateSubnetworks":true,"network":"default"}`},
		{"default-eu is not the default network",
			networkAsset("default-eu", `{"name":"default-eu","autoCreateSubnetworks":true}`), ""},
		{"a purpose-built network", networkAsset("prod-vpc", `{"name":"prod-vpc","autoCreateSubnetworks":false}`), ""},
		{"Default in another case is another name", networkAsset("Default", `{"name":"Default"}`), ""},
		{"IAM policy only", &inventory.Asset{Name: "//compute.googleapis.com/projects/p1/global/networks/default",
			AssetType: inventory.TypeNetwork}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := evaluate(t, r, testEnv(), tc.asset)
			if tc.evidence == "" {
				noResults(t, out)
				return
			}
			f := onlyFinding(t, out)
			if f.Category != "DEFAULT_NETWORK" || f.Severity != SeverityMedium || f.Project != "p1" {
				t.Errorf("finding %s %s in %q, want DEFAULT_NETWORK MEDIUM in p1", f.Category, f.Severity, f.Project)
			}
			if got := jsonOf(t, f.Evidence); got != tc.evidence {
				t.Errorf("evidence %s, want %s", got, tc.evidence)
			}
		})
	}
}

func TestNetworkLegacy(t *testing.T) {
	r := ruleByID(t, "network-legacy")
	legacy := networkAsset("old", `{"name":"old","IPv4Range":"10.240.0.0/16","gatewayIPv4":"10.240.0.1"}`)
	f := onlyFinding(t, evaluate(t, r, testEnv(), legacy))
	if f.Category != "LEGACY_NETWORK" || f.Severity != SeverityHigh {
		t.Errorf("finding %s %s, want LEGACY_NETWORK HIGH", f.Category, f.Severity)
	}
	if got, want := jsonOf(t, f.Evidence), `{"IPv4Range":"10.240.0.0/16","network":"old"}`; got != want {
		t.Errorf("evidence %s, want %s", got, want)
	}
	if again := onlyFinding(t, evaluate(t, r, testEnv(), legacy)); again.ID != f.ID {
		t.Errorf("ID changed between evaluations: %s then %s", f.ID, again.ID)
	}
	for name, a := range map[string]*inventory.Asset{
		"VPC network":     networkAsset("vpc", `{"name":"vpc","autoCreateSubnetworks":false}`),
		"default network": networkAsset("default", `{"name":"default","autoCreateSubnetworks":true}`),
		"no resource":     {Name: "//compute.googleapis.com/projects/p1/global/networks/x", AssetType: inventory.TypeNetwork},
	} {
		t.Run(name, func(t *testing.T) { noResults(t, evaluate(t, r, testEnv(), a)) })
	}
}

func TestNetworkRulesErrors(t *testing.T) {
	for _, id := range []string{"network-default", "network-legacy"} {
		r := ruleByID(t, id)
		for name, data := range map[string]string{
			"not json":    `{"name":`,
			"wrong shape": `{"name":"default","autoCreateSubnetworks":"yes"}`,
		} {
			t.Run(id+"/"+name, func(t *testing.T) {
				a := networkAsset("default", data)
				var out Results
				errorNames(t, r.Evaluate(testEnv(), a, &out), a)
				noResults(t, out)
			})
		}
		t.Run(id+"/wrong asset type", func(t *testing.T) {
			a := firewallAsset("default", `{"name":"default"}`)
			errorNames(t, r.Evaluate(testEnv(), a, &Results{}), a)
		})
	}
}
