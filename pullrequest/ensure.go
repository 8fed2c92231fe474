package pullrequest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/internal/failpoint"
)

// Action is what Ensure or CloseObsolete did about a finding.
type Action string

// Actions.
const (
	// ActionOpened: a branch and a pull request were created.
	ActionOpened Action = "opened"
	// ActionUpdated: the fix was regenerated on the current base (the base branch moved or
	// the patch changed), the branch force-moved and the body updated.
	ActionUpdated Action = "updated"
	// ActionUnchanged: nothing to do; no write was made (but for the labels and reviewers
	// that a resumed proposal finds missing: see Proposal.Resume).
	ActionUnchanged Action = "unchanged"
	// ActionCommented: the fix needed regenerating but people pushed to the branch, so
	// zerodrift commented instead of overwriting their work.
	ActionCommented Action = "commented"
	// ActionDeclined: the pull request was closed without merging, within the cool-off.
	ActionDeclined Action = "declined"
	// ActionMerged: the pull request was merged (within the cool-off).
	ActionMerged Action = "merged"
	// ActionSkippedLimit: a new pull request was needed past Config.MaxPRsPerRun.
	ActionSkippedLimit Action = "skipped-limit"
	// ActionClosed: CloseObsolete closed the pull request.
	ActionClosed Action = "closed"
	// ActionConflict: the branch or its pull request is not zerodrift's for this finding
	// (no marker, another finding, a branch with people's commits); nothing was written.
	ActionConflict Action = "conflict"
	// ActionStale: the proposal was computed on a base commit older than the base branch,
	// and the base changed one of its files since; nothing was written. Read the tree again
	// and recompute the patch.
	ActionStale Action = "stale"
)

// Proposal is the fix of one finding in the repository.
type Proposal struct {
	// FindingID is the finding's stable ID: 1 to 128 of [A-Za-z0-9._:-].
	FindingID string
	// Rule is the rule's ID; it names the branch.
	Rule string
	// Resource is the resource's full name (for logs).
	Resource string
	// Project is the finding's project ("" for folders and organizations); the marker
	// records it for CloseObsolete's callers.
	Project string
	// Title is the pull request's title; SanitizeTitle is applied.
	Title string
	// Body is the pull request's body, Markdown made safe by RenderBody. Ensure replaces
	// its hidden marker with one for FindingID and PatchHash.
	Body string
	// Files maps a repository path to its new content; a nil content deletes the file.
	// Files are written with mode 100644.
	Files map[string][]byte
	// PatchHash identifies the patch; empty means a hash of Files.
	PatchHash string
	// BaseSHA is the base commit Files were computed from (ReadTree's answer). When set and
	// the base branch has moved since, Ensure checks that none of Files changed on the
	// base in between, else it answers ActionStale instead of overwriting them.
	BaseSHA string
	// Resume says that a run died while it was proposing this fix: it may have opened the
	// pull request and died before labelling it and requesting its reviewers, which Ensure
	// then does (only what is missing) on the open pull request it finds.
	Resume bool
}

// Outcome is what happened to one finding's pull request.
type Outcome struct {
	Action    Action
	FindingID string
	Branch    string
	// Number and URL identify the pull request, when there is one.
	Number int
	URL    string
	// HeadSHA is the branch's head commit after the action.
	HeadSHA string
	// Reason explains unchanged, conflict, stale and closed outcomes.
	Reason string
	// Warnings list what failed without failing the outcome (a label, a reviewer, a branch
	// kept).
	Warnings []string
}

// trailers in zerodrift's commit messages.
const (
	trailerFinding = "Zerodrift-Finding: "
	trailerPatch   = "Zerodrift-Patch: "
	// maxOwnCommitWalk bounds the walk down a branch for zerodrift's last commit.
	maxOwnCommitWalk = 10
	// maxListPages bounds the pages read from a list.
	maxListPages = 20
	// labelAttempts bounds the attempts to label a new pull request.
	labelAttempts = 4
)

// ensureState is one Ensure call's proposal and derived names.
type ensureState struct {
	p      Proposal
	branch string
	hash   string
	paths  []string
}

