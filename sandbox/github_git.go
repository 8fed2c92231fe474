package sandbox

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Git tree entry modes, as the API spells them.
const (
	modeFile    = "100644"
	modeExec    = "100755"
	modeTree    = "040000"
	modeSymlink = "120000"
	modeCommit  = "160000"
)

// ghEntry is one entry of a tree: name (or, in a flat map, full path), mode, type and
// object ID.
type ghEntry struct {
	name string
	mode string
	typ  string
	sha  string
}

// gitHash is the git object ID of an object of the given kind and content.
func gitHash(kind string, content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// putBlob stores a blob and returns its object ID.
func (g *ghServer) putBlob(b []byte) string {
	sha := gitHash("blob", b)
	if _, ok := g.blobs[sha]; !ok {
		g.blobs[sha] = bytes.Clone(b)
	}
	return sha
}

// putTree stores a tree of the given entries (names, not paths) and returns its ID.
func (g *ghServer) putTree(entries []ghEntry) string {
	es := append([]ghEntry(nil), entries...)
	sort.Slice(es, func(i, j int) bool { return treeSortKey(es[i]) < treeSortKey(es[j]) })
	var buf bytes.Buffer
	for _, e := range es {
		mode := e.mode
		if mode == modeTree {
			mode = "40000"
		}
		raw, _ := hex.DecodeString(e.sha)
		fmt.Fprintf(&buf, "%s %s\x00", mode, e.name)
		buf.Write(raw)
	}
	sha := gitHash("tree", buf.Bytes())
	if _, ok := g.trees[sha]; !ok {
		g.trees[sha] = es
	}
	return sha
}

// treeSortKey orders entries as git does: a subtree sorts as if its name ended in "/".
func treeSortKey(e ghEntry) string {
	if e.typ == "tree" {
		return e.name + "/"
	}
	return e.name
}

// putCommit stores a commit and returns its ID.
func (g *ghServer) putCommit(tree string, parents []string, message string, author, committer ghPerson, verified bool) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "tree %s\n", tree)
	for _, p := range parents {
		fmt.Fprintf(&buf, "parent %s\n", p)
	}
	fmt.Fprintf(&buf, "author %s <%s> %d +0000\n", author.Name, author.Email, author.Date.Unix())
	fmt.Fprintf(&buf, "committer %s <%s> %d +0000\n\n", committer.Name, committer.Email, committer.Date.Unix())
	buf.WriteString(message)
	sha := gitHash("commit", buf.Bytes())
	if _, ok := g.commits[sha]; !ok {
		g.commits[sha] = &ghCommit{sha: sha, tree: tree, parents: append([]string(nil), parents...),
			message: message, author: author, committer: committer, verified: verified}
	}
	return sha
}

// flatten lists every leaf (blob, symlink, submodule) under a tree by full path.
func (g *ghServer) flatten(tree string) map[string]ghEntry {
	out := map[string]ghEntry{}
	var walk func(sha, prefix string)
	walk = func(sha, prefix string) {
		for _, e := range g.trees[sha] {
			p := prefix + e.name
			if e.typ == "tree" {
				walk(e.sha, p+"/")
				continue
			}
			e.name = p
			out[p] = e
		}
	}
	walk(tree, "")
	return out
}

// writeFlat stores the trees of a flat path → leaf map and returns the root tree's ID.
func (g *ghServer) writeFlat(files map[string]ghEntry) string {
	type dir struct {
		leaves []ghEntry
		subs   map[string]*dir
	}
	root := &dir{subs: map[string]*dir{}}
	for p, e := range files {
		parts := strings.Split(p, "/")
		d := root
		for _, seg := range parts[:len(parts)-1] {
			sub := d.subs[seg]
			if sub == nil {
				sub = &dir{subs: map[string]*dir{}}
				d.subs[seg] = sub
			}
			d = sub
		}
		e.name = parts[len(parts)-1]
		d.leaves = append(d.leaves, e)
	}
	var write func(d *dir) string
	write = func(d *dir) string {
		es := append([]ghEntry(nil), d.leaves...)
		for name, sub := range d.subs {
			es = append(es, ghEntry{name: name, mode: modeTree, typ: "tree", sha: write(sub)})
		}
		return g.putTree(es)
	}
	return write(root)
}

// resolveCommit resolves a commit ID or branch name to a commit.
func (g *ghServer) resolveCommit(ref string) *ghCommit {
	if c := g.commits[ref]; c != nil {
		return c
	}
	if sha, ok := g.refs["heads/"+ref]; ok {
		return g.commits[sha]
	}
	return nil
}

