package sandbox

import (
	"net/http"
	"slices"
	"sync"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestPolicyFields(t *testing.T) {
	for mask, want := range map[string]string{
		"":                               PolicyBindings,
		"bindings,etag":                  PolicyBindings,
		"audit_configs,etag":             PolicyAuditConfigs,
		" auditConfigs ":                 PolicyAuditConfigs,
		"etag,bindings,audit_configs":    "auditConfigs,bindings",
		"auditConfigs,audit_configs,etc": "auditConfigs,etc",
	} {
		if got := policyFields(mask); got != want {
			t.Errorf("policyFields(%q) = %q, want %q", mask, got, want)
		}
	}
}

// TestFaultPolicyConflicts writes a project's policy as a client does (read-modify-write
// with the etag, again after each 409) under Faults.PolicyConflicts, and reads back what
// each write met.
func TestFaultPolicyConflicts(t *testing.T) {
	policy := "//cloudresourcemanager.googleapis.com/projects/" + prodNumber
	var mu sync.Mutex
	var asked []PolicyWrite
	srv, url := start(t, loadBasic(t), WithFaults(Faults{PolicyConflicts: func(w PolicyWrite) int {
		mu.Lock()
		asked = append(asked, w)
		mu.Unlock()
		switch {
		case w.Fields == PolicyBindings && w.Ordinal == 0:
			return 2
		case w.Fields == PolicyAuditConfigs && w.Ordinal == 0:
			return 1
		case w.Fields == PolicyBindings && w.Ordinal == 2:
			return 4 // past the 2 retries of the client below
		}
		return 0
	}}))
	c := newClients(t, url)
	ctx := testContext(t)
	res := "projects/" + prodID
	// write makes one read-modify-write with up to retries retries after a conflict, and
	// returns the 409s it met and whether it was served.
	write := func(mask []string, retries int) (refused int, served bool) {
		t.Helper()
		for range 1 + retries {
			p, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
			if err != nil {
				t.Fatalf("getIamPolicy: %v", err)
			}
			req := &iampb.SetIamPolicyRequest{Resource: res, Policy: p}
			if mask != nil {
				req.UpdateMask = &fieldmaskpb.FieldMask{Paths: mask}
			}
			_, err = c.projects.SetIamPolicy(ctx, req)
			if err == nil {
				return refused, true
			}
			googleErr(t, err, http.StatusConflict)
			refused++
		}
		return refused, false
	}
	steps := []struct {
		mask    []string
		retries int
		refused int
		served  bool
	}{
		{nil, 5, 2, true}, // bindings 0: 2 conflicts
		{[]string{"audit_configs", "etag"}, 5, 1, true}, // audit configs 0: 1 conflict
		{[]string{"bindings", "etag"}, 5, 0, true},      // bindings 1: none
		{nil, 2, 3, false},                              // bindings 2: 4 conflicts, the client gives up after 3
		{nil, 2, 1, true},                               // still bindings 2: the conflict left, then served
		{[]string{"audit_configs"}, 5, 0, true},         // audit configs 1: none
	}
	for i, s := range steps {
		if refused, served := write(s.mask, s.retries); refused != s.refused || served != s.served {
			t.Errorf("write %d (mask %q): %d refused, served %v; want %d, %v", i, s.mask, refused, served, s.refused, s.served)
		}
	}
	want := []PolicyWriteCount{
		{PolicyWrite: PolicyWrite{policy, PolicyBindings, 0}, Calls: 3, Conflicts: 2, Planned: 2, Served: true},
		{PolicyWrite: PolicyWrite{policy, PolicyAuditConfigs, 0}, Calls: 2, Conflicts: 1, Planned: 1, Served: true},
		{PolicyWrite: PolicyWrite{policy, PolicyBindings, 1}, Calls: 1, Served: true},
		{PolicyWrite: PolicyWrite{policy, PolicyBindings, 2}, Calls: 5, Conflicts: 4, Planned: 4, Served: true},
		{PolicyWrite: PolicyWrite{policy, PolicyAuditConfigs, 1}, Calls: 1, Served: true},
	}
	if got := srv.PolicyWrites(); !slices.Equal(got, want) {
		t.Errorf("PolicyWrites() =\n%+v\nwant\n%+v", got, want)
	}
	// PolicyConflicts is asked once a write.
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != len(want) {
		t.Errorf("PolicyConflicts asked about %+v; want once for each of the %d writes", asked, len(want))
	}
	if got := srv.InjectedFaults(); !slices.Equal(got, []FaultCount{{Kind: FaultEtagConflict, Service: ServiceResourceManager,
		Method: "projects.setIamPolicy", Count: 7}}) {
		t.Errorf("InjectedFaults() = %+v", got)
	}
	if got := srv.ConcurrentWrites(); !slices.Equal(got, []string{policy}) {
		t.Errorf("ConcurrentWrites() = %q", got)
	}

	// A write without the etag, of bindings read before the writer's change, is served over
	// it, taking its grant away.
	if err := srv.SetFaults(Faults{PolicyConflicts: func(w PolicyWrite) int { return 1 }}); err != nil {
		t.Fatal(err)
	}
	srv.ResetInjectedFaults()
	p, err := c.projects.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: res, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3}})
	if err != nil {
		t.Fatal(err)
	}
	p.Etag = nil
	for _, b := range p.Bindings {
		b.Members = slices.DeleteFunc(b.Members, func(m string) bool { return m == ConcurrentWriterMember })
	}
	if _, err := c.projects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: res, Policy: p}); err != nil {
		t.Fatalf("a write without the etag: %v", err)
	}
	want = []PolicyWriteCount{{PolicyWrite: PolicyWrite{policy, PolicyBindings, 0}, Calls: 1, Conflicts: 1, Planned: 1, Served: true,
		WriterGrantRemoved: true}}
	if got := srv.PolicyWrites(); !slices.Equal(got, want) {
		t.Errorf("a write without the etag: PolicyWrites() = %+v, want %+v", got, want)
	}

	// SetFaults starts the writes again; ResetInjectedFaults forgets them.
	if err := srv.SetFaults(Faults{PolicyConflicts: func(w PolicyWrite) int { return 1 }, EtagConflicts: 1}); err != nil {
		t.Fatal(err)
	}
	srv.ResetInjectedFaults()
	if len(srv.PolicyWrites()) != 0 || len(srv.ConcurrentWrites()) != 0 {
		t.Errorf("ResetInjectedFaults kept %+v, %q", srv.PolicyWrites(), srv.ConcurrentWrites())
	}
	// The write's conflict, then EtagConflicts' (which counts the calls, whatever write).
	if refused, served := write(nil, 5); refused != 2 || !served {
		t.Errorf("after SetFaults: %d refused, served %v; want 2 (the write's and EtagConflicts'), served", refused, served)
	}
	want = []PolicyWriteCount{{PolicyWrite: PolicyWrite{policy, PolicyBindings, 0}, Calls: 3, Conflicts: 2, Planned: 1, Served: true}}
	if got := srv.PolicyWrites(); !slices.Equal(got, want) || srv.Faults().EtagConflicts != 0 {
		t.Errorf("after SetFaults: PolicyWrites() = %+v, want %+v; EtagConflicts left %d", got, want, srv.Faults().EtagConflicts)
	}
}