// Ensure makes the repository hold exactly one open pull request with the proposal, or
// says why not. It is idempotent: a second call with the same proposal over the same
// repository state makes no write.
//
// Without a pull request it commits the files on the base branch's head (tree, commit,
// branch) and opens one, with labels, reviewers and draft as configured. With an open
// pull request whose marker holds the same patch hash and whose commit sits on the current
// base, it does nothing. When the base moved or the patch changed, it regenerates the
// commit on the current base and force-moves the branch — unless people pushed to the
// branch, in which case it comments once instead. A pull request closed without merging
// is "declined" (and a merged one "merged") until Config.CoolOff has passed since, after
// which the fix is proposed anew.
func (c *Client) Ensure(ctx context.Context, p Proposal) (Outcome, error) {
	st, err := newEnsureState(p)
	if err != nil {
		return Outcome{FindingID: p.FindingID}, fmt.Errorf("pullrequest: %w", err)
	}
	out, err := c.ensure(ctx, st, false)
	out.FindingID, out.Branch = p.FindingID, st.branch
	if err != nil {
		return out, c.scrub(fmt.Errorf("pullrequest: finding %s: %w", p.FindingID, err))
	}
	c.log.Info("pull request ensured", zap.String("action", string(out.Action)), zap.String("finding", p.FindingID),
		zap.String("branch", st.branch), zap.Int("number", out.Number), zap.String("reason", out.Reason),
		zap.Strings("warnings", out.Warnings))
	return out, nil
}

func newEnsureState(p Proposal) (*ensureState, error) {
	if !idOK(p.FindingID) {
		return nil, fmt.Errorf("finding ID %q must be 1 to 128 of [A-Za-z0-9._:-]", p.FindingID)
	}
	if strings.TrimSpace(p.Rule) == "" {
		return nil, errors.New("proposal has no rule")
	}
	if len(p.Files) == 0 {
		return nil, errors.New("proposal changes no file")
	}
	if p.PatchHash != "" && !idOK(p.PatchHash) {
		return nil, fmt.Errorf("patch hash %q must be 1 to 128 of [A-Za-z0-9._:-]", p.PatchHash)
	}
	if p.BaseSHA != "" && !shaOK(p.BaseSHA) {
		return nil, fmt.Errorf("base SHA %q is not a commit ID", p.BaseSHA)
	}
	st := &ensureState{p: p, branch: BranchName(p.Rule, p.FindingID)}
	for f := range p.Files {
		if !repoPathOK(f) {
			return nil, fmt.Errorf("file path %q is not a clean relative path", f)
		}
		st.paths = append(st.paths, f)
	}
	sort.Strings(st.paths)
	st.hash = p.PatchHash
	if st.hash == "" {
		st.hash = hashFiles(p.Files, st.paths)
	}
	return st, nil
}

func idOK(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r)) {
			return false
		}
	}
	return true
}

func shaOK(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// repoPathOK checks a repository path: relative, clean, no "..", no ".git".
func repoPathOK(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, "\\\x00") {
		return false
	}
	for _, s := range strings.Split(p, "/") {
		if s == ".." || s == "." || strings.EqualFold(s, ".git") {
			return false
		}
	}
	return true
}

