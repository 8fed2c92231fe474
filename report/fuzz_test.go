package report

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

// hostileReport is a scan report whose every cloud-supplied text is v.
func hostileReport(v string) *scan.Report {
	return &scan.Report{
		Findings: []rules.Finding{{ID: v, Rule: v, Category: v, Severity: rules.SeverityHigh, Project: v,
			Resource: "//compute.googleapis.com/projects/" + v, Evidence: map[string]any{"member": v, "worldRanges": []string{v}}}},
		Skipped: []rules.Skip{{Rule: v, Resource: "//x/" + v, Project: v, Reason: v}},
		Errors:  []inventory.SourceError{{Project: v, Service: v, Resource: v, Message: v}},
		Summary: scan.Summary{Source: v, Findings: 1, Skipped: 1, Errors: 1, CISBenchmark: v},
		Rules:   map[string]*rules.Meta{v: {ID: v, Title: "t", Category: v}},
	}
}

// hostileRun is a run whose every cloud-supplied text is v.
func hostileRun(v string) *engine.Result {
	line := strings.NewReplacer("\n", "", "\r", "").Replace(v) // a diff line holds no line break
	return &engine.Result{RunID: "run", Mode: "apply", Decisions: []engine.Decision{
		{Finding: v, Rule: v, Resource: "//x/" + v, Project: v, Action: engine.ActionReport, Reason: v, Command: "gcloud " + v},
		{Finding: v, Rule: v, Resource: "//x/" + v, Action: engine.ActionPR, Reason: v, PR: &engine.PRProposal{File: v, Address: v,
			Diff: "--- a/" + line + "\n+++ b/" + line + "\n@@ -1 +1 @@\n-" + line + "\n+x\n", Number: 7, Outcome: "opened", Branch: v}},
	}, Summary: engine.RunSummary{Findings: 2, ByAction: map[string]int{engine.ActionReport: 1, engine.ActionPR: 1}}}
}

var colour = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkTerminalSafe asserts that out, written for a terminal, is UTF-8 and has the lines of
// benign (the same report with plain values): no value adds a line, and none carries a
// control character (but the colour codes asked for), a format character such as a
// bidirectional override, or a line or paragraph separator.
func checkTerminalSafe(t *testing.T, what, out, benign string) {
	t.Helper()
	plain := colour.ReplaceAllString(out, "")
	if !utf8.ValidString(out) {
		t.Fatalf("%s: not UTF-8:\n%q", what, out)
	}
	for _, r := range plain {
		if r != '\n' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)) {
			t.Fatalf("%s: the character %U reaches the terminal:\n%q", what, r, out)
		}
	}
	if got, want := strings.Count(out, "\n"), strings.Count(benign, "\n"); got != want {
		t.Fatalf("%s: %d lines, %d with plain values:\n%s", what, got, want, out)
	}
}

// FuzzWriteReport: whatever text the cloud supplies, the tables of `scan` and `run` keep
// their lines and carry nothing a terminal would act on, and the JSON and SARIF reports
// are valid JSON.
func FuzzWriteReport(f *testing.F) {
	for _, s := range []string{"plain", "two\nlines\r\n", "\x1b[2J\x1b]0;title\x07", "\u009b31m\u0085", "\u202egnp.exe\u2028x\u200b",
		"tab\there", "\xff\xfe", strings.Repeat("é", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, color := range []bool{false, true} {
			opts := Options{Color: color}
			var out, benign bytes.Buffer
			if err := Write(&out, "table", hostileReport(v), opts); err != nil {
				t.Fatal(err)
			}
			if err := Write(&benign, "table", hostileReport("x"), opts); err != nil {
				t.Fatal(err)
			}
			checkTerminalSafe(t, "scan table", out.String(), benign.String())
			out.Reset()
			benign.Reset()
			if err := WriteRun(&out, "table", hostileRun(v), opts); err != nil {
				t.Fatal(err)
			}
			if err := WriteRun(&benign, "table", hostileRun("x"), opts); err != nil {
				t.Fatal(err)
			}
			checkTerminalSafe(t, "run table", out.String(), benign.String())
		}
		for _, format := range []string{"json", "sarif"} {
			var out bytes.Buffer
			if err := Write(&out, format, hostileReport(v), Options{}); err != nil || !json.Valid(out.Bytes()) {
				t.Fatalf("%s: %v\n%s", format, err, out.Bytes())
			}
		}
	})
}
