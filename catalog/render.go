package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/zerodrift/zerodrift/rules"
)

// WriteJSON writes the entries as an indented JSON array ([] when there are none).
func WriteJSON(w io.Writer, es []Entry) error {
	if es == nil {
		es = []Entry{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(es); err != nil {
		return fmt.Errorf("writing the rule catalogue: %w", err)
	}
	return nil
}

// cisColumns splits the known benchmark versions into the markdown table's CIS columns:
// every version but the newest (the numbering zerodrift's users have known longest), and
// the newest.
func cisColumns() [][]string {
	n := len(rules.CISVersions)
	cols := [][]string{rules.CISVersions[:n-1], rules.CISVersions[n-1:]}
	return slices.DeleteFunc(cols, func(c []string) bool { return len(c) == 0 })
}

// WriteMarkdown writes the entries as the README's GitHub-flavoured Markdown table:
// | ID | What it flags | SCC category | CIS v1.1–4.0 | CIS v5.0 | Severity | Playbooks |.
// A CIS cell that spans versions in which the controls differ lists them per version.
// Unattended playbooks are marked; cells are kept to one line, pipes escaped.
func WriteMarkdown(w io.Writer, es []Entry) error {
	bw := bufio.NewWriter(w)
	header := []string{"ID", "What it flags", "SCC category"}
	for _, col := range cisColumns() {
		h := "CIS v" + col[0]
		if len(col) > 1 {
			h += "–" + col[len(col)-1]
		}
		header = append(header, h)
	}
	header = append(header, "Severity", "Playbooks")
	writeRow(bw, header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	fmt.Fprintf(bw, "|%s|\n", strings.Join(sep, "|"))
	for i := range es {
		e := &es[i]
		cats := make([]string, len(e.Categories))
		for j, c := range e.Categories {
			cats[j] = codeSpan(c)
		}
		row := []string{codeSpan(e.ID), dashIfEmpty(strings.TrimSpace(e.flagsText())), dashIfEmpty(strings.Join(cats, ", "))}
		for _, col := range cisColumns() {
			row = append(row, cisText(e.CIS, col))
		}
		pbs := make([]string, len(e.Playbooks))
		for j, p := range e.Playbooks {
			pbs[j] = codeSpan(p.Name) + playbookNote(p)
		}
		row = append(row, e.severityText(), dashIfEmpty(strings.Join(pbs, ", ")))
		writeRow(bw, row)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the rule catalogue: %w", err)
	}
	return nil
}

func writeRow(w io.Writer, cells []string) {
	escaped := make([]string, len(cells))
	for i, c := range cells {
		escaped[i] = markdownCell(c)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(escaped, " | "))
}

// markdownCell keeps text to one table cell: line breaks and other control characters
// become spaces and pipes are escaped (GitHub reads \| as a pipe, even in code spans).
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
	return strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`)
}

// codeSpan writes s as a Markdown code span, with a fence longer than any run of
// backticks in it.
func codeSpan(s string) string {
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
	if longest > 0 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// playbookNote writes what narrows a playbook and whether it runs unattended:
// " (SSH, RDP; unattended)", " (unattended)", or "".
func playbookNote(p Playbook) string {
	var notes []string
	if p.When != "" {
		notes = append(notes, p.When)
	}
	if p.Unattended {
		notes = append(notes, "unattended")
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// maxCategoryLines is how many categories a table row lists before it counts the rest.
const maxCategoryLines = 4

// WriteTable writes the entries as an aligned table for a terminal: ID, status, severity,
// SCC categories, CIS controls and playbooks, a row per rule spanning as many lines as its
// longest cell, then a one-line summary. cisVersion selects one benchmark version's
// controls; "" shows every version's, compactly. Text is stripped of control characters.
func WriteTable(w io.Writer, es []Entry, cisVersion string) error {
	cisHeader := "CIS"
	if cisVersion != "" {
		if !slices.Contains(rules.CISVersions, cisVersion) {
			return fmt.Errorf("%q is not a CIS benchmark version zerodrift knows: want one of %s",
				cisVersion, strings.Join(rules.CISVersions, ", "))
		}
		cisHeader = "CIS v" + cisVersion
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tSTATUS\tSEVERITY\tCATEGORY\t%s\tPLAYBOOKS\n", cisHeader)
	disabled, withPlaybook, unattended := 0, 0, 0
	for i := range es {
		e := &es[i]
		status := "enabled"
		if e.Disabled {
			status, disabled = "disabled", disabled+1
		}
		if len(e.Playbooks) > 0 {
			withPlaybook++
		}
		if e.Unattended {
			unattended++
		}
		cols := [][]string{{e.ID}, {status}, splitTopLevel(e.severityText()), categoryLines(e.Categories),
			cisCell(e, cisVersion), playbookLines(e.Playbooks)}
		height := 0
		for _, c := range cols {
			height = max(height, len(c))
		}
		for line := range height {
			cells := make([]string, len(cols))
			for j, c := range cols {
				if line < len(c) {
					cells[j] = oneLine(c[line])
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the rule catalogue: %w", err)
	}
	bw := bufio.NewWriter(w)
	// Continuation lines end in padding for the empty cells: trim it.
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l != "" {
			fmt.Fprintln(bw, strings.TrimRight(l, " \n"))
		}
	}
	summary := plural(len(es), "rule")
	if disabled > 0 {
		summary += fmt.Sprintf(", %d disabled by the configuration", disabled)
	}
	fmt.Fprintf(bw, "\n%s; %d with a playbook, %d with an unattended one. "+
		"`zerodrift rules --format json` adds what each flags, its description and remediation.\n",
		summary, withPlaybook, unattended)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the rule catalogue: %w", err)
	}
	return nil
}

// cisCell lists the entry's controls in version v, or across every version, a run a line.
func cisCell(e *Entry, v string) []string {
	if v != "" {
		return []string{dashIfEmpty(strings.Join(e.CIS[v], ", "))}
	}
	return cisParts(e.CIS, rules.CISVersions)
}

// categoryLines lists categories a line each, at most maxCategoryLines lines.
func categoryLines(cats []string) []string {
	if len(cats) == 0 {
		return []string{"—"}
	}
	if len(cats) <= maxCategoryLines {
		return cats
	}
	n := maxCategoryLines - 1
	return append(slices.Clone(cats[:n]), fmt.Sprintf("+%d more", len(cats)-n))
}

// playbookLines lists playbooks a line each, with their notes.
func playbookLines(pbs []Playbook) []string {
	if len(pbs) == 0 {
		return []string{"—"}
	}
	out := make([]string, len(pbs))
	for i, p := range pbs {
		out[i] = p.Name + playbookNote(p)
	}
	return out
}

// splitTopLevel splits s at the commas outside parentheses: "critical (a, b), high" gives
// "critical (a, b)" and "high".
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// oneLine keeps text from breaking the table or taking over the terminal, as report's
// table does: control characters (C0, DEL, C1), format characters (bidirectional
// overrides, zero-width characters) and line and paragraph separators become spaces, and
// invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
