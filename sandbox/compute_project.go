package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
)

// A project's Compute Engine settings (compute#project, asset type
// compute.googleapis.com/Project, named //compute.googleapis.com/projects/PROJECT_ID in
// CAI) and the metadata writes of Compute Engine:
//
//	GET  compute/v1/projects/{project}                                                  projects.get
//	POST compute/v1/projects/{project}/setCommonInstanceMetadata                        projects.setCommonInstanceMetadata
//	POST compute/v1/projects/{project}/zones/{zone}/instances/{resource}/setMetadata    instances.setMetadata
//	POST compute/v1/projects/{project}/zones/{zone}/instances/{resource}/deleteAccessConfig?accessConfig=A&networkInterface=N
//	                                                                                    instances.deleteAccessConfig
//
// A scenario asset of type compute.googleapis.com/Project is the project's compute
// settings; a project without one answers projects.get 404, as a project whose compute
// settings cannot be found does. A metadata write replaces the items and must carry the
// current fingerprint (Google: "You must always provide an up-to-date fingerprint hash in
// order to update or change metadata, otherwise the request will fail with error 412
// conditionNotMet"); it gives the metadata a new fingerprint and answers a global (project)
// or zone (instance) operation, done at once unless faults hold it back.

// computeProjectKind is the kind of a project's compute settings, and computeMetadataKind
// that of metadata.
const (
	computeProjectKind  = "compute#project"
	computeMetadataKind = "compute#metadata"
)

// metadataKeyRE is what Compute Engine accepts as a metadata key.
var metadataKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// computeProjectName is the state's (and CAI's) name of a project's compute settings.
func computeProjectName(project string) string {
	return computePrefix + "projects/" + project
}

// addComputeProject parses the name of a project's compute settings
// (//compute.googleapis.com/projects/P; a project number becomes the project's ID, as for
// other compute resources) and fills what Compute Engine returns.
func (st *state) addComputeProject(e *entry) error {
	if err := st.parseComputeProjectName(e); err != nil {
		return err
	}
	st.fillComputeProject(e, st.createdAt(e))
	return nil
}

// computeProjectOf returns the project (ID or number) that names a project's compute
// settings, //compute.googleapis.com/projects/P.
func computeProjectOf(name string) (string, error) {
	p, ok := strings.CutPrefix(name, computePrefix+"projects/")
	if !ok || p == "" || strings.Contains(p, "/") {
		return "", fmt.Errorf("asset %s: a project's compute settings are named %sprojects/PROJECT_ID", name, computePrefix)
	}
	return p, nil
}

func (st *state) parseComputeProjectName(e *entry) error {
	p, err := computeProjectOf(e.name)
	if err != nil {
		return err
	}
	e.project = st.projectID(p)
	e.scope, e.short = "global", e.project
	e.name = computeProjectName(e.project)
	st.registerProject(e.project)
	if e.data == nil {
		e.data = map[string]any{}
	}
	return nil
}

// fillComputeProject fills the fields Compute Engine always returns of a project: its
// kind, name, selfLink, id (the project number, when known), creation time, default
// service account and common instance metadata with its fingerprint.
func (st *state) fillComputeProject(e *entry, created time.Time) {
	d := e.data
	setDefault(d, "kind", computeProjectKind)
	setDefault(d, "name", e.project)
	setDefault(d, "selfLink", computeBase+"projects/"+e.project)
	number := ""
	if ref := st.project(e.project); ref != nil {
		number = ref.number
	}
	if number != "" {
		setDefault(d, "id", number)
		setDefault(d, "defaultServiceAccount", number+"-compute@developer.gserviceaccount.com")
	} else {
		setDefault(d, "id", st.newID(e.name))
	}
	setDefault(d, "creationTimestamp", created.Format(computeTimeLayout))
	md, _ := d["commonInstanceMetadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		d["commonInstanceMetadata"] = md
	}
	setDefault(md, "kind", computeMetadataKind)
	setDefault(md, "fingerprint", contentFingerprint(e.name, md))
}

// contentFingerprint is the fingerprint of metadata as a scenario wrote it: drawn from its
// resource's name and its items, so that filling it leaves the IDs the state gives other
// resources as they were.
func contentFingerprint(name string, md map[string]any) string {
	items, _ := json.Marshal(md["items"])
	return fingerprint(name + "#metadata#" + string(items))
}

