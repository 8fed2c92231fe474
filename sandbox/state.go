package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// Prefixes of CAI full resource names.
const (
	computePrefix = "//compute.googleapis.com/"
	crmPrefix     = "//cloudresourcemanager.googleapis.com/"
	iamPrefix     = "//iam.googleapis.com/"
)

// computeBase is the base of compute selfLinks, as Google writes them and CAI exports them.
const computeBase = "https://www.googleapis.com/compute/v1/"

// computeTimeLayout is how compute formats creationTimestamp and operation times.
const computeTimeLayout = "2006-01-02T15:04:05.000-07:00"

// emptyPolicyEtag is the etag Google gives a resource that has never had a policy.
const emptyPolicyEtag = "ACAB"

// entry is one asset held by the server. Resource data is kept decoded, so a PATCH can merge
// into it, with numbers kept as written.
type entry struct {
	name       string
	assetType  string
	ancestors  []string
	resource   inventory.Resource // metadata only; the data is in data
	data       map[string]any     // nil when the asset carries no resource
	policy     *inventory.Policy  // nil when the asset has no policy yet
	policyGen  int
	updateTime time.Time

	// For compute resources and IAM service account keys, the parts of the name:
	// project ID, scope ("global", "regions/R", "zones/Z"; the account of a key) and short name.
	project, scope, short string
}

// projectRef is a project the scenario knows, by ID, number or both.
type projectRef struct {
	id     string
	number string
	entry  *entry // the Project asset; nil when the project is only named by its resources
}

// key identifies the project in the server's maps: its ID, or its number when the ID is
// unknown.
func (r *projectRef) key() string {
	if r.id != "" {
		return r.id
	}
	return r.number
}

// state is the server's in-memory world. It is not safe for concurrent use: the Server
// guards it with its mutex.
type state struct {
	now      func() time.Time
	entries  map[string]*entry
	byID     map[string]*projectRef
	byNumber map[string]*projectRef
	// parents maps a hierarchy node (projects/N, folders/F) to its parent, as ancestors and
	// resource data tell.
	parents map[string]string
	// nodes holds every folders/F and organizations/O the scenario names.
	nodes map[string]bool
	// ops holds compute operations by project, scope and name; opPolls, by the same key,
	// how many more polls a pending operation answers RUNNING (Faults.PendingOperationPolls).
	ops     map[string]map[string]any
	opPolls map[string]int
	// exports holds Cloud Asset Inventory exports by operation name (export.go).
	exports map[string]*exportJob
	seq     uint64
	// index holds the entries by asset type, and by asset type and project, for the list
	// calls, which would otherwise scan every entry of the scenario. It is built on first use
	// and dropped by every call that may write (see Server.serve); while such a call runs,
	// writing is set and lookups scan the entries.
	index   *entryIndex
	writing bool
}

// entryIndex lists entries sorted by name.
type entryIndex struct {
	byType        map[string][]*entry
	byTypeProject map[typeProject][]*entry
}

type typeProject struct{ assetType, project string }

// beginWrite drops the index before a call that may add or remove entries; endWrite drops
// it again after.
func (st *state) beginWrite() { st.index, st.writing = nil, true }
func (st *state) endWrite()   { st.index, st.writing = nil, false }

// indexed returns the index, building it when needed; nil while a write runs.
func (st *state) indexed() *entryIndex {
	if st.writing {
		return nil
	}
	if st.index == nil {
		ix := &entryIndex{byType: map[string][]*entry{}, byTypeProject: map[typeProject][]*entry{}}
		for _, e := range st.entries {
			ix.byType[e.assetType] = append(ix.byType[e.assetType], e)
			k := typeProject{e.assetType, e.project}
			ix.byTypeProject[k] = append(ix.byTypeProject[k], e)
		}
		byName := func(a, b *entry) int { return strings.Compare(a.name, b.name) }
		for _, es := range ix.byType {
			slices.SortFunc(es, byName)
		}
		for _, es := range ix.byTypeProject {
			slices.SortFunc(es, byName)
		}
		st.index = ix
	}
	return st.index
}

