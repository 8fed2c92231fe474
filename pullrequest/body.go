package pullrequest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BranchPrefix starts the name of every branch zerodrift pushes.
const BranchPrefix = "zerodrift/"

// Marker is what the hidden marker in a pull request body records: the finding the pull
// request fixes, the hash of the patch it carries, and the finding's project (so a run that
// could not read a project does not take its pull requests for obsolete).
type Marker struct {
	Finding string `json:"finding"`
	Patch   string `json:"patch"`
	Project string `json:"project,omitempty"`
}

const (
	markerPrefix  = "<!-- zerodrift: "
	markerSuffix  = " -->"
	commentPrefix = "<!-- zerodrift-comment: "
	// maxValueRunes bounds one cloud-supplied value in a body.
	maxValueRunes = 300
	// maxEvidence bounds the evidence entries rendered.
	maxEvidence = 40
	// maxBodyBytes keeps a body under GitHub's 65,536-character limit.
	maxBodyBytes = 60000
	// maxTitleRunes bounds a pull request title.
	maxTitleRunes = 120
	// maxRuleRunes bounds the rule segment of a branch name.
	maxRuleRunes = 48
)

// BranchName is the branch of the fix of a finding: zerodrift/<rule>/<first 8 characters
// of the finding ID>. The rule is reduced to [a-z0-9_-] (so no "..", no "/" and no dot can
// come from it) and bounded; a finding ID that is not 8 or more of [a-z0-9] is replaced
// by 8 hex digits of its SHA-256.
func BranchName(rule, findingID string) string {
	seg := sanitizeSegment(rule, maxRuleRunes)
	if seg == "" {
		seg = "drift"
	}
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, findingID)
	if id != findingID || len(id) < 8 {
		sum := sha256.Sum256([]byte(findingID))
		id = hex.EncodeToString(sum[:])
	}
	return BranchPrefix + seg + "/" + id[:8]
}

// sanitizeSegment lowercases s and keeps [a-z0-9_-], turning every other run of
// characters into one "-", with no "-" or "_" at either end.
func sanitizeSegment(s string, maxRunes int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= maxRunes {
			break
		}
	}
	out := b.String()
	if len(out) > maxRunes {
		out = out[:maxRunes]
	}
	return strings.Trim(out, "-_")
}

// SanitizeTitle makes a one-line pull request title: control, format and separator
// characters become spaces, white space is collapsed, and the result is bounded.
func SanitizeTitle(s string) string {
	s = titleLine(s)
	if utf8.RuneCountInString(s) > maxTitleRunes {
		s = string([]rune(s)[:maxTitleRunes-1]) + "…"
	}
	if s == "" {
		return "zerodrift: fix drift"
	}
	return s
}

// titleLine turns control, format and separator characters into spaces and collapses
// white space.
func titleLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))
	return strings.Join(strings.Fields(s), " ")
}

// Title is the pull request title of a finding: "zerodrift: <finding title> (<rule>
// <subject>)", sanitized as SanitizeTitle does. When it is too long, the finding's title is
// shortened rather than the end cut off, so that pull requests for one rule still say which
// resource each is about.
func Title(findingTitle, rule, subject string) string {
	const prefix = "zerodrift: "
	suffix := " (" + titleLine(rule) + " " + titleLine(subject) + ")"
	findingTitle = titleLine(findingTitle)
	if room := maxTitleRunes - utf8.RuneCountInString(prefix+suffix); utf8.RuneCountInString(findingTitle) > room {
		findingTitle = string([]rune(findingTitle)[:max(room-1, 0)]) + "…"
	}
	return SanitizeTitle(prefix + findingTitle + suffix)
}

// TitleSubject names a resource in a pull request title: its short name (the last segment
// of resource) when that is a plain cloud name (letters and digits, with ".", "_", "-", ":"
// and "@" inside, as project numbers and service account e-mails are), else address, the
// Terraform address the repository gives it. A title renders "#12" as a link to an issue
// and "@team" as a mention, and a name from the cloud is not trusted to say either.
func TitleSubject(resource, address string) string {
	short := resource[strings.LastIndexByte(resource, '/')+1:]
	if short == "" || len(short) > 100 || strings.ContainsRune("._-:@", rune(short[0])) {
		return address
	}
	for _, c := range short {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:@", c)) {
			return address
		}
	}
	return short
}

// RenderMarker renders the hidden marker line. JSON encoding escapes <, > and &, so the
// values can never close the HTML comment.
func RenderMarker(m Marker) string {
	b, _ := json.Marshal(m) // a struct of two strings always encodes
	return markerPrefix + string(b) + markerSuffix
}

// ParseMarker finds the hidden marker of a body: the last line that is exactly a marker.
// Text that zerodrift renders from cloud values never starts a line, so it cannot forge
// one.
func ParseMarker(body string) (Marker, bool) {
	lines := strings.Split(body, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		m, ok := parseMarkerLine(lines[i], markerPrefix)
		if ok {
			return m, true
		}
	}
	return Marker{}, false
}

