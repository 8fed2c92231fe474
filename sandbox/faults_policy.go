package sandbox

import (
	"slices"
	"strings"
)

// Policy fields, as PolicyWrite.Fields names what a setIamPolicy call writes.
const (
	// PolicyBindings is a write of the bindings: a setIamPolicy without an update mask, or
	// with "bindings" in it.
	PolicyBindings = "bindings"
	// PolicyAuditConfigs is a write of the audit configs: "auditConfigs" (or
	// "audit_configs") in the update mask.
	PolicyAuditConfigs = "auditConfigs"
)

// PolicyWrite names one write of an IAM policy as the sandbox tells writes apart: the
// setIamPolicy calls on one policy that write the same fields, from the first until one is
// served (answered 200). A client's read-modify-write, written again after each etag
// conflict, is one write; so is a write its client gave up on, until the next call on the
// same policy and fields is served.
type PolicyWrite struct {
	// Policy is the policy's full resource name, as ConcurrentWrites names it:
	// "//cloudresourcemanager.googleapis.com/projects/NUMBER", ".../folders/ID",
	// ".../organizations/ID", or a service account's.
	Policy string
	// Fields are the policy fields the calls write, by their update mask: PolicyBindings,
	// PolicyAuditConfigs, or several, sorted and comma-separated ("etag" and "version" are
	// left out).
	Fields string
	// Ordinal counts the writes of the same policy and fields before this one since the
	// faults were set (SetFaults, SetFaultProfile): 0 for the first.
	Ordinal int
}

// PolicyWriteCount is what one PolicyWrite met.
type PolicyWriteCount struct {
	PolicyWrite
	// Calls are the write's setIamPolicy calls the API handled: served or refused, not those
	// failed by an injected error before they reached it.
	Calls int
	// Conflicts are the calls that met the concurrent writer (Faults.PolicyConflicts or
	// Faults.EtagConflicts) first.
	Conflicts int
	// Planned is what Faults.PolicyConflicts drew for the write; 0 without it.
	Planned int
	// Served is whether one of the calls was served, ending the write.
	Served bool
	// WriterGrantRemoved is whether the call served took away the concurrent writer's
	// grant (ConcurrentWriterMember in ConcurrentWriterRole): a write made over the
	// writer's change, unless it set out to remove that grant. A later conflict grants it
	// again, so the policy alone cannot tell.
	WriterGrantRemoved bool
}

// policyKey tells policy writes apart: one policy, the same fields.
type policyKey struct{ policy, fields string }

// policyWriteState is the policy writes in progress since the faults were set, and those
// made since ResetInjectedFaults. The faultInjector's mu guards it.
type policyWriteState struct {
	open     map[policyKey]*policyWriteRecord // the writes not served yet
	ordinals map[policyKey]int                // the writes begun, by policy and fields
	writes   []*policyWriteRecord             // in the order they began
}

type policyWriteRecord struct {
	PolicyWriteCount
	left int // conflicts of Planned not met yet
}

// policyFields names what a setIamPolicy call with this update mask writes (PolicyWrite.Fields).
func policyFields(mask string) string {
	if strings.TrimSpace(mask) == "" {
		return PolicyBindings
	}
	var fields []string
	for f := range strings.SplitSeq(mask, ",") {
		switch f = strings.TrimSpace(f); f {
		case "etag", "version", "":
			continue
		case "audit_configs":
			f = PolicyAuditConfigs
		}
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	slices.Sort(fields)
	return strings.Join(fields, ",")
}

// resetPolicyWrites forgets the writes in progress, and their ordinals, as SetFaults does.
// The caller holds fi.mu.
func (fi *faultInjector) resetPolicyWrites() {
	fi.policies.open = nil
	fi.policies.ordinals = nil
}

// policyCall begins one setIamPolicy call on policy writing fields: it finds the write the
// call belongs to, or begins one (asking Faults.PolicyConflicts how many conflicts it
// meets), and reports whether the call is to see the concurrent writer first: the write
// has planned conflicts left, or Faults.EtagConflicts has some. A conflict is counted as
// injected and the policy as written by the concurrent writer. endPolicyCall must follow,
// with the call's outcome.
func (fi *faultInjector) policyCall(service, method, policy, fields string) (*policyWriteRecord, bool) {
	key := policyKey{policy, fields}
	fi.mu.Lock()
	f := fi.f
	rec := fi.policies.open[key]
	if rec == nil {
		if fi.policies.open == nil {
			fi.policies.open, fi.policies.ordinals = map[policyKey]*policyWriteRecord{}, map[policyKey]int{}
		}
		rec = &policyWriteRecord{PolicyWriteCount: PolicyWriteCount{PolicyWrite: PolicyWrite{
			Policy: policy, Fields: fields, Ordinal: fi.policies.ordinals[key]}}}
		fi.policies.ordinals[key]++
		fi.policies.open[key] = rec
		fi.policies.writes = append(fi.policies.writes, rec)
		fi.mu.Unlock()
		// PolicyConflicts and Match run without the lock held, on a write nobody else has
		// seen conflicts of yet.
		if f.PolicyConflicts != nil && f.matches(service, method) {
			if n := f.PolicyConflicts(rec.PolicyWrite); n > 0 {
				fi.mu.Lock()
				rec.Planned, rec.left = n, n
				fi.mu.Unlock()
			}
		}
		fi.mu.Lock()
	}
	conflict := false
	if rec.left > 0 {
		rec.left--
		conflict = true
	}
	fi.mu.Unlock()
	if !conflict {
		// Faults.EtagConflicts: the next matched calls, whichever write they belong to.
		conflict = fi.takeEtagConflict(service, method, policy)
	} else {
		fi.mu.Lock()
		fi.noteConcurrentWrite(service, method, policy)
		fi.mu.Unlock()
	}
	return rec, conflict
}

// endPolicyCall counts a call policyCall began, and ends its write when the call was
// served; writerRemoved tells whether it took away the concurrent writer's grant.
func (fi *faultInjector) endPolicyCall(rec *policyWriteRecord, conflict, served, writerRemoved bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	rec.Calls++
	if conflict {
		rec.Conflicts++
	}
	if served {
		rec.Served = true
		rec.WriterGrantRemoved = writerRemoved
		key := policyKey{rec.Policy, rec.Fields}
		if fi.policies.open[key] == rec {
			delete(fi.policies.open, key)
		}
	}
}

// PolicyWrites returns the IAM policy writes (see PolicyWrite) made since
// ResetInjectedFaults, in the order they began, with the calls and conflicts each met so
// far. They are counted whatever the faults in force, none included.
func (s *Server) PolicyWrites() []PolicyWriteCount {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]PolicyWriteCount, 0, len(s.faults.policies.writes))
	for _, rec := range s.faults.policies.writes {
		out = append(out, rec.PolicyWriteCount)
	}
	return out
}
