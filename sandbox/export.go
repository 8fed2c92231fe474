package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/internal/gcspath"
	"github.com/zerodrift/zerodrift/inventory"
)

// Cloud Asset Inventory v1 ExportAssets to Cloud Storage (POST /v1/{parent=*/*}:exportAssets)
// and the poll of its long-running operation (GET /v1/{name=*/*/operations/*/**}).
//
// An export reads what ListAssets would list for the same parent, content type and asset
// types (selectAssets, caiAsset: asset.go) at the time of the call, and writes it to the one
// object outputConfig.gcsDestination.uri names, in the sandbox's Cloud Storage (gcs.go), as
// the JSON lines of a CAI export: protobuf field names (snake_case) at every level but
// resource.data, the REST resource with its own camelCase keys. readTime, when given, must
// lie within the last 35 days, as Google requires; the state has no history, so the
// snapshot is the current one. uriPrefix and bigqueryDestination are answered 400.
//
// The operation answers done:false to the call that starts it and to its first poll (and to
// Faults.PendingOperationPolls more polls when the faults match exportAssets), so that
// clients must poll. The poll that finds it done writes the object, or ends the operation
// with an error, as Google does, when the bucket does not exist, when the caller lacks
// storage.objects.create (permissions enforced) or when Faults.FailOperations fails it.
// Polling requires the export permission of the operation's content type.

// The Cloud Asset Inventory methods of exports, as CallCount names them.
const (
	methodExportAssets       = "exportAssets"
	methodAssetOperationsGet = "operations.get"
)

// The permissions of ExportAssets, by content type.
const (
	permAssetsExportResource  = "cloudasset.assets.exportResource"
	permAssetsExportIamPolicy = "cloudasset.assets.exportIamPolicy"
)

// maxExportAge is how far back an export's readTime may go.
const maxExportAge = 35 * 24 * time.Hour

// The type URLs of an export operation's metadata and response.
const (
	typeExportAssetsRequest  = "type.googleapis.com/google.cloud.asset.v1.ExportAssetsRequest"
	typeExportAssetsResponse = "type.googleapis.com/google.cloud.asset.v1.ExportAssetsResponse"
)

// google.rpc.Code values of failed export operations.
const (
	rpcInvalidArgument  = 3
	rpcPermissionDenied = 7
	rpcInternal         = 13
)

// exportAssetsRoute is ExportAssets in the route table.
func exportAssetsRoute() route {
	return newRoute(http.MethodPost, "v1/{scopeKind}/{scopeID}:exportAssets", ServiceCloudAsset, methodExportAssets,
		(*Server).exportAssets)
}

// exportOperationRoute is the poll of an export's operation in the route table.
func exportOperationRoute() route {
	return newRoute(http.MethodGet, "v1/{scopeKind}/{scopeID}/operations/{kind}/{content}/{operation}", ServiceCloudAsset,
		methodAssetOperationsGet, (*Server).getExportOperation)
}

// enumValue is a protobuf enum in JSON: its name, or its number as the Go clients built on
// protojson send it.
type enumValue string

func (v *enumValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = enumValue(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("an enum is a name or a number, not %s", b)
	}
	*v = enumValue(n.String())
	return nil
}

// exportRequest is the body of ExportAssets.
type exportRequest struct {
	ContentType       enumValue     `json:"contentType"`
	AssetTypes        []string      `json:"assetTypes"`
	ReadTime          string        `json:"readTime"`
	OutputConfig      *outputConfig `json:"outputConfig"`
	RelationshipTypes []string      `json:"relationshipTypes"`
}

type outputConfig struct {
	GCSDestination      *gcsDestination `json:"gcsDestination,omitempty"`
	BigqueryDestination json.RawMessage `json:"bigqueryDestination,omitempty"`
}

type gcsDestination struct {
	URI       string `json:"uri,omitempty"`
	URIPrefix string `json:"uriPrefix,omitempty"`
}

// exportContentType is the content type an ExportAssets body names ("" when it names
// none or is not JSON: the method answers that).
func exportContentType(body []byte) string {
	var req struct {
		ContentType enumValue `json:"contentType"`
	}
	_ = json.Unmarshal(body, &req)
	return string(req.ContentType)
}

// assetOperation is a google.longrunning.Operation of Cloud Asset Inventory.
type assetOperation struct {
	Name     string         `json:"name"`
	Metadata map[string]any `json:"metadata,omitempty"`
	Done     bool           `json:"done"`
	Error    *rpcStatus     `json:"error,omitempty"`
	Response map[string]any `json:"response,omitempty"`
}

// rpcStatus is a google.rpc.Status.
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// exportJob is an export in progress, or done.
type exportJob struct {
	op       assetOperation // done, response and error are set when it ends
	pending  int            // polls still answered done:false
	uri      string
	bucket   string
	object   string
	readTime string
	output   *outputConfig
	data     []byte // the export, until it is written
	failure  string // the message of an injected failure; "" when none
}

