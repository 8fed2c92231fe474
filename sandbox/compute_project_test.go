package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	compute "cloud.google.com/go/compute/apiv1"
	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/api/option"

	"github.com/zerodrift/zerodrift/inventory"
)

// The compute settings and the instance the tests of this file add to the basic scenario.
const (
	prodComputeName = "//compute.googleapis.com/projects/" + prodID
	bastionZone     = "us-central1-a"
	bastionName     = "//compute.googleapis.com/projects/" + prodID + "/zones/" + bastionZone + "/instances/bastion"
)

// withMetadata is the basic scenario with demo-prod's compute settings (OS Login off,
// serial port on, as a scenario may give them without a fingerprint) and an instance,
// bastion, with instance metadata and an external address on nic0. demo-dev has none.
func withMetadata(t *testing.T) *Scenario {
	t.Helper()
	sc := loadBasic(t)
	anc := []string{"projects/" + prodNumber, folderName, orgName}
	sc.Assets = append(sc.Assets,
		&inventory.Asset{Name: prodComputeName, AssetType: inventory.TypeComputeProject, Ancestors: anc,
			UpdateTime: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
			Resource: &inventory.Resource{Version: "v1", DiscoveryName: "Project", Location: "global",
				Parent: crmPrefix + "projects/" + prodNumber, Data: json.RawMessage(`{"name":"demo-prod","commonInstanceMetadata":{"items":[` +
					`{"key":"enable-oslogin","value":"FALSE"},{"key":"serial-port-enable","value":"true"},{"key":"startup-script","value":"echo hi"}]}}`)}},
		&inventory.Asset{Name: bastionName, AssetType: inventory.TypeInstance, Ancestors: anc,
			Resource: &inventory.Resource{Version: "v1", DiscoveryName: "Instance", Location: bastionZone, Data: json.RawMessage(`{"name":"bastion",` +
				`"status":"RUNNING","metadata":{"items":[{"key":"serial-port-enable","value":"true"}]},` +
				`"networkInterfaces":[{"name":"nic0","network":"https://www.googleapis.com/compute/v1/projects/demo-prod/global/networks/vpc-main",` +
				`"networkIP":"10.0.0.9","accessConfigs":[{"name":"External NAT","type":"ONE_TO_ONE_NAT","natIP":"203.0.113.7"}]},` +
				`{"name":"nic1","network":"https://www.googleapis.com/compute/v1/projects/demo-prod/global/networks/default","networkIP":"10.1.0.9",` +
				`"accessConfigs":[{"name":"nic1-nat","type":"ONE_TO_ONE_NAT"}]}]}`)}},
	)
	return sc
}

// computeClients are the compute clients of this file's tests, as zerodrift builds them.
type computeClients struct {
	projects  *compute.ProjectsClient
	instances *compute.InstancesClient
	zoneOps   *compute.ZoneOperationsClient
}

func newComputeClients(t *testing.T, url string) *computeClients {
	t.Helper()
	ctx := testContext(t)
	opts := []option.ClientOption{option.WithEndpoint(url), option.WithoutAuthentication()}
	var c computeClients
	var err error
	if c.projects, err = compute.NewProjectsRESTClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.projects.Close() })
	if c.instances, err = compute.NewInstancesRESTClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.instances.Close() })
	if c.zoneOps, err = compute.NewZoneOperationsRESTClient(ctx, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.zoneOps.Close() })
	return &c
}

// metadataItems renders metadata items as key=value, in order.
func metadataItems(md *computepb.Metadata) []string {
	var out []string
	for _, it := range md.GetItems() {
		out = append(out, it.GetKey()+"="+it.GetValue())
	}
	return out
}

