package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The Server's GitHub helpers let tests and demos act on the emulated repository as people
// do (a human pushes, merges, closes) and read its state. They take the emulator's lock and
// make no HTTP request.

// GitHubPullRequest is a pull request of the emulated repository, with its comments and
// the diff of its files.
type GitHubPullRequest struct {
	Number        int
	Title         string
	Body          string
	State         string // "open" or "closed"
	Draft         bool
	Merged        bool
	User          string
	Head          string // branch name
	HeadSHA       string
	Base          string
	Labels        []string
	Reviewers     []string
	TeamReviewers []string
	Comments      []GitHubComment
	Files         []GitHubFileDiff
	CreatedAt     time.Time
	ClosedAt      time.Time // zero while open
	MergedAt      time.Time // zero unless merged
}

// GitHubComment is a comment on a pull request.
type GitHubComment struct {
	User string
	Body string
}

// GitHubFileDiff is one file a pull request changes.
type GitHubFileDiff struct {
	Path string
	// Status is "added", "modified" or "removed".
	Status string
	// SHA is the blob after the change (before it, for a removed file).
	SHA       string
	Additions int
	Deletions int
	// Patch is the unified diff of the file's hunks, without file header, as GitHub's
	// pulls/{n}/files answers it.
	Patch string
}

// GitHubCommit is a commit of the emulated repository.
type GitHubCommit struct {
	SHA         string
	Tree        string
	Parents     []string
	Message     string
	AuthorName  string
	AuthorEmail string
	// Verified is true for commits the API made without an explicit author (as GitHub
	// signs an App's commits).
	Verified bool
}

// GitHubRepository returns the emulated repository, "owner/name".
func (s *Server) GitHubRepository() string { return s.gh.fullName() }

// GitHubBaseBranch returns the emulated repository's default branch.
func (s *Server) GitHubBaseBranch() string { return s.gh.branch }

// CommitAsHuman commits a change to branch as a human (GitHubHumanLogin) would push it:
// files maps a path to its new content, nil deleting the path. It moves the base branch
// when branch is the default branch, or pushes onto a bot's branch. It returns the new
// commit's SHA.
func (s *Server) CommitAsHuman(branch string, files map[string][]byte, message string) (string, error) {
	if len(files) == 0 {
		return "", errors.New("github emulator: commit: no files")
	}
	if message == "" {
		message = "Change by a human"
	}
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	head, ok := g.refs["heads/"+branch]
	if !ok {
		return "", fmt.Errorf("github emulator: commit: no branch %q", branch)
	}
	flat := g.flatten(g.commits[head].tree)
	for p, b := range files {
		if !pathOK(p) {
			return "", fmt.Errorf("github emulator: commit: bad path %q", p)
		}
		if b == nil {
			delete(flat, p)
			removeUnder(flat, p)
			continue
		}
		removeUnder(flat, p)
		mode := modeFile
		if old, ok := flat[p]; ok && old.typ == "blob" {
			mode = old.mode
		}
		flat[p] = ghEntry{mode: mode, typ: "blob", sha: g.putBlob(b)}
	}
	when := g.now().UTC().Truncate(time.Second)
	who := ghPerson{Name: githubHumanName, Email: githubHumanEmail, Date: when}
	sha := g.putCommit(g.writeFlat(flat), []string{head}, message, who, who, false)
	g.setRef("heads/"+branch, sha)
	return sha, nil
}

// CreatePullRequest opens a pull request from branch head onto base as GitHubBotLogin,
// bypassing the HTTP API (another replica of the bot, for races). It returns its number.
func (s *Server) CreatePullRequest(head, base, title, body string) (int, error) {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	if base == "" {
		base = g.branch
	}
	p, e := g.openPull(GitHubBotLogin, title, head, base, body, false)
	if e != nil {
		return 0, fmt.Errorf("github emulator: open pull request: %w", e)
	}
	return p.number, nil
}

// MergePullRequest merges an open pull request as a human, with a merge commit on its base
// branch, and returns the merge commit's SHA. A path both sides changed is a conflict.
func (s *Server) MergePullRequest(number int) (string, error) {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	if number <= 0 || number > len(g.pulls) {
		return "", fmt.Errorf("github emulator: merge: no pull request #%d", number)
	}
	sha, e := g.merge(g.pulls[number-1], GitHubHumanLogin, "")
	if e != nil {
		return "", fmt.Errorf("github emulator: merge #%d: %w", number, e)
	}
	return sha, nil
}

// ClosePullRequest closes a pull request without merging it, as a human declining it.
func (s *Server) ClosePullRequest(number int) error {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	if number <= 0 || number > len(g.pulls) {
		return fmt.Errorf("github emulator: close: no pull request #%d", number)
	}
	closed := "closed"
	p := g.pulls[number-1]
	if err := g.changeState(p, &closed); err != nil {
		return fmt.Errorf("github emulator: close #%d: %w", number, err)
	}
	p.updatedAt = p.closedAt
	return nil
}

// CommentAsHuman comments on a pull request as a human.
func (s *Server) CommentAsHuman(number int, body string) error {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	if number <= 0 || number > len(g.pulls) {
		return fmt.Errorf("github emulator: comment: no pull request #%d", number)
	}
	g.addComment(g.pulls[number-1], GitHubHumanLogin, body)
	return nil
}

