package inventory_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

// p1ComputeName is the CAI name of p1's Compute Engine settings in liveScenario.
const p1ComputeName = "//compute.googleapis.com/projects/p1"

// withComputeProject adds p1's Compute Engine settings to a scenario of liveScenario: OS
// Login on and serial port access on, in the common instance metadata.
func withComputeProject(t *testing.T, sc *sandbox.Scenario) *sandbox.Scenario {
	t.Helper()
	sc.Assets = append(sc.Assets, &inventory.Asset{
		Name: p1ComputeName, AssetType: inventory.TypeComputeProject,
		Ancestors: []string{"projects/42", "folders/7", "organizations/1"},
		Resource: &inventory.Resource{Version: "v1", DiscoveryName: "Project", Location: "global",
			Parent: "//cloudresourcemanager.googleapis.com/projects/42",
			Data: json.RawMessage(`{"name":"p1","commonInstanceMetadata":{"fingerprint":"Ab3dEf5hIj0=","items":[` +
				`{"key":"enable-oslogin","value":"TRUE"},{"key":"serial-port-enable","value":"true"}]},` +
				`"defaultServiceAccount":"42-compute@developer.gserviceaccount.com","xpnProjectStatus":"UNSPECIFIED_XPN_PROJECT_STATUS"}`)},
	})
	return sc
}

// knownPermissionsBut is every permission the sandbox knows but those named.
func knownPermissionsBut(except ...string) []string {
	return slices.DeleteFunc(sandbox.KnownPermissions(), func(p string) bool { return slices.Contains(except, p) })
}

// The live scan reads the project's Compute Engine settings with compute's projects.get and
// emits them first among the project's compute assets, in the CAI shape and as the
// sandbox's Cloud Asset Inventory lists them.
func TestLiveReadsTheComputeProject(t *testing.T) {
	srv, live := startLive(t, withComputeProject(t, liveScenario(t, 3, 2, "")))
	var order []*inventory.Asset
	errs, err := live.Scan(context.Background(), []string{"p1"}, func(a *inventory.Asset) error {
		order = append(order, a)
		return nil
	})
	if err != nil || len(errs) != 0 {
		t.Fatalf("scan: %v, errors %v", err, errs)
	}
	var got *inventory.Asset
	at, project, firstCompute := -1, -1, -1
	for i, a := range order {
		switch {
		case a.AssetType == inventory.TypeComputeProject:
			if got != nil {
				t.Fatalf("two compute projects: %s and %s", got.Name, a.Name)
			}
			got, at = a, i
		case a.AssetType == inventory.TypeProject:
			project = i
		case firstCompute < 0 && a.AssetType == inventory.TypeFirewall:
			firstCompute = i
		}
	}
	if got == nil {
		t.Fatalf("no compute project among %d assets", len(order))
	}
	if at != project+1 || at > firstCompute {
		t.Errorf("compute project at %d, project at %d, first firewall at %d: want it right after the project, before the firewalls",
			at, project, firstCompute)
	}
	if got.Name != p1ComputeName || got.Project() != "p1" ||
		!slices.Equal(got.Ancestors, []string{"projects/42", "folders/7", "organizations/1"}) {
		t.Errorf("compute project %s (project %q), ancestors %v", got.Name, got.Project(), got.Ancestors)
	}
	if r := got.Resource; r == nil || r.Version != "v1" || r.DiscoveryName != "Project" || r.Location != "global" ||
		r.Parent != "//cloudresourcemanager.googleapis.com/projects/42" {
		t.Errorf("resource %+v, want v1 Project in global under projects/42", got.Resource)
	}
	cp, err := got.ComputeProject()
	if err != nil {
		t.Fatal(err)
	}
	md := cp.CommonInstanceMetadata
	oslogin, _ := md.Get("enable-oslogin")
	serial, _ := md.Get("serial-port-enable")
	if cp.Name != "p1" || md == nil || md.Fingerprint != "Ab3dEf5hIj0=" || len(md.Items) != 2 || oslogin != "TRUE" || serial != "true" ||
		cp.DefaultServiceAccount != "42-compute@developer.gserviceaccount.com" {
		t.Errorf("compute project data %s read as %+v", got.Resource.Data, cp)
	}
	if n := callCountOf(srv, sandbox.ServiceCompute, "projects.get", http.StatusOK); n != 1 {
		t.Errorf("%d compute projects.get answered, want 1", n)
	}

	// The organization read through Cloud Asset Inventory holds the same asset.
	cai := newCAI(t, inventory.CAIConfig{Endpoint: srv.URL()})
	var listed []*inventory.Asset
	if errs, err := cai.List(context.Background(), "organizations/1", []string{inventory.TypeComputeProject}, func(a *inventory.Asset) error {
		listed = append(listed, a)
		return nil
	}); err != nil || len(errs) != 0 {
		t.Fatalf("listing: %v, %v", err, errs)
	}
	if len(listed) != 1 || listed[0].Name != got.Name || listed[0].AssetType != got.AssetType ||
		!slices.Equal(listed[0].Ancestors, got.Ancestors) || listed[0].Resource == nil {
		t.Fatalf("CAI lists %+v, the live scan read %+v", listed, got)
	}
	viaCAI, err := listed[0].ComputeProject()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustMarshal(t, viaCAI.CommonInstanceMetadata), mustMarshal(t, cp.CommonInstanceMetadata); a != b {
		t.Errorf("metadata through CAI %s, live %s", a, b)
	}
}

