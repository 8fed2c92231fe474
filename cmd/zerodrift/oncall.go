package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/ledger"
	"github.com/zerodrift/zerodrift/remediators"
	"github.com/zerodrift/zerodrift/rules"
)

// confirm asks on a terminal; elsewhere an unconfirmed change is refused.
func confirm(s streams, yes bool, question string) error {
	if yes {
		return nil
	}
	f, ok := s.in.(*os.File)
	if !ok || !isTerminal(s.out) || !term.IsTerminal(int(f.Fd())) {
		return errors.New("not on a terminal: add --yes to confirm the change")
	}
	fmt.Fprintf(s.out, "%s [y/N] ", question)
	answer, err := bufio.NewReader(s.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errors.New("not confirmed: nothing was changed")
	}
	return nil
}

// writePlan prints a change's before/after for review.
func writePlan(w io.Writer, p *remediators.Plan) {
	fmt.Fprintf(w, "Plan: %s on %s\n  %s\n", p.Action, p.Resource, p.Summary)
	fmt.Fprintf(w, "  before: %s\n  after:  %s\n", compactJSON(p.Before), compactJSON(p.After))
	for _, c := range p.Creates {
		fmt.Fprintf(w, "  creates: %s\n", c)
	}
	for _, d := range p.Deletes {
		fmt.Fprintf(w, "  deletes: %s\n", d)
	}
}

func compactJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

func newPlaybookRunCmd(g *globals, s streams) *cobra.Command {
	var target, sandboxDir string
	var projects []string
	var apply, yes bool
	cmd := &cobra.Command{
		Use:   "run NAME --target RESOURCE|FINDING_ID",
		Short: "Run a playbook on one resource or finding: plan, then (with --apply) fix and verify",
		Long: `On-call's entry point. The target is a finding ID from scan or run output (it names one
binding, key or firewall exactly) or a full resource name. Without --apply it prints the
plan and changes nothing; with it, it asks for confirmation on a terminal (or takes --yes),
then acts, verifies, and prints the change ID to roll back.`,
		Example: `  zerodrift playbook run firewall-restrict-sources --target //compute.googleapis.com/projects/p/global/firewalls/allow-ssh
  zerodrift playbook run iam-remove-admin-binding --target 4c861597b31fa4f8 --apply --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if target == "" {
				return errors.New("--target is required: a finding ID or a full resource name")
			}
			rt, err := g.newRuntime(ctx, s, runtimeOptions{sandbox: sandboxDir, projects: projects})
			if err != nil {
				return err
			}
			defer rt.Close()
			p, ok := rt.playbooks.Get(args[0])
			if !ok {
				return fmt.Errorf("no playbook is named %q: see zerodrift playbook list", args[0])
			}
			fix := engine.FixOf(p)
			matches := func(f *rules.Finding) bool { return p.Matches(*f) }
			var f *rules.Finding
			if engine.IsFindingID(target) {
				src, err := rt.source(ctx)
				if err != nil {
					return err
				}
				f, err = rt.engine.Target(ctx, target, fix, matches, src)
				if err != nil {
					return err
				}
			} else if f, err = rt.engine.Target(ctx, target, fix, matches, nil); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "Finding %s: %s on %s (%s)\n", f.ID, f.Rule, f.Resource, f.Category)
			plan, err := rt.engine.Plan(ctx, f, fix)
			var refused *remediators.RefusedError
			switch {
			case errors.Is(err, remediators.ErrNothingToDo):
				fmt.Fprintln(s.out, "Nothing to do: the live resource already complies.")
				return nil
			case errors.As(err, &refused):
				return err
			case err != nil:
				return fmt.Errorf("planning: %w", err)
			}
			writePlan(s.out, plan)
			if !apply {
				fmt.Fprintln(s.out, "Dry run: nothing was changed. Add --apply to make this change.")
				return nil
			}
			if err := confirm(s, yes, "Apply this change?"); err != nil {
				return err
			}
			d, err := rt.engine.Fix(ctx, f, fix)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "%s: %s\n", d.Action, d.Reason)
			if d.ChangeID != "" {
				fmt.Fprintf(s.out, "Change %s. Roll back with: zerodrift rollback %s --apply\n", d.ChangeID, d.ChangeID)
			}
			if d.Action != engine.ActionFix && d.Action != engine.ActionAlreadyFixed {
				return exitError{code: exitFailed}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&target, "target", "", "finding ID or full resource name")
	fl.BoolVar(&apply, "apply", false, "make the change (otherwise print the plan)")
	fl.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fl.StringVar(&sandboxDir, "sandbox", "", "act on the built-in sandbox, or --sandbox=DIR")
	fl.Lookup("sandbox").NoOptDefVal = builtinScenario
	fl.StringArrayVar(&projects, "project", nil, "projects to scan when --target is a finding ID (default scope.projects)")
	return cmd
}

func newHistoryCmd(g *globals, s streams) *cobra.Command {
	var since, resource, format string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the live changes recorded in the ledger, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"table", "json"}, format) {
				return fmt.Errorf("--format: %q is not table or json", format)
			}
			f := ledger.ChangeFilter{Resource: resource}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			store, err := openLedger(cmd.Context(), cfg, false)
			if err != nil {
				return err
			}
			defer store.Close()
			changes, err := store.Changes(cmd.Context(), f)
			if err != nil {
				return fmt.Errorf("reading the ledger: %w", err)
			}
			return writeHistory(s.out, format, changes)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only changes since this date (2026-11-01), time (RFC 3339) or duration ago (24h)")
	cmd.Flags().StringVar(&resource, "resource", "", "only changes to this full resource name")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// parseSince reads --since: a date, an RFC 3339 time, or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since: %q is not a date (2026-11-01), an RFC 3339 time or a duration (24h)", s)
}

// historyChange is the JSON contract of history: {"changes":[{id, runId, resource, playbook,
// action, status, at, finding}]}.
type historyChange struct {
	ID       string    `json:"id"`
	RunID    string    `json:"runId"`
	Resource string    `json:"resource"`
	Playbook string    `json:"playbook"`
	Action   string    `json:"action"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Finding  string    `json:"finding"`
	Detail   string    `json:"detail,omitempty"`
}

func writeHistory(w io.Writer, format string, changes []ledger.Change) error {
	out := make([]historyChange, 0, len(changes))
	for _, c := range changes {
		out = append(out, historyChange{ID: c.ID, RunID: c.RunID, Resource: c.Resource, Playbook: c.Playbook, Action: c.Action,
			Status: string(c.Status), At: c.At, Finding: c.Finding, Detail: c.Detail})
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"changes": out})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tAT\tSTATUS\tPLAYBOOK\tRESOURCE\tFINDING")
	for _, c := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.At.Format(time.RFC3339), c.Status, c.Playbook, c.Resource, c.Finding)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d changes\n", len(out))
	return err
}

