package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/zerodrift/zerodrift/inventory"
)

// listAssetsAnswer is ListAssets' answer, or its error.
type listAssetsAnswer struct {
	status int
	listAssetsResponse
	Error struct {
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

func getAssets(t *testing.T, base, parent string, q url.Values) listAssetsAnswer {
	t.Helper()
	resp, err := http.Get(base + "/v1/" + parent + "/assets?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := listAssetsAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return out
}

func assetNames(as []*inventory.Asset) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

// allAssets reads every page of a listing.
func allAssets(t *testing.T, base, parent string, q url.Values) []*inventory.Asset {
	t.Helper()
	var out []*inventory.Asset
	q = cloneQuery(q)
	for {
		a := getAssets(t, base, parent, q)
		if a.status != http.StatusOK {
			t.Fatalf("%s %v: %d %s", parent, q, a.status, a.Error.Message)
		}
		out = append(out, a.Assets...)
		if a.NextPageToken == "" {
			return out
		}
		q.Set("pageToken", a.NextPageToken)
	}
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

func TestListAssetsScopes(t *testing.T) {
	_, base := start(t, loadBasic(t))
	resources := url.Values{"contentType": {"RESOURCE"}}
	org := allAssets(t, base, orgName, resources)
	folder := allAssets(t, base, folderName, resources)
	byID := allAssets(t, base, "projects/"+prodID, resources)
	byNumber := allAssets(t, base, "projects/"+prodNumber, resources)
	dev := allAssets(t, base, "projects/"+devID, resources)

	if len(org) != 23 || !slices.IsSortedFunc(org, func(a, b *inventory.Asset) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("organization: %d assets %v, want the 23 resources, sorted", len(org), assetNames(org))
	}
	for _, a := range folder {
		if !slices.Contains(a.Ancestors, folderName) {
			t.Errorf("folder scope lists %s, ancestors %v", a.Name, a.Ancestors)
		}
	}
	if !slices.Contains(assetNames(folder), crmPrefix+folderName) || slices.Contains(assetNames(folder), crmPrefix+orgName) {
		t.Errorf("folder scope %v: want the folder itself, not the organization", assetNames(folder))
	}
	if !slices.Equal(assetNames(byID), assetNames(byNumber)) || len(byID) != len(folder)-1 {
		t.Errorf("project by ID %v, by number %v; want the folder's assets but the folder", assetNames(byID), assetNames(byNumber))
	}
	// Scenario options do not apply: demo-dev's disabled Compute API leaves its resources listed.
	want := []string{
		"//cloudresourcemanager.googleapis.com/projects/200000000002",
		"//compute.googleapis.com/projects/demo-dev/global/firewalls/allow-all-dev",
		"//compute.googleapis.com/projects/demo-dev/global/networks/default",
	}
	if got := assetNames(dev); !slices.Equal(got, want) {
		t.Errorf("projects/%s: %v, want %v", devID, got, want)
	}

	for parent, status := range map[string]int{
		"organizations/999": http.StatusForbidden,
		"folders/999":       http.StatusForbidden,
		"projects/nope":     http.StatusForbidden,
		"buckets/x":         http.StatusBadRequest,
	} {
		a := getAssets(t, base, parent, resources)
		if a.status != status {
			t.Errorf("%s: %d %s, want %d", parent, a.status, a.Error.Message, status)
		}
		if status == http.StatusForbidden && a.Error.Message != "Permission 'cloudasset.assets.listResource' denied on resource '"+parent+"' (or it may not exist)." {
			t.Errorf("%s: message %q", parent, a.Error.Message)
		}
	}
}

func TestListAssetsContentTypes(t *testing.T) {
	_, base := start(t, loadBasic(t))
	types := []string{inventory.TypeOrganization, inventory.TypeProject}
	for _, ct := range []string{"RESOURCE", "1"} {
		got := allAssets(t, base, orgName, url.Values{"contentType": {ct}, "assetTypes": types})
		if len(got) != 3 || slices.ContainsFunc(got, func(a *inventory.Asset) bool {
			return a.Resource == nil || len(a.Resource.Data) == 0 || a.IAMPolicy != nil || len(a.Ancestors) == 0 || a.UpdateTime.IsZero()
		}) {
			t.Errorf("contentType %s: %+v; want 3 assets with their resource, ancestry and update time only", ct, got)
		}
	}
	// The organization's policy is listed although deniedPolicies hides it from getIamPolicy.
	for _, ct := range []string{"IAM_POLICY", "2"} {
		got := allAssets(t, base, orgName, url.Values{"contentType": {ct}, "assetTypes": types})
		if !slices.Equal(assetNames(got), []string{crmPrefix + orgName, crmPrefix + "projects/" + prodNumber}) ||
			slices.ContainsFunc(got, func(a *inventory.Asset) bool {
				return a.Resource != nil || a.IAMPolicy == nil || a.IAMPolicy.Etag == ""
			}) {
			t.Errorf("contentType %s: %v; want the organization's and demo-prod's policies, with etags, alone", ct, assetNames(got))
		}
	}
	got := allAssets(t, base, orgName, url.Values{"assetTypes": types})
	if len(got) != 3 || slices.ContainsFunc(got, func(a *inventory.Asset) bool { return a.Resource != nil || a.IAMPolicy != nil }) {
		t.Errorf("no content type: %+v; want the 3 names alone", got)
	}
	for ct, status := range map[string]int{"ORG_POLICY": http.StatusNotImplemented, "4": http.StatusNotImplemented, "FOO": http.StatusBadRequest} {
		if a := getAssets(t, base, orgName, url.Values{"contentType": {ct}}); a.status != status {
			t.Errorf("contentType %s: %d %s, want %d", ct, a.status, a.Error.Message, status)
		}
	}
}

func TestListAssetsTypesAndPages(t *testing.T) {
	_, base := start(t, loadBasic(t))
	firewalls := allAssets(t, base, orgName, url.Values{"contentType": {"RESOURCE"}, "assetTypes": {inventory.TypeFirewall}})
	compute := allAssets(t, base, orgName, url.Values{"contentType": {"RESOURCE"}, "assetTypes": {`compute\.googleapis\.com/.*`}})
	two := allAssets(t, base, orgName, url.Values{"contentType": {"RESOURCE"}, "assetTypes": {inventory.TypeFirewall, inventory.TypeNetwork}})
	if len(firewalls) != 6 || len(compute) != 14 || len(two) != 9 {
		t.Errorf("%d firewalls, %d compute assets, %d firewalls and networks; want 6, 14, 9", len(firewalls), len(compute), len(two))
	}

	all := allAssets(t, base, orgName, url.Values{"contentType": {"RESOURCE"}})
	pages := 0
	var paged []*inventory.Asset
	q := url.Values{"contentType": {"RESOURCE"}, "pageSize": {"4"}}
	for {
		a := getAssets(t, base, orgName, q)
		pages++
		if a.status != http.StatusOK || len(a.Assets) > 4 {
			t.Fatalf("page %d: %d, %d assets", pages, a.status, len(a.Assets))
		}
		paged = append(paged, a.Assets...)
		if a.NextPageToken == "" {
			break
		}
		q.Set("pageToken", a.NextPageToken)
	}
	if !slices.Equal(assetNames(paged), assetNames(all)) || pages != (len(all)+3)/4 {
		t.Errorf("%d pages of 4 gave %v, want %v", pages, assetNames(paged), assetNames(all))
	}

	for _, q := range []url.Values{
		{"assetTypes": {"compute.googleapis.com/(Firewall"}},
		{"pageSize": {"1001"}},
		{"pageSize": {"-1"}},
		{"pageToken": {"not base64!"}},
	} {
		if a := getAssets(t, base, orgName, q); a.status != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", q, a.status)
		}
	}
}

// Listings read the current state: a firewall inserted and a policy written through the
// other APIs are listed at once.
func TestListAssetsSeesTheCurrentState(t *testing.T) {
	_, base := start(t, loadBasic(t))
	c := newClients(t, base)
	ctx := testContext(t)
	op, err := c.firewalls.Insert(ctx, &computepb.InsertFirewallRequest{Project: prodID, FirewallResource: &computepb.Firewall{
		Name:         proto.String("allow-telnet"),
		Network:      proto.String("global/networks/default"),
		SourceRanges: []string{"0.0.0.0/0"},
		Allowed:      []*computepb.Allowed{{IPProtocol: proto.String("tcp"), Ports: []string{"23"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	const name = computePrefix + "projects/" + prodID + "/global/firewalls/allow-telnet"
	got := allAssets(t, base, folderName, url.Values{"contentType": {"RESOURCE"}, "assetTypes": {inventory.TypeFirewall}})
	i := slices.IndexFunc(got, func(a *inventory.Asset) bool { return a.Name == name })
	if i < 0 {
		t.Fatalf("%v: no %s", assetNames(got), name)
	}
	if a := got[i]; !slices.Equal(a.Ancestors, []string{"projects/" + prodNumber, folderName, orgName}) || a.UpdateTime.IsZero() ||
		!strings.Contains(string(a.Resource.Data), `"23"`) {
		t.Errorf("inserted firewall listed as %+v, data %s", a, a.Resource.Data)
	}

	resp, err := http.Post(base+"/v3/projects/"+prodID+":setIamPolicy", "application/json", strings.NewReader(
		`{"policy":{"bindings":[{"role":"roles/viewer","members":["user:new@example.com"]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setIamPolicy: %d", resp.StatusCode)
	}
	policies := allAssets(t, base, "projects/"+prodID, url.Values{"contentType": {"IAM_POLICY"}, "assetTypes": {inventory.TypeProject}})
	if len(policies) != 1 || len(policies[0].IAMPolicy.Bindings) != 1 || policies[0].IAMPolicy.Bindings[0].Members[0] != "user:new@example.com" {
		t.Errorf("policies after setIamPolicy: %+v", policies)
	}
}

// Each content type needs its own permission, as Google documents; both are the method's.
func TestListAssetsPermissions(t *testing.T) {
	if got := RequiredPermissions(ServiceCloudAsset, "assets.list"); !slices.Equal(got, []string{permAssetsListResource, permAssetsListIamPolicy}) {
		t.Errorf("RequiredPermissions = %v", got)
	}
	srv, base := start(t, loadBasic(t), WithPermissions([]string{permAssetsListResource}))
	for ct, status := range map[string]int{"RESOURCE": 200, "1": 200, "": 200, "IAM_POLICY": 403, "2": 403} {
		a := getAssets(t, base, orgName, url.Values{"contentType": {ct}})
		if a.status != status || status == 403 && !strings.Contains(a.Error.Message, permAssetsListIamPolicy) {
			t.Errorf("listResource only, contentType %q: %d %q, want %d", ct, a.status, a.Error.Message, status)
		}
	}
	if err := srv.SetPermissions([]string{permAssetsListIamPolicy}); err != nil {
		t.Fatal(err)
	}
	for ct, status := range map[string]int{"RESOURCE": 403, "IAM_POLICY": 200} {
		if a := getAssets(t, base, orgName, url.Values{"contentType": {ct}}); a.status != status {
			t.Errorf("listIamPolicy only, contentType %s: %d %q, want %d", ct, a.status, a.Error.Message, status)
		}
	}
	if n := callCount(srv, ServiceCloudAsset, "assets.list", http.StatusForbidden); n != 3 {
		t.Errorf("%d denied assets.list counted, want 3", n)
	}
}
