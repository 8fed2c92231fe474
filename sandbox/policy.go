package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
)

// The binding a concurrent writer adds when Faults.EtagConflicts or Faults.PolicyConflicts
// makes a setIamPolicy see a concurrent change.
const (
	ConcurrentWriterRole   = "roles/viewer"
	ConcurrentWriterMember = "user:concurrent-writer@sandbox.zerodrift.invalid"
)

// policyJSON is an IAM policy as the APIs answer it.
type policyJSON struct {
	Version      int                     `json:"version"`
	Etag         string                  `json:"etag"`
	Bindings     []inventory.Binding     `json:"bindings,omitempty"`
	AuditConfigs []inventory.AuditConfig `json:"auditConfigs,omitempty"`
}

// readPolicy answers getIamPolicy. A policy with conditional bindings read at a version
// below 3 comes back at version 1 with the conditions dropped and "_withcond_" roles, as
// Google answers it.
func (s *Server) readPolicy(e *entry, requested int) response {
	switch requested {
	case 0, 1, 3:
	default:
		return fail(errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid requested policy version: %d. Valid values are 0, 1 and 3.", requested)))
	}
	out := policyJSON{Version: 1, Etag: emptyPolicyEtag}
	if e == nil || e.policy == nil {
		return reply(out)
	}
	p := clonePolicy(e.policy)
	out.Etag = s.st.etag(e)
	out.AuditConfigs = p.AuditConfigs
	if !hasConditions(p.Bindings) {
		out.Bindings = p.Bindings
		return reply(out)
	}
	if requested == 3 {
		out.Version = 3
		out.Bindings = p.Bindings
		return reply(out)
	}
	for _, b := range p.Bindings {
		if b.Condition != nil {
			sum := sha256.Sum256([]byte(b.Condition.Title + "\x00" + b.Condition.Expression))
			b.Role += "_withcond_" + hex.EncodeToString(sum[:10])
			b.Condition = nil
		}
		out.Bindings = append(out.Bindings, b)
	}
	return reply(out)
}

func hasConditions(bs []inventory.Binding) bool {
	for _, b := range bs {
		if b.Condition != nil {
			return true
		}
	}
	return false
}

// setPolicyRequest is the body of setIamPolicy.
type setPolicyRequest struct {
	Policy *struct {
		Version      int                 `json:"version"`
		Etag         string              `json:"etag"`
		Bindings     []inventory.Binding `json:"bindings"`
		AuditConfigs []struct {
			Service         string `json:"service"`
			AuditLogConfigs []struct {
				LogType         logType  `json:"logType"`
				ExemptedMembers []string `json:"exemptedMembers"`
			} `json:"auditLogConfigs"`
		} `json:"auditConfigs"`
	} `json:"policy"`
	UpdateMask string `json:"updateMask"`
}

// logType accepts an audit log type by name or, as the Go clients send enums, by number.
type logType string

func (l *logType) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*l = logType(name)
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("logType %s is neither a name nor a number", b)
	}
	names := []string{"LOG_TYPE_UNSPECIFIED", "ADMIN_READ", "DATA_WRITE", "DATA_READ"}
	if n < 0 || n >= len(names) {
		return fmt.Errorf("logType %d is unknown", n)
	}
	*l = logType(names[n])
	return nil
}

// writePolicy answers setIamPolicy: read-modify-write guarded by the etag. A request whose
// etag is set and is not the current one is refused with 409 ABORTED; one without an etag
// overwrites, as Google allows.
//
// The call is counted in its policy write (PolicyWrites), and meets the concurrent writer
// first when the faults say so (Faults.EtagConflicts, Faults.PolicyConflicts).
func (s *Server) writePolicy(e *entry, c *call) response {
	var req setPolicyRequest
	if aerr := decodeBody(c.body, &req); aerr != nil {
		return fail(aerr)
	}
	rec, conflict := s.faults.policyCall(c.route.service, c.route.method, e.name, policyFields(req.UpdateMask))
	if conflict {
		s.concurrentWrite(e)
	}
	writer := hasWriterGrant(e.policy)
	resp := s.setPolicy(e, &req)
	s.faults.endPolicyCall(rec, conflict, resp.err == nil, writer && !hasWriterGrant(e.policy))
	return resp
}

// hasWriterGrant reports whether p grants ConcurrentWriterRole to ConcurrentWriterMember
// (unconditionally, as the concurrent writer grants it).
func hasWriterGrant(p *inventory.Policy) bool {
	if p == nil {
		return false
	}
	for _, b := range p.Bindings {
		if b.Role == ConcurrentWriterRole && b.Condition == nil && slices.Contains(b.Members, ConcurrentWriterMember) {
			return true
		}
	}
	return false
}