// hashFiles is a patch hash of the files: 16 hex digits of SHA-256 over paths and
// contents.
func hashFiles(files map[string][]byte, paths []string) string {
	h := sha256.New()
	for _, p := range paths {
		b := files[p]
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		if b == nil {
			h.Write([]byte{1})
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (c *Client) ensure(ctx context.Context, st *ensureState, retried bool) (Outcome, error) {
	pr, err := c.findPR(ctx, st.branch)
	if err != nil {
		return Outcome{}, err
	}
	if pr == nil {
		return c.openNew(ctx, st, retried)
	}
	out := Outcome{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), HeadSHA: pr.GetHead().GetSHA()}
	m, ok := ParseMarker(pr.GetBody())
	if !ok || m.Finding != st.p.FindingID {
		out.Action = ActionConflict
		out.Reason = fmt.Sprintf("pull request #%d on branch %s carries no zerodrift marker for this finding", pr.GetNumber(), st.branch)
		return out, nil
	}

	switch {
	case pr.MergedAt != nil || pr.GetMerged():
		if c.coolOffOver(pr.GetMergedAt().Time) {
			return c.openNew(ctx, st, retried)
		}
		out.Action = ActionMerged
		return out, nil
	case pr.GetState() != "open":
		if c.coolOffOver(pr.GetClosedAt().Time) {
			return c.openNew(ctx, st, retried)
		}
		out.Action = ActionDeclined
		return out, nil
	}
	out, err = c.refresh(ctx, st, pr, m, retried)
	if err != nil || !st.p.Resume || out.Action == ActionConflict {
		return out, err
	}
	return c.finishDecoration(ctx, pr, out), nil
}

func (c *Client) coolOffOver(at time.Time) bool {
	return c.cfg.CoolOff > 0 && !at.IsZero() && c.now().Sub(at) >= c.cfg.CoolOff
}

// findPR returns the pull request of a branch: the open one, else the newest.
func (c *Client) findPR(ctx context.Context, branch string) (*github.PullRequest, error) {
	opts := &github.PullRequestListOptions{
		State: "all", Head: c.owner + ":" + branch, Sort: "created", Direction: "desc",
		ListOptions: github.ListOptions{PerPage: 50},
	}
	var prs []*github.PullRequest
	err := c.call(ctx, "list pull requests", false, func(ctx context.Context) (*github.Response, error) {
		var resp *github.Response
		var err error
		prs, resp, err = c.gh.PullRequests.List(ctx, c.owner, c.repo, opts)
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	var newest *github.PullRequest
	for _, pr := range prs {
		// Defensive: were the head filter ignored, only this branch of this repository counts.
		if pr.GetHead().GetRef() != branch || !c.sameRepo(pr.GetHead().GetRepo()) {
			continue
		}
		if pr.GetState() == "open" {
			return pr, nil
		}
		if newest == nil || pr.GetNumber() > newest.GetNumber() {
			newest = pr
		}
	}
	return newest, nil
}

func (c *Client) sameRepo(r *github.Repository) bool {
	return r == nil || r.GetFullName() == "" || strings.EqualFold(r.GetFullName(), c.owner+"/"+c.repo)
}

// reserve takes one of the run's new pull requests; false when the run has none left.
func (c *Client) reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.MaxPRsPerRun > 0 && c.opened >= c.cfg.MaxPRsPerRun {
		return false
	}
	c.opened++
	return true
}

func (c *Client) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opened--
}

// openNew commits the fix on a fresh (or zerodrift's own, left over) branch and opens the
// pull request.
func (c *Client) openNew(ctx context.Context, st *ensureState, retried bool) (out Outcome, err error) {
	if !c.reserve() {
		return Outcome{Action: ActionSkippedLimit, Reason: fmt.Sprintf("this run already opened %d pull requests", c.cfg.MaxPRsPerRun)}, nil
	}
	opened := false
	defer func() {
		if !opened {
			c.release()
		}
	}()
	base, err := c.baseState(ctx, st)
	if err != nil || base.outcome != nil {
		return derefOutcome(base.outcome), err
	}
	// A branch left over (a pull request closed past its cool-off, a crash before the pull
	// request) is reused only when it holds zerodrift's commits alone.
	existing, err := c.branchHeadIfAny(ctx, st.branch)
	if err != nil {
		return Outcome{}, err
	}
	if existing != "" {
		if conflict, err := c.foreignBranch(ctx, existing, st); err != nil || conflict != nil {
			return derefOutcome(conflict), err
		}
	}
	sha, err := c.writeCommit(ctx, base.head, base.tree, st)
	if err != nil {
		return Outcome{}, err
	}
	c.cfg.Failpoints.Hit(failpoint.PRAfterCommit)
	if existing == "" {
		err = c.createRef(ctx, st.branch, sha)
		if statusOf(err) == http.StatusUnprocessableEntity && errorMentions(err, "already exists") && !retried {
			// Another writer created the branch meanwhile: look again.
			return c.ensure(ctx, st, true)
		}
	} else {
		err = c.updateRef(ctx, st.branch, sha)
	}
	if err != nil {
		return Outcome{}, err
	}
	c.cfg.Failpoints.Hit(failpoint.PRAfterPush)
	pr, err := c.createPR(ctx, st)
	if err != nil {
		if statusOf(err) == http.StatusUnprocessableEntity && errorMentions(err, "A pull request already exists") && !retried {
			// Another writer opened it meanwhile: read it again.
			c.log.Info("pull request already exists; reading it again", zap.String("branch", st.branch))
			return c.ensure(ctx, st, true)
		}
		return Outcome{}, err
	}
	opened = true
	c.cfg.Failpoints.Hit(failpoint.PRAfterCreate)
	out = Outcome{Action: ActionOpened, Number: pr.GetNumber(), URL: pr.GetHTMLURL(), HeadSHA: sha}
	out.Warnings = append(out.Warnings, c.decorate(ctx, pr.GetNumber())...)
	return out, nil
}

func derefOutcome(o *Outcome) Outcome {
	if o == nil {
		return Outcome{}
	}
	return *o
}

// baseInfo is the base branch's head commit and tree, or the outcome that ends the call
// (stale, or nothing to change).
type baseInfo struct {
	head    string
	tree    string
	outcome *Outcome
}

// baseState reads the base branch and checks the proposal against it: stale when a file of
// the proposal changed on the base since Proposal.BaseSHA; unchanged when the base already
// holds every file as proposed.
func (c *Client) baseState(ctx context.Context, st *ensureState) (baseInfo, error) {
	head, err := c.branchHead(ctx, c.cfg.BaseBranch)
	if err != nil {
		return baseInfo{}, err
	}
	commit, err := c.getCommit(ctx, head)
	if err != nil {
		return baseInfo{}, err
	}
	b := baseInfo{head: head, tree: commit.GetTree().GetSHA()}
	now, err := c.pathSHAs(ctx, b.tree, st.paths)
	if err != nil {
		return baseInfo{}, err
	}
	if st.p.BaseSHA != "" && st.p.BaseSHA != head {
		old, err := c.getCommit(ctx, st.p.BaseSHA)
		if err != nil {
			return baseInfo{}, err
		}
		then, err := c.pathSHAs(ctx, old.GetTree().GetSHA(), st.paths)
		if err != nil {
			return baseInfo{}, err
		}
		for _, p := range st.paths {
			if then[p] != now[p] {
				b.outcome = &Outcome{Action: ActionStale, Reason: fmt.Sprintf(
					"%s changed on %s since %s, the commit the proposal was computed on", p, c.cfg.BaseBranch, short(st.p.BaseSHA))}
				return b, nil
			}
		}
	}
	if filesAre(now, st) {
		b.outcome = &Outcome{Action: ActionUnchanged, Reason: "the base branch already holds this change"}
	}
	return b, nil
}

// filesAre reports whether the blob IDs found (path → ID, absent when missing) are the
// proposal's files.
func filesAre(found map[string]string, st *ensureState) bool {
	for _, p := range st.paths {
		content := st.p.Files[p]
		if content == nil {
			if _, ok := found[p]; ok {
				return false
			}
			continue
		}
		if found[p] != gitBlobSHA(content) {
			return false
		}
	}
	return true
}

// foreignBranch returns a conflict outcome when an existing branch holds commits that
// zerodrift did not make for this finding.
func (c *Client) foreignBranch(ctx context.Context, head string, st *ensureState) (*Outcome, error) {
	commit, err := c.getCommit(ctx, head)
	if err != nil {
		return nil, err
	}
	if c.authoredByUs(commit, st.p.FindingID) {
		return nil, nil
	}
	return &Outcome{Action: ActionConflict, HeadSHA: head, Reason: fmt.Sprintf(
		"branch %s exists with commits zerodrift did not make; delete it to let zerodrift propose the fix", st.branch)}, nil
}

// refresh handles an open pull request: nothing to do, regenerate, or comment.
func (c *Client) refresh(ctx context.Context, st *ensureState, pr *github.PullRequest, m Marker, retried bool) (Outcome, error) {
	out := Outcome{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), HeadSHA: pr.GetHead().GetSHA()}
	headSHA := pr.GetHead().GetSHA()
	head, err := c.getCommit(ctx, headSHA)
	if err != nil {
		return out, err
	}
	baseHead, err := c.branchHead(ctx, c.cfg.BaseBranch)
	if err != nil {
		return out, err
	}
	patchSame := m.Patch == st.hash
	if c.authoredByUs(head, st.p.FindingID) {
		onBase := parentOf(head) == baseHead
		if !patchSame || !onBase {
			return c.regenerate(ctx, st, pr, headSHA, retried)
		}
		found, err := c.pathSHAs(ctx, head.GetTree().GetSHA(), st.paths)
		if err != nil {
			return out, err
		}
		if filesAre(found, st) {
			out.Action = ActionUnchanged
			return out, nil
		}
		// zerodrift's message on content it did not write: someone amended the commit.
		// Nothing changed on zerodrift's side, so their version stands.
		out.Action, out.Reason = ActionUnchanged, "the branch's commit was changed by someone else; nothing to regenerate"
		return out, nil
	}
	// People pushed to the branch. Find zerodrift's last commit under theirs.
	ownBase, found, err := c.lastOwnBase(ctx, head, st.p.FindingID)
	if err != nil {
		return out, err
	}
	if patchSame && found && ownBase == baseHead {
		out.Action, out.Reason = ActionUnchanged, "the branch has commits zerodrift did not make; nothing to regenerate"
		return out, nil
	}
	already, err := c.commentedOn(ctx, pr.GetNumber(), st.p.FindingID, headSHA, st.hash)
	if err != nil {
		return out, err
	}
	if already {
		out.Action, out.Reason = ActionUnchanged, "the branch has commits zerodrift did not make; already commented"
		return out, nil
	}
	why := "the base branch moved"
	if !patchSame {
		why = "the fix changed"
	}
	if err := c.comment(ctx, pr.GetNumber(), humanPushComment(st, headSHA, why)); err != nil {
		return out, err
	}
	out.Action, out.Reason = ActionCommented, "the branch has commits zerodrift did not make and "+why
	return out, nil
}

// regenerate rebuilds the fix on the current base, force-moves the branch and updates
// the body (and title): the branch first, so that a crash in between leaves a body whose
// old hash makes the next run regenerate again.
func (c *Client) regenerate(ctx context.Context, st *ensureState, pr *github.PullRequest, headSHA string, retried bool) (Outcome, error) {
	out := Outcome{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), HeadSHA: headSHA}
	base, err := c.baseState(ctx, st)
	if err != nil {
		return out, err
	}
	if base.outcome != nil {
		o := *base.outcome
		o.Number, o.URL, o.HeadSHA = out.Number, out.URL, out.HeadSHA
		if o.Action == ActionUnchanged {
			o.Reason += "; the pull request is left as it is"
		}
		return o, nil
	}
	sha, err := c.writeCommit(ctx, base.head, base.tree, st)
	if err != nil {
		return out, err
	}
	c.cfg.Failpoints.Hit(failpoint.PRUpdateAfterCommit)
	// Narrow the window in which a person's push could be overwritten: the branch must
	// still be where it was read.
	cur, err := c.branchHeadIfAny(ctx, st.branch)
	if err != nil {
		return out, err
	}
	if cur != headSHA {
		if !retried {
			return c.ensure(ctx, st, true)
		}
		out.Action, out.Reason = ActionConflict, "the branch moved while zerodrift was regenerating it"
		return out, nil
	}
	if err := c.updateRef(ctx, st.branch, sha); err != nil {
		return out, err
	}
	c.cfg.Failpoints.Hit(failpoint.PRUpdateAfterPush)
	edit := &github.PullRequest{Body: github.String(withMarker(st.p.Body, Marker{Finding: st.p.FindingID, Patch: st.hash, Project: st.p.Project}))}
	if t := SanitizeTitle(st.p.Title); t != pr.GetTitle() {
		edit.Title = github.String(t)
	}
	err = c.call(ctx, "update pull request", true, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, pr.GetNumber(), edit)
		return resp, err
	})
	if err != nil {
		return out, err
	}
	out.Action, out.HeadSHA = ActionUpdated, sha
	return out, nil
}

