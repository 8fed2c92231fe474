package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
)

// networkScenario is a project with two networks: "auto", used only by its own subnetwork
// and Google's routes, and "busy", used by everything that can use a network.
func networkScenario() *Scenario {
	const base = "https://www.googleapis.com/compute/v1/projects/np/"
	var assets []*inventory.Asset
	add := func(assetType, path, data string) {
		assets = append(assets, &inventory.Asset{Name: "//compute.googleapis.com/projects/np/" + path, AssetType: assetType,
			Resource: &inventory.Resource{Data: json.RawMessage(data)}})
	}
	add(inventory.TypeNetwork, "global/networks/auto", `{"autoCreateSubnetworks":true}`)
	add(inventory.TypeNetwork, "global/networks/busy", `{"autoCreateSubnetworks":false}`)
	add(inventory.TypeSubnetwork, "regions/us-central1/subnetworks/auto", `{"network":"`+base+`global/networks/auto","ipCidrRange":"10.128.0.0/20"}`)
	add(inventory.TypeSubnetwork, "regions/us-central1/subnetworks/busy", `{"network":"`+base+`global/networks/busy","ipCidrRange":"10.0.0.0/24"}`)
	add(typeRoute, "global/routes/default-route-1", `{"network":"`+base+`global/networks/auto","destRange":"0.0.0.0/0","nextHopGateway":"`+base+`global/gateways/default-internet-gateway"}`)
	add(typeRoute, "global/routes/default-route-2", `{"network":"`+base+`global/networks/auto","destRange":"10.128.0.0/20","nextHopNetwork":"`+base+`global/networks/auto"}`)
	add(typeRoute, "global/routes/to-onprem", `{"network":"`+base+`global/networks/busy","destRange":"172.16.0.0/12","nextHopIp":"10.0.0.9"}`)
	add(typeInstanceTemplate, "global/instanceTemplates/tpl", `{"properties":{"networkInterfaces":[{"network":"`+base+`global/networks/auto"}]}}`)
	add(typeForwardingRule, "regions/us-central1/forwardingRules/fr", `{"subnetwork":"`+base+`regions/us-central1/subnetworks/busy"}`)
	add(typeRouter, "regions/us-central1/routers/rtr", `{"network":"`+base+`global/networks/busy"}`)
	add(typeVpnGateway, "regions/us-central1/vpnGateways/vgw", `{"network":"`+base+`global/networks/busy"}`)
	add(typeTargetVpnGateway, "regions/europe-west1/targetVpnGateways/tvgw", `{"network":"`+base+`global/networks/busy"}`)
	add(typeVpnTunnel, "regions/europe-west1/vpnTunnels/tun", `{"targetVpnGateway":"`+base+`regions/europe-west1/targetVpnGateways/tvgw"}`)
	return &Scenario{Assets: assets}
}

func TestNetworkUsersEndpoints(t *testing.T) {
	_, url := start(t, networkScenario())
	ctx := testContext(t)
	opts := []option.ClientOption{option.WithEndpoint(url), option.WithoutAuthentication()}
	templates, err := compute.NewInstanceTemplatesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer templates.Close()
	routes, err := compute.NewRoutesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer routes.Close()
	tunnels, err := compute.NewVpnTunnelsRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer tunnels.Close()
	forwarding, err := compute.NewForwardingRulesRESTClient(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer forwarding.Close()

	var names []string
	it := templates.List(ctx, &computepb.ListInstanceTemplatesRequest{Project: "np"})
	for tpl, err := it.Next(); err != iterator.Done; tpl, err = it.Next() {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tpl.GetName()+" "+tpl.GetProperties().GetNetworkInterfaces()[0].GetNetwork())
	}
	if !slices.Equal(names, []string{"tpl https://www.googleapis.com/compute/v1/projects/np/global/networks/auto"}) {
		t.Errorf("instance templates = %v", names)
	}
	agg := templates.AggregatedList(ctx, &computepb.AggregatedListInstanceTemplatesRequest{Project: "np"})
	pair, err := agg.Next()
	if err != nil || pair.Key != "global" || len(pair.Value.GetInstanceTemplates()) != 1 {
		t.Errorf("aggregated instance templates = %v, %v", pair, err)
	}

	names = nil
	rit := routes.List(ctx, &computepb.ListRoutesRequest{Project: "np"})
	for r, err := rit.Next(); err != iterator.Done; r, err = rit.Next() {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.GetName())
	}
	if !slices.Equal(names, []string{"default-route-1", "default-route-2", "to-onprem"}) {
		t.Errorf("routes = %v", names)
	}
	if r, err := routes.Get(ctx, &computepb.GetRouteRequest{Project: "np", Route: "to-onprem"}); err != nil || r.GetNextHopIp() != "10.0.0.9" ||
		r.GetKind() != "compute#route" {
		t.Errorf("route = %v, %v", r, err)
	}

	tit := tunnels.AggregatedList(ctx, &computepb.AggregatedListVpnTunnelsRequest{Project: "np"})
	pair2, err := tit.Next()
	if err != nil || pair2.Key != "regions/europe-west1" || pair2.Value.GetVpnTunnels()[0].GetName() != "tun" {
		t.Errorf("aggregated tunnels = %v, %v", pair2, err)
	}
	fr, err := forwarding.Get(ctx, &computepb.GetForwardingRuleRequest{Project: "np", Region: "us-central1", ForwardingRule: "fr"})
	if err != nil || !strings.HasSuffix(fr.GetRegion(), "/regions/us-central1") {
		t.Errorf("forwarding rule = %v, %v", fr, err)
	}
}

