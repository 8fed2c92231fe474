package pullrequest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
	"go.uber.org/zap"
)

// decoration is what zerodrift puts on a pull request it opens: labels and the reviewers
// (people and teams) it requests.
type decoration struct {
	labels, reviewers, teams []string
}

func (d decoration) empty() bool {
	return len(d.labels) == 0 && len(d.reviewers) == 0 && len(d.teams) == 0
}

// decorate labels a new pull request and requests its reviewers, as configured. Failures
// become warnings: the pull request is open either way.
func (c *Client) decorate(ctx context.Context, number int) []string {
	return c.decorateWith(ctx, number, decoration{labels: c.cfg.Labels, reviewers: c.cfg.Reviewers, teams: c.cfg.TeamReviewers})
}

// finishDecoration gives an open pull request the configured labels and reviewers it lacks:
// a run that died right after opening it left them out. out is the outcome so far.
func (c *Client) finishDecoration(ctx context.Context, pr *github.PullRequest, out Outcome) Outcome {
	var have []string
	for _, l := range pr.Labels {
		have = append(have, l.GetName())
	}
	missing := decoration{labels: missingFrom(c.cfg.Labels, have)}
	have = have[:0]
	for _, u := range pr.RequestedReviewers {
		have = append(have, u.GetLogin())
	}
	missing.reviewers = missingFrom(c.cfg.Reviewers, have)
	have = have[:0]
	for _, t := range pr.RequestedTeams {
		have = append(have, t.GetSlug())
	}
	missing.teams = missingFrom(c.cfg.TeamReviewers, have)
	if missing.empty() {
		return out
	}
	out.Warnings = append(out.Warnings, c.decorateWith(ctx, pr.GetNumber(), missing)...)
	why := "a run that died after opening it had not labelled it or requested its reviewers: done now"
	if out.Reason == "" {
		out.Reason = why
	} else {
		out.Reason += "; " + why
	}
	return out
}

// missingFrom returns the items of want that have lacks, ignoring case.
func missingFrom(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			out = append(out, w)
		}
	}
	return out
}

// decorateWith labels a pull request and requests reviewers. Failures become warnings.
func (c *Client) decorateWith(ctx context.Context, number int, d decoration) []string {
	var warnings []string
	if len(d.labels) > 0 {
		if err := c.ensureLabels(ctx); err != nil {
			warnings = append(warnings, "creating labels: "+c.scrub(err).Error())
		}
		if err := c.addLabels(ctx, number, d.labels); err != nil {
			warnings = append(warnings, "labelling: "+c.scrub(err).Error())
		}
	}
	if len(d.reviewers) > 0 || len(d.teams) > 0 {
		req := github.ReviewersRequest{Reviewers: d.reviewers, TeamReviewers: d.teams}
		err := c.call(ctx, "request reviewers", true, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := c.gh.PullRequests.RequestReviewers(ctx, c.owner, c.repo, number, req)
			return resp, err
		})
		if err != nil {
			warnings = append(warnings, "requesting reviewers: "+c.scrub(err).Error())
		}
	}
	for _, w := range warnings {
		c.log.Warn("pull request decoration failed", zap.Int("number", number), zap.String("warning", w))
	}
	return warnings
}

// ensureLabels creates the configured labels the repository lacks, once per Client.
func (c *Client) ensureLabels(ctx context.Context) error {
	c.mu.Lock()
	ready := c.labelsReady
	c.mu.Unlock()
	if ready {
		return nil
	}
	for _, name := range c.cfg.Labels {
		err := c.call(ctx, "get label", false, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := c.gh.Issues.GetLabel(ctx, c.owner, c.repo, name)
			return resp, err
		})
		if err == nil {
			continue
		}
		if statusOf(err) != http.StatusNotFound {
			return err
		}
		label := &github.Label{Name: github.String(name), Color: github.String("5319e7"),
			Description: github.String("Opened by zerodrift")}
		err = c.call(ctx, "create label", true, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := c.gh.Issues.CreateLabel(ctx, c.owner, c.repo, label)
			return resp, err
		})
		if err != nil && !alreadyExists(err) {
			return err
		}
	}
	c.mu.Lock()
	c.labelsReady = true
	c.mu.Unlock()
	return nil
}

// alreadyExists reports a 422 that says the resource already exists.
func alreadyExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, e := range er.Errors {
		if e.Code == "already_exists" {
			return true
		}
	}
	return false
}

// addLabels labels a pull request, retrying briefly on the 404 or 422 GitHub may answer
// right after the pull request was created.
func (c *Client) addLabels(ctx context.Context, number int, labels []string) error {
	wait := 250 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		err = c.call(ctx, "add labels", true, func(ctx context.Context) (*github.Response, error) {
			_, resp, err := c.gh.Issues.AddLabelsToIssue(ctx, c.owner, c.repo, number, labels)
			return resp, err
		})
		if s := statusOf(err); s != http.StatusNotFound && s != http.StatusUnprocessableEntity || attempt == labelAttempts {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("add labels: %w", err)
		}
		wait *= 2
	}
}

// commentMarker identifies zerodrift's comment about people's commits on a branch.
type commentMarker struct {
	Finding string `json:"finding"`
	Head    string `json:"head"`
	Patch   string `json:"patch"`
}

// humanPushComment is the comment left when people's commits keep zerodrift from
// regenerating the fix; its hidden marker makes it once per head and patch.
func humanPushComment(st *ensureState, head, why string) string {
	b, _ := json.Marshal(commentMarker{Finding: st.p.FindingID, Head: head, Patch: st.hash}) // strings always encode
	return fmt.Sprintf("zerodrift did not update this pull request: %s, but its branch has commits that zerodrift did not make (head %s), "+
		"and zerodrift never overwrites people's work.\n\n"+
		"To let zerodrift regenerate the fix on the current base, delete the branch %s; to keep these changes, update the branch yourself.\n\n%s%s%s\n",
		why, code(short(head)), code(st.branch), commentPrefix, b, markerSuffix)
}

// commentedOn reports whether zerodrift already commented about this head and patch.
func (c *Client) commentedOn(ctx context.Context, number int, findingID, head, patch string) (bool, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for page := 0; page < maxListPages; page++ {
		var comments []*github.IssueComment
		var next int
		err := c.call(ctx, "list comments", false, func(ctx context.Context) (*github.Response, error) {
			var resp *github.Response
			var err error
			comments, resp, err = c.gh.Issues.ListComments(ctx, c.owner, c.repo, number, opts)
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return false, err
		}
		for _, cm := range comments {
			for _, l := range strings.Split(cm.GetBody(), "\n") {
				l = strings.TrimSpace(strings.TrimSuffix(l, "\r"))
				raw, ok := strings.CutPrefix(l, commentPrefix)
				if !ok {
					continue
				}
				raw, ok = strings.CutSuffix(raw, markerSuffix)
				var m commentMarker
				if ok && json.Unmarshal([]byte(raw), &m) == nil && m.Finding == findingID && m.Head == head && m.Patch == patch {
					return true, nil
				}
			}
		}
		if next == 0 {
			return false, nil
		}
		opts.Page = next
	}
	return false, nil
}

// comment comments on a pull request.
func (c *Client) comment(ctx context.Context, number int, body string) error {
	cm := &github.IssueComment{Body: github.String(body)}
	return c.call(ctx, "comment", true, func(ctx context.Context) (*github.Response, error) {
		_, resp, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, number, cm)
		return resp, err
	})
}