// exportAssets starts an export: it renders the snapshot now and answers the operation.
func (s *Server) exportAssets(c *call) response {
	var req exportRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		return fail(errStatus(http.StatusBadRequest, "Invalid JSON payload received. "+err.Error()))
	}
	bucket, object, aerr := exportDestination(req.OutputConfig)
	if aerr != nil {
		return fail(aerr)
	}
	if len(req.RelationshipTypes) > 0 {
		return fail(errStatus(http.StatusBadRequest, "relationship_types may only be given with content_type RELATIONSHIP."))
	}
	now := s.st.now().UTC()
	readTime := now
	if req.ReadTime != "" {
		t, err := time.Parse(time.RFC3339Nano, req.ReadTime)
		if err != nil || t.After(now) || t.Before(now.Add(-maxExportAge)) {
			return fail(errStatus(http.StatusBadRequest, fmt.Sprintf(
				"Invalid read_time %q: it must be an RFC 3339 time between now and 35 days ago.", req.ReadTime)))
		}
		readTime = t.UTC()
	}
	parent := c.params["scopeKind"] + "/" + c.params["scopeID"]
	content, items, aerr := s.st.selectAssets(assetQuery{parent: parent, contentType: string(req.ContentType),
		assetTypes: req.AssetTypes, perm: callPermissions(c)[0]})
	if aerr != nil {
		return fail(aerr)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range items {
		a, err := s.st.caiAsset(e, content)
		if err == nil {
			err = enc.Encode(toExportLine(a))
		}
		if err != nil {
			return fail(&apiError{code: http.StatusInternalServerError, message: err.Error()})
		}
	}

	j := &exportJob{uri: req.OutputConfig.GCSDestination.URI, bucket: bucket, object: object, output: req.OutputConfig,
		readTime: readTime.Format(time.RFC3339Nano), data: buf.Bytes(),
		pending: 1 + s.faults.pendingPolls(ServiceCloudAsset, methodExportAssets)}
	if msg, failed := s.faults.takeOperationFailure(ServiceCloudAsset, methodExportAssets); failed {
		j.failure = msg
	}
	j.op = assetOperation{
		Name: s.st.operationParent(parent) + "/operations/ExportAssets/" + content + "/" + s.st.newID(methodExportAssets),
		Metadata: map[string]any{
			"@type":        typeExportAssetsRequest,
			"parent":       parent,
			"readTime":     j.readTime,
			"assetTypes":   req.AssetTypes,
			"contentType":  content,
			"outputConfig": req.OutputConfig,
		},
	}
	s.st.exports[j.op.Name] = j
	return reply(j.op)
}

// exportDestination checks the output of an export: one Cloud Storage object,
// gs://BUCKET/OBJECT.
func exportDestination(out *outputConfig) (string, string, *apiError) {
	switch {
	case out == nil || out.GCSDestination == nil && len(out.BigqueryDestination) == 0:
		return "", "", errStatus(http.StatusBadRequest, "Request contains an invalid argument: output_config is required "+
			"(output_config.gcs_destination.uri names the Cloud Storage object to write).")
	case len(out.BigqueryDestination) > 0:
		return "", "", errStatus(http.StatusBadRequest, "Request contains an invalid argument: output_config.bigquery_destination "+
			"is not emulated by the zerodrift sandbox; export to one Cloud Storage object (output_config.gcs_destination.uri).")
	case out.GCSDestination.URIPrefix != "":
		return "", "", errStatus(http.StatusBadRequest, "Request contains an invalid argument: output_config.gcs_destination.uri_prefix "+
			"is not emulated by the zerodrift sandbox; export to one Cloud Storage object (output_config.gcs_destination.uri).")
	}
	uri := out.GCSDestination.URI
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ := strings.Cut(rest, "/")
	if !ok || !gcspath.ValidBucket(bucket) || object == "" || strings.HasSuffix(object, "/") {
		return "", "", errStatus(http.StatusBadRequest, fmt.Sprintf(
			"Request contains an invalid argument: output_config.gcs_destination.uri %q is not gs://BUCKET/OBJECT.", uri))
	}
	return bucket, object, nil
}

// operationParent is the parent as Google names it in an operation: a project by number
// when the scenario knows it.
func (st *state) operationParent(parent string) string {
	if id, ok := strings.CutPrefix(parent, "projects/"); ok {
		if ref := st.project(id); ref != nil && ref.number != "" {
			return "projects/" + ref.number
		}
	}
	return parent
}

