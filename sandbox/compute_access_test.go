package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/zerodrift/zerodrift/inventory"
)

func TestSetPrivateIpGoogleAccess(t *testing.T) {
	sc := loadBasic(t)
	anc := []string{"projects/" + prodNumber, folderName, orgName}
	sc.Assets = append(sc.Assets, &inventory.Asset{
		Name: "//compute.googleapis.com/projects/" + prodID + "/regions/us-central1/subnetworks/proxy-only", AssetType: inventory.TypeSubnetwork,
		Ancestors: anc, Resource: &inventory.Resource{Version: "v1", DiscoveryName: "Subnetwork", Location: "us-central1", Data: json.RawMessage(
			`{"name":"proxy-only","network":"https://www.googleapis.com/compute/v1/projects/demo-prod/global/networks/vpc-main",` +
				`"ipCidrRange":"10.129.0.0/23","purpose":"REGIONAL_MANAGED_PROXY","role":"ACTIVE"}`)}})
	srv, url := start(t, sc)
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	c := newClients(t, url)
	ctx := testContext(t)
	get := &computepb.GetSubnetworkRequest{Project: prodID, Region: "us-central1", Subnetwork: "main-subnet"}
	before, err := c.subnetworks.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	set := func(subnet string, on bool) (*computepb.Operation, error) {
		op, err := c.subnetworks.SetPrivateIpGoogleAccess(ctx, &computepb.SetPrivateIpGoogleAccessSubnetworkRequest{Project: prodID,
			Region: "us-central1", Subnetwork: subnet,
			SubnetworksSetPrivateIpGoogleAccessRequestResource: &computepb.SubnetworksSetPrivateIpGoogleAccessRequest{PrivateIpGoogleAccess: ptr(on)}})
		if err != nil {
			return nil, err
		}
		return op.Proto(), op.Wait(ctx)
	}
	op, err := set("main-subnet", true)
	if err != nil {
		t.Fatalf("setPrivateIpGoogleAccess: %v", err)
	}
	if op.GetOperationType() != "setPrivateIpGoogleAccess" || op.GetRegion() != "https://www.googleapis.com/compute/v1/projects/demo-prod/regions/us-central1" ||
		op.GetTargetLink() != before.GetSelfLink() {
		t.Errorf("operation = %v", op)
	}
	after, err := c.subnetworks.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	if !after.GetPrivateIpGoogleAccess() || after.GetFingerprint() == before.GetFingerprint() || after.GetIpCidrRange() != "10.10.0.0/24" ||
		!after.GetLogConfig().GetEnable() {
		t.Errorf("subnetwork after turning Private Google Access on: %v", after)
	}
	if msgs := rec.take(); len(msgs) != 1 || !strings.HasSuffix(msgs[0].Asset.Name, "/subnetworks/main-subnet") {
		t.Errorf("feed messages %+v", msgs)
	}
	if _, err := set("main-subnet", false); err != nil {
		t.Fatal(err)
	}
	if again, err := c.subnetworks.Get(ctx, get); err != nil || again.GetPrivateIpGoogleAccess() || again.PrivateIpGoogleAccess == nil {
		t.Errorf("subnetwork after turning it off: %v, %v", again, err)
	}
	// A proxy-only subnetwork, and one that does not exist.
	_, err = set("proxy-only", true)
	if ge := googleErr(t, err, http.StatusBadRequest); !strings.Contains(ge.Message, "REGIONAL_MANAGED_PROXY") {
		t.Errorf("proxy-only: %v", ge)
	}
	_, err = set("ghost", true)
	googleErr(t, err, http.StatusNotFound)
	// An operation that fails leaves the subnetwork as it was.
	if err := srv.SetFaults(Faults{FailOperations: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := set("main-subnet", true); err == nil {
		t.Error("a failed operation was waited without error")
	}
	if s, err := c.subnetworks.Get(ctx, get); err != nil || s.GetPrivateIpGoogleAccess() {
		t.Errorf("after a failed operation: %v, %v", s, err)
	}
}

func TestAddAccessConfig(t *testing.T) {
	srv, url := start(t, withMetadata(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	c := newComputeClients(t, url)
	ctx := testContext(t)
	getBastion := func() *computepb.Instance {
		t.Helper()
		in, err := c.instances.Get(ctx, &computepb.GetInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion"})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	add := func(nic string, ac *computepb.AccessConfig) error {
		op, err := c.instances.AddAccessConfig(ctx, &computepb.AddAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
			Instance: "bastion", NetworkInterface: nic, AccessConfigResource: ac})
		if err != nil {
			return err
		}
		if op.Proto().GetOperationType() != "addAccessConfig" {
			t.Errorf("operation = %v", op.Proto())
		}
		return op.Wait(ctx)
	}
	del := func(nic, name string) {
		t.Helper()
		op, err := c.instances.DeleteAccessConfig(ctx, &computepb.DeleteAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
			Instance: "bastion", NetworkInterface: nic, AccessConfig: name})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// One IPv4 access config per interface.
	err := add("nic0", &computepb.AccessConfig{Name: ptr("second")})
	if ge := googleErr(t, err, http.StatusBadRequest); !strings.Contains(ge.Message, "At most one access config") {
		t.Errorf("a second access config: %v", ge)
	}
	// Removed and added back with its address.
	del("nic0", "External NAT")
	if err := add("nic0", &computepb.AccessConfig{Name: ptr("External NAT"), Type: ptr("ONE_TO_ONE_NAT"), NatIP: ptr("203.0.113.7")}); err != nil {
		t.Fatalf("addAccessConfig: %v", err)
	}
	acs := getBastion().GetNetworkInterfaces()[0].GetAccessConfigs()
	if len(acs) != 1 || acs[0].GetName() != "External NAT" || acs[0].GetNatIP() != "203.0.113.7" || acs[0].GetNetworkTier() != "PREMIUM" ||
		acs[0].GetKind() != "compute#accessConfig" {
		t.Errorf("nic0's access configs = %v", acs)
	}
	if msgs := rec.take(); len(msgs) != 2 || msgs[1].Asset.Name != bastionName {
		t.Errorf("feed messages of a delete and an add: %+v", msgs)
	} else if inst, err := msgs[1].Asset.Instance(); err != nil || len(inst.NetworkInterfaces[0].AccessConfigs) != 1 {
		t.Errorf("feed asset after the add: %+v, %v", inst, err)
	}
	// Without an address: an ephemeral one, with the default name.
	del("nic1", "nic1-nat")
	if err := add("nic1", &computepb.AccessConfig{}); err != nil {
		t.Fatalf("addAccessConfig without a natIP: %v", err)
	}
	acs = getBastion().GetNetworkInterfaces()[1].GetAccessConfigs()
	if len(acs) != 1 || acs[0].GetName() != "External NAT" || acs[0].GetNatIP() != "198.51.100.1" || acs[0].GetType() != "ONE_TO_ONE_NAT" {
		t.Errorf("nic1's access configs = %v", acs)
	}
	// An address in use, not an address, another type, an unknown interface or instance.
	del("nic1", "External NAT")
	for _, bad := range []*computepb.AccessConfig{{NatIP: ptr("203.0.113.7")}, {NatIP: ptr("nope")}, {Type: ptr("DIRECT_IPV6")}} {
		googleErr(t, add("nic1", bad), http.StatusBadRequest)
	}
	googleErr(t, add("nic9", &computepb.AccessConfig{}), http.StatusBadRequest)
	_, err = c.instances.AddAccessConfig(ctx, &computepb.AddAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
		Instance: "ghost", NetworkInterface: "nic0", AccessConfigResource: &computepb.AccessConfig{}})
	googleErr(t, err, http.StatusNotFound)
	if n := len(getBastion().GetNetworkInterfaces()[1].GetAccessConfigs()); n != 0 {
		t.Errorf("refused adds left %d access configs on nic1", n)
	}
	if n := callCount(srv, ServiceCompute, "instances.addAccessConfig", http.StatusOK); n != 2 {
		t.Errorf("%d successful addAccessConfig calls, want 2", n)
	}
}

func TestAccessPermissions(t *testing.T) {
	for method, want := range map[string][]string{
		"subnetworks.setPrivateIpGoogleAccess": {"compute.subnetworks.setPrivateIpGoogleAccess"},
		"instances.addAccessConfig":            {"compute.instances.addAccessConfig", "compute.subnetworks.useExternalIp"},
	} {
		if got := RequiredPermissions(ServiceCompute, method); !slices.Equal(got, want) {
			t.Errorf("%s requires %v, want %v", method, got, want)
		}
	}
	_, url := start(t, withMetadata(t), WithPermissions(allBut("compute.subnetworks.useExternalIp")))
	c := newComputeClients(t, url)
	_, err := c.instances.AddAccessConfig(testContext(t), &computepb.AddAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
		Instance: "bastion", NetworkInterface: "nic0", AccessConfigResource: &computepb.AccessConfig{}})
	if ge := googleErr(t, err, http.StatusForbidden); !strings.Contains(ge.Message, "compute.subnetworks.useExternalIp") {
		t.Errorf("message %q", ge.Message)
	}
}

// setIamPolicy changes only the fields its update mask names: with "auditConfigs,etag" the
// policy's bindings stay as they are, whatever the request holds; the etag guards the write
// all the same.
func TestSetIamPolicyAuditConfigsMask(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	ctx := testContext(t)
	res := "projects/" + prodID
	read := func() *iampb.Policy {
		t.Helper()
		p, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := read()
	if len(first.GetBindings()) == 0 {
		t.Fatal("the basic scenario's project has no binding")
	}
	mask := &fieldmaskpb.FieldMask{Paths: []string{"audit_configs", "etag"}}
	ac := []*iampb.AuditConfig{{Service: "allServices", AuditLogConfigs: []*iampb.AuditLogConfig{
		{LogType: iampb.AuditLogConfig_ADMIN_READ}, {LogType: iampb.AuditLogConfig_DATA_READ}, {LogType: iampb.AuditLogConfig_DATA_WRITE}}}}
	// No bindings sent: with this mask they are not touched.
	written, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, UpdateMask: mask,
		Policy: &iampb.Policy{Version: first.GetVersion(), Etag: first.GetEtag(), AuditConfigs: ac}})
	if err != nil {
		t.Fatalf("setIamPolicy with the audit configs mask: %v", err)
	}
	second := read()
	b1, _ := json.Marshal(first.GetBindings())
	b2, _ := json.Marshal(second.GetBindings())
	if !bytes.Equal(b1, b2) || len(second.GetAuditConfigs()) != 1 || len(second.GetAuditConfigs()[0].GetAuditLogConfigs()) != 3 ||
		bytes.Equal(second.GetEtag(), first.GetEtag()) || !bytes.Equal(second.GetEtag(), written.GetEtag()) {
		t.Errorf("policy after the masked write = %v, was %v", second, first)
	}
	// The old etag is stale now, mask or not.
	_, err = c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, UpdateMask: mask,
		Policy: &iampb.Policy{Etag: first.GetEtag()}})
	googleErr(t, err, http.StatusConflict)
	// A path the policy does not have.
	_, err = c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owners"}},
		Policy: &iampb.Policy{Etag: second.GetEtag()}})
	googleErr(t, err, http.StatusBadRequest)
	if third := read(); !bytes.Equal(third.GetEtag(), second.GetEtag()) {
		t.Error("a refused write changed the policy")
	}
}
