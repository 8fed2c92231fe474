package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"
)

// permissionRE is the form of an IAM permission: service.resource.verb.
var permissionRE = regexp.MustCompile(`^(compute|resourcemanager|iam|storage|cloudasset)\.[a-z][A-Za-z]*\.[a-z][A-Za-z]*$`)

// Every Google Cloud method the sandbox serves requires at least one permission, and the
// permission table names no method that is not served.
func TestEveryRouteRequiresAPermission(t *testing.T) {
	srv, err := New(loadBasic(t))
	if err != nil {
		t.Fatal(err)
	}
	// gcs.go, outside the table.
	served := map[string]bool{ServiceStorage + " " + methodObjectsGet: true, ServiceStorage + " " + methodObjectsDelete: true}
	for _, rt := range srv.routes {
		if rt.service == serviceSandbox {
			if len(rt.perms) != 0 {
				t.Errorf("sandbox endpoint %s requires %v", rt.method, rt.perms)
			}
			continue
		}
		key := rt.service + " " + rt.method
		served[key] = true
		if len(rt.perms) == 0 {
			t.Errorf("%s %s (%s %s) requires no permission: add it to methodPermissions", rt.service, rt.method,
				rt.httpMethod, strings.Join(rt.segs, "/"))
		}
		for _, p := range rt.perms {
			if !permissionRE.MatchString(p) {
				t.Errorf("%s: %q is not a permission", key, p)
			}
		}
		if got := RequiredPermissions(rt.service, rt.method); !slices.Equal(got, rt.perms) {
			t.Errorf("RequiredPermissions(%s) = %v, the route has %v", key, got, rt.perms)
		}
	}
	for key := range methodPermissions() {
		if !served[key] {
			t.Errorf("methodPermissions lists %s, which the sandbox does not serve", key)
		}
	}
	known := KnownPermissions()
	if !slices.IsSorted(known) || !slices.Contains(known, "storage.objects.get") || !slices.Contains(known, "compute.networks.updatePolicy") ||
		!slices.Contains(known, "storage.objects.create") || len(slices.Compact(slices.Clone(known))) != len(known) {
		t.Errorf("KnownPermissions() = %v", known)
	}
}

// Firewall writes need compute.networks.updatePolicy beside the firewalls permission, as
// Compute Engine documents; operations polls need the operations' get.
func TestComputeWritePermissions(t *testing.T) {
	for method, want := range map[string][]string{
		"firewalls.insert":         {"compute.firewalls.create", "compute.networks.updatePolicy"},
		"firewalls.patch":          {"compute.firewalls.update", "compute.networks.updatePolicy"},
		"firewalls.update":         {"compute.firewalls.update", "compute.networks.updatePolicy"},
		"firewalls.delete":         {"compute.firewalls.delete", "compute.networks.updatePolicy"},
		"networks.delete":          {"compute.networks.delete"},
		"networks.insert":          {"compute.networks.create"},
		"globalOperations.get":     {"compute.globalOperations.get"},
		"globalOperations.wait":    {"compute.globalOperations.get"},
		"instances.aggregatedList": {"compute.instances.list"},
	} {
		if got := RequiredPermissions(ServiceCompute, method); !slices.Equal(got, want) {
			t.Errorf("%s requires %v, want %v", method, got, want)
		}
	}
}

// allBut returns every known permission except those named.
func allBut(except ...string) []string {
	return slices.DeleteFunc(KnownPermissions(), func(p string) bool { return slices.Contains(except, p) })
}

func TestPermissionDeniedThroughTheGoClient(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithPermissions(allBut("compute.firewalls.list")))
	c := newClients(t, url)
	_, err := c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: prodID}).Next()
	ge := googleErr(t, err, http.StatusForbidden)
	const want = "Required 'compute.firewalls.list' permission for 'projects/demo-prod'"
	if ge.Message != want || !strings.Contains(err.Error(), "compute.firewalls.list") {
		t.Errorf("message %q (error %v), want %q", ge.Message, err, want)
	}
	if len(ge.Errors) != 1 || ge.Errors[0].Reason != "forbidden" {
		t.Errorf("errors %+v, want one with reason forbidden", ge.Errors)
	}
	if n := callCount(srv, ServiceCompute, "firewalls.list", http.StatusForbidden); n != 1 {
		t.Errorf("%d denied firewalls.list calls counted, want 1", n)
	}
	// Other methods are still allowed.
	if _, err := c.networks.Get(testContext(t), &computepb.GetNetworkRequest{Project: prodID, Network: "vpc-main"}); err != nil {
		t.Errorf("networks.get with its permission: %v", err)
	}

	if err := srv.SetPermissions(KnownPermissions()); err != nil {
		t.Fatal(err)
	}
	if got := listFirewalls(t, c, &computepb.ListFirewallsRequest{Project: prodID}); len(got) == 0 {
		t.Error("no firewalls listed once compute.firewalls.list is granted")
	}
}