func TestDeleteNetworkInUse(t *testing.T) {
	srv, url := start(t, networkScenario())
	c := newClients(t, url)
	ctx := testContext(t)
	// busy: its router (among others) keeps it.
	_, err := c.networks.Delete(ctx, &computepb.DeleteNetworkRequest{Project: "np", Network: "busy"})
	if ge := googleErr(t, err, http.StatusBadRequest); ge.Errors[0].Reason != "resourceInUseByAnotherResource" {
		t.Errorf("deleting busy: %v", ge)
	}
	// auto: its own subnetwork and Google's routes go with it; the instance template, which
	// only names it, does not keep it.
	op, err := c.networks.Delete(ctx, &computepb.DeleteNetworkRequest{Project: "np", Network: "auto"})
	if err != nil {
		t.Fatalf("deleting auto: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, a := range srv.Assets() {
		left = append(left, strings.TrimPrefix(a.Name, "//compute.googleapis.com/projects/np/"))
	}
	want := []string{"global/instanceTemplates/tpl", "global/networks/busy", "global/routes/to-onprem",
		"regions/europe-west1/targetVpnGateways/tvgw", "regions/europe-west1/vpnTunnels/tun", "regions/us-central1/forwardingRules/fr",
		"regions/us-central1/routers/rtr", "regions/us-central1/subnetworks/busy", "regions/us-central1/vpnGateways/vgw"}
	if !slices.Equal(left, want) {
		t.Errorf("after deleting auto:\n%v\nwant\n%v", left, want)
	}
}

func TestFirewallWriteChecks(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	patch := func(fw *computepb.Firewall) error {
		op, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world", FirewallResource: fw})
		if err == nil {
			err = op.Wait(ctx)
		}
		return err
	}
	// A rule holds IPv4 or IPv6 ranges, not both; each must be a range.
	ge := googleErr(t, patch(&computepb.Firewall{SourceRanges: []string{"0.0.0.0/0", "::/0"}}), http.StatusBadRequest)
	if !strings.Contains(ge.Message, "either IPv4 or IPv6 ranges, but not both") {
		t.Errorf("mixed families: %v", ge)
	}
	googleErr(t, patch(&computepb.Firewall{SourceRanges: []string{"10.0.0.0/33"}}), http.StatusBadRequest)
	if err := patch(&computepb.Firewall{SourceRanges: []string{"::/0", "2001:db8::1"}}); err != nil {
		t.Errorf("IPv6 only: %v", err)
	}
	// Log metadata goes when logging is turned off.
	if err := patch(&computepb.Firewall{LogConfig: &computepb.FirewallLogConfig{Enable: ptr(true), Metadata: ptr("EXCLUDE_ALL_METADATA")}}); err != nil {
		t.Fatal(err)
	}
	if err := patch(&computepb.Firewall{LogConfig: &computepb.FirewallLogConfig{Enable: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	fw, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-ssh-world"})
	if err != nil || fw.GetLogConfig().Metadata != nil || fw.GetLogConfig().GetEnable() {
		t.Errorf("logConfig after turning logging off = %v, %v", fw.GetLogConfig(), err)
	}
}

func TestFaultOperations(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithFaults(Faults{FailOperations: 1, OperationError: "Quota 'FIREWALLS' exceeded.",
		Match: func(_, method string) bool { return method == "firewalls.patch" }}))
	c := newClients(t, url)
	ctx := testContext(t)
	get := &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-ssh-world"}
	op, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{Disabled: ptr(true)}})
	if err != nil {
		t.Fatalf("the call itself succeeds: %v", err)
	}
	p := op.Proto()
	if !op.Done() || p.GetHttpErrorStatusCode() != http.StatusInternalServerError ||
		p.GetError().GetErrors()[0].GetMessage() != "Quota 'FIREWALLS' exceeded." || p.GetError().GetErrors()[0].GetCode() != "INTERNAL_ERROR" {
		t.Errorf("failed operation = %v", p)
	}
	if fw, err := c.firewalls.Get(ctx, get); err != nil || fw.GetDisabled() {
		t.Errorf("the failed patch changed the rule: %v, %v", fw, err)
	}
	if n := srv.Faults().FailOperations; n != 0 {
		t.Errorf("failures left = %d", n)
	}
	// The next one succeeds, after two polls answered RUNNING.
	if err := srv.SetFaults(Faults{PendingOperationPolls: 2}); err != nil {
		t.Fatal(err)
	}
	op, err = c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{Disabled: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if op.Done() || op.Proto().GetStatus() != computepb.Operation_RUNNING {
		t.Errorf("pending operation = %v", op.Proto())
	}
	for i, want := range []bool{false, false, true} {
		if err := op.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if op.Done() != want {
			t.Errorf("poll %d: done = %v", i+1, op.Done())
		}
	}
	if fw, err := c.firewalls.Get(ctx, get); err != nil || !fw.GetDisabled() {
		t.Errorf("the patch did not take effect: %v, %v", fw, err)
	}
	for _, f := range []Faults{{FailOperations: -1}, {PendingOperationPolls: -1}} {
		if err := srv.SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
}