// kept returns a new slice of the entries keep accepts (all with keep nil).
func kept(ents []*entry, keep func(*entry) bool) []*entry {
	out := make([]*entry, 0, len(ents))
	for _, e := range ents {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// newState builds the state from merged assets; now dates what the scenario leaves undated.
func newState(assets []*inventory.Asset, now func() time.Time) (*state, error) {
	if now == nil {
		now = time.Now
	}
	st := &state{
		now:      now,
		entries:  make(map[string]*entry, len(assets)),
		byID:     map[string]*projectRef{},
		byNumber: map[string]*projectRef{},
		parents:  map[string]string{},
		nodes:    map[string]bool{},
		ops:      map[string]map[string]any{},
		opPolls:  map[string]int{},
		exports:  map[string]*exportJob{},
	}
	var ents []*entry
	for _, a := range assets {
		e, err := newEntry(a)
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(e.ancestors); i++ {
			st.parents[e.ancestors[i]] = e.ancestors[i+1]
		}
		for _, anc := range e.ancestors {
			if strings.HasPrefix(anc, "folders/") || strings.HasPrefix(anc, "organizations/") {
				st.nodes[anc] = true
			}
		}
		ents = append(ents, e)
	}
	// Projects first, so that resources named by project number can be renamed to the ID.
	for _, e := range ents {
		switch e.assetType {
		case inventory.TypeProject:
			if err := st.addProject(e); err != nil {
				return nil, err
			}
		case inventory.TypeFolder, inventory.TypeOrganization:
			node := strings.TrimPrefix(e.name, crmPrefix)
			st.nodes[node] = true
			if p := str(e.data, "parent"); p != "" {
				st.parents[node] = p
				st.nodes[p] = true
			}
		}
	}
	for _, e := range ents {
		if err := st.addResource(e); err != nil {
			return nil, err
		}
		if _, dup := st.entries[e.name]; dup {
			return nil, fmt.Errorf("asset %s: given twice", e.name)
		}
		st.entries[e.name] = e
		// The Go clients carry etags as bytes: one that is not base64 could not reach them.
		if e.policy != nil && e.policy.Etag != "" {
			if _, ok := decodeEtag(e.policy.Etag); !ok {
				st.bumpEtag(e)
			}
		}
	}
	return st, nil
}

func newEntry(a *inventory.Asset) (*entry, error) {
	e := &entry{
		name:       a.Name,
		assetType:  a.AssetType,
		ancestors:  append([]string(nil), a.Ancestors...),
		updateTime: a.UpdateTime,
		policy:     clonePolicy(a.IAMPolicy),
	}
	if a.Resource != nil {
		e.resource = *a.Resource
		e.resource.Data = nil
		data, err := decodeObject(a.Resource.Data)
		if err != nil {
			return nil, fmt.Errorf("asset %s: resource.data: %w", a.Name, err)
		}
		e.data = data
		if e.data == nil {
			e.data = map[string]any{}
		}
	}
	return e, nil
}

// decodeObject decodes a JSON object keeping numbers as written; empty or null is nil.
func decodeObject(raw []byte) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON object")
	}
	return m, nil
}

func (st *state) addProject(e *entry) error {
	seg := strings.TrimPrefix(e.name, crmPrefix+"projects/")
	if seg == e.name || seg == "" || strings.Contains(seg, "/") {
		return fmt.Errorf("asset %s: a project's name must be %sprojects/NUMBER", e.name, crmPrefix)
	}
	ref := &projectRef{entry: e}
	if isNumber(seg) {
		ref.number = seg
	} else {
		ref.id = seg
	}
	if n := str(e.data, "projectNumber"); n != "" {
		if ref.number != "" && ref.number != n {
			return fmt.Errorf("asset %s: projectNumber %s differs from the name", e.name, n)
		}
		ref.number = n
	}
	if id := str(e.data, "projectId"); id != "" {
		ref.id = id
	}
	if ref.number != "" {
		if _, dup := st.byNumber[ref.number]; dup {
			return fmt.Errorf("asset %s: project number %s given twice", e.name, ref.number)
		}
		st.byNumber[ref.number] = ref
	}
	if ref.id != "" {
		if _, dup := st.byID[ref.id]; dup {
			return fmt.Errorf("asset %s: project ID %s given twice", e.name, ref.id)
		}
		st.byID[ref.id] = ref
	}
	if parent := projectParent(e, st); parent != "" && ref.number != "" {
		st.parents["projects/"+ref.number] = parent
	}
	return nil
}