func parseMarkerLine(line, prefix string) (Marker, bool) {
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return Marker{}, false
	}
	raw, ok := strings.CutSuffix(rest, markerSuffix)
	if !ok {
		return Marker{}, false
	}
	var m Marker
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Finding == "" {
		return Marker{}, false
	}
	return m, true
}

// withMarker returns body without any marker line, bounded, with the marker appended.
func withMarker(body string, m Marker) string {
	var kept []string
	for _, l := range strings.Split(body, "\n") {
		if _, ok := parseMarkerLine(l, markerPrefix); ok {
			continue
		}
		kept = append(kept, l)
	}
	b := strings.TrimRight(strings.Join(kept, "\n"), "\n")
	if len(b) > maxBodyBytes {
		// Cut after a whole line: a line cut short could leave a code span open, and
		// GitHub would render the rest of the cloud value after its backticks as Markdown.
		cut := max(strings.LastIndexByte(b[:maxBodyBytes+1], '\n'), 0)
		b = b[:cut] + "\n\n_(truncated)_"
	}
	return b + "\n\n" + RenderMarker(m) + "\n"
}

// BodyData is what a pull request body says about a finding. Fields marked "cloud" hold
// text that came from the cloud or the repository; RenderBody shows them as inline code,
// where GitHub renders no link, image, HTML or mention, with control and invisible
// characters spelled out. Fields marked "prose" are zerodrift's or the playbook's words;
// they are escaped so that they render as plain text.
type BodyData struct {
	FindingID string // cloud
	Rule      string // cloud
	// Title is the finding's title (prose, one line).
	Title    string
	Severity string // cloud
	Resource string // cloud: the full resource name
	Project  string // cloud
	// Evidence holds the offending values (cloud); non-string values are shown as JSON.
	Evidence    map[string]any
	SCCCategory string   // cloud
	CIS         []string // cloud: CIS Google Cloud Foundations Benchmark controls
	// CISVersion names the benchmark version of CIS, e.g. "v3.0" (cloud).
	CISVersion       string
	TerraformAddress string // cloud
	File             string // cloud: the path in the repository
	Line             int
	// PlanEffect is what `terraform plan` should show (prose).
	PlanEffect string
	// Risk is what the change may break (prose).
	Risk string
	// Rollback says how to undo the change (prose).
	Rollback string
	// PatchHash identifies the patch; with FindingID it makes the hidden marker.
	PatchHash string
	// CoolOffNote, when set, says when zerodrift may propose the fix again after a decline
	// (prose), e.g. "in 30 days".
	CoolOffNote string
}

// RenderBody renders a pull request body: the finding, its evidence, the SCC and CIS
// references, the Terraform address and file:line, the expected plan effect, the risk, how
// to roll back, a reviewer checklist, and the hidden marker.
func RenderBody(d BodyData) string {
	var b strings.Builder
	title := oneLine(d.Title)
	if title == "" {
		title = "Zero-trust drift"
	}
	if utf8.RuneCountInString(title) > maxValueRunes {
		title = string([]rune(title)[:maxValueRunes]) + "…"
	}
	fmt.Fprintf(&b, "### zerodrift: %s\n\n", prose(title))
	b.WriteString("zerodrift found zero-trust drift on a resource that this repository declares, and proposes the Terraform change in this pull request. ")
	b.WriteString("Nothing changes in Google Cloud until the change is merged and applied.\n\n")

	b.WriteString("#### Finding\n\n")
	item(&b, "Rule", code(d.Rule))
	item(&b, "Severity", code(d.Severity))
	item(&b, "Resource", code(d.Resource))
	if d.Project != "" {
		item(&b, "Project", code(d.Project))
	}
	item(&b, "Finding ID", code(d.FindingID))
	b.WriteString("\n")

	if len(d.Evidence) > 0 {
		b.WriteString("#### Evidence\n\n")
		keys := make([]string, 0, len(d.Evidence))
		for k := range d.Evidence {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == maxEvidence {
				fmt.Fprintf(&b, "- _%d more values not shown_\n", len(keys)-maxEvidence)
				break
			}
			fmt.Fprintf(&b, "- %s: %s\n", code(k), code(evidenceValue(d.Evidence[k])))
		}
		b.WriteString("\n")
	}

	if d.SCCCategory != "" || len(d.CIS) > 0 {
		b.WriteString("#### References\n\n")
		if d.SCCCategory != "" {
			item(&b, "Security Command Center category", code(d.SCCCategory))
		}
		if len(d.CIS) > 0 {
			label := "CIS Google Cloud Foundations Benchmark"
			if d.CISVersion != "" {
				label += " " + code(d.CISVersion)
			}
			controls := make([]string, len(d.CIS))
			for i, c := range d.CIS {
				controls[i] = code(c)
			}
			item(&b, label, strings.Join(controls, ", "))
		}
		b.WriteString("\n")
	}

	if d.TerraformAddress != "" || d.File != "" {
		b.WriteString("#### Terraform\n\n")
		if d.TerraformAddress != "" {
			item(&b, "Address", code(d.TerraformAddress))
		}
		if d.File != "" {
			loc := d.File
			if d.Line > 0 {
				loc += ":" + strconv.Itoa(d.Line)
			}
			item(&b, "Declared in", code(loc))
		}
		b.WriteString("\n")
	}

	section(&b, "Expected plan effect", d.PlanEffect, "Review `terraform plan`: it should change only the resource above.")
	section(&b, "Risk", d.Risk, "Traffic or access that relied on the drift stops working once the change is applied.")
	section(&b, "How to roll back", d.Rollback, "Revert this pull request and apply again; zerodrift records the change in its ledger.")

	b.WriteString("#### Reviewer checklist\n\n")
	b.WriteString("- [ ] The resource and the evidence match what the console or `gcloud` shows today.\n")
	b.WriteString("- [ ] `terraform plan` shows only the expected effect above, on the address above.\n")
	b.WriteString("- [ ] Nothing that must keep working depends on what this change removes.\n")
	b.WriteString("- [ ] The rollback above is possible and understood.\n\n")

	b.WriteString("<sub>Opened by zerodrift. Closing this pull request without merging it declines the fix: zerodrift does not reopen it")
	if d.CoolOffNote != "" {
		b.WriteString(" before ")
		b.WriteString(prose(oneLine(d.CoolOffNote)))
	}
	b.WriteString(". Commits pushed to its branch by people are never overwritten.</sub>\n\n")
	b.WriteString(RenderMarker(Marker{Finding: d.FindingID, Patch: d.PatchHash}))
	b.WriteString("\n")
	return b.String()
}

