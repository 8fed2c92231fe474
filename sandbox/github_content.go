package sandbox

import (
	"bytes"
	"strconv"
	"strings"
)

// GitHubContent returns everything clients wrote to, or the scenario seeded in, the
// emulated repository, each piece named by where it is kept ("blob SHA", "commit SHA",
// "pull 3 body", "comment on 3", "label 2", "ref heads/x", "tree SHA"): every stored blob
// (reachable or not), tree entry names, commit messages and people, ref names, pull
// request titles, bodies and branches, comments and labels. Tests search it for what must
// never be published, such as a credential.
func (s *Server) GitHubContent() map[string][]byte {
	g := s.gh
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string][]byte{}
	for sha, b := range g.blobs {
		out["blob "+sha] = bytes.Clone(b)
	}
	for sha, entries := range g.trees {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.name)
		}
		out["tree "+sha] = []byte(strings.Join(names, "\n"))
	}
	for sha, c := range g.commits {
		out["commit "+sha] = []byte(strings.Join([]string{c.message, c.author.Name, c.author.Email,
			c.committer.Name, c.committer.Email}, "\n"))
	}
	for ref := range g.refs {
		out["ref "+ref] = []byte(ref)
	}
	for _, p := range g.pulls {
		n := strconv.Itoa(p.number)
		out["pull "+n+" title"] = []byte(p.title)
		out["pull "+n+" body"] = []byte(p.body)
		out["pull "+n+" branches"] = []byte(p.headRef + "\n" + p.baseRef)
		out["pull "+n+" labels and reviewers"] = []byte(strings.Join(append(append(append([]string(nil),
			p.labels...), p.reviewers...), p.teams...), "\n"))
		var comments []string
		for _, c := range g.comments[p.number] {
			comments = append(comments, c.body)
		}
		out["comments on "+n] = []byte(strings.Join(comments, "\n"))
	}
	for _, l := range g.labels {
		out["label "+strconv.FormatInt(l.id, 10)] = []byte(l.name + "\n" + l.description)
	}
	return out
}
