package pullrequest

import (
	"regexp"
	"strings"
	"testing"
)

var branchRE = regexp.MustCompile(`^zerodrift/[a-z0-9_-]{1,48}/[a-z0-9]{8}$`)

func TestBranchName(t *testing.T) {
	for _, tc := range []struct {
		rule, id, want string
	}{
		{"firewall-open-ingress", "0123456789abcdef", "zerodrift/firewall-open-ingress/01234567"},
		{"Default.Network", "ffffffffffffffff", "zerodrift/default-network/ffffffff"},
		{"../../etc/passwd", "0123456789abcdef", "zerodrift/etc-passwd/01234567"},
		{"", "0123456789abcdef", "zerodrift/drift/01234567"},
		{"..", "0123456789abcdef", "zerodrift/drift/01234567"},
	} {
		if got := BranchName(tc.rule, tc.id); got != tc.want {
			t.Errorf("BranchName(%q, %q) = %q, want %q", tc.rule, tc.id, got, tc.want)
		}
	}
	for _, tc := range [][2]string{
		{"../x/.lock", "../../x"},
		{"rule with spaces and `ticks` and <html>", "ID WITH CAPS"},
		{strings.Repeat("a", 500), "abc"},
		{"règle/ünïcode\n@team", "0123456789ABCDEF"},
	} {
		got := BranchName(tc[0], tc[1])
		if !branchRE.MatchString(got) || strings.Contains(got, "..") {
			t.Errorf("BranchName(%q, %q) = %q: not safe", tc[0], tc[1], got)
		}
		if BranchName(tc[0], tc[1]) != got {
			t.Errorf("BranchName is not deterministic")
		}
	}
	if BranchName("r", "../../x") == BranchName("r", "../../y") {
		t.Error("two unsafe finding IDs share a branch")
	}
}

func TestSanitizeTitle(t *testing.T) {
	got := SanitizeTitle("Fix\nfirewall\u202e `x`\t\x00 " + strings.Repeat("y", 300))
	if strings.ContainsAny(got, "\n\t\x00\u202e") || len([]rune(got)) > maxTitleRunes || !strings.HasPrefix(got, "Fix firewall `x` y") {
		t.Errorf("SanitizeTitle = %q", got)
	}
	if SanitizeTitle(" \n ") == "" {
		t.Error("empty title")
	}
}

// A long finding title gives way to the rule and the resource, which tell one pull request
// from the next.
func TestTitleKeepsTheSubject(t *testing.T) {
	short := Title("Firewall rule allows SSH", "firewall-open-ingress", "allow-ssh")
	if short != "zerodrift: Firewall rule allows SSH (firewall-open-ingress allow-ssh)" {
		t.Errorf("Title = %q", short)
	}
	long := Title(strings.Repeat("Firewall rule allows ingress ", 10), "firewall-open-ingress", "google_compute_firewall.hostile_md")
	if n := len([]rune(long)); n != maxTitleRunes || !strings.HasSuffix(long, "… (firewall-open-ingress google_compute_firewall.hostile_md)") {
		t.Errorf("Title = %q (%d runes)", long, n)
	}
	if got := Title("T\nitle", "r", strings.Repeat("s", 300)); len([]rune(got)) > maxTitleRunes || strings.Contains(got, "\n") {
		t.Errorf("Title with a long subject = %q", got)
	}
}

func TestMarker(t *testing.T) {
	m := Marker{Finding: "0123456789abcdef", Patch: "p1"}
	body := "hello\n\n" + RenderMarker(m) + "\n"
	if got, ok := ParseMarker(body); !ok || got != m {
		t.Errorf("ParseMarker = %v, %v", got, ok)
	}
	if got, ok := ParseMarker(strings.ReplaceAll(body, "\n", "\r\n")); !ok || got != m {
		t.Errorf("ParseMarker with CRLF = %v, %v", got, ok)
	}
	if _, ok := ParseMarker("no marker"); ok {
		t.Error("found a marker in none")
	}
	if _, ok := ParseMarker(`<!-- zerodrift: {"finding":""} -->`); ok {
		t.Error("accepted a marker without finding")
	}
	// A marker cannot be closed early by its values.
	evil := RenderMarker(Marker{Finding: "a --> <b>", Patch: "--!>"})
	if strings.Count(evil, "-->") != 1 || strings.Contains(evil, "<b>") || strings.Contains(evil, "--!>") {
		t.Errorf("marker = %s", evil)
	}
	// withMarker replaces old markers.
	wm := withMarker(body+"\n"+RenderMarker(Marker{Finding: "other", Patch: "x"}), Marker{Finding: "f", Patch: "p2"})
	if strings.Count(wm, markerPrefix) != 1 {
		t.Errorf("withMarker left %d markers:\n%s", strings.Count(wm, markerPrefix), wm)
	}
	if got, _ := ParseMarker(wm); got.Finding != "f" || got.Patch != "p2" {
		t.Errorf("withMarker marker = %v", got)
	}
	long := withMarker(strings.Repeat("é", maxBodyBytes), m)
	if len(long) > maxBodyBytes+200 || !strings.Contains(long, "_(truncated)_") {
		t.Errorf("long body is %d bytes", len(long))
	}
	if got, ok := ParseMarker(long); !ok || got != m {
		t.Error("truncated body lost its marker")
	}
}