// The 403 is Google's JSON error shape for each API, and names the permission.
func TestPermissionDeniedShapes(t *testing.T) {
	objects := fstest.MapFS{"tfstate/default.tfstate": {Data: []byte(`{"version": 4}`)}}
	_, url := start(t, loadBasic(t), WithPermissions(nil), WithStorage(objects))
	type errorJSON struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Domain, Reason, Message string
			} `json:"errors"`
			Details []struct {
				Reason   string            `json:"reason"`
				Metadata map[string]string `json:"metadata"`
			} `json:"details"`
		} `json:"error"`
	}
	for _, tc := range []struct {
		method, path, body  string
		permission, message string
	}{
		{http.MethodPatch, "/compute/v1/projects/demo-prod/global/firewalls/allow-ssh-world", `{"sourceRanges":["10.0.0.0/8"]}`,
			"compute.firewalls.update", "Required 'compute.firewalls.update' permission for 'projects/demo-prod/global/firewalls/allow-ssh-world'"},
		{http.MethodGet, "/compute/v1/projects/demo-prod/global/operations/operation-1", "",
			"compute.globalOperations.get", "Required 'compute.globalOperations.get' permission for 'projects/demo-prod/global/operations/operation-1'"},
		{http.MethodPost, "/v3/projects/demo-prod:setIamPolicy", `{}`,
			"resourcemanager.projects.setIamPolicy", "Permission 'resourcemanager.projects.setIamPolicy' denied on resource '//cloudresourcemanager.googleapis.com/projects/demo-prod' (or it may not exist)."},
		{http.MethodGet, "/v1/projects/demo-prod/serviceAccounts/" + appEmail + "/keys", "",
			"iam.serviceAccountKeys.list", "Permission 'iam.serviceAccountKeys.list' denied on resource (or it may not exist)."},
		{http.MethodGet, "/storage/v1/b/tfstate/o/default.tfstate?alt=media", "",
			"storage.objects.get", "The caller does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist)."},
	} {
		req, err := http.NewRequest(tc.method, url+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errorJSON
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: %v in %s", tc.method, tc.path, err, b)
		}
		got := e.Error
		if resp.StatusCode != http.StatusForbidden || got.Code != 403 || got.Status != "PERMISSION_DENIED" || got.Message != tc.message {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, b)
		}
		if len(got.Errors) != 1 || got.Errors[0].Reason != "forbidden" || got.Errors[0].Domain != "global" || got.Errors[0].Message != tc.message {
			t.Errorf("%s %s: errors %+v", tc.method, tc.path, got.Errors)
		}
		if strings.HasPrefix(tc.path, "/v") && (len(got.Details) != 1 || got.Details[0].Reason != "IAM_PERMISSION_DENIED" ||
			got.Details[0].Metadata["permission"] != tc.permission) {
			t.Errorf("%s %s: details %+v, want an ErrorInfo naming %s", tc.method, tc.path, got.Details, tc.permission)
		}
	}
}

// A firewall write without compute.networks.updatePolicy is denied on the rule's network.
func TestFirewallWriteNeedsNetworkUpdatePolicy(t *testing.T) {
	srv, url := start(t, loadBasic(t), WithPermissions(allBut("compute.networks.updatePolicy")))
	c := newClients(t, url)
	ctx := testContext(t)
	_, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{SourceRanges: []string{"10.0.0.0/8"}}})
	ge := googleErr(t, err, http.StatusForbidden)
	if want := "Required 'compute.networks.updatePolicy' permission for 'projects/demo-prod/global/networks/default'"; ge.Message != want {
		t.Errorf("patch: %q, want %q", ge.Message, want)
	}
	_, err = c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: &computepb.Firewall{
		Name: proto.String("new-rule"), Network: proto.String("global/networks/vpc-main"), SourceRanges: []string{"10.0.0.0/8"},
		Allowed: []*computepb.Allowed{{IPProtocol: proto.String("tcp")}}}})
	ge = googleErr(t, err, http.StatusForbidden)
	if want := "Required 'compute.networks.updatePolicy' permission for 'projects/demo-prod/global/networks/vpc-main'"; ge.Message != want {
		t.Errorf("insert: %q, want %q", ge.Message, want)
	}
	// Nothing was written.
	fw, err := c.firewalls.Get(ctx, &computepb.GetFirewallRequest{Project: prodID, Firewall: "allow-ssh-world"})
	if err != nil || !slices.Equal(fw.GetSourceRanges(), []string{"0.0.0.0/0"}) {
		t.Errorf("after the denied patch: %v %v", fw.GetSourceRanges(), err)
	}
	srv.DisablePermissionChecks()
	if _, err := c.firewalls.Patch(ctx, &computepb.PatchFirewallRequest{Project: prodID, Firewall: "allow-ssh-world",
		FirewallResource: &computepb.Firewall{SourceRanges: []string{"10.0.0.0/8"}}}); err != nil {
		t.Errorf("patch once permissions are no longer checked: %v", err)
	}
}

