package sandbox

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are the failures the server injects into API calls, for testing retries, timeouts
// and etag conflicts. The zero value injects nothing. Failures are drawn from a generator
// seeded with Seed, so a sequence of calls fails the same way on every run.
type Faults struct {
	// Seed seeds the generator that decides which calls fail.
	Seed int64
	// Latency delays every matched call before it is answered.
	Latency time.Duration
	// ErrorRate is the probability (0 to 1) that a matched call fails with ErrorStatus
	// instead of being served.
	ErrorRate float64
	// ErrorStatus is the HTTP status of injected failures: 503 (the default), 429, 500, ...
	ErrorStatus int
	// RetryAfter, when positive, is sent as the Retry-After header (in whole seconds, rounded
	// up) of injected failures.
	RetryAfter time.Duration
	// FailCalls is the number of upcoming matched calls that fail with ErrorStatus (and
	// RetryAfter) whatever ErrorRate says, for a burst of failures that then passes. It counts
	// down as calls fail; Faults returns what is left of it.
	FailCalls int
	// SlowCalls is the number of upcoming matched calls delayed by SlowLatency on top of
	// Latency, for calls that outlast a client's attempt timeout. With SlowRate set, each
	// matched call is slowed with that probability, drawn from the seeded generator, until
	// SlowCalls have been; without it, the next SlowCalls calls are. It counts down.
	SlowCalls   int
	SlowRate    float64
	SlowLatency time.Duration
	// StartAfter is the number of matched calls answered before FailCalls and SlowCalls
	// begin, so that a burst lands mid-run rather than on the first calls. It counts down.
	StartAfter int
	// EtagConflicts is the number of upcoming matched setIamPolicy calls that first see a
	// concurrent writer grant ConcurrentWriterRole to ConcurrentWriterMember, so that a call
	// carrying the etag it read fails with 409 ABORTED. It counts down as conflicts happen.
	EtagConflicts int
	// PolicyConflicts, when set, aims the concurrent writer at IAM policy writes one by one
	// (PolicyWrite: the calls on one policy writing the same fields, until one is served):
	// the first matched call of a write asks it how many of the write's calls meet the
	// writer, and that many do, this one first; the calls after them are served as usual.
	// It is asked once a write, so its answer may depend on the write's policy, fields and
	// ordinal only, for the same writes to meet the same conflicts on every run. A client
	// that gives up before meeting them all leaves the rest to the next write of the same
	// policy and fields: for the sandbox, that is still the same write. It must not call
	// the Server. It works besides EtagConflicts, which its conflicts do not count down.
	PolicyConflicts func(w PolicyWrite) int
	// FailOperations is the number of upcoming matched compute writes (insert, patch, update,
	// delete, setCommonInstanceMetadata, setMetadata, deleteAccessConfig, addAccessConfig,
	// setPrivateIpGoogleAccess) and Cloud Asset Inventory exports (exportAssets) whose long-running operation
	// fails: the call is answered 200 with an operation that ends done with an error, as
	// Google reports work it accepted and could not carry out. The resource is left as it
	// was; the export writes no object. It counts down as operations fail.
	FailOperations int
	// OperationError is the message of the error a failed operation carries; empty means
	// Google's "Internal error" message.
	OperationError string
	// PendingOperationPolls makes the operation of every matched compute write answer
	// RUNNING to that many operations.get or operations.wait calls before it is DONE, so that
	// callers must poll (and may time out). The write itself takes effect at once. A matched
	// export answers done:false to that many polls more than the one it always does.
	PendingOperationPolls int
	// Match, when set, limits the faults to the calls for which it returns true; service is
	// "compute", "cloudresourcemanager", "iam", "cloudasset", "storage" or "github" and
	// method as in CallCount. It must not call the Server. GitHub calls get the delays, and
	// ErrorStatus and RetryAfter in GitHub's error shape (403 is a secondary rate limit); see
	// also InjectGitHubFault.
	Match func(service, method string) bool
}

