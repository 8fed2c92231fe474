package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestLoadScenarioMerges(t *testing.T) {
	sc := loadBasic(t)
	// 27 lines; the organization, the folder, demo-prod and one service account each
	// come as a resource line and a policy line.
	if len(sc.Assets) != 23 {
		t.Fatalf("%d assets, want 23", len(sc.Assets))
	}
	for _, a := range sc.Assets {
		if a.Name == "//cloudresourcemanager.googleapis.com/projects/"+prodNumber {
			if a.Resource == nil || a.IAMPolicy == nil || len(a.IAMPolicy.Bindings) != 3 {
				t.Errorf("merged project = %+v", a)
			}
		}
	}
	if !slices.Equal(sc.Options.DeniedPolicies, []string{orgName}) ||
		!slices.Equal(sc.Options.DisabledServices[devID], []string{"compute.googleapis.com"}) {
		t.Errorf("options = %+v", sc.Options)
	}
	srv, err := New(sc)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Projects(); !slices.Equal(got, []string{devID, prodID}) {
		t.Errorf("Projects() = %v", got)
	}
	if got := srv.Assets(); len(got) != 23 {
		t.Errorf("Assets() holds %d assets", len(got))
	}
}

func scenarioFS(t *testing.T, yaml string) fstest.MapFS {
	t.Helper()
	assets, err := os.ReadFile("testdata/basic/assets.json")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"s/assets.json": {Data: assets}}
	if yaml != "" {
		fsys["s/sandbox.yaml"] = &fstest.MapFile{Data: []byte(yaml)}
	}
	return fsys
}

func TestLoadScenarioOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "deniedPolicies: []\nmissingProjects: [x]\n", []string{"s/sandbox.yaml", "line 2", "missingProjects"}},
		{"unknown project", "disabledServices:\n  ghost: [compute.googleapis.com]\n", []string{"s/sandbox.yaml:2:", `project "ghost" is not in the scenario`}},
		{"unknown service", "disabledServices:\n  demo-prod:\n    - compute.googleapis.com\n    - compute.googleapi.com\n", []string{"s/sandbox.yaml:4:", `unknown service "compute.googleapi.com"`}},
		{"bad resource", "deniedPolicies: [organizations/1, buckets/x]\n", []string{"s/sandbox.yaml:1:", "organizations/1 is not in the scenario", `"buckets/x" is not`}},
		{"two documents", "deniedPolicies: []\n---\ndeniedPolicies: []\n", []string{"more than one YAML document"}},
		{"not a list", "disabledServices:\n  demo-prod: compute.googleapis.com\n", []string{"s/sandbox.yaml", "line 2"}},
		{"bad bucket", "buckets:\n  - exports\n  - gs://exports\n", []string{"s/sandbox.yaml:3:", `buckets: "gs://exports" is not a Cloud Storage bucket name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadScenario(scenarioFS(t, tc.yaml), "s")
			if err == nil {
				t.Fatal("LoadScenario accepted the options")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	sc, err := LoadScenario(scenarioFS(t, ""), "s")
	if err != nil || len(sc.Options.DeniedPolicies) != 0 {
		t.Errorf("scenario without options = %+v, %v", sc, err)
	}
	sc, err = LoadScenario(scenarioFS(t, "buckets: [exports, zerodrift.exports]\n"), "s")
	if err != nil || !slices.Equal(sc.Options.Buckets, []string{"exports", "zerodrift.exports"}) {
		t.Errorf("buckets: %+v, %v", sc, err)
	}
	sc, err = LoadScenario(scenarioFS(t, "# nothing\n"), "s")
	if err != nil || sc.Options.DisabledServices != nil {
		t.Errorf("scenario with empty options = %+v, %v", sc, err)
	}
	if _, err := LoadScenario(scenarioFS(t, ""), "elsewhere"); err == nil {
		t.Error("LoadScenario of a missing folder succeeded")
	}
	bad := fstest.MapFS{"s/assets.json": {Data: []byte("{\"name\":\"//x\",\"asset_type\":\"a/B\"}\nnot json\n")}}
	if _, err := LoadScenario(bad, "s"); err == nil || !strings.Contains(err.Error(), "s/assets.json:2") {
		t.Errorf("bad assets.json: %v", err)
	}
}

func TestNewChecksScenario(t *testing.T) {
	fw := func(name string) *inventory.Asset {
		return &inventory.Asset{Name: name, AssetType: inventory.TypeFirewall, Resource: &inventory.Resource{Data: json.RawMessage(`{}`)}}
	}
	for name, sc := range map[string]*Scenario{
		"bad compute name": {Assets: []*inventory.Asset{fw("//compute.googleapis.com/projects/p/firewalls/x")}},
		"duplicate":        {Assets: []*inventory.Asset{fw("//compute.googleapis.com/projects/p/global/firewalls/x"), fw("//compute.googleapis.com/projects/p/global/firewalls/x")}},
		"bad options": {Assets: []*inventory.Asset{fw("//compute.googleapis.com/projects/p/global/firewalls/x")},
			Options: ScenarioOptions{DisabledServices: map[string][]string{"q": {"compute.googleapis.com"}}}},
		"bad bucket": {Assets: []*inventory.Asset{fw("//compute.googleapis.com/projects/p/global/firewalls/x")},
			Options: ScenarioOptions{Buckets: []string{"Exports"}}},
		"bad data": {Assets: []*inventory.Asset{{Name: "//compute.googleapis.com/projects/p/global/firewalls/x", AssetType: inventory.TypeFirewall,
			Resource: &inventory.Resource{Data: json.RawMessage(`[1]`)}}}},
	} {
		if _, err := New(sc); err == nil {
			t.Errorf("%s: New accepted the scenario", name)
		}
	}
	if _, err := New(&Scenario{Assets: []*inventory.Asset{fw("//compute.googleapis.com/projects/p/global/firewalls/x")}}); err != nil {
		t.Errorf("New: %v", err)
	}
}

func TestUnknownPathAndState(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	resp, err := http.Get(url + "/compute/v1/projects/demo-prod/global/routers")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct {
			Code   int    `json:"code"`
			Status string `json:"status"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || body.Error.Code != 404 || body.Error.Status != "NOT_FOUND" {
		t.Errorf("unknown path: %d %+v", resp.StatusCode, body)
	}
	if n := callCount(srv, ServiceCompute, "unknown", http.StatusNotFound); n != 1 {
		t.Errorf("unknown path counted %d times", n)
	}

	resp, err = http.Get(url + "/sandbox/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		Projects []string           `json:"projects"`
		Assets   []*inventory.Asset `json:"assets"`
	}
	if err := json.Unmarshal(b, &state); err != nil {
		t.Fatalf("state: %v", err)
	}
	if !slices.Equal(state.Projects, []string{devID, prodID}) || len(state.Assets) != 23 {
		t.Errorf("state: %v projects, %d assets", state.Projects, len(state.Assets))
	}
	if _, err := srv.Start(""); err == nil {
		t.Error("a second Start succeeded")
	}
}
