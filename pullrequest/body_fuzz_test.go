package pullrequest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// markdownViews reads one line of a body as GitHub does, left to right, and returns two
// views of it. In syntax, what renders as literal text is replaced: a backslash escape by
// ESC, a code span by CODE, an entity by ENT; the rest is Markdown syntax (or plain
// letters), except that an escaped "<" or ">" stays too: RenderBody keeps them out of the
// raw body, where a mail client or an API reader could take them for HTML. In text, the line is as GitHub's reference and mention filters see it: escapes
// and entities resolved, code spans (which they skip) blanked.
func markdownViews(line string) (syntax, text string) {
	entities := map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">", "&#8203;": "\u200b"}
	var sx, tx strings.Builder
	for i := 0; i < len(line); {
		c := line[i]
		if c == '\\' && i+1 < len(line) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", line[i+1]) >= 0 {
			sx.WriteString("ESC")
			if line[i+1] == '<' || line[i+1] == '>' {
				sx.WriteByte(line[i+1])
			}
			tx.WriteByte(line[i+1])
			i += 2
			continue
		}
		if c == '&' {
			if e := entityAt(line[i:], entities); e != "" {
				sx.WriteString("ENT")
				tx.WriteString(entities[e])
				i += len(e)
				continue
			}
		}
		if c != '`' {
			sx.WriteByte(c)
			tx.WriteByte(c)
			i++
			continue
		}
		n := len(line[i:]) - len(strings.TrimLeft(line[i:], "`"))
		if end := closingFence(line, i+n, n); end >= 0 {
			sx.WriteString("CODE")
			tx.WriteString(" ")
			i = end
			continue
		}
		sx.WriteString(line[i : i+n])
		tx.WriteString(line[i : i+n])
		i += n
	}
	return sx.String(), tx.String()
}

func entityAt(s string, entities map[string]string) string {
	for e := range entities {
		if strings.HasPrefix(s, e) {
			return e
		}
	}
	return ""
}

// closingFence returns where the code span opened by a run of n backticks ends: after the
// next run of exactly n backticks at or after from; -1 when there is none.
func closingFence(line string, from, n int) int {
	for j := from; j < len(line); {
		if line[j] != '`' {
			j++
			continue
		}
		m := len(line[j:]) - len(strings.TrimLeft(line[j:], "`"))
		if m == n {
			return j + m
		}
		j += m
	}
	return -1
}

// bodyHeadings are the only headings RenderBody writes, besides its title.
var bodyHeadings = []string{"#### Finding", "#### Evidence", "#### References", "#### Terraform",
	"#### Expected plan effect", "#### Risk", "#### How to roll back", "#### Reviewer checklist"}

// bodyItems start the only list items RenderBody writes (syntax view).
var bodyItems = []string{"- Rule: ", "- Severity: ", "- Resource: ", "- Project: ", "- Finding ID: ", "- CODE: CODE", "- CODE: _(none)_",
	"- _", "- Security Command Center category: ", "- CIS Google Cloud Foundations Benchmark", "- Address: ",
	"- Declared in: ", "- [ ] "}

// bodyItalics are the only emphasised texts RenderBody writes.
var bodyItalics = regexp.MustCompile(`_\(none\)_|_\(truncated\)_|_[0-9]+ more values not shown_`)

var (
	orderedItem = regexp.MustCompile(`^[0-9]{1,9}[.)]`)
	// mention, issueRef and autolink are what GitHub links in text: @user or @org/team,
	// #1, GH-1 or owner/repo#1 (which closing keywords need), and bare URLs and addresses.
	mention  = regexp.MustCompile(`(^|[^A-Za-z0-9_` + "`" + `])@[A-Za-z0-9]`)
	issueRef = regexp.MustCompile(`(?i)(#|\bgh-)[0-9]`)
	autolink = regexp.MustCompile(`(?i):/|www\.|[a-z0-9._%+-]@[a-z0-9]`)
)

