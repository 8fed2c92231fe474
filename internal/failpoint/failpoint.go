// Package failpoint kills the process at named points of a live change and of a pull
// request update, as a crash would, so that tests can prove the next run recovers.
//
// Failpoints are for tests only. They are enabled by the environment variable
// ZERODRIFT_FAILPOINTS (comma-separated names), which main reads once at start and passes
// down as a *Set; a nil *Set is disabled and costs one nil check per point.
package failpoint

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
)

// EnvVar is the environment variable that enables failpoints.
const EnvVar = "ZERODRIFT_FAILPOINTS"

// Name is a failpoint's name.
type Name string

// The failpoints of a live change, in the order a change passes them.
const (
	// ChangeAfterLock: the resource's lock is taken; nothing is recorded yet.
	ChangeAfterLock Name = "change.after-lock"
	// ChangeAfterPlan: the change is recorded planned; the API has not been called.
	ChangeAfterPlan Name = "change.after-plan"
	// ChangeAfterApply: the API call returned; its outcome is not recorded.
	ChangeAfterApply Name = "change.after-apply"
	// ChangeAfterApplied: the change is recorded applied; it is not verified.
	ChangeAfterApplied Name = "change.after-applied"
	// ChangeAfterVerify: the verification is recorded; the lock is not released.
	ChangeAfterVerify Name = "change.after-verify"
)

// The failpoints of a new pull request, in the order it passes them.
const (
	// PRAfterCommit: blobs, tree and commit are written; no branch points at the commit.
	PRAfterCommit Name = "pr.after-commit"
	// PRAfterPush: the branch points at the commit; there is no pull request.
	PRAfterPush Name = "pr.after-push"
	// PRAfterCreate: the pull request is open; it has no labels or reviewers, and the
	// ledger does not record it.
	PRAfterCreate Name = "pr.after-create"
)

// The failpoints of an update of an open pull request (the fix regenerated on the current
// base), in the order it passes them.
const (
	// PRUpdateAfterCommit: the regenerated commit is written; the branch has not moved.
	PRUpdateAfterCommit Name = "pr.update.after-commit"
	// PRUpdateAfterPush: the branch moved to the new commit; the body is not updated.
	PRUpdateAfterPush Name = "pr.update.after-push"
)

// Names lists every failpoint, in the order a run passes them.
func Names() []Name {
	return []Name{ChangeAfterLock, ChangeAfterPlan, ChangeAfterApply, ChangeAfterApplied, ChangeAfterVerify,
		PRAfterCommit, PRAfterPush, PRAfterCreate, PRUpdateAfterCommit, PRUpdateAfterPush}
}

// Set is the failpoints enabled in this process. A nil *Set is disabled. A Set is read
// only after it is built, so it is safe for concurrent use.
type Set struct {
	enabled map[Name]bool
	log     *zap.Logger
	act     func(Name)
}

// Parse reads the value of ZERODRIFT_FAILPOINTS: names separated by commas (white space
// around them is ignored). An empty value enables none and returns nil. An unknown name is
// an error that lists the valid ones.
func Parse(value string) (*Set, error) {
	valid := Names()
	s := &Set{enabled: map[Name]bool{}, log: zap.NewNop(), act: kill}
	var unknown []string
	for _, raw := range strings.Split(value, ",") {
		n := Name(strings.TrimSpace(raw))
		switch {
		case n == "":
		case slices.Contains(valid, n):
			s.enabled[n] = true
		default:
			unknown = append(unknown, fmt.Sprintf("%q", string(n)))
		}
	}
	if len(unknown) > 0 {
		names := make([]string, len(valid))
		for i, n := range valid {
			names[i] = string(n)
		}
		return nil, fmt.Errorf("%s: unknown failpoint %s (valid: %s)", EnvVar, strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	if len(s.enabled) == 0 {
		return nil, nil
	}
	return s, nil
}

// FromEnv parses the failpoints that getenv's ZERODRIFT_FAILPOINTS enables.
func FromEnv(getenv func(string) string) (*Set, error) {
	return Parse(getenv(EnvVar))
}

// WithLogger returns the set, logging the line that names a failpoint when it is hit to
// log. Nil stays nil.
func (s *Set) WithLogger(log *zap.Logger) *Set {
	if s == nil || log == nil {
		return s
	}
	c := *s
	c.log = log
	return &c
}

// WithAction returns the set calling act where it would kill the process: for tests that
// stop a run at a failpoint inside their own process. Nil stays nil.
func (s *Set) WithAction(act func(Name)) *Set {
	if s == nil || act == nil {
		return s
	}
	c := *s
	c.act = act
	return &c
}

// Enabled reports whether the failpoint is enabled.
func (s *Set) Enabled(n Name) bool {
	return s != nil && s.enabled[n]
}

// Hit kills the process, as a crash would, when the failpoint is enabled: one log line names
// it, then SIGKILL, so no deferred function runs and nothing more is written anywhere.
func (s *Set) Hit(n Name) {
	if !s.Enabled(n) {
		return
	}
	s.log.Error("failpoint hit: killing the process", zap.String("failpoint", string(n)), zap.Int("pid", os.Getpid()))
	_ = s.log.Sync()
	s.act(n)
}

// kill sends SIGKILL to this process (TerminateProcess on Windows) and waits for it: the
// calling goroutine never returns.
func kill(n Name) {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		// Killing oneself cannot fail on a supported system; exit as abruptly as Go allows.
		fmt.Fprintf(os.Stderr, "zerodrift: failpoint %s: killing the process: %v\n", n, err)
		os.Exit(137)
	}
	for {
		time.Sleep(time.Hour)
	}
}