// isAncestor reports whether commit a is b or one of b's ancestors.
func (g *ghServer) isAncestor(a, b string) bool {
	return g.ancestors(b)[a]
}

// ancestors returns b and every commit reachable from it.
func (g *ghServer) ancestors(b string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{b}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] {
			continue
		}
		seen[c] = true
		if cm := g.commits[c]; cm != nil {
			stack = append(stack, cm.parents...)
		}
	}
	return seen
}

// mergeBase returns the nearest common ancestor of a and b, "" when none.
func (g *ghServer) mergeBase(a, b string) string {
	inA := g.ancestors(a)
	queue := []string{b}
	seen := map[string]bool{}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		if inA[c] {
			return c
		}
		if cm := g.commits[c]; cm != nil {
			queue = append(queue, cm.parents...)
		}
	}
	return ""
}

// validRefName checks a ref name below refs/ as git check-ref-format does, roughly.
func validRefName(ref string) bool {
	if !strings.Contains(ref, "/") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.Contains(ref, "@{") || ref == "@" {
		return false
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return false
		}
	}
	for _, seg := range strings.Split(ref, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") || strings.HasSuffix(seg, ".lock") {
			return false
		}
	}
	return true
}

// setRef moves (or creates) a ref and keeps open pull requests' head SHAs in step.
func (g *ghServer) setRef(name, sha string) {
	g.refs[name] = sha
	branch, ok := strings.CutPrefix(name, "heads/")
	if !ok {
		return
	}
	now := g.now().UTC()
	for _, p := range g.pulls {
		if p.state == "open" && p.headRef == branch {
			p.headSHA, p.updatedAt = sha, now
		}
	}
}

func (g *ghServer) refJSON(c *ghCall, name string) map[string]any {
	sha := g.refs[name]
	return map[string]any{
		"ref":     "refs/" + name,
		"node_id": "REF_" + strings.ReplaceAll(name, "/", "_"),
		"url":     g.repoURL(c) + "/git/refs/" + name,
		"object":  map[string]any{"sha": sha, "type": "commit", "url": g.repoURL(c) + "/git/commits/" + sha},
	}
}

func (g *ghServer) getRef(c *ghCall) ghResp {
	name := strings.TrimPrefix(c.params["ref"], "refs/")
	if _, ok := g.refs[name]; !ok {
		return ghFail(ghNotFound())
	}
	return ghOK(g.refJSON(c, name))
}

func (g *ghServer) matchingRefs(c *ghCall) ghResp {
	prefix := strings.TrimPrefix(c.params["ref"], "refs/")
	var names []string
	for n := range g.refs {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, g.refJSON(c, n))
	}
	items, h := page(c, out)
	return ghResp{status: http.StatusOK, body: items, header: h}
}

func (g *ghServer) createRef(c *ghCall) ghResp {
	var req struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	name, ok := strings.CutPrefix(req.Ref, "refs/")
	if !ok || !validRefName(name) {
		return ghFail(ghUnprocessable("Reference name is invalid"))
	}
	if g.commits[req.SHA] == nil {
		return ghFail(ghUnprocessable("Object does not exist"))
	}
	if _, exists := g.refs[name]; exists {
		return ghFail(ghUnprocessable("Reference already exists"))
	}
	g.setRef(name, req.SHA)
	return ghCreated(g.refJSON(c, name))
}

func (g *ghServer) updateRef(c *ghCall) ghResp {
	var req struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	name := strings.TrimPrefix(c.params["ref"], "refs/")
	old, ok := g.refs[name]
	if !ok {
		return ghFail(ghUnprocessable("Reference does not exist"))
	}
	if g.commits[req.SHA] == nil {
		return ghFail(ghUnprocessable("Object does not exist"))
	}
	if !req.Force && !g.isAncestor(old, req.SHA) {
		return ghFail(ghUnprocessable("Update is not a fast forward"))
	}
	g.setRef(name, req.SHA)
	return ghOK(g.refJSON(c, name))
}

func (g *ghServer) deleteRef(c *ghCall) ghResp {
	name := strings.TrimPrefix(c.params["ref"], "refs/")
	if _, ok := g.refs[name]; !ok {
		return ghFail(ghUnprocessable("Reference does not exist"))
	}
	if name == "heads/"+g.branch {
		return ghFail(ghUnprocessable("Cannot delete the default branch"))
	}
	g.deleteRefLocked(name)
	return ghResp{status: http.StatusNoContent}
}

