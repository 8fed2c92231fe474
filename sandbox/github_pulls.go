package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (g *ghServer) pull(c *ghCall) (*ghPull, *ghError) {
	n, ok := ghNumber(c)
	if !ok || n > len(g.pulls) {
		return nil, ghNotFound()
	}
	return g.pulls[n-1], nil
}

func (g *ghServer) labelJSON(c *ghCall, l *ghLabel) map[string]any {
	return map[string]any{
		"id":          l.id,
		"node_id":     "LA_" + strconv.FormatInt(l.id, 10),
		"url":         g.repoURL(c) + "/labels/" + l.name,
		"name":        l.name,
		"color":       l.color,
		"description": l.description,
		"default":     false,
	}
}

func (g *ghServer) findLabel(name string) *ghLabel {
	for _, l := range g.labels {
		if strings.EqualFold(l.name, name) {
			return l
		}
	}
	return nil
}

func (g *ghServer) pullJSON(c *ghCall, p *ghPull) map[string]any {
	labels := make([]map[string]any, 0, len(p.labels))
	for _, n := range p.labels {
		if l := g.findLabel(n); l != nil {
			labels = append(labels, g.labelJSON(c, l))
		}
	}
	reviewers := make([]map[string]any, 0, len(p.reviewers))
	for _, r := range p.reviewers {
		reviewers = append(reviewers, g.userJSON(c, r))
	}
	teams := make([]map[string]any, 0, len(p.teams))
	for _, t := range p.teams {
		teams = append(teams, map[string]any{"slug": t, "name": t, "id": loginID(t)})
	}
	baseSHA := p.baseSHA
	if p.state == "open" {
		baseSHA = g.refs["heads/"+p.baseRef]
	}
	opt := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return ghTime(t)
	}
	var mergeSHA any
	if p.mergeSHA != "" {
		mergeSHA = p.mergeSHA
	}
	var mergedBy any
	if p.mergedBy != "" {
		mergedBy = g.userJSON(c, p.mergedBy)
	}
	repo := g.repoJSON(c)
	htmlURL := c.web + "/" + g.fullName() + "/pull/" + strconv.Itoa(p.number)
	return map[string]any{
		"id":                    p.id,
		"node_id":               "PR_" + strconv.FormatInt(p.id, 10),
		"number":                p.number,
		"url":                   g.repoURL(c) + "/pulls/" + strconv.Itoa(p.number),
		"html_url":              htmlURL,
		"diff_url":              htmlURL + ".diff",
		"issue_url":             g.repoURL(c) + "/issues/" + strconv.Itoa(p.number),
		"state":                 p.state,
		"locked":                false,
		"title":                 p.title,
		"body":                  p.body,
		"draft":                 p.draft,
		"user":                  g.userJSON(c, p.user),
		"labels":                labels,
		"requested_reviewers":   reviewers,
		"requested_teams":       teams,
		"created_at":            ghTime(p.createdAt),
		"updated_at":            ghTime(p.updatedAt),
		"closed_at":             opt(p.closedAt),
		"merged_at":             opt(p.mergedAt),
		"merged":                p.merged,
		"merged_by":             mergedBy,
		"merge_commit_sha":      mergeSHA,
		"maintainer_can_modify": p.maintainer,
		"author_association":    "CONTRIBUTOR",
		"head": map[string]any{
			"label": g.owner + ":" + p.headRef, "ref": p.headRef, "sha": p.headSHA,
			"user": map[string]any{"login": g.owner, "type": "Organization"}, "repo": repo,
		},
		"base": map[string]any{
			"label": g.owner + ":" + p.baseRef, "ref": p.baseRef, "sha": baseSHA,
			"user": map[string]any{"login": g.owner, "type": "Organization"}, "repo": repo,
		},
	}
}

