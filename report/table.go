package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

var severityColor = map[rules.Severity]string{
	rules.SeverityCritical: "\x1b[1;31m",
	rules.SeverityHigh:     "\x1b[31m",
	rules.SeverityMedium:   "\x1b[33m",
	rules.SeverityLow:      "\x1b[36m",
}

const colorReset = "\x1b[0m"

// writeTable writes findings grouped by project, most severe first, then what was skipped
// and what could not be read, then a one-line summary.
func writeTable(w io.Writer, r *scan.Report, opts Options) error {
	bw := bufio.NewWriter(w)
	groups := map[string][]rules.Finding{}
	var order []string
	for _, f := range r.Findings {
		p := f.Project
		if p == "" {
			p = "(organization and folders)"
		}
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = append(groups[p], f)
	}
	sort.Strings(order)
	for _, p := range order {
		fmt.Fprintf(bw, "%s\n", oneLine(p))
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SEVERITY\tRULE\tCATEGORY\tRESOURCE\tFINDING\tDETAIL")
		for _, f := range groups[p] {
			sev := f.Severity.String()
			if opts.Color {
				// The colour codes are zero-width on screen but not to tabwriter: pad first.
				sev = severityColor[f.Severity] + fmt.Sprintf("%-8s", sev) + colorReset
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", sev, oneLine(f.Rule), oneLine(f.Category), oneLine(shortResource(f.Resource)),
				oneLine(f.ID), oneLine(detail(f)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(bw)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(bw, "Skipped (%d)\n", len(r.Skipped))
		for _, s := range r.Skipped {
			fmt.Fprintf(bw, "  %s  %s: %s\n", oneLine(s.Rule), oneLine(shortResource(s.Resource)), oneLine(s.Reason))
		}
		fmt.Fprintln(bw)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(bw, "Could not read (%d)\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(bw, "  %s\n", oneLine(e.Error()))
		}
		fmt.Fprintln(bw)
	}
	sevs := make([]string, 0, len(r.Summary.BySeverity))
	for _, s := range []rules.Severity{rules.SeverityCritical, rules.SeverityHigh, rules.SeverityMedium, rules.SeverityLow} {
		if n := r.Summary.BySeverity[s.String()]; n > 0 {
			sevs = append(sevs, fmt.Sprintf("%d %s", n, strings.ToLower(s.String())))
		}
	}
	breakdown := ""
	if len(sevs) > 0 {
		breakdown = " (" + strings.Join(sevs, ", ") + ")"
	}
	fmt.Fprintf(bw, "%d findings%s in %d assets from %s; %d skipped, %d could not be read. CIS benchmark %s.\n",
		r.Summary.Findings, breakdown, r.Summary.Assets, oneLine(r.Summary.Source), r.Summary.Skipped, r.Summary.Errors, oneLine(r.Summary.CISBenchmark))
	return bw.Flush()
}

// shortResource drops the API host from a full resource name for the table.
func shortResource(name string) string {
	name = strings.TrimPrefix(name, "//")
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// detail summarises a finding's evidence in a few words for the table.
func detail(f rules.Finding) string {
	var parts []string
	for _, k := range []string{"member", "role", "worldRanges", "exposed", "accountKind", "ageDays", "condition"} {
		if v, ok := f.Evidence[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, compact(v)))
		}
	}
	if len(parts) == 0 {
		keys := make([]string, 0, len(f.Evidence))
		for k := range f.Evidence {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%v", k, compact(f.Evidence[k])))
		}
	}
	s := strings.Join(parts, " ")
	if len(s) > 120 {
		cut := 117
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func compact(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []string:
		return strings.Join(t, ",")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// oneLine keeps cloud-supplied text from breaking the table, or taking over the terminal:
// control characters (C0, DEL and C1, whose CSI starts escape sequences as ESC [ does),
// format characters (bidirectional overrides, zero-width characters) and line and
// paragraph separators become spaces, and invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
}
