package sandbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
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
	// EtagConflicts is the number of upcoming matched setIamPolicy calls that first see a
	// concurrent writer grant ConcurrentWriterRole to ConcurrentWriterMember, so that a call
	// carrying the etag it read fails with 409 ABORTED. It counts down as conflicts happen.
	EtagConflicts int
	// FailOperations is the number of upcoming matched compute writes (insert, patch, update,
	// delete) and Cloud Asset Inventory exports (exportAssets) whose long-running operation
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
	// method as in CallCount. It must not call the Server. GitHub calls get ErrorStatus,
	// RetryAfter and Latency in GitHub's error shape (403 is a secondary rate limit); see
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
	case f.EtagConflicts < 0:
		return fmt.Errorf("faults: etag conflicts %d is negative", f.EtagConflicts)
	case f.FailOperations < 0:
		return fmt.Errorf("faults: failed operations %d is negative", f.FailOperations)
	case f.PendingOperationPolls < 0:
		return fmt.Errorf("faults: pending operation polls %d is negative", f.PendingOperationPolls)
	}
	return nil
}

// faultInjector holds the faults in force and the generator drawing them.
type faultInjector struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

// SetFaults replaces the faults in force, from the next call on, and reseeds the generator.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
	s.faults.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
	return nil
}

// Faults returns the faults in force, with the etag conflicts still to come.
func (s *Server) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.f
}

// inject applies latency and decides whether the call fails. It returns the error to
// answer, or a non-nil error when the client went away while the call was delayed. The
// delay is waited without any lock held: concurrent calls are delayed together, not in turn.
func (fi *faultInjector) inject(ctx context.Context, service, method string) (*apiError, error) {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.Latency == 0 && f.ErrorRate == 0 && f.FailCalls == 0 || f.Match != nil && !f.Match(service, method) {
		return nil, nil
	}
	failing := false
	if f.FailCalls > 0 || f.ErrorRate > 0 {
		fi.mu.Lock()
		switch {
		case fi.f.FailCalls > 0:
			fi.f.FailCalls--
			failing = true
		case fi.rng != nil && f.ErrorRate > 0:
			failing = fi.rng.Float64() < f.ErrorRate
		}
		fi.mu.Unlock()
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if !failing {
		return nil, nil
	}
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

// takeEtagConflict reports whether this setIamPolicy call is to see a concurrent writer,
// counting the conflict down.
func (fi *faultInjector) takeEtagConflict(service, method string) bool {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.EtagConflicts == 0 || f.Match != nil && !f.Match(service, method) {
		return false
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.EtagConflicts == 0 {
		return false
	}
	fi.f.EtagConflicts--
	return true
}

// defaultOperationError is the message Google gives an operation that failed inside.
const defaultOperationError = "Internal error. Please try again or contact Google Support. (Code: 'zerodrift-sandbox-injected')"

// takeOperationFailure reports whether the operation of this compute write or export is to
// fail, and with which message, counting the failure down.
func (fi *faultInjector) takeOperationFailure(service, method string) (string, bool) {
	fi.mu.Lock()
	f := fi.f
	fi.mu.Unlock()
	if f.FailOperations == 0 || f.Match != nil && !f.Match(service, method) {
		return "", false
	}
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.f.FailOperations == 0 {
		return "", false
	}
	fi.f.FailOperations--
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
	if f.PendingOperationPolls == 0 || f.Match != nil && !f.Match(service, method) {
		return 0
	}
	return f.PendingOperationPolls
}