// deleteRefLocked deletes a ref; open pull requests from a deleted branch are closed, as
// GitHub closes them.
func (g *ghServer) deleteRefLocked(name string) {
	delete(g.refs, name)
	branch, ok := strings.CutPrefix(name, "heads/")
	if !ok {
		return
	}
	now := g.now().UTC()
	for _, p := range g.pulls {
		if p.state == "open" && p.headRef == branch {
			p.state, p.closedAt, p.updatedAt = "closed", now, now
		}
	}
}

// treeEntryJSON renders one entry of a tree listing.
func (g *ghServer) treeEntryJSON(c *ghCall, p string, e ghEntry) map[string]any {
	m := map[string]any{"path": p, "mode": e.mode, "type": e.typ, "sha": e.sha}
	switch e.typ {
	case "blob":
		m["size"] = len(g.blobs[e.sha])
		m["url"] = g.repoURL(c) + "/git/blobs/" + e.sha
	case "tree":
		m["url"] = g.repoURL(c) + "/git/trees/" + e.sha
	}
	return m
}

// treeJSON renders a tree, recursively (pre-order, trees before their contents, as git
// ls-tree -r -t lists them) when asked, truncated past the emulator's tree limit.
func (g *ghServer) treeJSON(c *ghCall, sha string, recursive bool) map[string]any {
	var entries []map[string]any
	truncated := false
	limit := g.treeLimit
	if g.faultTreeLimit > 0 {
		limit = g.faultTreeLimit
	}
	var walk func(t, prefix string)
	walk = func(t, prefix string) {
		for _, e := range g.trees[t] {
			if limit > 0 && recursive && len(entries) >= limit {
				truncated = true
				return
			}
			entries = append(entries, g.treeEntryJSON(c, prefix+e.name, e))
			if recursive && e.typ == "tree" {
				walk(e.sha, prefix+e.name+"/")
			}
		}
	}
	walk(sha, "")
	c.faultTruncated = c.faultTruncated || truncated && g.faultTreeLimit > 0
	if entries == nil {
		entries = []map[string]any{}
	}
	return map[string]any{"sha": sha, "url": g.repoURL(c) + "/git/trees/" + sha, "tree": entries, "truncated": truncated}
}

func (g *ghServer) getTree(c *ghCall) ghResp {
	sha := c.params["sha"]
	if _, ok := g.trees[sha]; !ok {
		cm := g.resolveCommit(sha)
		if cm == nil {
			return ghFail(ghNotFound())
		}
		sha = cm.tree
	}
	_, recursive := c.r.URL.Query()["recursive"]
	return ghOK(g.treeJSON(c, sha, recursive))
}

