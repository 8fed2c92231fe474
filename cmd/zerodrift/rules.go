package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zerodrift/zerodrift/catalog"
	"github.com/zerodrift/zerodrift/rules"
)

type rulesFlags struct {
	format     string
	cisVersion string
}

func newRulesCmd(g *globals, s streams) *cobra.Command {
	f := &rulesFlags{}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rules: what each flags, its SCC categories, CIS controls and the playbooks that fix it",
		Long: `List every rule zerodrift knows, in the order it runs them: its severity, the Security
Command Center categories its findings carry, the CIS Google Cloud Foundations Benchmark
controls it checks in each benchmark version, the playbooks that fix its findings (built-in
and from the configuration's playbookDirs; unattended ones marked) and whether the
configuration disables it (baseline.disabledRules).

--format markdown writes the table of README.md's "Rules" section, which is generated from it.`,
		Example: `  zerodrift rules
  zerodrift rules --cis-version 1.3
  zerodrift rules --config zerodrift.yaml --format json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runRules(g, s, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "table", "output format: "+strings.Join(catalog.Formats, ", "))
	fl.StringVar(&f.cisVersion, "cis-version", "", "show the controls of this CIS benchmark version only ("+
		strings.Join(rules.CISVersions, ", ")+"; table format; default every version)")
	return cmd
}

func runRules(g *globals, s streams, f *rulesFlags) error {
	if !slices.Contains(catalog.Formats, f.format) {
		return fmt.Errorf("--format: %q is not one of %s", f.format, strings.Join(catalog.Formats, ", "))
	}
	if f.cisVersion != "" {
		if !slices.Contains(rules.CISVersions, f.cisVersion) {
			return fmt.Errorf("--cis-version: %q is not a CIS benchmark version zerodrift knows: want one of %s",
				f.cisVersion, strings.Join(rules.CISVersions, ", "))
		}
		if f.format != "table" {
			return errors.New("--cis-version selects the CIS column of the table: --format json and markdown list every version")
		}
	}
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	set, err := loadPlaybooks(cfg)
	if err != nil {
		return err
	}
	// Every rule, disabled ones included: the catalogue says which are off.
	es := catalog.Build(rules.Default(), set, cfg.Baseline.DisabledRules)
	switch f.format {
	case "json":
		return catalog.WriteJSON(s.out, es)
	case "markdown":
		return catalog.WriteMarkdown(s.out, es)
	default:
		return catalog.WriteTable(s.out, es, f.cisVersion)
	}
}