// setPolicy is writePolicy's read-modify-write, once the faults had their turn.
func (s *Server) setPolicy(e *entry, req *setPolicyRequest) response {
	in := req.Policy
	if in == nil {
		return fail(errStatus(http.StatusBadRequest, "Request contains an invalid argument: policy is required."))
	}
	if cur := s.st.etag(e); in.Etag != "" && !etagEqual(in.Etag, cur) {
		return fail(errStatus(http.StatusConflict, fmt.Sprintf(
			"There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff. "+
				"The request's ETag '%s' did not match the current policy's ETag '%s'.", in.Etag, cur)))
	}
	switch in.Version {
	case 0, 1, 3:
	default:
		return fail(errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid policy version: %d. Valid values are 0, 1 and 3.", in.Version)))
	}
	if hasConditions(in.Bindings) && in.Version != 3 {
		return fail(errStatus(http.StatusBadRequest,
			"Request contains an invalid argument: a policy with conditional role bindings must be set at version 3."))
	}
	bindings, aerr := cleanBindings(in.Bindings)
	if aerr != nil {
		return fail(aerr)
	}
	paths := []string{"bindings", "etag"}
	if m := strings.TrimSpace(req.UpdateMask); m != "" {
		paths = strings.Split(m, ",")
	}
	p := clonePolicy(e.policy)
	if p == nil {
		p = &inventory.Policy{}
	}
	for _, path := range paths {
		switch strings.TrimSpace(path) {
		case "bindings":
			p.Bindings = bindings
		case "auditConfigs", "audit_configs":
			p.AuditConfigs = nil
			for _, ac := range in.AuditConfigs {
				out := inventory.AuditConfig{Service: ac.Service}
				for _, l := range ac.AuditLogConfigs {
					out.AuditLogConfigs = append(out.AuditLogConfigs, inventory.AuditLogConfig{
						LogType: string(l.LogType), ExemptedMembers: l.ExemptedMembers})
				}
				p.AuditConfigs = append(p.AuditConfigs, out)
			}
		case "etag", "version":
		default:
			return fail(errStatus(http.StatusBadRequest, fmt.Sprintf("Request contains an invalid argument: invalid update mask path %q.", path)))
		}
	}
	p.Version = 1
	if hasConditions(p.Bindings) {
		p.Version = 3
	}
	e.policy = p
	s.st.bumpEtag(e)
	e.updateTime = s.st.now()
	return s.readPolicy(e, 3)
}

// cleanBindings checks roles and members and drops bindings left without members.
func cleanBindings(in []inventory.Binding) ([]inventory.Binding, *apiError) {
	var out []inventory.Binding
	for _, b := range in {
		if !strings.HasPrefix(b.Role, "roles/") && !strings.Contains(b.Role, "/roles/") {
			return nil, errStatus(http.StatusBadRequest, fmt.Sprintf("Role %q is not a role name (roles/NAME, projects/P/roles/NAME or organizations/O/roles/NAME).", b.Role))
		}
		for _, m := range b.Members {
			if !validMember(m) {
				return nil, errStatus(http.StatusBadRequest, fmt.Sprintf("Invalid member: %q; members look like user:EMAIL, serviceAccount:EMAIL, group:EMAIL, domain:DOMAIN, allUsers.", m))
			}
		}
		if b.Condition != nil && strings.TrimSpace(b.Condition.Expression) == "" {
			return nil, errStatus(http.StatusBadRequest, "Request contains an invalid argument: a condition needs an expression.")
		}
		if len(b.Members) > 0 {
			out = append(out, b)
		}
	}
	return out, nil
}

func validMember(m string) bool {
	if m == "allUsers" || m == "allAuthenticatedUsers" {
		return true
	}
	kind, value, ok := strings.Cut(m, ":")
	if !ok || value == "" {
		return false
	}
	switch kind {
	case "user", "serviceAccount", "group", "domain", "deleted", "principal", "principalSet",
		"projectOwner", "projectEditor", "projectViewer":
		return true
	}
	return false
}

// concurrentWrite is another writer changing the policy: it grants ConcurrentWriterRole to
// ConcurrentWriterMember (once: a grant already there is left as it is) and so changes the
// etag.
func (s *Server) concurrentWrite(e *entry) {
	p := e.policy
	if p == nil {
		p = &inventory.Policy{Version: 1}
		e.policy = p
	}
	added := false
	for i, b := range p.Bindings {
		if b.Role == ConcurrentWriterRole && b.Condition == nil {
			if !slices.Contains(b.Members, ConcurrentWriterMember) {
				p.Bindings[i].Members = append(p.Bindings[i].Members, ConcurrentWriterMember)
			}
			added = true
			break
		}
	}
	if !added {
		p.Bindings = append(p.Bindings, inventory.Binding{Role: ConcurrentWriterRole, Members: []string{ConcurrentWriterMember}})
	}
	s.st.bumpEtag(e)
}

// etagEqual compares etags by the bytes they encode, so that a client re-encoding the
// etag (the Go clients carry it as bytes) still matches.
func etagEqual(a, b string) bool {
	if a == b {
		return true
	}
	da, okA := decodeEtag(a)
	db, okB := decodeEtag(b)
	return okA && okB && bytes.Equal(da, db)
}

func decodeEtag(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// decodeBody decodes an optional JSON request body.
func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errStatus(http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
	}
	return nil
}