// getExportOperation answers a poll of an export: done:false while the job is pending,
// then done, the object written or the error said.
func (s *Server) getExportOperation(c *call) response {
	name := strings.TrimPrefix(c.r.URL.Path, "/v1/")
	j := s.st.exports[name]
	if j == nil || c.params["kind"] != "ExportAssets" {
		return fail(errStatus(http.StatusNotFound, fmt.Sprintf("Operation %s was not found.", name)))
	}
	if j.pending > 0 {
		j.pending--
		return reply(j.op)
	}
	if !j.op.Done {
		s.finishExport(j)
	}
	return reply(j.op)
}

// finishExport ends an export: it writes the object, or records why it could not.
func (s *Server) finishExport(j *exportJob) {
	j.op.Done = true
	data := j.data
	j.data = nil
	if j.failure != "" {
		j.op.Error = &rpcStatus{Code: rpcInternal, Message: j.failure}
		return
	}
	if p, denied := s.perms.missing([]string{permStorageObjectsCreate}); denied {
		j.op.Error = &rpcStatus{Code: rpcPermissionDenied, Message: fmt.Sprintf(
			"Unable to write to %s: the caller does not have permission '%s' on bucket %s.", j.uri, p, j.bucket)}
		return
	}
	if err := s.objects.put(j.bucket, j.object, data, "application/json"); err != nil {
		j.op.Error = &rpcStatus{Code: rpcInvalidArgument, Message: fmt.Sprintf(
			"Unable to write to %s: the Cloud Storage bucket %s does not exist.", j.uri, j.bucket)}
		return
	}
	j.op.Response = map[string]any{
		"@type":        typeExportAssetsResponse,
		"readTime":     j.readTime,
		"outputConfig": j.output,
		"outputResult": map[string]any{"gcsResult": map[string]any{"uris": []string{j.uri}}},
	}
}

// exportLine is an asset as a CAI export to Cloud Storage writes it: the protobuf field
// names of google.cloud.asset.v1.Asset, with resource.data the REST resource as its API
// writes it.
type exportLine struct {
	Name       string          `json:"name"`
	AssetType  string          `json:"asset_type"`
	Resource   *exportResource `json:"resource,omitempty"`
	IAMPolicy  *exportPolicy   `json:"iam_policy,omitempty"`
	Ancestors  []string        `json:"ancestors,omitempty"`
	UpdateTime string          `json:"update_time,omitempty"`
}

type exportResource struct {
	Version              string          `json:"version,omitempty"`
	DiscoveryDocumentURI string          `json:"discovery_document_uri,omitempty"`
	DiscoveryName        string          `json:"discovery_name,omitempty"`
	Parent               string          `json:"parent,omitempty"`
	Data                 json.RawMessage `json:"data,omitempty"`
	Location             string          `json:"location,omitempty"`
}

type exportPolicy struct {
	Version      int                 `json:"version,omitempty"`
	Etag         string              `json:"etag,omitempty"`
	Bindings     []exportBinding     `json:"bindings,omitempty"`
	AuditConfigs []exportAuditConfig `json:"audit_configs,omitempty"`
}

type exportBinding struct {
	Role    string   `json:"role"`
	Members []string `json:"members"`
	// The fields of google.type.Expr are one word each: the same in either key style.
	Condition *inventory.Condition `json:"condition,omitempty"`
}

type exportAuditConfig struct {
	Service         string                 `json:"service"`
	AuditLogConfigs []exportAuditLogConfig `json:"audit_log_configs,omitempty"`
}

type exportAuditLogConfig struct {
	LogType         string   `json:"log_type"`
	ExemptedMembers []string `json:"exempted_members,omitempty"`
}

// toExportLine converts an asset to its export line.
func toExportLine(a *inventory.Asset) exportLine {
	l := exportLine{Name: a.Name, AssetType: a.AssetType, Ancestors: a.Ancestors}
	if !a.UpdateTime.IsZero() {
		l.UpdateTime = a.UpdateTime.UTC().Format(time.RFC3339Nano)
	}
	if r := a.Resource; r != nil {
		l.Resource = &exportResource{Version: r.Version, DiscoveryDocumentURI: r.DiscoveryDocumentURI,
			DiscoveryName: r.DiscoveryName, Parent: r.Parent, Data: r.Data, Location: r.Location}
	}
	if p := a.IAMPolicy; p != nil {
		ep := &exportPolicy{Version: p.Version, Etag: p.Etag}
		for _, b := range p.Bindings {
			ep.Bindings = append(ep.Bindings, exportBinding{Role: b.Role, Members: b.Members, Condition: b.Condition})
		}
		for _, ac := range p.AuditConfigs {
			c := exportAuditConfig{Service: ac.Service}
			for _, lc := range ac.AuditLogConfigs {
				c.AuditLogConfigs = append(c.AuditLogConfigs, exportAuditLogConfig{LogType: lc.LogType, ExemptedMembers: lc.ExemptedMembers})
			}
			ep.AuditConfigs = append(ep.AuditConfigs, c)
		}
		l.IAMPolicy = ep
	}
	return l
}
