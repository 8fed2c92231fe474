package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// testNow is the evaluation time of every test.
var testNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// testEnv is the shipped baseline at testNow.
func testEnv() *Env { return DefaultEnv(testNow) }

// resourceAsset builds a CAI asset of type typ named name whose resource.data is data.
func resourceAsset(typ, name, data string) *inventory.Asset {
	return &inventory.Asset{
		Name:      name,
		AssetType: typ,
		Ancestors: []string{"projects/123", "organizations/9"},
		Resource:  &inventory.Resource{Version: "v1", Data: json.RawMessage(data)},
	}
}

// firewallAsset builds a firewall asset of project p1 from its REST representation.
func firewallAsset(name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeFirewall, "//compute.googleapis.com/projects/p1/global/firewalls/"+name, data)
}

// networkAsset builds a network asset of project p1 from its REST representation.
func networkAsset(name, data string) *inventory.Asset {
	return resourceAsset(inventory.TypeNetwork, "//compute.googleapis.com/projects/p1/global/networks/"+name, data)
}

// policyAsset builds an IAM-policy-only asset (no resource), as a CAI export line has it.
func policyAsset(typ, name string, bindings ...inventory.Binding) *inventory.Asset {
	return &inventory.Asset{
		Name:      name,
		AssetType: typ,
		IAMPolicy: &inventory.Policy{Version: 3, Etag: "BwX=", Bindings: bindings},
	}
}

// evaluate runs r on a and fails the test on an error.
func evaluate(t *testing.T, r Rule, env *Env, a *inventory.Asset) Results {
	t.Helper()
	var out Results
	if err := r.Evaluate(env, a, &out); err != nil {
		t.Fatalf("Evaluate(%s): %v", a.Name, err)
	}
	return out
}

// onlyFinding returns the single finding of out, failing the test otherwise.
func onlyFinding(t *testing.T, out Results) Finding {
	t.Helper()
	if len(out.Findings) != 1 || len(out.Skipped) != 0 {
		t.Fatalf("want exactly one finding and no skip, got %d findings %+v and skips %+v",
			len(out.Findings), out.Findings, out.Skipped)
	}
	return out.Findings[0]
}

// noResults fails the test unless out is empty.
func noResults(t *testing.T, out Results) {
	t.Helper()
	if len(out.Findings) != 0 || len(out.Skipped) != 0 {
		t.Fatalf("want no finding and no skip, got findings %+v and skips %+v", out.Findings, out.Skipped)
	}
}

// jsonOf renders v for comparing evidence in failure messages and tests.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ruleByID returns the default rule with the given ID.
func ruleByID(t testing.TB, id string) Rule {
	t.Helper()
	r, ok := ByID(Default())[id]
	if !ok {
		t.Fatalf("no rule %q in Default()", id)
	}
	return r
}

// errorNames checks that err names the asset.
func errorNames(t *testing.T, err error, a *inventory.Asset) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got nil")
	}
	if !strings.Contains(err.Error(), a.Name) {
		t.Errorf("error %q does not name the asset %s", err, a.Name)
	}
}
