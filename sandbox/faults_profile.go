package sandbox

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Profile is a named, seeded mix of faults: the Faults in force, the GitHub failures queued
// and the truncation of GitHub's recursive tree listings. FaultProfile builds the named
// ones; the zero Profile injects nothing.
type Profile struct {
	// Name and Seed are what FaultProfile was asked for.
	Name string
	Seed int64
	// Faults are the faults of every API (GitHub's included; see Faults.Match).
	Faults Faults
	// GitHub are GitHub failures, injected in order as InjectGitHubFault does.
	GitHub []GitHubFault
	// TreeLimit, when positive, truncates recursive tree listings to that many entries, as
	// GitHubOptions.TreeLimit does.
	TreeLimit int
	// Summary says what the profile injects, for logs and failure messages.
	Summary string
}

// Durations of the named profiles' faults.
const (
	// ProfileSlowLatency is how much longer the calls the "timeouts" profile slows take:
	// past the attempt timeouts a test gives its clients (shorter than this), while a client
	// with production timeouts (a minute) only sees a slow call.
	ProfileSlowLatency = time.Second
	// ProfileRetryAfter is the Retry-After of the named profiles' rate limits (Google's 429,
	// GitHub's secondary rate limits).
	ProfileRetryAfter = time.Second
)

// ProfileConflictRetries is the etag conflicts after which a client of the etag-conflicts
// profile is expected to give up a policy write: 5, the retries zerodrift makes by default
// (remediators.DefaultConflictRetries). The profile draws most writes' conflicts within
// them and some past them.
const ProfileConflictRetries = 5

// profileBuilder adds one kind of fault to a profile, drawing its parameters from r, and
// returns what it added, in words.
type profileBuilder func(r *rand.Rand, p *Profile) string

// namedProfile is a profile's name and builder.
type namedProfile struct {
	name  string
	build profileBuilder
}

// profileBuilders lists the named profiles in the order FaultProfiles gives them.
func profileBuilders() []namedProfile {
	return []namedProfile{
		{"5xx-burst", burst5xx},
		{"rate-limited", rateLimited},
		{"timeouts", timeouts},
		{"etag-conflicts", etagConflicts},
		{"failing-operations", failingOperations},
		{"github-secondary-rate-limit", githubSecondaryRateLimit},
		{"github-duplicate-pr", githubDuplicatePR},
		{"github-truncated-tree", githubTruncatedTree},
		{chaosProfile, chaos},
	}
}

// FaultProfiles returns the names FaultProfile knows.
func FaultProfiles() []string {
	var names []string
	for _, b := range profileBuilders() {
		names = append(names, b.name)
	}
	return names
}