func TestComputeProjectGet(t *testing.T) {
	srv, url := start(t, withMetadata(t))
	c := newComputeClients(t, url)
	ctx := testContext(t)
	p, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	md := p.GetCommonInstanceMetadata()
	if p.GetName() != prodID || p.GetKind() != "compute#project" || p.GetId() != 200000000001 ||
		p.GetSelfLink() != "https://www.googleapis.com/compute/v1/projects/demo-prod" ||
		p.GetDefaultServiceAccount() != prodNumber+"-compute@developer.gserviceaccount.com" || p.GetCreationTimestamp() == "" {
		t.Errorf("project = %v", p)
	}
	if got, want := metadataItems(md), []string{"enable-oslogin=FALSE", "serial-port-enable=true", "startup-script=echo hi"}; !slices.Equal(got, want) ||
		md.GetFingerprint() == "" || md.GetKind() != "compute#metadata" {
		t.Errorf("metadata = %v (items %v, want %v with a fingerprint)", md, got, want)
	}
	// By number, the same project.
	byNumber, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodNumber})
	if err != nil || byNumber.GetName() != prodID || byNumber.GetCommonInstanceMetadata().GetFingerprint() != md.GetFingerprint() {
		t.Errorf("get by number = %v, %v", byNumber, err)
	}
	// A project unknown, and one whose compute API is disabled.
	_, err = c.projects.Get(ctx, &computepb.GetProjectRequest{Project: "ghost"})
	if ge := googleErr(t, err, http.StatusNotFound); ge.Message != "The resource 'projects/ghost' was not found" || ge.Errors[0].Reason != "notFound" {
		t.Errorf("unknown project: %v", ge)
	}
	_, err = c.projects.Get(ctx, &computepb.GetProjectRequest{Project: devID})
	if ge := googleErr(t, err, http.StatusForbidden); ge.Errors[0].Reason != "accessNotConfigured" {
		t.Errorf("disabled API: %v", ge)
	}
	if n := callCount(srv, ServiceCompute, "projects.get", http.StatusOK); n != 2 {
		t.Errorf("compute projects.get answered 200 %d times, want 2", n)
	}

	// A project without compute settings in its scenario: 404, in Google's shape.
	_, url2 := start(t, loadBasic(t))
	_, err = newComputeClients(t, url2).projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if ge := googleErr(t, err, http.StatusNotFound); ge.Message != "The resource 'projects/demo-prod' was not found" ||
		len(ge.Errors) != 1 || ge.Errors[0].Reason != "notFound" {
		t.Errorf("project without compute settings: %v", ge)
	}
}