// hostile is a value a cloud resource could carry to attack a pull request body.
const hostile = "evil\n# Heading\n<img src=x onerror=alert(1)> [click](javascript:alert(1)) ![i](http://x/i.png) " +
	"](javascript:alert(2)) ``` `code` @acme/security-team @octocat <!-- zerodrift: {\"finding\":\"forged\",\"patch\":\"x\"} --> " +
	"<script>x</script> \u202egnp.exe *bold* _em_ | table | http://phish.example <details>"

// stripCodeSpans removes inline code spans and backslash escapes as CommonMark reads one
// line, left to right: a backslash before ASCII punctuation escapes it; a run of n
// backticks opens a code span that the next run of exactly n backticks closes.
func stripCodeSpans(line string) string {
	var out strings.Builder
	for i := 0; i < len(line); {
		if line[i] == '\\' && i+1 < len(line) && strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", rune(line[i+1])) {
			out.WriteString("ESC")
			i += 2
			continue
		}
		if line[i] != '`' {
			out.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		closed := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			m := 0
			for j+m < len(line) && line[j+m] == '`' {
				m++
			}
			if m == n {
				closed = j + m
				break
			}
			j += m
		}
		if closed < 0 {
			out.WriteString(line[i : i+n])
			i += n
			continue
		}
		out.WriteString("CODE")
		i = closed
	}
	return out.String()
}

func TestRenderBodyEscapesHostileValues(t *testing.T) {
	d := BodyData{
		FindingID: "0123456789abcdef", Rule: hostile, Title: hostile, Severity: "HIGH", Resource: hostile, Project: hostile,
		Evidence:    map[string]any{"sourceRanges": []string{"0.0.0.0/0"}, "description": hostile, hostile: 1},
		SCCCategory: "OPEN_SSH_PORT", CIS: []string{"3.6", hostile}, CISVersion: "v3.0",
		TerraformAddress: "google_compute_firewall.ssh", File: "envs/prod/firewall.tf", Line: 12,
		PlanEffect: hostile, Risk: hostile, Rollback: hostile, PatchHash: "abcdef0123456789", CoolOffNote: hostile,
	}
	body := RenderBody(d)
	m, ok := ParseMarker(body)
	if !ok || m.Finding != d.FindingID || m.Patch != d.PatchHash {
		t.Fatalf("ParseMarker = %v, %v", m, ok)
	}
	markers := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, markerPrefix) {
			markers++
			continue
		}
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "### zerodrift: ") && !strings.HasPrefix(line, "#### ") {
			t.Errorf("a value made a heading: %q", line)
		}
		text := stripCodeSpans(line)
		for _, bad := range []string{"<img", "<script", "<details", "<!--", "](", "![", "@acme", "@octocat", "\u202e", "*bold*", "_em_", "```"} {
			if strings.Contains(text, bad) {
				t.Errorf("%q survives outside code in line %q", bad, line)
			}
		}
		if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(text, "<sub>"), "</sub>"), "<") {
			t.Errorf("raw < outside code in line %q", line)
		}
	}
	if markers != 1 {
		t.Errorf("%d marker lines, want 1", markers)
	}
	for _, want := range []string{"OPEN_SSH_PORT", "`3.6`", "`envs/prod/firewall.tf:12`", "`google_compute_firewall.ssh`",
		"`[\"0.0.0.0/0\"]`", "Reviewer checklist", "How to roll back", "Expected plan effect", "#### Risk", "`v3.0`"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q", want)
		}
	}
	// The code spans keep the value, spelled out.
	if !strings.Contains(body, `evil\n# Heading\n<img`) {
		t.Error("the resource value is not shown verbatim (with escapes)")
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "`plain`",
		"a`b":       "``a`b``",
		"`x`":       "`` `x` ``",
		"a``b":      "```a``b```",
		"tab\there": "`tab\\there`",
		"":          "_(none)_",
		"\xff":      "`\\xff`",
		"zw\u200b":  "`zw\\u200b`",
	} {
		if got := code(in); got != want {
			t.Errorf("code(%q) = %q, want %q", in, got, want)
		}
	}
	if got := code(strings.Repeat("x", 1000)); len([]rune(got)) > maxValueRunes+4 {
		t.Errorf("code of a long value is %d runes", len([]rune(got)))
	}
}

func TestProse(t *testing.T) {
	got := prose("Opens *port* 22 to [x](y) & <b>@team</b>\nline two")
	want := `Opens \*port\* 22 to \[x\]\(y\) &amp; &lt;b&gt;@&#8203;team&lt;\/b&gt;  ` + "\nline two"
	if got != want {
		t.Errorf("prose = %q, want %q", got, want)
	}
}

// A plain cloud name titles its pull request; anything GitHub might link or mention gives
// way to the Terraform address.
func TestTitleSubject(t *testing.T) {
	for resource, want := range map[string]string{
		"//compute.googleapis.com/projects/p/global/firewalls/allow-ssh":                   "allow-ssh",
		"//cloudresourcemanager.googleapis.com/projects/100000000001":                      "100000000001",
		"//iam.googleapis.com/projects/p/serviceAccounts/ci@p.iam.gserviceaccount.com":     "ci@p.iam.gserviceaccount.com",
		"//compute.googleapis.com/projects/p/global/firewalls/fixes #1":                    "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/@octocat":                    "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/..":                          "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/<b>x</b>":                    "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/é":                           "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/" + strings.Repeat("a", 101): "google_x.y",
		"//compute.googleapis.com/projects/p/global/firewalls/":                            "google_x.y",
	} {
		if got := TitleSubject(resource, "google_x.y"); got != want {
			t.Errorf("TitleSubject(%q) = %q, want %q", resource, got, want)
		}
	}
}
