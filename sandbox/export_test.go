package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	cloudasset "google.golang.org/api/cloudasset/v1"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/zerodrift/zerodrift/inventory"
)

// exportBucket is the bucket the export tests declare in the basic scenario.
const exportBucket = "exports"

// startExports serves the basic scenario with exportBucket declared.
func startExports(t *testing.T, opts ...Option) (*Server, string) {
	t.Helper()
	sc := loadBasic(t)
	sc.Options.Buckets = []string{exportBucket}
	return start(t, sc, opts...)
}

// exportClients are the real Cloud Asset and Cloud Storage clients pointed at the sandbox.
func exportClients(t *testing.T, base string) (*cloudasset.Service, *storage.Service) {
	t.Helper()
	ctx := context.Background()
	ca, err := cloudasset.NewService(ctx, option.WithEndpoint(base+"/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewService(ctx, option.WithEndpoint(base+"/storage/v1/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	return ca, st
}

func exportRequestOf(content, uri string, types ...string) *cloudasset.ExportAssetsRequest {
	return &cloudasset.ExportAssetsRequest{ContentType: content, AssetTypes: types,
		OutputConfig: &cloudasset.OutputConfig{GcsDestination: &cloudasset.GcsDestination{Uri: uri}}}
}

// pollDone polls an operation until it is done, returning how many polls that took.
func pollDone(t *testing.T, ca *cloudasset.Service, name string) (*cloudasset.Operation, int) {
	t.Helper()
	for polls := 1; polls <= 20; polls++ {
		op, err := ca.Operations.Get(name).Context(testContext(t)).Do()
		if err != nil {
			t.Fatalf("polling %s: %v", name, err)
		}
		if op.Done {
			return op, polls
		}
	}
	t.Fatalf("%s is not done after 20 polls", name)
	return nil, 0
}

// An export writes, once its operation is done and not before, the assets ListAssets lists,
// as the JSON lines of a CAI export, readable and deletable through Cloud Storage.
func TestExportAssetsWritesTheListing(t *testing.T) {
	srv, base := startExports(t)
	ca, st := exportClients(t, base)
	ctx := testContext(t)
	for _, tc := range []struct {
		content, object string
	}{
		{"RESOURCE", "scans/resources.json"},
		{"IAM_POLICY", "scans/policies.json"},
	} {
		uri := "gs://" + exportBucket + "/" + tc.object
		op, err := ca.V1.ExportAssets(folderName, exportRequestOf(tc.content, uri, inventory.TypeProject, inventory.TypeFirewall)).Context(ctx).Do()
		if err != nil {
			t.Fatalf("%s: %v", tc.content, err)
		}
		if op.Done || !strings.HasPrefix(op.Name, folderName+"/operations/ExportAssets/"+tc.content+"/") {
			t.Errorf("%s: started %+v, want a pending operation named after the parent and content type", tc.content, op)
		}
		var meta map[string]any
		if err := json.Unmarshal(op.Metadata, &meta); err != nil || meta["@type"] != typeExportAssetsRequest ||
			meta["parent"] != folderName || meta["contentType"] != tc.content {
			t.Errorf("%s: metadata %s (%v)", tc.content, op.Metadata, err)
		}
		if got := srv.Objects(exportBucket); slices.Contains(got, tc.object) {
			t.Errorf("%s: %s written before the operation is done", tc.content, tc.object)
		}
		done, polls := pollDone(t, ca, op.Name)
		if polls != 2 || done.Error != nil {
			t.Errorf("%s: done after %d polls with error %+v; want done on the second poll", tc.content, polls, done.Error)
		}
		var resp struct {
			Type         string `json:"@type"`
			ReadTime     string `json:"readTime"`
			OutputResult struct {
				GCSResult struct {
					URIs []string `json:"uris"`
				} `json:"gcsResult"`
			} `json:"outputResult"`
		}
		if err := json.Unmarshal(done.Response, &resp); err != nil || resp.Type != typeExportAssetsResponse || resp.ReadTime == "" ||
			!slices.Equal(resp.OutputResult.GCSResult.URIs, []string{uri}) {
			t.Errorf("%s: response %s (%v)", tc.content, done.Response, err)
		}

		meta2, err := st.Objects.Get(exportBucket, tc.object).Context(ctx).Do()
		if err != nil || meta2.Name != tc.object || meta2.Bucket != exportBucket || meta2.Size == 0 {
			t.Fatalf("%s: object metadata %+v, %v", tc.content, meta2, err)
		}
		dl, err := st.Objects.Get(exportBucket, tc.object).Context(ctx).Download()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(dl.Body)
		dl.Body.Close()
		if err != nil || uint64(len(raw)) != meta2.Size {
			t.Fatalf("%s: %d bytes (%v), metadata says %d", tc.content, len(raw), err, meta2.Size)
		}
		if bytes.Contains(raw, []byte(`"assetType"`)) || !bytes.Contains(raw, []byte(`"asset_type"`)) ||
			!bytes.Contains(raw, []byte(`"update_time"`)) {
			t.Errorf("%s: the export is not in the snake_case shape:\n%s", tc.content, raw)
		}
		var exported []*inventory.Asset
		if _, err := inventory.DecodeCAI(ctx, bytes.NewReader(raw), inventory.DecodeOptions{Name: uri}, func(a *inventory.Asset) error {
			exported = append(exported, a)
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", tc.content, err)
		}
		listed := allAssets(t, base, folderName, url.Values{"contentType": {tc.content},
			"assetTypes": {inventory.TypeProject, inventory.TypeFirewall}})
		if len(listed) == 0 || !slices.Equal(assetNames(exported), assetNames(listed)) {
			t.Fatalf("%s: exported %v, listed %v", tc.content, assetNames(exported), assetNames(listed))
		}
		for i, a := range exported {
			l := listed[i]
			if !reflect.DeepEqual(a.IAMPolicy, l.IAMPolicy) || !slices.Equal(a.Ancestors, l.Ancestors) || !a.UpdateTime.Equal(l.UpdateTime) ||
				(a.Resource == nil) != (l.Resource == nil) || a.Resource != nil && !bytes.Equal(a.Resource.Data, l.Resource.Data) {
				t.Errorf("%s: exported %+v, listed %+v", a.Name, a, l)
			}
		}

		if err := st.Objects.Delete(exportBucket, tc.object).Context(ctx).Do(); err != nil {
			t.Errorf("%s: delete: %v", tc.content, err)
		}
		if _, err := st.Objects.Get(exportBucket, tc.object).Context(ctx).Do(); err == nil {
			t.Errorf("%s: the object is still there after its delete", tc.content)
		}
	}
	if got := srv.Objects(exportBucket); len(got) != 0 {
		t.Errorf("objects left: %v", got)
	}
	for _, c := range []struct {
		service, method string
		status, n       int
	}{
		{ServiceCloudAsset, methodExportAssets, 200, 2},
		{ServiceCloudAsset, methodAssetOperationsGet, 200, 4},
		{ServiceStorage, methodObjectsGet, 200, 4},
		{ServiceStorage, methodObjectsGet, 404, 2},
		{ServiceStorage, methodObjectsDelete, 204, 2},
	} {
		if n := callCount(srv, c.service, c.method, c.status); n != c.n {
			t.Errorf("%d %s %s answered %d, want %d", n, c.service, c.method, c.status, c.n)
		}
	}
}

// postExport sends an ExportAssets body and decodes the answer, operation or error.
func postExport(t *testing.T, base, parent, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(base+"/v1/"+parent+":exportAssets", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// errorOf returns the status and message of a Google error answer.
func errorOf(out map[string]any) (string, string) {
	e, _ := out["error"].(map[string]any)
	status, _ := e["status"].(string)
	msg, _ := e["message"].(string)
	return status, msg
}

// Requests Google refuses, or that the sandbox does not emulate, are answered at once.
func TestExportAssetsRejectsInvalidRequests(t *testing.T) {
	_, base := startExports(t)
	dest := `"outputConfig":{"gcsDestination":{"uri":"gs://exports/x.json"}}`
	for _, tc := range []struct {
		parent, body string
		status       int
		says         string
	}{
		{orgName, `{"contentType":"RESOURCE","outputConfig":{"gcsDestination":{"uriPrefix":"gs://exports/p"}}}`, 400, "uri_prefix"},
		{orgName, `{"contentType":"RESOURCE","outputConfig":{"bigqueryDestination":{"dataset":"projects/p/datasets/d","table":"t"}}}`, 400, "bigquery_destination"},
		{orgName, `{"contentType":"RESOURCE"}`, 400, "output_config is required"},
		{orgName, `{"contentType":"RESOURCE","outputConfig":{"gcsDestination":{"uri":"exports/x.json"}}}`, 400, "is not gs://BUCKET/OBJECT"},
		{orgName, `{"contentType":"RESOURCE","outputConfig":{"gcsDestination":{"uri":"gs://exports"}}}`, 400, "is not gs://BUCKET/OBJECT"},
		{orgName, `{"contentType":"RESOURCE","readTime":"2001-01-01T00:00:00Z",` + dest + `}`, 400, "read_time"},
		{orgName, `{"contentType":"RESOURCE","assetTypes":["(bad"],` + dest + `}`, 400, "RE2"},
		{orgName, `{"contentType":"ORG_POLICY",` + dest + `}`, 501, "not emulated"},
		{orgName, `{"contentType":"NOPE",` + dest + `}`, 400, "content_type"},
		{orgName, `not json`, 400, "Invalid JSON payload"},
		{"organizations/999", `{"contentType":"RESOURCE",` + dest + `}`, 403, "Permission 'cloudasset.assets.exportResource' denied on resource 'organizations/999'"},
		{"organizations/999", `{"contentType":2,` + dest + `}`, 403, "Permission 'cloudasset.assets.exportIamPolicy' denied"},
	} {
		status, out := postExport(t, base, tc.parent, tc.body)
		code, msg := errorOf(out)
		if status != tc.status || !strings.Contains(msg, tc.says) || status == 400 && code != "INVALID_ARGUMENT" {
			t.Errorf("%s %s: %d %s %q, want %d saying %q", tc.parent, tc.body, status, code, msg, tc.status, tc.says)
		}
	}
	resp, err := http.Get(base + "/v1/" + orgName + "/operations/ExportAssets/RESOURCE/42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown operation: %d, want 404", resp.StatusCode)
	}
}

// An export that cannot write its object ends done with an error naming the bucket, as
// Google's does; so does one Faults fails; polling may be made to take longer.
func TestExportAssetsFailedOperations(t *testing.T) {
	onlyExports := func(service, method string) bool { return service == ServiceCloudAsset && method == methodExportAssets }
	srv, base := startExports(t, WithFaults(Faults{FailOperations: 1, OperationError: "export exploded", PendingOperationPolls: 2,
		Match: onlyExports}))
	ca, _ := exportClients(t, base)
	ctx := testContext(t)
	run := func(content, uri string) (*cloudasset.Operation, int) {
		t.Helper()
		op, err := ca.V1.ExportAssets("projects/"+prodID, exportRequestOf(content, uri)).Context(ctx).Do()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(op.Name, "projects/"+prodNumber+"/operations/") {
			t.Errorf("operation %s: want the project named by number", op.Name)
		}
		return pollDone(t, ca, op.Name)
	}
	op, polls := run("RESOURCE", "gs://exports/a.json")
	if op.Error == nil || op.Error.Code != rpcInternal || op.Error.Message != "export exploded" || polls != 4 {
		t.Errorf("injected failure: %+v after %d polls, want code 13 after 4", op.Error, polls)
	}
	op, _ = run("RESOURCE", "gs://no-such-bucket/a.json")
	if op.Error == nil || op.Error.Code != rpcInvalidArgument || !strings.Contains(op.Error.Message, "bucket no-such-bucket does not exist") ||
		len(op.Response) != 0 {
		t.Errorf("missing bucket: %+v", op)
	}
	if err := srv.SetPermissions(slices.DeleteFunc(KnownPermissions(), func(p string) bool { return p == permStorageObjectsCreate })); err != nil {
		t.Fatal(err)
	}
	op, _ = run("IAM_POLICY", "gs://exports/b.json")
	if op.Error == nil || op.Error.Code != rpcPermissionDenied || !strings.Contains(op.Error.Message, "storage.objects.create") ||
		!strings.Contains(op.Error.Message, "bucket exports") {
		t.Errorf("without storage.objects.create: %+v", op.Error)
	}
	if got := srv.Objects(exportBucket); len(got) != 0 {
		t.Errorf("failed exports wrote %v", got)
	}

	// Polling needs the export permission of the operation's content type.
	if err := srv.SetPermissions([]string{permAssetsExportResource}); err != nil {
		t.Fatal(err)
	}
	_, err := ca.Operations.Get(op.Name).Context(ctx).Do()
	if ge := googleErr(t, err, http.StatusForbidden); !strings.Contains(ge.Message, permAssetsExportIamPolicy) {
		t.Errorf("polling an IAM_POLICY export with exportResource only: %v", err)
	}
}
