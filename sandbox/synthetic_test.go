package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestSyntheticScenario(t *testing.T) {
	sc := SyntheticScenario(60, 3)
	again, err := json.Marshal(SyntheticScenario(60, 3).Assets)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := json.Marshal(sc.Assets); string(first) != string(again) {
		t.Error("the same seed built two different scenarios")
	}
	srv, url := start(t, sc)
	projects := srv.Projects()
	if len(projects) != 60 || projects[0] != "synth-p00000" || projects[59] != "synth-p00059" {
		t.Fatalf("projects %d: %v...", len(projects), projects[:3])
	}
	count := map[string]int{}
	for _, a := range srv.Assets() {
		count[a.AssetType]++
	}
	// 60 projects: 3 team folders of 25 or fewer, in 1 department, under the organisation.
	if count[inventory.TypeFolder] != 4 || count[inventory.TypeOrganization] != 1 || count[inventory.TypeProject] != 60 {
		t.Errorf("hierarchy %v", count)
	}
	for typ, least := range map[string]int{inventory.TypeNetwork: 60, inventory.TypeSubnetwork: 60, inventory.TypeFirewall: 120,
		inventory.TypeServiceAccount: 60, inventory.TypeServiceAccountKey: 1, inventory.TypeInstance: 1} {
		if count[typ] < least {
			t.Errorf("%d assets of type %s, want at least %d", count[typ], typ, least)
		}
	}
	// The real clients read it.
	c := newClients(t, url)
	ctx := testContext(t)
	p, err := c.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/synth-p00030"})
	if err != nil || p.GetParent() != "folders/810000500001" {
		t.Errorf("project synth-p00030: %v, %v", p, err)
	}
	f, err := c.folders.GetFolder(ctx, &resourcemanagerpb.GetFolderRequest{Name: p.GetParent()})
	if err != nil || f.GetParent() != "folders/810000000000" {
		t.Errorf("folder %s: %v, %v", p.GetParent(), f, err)
	}
	if names := firewallNames(t, c, "synth-p00030"); len(names) < 2 {
		t.Errorf("firewalls %v", names)
	}
}

func firewallNames(t *testing.T, c *clients, project string) []string {
	t.Helper()
	var names []string
	it := c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: project})
	for fw, err := it.Next(); err == nil; fw, err = it.Next() {
		names = append(names, fw.GetName())
	}
	return names
}

func TestSearchProjectsMatchesAnyTerm(t *testing.T) {
	_, url := start(t, SyntheticScenario(30, 1))
	c := newClients(t, url)
	// Resource manager v3: "labels.color:red labels.size:big" finds the red ones and the
	// big ones; a term naming no project adds nothing.
	got := projectIDs(t, c.projects.SearchProjects(testContext(t), &resourcemanagerpb.SearchProjectsRequest{
		Query: "id:synth-p00003 id:synth-p00017 id:nowhere OR id:synth-p00029",
	}))
	if want := []string{"synth-p00003", "synth-p00017", "synth-p00029"}; !slices.Equal(got, want) {
		t.Errorf("search found %v, want %v", got, want)
	}
}

func TestLatencyDelaysCallsTogether(t *testing.T) {
	// A delay waited under the server's lock would answer 40 calls in 40 × 200ms = 8s.
	srv, url := start(t, SyntheticScenario(40, 1), WithFaults(Faults{Latency: 200 * time.Millisecond}))
	c := newClients(t, url)
	ctx := testContext(t)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := c.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: fmt.Sprintf("synth-p%05d", i)}).Next(); err != nil {
				t.Errorf("list: %v", err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("40 calls delayed 200ms each took %v together: the delays were waited in turn", took)
	}
	if n := callCount(srv, ServiceCompute, "firewalls.list", http.StatusOK); n != 40 {
		t.Errorf("%d calls answered", n)
	}
}

func TestFailCallsFailsABurst(t *testing.T) {
	srv, url := start(t, SyntheticScenario(2, 1), WithFaults(Faults{FailCalls: 2, ErrorStatus: http.StatusTooManyRequests, RetryAfter: time.Second}))
	c := newClients(t, url)
	ctx := testContext(t)
	for i := range 3 {
		_, err := c.firewalls.List(ctx, &computepb.ListFirewallsRequest{Project: "synth-p00000"}).Next()
		if i < 2 {
			if ge := googleErr(t, err, http.StatusTooManyRequests); ge.Header.Get("Retry-After") != "1" {
				t.Errorf("call %d: Retry-After %q", i, ge.Header.Get("Retry-After"))
			}
		} else if err != nil {
			t.Errorf("call %d after the burst: %v", i, err)
		}
	}
	if left := srv.Faults().FailCalls; left != 0 {
		t.Errorf("%d failures left", left)
	}
	if err := srv.SetFaults(Faults{FailCalls: -1}); err == nil {
		t.Error("SetFaults accepted a negative number of failed calls")
	}
}