// addResource parses the name of the resources the sandbox serves, fills what Google
// fills (selfLink, id, creationTimestamp) and registers the project it names.
func (st *state) addResource(e *entry) error {
	if _, ok := collectionOf(e.assetType); ok {
		if err := st.parseComputeName(e); err != nil {
			return err
		}
		st.fillCompute(e, st.createdAt(e))
		return nil
	}
	switch e.assetType {
	case inventory.TypeComputeProject:
		return st.addComputeProject(e)
	case inventory.TypeServiceAccount:
		return st.addServiceAccount(e)
	case inventory.TypeServiceAccountKey:
		rest, ok := strings.CutPrefix(e.name, iamPrefix)
		segs := strings.Split(rest, "/")
		if !ok || len(segs) != 6 || segs[0] != "projects" || segs[2] != "serviceAccounts" || segs[4] != "keys" {
			return fmt.Errorf("asset %s: a key's name must be %sprojects/P/serviceAccounts/SA/keys/KEY", e.name, iamPrefix)
		}
		e.project, e.scope, e.short = st.projectID(segs[1]), segs[3], segs[5]
		st.registerProject(e.project)
		if e.data == nil {
			e.data = map[string]any{}
		}
	default:
		// Any other resource in a project still makes the project part of the scenario.
		if e.assetType != inventory.TypeProject {
			st.registerProject(st.projectID(projectSegment(e.name)))
		}
	}
	return nil
}

// projectSegment returns P of a full name //SERVICE/projects/P/..., or "".
func projectSegment(name string) string {
	rest := strings.TrimPrefix(name, "//")
	_, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	rest, ok = strings.CutPrefix(rest, "projects/")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, "/")
	return p
}

func (st *state) addServiceAccount(e *entry) error {
	rest, ok := strings.CutPrefix(e.name, iamPrefix)
	segs := strings.Split(rest, "/")
	if !ok || len(segs) != 4 || segs[0] != "projects" || segs[2] != "serviceAccounts" {
		return fmt.Errorf("asset %s: a service account's name must be %sprojects/P/serviceAccounts/ID", e.name, iamPrefix)
	}
	e.project, e.short = st.projectID(segs[1]), segs[3]
	st.registerProject(e.project)
	if e.data == nil {
		e.data = map[string]any{}
	}
	if str(e.data, "email") == "" && strings.Contains(e.short, "@") {
		e.data["email"] = e.short
	}
	if str(e.data, "uniqueId") == "" && isNumber(e.short) {
		e.data["uniqueId"] = e.short
	}
	if str(e.data, "email") == "" {
		return fmt.Errorf("asset %s: service account has no email", e.name)
	}
	if str(e.data, "projectId") == "" {
		e.data["projectId"] = e.project
	}
	e.data["name"] = "projects/" + e.project + "/serviceAccounts/" + str(e.data, "email")
	return nil
}