func newRollbackCmd(g *globals, s streams) *cobra.Command {
	var apply, force, yes bool
	cmd := &cobra.Command{
		Use:   "rollback CHANGE_ID",
		Short: "Restore a resource from the snapshot taken before a change (a dry run unless --apply)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			rt, err := g.newRuntime(ctx, s, runtimeOptions{})
			if err != nil {
				return err
			}
			defer rt.Close()
			rp, err := rt.engine.PlanRollback(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "Rollback of %s: %s\n", rp.Change.ID, rp.Summary)
			if rp.Drifted != "" {
				fmt.Fprintf(s.out, "Warning: %s.\n", rp.Drifted)
			}
			if !apply {
				fmt.Fprintln(s.out, "Dry run: nothing was changed. Add --apply to roll back.")
				return nil
			}
			if rp.Drifted != "" && !force {
				return fmt.Errorf("refusing to roll back change %s: %s; --force rolls back anyway", rp.Change.ID, rp.Drifted)
			}
			if err := confirm(s, yes, "Roll back this change?"); err != nil {
				return err
			}
			if _, err := rt.engine.Rollback(ctx, args[0], force); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "Rolled back: %s is restored from its snapshot; change %s is rolled-back.\n", rp.Change.Resource, rp.Change.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&apply, "apply", false, "restore the resource (otherwise say what would be restored)")
	cmd.Flags().BoolVar(&force, "force", false, "roll back even when the resource changed since zerodrift's change")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
