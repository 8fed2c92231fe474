package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/report"
)

type runFlags struct {
	projects   []string
	sandbox    string
	apply      bool
	maxChanges int
	format     string
	iac        string
	org        string
	folders    []string
	exportTo   string
	shard      string
	qps        []string
}

func newRunCmd(g *globals, s streams) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Scan, decide per finding, and fix what may be fixed (a dry run unless --apply)",
		Long: `Scan the scope, decide for every finding (exempt, fix, report, refused, already-fixed,
skipped-limit) and, with --apply (or mode: apply in the configuration), fix what a playbook
may fix unattended, at most maxChanges per run. Without --apply nothing changes: the run
prints the plan. Every run, decision and change is recorded in the ledger.`,
		Example: `  zerodrift run --sandbox                 # what would be fixed, changing nothing
  zerodrift run --sandbox --apply
  zerodrift run --config zerodrift.yaml --apply --max-changes 2 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains([]string{"table", "json"}, f.format) {
				return fmt.Errorf("--format: %q is not table or json", f.format)
			}
			ctx := cmd.Context()
			rt, err := g.newRuntime(ctx, s, runtimeOptions{sandbox: f.sandbox, projects: f.projects,
				org: f.org, folders: f.folders, exportTo: f.exportTo, shard: f.shard, qps: f.qps, routeIaC: true, iacDir: f.iac})
			if err != nil {
				return err
			}
			defer rt.Close()
			src, err := rt.source(ctx)
			if err != nil {
				return err
			}
			maxChanges, err := shardBudget(f.maxChanges, *rt.cfg.MaxChanges, f.shard)
			if err != nil {
				return err
			}
			res, err := rt.engine.Run(ctx, src, engine.RunOptions{Apply: f.apply, MaxChanges: maxChanges})
			if res != nil {
				if werr := report.WriteRun(s.out, f.format, res, report.Options{Color: isTerminal(s.out), Version: version}); werr != nil && err == nil {
					err = werr
				}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.projects, "project", nil, "project ID to run on (repeatable; default scope.projects)")
	fl.StringVar(&f.sandbox, "sandbox", "", "run against the built-in sandbox, or --sandbox=DIR for a scenario folder")
	fl.Lookup("sandbox").NoOptDefVal = builtinScenario
	fl.BoolVar(&f.apply, "apply", false, "make live changes (otherwise a dry run that changes nothing)")
	fl.IntVar(&f.maxChanges, "max-changes", -1, "live changes at most in this run (default: maxChanges in the configuration); with --shard, shared out between the shards")
	fl.StringVar(&f.format, "format", "table", "output format: table or json")
	fl.StringVar(&f.org, "organization", "", "read the whole organization (its number) through Cloud Asset Inventory")
	fl.StringArrayVar(&f.folders, "folder", nil, "read everything under this folder (its number) through Cloud Asset Inventory (repeatable)")
	fl.StringVar(&f.exportTo, "export-to", "", exportToUsage)
	fl.StringVar(&f.shard, "shard", "", "read only shard i of n of the projects (0-based i/n): n processes read each project once")
	fl.StringArrayVar(&f.qps, "qps", nil, "requests a second to a service, e.g. cloudresourcemanager=100 (repeatable)")
	fl.StringVar(&f.iac, "iac", "", "a local Terraform tree: resources it declares are proposed as code fixes, not fixed live (without github configured)")
	return cmd
}

// shardBudget returns the live changes one run may make: flag when set (0 or more), else
// configured; with --shard i/n, shard i's share of it. The n shards of one scan are n runs,
// and their shares add up to the budget, so that together they make no more live changes
// than one run would (DESIGN invariant 2).
func shardBudget(flag, configured int, shard string) (int, error) {
	budget := configured
	if flag >= 0 {
		budget = flag
	}
	if shard == "" {
		return budget, nil
	}
	i, n, err := inventory.ParseShard(shard)
	if err != nil {
		return 0, fmt.Errorf("--shard: %w", err)
	}
	share := budget / n
	if i < budget%n {
		share++
	}
	return share, nil
}