// listPulls filters as GitHub does: state (open by default), head only in the form
// owner:branch (a bare branch name is ignored), base.
func (g *ghServer) listPulls(c *ghCall) ghResp {
	q := c.r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	if state != "open" && state != "closed" && state != "all" {
		return ghFail(ghValidation(ghErrorItem{Resource: "PullRequest", Field: "state", Code: "invalid"}))
	}
	headOwner, headRef, headFilter := strings.Cut(q.Get("head"), ":")
	base := q.Get("base")
	var out []*ghPull
	for _, p := range g.pulls {
		if state != "all" && p.state != state {
			continue
		}
		if headFilter && (!strings.EqualFold(headOwner, g.owner) || p.headRef != headRef) {
			continue
		}
		if base != "" && p.baseRef != base {
			continue
		}
		out = append(out, p)
	}
	sortKey := q.Get("sort")
	dir := q.Get("direction")
	if dir == "" {
		dir = "desc"
		if sortKey != "" && sortKey != "created" {
			dir = "asc"
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		less := a.number < b.number
		if sortKey == "updated" && !a.updatedAt.Equal(b.updatedAt) {
			less = a.updatedAt.Before(b.updatedAt)
		}
		if dir == "desc" {
			return !less
		}
		return less
	})
	items, h := page(c, out)
	body := make([]map[string]any, 0, len(items))
	for _, p := range items {
		j := g.pullJSON(c, p)
		// GitHub's list leaves out what it computes per pull request: use merged_at.
		delete(j, "merged")
		delete(j, "merged_by")
		body = append(body, j)
	}
	return ghResp{status: http.StatusOK, body: body, header: h}
}

