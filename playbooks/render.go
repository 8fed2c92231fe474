package playbooks

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// This file renders playbooks for people: the table of `zerodrift playbook list` and the
// page of `zerodrift playbook show NAME`. Text from playbook files is stripped of control
// characters before it reaches the terminal.

// wrapWidth is where prose is wrapped in WriteShow.
const wrapWidth = 92

// WriteList writes the playbooks of s as a table, by name: name, the rules they fix, rank,
// risk, whether they may run unattended, and title; then a one-line count.
func WriteList(w io.Writer, s *Set) error {
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tRULES\tRANK\tRISK\tUNATTENDED\tTITLE")
	builtin := 0
	for _, p := range s.All() {
		if p.Source.Builtin {
			builtin++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.Metadata.Name, strings.Join(p.Rules(), ","),
			p.Spec.Rank, p.Spec.Risk, unattendedText(p, true), oneLine(p.Metadata.Title))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the playbook list: %w", err)
	}
	fmt.Fprintf(bw, "\n%s: %d built-in, %d from playbook folders. `zerodrift playbook show NAME` explains one.\n",
		plural(s.Len(), "playbook"), builtin, s.Len()-builtin)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the playbook list: %w", err)
	}
	return nil
}

// WriteShow writes everything about one playbook: what it fixes and when, its guards,
// actions with their parameters (and the defaults of those left out), risk, effect, rank,
// whether it runs unattended, its Terraform edit, how to run it by hand, and its source file
// with the YAML document as written.
func WriteShow(w io.Writer, p *Playbook) error {
	bw := bufio.NewWriter(w)
	field := func(name, value string) { fmt.Fprintf(bw, "%-12s %s\n", name+":", value) }

	field("Name", p.Metadata.Name)
	field("Title", oneLine(p.Metadata.Title))
	src := fmt.Sprintf("%s:%d", p.Source.File, p.Source.Line)
	if p.Source.Builtin {
		src += " (built-in)"
	}
	field("Source", src)
	field("Risk", string(p.Spec.Risk))
	field("Effect", string(p.Spec.Effect)+": "+effectText(p.Spec.Effect))
	field("Unattended", unattendedText(p, false))
	field("Rank", fmt.Sprintf("%d (when several playbooks fix a finding, the lowest rank is preferred)", p.Spec.Rank))

	if d := strings.TrimSpace(p.Metadata.Description); d != "" {
		fmt.Fprintln(bw, "\nDescription:")
		writeWrapped(bw, "  ", d)
	}

	fmt.Fprintln(bw, "\nFixes:")
	for _, f := range p.Spec.Fixes {
		fmt.Fprintf(bw, "  - %s%s\n", f.Rule, whenText(f.When))
	}

	fmt.Fprintln(bw, "\nPreconditions (all must hold before any action runs):")
	if len(p.Spec.Preconditions) == 0 {
		fmt.Fprintln(bw, "  none besides the engine's own: exemptions, a fresh re-read of the resource")
	}
	for _, name := range p.Spec.Preconditions {
		fmt.Fprintf(bw, "  - %s\n", name)
		if pre, ok := LookupPrecondition(name); ok {
			writeWrapped(bw, "      ", pre.Description)
		}
	}

	fmt.Fprintln(bw, "\nActions (in order; each is snapshotted first and can be rolled back):")
	for i, s := range p.Spec.Actions {
		fmt.Fprintf(bw, "  %d. %s\n", i+1, s.Action)
		spec, ok := LookupAction(s.Action)
		if !ok {
			continue
		}
		writeWrapped(bw, "       ", spec.Description)
		for _, ps := range spec.Params {
			v, given := s.Params[ps.Name]
			if given {
				fmt.Fprintf(bw, "       %s: %s\n", ps.Name, oneLine(valueText(v)))
			} else {
				fmt.Fprintf(bw, "       %s: not set, so %s\n", ps.Name, ps.Default)
			}
		}
	}

	fmt.Fprintln(bw, "\nTerraform (how a pull request writes the same fix):")
	if t := p.Spec.Terraform; t == nil {
		fmt.Fprintln(bw, "  none: this fix has no Terraform equivalent")
	} else {
		fmt.Fprintf(bw, "  edit:           %s\n", t.Edit)
		fmt.Fprintf(bw, "  resource types: %s\n", strings.Join(t.ResourceTypes, ", "))
		desc := t.Description
		if e, ok := LookupTerraformEdit(t.Edit); ok && strings.TrimSpace(desc) == "" {
			desc = e.Description
		}
		writeWrapped(bw, "  ", desc)
	}

	fmt.Fprintln(bw, "\nRun it by hand (a dry run unless --apply):")
	fmt.Fprintf(bw, "  zerodrift playbook run %s --target RESOURCE\n", p.Metadata.Name)
	fmt.Fprintf(bw, "  zerodrift playbook run %s --target RESOURCE --apply\n", p.Metadata.Name)

	fmt.Fprintf(bw, "\nYAML (%s):\n", p.Source.File)
	for _, l := range strings.Split(strings.TrimRight(p.Source.Text, "\n"), "\n") {
		fmt.Fprintf(bw, "  | %s\n", strings.TrimRightFunc(clean(l, false), unicode.IsSpace))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing playbook %s: %w", p.Metadata.Name, err)
	}
	return nil
}

func unattendedText(p *Playbook, short bool) string {
	v := yesNo(p.Spec.Unattended)
	if p.DeclaredUnattended == nil {
		return v
	}
	if short {
		return v + " (config)"
	}
	return fmt.Sprintf("%s (set by the configuration; the playbook file says %s)", v, yesNo(*p.DeclaredUnattended))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func effectText(e Effect) string {
	switch e {
	case EffectResolves:
		return "the finding is fixed; the engine verifies by re-running the rule"
	case EffectContains:
		return "the exposure is blocked by another resource; the finding stays open"
	case EffectObserves:
		return "nothing is blocked, the drift is made visible; the finding stays open"
	}
	return ""
}

func whenText(w *When) string {
	if w == nil || (len(w.Categories) == 0 && len(w.Ports) == 0) {
		return " (every finding)"
	}
	var conds []string
	if len(w.Categories) > 0 {
		conds = append(conds, "the category is "+orList(w.Categories, "or"))
	}
	if len(w.Ports) > 0 {
		conds = append(conds, "it exposes port "+orList(w.Ports, "or"))
	}
	return ", when " + strings.Join(conds, " and ")
}

func valueText(v any) string {
	if l, ok := v.([]string); ok {
		return "[" + strings.Join(l, ", ") + "]"
	}
	return fmt.Sprint(v)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// oneLine cleans s for one line of output: control characters and newlines become spaces.
func oneLine(s string) string { return strings.TrimSpace(clean(s, true)) }

// clean replaces control characters (and, with newlines, line breaks) by spaces, so that
// text from a playbook file cannot move the cursor or colour a terminal.
func clean(s string, newlines bool) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r == '\n' && !newlines) {
			return r
		}
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// writeWrapped writes text word-wrapped at wrapWidth, each line after indent, keeping the
// text's own line breaks.
func writeWrapped(w io.Writer, indent, text string) {
	for _, para := range strings.Split(clean(strings.TrimSpace(text), false), "\n") {
		line := indent
		for _, word := range strings.Fields(para) {
			if len(line) > len(indent) && len(line)+1+len(word) > wrapWidth {
				fmt.Fprintln(w, line)
				line = indent
			}
			if len(line) > len(indent) {
				line += " "
			}
			line += word
		}
		fmt.Fprintln(w, line)
	}
}
