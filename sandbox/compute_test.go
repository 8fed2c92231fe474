package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"

	"github.com/zerodrift/zerodrift/inventory"
)

func listFirewalls(t *testing.T, c *clients, req *computepb.ListFirewallsRequest) []string {
	t.Helper()
	var names []string
	it := c.firewalls.List(testContext(t), req)
	for {
		fw, err := it.Next()
		if err == iterator.Done {
			return names
		}
		if err != nil {
			t.Fatalf("listing firewalls: %v", err)
		}
		names = append(names, fw.GetName())
	}
}

func TestFirewallsListPages(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	c := newClients(t, url)
	got := listFirewalls(t, c, &computepb.ListFirewallsRequest{Project: prodID, MaxResults: ptr[uint32](2)})
	want := []string{"allow-https-lb", "allow-internal", "allow-rdp-world", "allow-ssh-world", "deny-all-egress"}
	if !slices.Equal(got, want) {
		t.Fatalf("firewalls = %v, want %v", got, want)
	}
	if n := callCount(srv, ServiceCompute, "firewalls.list", http.StatusOK); n != 3 {
		t.Errorf("firewalls.list answered %d times, want 3 pages", n)
	}
}

func TestFirewallsDefaultPageSize(t *testing.T) {
	// A scenario built in Go, larger than compute's 500-item page.
	var assets []*inventory.Asset
	for i := range 620 {
		name := fmt.Sprintf("fw-%04d", i)
		assets = append(assets, &inventory.Asset{
			Name:      "//compute.googleapis.com/projects/big/global/firewalls/" + name,
			AssetType: inventory.TypeFirewall,
			Resource: &inventory.Resource{Data: json.RawMessage(`{"name":"` + name +
				`","network":"https://www.googleapis.com/compute/v1/projects/big/global/networks/default","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}`)},
		})
	}
	srv, url := start(t, &Scenario{Assets: assets})
	if got := srv.Projects(); !slices.Equal(got, []string{"big"}) {
		t.Fatalf("Projects() = %v", got)
	}
	got := listFirewalls(t, newClients(t, url), &computepb.ListFirewallsRequest{Project: "big"})
	if len(got) != 620 || got[0] != "fw-0000" || got[619] != "fw-0619" {
		t.Fatalf("listed %d firewalls (%v ... )", len(got), got[:3])
	}
	if n := callCount(srv, ServiceCompute, "firewalls.list", http.StatusOK); n != 2 {
		t.Errorf("firewalls.list answered %d times, want 2 pages", n)
	}
}

func TestFirewallsFilter(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	for filter, want := range map[string][]string{
		`name = "allow-ssh-world"`: {"allow-ssh-world"},
		`name eq allow-r.*`:        {"allow-rdp-world"},
		`(direction = "EGRESS")`:   {"deny-all-egress"},
		`(sourceRanges = "0.0.0.0/0") (disabled = false) AND (direction != EGRESS)`: {"allow-rdp-world", "allow-ssh-world"},
	} {
		got := listFirewalls(t, c, &computepb.ListFirewallsRequest{Project: prodID, Filter: ptr(filter)})
		if !slices.Equal(got, want) {
			t.Errorf("filter %s: %v, want %v", filter, got, want)
		}
	}
	_, err := c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: prodID, Filter: ptr(`name = a OR name = b`)}).Next()
	googleErr(t, err, http.StatusBadRequest)
}

func TestFirewallGetPatchGet(t *testing.T) {
	srv, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	get := &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-ssh-world"}
	before, err := c.firewalls.Get(ctx, get)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if !slices.Equal(before.GetSourceRanges(), []string{"0.0.0.0/0"}) || before.GetId() == 0 ||
		before.GetAllowed()[0].GetIPProtocol() != "tcp" {
		t.Fatalf("firewall before = %v", before)
	}
	op, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{
		Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{SourceRanges: []string{"35.235.240.0/20"}},
	})
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting for the patch: %v", err)
	}
	p := op.Proto()
	if !op.Done() || p.GetOperationType() != "patch" || p.GetProgress() != 100 ||
		p.GetTargetLink() != before.GetSelfLink() || p.GetTargetId() != before.GetId() {
		t.Errorf("operation = %v", p)
	}
	after, err := c.firewalls.Get(ctx, get)
	if err != nil {
		t.Fatalf("get after patch: %v", err)
	}
	if !slices.Equal(after.GetSourceRanges(), []string{"35.235.240.0/20"}) {
		t.Errorf("sourceRanges after patch = %v", after.GetSourceRanges())
	}
	if after.GetAllowed()[0].GetPorts()[0] != "22" || after.GetNetwork() != before.GetNetwork() || after.GetId() != before.GetId() {
		t.Errorf("the patch changed what it did not name: %v", after)
	}
	// A PUT replaces the resource.
	op, err = c.firewalls.Update(ctx, &computepb.UpdateFirewallRequest{
		Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{
			Name: ptr("allow-ssh-world"), Network: before.Network, SourceRanges: []string{"10.0.0.0/8"},
			Allowed: []*computepb.Allowed{{IPProtocol: ptr("tcp"), Ports: []string{"22"}}}, Disabled: ptr(true),
		},
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting for the update: %v", err)
	}
	after, err = c.firewalls.Get(ctx, get)
	if err != nil {
		t.Fatalf("get after update: %v", err)
	}
	if !after.GetDisabled() || after.GetLogConfig() != nil || after.GetPriority() != 1000 || after.GetDirection() != "INGRESS" {
		t.Errorf("firewall after update = %v", after)
	}
	// The patch, the update and one operations.get for each Wait.
	if n := callCount(srv, ServiceCompute, "globalOperations.get", http.StatusOK); n != 2 {
		t.Errorf("globalOperations.get answered %d times, want 2", n)
	}
	// Renaming is refused.
	_, err = c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{
		Project: prodID, Firewall: "allow-ssh-world", FirewallResource: &computepb.Firewall{Name: ptr("other")},
	})
	googleErr(t, err, http.StatusBadRequest)
}