// Resource manager and IAM deny through their Go clients with the permission named.
func TestResourceManagerAndIAMDenials(t *testing.T) {
	_, url := start(t, loadBasic(t), WithPermissions(allBut("resourcemanager.folders.getIamPolicy", "iam.serviceAccounts.list")))
	c := newClients(t, url)
	ctx := testContext(t)
	if _, err := c.projects.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/" + prodID}); err != nil {
		t.Errorf("projects.get with its permission: %v", err)
	}
	_, err := c.folders.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: folderName})
	ge := googleErr(t, err, http.StatusForbidden)
	if !strings.Contains(ge.Message, "'resourcemanager.folders.getIamPolicy'") || !strings.Contains(ge.Message, folderName) {
		t.Errorf("folders.getIamPolicy: %q", ge.Message)
	}
	_, err = c.iam.Projects.ServiceAccounts.List("projects/" + prodID).Context(ctx).Do()
	ge = googleErr(t, err, http.StatusForbidden)
	if !strings.Contains(ge.Message, "iam.serviceAccounts.list") {
		t.Errorf("serviceAccounts.list: %q", ge.Message)
	}
	if _, err := c.iam.Projects.ServiceAccounts.Keys.List("projects/" + prodID + "/serviceAccounts/" + appEmail).Context(ctx).Do(); err != nil {
		t.Errorf("keys.list with its permission: %v", err)
	}
}

// Enforcement is off by default; a disabled API is still reported before permissions; the
// sandbox's own endpoints and the GitHub emulator need none; an unknown permission is an
// error that leaves the set in force as it was.
func TestPermissionEnforcementSwitches(t *testing.T) {
	_, url := start(t, loadBasic(t))
	c := newClients(t, url)
	if got := listFirewalls(t, c, &computepb.ListFirewallsRequest{Project: prodID}); len(got) == 0 {
		t.Error("no firewalls without enforcement")
	}

	if _, err := New(loadBasic(t), WithPermissions([]string{"compute.firewall.list", "compute.firewalls.list"})); err == nil ||
		!strings.Contains(err.Error(), `"compute.firewall.list"`) {
		t.Errorf("New with an unknown permission: %v", err)
	}

	srv, url := start(t, loadBasic(t), WithPermissions([]string{}))
	if err := srv.SetPermissions([]string{"compute.firewalls.list", "no.such.permission"}); err == nil {
		t.Error("SetPermissions accepted an unknown permission")
	}
	c = newClients(t, url)
	_, err := c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: prodID}).Next()
	googleErr(t, err, http.StatusForbidden) // the failed SetPermissions granted nothing

	// demo-dev has Compute Engine disabled: that is what Google reports first.
	_, err = c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: devID}).Next()
	if ge := googleErr(t, err, http.StatusForbidden); len(ge.Errors) == 0 || ge.Errors[0].Reason != "accessNotConfigured" {
		t.Errorf("disabled API: %+v", ge)
	}

	for _, path := range []string{"/sandbox/v1/state", "/api/v3/repos/" + DefaultGitHubRepository} {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		req.Header.Set("Authorization", "Bearer "+DefaultGitHubToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with no permission: %d", path, resp.StatusCode)
		}
	}
	it := c.firewalls.List(testContext(t), &computepb.ListFirewallsRequest{Project: prodID})
	srv.DisablePermissionChecks()
	if _, err := it.Next(); err != nil && err != iterator.Done {
		t.Errorf("after DisablePermissionChecks: %v", err)
	}
}

// A method served without permissions in the table is denied whenever permissions are
// enforced, so that no role passes a test it was never checked by.
func TestMethodWithoutPermissionFailsClosed(t *testing.T) {
	srv, err := New(loadBasic(t), WithPermissions(KnownPermissions()))
	if err != nil {
		t.Fatal(err)
	}
	srv.routes = append(srv.routes, newRoute(http.MethodGet, "compute/v1/projects/{project}/global/gadgets", ServiceCompute,
		"gadgets.list", func(*Server, *call) response { return reply(nil) }))
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get(url + "/compute/v1/projects/demo-prod/global/gadgets")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "lists no permission for compute gadgets.list") {
		t.Errorf("a method without permissions answered %d %s", resp.StatusCode, b)
	}
	srv.DisablePermissionChecks()
	if resp, err := http.Get(url + "/compute/v1/projects/demo-prod/global/gadgets"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("without enforcement: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