// parseComputeName splits projects/P/{global|regions/R|zones/Z}/PLURAL/NAME; a project
// number in the name becomes the project's ID, so the entry is found by the ID.
func (st *state) parseComputeName(e *entry) error {
	rest, ok := strings.CutPrefix(e.name, computePrefix)
	segs := strings.Split(rest, "/")
	bad := fmt.Errorf("asset %s: not a compute resource name (%sprojects/P/global/PLURAL/NAME or .../regions|zones/X/PLURAL/NAME)", e.name, computePrefix)
	if !ok || len(segs) < 5 || segs[0] != "projects" {
		return bad
	}
	switch {
	case segs[2] == "global" && len(segs) == 5:
		e.scope = "global"
		e.short = segs[4]
	case (segs[2] == "regions" || segs[2] == "zones") && len(segs) == 6:
		e.scope = segs[2] + "/" + segs[3]
		e.short = segs[5]
	default:
		return bad
	}
	col, ok := collectionOf(e.assetType)
	if !ok || segs[len(segs)-2] != col.plural || e.scope == "global" && col.scope != scopeGlobal ||
		strings.HasPrefix(e.scope, "regions/") && col.scope != scopeRegion ||
		strings.HasPrefix(e.scope, "zones/") && col.scope != scopeZone {
		return bad
	}
	e.project = st.projectID(segs[1])
	e.name = computeName(e.project, e.scope, col.plural, e.short)
	st.registerProject(e.project)
	if e.data == nil {
		e.data = map[string]any{}
	}
	return nil
}

// fillCompute fills the fields Google always returns and CAI data may lack.
func (st *state) fillCompute(e *entry, created time.Time) {
	col, _ := collectionOf(e.assetType)
	d := e.data
	setDefault(d, "kind", col.kind)
	setDefault(d, "name", e.short)
	setDefault(d, "selfLink", computeBase+strings.TrimPrefix(e.name, computePrefix))
	setDefault(d, "id", st.newID(e.name))
	setDefault(d, "creationTimestamp", created.Format(computeTimeLayout))
	switch col.scope {
	case scopeRegion:
		setDefault(d, "region", computeBase+"projects/"+e.project+"/"+e.scope)
	case scopeZone:
		setDefault(d, "zone", computeBase+"projects/"+e.project+"/"+e.scope)
	}
	if e.assetType == inventory.TypeInstance {
		fillInstanceMetadata(e)
	}
}

func (st *state) createdAt(e *entry) time.Time {
	if !e.updateTime.IsZero() {
		return e.updateTime
	}
	return st.now()
}

func computeName(project, scope, plural, short string) string {
	return computePrefix + "projects/" + project + "/" + scope + "/" + plural + "/" + short
}

// projectID turns a project number into the project's ID when the scenario knows it.
func (st *state) projectID(s string) string {
	if ref := st.byNumber[s]; ref != nil && ref.id != "" {
		return ref.id
	}
	return s
}

func (st *state) registerProject(id string) {
	if id == "" || isNumber(id) {
		return
	}
	if _, ok := st.byID[id]; !ok {
		st.byID[id] = &projectRef{id: id}
	}
}

// project resolves a project ID or number.
func (st *state) project(s string) *projectRef {
	if ref := st.byID[s]; ref != nil {
		return ref
	}
	return st.byNumber[s]
}