func TestFirewallInsertDelete(t *testing.T) {
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	_, url := start(t, loadBasic(t), WithClock(func() time.Time { return created }))
	c := newClients(t, url)
	ctx := testContext(t)
	fw := &computepb.Firewall{
		Name: ptr("allow-app"), Network: ptr("global/networks/vpc-main"), SourceRanges: []string{"10.1.0.0/16"},
		Allowed: []*computepb.Allowed{{IPProtocol: ptr("tcp"), Ports: []string{"8080"}}},
	}
	op, err := c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: fw})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting for the insert: %v", err)
	}
	got, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-app"})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.GetNetwork() != "https://www.googleapis.com/compute/v1/projects/demo-prod/global/networks/vpc-main" ||
		got.GetPriority() != 1000 || got.GetDirection() != "INGRESS" || got.GetId() == 0 || got.GetCreationTimestamp() != "2026-03-04T05:06:07.000+00:00" ||
		got.GetSelfLink() != "https://www.googleapis.com/compute/v1/projects/demo-prod/global/firewalls/allow-app" {
		t.Errorf("inserted firewall = %v", got)
	}
	_, err = c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: fw})
	if ge := googleErr(t, err, http.StatusConflict); ge.Errors[0].Reason != "alreadyExists" {
		t.Errorf("second insert: %v", ge)
	}
	_, err = c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: &computepb.Firewall{
		Name: ptr("nowhere"), Network: ptr("global/networks/missing"), Allowed: fw.Allowed,
	}})
	googleErr(t, err, http.StatusNotFound)
	_, err = c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: &computepb.Firewall{Name: ptr("Bad_Name")}})
	googleErr(t, err, http.StatusBadRequest)

	op, err = c.firewalls.Delete(ctx, &computepb.DeleteFirewallRequest{Project: prodID, Firewall: "allow-app"})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting for the delete: %v", err)
	}
	_, err = c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-app"})
	ge := googleErr(t, err, http.StatusNotFound)
	if ge.Message != "The resource 'projects/demo-prod/global/firewalls/allow-app' was not found" || ge.Errors[0].Reason != "notFound" {
		t.Errorf("get after delete: %v", ge)
	}
	_, err = c.firewalls.Delete(ctx, &computepb.DeleteFirewallRequest{Project: prodID, Firewall: "allow-app"})
	googleErr(t, err, http.StatusNotFound)
}