// fillInstanceMetadata gives an instance's metadata the fingerprint Compute Engine always
// returns with it, when the scenario wrote the metadata without one. An instance the
// scenario gives no metadata keeps none: its fingerprint is empty.
func fillInstanceMetadata(e *entry) {
	if md, ok := e.data["metadata"].(map[string]any); ok {
		setDefault(md, "kind", computeMetadataKind)
		setDefault(md, "fingerprint", contentFingerprint(e.name, md))
	}
}

// metadataField is the field of a compute resource holding its metadata.
func metadataField(assetType string) string {
	if assetType == inventory.TypeComputeProject {
		return "commonInstanceMetadata"
	}
	return "metadata"
}

// refreshMetadataFingerprint gives a resource's metadata, which a drift has just replaced
// (before is the data it replaced), the fingerprint it has after such a change: a new one
// when the items changed, so that a caller holding the old one must read again, as it would
// have to on Google; the old one when they did not. Call it before the fill.
func (st *state) refreshMetadataFingerprint(e *entry, before map[string]any) {
	field := metadataField(e.assetType)
	md, ok := e.data[field].(map[string]any)
	if !ok {
		return
	}
	old, _ := before[field].(map[string]any)
	was, _ := json.Marshal(old["items"])
	now, _ := json.Marshal(md["items"])
	switch {
	case old == nil || string(was) != string(now):
		md["fingerprint"] = fingerprint(st.newID(e.name + "#metadata"))
	case str(md, "fingerprint") == "":
		md["fingerprint"] = old["fingerprint"]
	}
}

// computeProjectTarget finds the compute settings of the project a call names: 404 when
// the project is unknown or has none.
func (s *Server) computeProjectTarget(c *call) (*entry, *apiError) {
	proj, aerr := s.computeProject(c)
	if aerr != nil {
		return nil, aerr
	}
	e := s.st.entries[computeProjectName(proj)]
	if e == nil || e.data == nil {
		return nil, errComputeNotFound("projects/" + c.params["project"])
	}
	return e, nil
}

// getComputeProject answers projects.get.
func (s *Server) getComputeProject(c *call) response {
	e, aerr := s.computeProjectTarget(c)
	if aerr != nil {
		return fail(aerr)
	}
	return reply(e.data)
}

// errFingerprintMismatch is Compute Engine's answer to a write whose fingerprint is not the
// current one.
func errFingerprintMismatch() *apiError {
	return &apiError{code: http.StatusPreconditionFailed, reason: "conditionNotMet",
		message: "Supplied fingerprint does not match current metadata fingerprint."}
}

// newMetadata reads a Metadata request body ({fingerprint, items: [{key, value}]}), checks
// it against the current metadata (the fingerprint must be the current one, the keys
// valid and distinct) and returns the metadata that replaces it, with a new fingerprint.
func (s *Server) newMetadata(e *entry, body []byte) (map[string]any, *apiError) {
	d, err := decodeObject(body)
	if err != nil {
		return nil, errBadRequest("Invalid JSON payload received. " + err.Error())
	}
	if d == nil {
		d = map[string]any{}
	}
	cur, _ := e.data[metadataField(e.assetType)].(map[string]any)
	if str(d, "fingerprint") != str(cur, "fingerprint") {
		return nil, errFingerprintMismatch()
	}
	var items []any
	if raw, ok := d["items"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return nil, errInvalid("Invalid value for field 'resource.items': must be a list of {key, value}.")
		}
		seen := map[string]bool{}
		for i, it := range list {
			m, ok := it.(map[string]any)
			key := str(m, "key")
			if !ok || !metadataKeyRE.MatchString(key) {
				return nil, errInvalid(fmt.Sprintf("Invalid value for field 'resource.items[%d].key': '%s'. "+
					"Must be a match of regex '[a-zA-Z0-9-_]{1,128}'", i, key))
			}
			if seen[key] {
				return nil, errInvalid(fmt.Sprintf("Invalid value for field 'resource.items[%d].key': '%s'. Duplicate keys are not allowed.", i, key))
			}
			seen[key] = true
			item := map[string]any{"key": key}
			if v, ok := m["value"]; ok && v != nil {
				sv, ok := v.(string)
				if !ok {
					return nil, errInvalid(fmt.Sprintf("Invalid value for field 'resource.items[%d].value': must be a string.", i))
				}
				item["value"] = sv
			}
			items = append(items, item)
		}
	}
	md := map[string]any{"kind": computeMetadataKind, "fingerprint": fingerprint(s.st.newID(e.name + "#metadata"))}
	if len(items) > 0 {
		md["items"] = items
	}
	return md, nil
}