// FaultProfile returns the named profile, its parameters (which calls, how many, which
// status) drawn from seed: the same name and seed give the same profile. The profiles are
//
//   - 5xx-burst: a burst of 2 to 12 calls answered 500, 502, 503 or 504, starting after up to
//     200 calls, on every API or on one (compute, Resource Manager, IAM, GitHub, Storage);
//   - rate-limited: 1 to 4 calls answered 429 with Retry-After ProfileRetryAfter, starting
//     after up to 200 calls, on every Google API or on one;
//   - timeouts: 1 to 4 calls, spread over the run, delayed by ProfileSlowLatency;
//   - etag-conflicts: every IAM policy write (PolicyWrite: the organization's, a folder's,
//     a project's, bindings and audit configs apart) meets a concurrent writer who grants
//     ConcurrentWriterRole to ConcurrentWriterMember, so that the write's etag is stale
//     (409): 1 to ProfileConflictRetries times, within the retries of a client that makes
//     ProfileConflictRetries, and for one write in 5 to 10 (drawn from the seed) more, up to
//     ProfileConflictRetries+3, past them. Each write's conflicts are drawn from the seed,
//     its policy, fields and ordinal, not from the order of the writes;
//   - failing-operations: 1 to 3 compute writes whose operation ends in an error, and
//     operations polled twice before they are done, or not;
//   - github-secondary-rate-limit: one or two GitHub routes answered 403 (a secondary rate
//     limit) or 429 with Retry-After ProfileRetryAfter, once or twice;
//   - github-duplicate-pr: a pull request (or a branch) created whose answer is lost (502
//     or 504 after the change was made), so that the client's retry meets GitHub's 422 "A
//     pull request already exists" (or "Reference already exists");
//   - github-truncated-tree: recursive tree listings truncated after 1 to 12 entries;
//   - chaos: at least two of the above at once.
//
// An unknown name is an error that lists the known ones.
func FaultProfile(name string, seed int64) (Profile, error) {
	for _, b := range profileBuilders() {
		if b.name != name {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
		p := Profile{Name: name, Seed: seed, Faults: Faults{Seed: seed}}
		p.Summary = b.build(r, &p)
		return p, nil
	}
	return Profile{}, fmt.Errorf("unknown fault profile %q: known profiles are %s", name, strings.Join(FaultProfiles(), ", "))
}

// WithFaultProfile starts the server with a profile's faults, in place of WithFaults'.
func WithFaultProfile(p Profile) Option {
	return func(s *settings) { s.profile = &p }
}

// SetFaultProfile replaces, from the next call on, the faults in force, the GitHub failures
// still to come and the profile's tree truncation with p's. The zero Profile removes them
// all (a truncation set by GitHubOptions stays).
func (s *Server) SetFaultProfile(p Profile) error {
	if p.TreeLimit < 0 {
		return fmt.Errorf("fault profile %s: tree limit %d is negative", p.Name, p.TreeLimit)
	}
	gh := make([]GitHubFault, 0, len(p.GitHub))
	for _, f := range p.GitHub {
		f, err := f.normalize()
		if err != nil {
			return fmt.Errorf("fault profile %s: %w", p.Name, err)
		}
		gh = append(gh, f)
	}
	if err := s.SetFaults(p.Faults); err != nil {
		return fmt.Errorf("fault profile %s: %w", p.Name, err)
	}
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults, g.faultTreeLimit = gh, p.TreeLimit
	return nil
}

// pick returns one of items, drawn from r.
func pick[T any](r *rand.Rand, items ...T) T { return items[r.IntN(len(items))] }

// between draws an int in [lo, hi].
func between(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// chaosProfile is the name of the profile that mixes the others.
const chaosProfile = "chaos"

// aim limits the faults to one of services, drawn from r ("" is every service), and names
// the target. Chaos aims at every API: its faults share one Faults.Match.
func aim(r *rand.Rand, p *Profile, services ...string) string {
	service := pick(r, services...)
	if service == "" || p.Name == chaosProfile {
		p.Faults.Match = nil
		return "any API"
	}
	p.Faults.Match = func(s, _ string) bool { return s == service }
	return service
}

func burst5xx(r *rand.Rand, p *Profile) string {
	f := &p.Faults
	f.ErrorStatus = pick(r, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout)
	f.FailCalls, f.StartAfter = between(r, 2, 12), r.IntN(200)
	target := aim(r, p, "", ServiceCompute, ServiceResourceManager, ServiceIAM, ServiceGitHub, ServiceStorage)
	return fmt.Sprintf("%d calls to %s answered %d after the first %d", f.FailCalls, target, f.ErrorStatus, f.StartAfter)
}

func rateLimited(r *rand.Rand, p *Profile) string {
	f := &p.Faults
	f.ErrorStatus, f.RetryAfter = http.StatusTooManyRequests, ProfileRetryAfter
	f.FailCalls, f.StartAfter = between(r, 1, 4), r.IntN(200)
	target := aim(r, p, "", ServiceCompute, ServiceResourceManager, ServiceIAM)
	if target == "any API" && p.Name != chaosProfile {
		p.Faults.Match = func(s, _ string) bool { return s != ServiceGitHub }
		target = "any Google API"
	}
	return fmt.Sprintf("%d calls to %s answered 429 (Retry-After %v) after the first %d", f.FailCalls, target, f.RetryAfter, f.StartAfter)
}

func timeouts(r *rand.Rand, p *Profile) string {
	f := &p.Faults
	f.SlowCalls, f.SlowLatency = between(r, 1, 4), ProfileSlowLatency
	f.SlowRate = pick(r, 0.1, 0.2, 0.3)
	target := aim(r, p, "", ServiceCompute, ServiceResourceManager, ServiceIAM, ServiceGitHub)
	return fmt.Sprintf("%d calls to %s (each with chance %v) delayed by %v", f.SlowCalls, target, f.SlowRate, f.SlowLatency)
}

// etagConflicts puts the concurrent writer in front of every IAM policy write, through
// Faults.PolicyConflicts: the seed draws how rarely a write goes past the retries and the
// salt of each write's own draw (policyConflicts).
func etagConflicts(r *rand.Rand, p *Profile) string {
	past := between(r, 5, 10)
	salt := r.Uint64()
	p.Faults.PolicyConflicts = func(w PolicyWrite) int { return policyConflicts(salt, past, w) }
	return fmt.Sprintf("every IAM policy write meets a concurrent writer 1 to %d times, one write in %d %d to %d times (past the retries)",
		ProfileConflictRetries, past, ProfileConflictRetries+1, ProfileConflictRetries+3)
}

// policyConflicts draws the etag conflicts one policy write meets, from salt and the write
// alone: past the retries (ProfileConflictRetries) with chance 1/past, within them
// otherwise.
func policyConflicts(salt uint64, past int, w PolicyWrite) int {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", w.Policy, w.Fields, w.Ordinal)
	r := rand.New(rand.NewPCG(salt, h.Sum64()))
	if r.IntN(past) == 0 {
		return between(r, ProfileConflictRetries+1, ProfileConflictRetries+3)
	}
	return between(r, 1, ProfileConflictRetries)
}

func failingOperations(r *rand.Rand, p *Profile) string {
	f := &p.Faults
	f.FailOperations, f.PendingOperationPolls = between(r, 1, 3), 2*r.IntN(2)
	return fmt.Sprintf("%d compute operations fail; operations are polled %d times before done", f.FailOperations, f.PendingOperationPolls)
}

func githubSecondaryRateLimit(r *rand.Rand, p *Profile) string {
	var said []string
	for range between(r, 1, 2) {
		f := GitHubFault{
			Route:      pick(r, "", "write", "pulls.create", "pulls.list", "git.createTree", "git.getTree", "git.getRef", "issues.addLabels"),
			Status:     pick(r, http.StatusForbidden, http.StatusForbidden, http.StatusForbidden, http.StatusTooManyRequests),
			RetryAfter: ProfileRetryAfter, Times: between(r, 1, 2), Skip: r.IntN(12),
		}
		p.GitHub = append(p.GitHub, f)
		said = append(said, fmt.Sprintf("%d GitHub %s requests answered %d (Retry-After %v) after %d", f.Times, routeName(f.Route), f.Status, f.RetryAfter, f.Skip))
	}
	return strings.Join(said, "; ")
}

func githubDuplicatePR(r *rand.Rand, p *Profile) string {
	var said []string
	for range between(r, 1, 2) {
		f := GitHubFault{
			Route:  pick(r, "pulls.create", "pulls.create", "pulls.create", "git.createRef"),
			Status: pick(r, http.StatusBadGateway, http.StatusGatewayTimeout), Times: 1, Skip: r.IntN(4), AfterServing: true,
		}
		p.GitHub = append(p.GitHub, f)
		said = append(said, fmt.Sprintf("the answer of a GitHub %s lost (%d) after %d", f.Route, f.Status, f.Skip))
	}
	return strings.Join(said, "; ")
}

func githubTruncatedTree(r *rand.Rand, p *Profile) string {
	p.TreeLimit = between(r, 1, 12)
	return fmt.Sprintf("recursive GitHub tree listings truncated after %d entries", p.TreeLimit)
}

// chaos mixes at least two of the other profiles (one of 5xx-burst and rate-limited at
// most, as both set Faults.FailCalls) on every API.
func chaos(r *rand.Rand, p *Profile) string {
	parts := []profileBuilder{pick(r, burst5xx, rateLimited), timeouts, etagConflicts, failingOperations,
		githubSecondaryRateLimit, githubDuplicatePR, githubTruncatedTree}
	var chosen []profileBuilder
	for len(chosen) < 2 {
		chosen = chosen[:0]
		for _, b := range parts {
			if r.IntN(2) == 0 {
				chosen = append(chosen, b)
			}
		}
	}
	said := make([]string, 0, len(chosen))
	for _, b := range chosen {
		said = append(said, b(r, p))
	}
	return strings.Join(said, "; ")
}

func routeName(route string) string {
	switch route {
	case "":
		return "API"
	case "write":
		return "write"
	}
	return route
}

// normalize checks a GitHub fault and fills its defaults (Times 1).
func (f GitHubFault) normalize() (GitHubFault, error) {
	if f.Status < 400 || f.Status > 599 {
		return f, fmt.Errorf("github fault: status %d is not an HTTP error status", f.Status)
	}
	if f.RetryAfter < 0 || f.Times < 0 || f.Skip < 0 {
		return f, errors.New("github fault: negative retry-after, times or skip")
	}
	if f.Times == 0 {
		f.Times = 1
	}
	return f, nil
}