func (g *ghServer) createPull(c *ghCall) ghResp {
	var req struct {
		Title               string `json:"title"`
		Head                string `json:"head"`
		Base                string `json:"base"`
		Body                string `json:"body"`
		Draft               bool   `json:"draft"`
		MaintainerCanModify *bool  `json:"maintainer_can_modify"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	p, e := g.openPull(c.login, req.Title, req.Head, req.Base, req.Body, req.Draft)
	if e != nil {
		return ghFail(e)
	}
	if req.MaintainerCanModify != nil {
		p.maintainer = *req.MaintainerCanModify
	}
	return ghCreated(g.pullJSON(c, p))
}

// openPull validates and opens a pull request as GitHub does.
func (g *ghServer) openPull(login, title, head, base, body string, draft bool) (*ghPull, *ghError) {
	if strings.TrimSpace(title) == "" {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "title", Code: "missing_field"})
	}
	if base == "" {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "base", Code: "missing_field"})
	}
	if head == "" {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "head", Code: "missing_field"})
	}
	headRef := head
	if owner, ref, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, g.owner) {
			return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "head", Code: "invalid"})
		}
		headRef = ref
	}
	baseSHA, ok := g.refs["heads/"+base]
	if !ok {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "base", Code: "invalid"})
	}
	headSHA, ok := g.refs["heads/"+headRef]
	if !ok {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Field: "head", Code: "invalid"})
	}
	for _, p := range g.pulls {
		if p.state == "open" && p.headRef == headRef && p.baseRef == base {
			e := ghValidation(ghErrorItem{Resource: "PullRequest", Code: "custom",
				Message: fmt.Sprintf("A pull request already exists for %s:%s.", g.owner, headRef)})
			e.doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
			return nil, e
		}
	}
	if g.isAncestor(headSHA, baseSHA) {
		return nil, ghValidation(ghErrorItem{Resource: "PullRequest", Code: "custom",
			Message: fmt.Sprintf("No commits between %s and %s", base, headRef)})
	}
	now := g.now().UTC().Truncate(time.Second)
	p := &ghPull{
		number: len(g.pulls) + 1, id: g.newID(), title: title, body: body, state: "open", draft: draft,
		headRef: headRef, headSHA: headSHA, baseRef: base, baseSHA: baseSHA, user: login,
		createdAt: now, updatedAt: now, maintainer: true,
	}
	g.pulls = append(g.pulls, p)
	return p, nil
}

func (g *ghServer) getPull(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	return ghOK(g.pullJSON(c, p))
}

func (g *ghServer) updatePull(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	var req struct {
		Title               *string `json:"title"`
		Body                *string `json:"body"`
		State               *string `json:"state"`
		Base                *string `json:"base"`
		MaintainerCanModify *bool   `json:"maintainer_can_modify"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if req.Title != nil && strings.TrimSpace(*req.Title) == "" {
		return ghFail(ghValidation(ghErrorItem{Resource: "PullRequest", Field: "title", Code: "missing_field"}))
	}
	if req.Base != nil {
		if _, ok := g.refs["heads/"+*req.Base]; !ok {
			return ghFail(ghValidation(ghErrorItem{Resource: "PullRequest", Field: "base", Code: "invalid"}))
		}
	}
	if req.State != nil {
		switch *req.State {
		case "open", "closed":
		default:
			return ghFail(ghValidation(ghErrorItem{Resource: "PullRequest", Field: "state", Code: "invalid"}))
		}
	}
	if e := g.changeState(p, req.State); e != nil {
		return ghFail(e)
	}
	if req.Title != nil {
		p.title = *req.Title
	}
	if req.Body != nil {
		p.body = *req.Body
	}
	if req.Base != nil {
		p.baseRef = *req.Base
	}
	if req.MaintainerCanModify != nil {
		p.maintainer = *req.MaintainerCanModify
	}
	p.updatedAt = g.now().UTC().Truncate(time.Second)
	return ghOK(g.pullJSON(c, p))
}

// changeState closes or reopens a pull request, as GitHub allows.
func (g *ghServer) changeState(p *ghPull, state *string) *ghError {
	if state == nil || *state == p.state {
		return nil
	}
	now := g.now().UTC().Truncate(time.Second)
	if *state == "closed" {
		p.state, p.closedAt = "closed", now
		p.baseSHA = g.refs["heads/"+p.baseRef]
		return nil
	}
	if p.merged {
		return ghUnprocessable("Cannot reopen a merged pull request")
	}
	sha, ok := g.refs["heads/"+p.headRef]
	if !ok {
		return ghUnprocessable("Cannot reopen a pull request whose head branch was deleted")
	}
	for _, o := range g.pulls {
		if o != p && o.state == "open" && o.headRef == p.headRef && o.baseRef == p.baseRef {
			return ghUnprocessable(fmt.Sprintf("A pull request already exists for %s:%s.", g.owner, p.headRef))
		}
	}
	p.state, p.closedAt, p.headSHA = "open", time.Time{}, sha
	return nil
}

// pullFiles lists the files a pull request changes: its head against the merge base with
// its base branch.
func (g *ghServer) pullFiles(p *ghPull) []GitHubFileDiff {
	baseSHA := p.baseSHA
	if p.state == "open" || baseSHA == "" {
		baseSHA = g.refs["heads/"+p.baseRef]
	}
	from := g.mergeBase(baseSHA, p.headSHA)
	if p.merged && len(g.commits[p.mergeSHA].parents) > 0 {
		from = g.mergeBase(g.commits[p.mergeSHA].parents[0], p.headSHA)
	}
	var before map[string]ghEntry
	if cm := g.commits[from]; cm != nil {
		before = g.flatten(cm.tree)
	}
	var after map[string]ghEntry
	if cm := g.commits[p.headSHA]; cm != nil {
		after = g.flatten(cm.tree)
	}
	return g.diffTrees(before, after)
}

// diffTrees compares two flat trees, path by path.
func (g *ghServer) diffTrees(before, after map[string]ghEntry) []GitHubFileDiff {
	paths := map[string]bool{}
	for p := range before {
		paths[p] = true
	}
	for p := range after {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var out []GitHubFileDiff
	for _, p := range sorted {
		a, inA := before[p]
		b, inB := after[p]
		if inA && inB && a.sha == b.sha && a.mode == b.mode {
			continue
		}
		d := GitHubFileDiff{Path: p}
		switch {
		case !inA:
			d.Status, d.SHA = "added", b.sha
		case !inB:
			d.Status, d.SHA = "removed", a.sha
		default:
			d.Status, d.SHA = "modified", b.sha
		}
		d.Patch, d.Additions, d.Deletions = unifiedDiff(g.blobs[a.sha], g.blobs[b.sha])
		out = append(out, d)
	}
	return out
}

func (g *ghServer) listPullFiles(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	files := g.pullFiles(p)
	items, h := page(c, files)
	body := make([]map[string]any, 0, len(items))
	for _, f := range items {
		body = append(body, map[string]any{
			"sha": f.SHA, "filename": f.Path, "status": f.Status,
			"additions": f.Additions, "deletions": f.Deletions, "changes": f.Additions + f.Deletions,
			"patch":    f.Patch,
			"blob_url": c.web + "/" + g.fullName() + "/blob/" + p.headSHA + "/" + f.Path,
			"raw_url":  c.web + "/" + g.fullName() + "/raw/" + p.headSHA + "/" + f.Path,
		})
	}
	return ghResp{status: http.StatusOK, body: body, header: h}
}

// merge merges an open pull request into its base: the changes of the pull request (head
// against the merge base) applied on the base branch, in a merge commit. A path the base
// branch changed too is a conflict.
func (g *ghServer) merge(p *ghPull, login, expectSHA string) (string, *ghError) {
	if p.state != "open" {
		return "", &ghError{status: http.StatusMethodNotAllowed, message: "Pull Request is not mergeable", doc: githubDocs}
	}
	if expectSHA != "" && expectSHA != p.headSHA {
		return "", &ghError{status: http.StatusConflict, message: "Head branch was modified. Review and try the merge again.", doc: githubDocs}
	}
	baseSHA := g.refs["heads/"+p.baseRef]
	mb := g.mergeBase(baseSHA, p.headSHA)
	var mbFiles map[string]ghEntry
	if cm := g.commits[mb]; cm != nil {
		mbFiles = g.flatten(cm.tree)
	}
	baseFiles := g.flatten(g.commits[baseSHA].tree)
	headFiles := g.flatten(g.commits[p.headSHA].tree)
	for _, d := range g.diffTrees(mbFiles, headFiles) {
		was, inMB := mbFiles[d.Path]
		cur, inBase := baseFiles[d.Path]
		h, inHead := headFiles[d.Path]
		baseChanged := inMB != inBase || inMB && was != cur
		sameAsHead := inBase == inHead && (!inBase || cur == h)
		if baseChanged && !sameAsHead {
			return "", &ghError{status: http.StatusMethodNotAllowed, message: "Pull Request is not mergeable: " + d.Path + " conflicts", doc: githubDocs}
		}
		if inHead {
			baseFiles[d.Path] = h
		} else {
			delete(baseFiles, d.Path)
		}
	}
	tree := g.writeFlat(baseFiles)
	when := g.now().UTC().Truncate(time.Second)
	who := ghPerson{Name: githubHumanName, Email: githubHumanEmail, Date: when}
	msg := fmt.Sprintf("Merge pull request #%d from %s/%s\n\n%s\n", p.number, g.owner, p.headRef, p.title)
	sha := g.putCommit(tree, []string{baseSHA, p.headSHA}, msg, who, who, true)
	g.setRef("heads/"+p.baseRef, sha)
	p.state, p.merged, p.mergeSHA, p.mergedBy = "closed", true, sha, login
	p.closedAt, p.mergedAt, p.updatedAt, p.baseSHA = when, when, when, baseSHA
	return sha, nil
}

func (g *ghServer) mergePullAPI(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	var req struct {
		SHA string `json:"sha"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	sha, e := g.merge(p, c.login, req.SHA)
	if e != nil {
		return ghFail(e)
	}
	return ghOK(map[string]any{"sha": sha, "merged": true, "message": "Pull Request successfully merged"})
}

func (g *ghServer) requestReviewers(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	var req struct {
		Reviewers     []string `json:"reviewers"`
		TeamReviewers []string `json:"team_reviewers"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	for _, r := range req.Reviewers {
		if strings.EqualFold(r, p.user) {
			return ghFail(ghUnprocessable("Review cannot be requested from pull request author."))
		}
	}
	p.reviewers = appendNew(p.reviewers, req.Reviewers...)
	p.teams = appendNew(p.teams, req.TeamReviewers...)
	return ghCreated(g.pullJSON(c, p))
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			if strings.EqualFold(l, it) {
				found = true
				break
			}
		}
		if !found && it != "" {
			list = append(list, it)
		}
	}
	return list
}

func (g *ghServer) commentJSON(c *ghCall, n int, cm *ghComment) map[string]any {
	return map[string]any{
		"id":                 cm.id,
		"node_id":            "IC_" + strconv.FormatInt(cm.id, 10),
		"url":                g.repoURL(c) + "/issues/comments/" + strconv.FormatInt(cm.id, 10),
		"html_url":           c.web + "/" + g.fullName() + "/pull/" + strconv.Itoa(n) + "#issuecomment-" + strconv.FormatInt(cm.id, 10),
		"issue_url":          g.repoURL(c) + "/issues/" + strconv.Itoa(n),
		"body":               cm.body,
		"user":               g.userJSON(c, cm.user),
		"created_at":         ghTime(cm.createdAt),
		"updated_at":         ghTime(cm.createdAt),
		"author_association": "CONTRIBUTOR",
	}
}

func (g *ghServer) listComments(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	items, h := page(c, g.comments[p.number])
	body := make([]map[string]any, 0, len(items))
	for _, cm := range items {
		body = append(body, g.commentJSON(c, p.number, cm))
	}
	return ghResp{status: http.StatusOK, body: body, header: h}
}

func (g *ghServer) createComment(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	var req struct {
		Body string `json:"body"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if strings.TrimSpace(req.Body) == "" {
		return ghFail(ghValidation(ghErrorItem{Resource: "IssueComment", Field: "body", Code: "missing_field"}))
	}
	cm := g.addComment(p, c.login, req.Body)
	return ghCreated(g.commentJSON(c, p.number, cm))
}

func (g *ghServer) addComment(p *ghPull, login, body string) *ghComment {
	cm := &ghComment{id: g.newID(), body: body, user: login, createdAt: g.now().UTC().Truncate(time.Second)}
	g.comments[p.number] = append(g.comments[p.number], cm)
	p.updatedAt = cm.createdAt
	return cm
}

func (g *ghServer) listLabels(c *ghCall) ghResp {
	items, h := page(c, g.labels)
	body := make([]map[string]any, 0, len(items))
	for _, l := range items {
		body = append(body, g.labelJSON(c, l))
	}
	return ghResp{status: http.StatusOK, body: body, header: h}
}

func (g *ghServer) getLabel(c *ghCall) ghResp {
	l := g.findLabel(c.params["name"])
	if l == nil {
		return ghFail(ghNotFound())
	}
	return ghOK(g.labelJSON(c, l))
}

func (g *ghServer) createLabel(c *ghCall) ghResp {
	var req struct {
		Name        string `json:"name"`
		Color       string `json:"color"`
		Description string `json:"description"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if strings.TrimSpace(req.Name) == "" {
		return ghFail(ghValidation(ghErrorItem{Resource: "Label", Field: "name", Code: "missing_field"}))
	}
	if g.findLabel(req.Name) != nil {
		return ghFail(ghValidation(ghErrorItem{Resource: "Label", Field: "name", Code: "already_exists"}))
	}
	color := strings.TrimPrefix(req.Color, "#")
	if color == "" {
		color = "ededed"
	}
	if len(color) != 6 || strings.Trim(strings.ToLower(color), "0123456789abcdef") != "" {
		return ghFail(ghValidation(ghErrorItem{Resource: "Label", Field: "color", Code: "invalid"}))
	}
	l := &ghLabel{id: g.newID(), name: req.Name, color: strings.ToLower(color), description: req.Description}
	g.labels = append(g.labels, l)
	return ghCreated(g.labelJSON(c, l))
}

func (g *ghServer) issueLabelsJSON(c *ghCall, p *ghPull) []map[string]any {
	out := make([]map[string]any, 0, len(p.labels))
	for _, n := range p.labels {
		if l := g.findLabel(n); l != nil {
			out = append(out, g.labelJSON(c, l))
		}
	}
	return out
}

func (g *ghServer) listIssueLabels(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	return ghOK(g.issueLabelsJSON(c, p))
}

// addIssueLabels adds labels to a pull request. Like GitHub, it takes a JSON array of names
// or {"labels": [...]}, and creates labels the repository does not have yet.
func (g *ghServer) addIssueLabels(c *ghCall) ghResp {
	p, e := g.pull(c)
	if e != nil {
		return ghFail(e)
	}
	var names []string
	if err := json.Unmarshal(c.body, &names); err != nil {
		var obj struct {
			Labels []json.RawMessage `json:"labels"`
		}
		if err := json.Unmarshal(c.body, &obj); err != nil {
			return ghFail(ghBadJSON())
		}
		for _, raw := range obj.Labels {
			var n string
			if json.Unmarshal(raw, &n) != nil {
				var named struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(raw, &named) != nil {
					return ghFail(ghBadJSON())
				}
				n = named.Name
			}
			names = append(names, n)
		}
	}
	for _, n := range names {
		if strings.TrimSpace(n) == "" {
			return ghFail(ghValidation(ghErrorItem{Resource: "Label", Field: "name", Code: "invalid"}))
		}
		l := g.findLabel(n)
		if l == nil {
			l = &ghLabel{id: g.newID(), name: n, color: "ededed"}
			g.labels = append(g.labels, l)
		}
		p.labels = appendNew(p.labels, l.name)
	}
	return ghOK(g.issueLabelsJSON(c, p))
}
