package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/rules"
)

// WriteRun renders the outcome of `zerodrift run` as a table or as JSON (the contract
// {"runId", "findings", "decisions", "summary"}).
func WriteRun(w io.Writer, format string, r *engine.Result, opts Options) error {
	switch format {
	case "json":
		out := *r
		if out.Findings == nil {
			out.Findings = []rules.Finding{}
		}
		if out.Decisions == nil {
			out.Decisions = []engine.Decision{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("writing the JSON run report: %w", err)
		}
		return nil
	case "table", "":
		return writeRunTable(w, r, opts)
	default:
		return fmt.Errorf("unknown format %q: want table or json", format)
	}
}

var actionColor = map[string]string{
	engine.ActionFix: "\x1b[32m", engine.ActionRefused: "\x1b[31m", engine.ActionSkippedLimit: "\x1b[33m",
	engine.ActionExempt: "\x1b[36m", engine.ActionAlreadyFixed: "\x1b[32m",
}

func writeRunTable(w io.Writer, r *engine.Result, opts Options) error {
	bw := bufio.NewWriter(w)
	mode := "dry run: nothing was changed (add --apply to fix)"
	if r.Mode == "apply" {
		mode = "apply"
	}
	fmt.Fprintf(bw, "Run %s (%s)\n\n", r.RunID, mode)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tRULE\tRESOURCE\tFINDING\tREASON")
	for _, d := range r.Decisions {
		action := d.Action
		if opts.Color {
			action = actionColor[d.Action] + fmt.Sprintf("%-13s", action) + colorReset
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", action, oneLine(d.Rule), oneLine(shortResource(d.Resource)), oneLine(d.Finding), oneLine(d.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var prs []string
	for _, d := range r.Decisions {
		if d.PR == nil || (d.Action != engine.ActionPR && d.PR.Outcome == "") {
			continue
		}
		head := fmt.Sprintf("%s %s:%d (%s)", shortResource(d.Resource), d.PR.File, d.PR.Line, d.PR.Address)
		if d.PR.Number > 0 {
			head = fmt.Sprintf("#%d %s, branch %s: %s", d.PR.Number, d.PR.Outcome, d.PR.Branch, head)
		} else {
			head = "would open: " + head
		}
		prs = append(prs, "  "+oneLine(head)+"\n"+indent(d.PR.Diff, "    "))
	}
	if len(prs) > 0 {
		fmt.Fprintf(bw, "\nPull requests on the IaC repository:\n%s", strings.Join(prs, ""))
	}
	var commands []string
	for _, d := range r.Decisions {
		if d.Action == engine.ActionReport && d.Command != "" {
			commands = append(commands, "  "+oneLine(d.Command))
		}
	}
	if len(commands) > 0 {
		fmt.Fprintf(bw, "\nFor on-call, by hand (review each plan first):\n%s\n", strings.Join(commands, "\n"))
	}
	actions := make([]string, 0, len(r.Summary.ByAction))
	for a, n := range r.Summary.ByAction {
		actions = append(actions, fmt.Sprintf("%d %s", n, a))
	}
	sort.Strings(actions)
	fmt.Fprintf(bw, "\n%d findings: %s. %d live changes (max %d)%s.\n", r.Summary.Findings, strings.Join(actions, ", "),
		r.Summary.Changes, r.Summary.MaxChanges, pausedNote(r.Summary.Paused))
	return bw.Flush()
}

// indent prefixes every line of a diff, keeping the terminal safe from control characters.
func indent(text, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(prefix + oneLine(l) + "\n")
	}
	return b.String()
}

func pausedNote(paused bool) string {
	if paused {
		return "; paused by configuration"
	}
	return ""
}