func parentOf(c *github.Commit) string {
	if len(c.Parents) != 1 {
		return ""
	}
	return c.Parents[0].GetSHA()
}

// authoredByUs reports whether a commit is zerodrift's fix of the finding: one parent, the
// finding's trailer, and the configured author when there is one.
func (c *Client) authoredByUs(commit *github.Commit, findingID string) bool {
	if len(commit.Parents) != 1 {
		return false
	}
	if a := c.cfg.CommitAuthor; a != nil && !strings.EqualFold(commit.GetAuthor().GetEmail(), a.Email) {
		return false
	}
	for _, l := range strings.Split(commit.GetMessage(), "\n") {
		if strings.TrimSpace(l) == trailerFinding+findingID {
			return true
		}
	}
	return false
}

// lastOwnBase walks down the first parents of a branch head for zerodrift's last commit
// of the finding and returns that commit's parent (the base it was built on).
func (c *Client) lastOwnBase(ctx context.Context, head *github.Commit, findingID string) (string, bool, error) {
	commit := head
	for i := 0; i < maxOwnCommitWalk; i++ {
		if c.authoredByUs(commit, findingID) {
			return parentOf(commit), true, nil
		}
		if len(commit.Parents) == 0 {
			return "", false, nil
		}
		next, err := c.getCommit(ctx, commit.Parents[0].GetSHA())
		if err != nil {
			return "", false, err
		}
		commit = next
	}
	return "", false, nil
}

// createPR opens the pull request of a proposal, with its marker.
func (c *Client) createPR(ctx context.Context, st *ensureState) (*github.PullRequest, error) {
	np := &github.NewPullRequest{
		Title: github.String(SanitizeTitle(st.p.Title)),
		Head:  github.String(st.branch),
		Base:  github.String(c.cfg.BaseBranch),
		Body:  github.String(withMarker(st.p.Body, Marker{Finding: st.p.FindingID, Patch: st.hash, Project: st.p.Project})),
		Draft: github.Bool(c.cfg.Draft),
	}
	var pr *github.PullRequest
	err := c.call(ctx, "create pull request", true, func(ctx context.Context) (*github.Response, error) {
		var resp *github.Response
		var err error
		pr, resp, err = c.gh.PullRequests.Create(ctx, c.owner, c.repo, np)
		return resp, err
	})
	return pr, err
}

// Opened returns how many pull requests this Client opened.
func (c *Client) Opened() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened
}