// The compute settings are a scenario asset like the others: Cloud Asset Inventory lists
// them under the project and its ancestors, and a compute project named by project number
// is named by ID.
func TestComputeProjectInCloudAssetInventory(t *testing.T) {
	sc := withMetadata(t)
	sc.Assets[len(sc.Assets)-2].Name = computePrefix + "projects/" + prodNumber
	srv, url := start(t, sc)
	for _, parent := range []string{orgName, "projects/" + prodID, "projects/" + prodNumber} {
		var out listAssetsResponse
		getJSON(t, url+"/v1/"+parent+"/assets?contentType=RESOURCE&assetTypes="+inventory.TypeComputeProject, &out)
		if len(out.Assets) != 1 || out.Assets[0].Name != prodComputeName ||
			!slices.Equal(out.Assets[0].Ancestors, []string{"projects/" + prodNumber, folderName, orgName}) {
			t.Fatalf("%s lists %+v", parent, out.Assets)
		}
		cp, err := out.Assets[0].ComputeProject()
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := cp.CommonInstanceMetadata.Get("enable-oslogin"); v != "FALSE" || cp.CommonInstanceMetadata.Fingerprint == "" ||
			out.Assets[0].Resource.Location != "global" {
			t.Errorf("%s lists %s", parent, out.Assets[0].Resource.Data)
		}
	}
	if got := srv.Projects(); !slices.Equal(got, []string{devID, prodID}) {
		t.Errorf("projects %v", got)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestSetCommonInstanceMetadata(t *testing.T) {
	srv, url := start(t, withMetadata(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	c := newComputeClients(t, url)
	ctx := testContext(t)
	get := &computepb.GetProjectRequest{Project: prodID}
	before, err := c.projects.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	set := func(fp *string, items ...string) (*compute.Operation, error) {
		md := &computepb.Metadata{Fingerprint: fp}
		for _, kv := range items {
			k, v, _ := strings.Cut(kv, "=")
			md.Items = append(md.Items, &computepb.Items{Key: ptr(k), Value: ptr(v)})
		}
		return c.projects.SetCommonInstanceMetadata(ctx, &computepb.SetCommonInstanceMetadataProjectRequest{Project: prodID, MetadataResource: md})
	}
	op, err := set(before.GetCommonInstanceMetadata().Fingerprint, "enable-oslogin=TRUE", "startup-script=echo hi")
	if err != nil {
		t.Fatalf("set: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	if p := op.Proto(); !op.Done() || p.GetOperationType() != "setCommonInstanceMetadata" || p.GetTargetLink() != before.GetSelfLink() ||
		p.GetTargetId() != before.GetId() || p.GetZone() != "" || p.GetRegion() != "" ||
		!strings.Contains(p.GetSelfLink(), "/projects/demo-prod/global/operations/") {
		t.Errorf("operation = %v", p)
	}
	if n := callCount(srv, ServiceCompute, "globalOperations.get", http.StatusOK); n != 1 {
		t.Errorf("globalOperations.get answered %d times, want 1", n)
	}
	after, err := c.projects.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	md := after.GetCommonInstanceMetadata()
	if got := metadataItems(md); !slices.Equal(got, []string{"enable-oslogin=TRUE", "startup-script=echo hi"}) ||
		md.GetFingerprint() == "" || md.GetFingerprint() == before.GetCommonInstanceMetadata().GetFingerprint() {
		t.Errorf("metadata after the set: %v (before %v)", md, before.GetCommonInstanceMetadata())
	}
	if after.GetDefaultServiceAccount() != before.GetDefaultServiceAccount() || after.GetId() != before.GetId() {
		t.Errorf("the set changed more than the metadata: %v", after)
	}
	// The feed publishes the change.
	msgs := rec.take()
	if len(msgs) != 1 || msgs[0].Asset.Name != prodComputeName || msgs[0].PriorAssetState != PriorAssetPresent || msgs[0].PriorAsset == nil {
		t.Fatalf("feed messages %+v", msgs)
	}
	for asset, want := range map[*inventory.Asset]string{msgs[0].PriorAsset: "FALSE", msgs[0].Asset: "TRUE"} {
		cp, err := asset.ComputeProject()
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := cp.CommonInstanceMetadata.Get("enable-oslogin"); v != want {
			t.Errorf("feed message: enable-oslogin %q, want %q", v, want)
		}
	}

	// A stale fingerprint, or none, is refused (412 conditionNotMet) and changes nothing.
	for _, fp := range []*string{before.GetCommonInstanceMetadata().Fingerprint, nil} {
		_, err = set(fp, "enable-oslogin=FALSE")
		if ge := googleErr(t, err, http.StatusPreconditionFailed); ge.Errors[0].Reason != "conditionNotMet" {
			t.Errorf("stale fingerprint: %v", ge)
		}
	}
	// So are duplicate or invalid keys.
	for _, items := range [][]string{{"a=1", "a=2"}, {"bad key=1"}} {
		_, err = set(md.Fingerprint, items...)
		googleErr(t, err, http.StatusBadRequest)
	}
	again, err := c.projects.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.GetCommonInstanceMetadata(); got.GetFingerprint() != md.GetFingerprint() || !slices.Equal(metadataItems(got), metadataItems(md)) {
		t.Errorf("refused writes changed the metadata: %v, was %v", got, md)
	}
	if msgs := rec.take(); len(msgs) != 0 {
		t.Errorf("refused writes published %+v", msgs)
	}
	// Clearing every item keeps a fingerprint.
	op, err = set(md.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cleared, err := c.projects.Get(ctx, get)
	if err != nil || len(cleared.GetCommonInstanceMetadata().GetItems()) != 0 || cleared.GetCommonInstanceMetadata().GetFingerprint() == "" {
		t.Errorf("after clearing: %v, %v", cleared, err)
	}
	// A project without compute settings cannot have them set.
	_, err = c.projects.SetCommonInstanceMetadata(ctx, &computepb.SetCommonInstanceMetadataProjectRequest{Project: "ghost",
		MetadataResource: &computepb.Metadata{}})
	googleErr(t, err, http.StatusNotFound)
}

func TestSetCommonInstanceMetadataOperationFails(t *testing.T) {
	srv, url := start(t, withMetadata(t), WithFaults(Faults{FailOperations: 1,
		Match: func(_, method string) bool { return method == "projects.setCommonInstanceMetadata" }}))
	c := newComputeClients(t, url)
	ctx := testContext(t)
	before, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.projects.SetCommonInstanceMetadata(ctx, &computepb.SetCommonInstanceMetadataProjectRequest{Project: prodID,
		MetadataResource: &computepb.Metadata{Fingerprint: before.CommonInstanceMetadata.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx); err == nil {
		t.Error("the failed operation's wait ended well")
	}
	after, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if err != nil || after.GetCommonInstanceMetadata().GetFingerprint() != before.GetCommonInstanceMetadata().GetFingerprint() ||
		len(after.GetCommonInstanceMetadata().GetItems()) != 3 {
		t.Errorf("a failed operation changed the metadata: %v, %v", after, err)
	}
	_ = srv
}

func TestInstanceSetMetadata(t *testing.T) {
	srv, url := start(t, withMetadata(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	c := newComputeClients(t, url)
	ctx := testContext(t)
	get := &computepb.GetInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion"}
	before, err := c.instances.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	fp := before.GetMetadata().GetFingerprint()
	if fp == "" || !slices.Equal(metadataItems(before.GetMetadata()), []string{"serial-port-enable=true"}) {
		t.Fatalf("metadata before = %v", before.GetMetadata())
	}
	op, err := c.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion",
		MetadataResource: &computepb.Metadata{Fingerprint: ptr(fp), Items: []*computepb.Items{{Key: ptr("serial-port-enable"), Value: ptr("false")}}}})
	if err != nil {
		t.Fatalf("setMetadata: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	if p := op.Proto(); p.GetOperationType() != "setMetadata" || p.GetTargetLink() != before.GetSelfLink() ||
		p.GetZone() != "https://www.googleapis.com/compute/v1/projects/demo-prod/zones/us-central1-a" ||
		!strings.Contains(p.GetSelfLink(), "/projects/demo-prod/zones/us-central1-a/operations/") {
		t.Errorf("operation = %v", p)
	}
	if n := callCount(srv, ServiceCompute, "zoneOperations.get", http.StatusOK); n != 1 {
		t.Errorf("zoneOperations.get answered %d times, want 1", n)
	}
	after, err := c.instances.Get(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.GetMetadata(); !slices.Equal(metadataItems(got), []string{"serial-port-enable=false"}) || got.GetFingerprint() == fp ||
		got.GetFingerprint() == "" || len(after.GetNetworkInterfaces()[0].GetAccessConfigs()) != 1 {
		t.Errorf("instance after setMetadata: %v", after)
	}
	if msgs := rec.take(); len(msgs) != 1 || msgs[0].Asset.Name != bastionName || msgs[0].PriorAsset == nil {
		t.Errorf("feed messages %+v", msgs)
	}
	// The old fingerprint is stale: 412, and nothing changes.
	_, err = c.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion",
		MetadataResource: &computepb.Metadata{Fingerprint: ptr(fp)}})
	if ge := googleErr(t, err, http.StatusPreconditionFailed); ge.Errors[0].Reason != "conditionNotMet" {
		t.Errorf("stale fingerprint: %v", ge)
	}
	if again, err := c.instances.Get(ctx, get); err != nil || again.GetMetadata().GetFingerprint() != after.GetMetadata().GetFingerprint() ||
		len(again.GetMetadata().GetItems()) != 1 {
		t.Errorf("a refused setMetadata changed the instance: %v, %v", again, err)
	}
	// An instance the scenario gave no metadata has no fingerprint to send.
	op, err = c.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "web-1",
		MetadataResource: &computepb.Metadata{Items: []*computepb.Items{{Key: ptr("enable-oslogin"), Value: ptr("TRUE")}}}})
	if err != nil {
		t.Fatalf("setMetadata on web-1: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	web, err := c.instances.Get(ctx, &computepb.GetInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "web-1"})
	if err != nil || !slices.Equal(metadataItems(web.GetMetadata()), []string{"enable-oslogin=TRUE"}) || web.GetMetadata().GetFingerprint() == "" {
		t.Errorf("web-1 after setMetadata: %v, %v", web.GetMetadata(), err)
	}
	// An instance that does not exist.
	_, err = c.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "ghost",
		MetadataResource: &computepb.Metadata{}})
	googleErr(t, err, http.StatusNotFound)
}

func TestDeleteAccessConfig(t *testing.T) {
	srv, url := start(t, withMetadata(t))
	rec := &feedRecorder{}
	srv.SetFeed(rec.publish)
	c := newComputeClients(t, url)
	ctx := testContext(t)
	del := func(nic, ac string) (*compute.Operation, error) {
		return c.instances.DeleteAccessConfig(ctx, &computepb.DeleteAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
			Instance: "bastion", NetworkInterface: nic, AccessConfig: ac})
	}
	op, err := del("nic0", "External NAT")
	if err != nil {
		t.Fatalf("deleteAccessConfig: %v", err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	if p := op.Proto(); p.GetOperationType() != "deleteAccessConfig" || !strings.HasSuffix(p.GetTargetLink(), "/zones/us-central1-a/instances/bastion") {
		t.Errorf("operation = %v", p)
	}
	in, err := c.instances.Get(ctx, &computepb.GetInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion"})
	if err != nil {
		t.Fatal(err)
	}
	nics := in.GetNetworkInterfaces()
	if len(nics) != 2 || len(nics[0].GetAccessConfigs()) != 0 || nics[0].GetNetworkIP() != "10.0.0.9" ||
		len(nics[1].GetAccessConfigs()) != 1 || nics[1].GetAccessConfigs()[0].GetName() != "nic1-nat" {
		t.Errorf("network interfaces after deleting nic0's access config: %v", nics)
	}
	if msgs := rec.take(); len(msgs) != 1 || msgs[0].Asset.Name != bastionName {
		t.Errorf("feed messages %+v", msgs)
	} else if inst, err := msgs[0].Asset.Instance(); err != nil || len(inst.NetworkInterfaces[0].AccessConfigs) != 0 {
		t.Errorf("feed asset %+v, %v", inst, err)
	}
	// Gone now; an unknown network interface; a missing parameter; an unknown instance.
	_, err = del("nic0", "External NAT")
	googleErr(t, err, http.StatusBadRequest)
	_, err = del("nic7", "nic1-nat")
	googleErr(t, err, http.StatusBadRequest)
	_, err = del("nic1", "")
	googleErr(t, err, http.StatusBadRequest)
	_, err = c.instances.DeleteAccessConfig(ctx, &computepb.DeleteAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
		Instance: "ghost", NetworkInterface: "nic0", AccessConfig: "External NAT"})
	googleErr(t, err, http.StatusNotFound)
	if msgs := rec.take(); len(msgs) != 0 {
		t.Errorf("refused deletes published %+v", msgs)
	}
}

// Zone operations are polled and waited on as region and global ones are; one held back
// answers RUNNING until it is done.
func TestZoneOperations(t *testing.T) {
	srv, url := start(t, withMetadata(t), WithFaults(Faults{PendingOperationPolls: 1,
		Match: func(_, method string) bool { return method == "instances.deleteAccessConfig" }}))
	c := newComputeClients(t, url)
	ctx := testContext(t)
	op, err := c.instances.DeleteAccessConfig(ctx, &computepb.DeleteAccessConfigInstanceRequest{Project: prodID, Zone: bastionZone,
		Instance: "bastion", NetworkInterface: "nic1", AccessConfig: "nic1-nat"})
	if err != nil {
		t.Fatal(err)
	}
	if op.Done() || op.Proto().GetStatus() != computepb.Operation_RUNNING {
		t.Fatalf("held-back operation answered %v", op.Proto())
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatalf("waiting: %v", err)
	}
	if !op.Done() || callCount(srv, ServiceCompute, "zoneOperations.get", http.StatusOK) != 2 {
		t.Errorf("done %v after %d zoneOperations.get, want 2", op.Done(), callCount(srv, ServiceCompute, "zoneOperations.get", http.StatusOK))
	}
	// zoneOperations.wait answers the operation too.
	waited, err := c.zoneOps.Wait(ctx, &computepb.WaitZoneOperationRequest{Project: prodID, Zone: bastionZone, Operation: op.Name()})
	if err != nil || waited.GetStatus() != computepb.Operation_DONE || waited.GetName() != op.Name() {
		t.Errorf("zoneOperations.wait = %v, %v", waited, err)
	}
	// In another zone, or unknown: 404.
	_, err = c.zoneOps.Get(ctx, &computepb.GetZoneOperationRequest{Project: prodID, Zone: "europe-west1-b", Operation: op.Name()})
	googleErr(t, err, http.StatusNotFound)
	_, err = c.zoneOps.Get(ctx, &computepb.GetZoneOperationRequest{Project: prodID, Zone: bastionZone, Operation: "operation-0-0"})
	googleErr(t, err, http.StatusNotFound)
}

func TestMetadataPermissions(t *testing.T) {
	for method, want := range map[string][]string{
		"projects.get":                       {"compute.projects.get"},
		"projects.setCommonInstanceMetadata": {"compute.projects.setCommonInstanceMetadata"},
		"instances.setMetadata":              {"compute.instances.setMetadata"},
		"instances.deleteAccessConfig":       {"compute.instances.deleteAccessConfig"},
		"zoneOperations.get":                 {"compute.zoneOperations.get"},
		"zoneOperations.wait":                {"compute.zoneOperations.get"},
	} {
		if got := RequiredPermissions(ServiceCompute, method); !slices.Equal(got, want) {
			t.Errorf("%s requires %v, want %v", method, got, want)
		}
	}
	_, url := start(t, withMetadata(t), WithPermissions(allBut("compute.instances.setMetadata", "compute.projects.get")))
	c := newComputeClients(t, url)
	ctx := testContext(t)
	_, err := c.instances.SetMetadata(ctx, &computepb.SetMetadataInstanceRequest{Project: prodID, Zone: bastionZone, Instance: "bastion",
		MetadataResource: &computepb.Metadata{}})
	const want = "Required 'compute.instances.setMetadata' permission for 'projects/demo-prod/zones/us-central1-a/instances/bastion'"
	if ge := googleErr(t, err, http.StatusForbidden); ge.Message != want {
		t.Errorf("message %q, want %q", ge.Message, want)
	}
	_, err = c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if ge := googleErr(t, err, http.StatusForbidden); ge.Message != "Required 'compute.projects.get' permission for 'projects/demo-prod'" {
		t.Errorf("message %q", ge.Message)
	}
}

// A drift that changes the metadata gives it a new fingerprint: a writer holding the old
// one must read again.
func TestDriftRefreshesTheMetadataFingerprint(t *testing.T) {
	_, url := start(t, withMetadata(t))
	c := newComputeClients(t, url)
	ctx := testContext(t)
	before, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if err != nil {
		t.Fatal(err)
	}
	drift := map[string]any{"name": prodComputeName, "assetType": inventory.TypeComputeProject, "resource": map[string]any{
		"data": map[string]any{"name": prodID, "commonInstanceMetadata": map[string]any{
			"fingerprint": before.GetCommonInstanceMetadata().GetFingerprint(),
			"items":       []map[string]string{{"key": "enable-oslogin", "value": "TRUE"}},
		}},
	}}
	if code := feedCall(t, http.MethodPost, url+"/sandbox/v1/drift", drift); code != http.StatusOK {
		t.Fatalf("drift: %d", code)
	}
	after, err := c.projects.Get(ctx, &computepb.GetProjectRequest{Project: prodID})
	if err != nil {
		t.Fatal(err)
	}
	if md := after.GetCommonInstanceMetadata(); !slices.Equal(metadataItems(md), []string{"enable-oslogin=TRUE"}) ||
		md.GetFingerprint() == before.GetCommonInstanceMetadata().GetFingerprint() || md.GetFingerprint() == "" ||
		after.GetSelfLink() != before.GetSelfLink() || after.GetKind() != "compute#project" {
		t.Errorf("after the drift: %v", after)
	}
	_, err = c.projects.SetCommonInstanceMetadata(ctx, &computepb.SetCommonInstanceMetadataProjectRequest{Project: prodID,
		MetadataResource: &computepb.Metadata{Fingerprint: before.CommonInstanceMetadata.Fingerprint}})
	googleErr(t, err, http.StatusPreconditionFailed)
}