func TestNetworks(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	var names []string
	it := c.networks.List(ctx, &computepb.ListNetworksRequest{Project: prodID})
	for {
		n, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("listing networks: %v", err)
		}
		names = append(names, n.GetName())
	}
	if !slices.Equal(names, []string{"default", "vpc-main"}) {
		t.Errorf("networks = %v", names)
	}
	def, err := c.networks.Get(ctx, &computepb.GetNetworkRequest{Project: prodID, Network: "default"})
	if err != nil || !def.GetAutoCreateSubnetworks() {
		t.Fatalf("get default network = %v, %v", def, err)
	}
	// Firewalls still use both networks.
	_, err = c.networks.Delete(ctx, &computepb.DeleteNetworkRequest{Project: prodID, Network: "vpc-main"})
	if ge := googleErr(t, err, http.StatusBadRequest); ge.Errors[0].Reason != "resourceInUseByAnotherResource" ||
		!strings.Contains(ge.Message, "projects/demo-prod/global/networks/vpc-main") {
		t.Errorf("deleting a used network: %v", ge)
	}
	op, err := c.networks.Insert(ctx, &computepb.InsertNetworkRequest{Project: prodID, NetworkResource: &computepb.Network{
		Name: ptr("scratch"), AutoCreateSubnetworks: ptr(false),
	}})
	if err != nil {
		t.Fatalf("insert network: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	op, err = c.networks.Delete(ctx, &computepb.DeleteNetworkRequest{Project: prodID, Network: "scratch"})
	if err != nil {
		t.Fatalf("delete unused network: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	_, err = c.networks.Get(ctx, &computepb.GetNetworkRequest{Project: prodID, Network: "scratch"})
	googleErr(t, err, http.StatusNotFound)
}

func TestAggregatedAndRegional(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)

	instances := map[string][]string{}
	iit := c.instances.AggregatedList(ctx, &computepb.AggregatedListInstancesRequest{Project: prodID, MaxResults: ptr[uint32](1)})
	for {
		pair, err := iit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("aggregated instances: %v", err)
		}
		for _, in := range pair.Value.GetInstances() {
			instances[pair.Key] = append(instances[pair.Key], in.GetName())
		}
	}
	if len(instances) != 2 || !slices.Equal(instances["zones/us-central1-a"], []string{"web-1"}) ||
		!slices.Equal(instances["zones/europe-west1-b"], []string{"batch-1"}) {
		t.Errorf("aggregated instances = %v", instances)
	}

	subnets := map[string][]string{}
	sit := c.subnetworks.AggregatedList(ctx, &computepb.AggregatedListSubnetworksRequest{Project: prodID})
	for {
		pair, err := sit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("aggregated subnetworks: %v", err)
		}
		for _, sn := range pair.Value.GetSubnetworks() {
			subnets[pair.Key] = append(subnets[pair.Key], sn.GetName())
		}
	}
	if !slices.Equal(subnets["regions/us-central1"], []string{"default", "main-subnet"}) ||
		!slices.Equal(subnets["regions/europe-west1"], []string{"default"}) {
		t.Errorf("aggregated subnetworks = %v", subnets)
	}

	var regional []string
	rit := c.subnetworks.List(ctx, &computepb.ListSubnetworksRequest{Project: prodID, Region: "us-central1"})
	for {
		sn, err := rit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("listing subnetworks: %v", err)
		}
		regional = append(regional, sn.GetName())
	}
	if !slices.Equal(regional, []string{"default", "main-subnet"}) {
		t.Errorf("subnetworks of us-central1 = %v", regional)
	}
	sn, err := c.subnetworks.Get(ctx, &computepb.GetSubnetworkRequest{Project: prodID, Region: "us-central1", Subnetwork: "default"})
	if err != nil {
		t.Fatalf("get subnetwork: %v", err)
	}
	if sn.GetLogConfig().GetEnable() || sn.GetIpCidrRange() != "10.128.0.0/20" {
		t.Errorf("subnetwork = %v", sn)
	}
	// Turning flow logs on, with the fingerprint read, through a regional operation.
	op, err := c.subnetworks.Patch(ctx, &computepb.PatchSubnetworkRequest{
		Project: prodID, Region: "us-central1", Subnetwork: "default",
		SubnetworkResource: &computepb.Subnetwork{Fingerprint: sn.Fingerprint, LogConfig: &computepb.SubnetworkLogConfig{Enable: ptr(true)}},
	})
	if err != nil {
		t.Fatalf("patch subnetwork: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	sn2, err := c.subnetworks.Get(ctx, &computepb.GetSubnetworkRequest{Project: prodID, Region: "us-central1", Subnetwork: "default"})
	if err != nil || !sn2.GetLogConfig().GetEnable() || sn2.GetFingerprint() == sn.GetFingerprint() {
		t.Errorf("subnetwork after patch = %v, %v", sn2, err)
	}
	// The old fingerprint is stale now.
	_, err = c.subnetworks.Patch(ctx, &computepb.PatchSubnetworkRequest{
		Project: prodID, Region: "us-central1", Subnetwork: "default",
		SubnetworkResource: &computepb.Subnetwork{Fingerprint: sn.Fingerprint, LogConfig: &computepb.SubnetworkLogConfig{Enable: ptr(false)}},
	})
	googleErr(t, err, http.StatusPreconditionFailed)

	var zonal []string
	zit := c.instances.List(ctx, &computepb.ListInstancesRequest{Project: prodID, Zone: "us-central1-a"})
	for {
		in, err := zit.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatalf("listing instances: %v", err)
		}
		zonal = append(zonal, in.GetName())
	}
	if !slices.Equal(zonal, []string{"web-1"}) {
		t.Errorf("instances of us-central1-a = %v", zonal)
	}
}

func TestComputeProjectErrors(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	_, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: "ghost", Firewall: "x"})
	if ge := googleErr(t, err, http.StatusNotFound); ge.Message != "The resource 'projects/ghost' was not found" {
		t.Errorf("unknown project: %v", ge)
	}
	// demo-dev has the compute API disabled (testdata/basic/sandbox.yaml).
	_, err = c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: devID, Firewall: "allow-all-dev", FirewallResource: &computepb.Firewall{}})
	ge := googleErr(t, err, http.StatusForbidden)
	if ge.Errors[0].Reason != "accessNotConfigured" ||
		!strings.Contains(ge.Message, "Compute Engine API has not been used in project 200000000002 before or it is disabled") {
		t.Errorf("disabled API: %v", ge)
	}
	// A project number in the path reaches the same project.
	if _, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodNumber, Firewall: "allow-internal"}); err != nil {
		t.Errorf("get by project number: %v", err)
	}
}