func (f Faults) validate() error {
	switch {
	case f.Latency < 0:
		return fmt.Errorf("faults: latency %v is negative", f.Latency)
	case f.ErrorRate < 0 || f.ErrorRate > 1:
		return fmt.Errorf("faults: error rate %v is not between 0 and 1", f.ErrorRate)
	case f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599):
		return fmt.Errorf("faults: error status %d is not an HTTP error status", f.ErrorStatus)
	case f.RetryAfter < 0:
		return fmt.Errorf("faults: retry-after %v is negative", f.RetryAfter)
	case f.FailCalls < 0:
		return fmt.Errorf("faults: failed calls %d is negative", f.FailCalls)
	case f.SlowCalls < 0 || f.SlowLatency < 0:
		return fmt.Errorf("faults: slow calls %d or slow latency %v is negative", f.SlowCalls, f.SlowLatency)
	case f.SlowRate < 0 || f.SlowRate > 1:
		return fmt.Errorf("faults: slow rate %v is not between 0 and 1", f.SlowRate)
	case f.StartAfter < 0:
		return fmt.Errorf("faults: start after %d is negative", f.StartAfter)
	case f.EtagConflicts < 0:
		return fmt.Errorf("faults: etag conflicts %d is negative", f.EtagConflicts)
	case f.FailOperations < 0:
		return fmt.Errorf("faults: failed operations %d is negative", f.FailOperations)
	case f.PendingOperationPolls < 0:
		return fmt.Errorf("faults: pending operation polls %d is negative", f.PendingOperationPolls)
	}
	return nil
}

// Kinds of injected faults, as InjectedFaults counts them.
const (
	// FaultError is a call answered with an injected error (FailCalls, ErrorRate) instead
	// of being served.
	FaultError = "error"
	// FaultSlow is a call served after an injected delay (Latency, SlowCalls).
	FaultSlow = "slow"
	// FaultTimeout is a call whose client went away during an injected delay: it was never
	// served.
	FaultTimeout = "timeout"
	// FaultEtagConflict is a setIamPolicy call that met the concurrent writer.
	FaultEtagConflict = "etag-conflict"
	// FaultOperation is a write answered with a long-running operation that fails.
	FaultOperation = "failed-operation"
	// FaultGitHub is a GitHub request answered with an InjectGitHubFault failure instead of
	// being served.
	FaultGitHub = "github-error"
	// FaultLostAnswer is a GitHub request served, and its change made, whose answer was
	// replaced by an injected failure (GitHubFault.AfterServing).
	FaultLostAnswer = "lost-answer"
	// FaultTruncatedTree is a recursive tree listing cut short by a fault profile's
	// TreeLimit (not by GitHubOptions.TreeLimit, the emulator's own setting).
	FaultTruncatedTree = "truncated-tree"
)

// FaultCount counts the faults of one kind injected into one method.
type FaultCount struct {
	// Kind is FaultError, FaultSlow, FaultTimeout, FaultEtagConflict, FaultOperation,
	// FaultGitHub, FaultLostAnswer or FaultTruncatedTree.
	Kind string
	// Service and Method name the method as CallCount does.
	Service string
	Method  string
	Count   int
}

type faultKey struct{ kind, service, method string }

// faultInjector holds the faults in force, the generator drawing them and what it injected.
type faultInjector struct {
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	injected map[faultKey]int
	written  map[string]bool  // the policies the concurrent writer changed, by full name
	policies policyWriteState // the IAM policy writes (faults_policy.go)
}

// SetFaults replaces the faults in force, from the next call on, and reseeds the generator.
// What was injected so far stays counted (see InjectedFaults).
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
	s.faults.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
	s.faults.resetPolicyWrites()
	return nil
}

// Faults returns the faults in force, with what is left of the counted ones.
func (s *Server) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.f
}

// InjectedFaults returns the faults injected so far (since ResetInjectedFaults), sorted by
// kind, service and method.
func (s *Server) InjectedFaults() []FaultCount {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]FaultCount, 0, len(s.faults.injected))
	for k, n := range s.faults.injected {
		out = append(out, FaultCount{Kind: k.kind, Service: k.service, Method: k.method, Count: n})
	}
	slices.SortFunc(out, func(a, b FaultCount) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Service, b.Service), strings.Compare(a.Method, b.Method))
	})
	return out
}

// ConcurrentWrites returns the full resource names of the IAM policies the concurrent
// writer changed (see Faults.EtagConflicts) since ResetInjectedFaults, sorted. Each of them
// holds ConcurrentWriterMember in ConcurrentWriterRole unless someone removed it since.
func (s *Server) ConcurrentWrites() []string {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]string, 0, len(s.faults.written))
	for name := range s.faults.written {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// ResetInjectedFaults forgets the faults injected, the concurrent writes and the policy
// writes so far (see PolicyWrites). A policy write in progress is forgotten with the
// conflicts it had left: the next call on its policy and fields begins another.
func (s *Server) ResetInjectedFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	clear(s.faults.injected)
	clear(s.faults.written)
	clear(s.faults.policies.open)
	s.faults.policies.writes = nil
}

