package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
	"go.uber.org/zap"
)

// CloseObsolete closes zerodrift's open pull requests (a zerodrift branch and marker) that
// keep does not keep: it comments, closes, and deletes the branch — unless people pushed to
// it, then the branch is kept with a warning. keep must keep the pull requests of what the
// run did not see (a project it could not read), or they are closed as if fixed. It returns
// an outcome per pull request closed, and every error met (the others are still closed).
func (c *Client) CloseObsolete(ctx context.Context, keep func(Marker) bool) ([]Outcome, error) {
	prs, err := c.openPRs(ctx)
	if err != nil {
		return nil, c.scrub(fmt.Errorf("pullrequest: close obsolete: %w", err))
	}
	var outs []Outcome
	var errs []error
	for _, pr := range prs {
		branch := pr.GetHead().GetRef()
		if !strings.HasPrefix(branch, BranchPrefix) || !c.sameRepo(pr.GetHead().GetRepo()) {
			continue
		}
		m, ok := ParseMarker(pr.GetBody())
		if !ok || keep(m) {
			continue
		}
		out, err := c.closeOne(ctx, pr, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("pull request #%d: %w", pr.GetNumber(), err))
			continue
		}
		c.log.Info("pull request closed", zap.String("finding", m.Finding), zap.Int("number", out.Number),
			zap.String("branch", branch), zap.Strings("warnings", out.Warnings))
		outs = append(outs, out)
	}
	if len(errs) > 0 {
		return outs, c.scrub(fmt.Errorf("pullrequest: close obsolete: %w", errors.Join(errs...)))
	}
	return outs, nil
}

// openPRs lists the open pull requests onto the base branch.
func (c *Client) openPRs(ctx context.Context) ([]*github.PullRequest, error) {
	opts := &github.PullRequestListOptions{State: "open", Base: c.cfg.BaseBranch, ListOptions: github.ListOptions{PerPage: 100}}
	var all []*github.PullRequest
	for page := 0; page < maxListPages; page++ {
		var prs []*github.PullRequest
		var next int
		err := c.call(ctx, "list pull requests", false, func(ctx context.Context) (*github.Response, error) {
			var resp *github.Response
			var err error
			prs, resp, err = c.gh.PullRequests.List(ctx, c.owner, c.repo, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, prs...)
		if next == 0 {
			break
		}
		opts.Page = next
	}
	return all, nil
}

// closeOne comments on, closes and (when only zerodrift committed to it) deletes the
// branch of one obsolete pull request.
func (c *Client) closeOne(ctx context.Context, pr *github.PullRequest, m Marker) (Outcome, error) {
	branch := pr.GetHead().GetRef()
	out := Outcome{Action: ActionClosed, FindingID: m.Finding, Branch: branch, Number: pr.GetNumber(), URL: pr.GetHTMLURL(),
		HeadSHA: pr.GetHead().GetSHA(), Reason: "the finding is no longer reported"}
	body := fmt.Sprintf("zerodrift closes this pull request: finding %s is no longer reported, so its fix is not needed (the drift was fixed another way, "+
		"the resource is gone, or it is now exempt). zerodrift opens a new pull request if the drift comes back.\n", code(m.Finding))
	if err := c.comment(ctx, pr.GetNumber(), body); err != nil {
		return out, err
	}
	edit := &github.PullRequest{State: github.String("closed")}
	err := c.call(ctx, "close pull request", true, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, pr.GetNumber(), edit)
		return resp, err
	})
	if err != nil {
		return out, err
	}
	head, err := c.getCommit(ctx, pr.GetHead().GetSHA())
	if err != nil {
		out.Warnings = append(out.Warnings, "branch kept: reading its head: "+c.scrub(err).Error())
		return out, nil
	}
	if !c.authoredByUs(head, m.Finding) {
		out.Warnings = append(out.Warnings, "branch "+branch+" kept: it has commits zerodrift did not make")
		return out, nil
	}
	err = c.call(ctx, "delete branch", true, func(ctx context.Context) (*github.Response, error) {
		return c.gh.Git.DeleteRef(ctx, c.owner, c.repo, "heads/"+branch)
	})
	if err != nil && statusOf(err) != http.StatusUnprocessableEntity && statusOf(err) != http.StatusNotFound {
		out.Warnings = append(out.Warnings, "deleting branch "+branch+": "+c.scrub(err).Error())
	}
	return out, nil
}
