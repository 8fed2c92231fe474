package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Cloud Asset Inventory v1: ListAssets (GET /v1/{parent=*/*}/assets), answered from the
// server's current state, so that a change made through another API shows in the next
// listing. The parent is organizations/O or folders/F (every asset whose ancestors hold it,
// the node itself included) or projects/P by ID or number (the project and its resources).
//
// contentType RESOURCE answers the assets that hold a resource, IAM_POLICY those that hold
// an IAM policy (stored as written, conditions included), none the names alone; the other
// content types answer 501. assetTypes are RE2 expressions matched against the whole type,
// as Google matches them. readTime is ignored: the state has no history. The permission is
// that of the content type (cloudasset.assets.listResource, or listIamPolicy for
// IAM_POLICY); scenario options do not apply: CAI reads a policy that deniedPolicies hides
// from getIamPolicy, and an API disabled in a project leaves its resources listed.

// ServiceCloudAsset is the Cloud Asset API in CallCount and Faults.Match.
const ServiceCloudAsset = "cloudasset"

// methodAssetsList is ListAssets as CallCount names it.
const methodAssetsList = "assets.list"

// The permissions of ListAssets, by content type.
const (
	permAssetsListResource  = "cloudasset.assets.listResource"
	permAssetsListIamPolicy = "cloudasset.assets.listIamPolicy"
)

// ListAssets' page size default and limit.
const (
	caiDefaultPageSize = 100
	caiMaxPageSize     = 1000
)

// Content types of ListAssets, by the names the REST API gives them.
const (
	contentUnspecified = "CONTENT_TYPE_UNSPECIFIED"
	contentResource    = "RESOURCE"
	contentIAMPolicy   = "IAM_POLICY"
)

// contentType names the content type a request gives by name or by number (the Go clients
// send enums by number); false when it is none.
func contentType(v string) (string, bool) {
	switch v {
	case "", "0", contentUnspecified:
		return contentUnspecified, true
	case "1", contentResource:
		return contentResource, true
	case "2", contentIAMPolicy:
		return contentIAMPolicy, true
	case "4", "ORG_POLICY":
		return "ORG_POLICY", true
	case "5", "ACCESS_POLICY":
		return "ACCESS_POLICY", true
	case "6", "OS_INVENTORY":
		return "OS_INVENTORY", true
	case "7", "RELATIONSHIP":
		return "RELATIONSHIP", true
	}
	return "", false
}

// assetsListRoute is ListAssets in the route table.
func assetsListRoute() route {
	return newRoute(http.MethodGet, "v1/{scopeKind}/{scopeID}/assets", ServiceCloudAsset, methodAssetsList, (*Server).listAssets)
}

// callPermissions returns the permissions a call requires: those of its method, narrowed
// where the request chooses among them. A Cloud Asset Inventory method (ListAssets,
// ExportAssets, the poll of an export) requires only the permission of the content type it
// names: the first of its route's for RESOURCE (or none), the second for IAM_POLICY; a
// content type the sandbox does not emulate requires them all (and is answered 501).
func callPermissions(c *call) []string {
	if c.route.service != ServiceCloudAsset || len(c.route.perms) != 2 {
		return c.route.perms
	}
	var named string
	switch c.route.method {
	case methodAssetsList:
		named = c.r.URL.Query().Get("contentType")
	case methodExportAssets:
		named = exportContentType(c.body)
	case methodAssetOperationsGet:
		named = c.params["content"]
	default:
		return c.route.perms
	}
	switch ct, _ := contentType(named); ct {
	case contentUnspecified, contentResource:
		return c.route.perms[:1]
	case contentIAMPolicy:
		return c.route.perms[1:]
	}
	return c.route.perms
}

// listAssetsResponse is ListAssets' answer. Assets are in the CAI shape inventory.Asset
// encodes (camelCase, as the REST API writes them).
type listAssetsResponse struct {
	ReadTime      string             `json:"readTime"`
	Assets        []*inventory.Asset `json:"assets,omitempty"`
	NextPageToken string             `json:"nextPageToken,omitempty"`
}

func (s *Server) listAssets(c *call) response {
	q := c.r.URL.Query()
	size, aerr := pageSize(q, "pageSize", caiDefaultPageSize, caiMaxPageSize)
	if aerr != nil {
		return fail(aerr)
	}
	content, items, aerr := s.st.selectAssets(assetQuery{parent: c.params["scopeKind"] + "/" + c.params["scopeID"],
		contentType: q.Get("contentType"), assetTypes: q["assetTypes"], perm: callPermissions(c)[0]})
	if aerr != nil {
		return fail(aerr)
	}
	page, next, aerr := pageOf(items, func(e *entry) string { return e.name }, size, q.Get("pageToken"))
	if aerr != nil {
		return fail(aerr)
	}
	out := listAssetsResponse{ReadTime: s.st.now().UTC().Format(time.RFC3339Nano), NextPageToken: next}
	for _, e := range page {
		a, err := s.st.caiAsset(e, content)
		if err != nil {
			return fail(&apiError{code: http.StatusInternalServerError, message: err.Error()})
		}
		out.Assets = append(out.Assets, a)
	}
	return reply(out)
}

// assetQuery is what a ListAssets or ExportAssets call reads, as the request gives it.
type assetQuery struct {
	parent      string   // organizations/O, folders/F or projects/P
	contentType string   // by name or number; "" is CONTENT_TYPE_UNSPECIFIED
	assetTypes  []string // RE2 expressions; none means every type
	perm        string   // the permission a denied parent names
}

// selectAssets resolves a query to its content type and the entries it reads, sorted by
// name: those under the parent whose type an asset type matches, holding a resource
// (RESOURCE) or an IAM policy (IAM_POLICY). An invalid query is answered 400; a content
// type the sandbox does not emulate, 501; a parent the scenario does not hold, 403.
func (st *state) selectAssets(q assetQuery) (string, []*entry, *apiError) {
	content, ok := contentType(q.contentType)
	if !ok {
		return "", nil, errStatus(http.StatusBadRequest, fmt.Sprintf(
			"Invalid value at 'content_type' (type.googleapis.com/google.cloud.asset.v1.ContentType), %q", q.contentType))
	}
	if content != contentUnspecified && content != contentResource && content != contentIAMPolicy {
		return "", nil, errStatus(http.StatusNotImplemented, fmt.Sprintf(
			"Content type %s is not emulated by the zerodrift sandbox (RESOURCE and IAM_POLICY are).", content))
	}
	keepType, aerr := assetTypeFilter(q.assetTypes)
	if aerr != nil {
		return "", nil, aerr
	}
	inScope, aerr := st.assetScope(q.parent, q.perm)
	if aerr != nil {
		return "", nil, aerr
	}
	var items []*entry
	for _, e := range st.entries {
		switch {
		case !keepType(e.assetType),
			content == contentResource && e.data == nil,
			content == contentIAMPolicy && e.policy == nil,
			!inScope(e):
			continue
		}
		items = append(items, e)
	}
	slices.SortFunc(items, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
	return content, items, nil
}

// assetTypeFilter compiles the assetTypes of a request: an asset is kept when one of them
// matches its whole type; every asset when there are none.
func assetTypeFilter(types []string) (func(string) bool, *apiError) {
	var res []*regexp.Regexp
	for _, t := range types {
		re, err := regexp.Compile(`^(?:` + t + `)$`)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid asset type %q: not an RE2 expression: %v", t, err))
		}
		res = append(res, re)
	}
	return func(t string) bool {
		return len(res) == 0 || slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(t) })
	}, nil
}

// assetScope resolves the parent of a ListAssets or ExportAssets call to the test of an entry being under
// it. A parent the scenario does not hold is denied, naming perm, as Google answers a
// caller who may not list it.
func (st *state) assetScope(parent, perm string) (func(*entry) bool, *apiError) {
	kind, id, _ := strings.Cut(parent, "/")
	switch kind {
	case "organizations", "folders":
		if !st.nodes[parent] {
			return nil, errAssetsDenied(perm, parent)
		}
		return func(e *entry) bool { return slices.Contains(st.ancestorsOf(e), parent) }, nil
	case "projects":
		ref := st.project(id)
		if ref == nil {
			return nil, errAssetsDenied(perm, parent)
		}
		return func(e *entry) bool {
			if ref.number != "" && slices.Contains(st.ancestorsOf(e), "projects/"+ref.number) {
				return true
			}
			return ref.id != "" && st.entryProject(e) == ref.id
		}, nil
	}
	return nil, errStatus(http.StatusBadRequest, fmt.Sprintf(
		"Invalid parent %q: it must be organizations/NUMBER, folders/NUMBER, projects/NUMBER or projects/ID.", parent))
}

// errAssetsDenied is Cloud Asset Inventory's answer for a parent the caller may not list or
// that does not exist; Google does not tell the two apart.
func errAssetsDenied(perm, parent string) *apiError {
	return &apiError{code: http.StatusForbidden,
		message: fmt.Sprintf("Permission '%s' denied on resource '%s' (or it may not exist).", perm, parent),
		details: []any{map[string]any{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   "IAM_PERMISSION_DENIED",
			"domain":   "cloudasset.googleapis.com",
			"metadata": map[string]string{"permission": perm, "resource": parent},
		}},
	}
}

// ancestorsOf returns an entry's ancestry, from itself (a project, folder or organization)
// or its project up to the organization: as the scenario gave it, else as the hierarchy
// tells.
func (st *state) ancestorsOf(e *entry) []string {
	if len(e.ancestors) > 0 {
		return e.ancestors
	}
	switch e.assetType {
	case inventory.TypeFolder, inventory.TypeOrganization:
		return st.chain(strings.TrimPrefix(e.name, crmPrefix))
	case inventory.TypeProject:
		if ref := st.project(projectSegment(e.name)); ref != nil && ref.number != "" {
			return st.chain("projects/" + ref.number)
		}
		return nil
	}
	return st.projectAncestors(st.entryProject(e))
}

// entryProject is the ID of the project an entry is in ("" for folders and
// organizations), or its number when the scenario does not know the ID.
func (st *state) entryProject(e *entry) string {
	if e.project != "" {
		return e.project
	}
	if e.assetType == inventory.TypeProject {
		if ref := st.project(projectSegment(e.name)); ref != nil {
			return ref.key()
		}
	}
	return st.projectID(projectSegment(e.name))
}

// caiAsset renders one entry as ListAssets answers it (and ExportAssets writes it) for
// content: the resource, the IAM policy or neither, with the ancestry and update time in
// every case.
func (st *state) caiAsset(e *entry, content string) (*inventory.Asset, error) {
	a := &inventory.Asset{Name: e.name, AssetType: e.assetType, Ancestors: slices.Clone(st.ancestorsOf(e))}
	if !e.updateTime.IsZero() {
		a.UpdateTime = e.updateTime.UTC()
	}
	switch content {
	case contentResource:
		b, err := json.Marshal(e.data)
		if err != nil {
			return nil, fmt.Errorf("encoding the data of %s: %w", e.name, err)
		}
		r := e.resource
		r.Data = b
		a.Resource = &r
	case contentIAMPolicy:
		p := clonePolicy(e.policy)
		p.Etag = st.etag(e)
		a.IAMPolicy = p
	}
	return a, nil
}