// record counts one injected fault. The caller holds fi.mu.
func (fi *faultInjector) record(kind, service, method string) {
	if fi.injected == nil {
		fi.injected = map[faultKey]int{}
	}
	fi.injected[faultKey{kind, service, method}]++
}

// note counts one injected fault.
func (fi *faultInjector) note(kind, service, method string) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.record(kind, service, method)
}

// matches reports whether f applies to a call. Match runs without the lock held.
func (f *Faults) matches(service, method string) bool {
	return f.Match == nil || f.Match(service, method)
}

// inject applies latency and decides whether the call fails. It returns the error to
// answer, or a non-nil error when the client went away while the call was delayed. The
// delay is waited without any lock held: concurrent calls are delayed together, not in turn.
func (fi *faultInjector) inject(ctx context.Context, service, method string) (*apiError, error) {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.Latency == 0 && f.ErrorRate == 0 && f.FailCalls == 0 && f.SlowCalls == 0 || !f.matches(service, method) {
		return nil, nil
	}
	failing, delay := fi.draw()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			fi.note(FaultTimeout, service, method)
			return nil, ctx.Err()
		case <-t.C:
		}
		if !failing {
			fi.note(FaultSlow, service, method)
		}
	}
	if !failing {
		return nil, nil
	}
	fi.note(FaultError, service, method)
	status := f.ErrorStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	e := errFault(status)
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		e.header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	}
	return e, nil
}

// draw decides, for one matched call, whether it fails and how long it is delayed,
// counting down StartAfter, FailCalls and SlowCalls.
func (fi *faultInjector) draw() (failing bool, delay time.Duration) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := &fi.f
	delay = f.Latency
	if f.StartAfter > 0 && (f.FailCalls > 0 || f.SlowCalls > 0) {
		f.StartAfter--
		return fi.random(f.ErrorRate), delay
	}
	switch {
	case f.FailCalls > 0:
		f.FailCalls--
		failing = true
	default:
		failing = fi.random(f.ErrorRate)
	}
	if f.SlowCalls > 0 && (f.SlowRate == 0 || fi.random(f.SlowRate)) {
		f.SlowCalls--
		delay += f.SlowLatency
	}
	return failing, delay
}

// random draws true with probability p from the seeded generator. The caller holds fi.mu.
func (fi *faultInjector) random(p float64) bool {
	return p > 0 && fi.rng != nil && fi.rng.Float64() < p
}

// takeEtagConflict reports whether this setIamPolicy call, on the policy named resource, is
// to see a concurrent writer, counting the conflict down.
func (fi *faultInjector) takeEtagConflict(service, method, resource string) bool {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.EtagConflicts == 0 || !f.matches(service, method) {
		return false
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.EtagConflicts == 0 {
		return false
	}
	fi.f.EtagConflicts--
	fi.noteConcurrentWrite(service, method, resource)
	return true
}

// noteConcurrentWrite counts one etag conflict injected into a setIamPolicy call on the
// policy named resource, and the policy as one the concurrent writer changed. The caller
// holds fi.mu.
func (fi *faultInjector) noteConcurrentWrite(service, method, resource string) {
	fi.record(FaultEtagConflict, service, method)
	if fi.written == nil {
		fi.written = map[string]bool{}
	}
	fi.written[resource] = true
}

// defaultOperationError is the message Google gives an operation that failed inside.
const defaultOperationError = "Internal error. Please try again or contact Google Support. (Code: 'zerodrift-sandbox-injected')"

// takeOperationFailure reports whether the operation of this compute write or export is to
// fail, and with which message, counting the failure down.
func (fi *faultInjector) takeOperationFailure(service, method string) (string, bool) {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.FailOperations == 0 || !f.matches(service, method) {
		return "", false
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.FailOperations == 0 {
		return "", false
	}
	fi.f.FailOperations--
	fi.record(FaultOperation, service, method)
	if fi.f.OperationError != "" {
		return fi.f.OperationError, true
	}
	return defaultOperationError, true
}

// pendingPolls returns how many polls the operation of this compute write answers RUNNING
// (an export: how many more than the first).
func (fi *faultInjector) pendingPolls(service, method string) int {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.PendingOperationPolls == 0 || !f.matches(service, method) {
		return 0
	}
	return f.PendingOperationPolls
}