// checkBodySafe asserts that nothing in body is Markdown or HTML that RenderBody did not
// write itself: line by line, every heading, list item and block is one of its own, and
// outside code spans there is no HTML tag but <sub>, no link, image, reference definition,
// emphasis, table, stray backtick (a code span broken out of) or raw entity, and nothing
// GitHub links: no mention, issue reference (and so no closing keyword) or autolink.
// Invisible and control characters are spelled out, and the hidden marker is the last line
// and the only one.
func checkBodySafe(t *testing.T, body string, want Marker) {
	t.Helper()
	if !utf8.ValidString(body) {
		t.Fatalf("the body is not UTF-8:\n%s", body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if m, ok := parseMarkerLine(lines[len(lines)-1], markerPrefix); !ok || m != want {
		t.Fatalf("the last line %q is not the marker %+v", lines[len(lines)-1], want)
	}
	for i, line := range lines[:len(lines)-1] {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s\n%s", i+1, line, fmt.Sprintf(format, args...), body)
		}
		for _, r := range line {
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
				fail("holds the character %U", r)
			}
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, " ") {
			fail("starts with a space: an indented code block or a continuation")
		}
		syntax, text := markdownViews(line)
		switch {
		case strings.HasPrefix(syntax, "#"):
			if !(i == 0 && strings.HasPrefix(syntax, "### zerodrift: ")) && !slices.Contains(bodyHeadings, syntax) {
				fail("a heading RenderBody does not write")
			}
		case strings.ContainsAny(syntax[:1], "-*+"):
			if !slices.ContainsFunc(bodyItems, func(p string) bool { return strings.HasPrefix(syntax, p) }) {
				fail("a list item or rule RenderBody does not write")
			}
			syntax = strings.TrimPrefix(syntax, "- [ ] ")
		case orderedItem.MatchString(syntax) || strings.ContainsAny(syntax[:1], ">|=~[`"):
			fail("a block (ordered list, quote, table, setext underline, fence, link definition)")
		}
		syntax = bodyItalics.ReplaceAllString(syntax, "")
		syntax = strings.NewReplacer("<sub>", "", "</sub>", "").Replace(syntax)
		if strings.ContainsAny(syntax, "<>&*_~[]`|") {
			fail("Markdown or HTML outside code spans: %q", syntax)
		}
		for _, re := range []*regexp.Regexp{mention, issueRef, autolink} {
			if loc := re.FindStringIndex(text); loc != nil {
				fail("GitHub links %q", text[loc[0]:loc[1]])
			}
		}
	}
}

// fuzzBodyData fills every field of a body: cloud from the cloud, prose from zerodrift or a
// playbook; n evidence values of at most maxValueRunes, which can take the body past
// maxBodyBytes.
func fuzzBodyData(cloud, text string, n int) BodyData {
	id := "0123456789abcdef"
	if utf8.ValidString(cloud) {
		id += cloud // the marker must carry any finding ID through JSON
	}
	ev := map[string]any{"description": cloud, "sourceRanges": []string{cloud, "0.0.0.0/0"}, "ageDays": 91,
		cloud: map[string]any{"member": cloud}}
	long := strings.Repeat(cloud, 1+maxValueRunes/max(1, utf8.RuneCountInString(cloud)))
	for i := range n {
		ev[fmt.Sprintf("%03d%s", i, long)] = long
	}
	return BodyData{
		FindingID: id, Rule: cloud, Title: text, Severity: cloud, Resource: "//compute.googleapis.com/projects/" + cloud,
		Project: cloud, Evidence: ev, SCCCategory: cloud, CIS: []string{"3.6", cloud}, CISVersion: cloud,
		TerraformAddress: cloud, File: cloud, Line: n, PlanEffect: text, Risk: text + "\n" + cloud, Rollback: cloud + "\n\n" + text,
		PatchHash: "abcdef0123456789", CoolOffNote: text,
	}
}

// FuzzRenderBody: whatever the cloud and the playbooks say, the pull request body that
// reaches GitHub (RenderBody, then withMarker, which bounds it) has no Markdown or HTML
// RenderBody did not write and nothing GitHub links (see checkBodySafe); the title is one
// bounded line and the branch name a safe ref.
func FuzzRenderBody(f *testing.F) {
	f.Add(hostile, hostile, uint8(0))
	f.Add("fixes #1, closes acme/infra#2, resolves GH-3 @octocat @acme/sec", "Fixes #1 and gh-2; @octocat; https://x.example www.x.example a@b.example", uint8(1))
	f.Add("`a``b```", "`", uint8(0))
	f.Add(" `", "\n\n    indented\n- item\n1. one\n> quote\n| a | b |\n---\n===\n```\n[x]: http://x\n<div>\n", uint8(0))
	f.Add("<img src=x>\u202e\u2028\x00\xff", "&#64;octocat &lt; &amp;amp; \\`x\\` *a* _b_ ~c~ ![i](j)", uint8(2))
	f.Add("é`<@#1", "x", uint8(45)) // evidence past maxBodyBytes: the body is cut
	f.Add("🚀`[x](y)", "#1", uint8(60))
	f.Add("🚀🚀🚀🚀🚀🚀🚀`<b>", "x", uint8(45)) // 80 kB of evidence: the body is cut
	f.Fuzz(func(t *testing.T, cloud, text string, n uint8) {
		if len(cloud)+len(text) > 4096 {
			t.Skip()
		}
		d := fuzzBodyData(cloud, text, int(n%64))
		want := Marker{Finding: d.FindingID, Patch: "p"}
		body := withMarker(RenderBody(d), want)
		if len(body) > maxBodyBytes+200 {
			t.Fatalf("the body is %d bytes", len(body))
		}
		checkBodySafe(t, body, want)

		title := SanitizeTitle("zerodrift: " + text + " (" + cloud + ")")
		if utf8.RuneCountInString(title) > maxTitleRunes || strings.ContainsFunc(title, func(r rune) bool {
			return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) || r == utf8.RuneError
		}) {
			t.Fatalf("SanitizeTitle = %q", title)
		}
		if b := BranchName(cloud, text); !branchRE.MatchString(b) || strings.Contains(b, "..") {
			t.Fatalf("BranchName(%q, %q) = %q", cloud, text, b)
		}
	})
}