// setCommonInstanceMetadata answers projects.setCommonInstanceMetadata with a global
// operation.
func (s *Server) setCommonInstanceMetadata(c *call) response {
	e, aerr := s.computeProjectTarget(c)
	if aerr != nil {
		return fail(aerr)
	}
	md, aerr := s.newMetadata(e, c.body)
	if aerr != nil {
		return fail(aerr)
	}
	if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
		return reply(s.failedOperation(c, e.project, "global", "setCommonInstanceMetadata", e.data, msg))
	}
	e.data["commonInstanceMetadata"] = md
	e.updateTime = s.st.now()
	return reply(s.newOperation(c, e.project, "global", "setCommonInstanceMetadata", e.data))
}

var instancesCollection, _ = collectionOf(inventory.TypeInstance)

// setInstanceMetadata answers instances.setMetadata with a zone operation.
func (s *Server) setInstanceMetadata(c *call) response {
	e, aerr := s.computeTarget(c, instancesCollection)
	if aerr != nil {
		return fail(aerr)
	}
	md, aerr := s.newMetadata(e, c.body)
	if aerr != nil {
		return fail(aerr)
	}
	if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
		return reply(s.failedOperation(c, e.project, e.scope, "setMetadata", e.data, msg))
	}
	e.data["metadata"] = md
	e.updateTime = s.st.now()
	return reply(s.newOperation(c, e.project, e.scope, "setMetadata", e.data))
}

// deleteAccessConfig answers instances.deleteAccessConfig: the access config named
// accessConfig is removed from the network interface named networkInterface, and a zone
// operation answered. Both parameters are required; a network interface or access config
// the instance does not have is answered 400.
func (s *Server) deleteAccessConfig(c *call) response {
	e, aerr := s.computeTarget(c, instancesCollection)
	if aerr != nil {
		return fail(aerr)
	}
	q := c.r.URL.Query()
	acName, nicName := q.Get("accessConfig"), q.Get("networkInterface")
	for _, p := range [][2]string{{"accessConfig", acName}, {"networkInterface", nicName}} {
		if p[1] == "" {
			return fail(errInvalid(fmt.Sprintf("Required field '%s' not specified", p[0])))
		}
	}
	updated := cloneJSON(e.data)
	nics, _ := updated["networkInterfaces"].([]any)
	var nic map[string]any
	for _, n := range nics {
		if m, ok := n.(map[string]any); ok && str(m, "name") == nicName {
			nic = m
		}
	}
	if nic == nil {
		return fail(errInvalid(fmt.Sprintf("Invalid value for field 'networkInterface': '%s'. "+
			"The instance has no network interface of that name.", nicName)))
	}
	acs, _ := nic["accessConfigs"].([]any)
	kept := make([]any, 0, len(acs))
	for _, ac := range acs {
		if m, ok := ac.(map[string]any); ok && str(m, "name") == acName {
			continue
		}
		kept = append(kept, ac)
	}
	if len(kept) == len(acs) {
		return fail(errInvalid(fmt.Sprintf("Invalid value for field 'accessConfig': '%s'. "+
			"The network interface '%s' has no access config of that name.", acName, nicName)))
	}
	if len(kept) == 0 {
		delete(nic, "accessConfigs")
	} else {
		nic["accessConfigs"] = kept
	}
	if msg, failed := s.faults.takeOperationFailure(c.route.service, c.route.method); failed {
		return reply(s.failedOperation(c, e.project, e.scope, "deleteAccessConfig", e.data, msg))
	}
	e.data = updated
	e.updateTime = s.st.now()
	return reply(s.newOperation(c, e.project, e.scope, "deleteAccessConfig", e.data))
}
