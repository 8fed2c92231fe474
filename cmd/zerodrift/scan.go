package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/zerodrift/zerodrift/engine"
	"github.com/zerodrift/zerodrift/iac"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/report"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

type scanFlags struct {
	projects    []string
	assets      string
	sandbox     string
	format      string
	output      string
	failOn      string
	skipInvalid bool
	iac         string
	org         string
	folders     []string
	exportTo    string
	shard       string
	qps         []string
}

func newScanCmd(g *globals, s streams) *cobra.Command {
	f := &scanFlags{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find drift from the zero-trust baseline and report it",
		Long: `Scan projects through the live GCP APIs (--project, or scope.projects in the
configuration), a Cloud Asset Inventory export (--assets FILE, - for standard input), or
the built-in sandbox (--sandbox, or --sandbox=DIR for a scenario folder).

Exit codes: 0 done and nothing at or above --fail-on; 3 findings at or above --fail-on;
1 could not run.`,
		Example: `  zerodrift scan --sandbox
  zerodrift scan --project prod-1 --project prod-2 --format sarif --output zerodrift.sarif
  zerodrift scan --organization 123456789012 --export-to gs://acme-zerodrift-exports/scans
  gcloud asset export ... && zerodrift scan --assets export.json --fail-on high`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runScan(cmd, g, s, f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.projects, "project", nil, "project ID to scan live (repeatable)")
	fl.StringVar(&f.assets, "assets", "", "Cloud Asset Inventory export to scan (JSON lines or JSON array; - for stdin)")
	fl.StringVar(&f.sandbox, "sandbox", "", "scan the built-in sandbox, or --sandbox=DIR for a scenario folder")
	fl.Lookup("sandbox").NoOptDefVal = builtinScenario
	fl.StringVar(&f.format, "format", "table", "output format: "+strings.Join(report.Formats, ", "))
	fl.StringVar(&f.output, "output", "", "write the report to this file instead of standard output")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 3 when a finding is at or above this severity: low, medium, high, critical")
	fl.BoolVar(&f.skipInvalid, "skip-invalid", false, "skip (and count) invalid records of --assets instead of failing")
	fl.StringVar(&f.iac, "iac", "", "a local Terraform tree: SARIF results on resources it declares point at their code")
	fl.StringVar(&f.org, "organization", "", "read the whole organization (its number) through Cloud Asset Inventory")
	fl.StringArrayVar(&f.folders, "folder", nil, "read everything under this folder (its number) through Cloud Asset Inventory (repeatable)")
	fl.StringVar(&f.exportTo, "export-to", "", exportToUsage)
	fl.StringVar(&f.shard, "shard", "", "read only shard i of n of the projects (0-based i/n, e.g. $(JOB_COMPLETION_INDEX)/8): n processes read each project once")
	fl.StringArrayVar(&f.qps, "qps", nil, "requests a second to a service, e.g. cloudresourcemanager=100 (repeatable; default gcp.qps, then built-in limits)")
	return cmd
}

func runScan(cmd *cobra.Command, g *globals, s streams, f *scanFlags) error {
	ctx := cmd.Context()
	if !slices.Contains(report.Formats, f.format) {
		return fmt.Errorf("--format: %q is not one of %s", f.format, strings.Join(report.Formats, ", "))
	}
	failOn := rules.SeverityUnknown
	if f.failOn != "" {
		sev, err := rules.ParseSeverity(f.failOn)
		if err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
		failOn = sev
	}
	if f.assets != "" && (f.sandbox != "" || len(f.projects) > 0 || f.org != "" || len(f.folders) > 0 || f.exportTo != "") {
		return errors.New("--assets reads an export: it cannot be combined with --sandbox, --project, --organization, --folder or --export-to")
	}
	if len(f.projects) > 0 && (f.org != "" || len(f.folders) > 0) {
		return errors.New("--project reads projects one by one; --organization and --folder read through Cloud Asset Inventory: give one or the other")
	}
	log, err := g.logger(s)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	now, err := g.clock()
	if err != nil {
		return err
	}
	env, err := cfg.Env(now)
	if err != nil {
		return err
	}

	var src inventory.Source
	var iacFS fs.FS
	if f.iac != "" {
		iacFS = os.DirFS(f.iac)
	}
	switch {
	case f.assets != "":
		r, name, closeFn, err := openAssets(f.assets, s.in)
		if err != nil {
			return err
		}
		defer closeFn()
		src = &inventory.ExportSource{Name: name, R: r, SkipInvalid: f.skipInvalid}
	default:
		scope, err := newLiveScope(cfg, f.sandbox, f.projects)
		if err != nil {
			return err
		}
		defer scope.Close()
		if err := scope.readOrgWide(f.org, f.folders); err != nil {
			return err
		}
		if err := scope.exportTo(f.exportTo); err != nil {
			return err
		}
		if err := scope.useShard(f.shard); err != nil {
			return err
		}
		if err := scope.useQPS(cfg.GCP.QPS, f.qps); err != nil {
			return err
		}
		progress := inventory.NewProgressReporter(s.err, log, inventory.ProgressOptions{})
		defer progress.Close()
		scope.live.Progress = progress.Projects
		if scope.sandbox != nil {
			log.Info("scanning the sandbox", zap.String("url", scope.sandbox.URL()))
			if iacFS == nil {
				iacFS = scope.scenario.IaC
			}
		}
		live, closeLive, err := scope.source(ctx, log)
		if err != nil {
			return err
		}
		defer closeLive()
		src = live
	}

	rep, err := scan.Run(ctx, src, scan.Options{Rules: cfg.Rules(), Env: env, CISVersion: cfg.Baseline.CISVersion,
		InScope: engine.InScope(cfg.Scope)})
	if err != nil {
		return err
	}
	out, color := s.out, isTerminal(s.out)
	if f.output != "" {
		file, err := os.Create(f.output)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer file.Close()
		out, color = file, false
	}
	declared, err := declaredIn(iacFS, cfg.IaC.Roots, rep.Findings, log)
	if err != nil {
		return err
	}
	if err := report.Write(out, f.format, rep, report.Options{Color: color, Version: version, Declared: declared}); err != nil {
		return err
	}
	if c, ok := out.(io.Closer); ok && f.output != "" {
		if err := c.Close(); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	if failOn != rules.SeverityUnknown {
		if n := rep.AtOrAbove(failOn); n > 0 {
			fmt.Fprintf(s.err, "zerodrift: %d findings at or above %s\n", n, failOn)
			return exitError{code: exitFindings}
		}
	}
	return nil
}

// openAssets opens --assets: a file, or standard input for "-".
func openAssets(path string, stdin io.Reader) (io.Reader, string, func(), error) {
	if path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--assets: %w", err)
	}
	return f, path, func() { _ = f.Close() }, nil
}

// declaredIn maps finding IDs to the Terraform in fsys that declares what drifts.
func declaredIn(fsys fs.FS, roots []string, findings []rules.Finding, log *zap.Logger) (map[string]report.FileLine, error) {
	if fsys == nil {
		return nil, nil
	}
	if len(roots) == 0 {
		roots = []string{"."}
	}
	ix, err := iac.Load(fsys, roots)
	if err != nil {
		return nil, fmt.Errorf("--iac: %w", err)
	}
	for _, p := range ix.Problems {
		log.Warn("Terraform the index could not read", zap.String("problem", p.String()))
	}
	out := map[string]report.FileLine{}
	for id, m := range engine.Declared(ix, findings) {
		out[id] = report.FileLine{File: m.File, Line: m.Line}
	}
	return out, nil
}