// A project whose compute settings are not found (404) has none to judge: no asset, no
// error, and the rest of its compute resources are read.
func TestLiveSkipsAMissingComputeProject(t *testing.T) {
	srv, live := startLive(t, liveScenario(t, 3, 2, ""))
	got, errs := collect(t, live, "p1")
	if len(errs) != 0 {
		t.Errorf("errors %+v, want none for a compute project that is not found", errs)
	}
	if n := len(got[inventory.TypeComputeProject]); n != 0 {
		t.Errorf("%d compute projects read", n)
	}
	if len(got[inventory.TypeFirewall]) != 3 || len(got[inventory.TypeInstance]) != 1 || len(got[inventory.TypeProject]) != 1 {
		t.Errorf("the project's other assets not all read: %d firewalls, %d instances, %d projects",
			len(got[inventory.TypeFirewall]), len(got[inventory.TypeInstance]), len(got[inventory.TypeProject]))
	}
	// It was asked for, and answered 404.
	if n := callCountOf(srv, sandbox.ServiceCompute, "projects.get", http.StatusNotFound); n != 1 {
		t.Errorf("%d compute projects.get answered 404, want 1", n)
	}
}

// A compute project that cannot be read otherwise (403) is reported as the compute lists
// are, once for failures alike, and the rest is still read.
func TestLiveReportsADeniedComputeProject(t *testing.T) {
	sc := withComputeProject(t, liveScenario(t, 3, 2, ""))
	srv, live := startLive(t, sc)
	if err := srv.SetPermissions(knownPermissionsBut("compute.projects.get")); err != nil {
		t.Fatal(err)
	}
	got, errs := collect(t, live, "p1")
	if len(errs) != 1 {
		t.Fatalf("errors %+v, want the compute project's", errs)
	}
	if e := errs[0]; e.Project != "p1" || e.Service != inventory.ServiceCompute || e.Resource != "project" ||
		e.Code != http.StatusForbidden || e.Reason != "forbidden" || e.Message == "" {
		t.Errorf("error %+v, want p1's compute project denied", e)
	}
	if len(got[inventory.TypeComputeProject]) != 0 || len(got[inventory.TypeFirewall]) != 3 || len(got[inventory.TypeNetwork]) != 1 {
		t.Errorf("read %d compute projects, %d firewalls, %d networks; want none, 3, 1", len(got[inventory.TypeComputeProject]),
			len(got[inventory.TypeFirewall]), len(got[inventory.TypeNetwork]))
	}

	// Denied alike with the networks, it is reported once.
	if err := srv.SetPermissions(knownPermissionsBut("compute.projects.get", "compute.networks.list")); err != nil {
		t.Fatal(err)
	}
	got, errs = collect(t, live, "p1")
	if len(errs) != 1 || errs[0].Code != http.StatusForbidden || errs[0].Service != inventory.ServiceCompute {
		t.Errorf("errors %+v, want one compute 403 for the two reads denied alike", errs)
	}
	if len(got[inventory.TypeFirewall]) != 3 || len(got[inventory.TypeSubnetwork]) != 1 {
		t.Errorf("the reads that were allowed were not all made: %d firewalls, %d subnetworks", len(got[inventory.TypeFirewall]),
			len(got[inventory.TypeSubnetwork]))
	}
}

// A compute project read through the live source sees a change made through the API.
func TestLiveSeesCommonInstanceMetadataChanges(t *testing.T) {
	srv, live := startLive(t, withComputeProject(t, liveScenario(t, 1, 1, "")))
	before, _ := collect(t, live, "p1")
	cp, err := before[inventory.TypeComputeProject][0].ComputeProject()
	if err != nil {
		t.Fatal(err)
	}
	// Turn OS Login off through the REST API, with the fingerprint read.
	body := `{"fingerprint":"` + cp.CommonInstanceMetadata.Fingerprint + `","items":[{"key":"enable-oslogin","value":"FALSE"}]}`
	resp, err := http.Post(srv.URL()+"/compute/v1/projects/p1/setCommonInstanceMetadata", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setCommonInstanceMetadata: %s", resp.Status)
	}
	after, _ := collect(t, live, "p1")
	cp2, err := after[inventory.TypeComputeProject][0].ComputeProject()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := cp2.CommonInstanceMetadata.Get("enable-oslogin"); v != "FALSE" || len(cp2.CommonInstanceMetadata.Items) != 1 ||
		cp2.CommonInstanceMetadata.Fingerprint == cp.CommonInstanceMetadata.Fingerprint {
		t.Errorf("metadata after the change: %+v", cp2.CommonInstanceMetadata)
	}
}

func callCountOf(srv *sandbox.Server, service, method string, status int) int {
	n := 0
	for _, c := range srv.Calls() {
		if c.Service == service && c.Method == method && c.Status == status {
			n += c.Count
		}
	}
	return n
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