// projectIDs lists the IDs of the scenario's projects, sorted.
func (st *state) projectIDs() []string {
	ids := make([]string, 0, len(st.byID))
	for id := range st.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (st *state) checkProject(s string) error {
	if st.project(s) == nil {
		return fmt.Errorf("project %q is not in the scenario", s)
	}
	return nil
}

// policyResource returns the canonical resource manager name (projects/NUMBER,
// folders/F, organizations/O) of a resource given as in sandbox.yaml or an API path.
func (st *state) policyResource(s string) (string, error) {
	kind, id, ok := strings.Cut(s, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("%q is not organizations/ID, folders/ID or projects/ID", s)
	}
	switch kind {
	case "projects":
		ref := st.project(id)
		if ref == nil {
			return "", fmt.Errorf("project %q is not in the scenario", id)
		}
		if ref.number != "" {
			return "projects/" + ref.number, nil
		}
		return "projects/" + ref.id, nil
	case "folders", "organizations":
		if !st.nodes[s] {
			return "", fmt.Errorf("%s is not in the scenario", s)
		}
		return s, nil
	}
	return "", fmt.Errorf("%q is not organizations/ID, folders/ID or projects/ID", s)
}

func (st *state) checkDenied(s string) error {
	_, err := st.policyResource(s)
	return err
}

// newID returns a compute-style numeric ID, deterministic for a scenario and a sequence of
// calls.
func (st *state) newID(seed string) string {
	st.seq++
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", seed, st.seq)
	v := h.Sum64() &^ (1 << 63)
	if v == 0 {
		v = 1
	}
	return strconv.FormatUint(v, 10)
}

// bumpEtag gives the entry's policy a new etag, as every write does.
func (st *state) bumpEtag(e *entry) {
	st.seq++
	e.policyGen++
	sum := sha256.Sum256(fmt.Appendf(nil, "%s#%d#%d", e.name, e.policyGen, st.seq))
	sum[0] = 0x07 // Google's etags start with "B" in base64
	e.policy.Etag = base64.StdEncoding.EncodeToString(sum[:8])
}

// etag returns the etag of the entry's policy, giving it one when the scenario did not.
func (st *state) etag(e *entry) string {
	if e.policy == nil {
		return emptyPolicyEtag
	}
	if e.policy.Etag == "" {
		st.bumpEtag(e)
	}
	return e.policy.Etag
}

// sortedEntries returns the entries of one asset type accepted by keep, sorted by name, in
// a new slice.
func (st *state) sortedEntries(assetType string, keep func(*entry) bool) []*entry {
	if ix := st.indexed(); ix != nil {
		return kept(ix.byType[assetType], keep)
	}
	var out []*entry
	for _, e := range st.entries {
		if e.assetType == assetType && (keep == nil || keep(e)) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// projectEntries returns the entries of one asset type in one project (the project ID of
// compute resources, service accounts and keys) accepted by keep, sorted by name, in a new
// slice.
func (st *state) projectEntries(assetType, project string, keep func(*entry) bool) []*entry {
	if ix := st.indexed(); ix != nil {
		return kept(ix.byTypeProject[typeProject{assetType, project}], keep)
	}
	return st.sortedEntries(assetType, func(e *entry) bool { return e.project == project && (keep == nil || keep(e)) })
}

// assets returns the state as CAI assets, one per name, sorted by name.
func (st *state) assets() []*inventory.Asset {
	out := make([]*inventory.Asset, 0, len(st.entries))
	for _, e := range st.entries {
		a := &inventory.Asset{
			Name:       e.name,
			AssetType:  e.assetType,
			Ancestors:  append([]string(nil), e.ancestors...),
			UpdateTime: e.updateTime,
			IAMPolicy:  clonePolicy(e.policy),
		}
		if e.data != nil {
			r := e.resource
			b, err := json.Marshal(e.data)
			if err == nil {
				r.Data = b
			}
			a.Resource = &r
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func clonePolicy(p *inventory.Policy) *inventory.Policy {
	if p == nil {
		return nil
	}
	c := &inventory.Policy{Version: p.Version, Etag: p.Etag}
	for _, b := range p.Bindings {
		nb := inventory.Binding{Role: b.Role, Members: append([]string(nil), b.Members...)}
		if b.Condition != nil {
			cond := *b.Condition
			nb.Condition = &cond
		}
		c.Bindings = append(c.Bindings, nb)
	}
	for _, ac := range p.AuditConfigs {
		nac := inventory.AuditConfig{Service: ac.Service}
		for _, l := range ac.AuditLogConfigs {
			nac.AuditLogConfigs = append(nac.AuditLogConfigs, inventory.AuditLogConfig{
				LogType: l.LogType, ExemptedMembers: append([]string(nil), l.ExemptedMembers...),
			})
		}
		c.AuditConfigs = append(c.AuditConfigs, nac)
	}
	return c
}

// str reads a string (or a number, as a string) from decoded JSON.
func str(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func setDefault(m map[string]any, key string, v any) {
	if cur, ok := m[key]; !ok || cur == nil || cur == "" {
		m[key] = v
	}
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// lastSegment returns what follows the last slash of a URL or name.
func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}
