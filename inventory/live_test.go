package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

// liveScenario is an organisation with one folder and a project holding more firewalls and
// service accounts than one page of the API returns.
func liveScenario(t *testing.T, firewalls, accounts int, sandboxYAML string) *sandbox.Scenario {
	t.Helper()
	anc := `["projects/42","folders/7","organizations/1"]`
	var b strings.Builder
	fmt.Fprintf(&b, `{"name":"//cloudresourcemanager.googleapis.com/organizations/1","asset_type":"cloudresourcemanager.googleapis.com/Organization","ancestors":["organizations/1"],"resource":{"data":{"name":"organizations/1","displayName":"example.com"}},"iam_policy":{"bindings":[{"role":"roles/browser","members":["allAuthenticatedUsers"]}]}}`+"\n")
	fmt.Fprintf(&b, `{"name":"//cloudresourcemanager.googleapis.com/folders/7","asset_type":"cloudresourcemanager.googleapis.com/Folder","ancestors":["folders/7","organizations/1"],"resource":{"data":{"name":"folders/7","parent":"organizations/1","displayName":"prod"}},"iam_policy":{"bindings":[{"role":"roles/resourcemanager.folderViewer","members":["group:sec@example.com"]}]}}`+"\n")
	fmt.Fprintf(&b, `{"name":"//cloudresourcemanager.googleapis.com/projects/42","asset_type":"cloudresourcemanager.googleapis.com/Project","ancestors":%s,"resource":{"data":{"projectNumber":"42","projectId":"p1","parent":{"type":"folder","id":"7"}}},"iam_policy":{"version":3,"bindings":[{"role":"roles/editor","members":["serviceAccount:ci@p1.iam.gserviceaccount.com"],"condition":{"title":"until 2027","expression":"request.time < timestamp('2027-01-01T00:00:00Z')"}}]}}`+"\n", anc)
	for i := range firewalls {
		fmt.Fprintf(&b, `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/fw-%04d","asset_type":"compute.googleapis.com/Firewall","ancestors":%s,"resource":{"data":{"name":"fw-%04d","network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/vpc","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["22","8000-8100"]}],"direction":"INGRESS","priority":900}}}`+"\n", i, anc, i)
	}
	fmt.Fprintf(&b, `{"name":"//compute.googleapis.com/projects/p1/global/networks/vpc","asset_type":"compute.googleapis.com/Network","ancestors":%s,"resource":{"data":{"name":"vpc","autoCreateSubnetworks":false}}}`+"\n", anc)
	fmt.Fprintf(&b, `{"name":"//compute.googleapis.com/projects/p1/regions/europe-west1/subnetworks/s1","asset_type":"compute.googleapis.com/Subnetwork","ancestors":%s,"resource":{"location":"europe-west1","data":{"name":"s1","ipCidrRange":"10.1.0.0/24","region":"https://www.googleapis.com/compute/v1/projects/p1/regions/europe-west1"}}}`+"\n", anc)
	fmt.Fprintf(&b, `{"name":"//compute.googleapis.com/projects/p1/zones/europe-west1-b/instances/vm1","asset_type":"compute.googleapis.com/Instance","ancestors":%s,"resource":{"location":"europe-west1-b","data":{"name":"vm1","zone":"https://www.googleapis.com/compute/v1/projects/p1/zones/europe-west1-b","status":"RUNNING"}}}`+"\n", anc)
	for i := range accounts {
		fmt.Fprintf(&b, `{"name":"//iam.googleapis.com/projects/p1/serviceAccounts/9%05d","asset_type":"iam.googleapis.com/ServiceAccount","ancestors":%s,"resource":{"data":{"name":"projects/p1/serviceAccounts/sa-%d@p1.iam.gserviceaccount.com","email":"sa-%d@p1.iam.gserviceaccount.com","uniqueId":"9%05d","projectId":"p1"}}}`+"\n", i, anc, i, i, i)
	}
	fmt.Fprintf(&b, `{"name":"//iam.googleapis.com/projects/p1/serviceAccounts/900000/keys/k1","asset_type":"iam.googleapis.com/ServiceAccountKey","ancestors":%s,"resource":{"data":{"name":"projects/p1/serviceAccounts/sa-0@p1.iam.gserviceaccount.com/keys/k1","keyType":"USER_MANAGED","validAfterTime":"2026-01-01T00:00:00Z"}}}`+"\n", anc)
	fmt.Fprintf(&b, `{"name":"//iam.googleapis.com/projects/p1/serviceAccounts/900000/keys/k2","asset_type":"iam.googleapis.com/ServiceAccountKey","ancestors":%s,"resource":{"data":{"name":"projects/p1/serviceAccounts/sa-0@p1.iam.gserviceaccount.com/keys/k2","keyType":"SYSTEM_MANAGED","validAfterTime":"2026-01-01T00:00:00Z"}}}`+"\n", anc)
	fsys := fstest.MapFS{"s/assets.json": {Data: []byte(b.String())}}
	if sandboxYAML != "" {
		fsys["s/sandbox.yaml"] = &fstest.MapFile{Data: []byte(sandboxYAML)}
	}
	sc, err := sandbox.LoadScenario(fsys, "s")
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func startLive(t *testing.T, sc *sandbox.Scenario) (*sandbox.Server, *inventory.Live) {
	t.Helper()
	srv, err := sandbox.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	live, err := inventory.NewLive(context.Background(), inventory.LiveConfig{Endpoint: url}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	return srv, live
}

func collect(t *testing.T, live *inventory.Live, projects ...string) (map[string][]*inventory.Asset, []inventory.SourceError) {
	t.Helper()
	byType := map[string][]*inventory.Asset{}
	errs, err := live.Scan(context.Background(), projects, func(a *inventory.Asset) error {
		byType[a.AssetType] = append(byType[a.AssetType], a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return byType, errs
}

func TestLiveReadsEveryPageInTheCAIShape(t *testing.T) {
	_, live := startLive(t, liveScenario(t, 1203, 230, ""))
	got, errs := collect(t, live, "p1")
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	for typ, want := range map[string]int{
		inventory.TypeFirewall: 1203, inventory.TypeNetwork: 1, inventory.TypeSubnetwork: 1, inventory.TypeInstance: 1,
		inventory.TypeServiceAccount: 230, inventory.TypeServiceAccountKey: 1, // only user-managed keys are listed
		inventory.TypeProject: 1, inventory.TypeFolder: 1, inventory.TypeOrganization: 1,
	} {
		if len(got[typ]) != want {
			t.Errorf("%d assets of type %s, want %d", len(got[typ]), typ, want)
		}
	}
	fw := got[inventory.TypeFirewall][0]
	if !strings.HasPrefix(fw.Name, "//compute.googleapis.com/projects/p1/global/firewalls/fw-") {
		t.Errorf("firewall named %s", fw.Name)
	}
	if want := []string{"projects/42", "folders/7", "organizations/1"}; !slices.Equal(fw.Ancestors, want) {
		t.Errorf("ancestors %v, want %v", fw.Ancestors, want)
	}
	data, err := fw.Firewall()
	if err != nil {
		t.Fatal(err)
	}
	if data.Allowed[0].IPProtocol != "tcp" || !slices.Equal(data.Allowed[0].Ports, []string{"22", "8000-8100"}) ||
		data.SourceRanges[0] != "10.0.0.0/8" || *data.Priority != 900 {
		t.Errorf("firewall data converted as %+v", data)
	}
	p := got[inventory.TypeProject][0]
	if p.Name != "//cloudresourcemanager.googleapis.com/projects/42" || p.Project() != "p1" {
		t.Errorf("project asset %s reports project %q", p.Name, p.Project())
	}
	if p.IAMPolicy == nil || p.IAMPolicy.Version != 3 || p.IAMPolicy.Bindings[0].Condition == nil ||
		!strings.Contains(p.IAMPolicy.Bindings[0].Condition.Expression, "2027") || p.IAMPolicy.Etag == "" {
		t.Errorf("project policy read as %+v (want version 3 with its condition and etag)", p.IAMPolicy)
	}
	if org := got[inventory.TypeOrganization][0]; org.IAMPolicy == nil || org.IAMPolicy.Bindings[0].Members[0] != "allAuthenticatedUsers" {
		t.Errorf("organization policy not read: %+v", org)
	}
	sa := got[inventory.TypeServiceAccount][0]
	if !strings.HasPrefix(sa.Name, "//iam.googleapis.com/projects/p1/serviceAccounts/9") {
		t.Errorf("service account named %s, want its unique ID as CAI does", sa.Name)
	}
	key, err := got[inventory.TypeServiceAccountKey][0].ServiceAccountKey()
	if err != nil || key.KeyType != "USER_MANAGED" || key.ValidAfterTime.Year() != 2026 {
		t.Errorf("key read as %+v, %v", key, err)
	}
	if loc := got[inventory.TypeSubnetwork][0].Resource.Location; loc != "europe-west1" {
		t.Errorf("subnetwork location %q", loc)
	}
}

func TestLiveReportsFailingProjectsAndScansTheRest(t *testing.T) {
	_, live := startLive(t, liveScenario(t, 3, 2, "deniedPolicies: [organizations/1]\ndisabledServices:\n  p1: [iam.googleapis.com]\n"))
	got, errs := collect(t, live, "ghost", "p1")
	if len(got[inventory.TypeFirewall]) != 3 || len(got[inventory.TypeProject]) != 1 {
		t.Errorf("p1 not scanned: %d firewalls, %d projects", len(got[inventory.TypeFirewall]), len(got[inventory.TypeProject]))
	}
	if len(got[inventory.TypeServiceAccount]) != 0 {
		t.Errorf("service accounts read from a disabled API")
	}
	want := map[string]bool{"ghost cloudresourcemanager": false, "p1 iam": false, "p1 cloudresourcemanager organizations/1:getIamPolicy": false}
	for _, e := range errs {
		k := e.Project + " " + e.Service
		if e.Resource == "organizations/1:getIamPolicy" {
			k += " " + e.Resource
		}
		if _, ok := want[k]; !ok || e.Code != 403 || e.Message == "" {
			t.Errorf("unexpected error %+v", e)
		}
		want[k] = true
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("no error reported for %s; got %v", k, errs)
		}
	}
	if org := got[inventory.TypeOrganization]; len(org) != 1 || org[0].IAMPolicy != nil {
		t.Errorf("organization should be listed without its denied policy: %+v", org)
	}
}

func TestLiveSurvivesAnAPIFailingMidScan(t *testing.T) {
	srv, live := startLive(t, liveScenario(t, 3, 2, ""))
	if err := srv.SetFaults(sandbox.Faults{ErrorRate: 1, ErrorStatus: 503, Match: func(service, _ string) bool { return service == "compute" }}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	errs, err := live.Scan(ctx, []string{"p1"}, func(*inventory.Asset) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || errs[0].Service != "compute" || errs[0].Code != 503 {
		t.Errorf("errors %+v, want one compute 503", errs)
	}
	if n == 0 {
		t.Error("nothing read although only compute failed")
	}
}

// Project reads the project alone, as Scan gives it: data, policy and ancestry, and an
// error naming a project it cannot read.
func TestProjectReadsOneProjectAlone(t *testing.T) {
	sc, err := sandbox.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, live := startLive(t, sc)
	got, err := live.Project(context.Background(), "acme-prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range srv.Calls() {
		if c.Service == "compute" || c.Service == "iam" {
			t.Fatalf("reading the project read its resources too: %+v", c)
		}
	}
	byScan, _ := collect(t, live, "acme-prod")
	var want *inventory.Asset
	for _, as := range byScan {
		for _, a := range as {
			if a.AssetType == inventory.TypeProject {
				want = a
			}
		}
	}
	if got == nil || want == nil || got.Name != want.Name || !slices.Equal(got.Ancestors, want.Ancestors) ||
		string(got.Resource.Data) != string(want.Resource.Data) || len(got.IAMPolicy.Bindings) != len(want.IAMPolicy.Bindings) {
		t.Fatalf("Project = %+v, Scan's project asset %+v", got, want)
	}
	// As Google does, the sandbox answers 403 for a project the caller cannot see.
	if a, err := live.Project(context.Background(), "no-such-project"); a != nil || err == nil || !strings.Contains(err.Error(), "no-such-project") {
		t.Errorf("a project that cannot be read: %+v, %v", a, err)
	}
}