// PullRequests returns every pull request, by number, with its comments and file diffs.
func (s *Server) PullRequests() []GitHubPullRequest {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]GitHubPullRequest, 0, len(g.pulls))
	for _, p := range g.pulls {
		pr := GitHubPullRequest{
			Number: p.number, Title: p.title, Body: p.body, State: p.state, Draft: p.draft, Merged: p.merged,
			User: p.user, Head: p.headRef, HeadSHA: p.headSHA, Base: p.baseRef,
			Labels:        append([]string(nil), p.labels...),
			Reviewers:     append([]string(nil), p.reviewers...),
			TeamReviewers: append([]string(nil), p.teams...),
			Files:         g.pullFiles(p),
			CreatedAt:     p.createdAt, ClosedAt: p.closedAt, MergedAt: p.mergedAt,
		}
		for _, c := range g.comments[p.number] {
			pr.Comments = append(pr.Comments, GitHubComment{User: c.user, Body: c.body})
		}
		out = append(out, pr)
	}
	return out
}

// GitHubBranches returns the branches of the emulated repository and their head commits.
func (s *Server) GitHubBranches() map[string]string {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]string{}
	for name, sha := range g.refs {
		if b, ok := strings.CutPrefix(name, "heads/"); ok {
			out[b] = sha
		}
	}
	return out
}

// GitHubCommitOf returns a commit by SHA or the head commit of a branch.
func (s *Server) GitHubCommitOf(ref string) (GitHubCommit, error) {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.resolveCommit(ref)
	if c == nil {
		return GitHubCommit{}, fmt.Errorf("github emulator: no commit or branch %q", ref)
	}
	return GitHubCommit{SHA: c.sha, Tree: c.tree, Parents: append([]string(nil), c.parents...), Message: c.message,
		AuthorName: c.author.Name, AuthorEmail: c.author.Email, Verified: c.verified}, nil
}

// GitHubFile returns the content of a file at a commit SHA or a branch's head.
func (s *Server) GitHubFile(ref, path string) ([]byte, error) {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.resolveCommit(ref)
	if c == nil {
		return nil, fmt.Errorf("github emulator: no commit or branch %q", ref)
	}
	e, ok := g.flatten(c.tree)[path]
	if !ok || e.typ != "blob" {
		return nil, fmt.Errorf("github emulator: no file %q at %s", path, ref)
	}
	return bytes.Clone(g.blobs[e.sha]), nil
}

// GitHubRequests returns the requests the emulator received, oldest first (the last
// 10,000).
func (s *Server) GitHubRequests() []GitHubRequest {
	g := s.gh
	g.reqMu.Lock()
	defer g.reqMu.Unlock()
	return append([]GitHubRequest(nil), g.requests...)
}

// ResetGitHubRequests forgets the requests recorded so far.
func (s *Server) ResetGitHubRequests() {
	g := s.gh
	g.reqMu.Lock()
	defer g.reqMu.Unlock()
	g.requests = nil
}

// InjectGitHubFault makes the next f.Times requests matching f fail; faults are consumed
// in the order injected. The generic Faults apply to GitHub too, with service
// ServiceGitHub.
func (s *Server) InjectGitHubFault(f GitHubFault) error {
	f, err := f.normalize()
	if err != nil {
		return err
	}
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults = append(g.faults, f)
	return nil
}

// PendingGitHubFaults returns how many injected failures are still to come.
func (s *Server) PendingGitHubFaults() int {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, f := range g.faults {
		n += f.Times
	}
	return n
}

// RedirectGitHub answers requests for path (e.g. "/api/v3/repos/acme/infra") with a 307
// redirect to target, an absolute URL; see GitHubRedirect. An empty target removes the
// redirect. Tests use it to prove that a client does not forward credentials to another
// host: 127.0.0.1 and localhost are two hosts on one listener, and a CredentialTrap is
// another listener.
func (s *Server) RedirectGitHub(path, target string) error {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	if target == "" {
		delete(g.redirects, path)
		return nil
	}
	return g.setRedirect(GitHubRedirect{Path: path, Target: target})
}

// SetGitHubRedirect installs a redirect, replacing any of the same path.
func (s *Server) SetGitHubRedirect(rd GitHubRedirect) error {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.setRedirect(rd)
}

// SetGitHubHook sets a function called with the method name (e.g. "pulls.create") of every
// routed GitHub request before it is served, outside the emulator's lock, so that it may
// call the Server's helpers (to simulate a concurrent writer). Nil removes it.
func (s *Server) SetGitHubHook(hook func(route string)) {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hook = hook
}

// GitHubWrites counts the recorded requests that may change state (any method but GET and
// HEAD), whatever they were answered.
func (s *Server) GitHubWrites() int {
	n := 0
	for _, r := range s.GitHubRequests() {
		if r.Write() {
			n++
		}
	}
	return n
}

// GitHubLabels returns the names of the repository's labels, sorted.
func (s *Server) GitHubLabels() []string {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.labels))
	for _, l := range g.labels {
		out = append(out, l.name)
	}
	sort.Strings(out)
	return out
}