func (g *ghServer) createTree(c *ghCall) ghResp {
	var req struct {
		BaseTree string `json:"base_tree"`
		Tree     []struct {
			Path    string          `json:"path"`
			Mode    string          `json:"mode"`
			Type    string          `json:"type"`
			SHA     json.RawMessage `json:"sha"`
			Content *string         `json:"content"`
		} `json:"tree"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if req.Tree == nil {
		return ghFail(ghValidation(ghErrorItem{Resource: "Tree", Field: "tree", Code: "missing_field"}))
	}
	files := map[string]ghEntry{}
	if req.BaseTree != "" {
		if _, ok := g.trees[req.BaseTree]; !ok {
			return ghFail(ghUnprocessable("Invalid tree info: base_tree is not a tree"))
		}
		files = g.flatten(req.BaseTree)
	}
	for _, e := range req.Tree {
		if !pathOK(e.Path) {
			return ghFail(ghUnprocessable("tree.path contains a malformed path component"))
		}
		typ := e.Type
		switch e.Mode {
		case modeFile, modeExec, modeSymlink:
			if typ == "" {
				typ = "blob"
			}
		case modeTree:
			if typ == "" {
				typ = "tree"
			}
		case modeCommit:
			if typ == "" {
				typ = "commit"
			}
		default:
			return ghFail(ghUnprocessable("Invalid tree info: tree.mode must be one of 100644, 100755, 040000, 160000, 120000"))
		}
		wantTyp := map[string]string{modeFile: "blob", modeExec: "blob", modeSymlink: "blob", modeTree: "tree", modeCommit: "commit"}[e.Mode]
		if typ != wantTyp {
			return ghFail(ghUnprocessable("Invalid tree info: tree.type does not match tree.mode"))
		}
		var sha *string
		if len(e.SHA) > 0 && string(e.SHA) != "null" {
			var s string
			if err := json.Unmarshal(e.SHA, &s); err != nil {
				return ghFail(ghBadJSON())
			}
			sha = &s
		}
		deleting := len(e.SHA) > 0 && string(e.SHA) == "null" && e.Content == nil
		switch {
		case sha != nil && e.Content != nil:
			return ghFail(ghUnprocessable("Invalid tree info: only one of tree.sha and tree.content may be given"))
		case deleting:
			delete(files, e.Path)
			for p := range files {
				if strings.HasPrefix(p, e.Path+"/") {
					delete(files, p)
				}
			}
		case e.Content != nil:
			if typ != "blob" {
				return ghFail(ghUnprocessable("Invalid tree info: tree.content needs a blob"))
			}
			removeUnder(files, e.Path)
			files[e.Path] = ghEntry{mode: e.Mode, typ: typ, sha: g.putBlob([]byte(*e.Content))}
		case sha != nil:
			removeUnder(files, e.Path)
			switch typ {
			case "blob":
				if _, ok := g.blobs[*sha]; !ok {
					return ghFail(ghUnprocessable("Invalid tree info: tree.sha " + *sha + " is not a blob"))
				}
				files[e.Path] = ghEntry{mode: e.Mode, typ: typ, sha: *sha}
			case "tree":
				if _, ok := g.trees[*sha]; !ok {
					return ghFail(ghUnprocessable("Invalid tree info: tree.sha " + *sha + " is not a tree"))
				}
				for p, sub := range g.flatten(*sha) {
					files[e.Path+"/"+p] = sub
				}
			default:
				files[e.Path] = ghEntry{mode: e.Mode, typ: typ, sha: *sha}
			}
		default:
			return ghFail(ghUnprocessable("Invalid tree info: tree.sha or tree.content is required"))
		}
	}
	// A path cannot be a file and a folder at once.
	for p := range files {
		for d := parentDir(p); d != ""; d = parentDir(d) {
			if _, clash := files[d]; clash {
				return ghFail(ghUnprocessable("Invalid tree info: " + d + " is both a file and a folder"))
			}
		}
	}
	sha := g.writeFlat(files)
	return ghCreated(g.treeJSON(c, sha, false))
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// removeUnder drops every leaf below folder p.
func removeUnder(files map[string]ghEntry, p string) {
	for q := range files {
		if strings.HasPrefix(q, p+"/") {
			delete(files, q)
		}
	}
}

func (g *ghServer) getBlob(c *ghCall) ghResp {
	sha := c.params["sha"]
	b, ok := g.blobs[sha]
	if !ok {
		return ghFail(ghNotFound())
	}
	accept := c.r.Header.Get("Accept")
	if strings.Contains(accept, "application/vnd.github.raw") || strings.Contains(accept, "application/vnd.github.v3.raw") {
		return ghResp{status: http.StatusOK, raw: bytes.Clone(b), ctype: "application/vnd.github.raw"}
	}
	return ghOK(map[string]any{
		"sha":      sha,
		"node_id":  "B_" + sha,
		"size":     len(b),
		"url":      g.repoURL(c) + "/git/blobs/" + sha,
		"content":  wrapBase64(b),
		"encoding": "base64",
	})
}

// wrapBase64 encodes b as GitHub does: base64 in lines of 60 characters.
func wrapBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 60 {
		out.WriteString(s[:60])
		out.WriteByte('\n')
		s = s[60:]
	}
	out.WriteString(s)
	if out.Len() > 0 {
		out.WriteByte('\n')
	}
	return out.String()
}

func (g *ghServer) createBlob(c *ghCall) ghResp {
	var req struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if req.Content == nil {
		return ghFail(ghValidation(ghErrorItem{Resource: "Blob", Field: "content", Code: "missing_field"}))
	}
	var b []byte
	switch req.Encoding {
	case "", "utf-8":
		if !utf8.ValidString(*req.Content) {
			return ghFail(ghUnprocessable("content is not valid UTF-8"))
		}
		b = []byte(*req.Content)
	case "base64":
		var err error
		b, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(*req.Content))
		if err != nil {
			return ghFail(ghUnprocessable("content is not valid Base64"))
		}
	default:
		return ghFail(ghValidation(ghErrorItem{Resource: "Blob", Field: "encoding", Code: "invalid"}))
	}
	sha := g.putBlob(b)
	return ghCreated(map[string]any{"sha": sha, "url": g.repoURL(c) + "/git/blobs/" + sha})
}

func (g *ghServer) commitJSON(c *ghCall, cm *ghCommit) map[string]any {
	parents := make([]map[string]any, 0, len(cm.parents))
	for _, p := range cm.parents {
		parents = append(parents, map[string]any{"sha": p, "url": g.repoURL(c) + "/git/commits/" + p,
			"html_url": c.web + "/" + g.fullName() + "/commit/" + p})
	}
	person := func(p ghPerson) map[string]any {
		return map[string]any{"name": p.Name, "email": p.Email, "date": ghTime(p.Date)}
	}
	verification := map[string]any{"verified": cm.verified, "reason": "unsigned", "signature": nil, "payload": nil}
	if cm.verified {
		verification["reason"] = "valid"
	}
	return map[string]any{
		"sha":          cm.sha,
		"node_id":      "C_" + cm.sha,
		"url":          g.repoURL(c) + "/git/commits/" + cm.sha,
		"html_url":     c.web + "/" + g.fullName() + "/commit/" + cm.sha,
		"author":       person(cm.author),
		"committer":    person(cm.committer),
		"message":      cm.message,
		"tree":         map[string]any{"sha": cm.tree, "url": g.repoURL(c) + "/git/trees/" + cm.tree},
		"parents":      parents,
		"verification": verification,
	}
}

func (g *ghServer) getCommit(c *ghCall) ghResp {
	cm := g.commits[c.params["sha"]]
	if cm == nil {
		return ghFail(ghNotFound())
	}
	return ghOK(g.commitJSON(c, cm))
}

type ghPersonJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Date  string `json:"date"`
}

func (g *ghServer) createCommit(c *ghCall) ghResp {
	var req struct {
		Message   *string       `json:"message"`
		Tree      string        `json:"tree"`
		Parents   []string      `json:"parents"`
		Author    *ghPersonJSON `json:"author"`
		Committer *ghPersonJSON `json:"committer"`
		Signature string        `json:"signature"`
	}
	if e := c.decodeBody(&req); e != nil {
		return ghFail(e)
	}
	if req.Message == nil {
		return ghFail(ghValidation(ghErrorItem{Resource: "Commit", Field: "message", Code: "missing_field"}))
	}
	if _, ok := g.trees[req.Tree]; !ok {
		return ghFail(ghUnprocessable("Tree SHA does not exist"))
	}
	for _, p := range req.Parents {
		if g.commits[p] == nil {
			return ghFail(ghUnprocessable("Parent SHA does not exist or is not a commit object"))
		}
	}
	now := g.now().UTC().Truncate(time.Second)
	person := func(p *ghPersonJSON, def ghPerson) (ghPerson, *ghError) {
		if p == nil {
			return def, nil
		}
		if p.Name == "" || p.Email == "" {
			return ghPerson{}, ghValidation(ghErrorItem{Resource: "Commit", Field: "author", Code: "invalid"})
		}
		out := ghPerson{Name: p.Name, Email: p.Email, Date: now}
		if p.Date != "" {
			t, err := time.Parse(time.RFC3339, p.Date)
			if err != nil {
				return ghPerson{}, ghValidation(ghErrorItem{Resource: "Commit", Field: "date", Code: "invalid"})
			}
			out.Date = t.UTC()
		}
		return out, nil
	}
	me := ghPerson{Name: c.login, Email: githubBotEmail, Date: now}
	if c.login != GitHubBotLogin {
		me.Email = c.login + "@users.noreply.github.com"
	}
	author, e := person(req.Author, me)
	if e != nil {
		return ghFail(e)
	}
	committer, e := person(req.Committer, author)
	if e != nil {
		return ghFail(e)
	}
	// GitHub signs (verifies) commits an App or bot makes without naming an author.
	verified := req.Author == nil && req.Committer == nil && req.Signature == ""
	sha := g.putCommit(req.Tree, req.Parents, *req.Message, author, committer, verified)
	return ghCreated(g.commitJSON(c, g.commits[sha]))
}

// ghNumber parses the {number} parameter.
func ghNumber(c *ghCall) (int, bool) {
	n, err := strconv.Atoi(c.params["number"])
	return n, err == nil && n > 0
}