func item(b *strings.Builder, label, value string) {
	fmt.Fprintf(b, "- %s: %s\n", label, value)
}

func section(b *strings.Builder, heading, text, fallback string) {
	fmt.Fprintf(b, "#### %s\n\n", heading)
	if strings.TrimSpace(text) == "" {
		b.WriteString(fallback)
	} else {
		b.WriteString(prose(text))
	}
	b.WriteString("\n\n")
}

// evidenceValue shows an evidence value: strings as they are, anything else as JSON.
func evidenceValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// visible spells out what would be invisible or would break a line: control, format
// (bidirectional overrides, zero-width characters) and separator characters become \n,
// \t or \u escapes; invalid UTF-8 becomes \x escapes.
func visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// code renders a cloud value as an inline code span: one line, bounded, fenced with more
// backticks than it holds in a row. Inside a code span GitHub renders no Markdown, HTML,
// link, image or mention.
func code(s string) string {
	if s == "" {
		return "_(none)_"
	}
	s = visible(s)
	if utf8.RuneCountInString(s) > maxValueRunes {
		s = string([]rune(s)[:maxValueRunes]) + "…"
	}
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// oneLine joins the lines of s with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// prose escapes text so that it renders as the same plain text: "<", ">" and "&" become
// entities (no HTML, not even in the raw body), every other ASCII punctuation character is
// backslash-escaped (no emphasis, link, image, heading, list, table or code), a zero-width
// space follows "@" (no mention) and whatever else would start a link (see linkStart),
// invisible characters are spelled out, and each line stands alone.
func prose(s string) string {
	lines := strings.Split(strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		rs := []rune(strings.TrimSpace(l))
		var b strings.Builder
		for i, r := range rs {
			switch {
			case r == '@':
				b.WriteString("@&#8203;")
			case r == '&':
				b.WriteString("&amp;")
			case r == '<':
				b.WriteString("&lt;")
			case r == '>':
				b.WriteString("&gt;")
			case r < 0x80 && unicode.IsPunct(r) || r < 0x80 && unicode.IsSymbol(r):
				b.WriteByte('\\')
				b.WriteRune(r)
			case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
				b.WriteString(visible(string(r)))
			default:
				b.WriteRune(r)
			}
			if linkStart(rs, i) {
				b.WriteString("&#8203;")
			}
		}
		out = append(out, b.String())
	}
	return strings.Join(out, "  \n")
}

// linkStart reports whether rs[i] ends what GitHub would turn into a link with what
// follows: "#" or "GH-" before a digit (an issue reference, which is also what a closing
// keyword such as "fixes #1" needs), ":" before "/" (a URL) and "www" before ".".
func linkStart(rs []rune, i int) bool {
	var next rune
	if i+1 < len(rs) {
		next = rs[i+1]
	}
	folded := func(from int, s string) bool { return from >= 0 && strings.EqualFold(string(rs[from:i]), s) }
	switch rs[i] {
	case '#':
		return next >= '0' && next <= '9'
	case '-':
		return next >= '0' && next <= '9' && folded(i-2, "gh")
	case ':':
		return next == '/'
	case 'w', 'W':
		return next == '.' && folded(i-2, "ww")
	}
	return false
}