// TestEtagConflictsProfile checks the etag-conflicts profile's draws: every write meets
// the writer, most within ProfileConflictRetries, some past them, each the same whenever
// it is asked.
func TestEtagConflictsProfile(t *testing.T) {
	var writes []PolicyWrite
	for _, policy := range []string{"//cloudresourcemanager.googleapis.com/organizations/1", "//cloudresourcemanager.googleapis.com/folders/2",
		"//cloudresourcemanager.googleapis.com/projects/3", "//cloudresourcemanager.googleapis.com/projects/4"} {
		for _, fields := range []string{PolicyBindings, PolicyAuditConfigs} {
			for ordinal := range 3 {
				writes = append(writes, PolicyWrite{policy, fields, ordinal})
			}
		}
	}
	within, past := 0, 0
	for seed := range int64(40) {
		p, err := FaultProfile("etag-conflicts", seed)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := FaultProfile("etag-conflicts", seed)
		if p.Faults.PolicyConflicts == nil || p.Faults.EtagConflicts != 0 || p.Faults.Match != nil {
			t.Fatalf("seed %d: %+v", seed, p.Faults)
		}
		drawn := map[PolicyWrite]int{}
		for _, w := range writes {
			n := p.Faults.PolicyConflicts(w)
			drawn[w] = n
			switch {
			case n < 1 || n > ProfileConflictRetries+3:
				t.Errorf("seed %d: %+v meets %d conflicts; want 1 to %d", seed, w, n, ProfileConflictRetries+3)
			case n <= ProfileConflictRetries:
				within++
			default:
				past++
			}
		}
		// The same write, asked in another order or of the same profile built again, meets
		// the same conflicts.
		for _, w := range slices.Backward(writes) {
			if a, b := again.Faults.PolicyConflicts(w), p.Faults.PolicyConflicts(w); a != drawn[w] || b != drawn[w] {
				t.Errorf("seed %d: %+v meets %d conflicts, then %d and %d", seed, w, drawn[w], a, b)
			}
		}
	}
	if past == 0 || within < 3*past {
		t.Errorf("%d writes drawn within the retries, %d past them; want most within, some past", within, past)
	}
}
