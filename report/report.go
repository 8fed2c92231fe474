// Package report writes a scan report for people (a table) and for machines (JSON, and
// SARIF 2.1.0 for GitHub code scanning).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

// Formats lists the output formats, in the order help text shows them.
var Formats = []string{"table", "json", "sarif"}

// Options control rendering.
type Options struct {
	// Color turns on ANSI colours in the table (callers decide: a terminal, no NO_COLOR).
	Color bool
	// Version is zerodrift's version, written into SARIF.
	Version string
	// Declared maps finding IDs to the Terraform that declares what drifts, so SARIF results
	// point at the code that owns the resource and GitHub annotates it.
	Declared map[string]FileLine
}

// FileLine is a place in the IaC repository.
type FileLine struct {
	File string
	Line int
}

// Write renders r in format to w.
func Write(w io.Writer, format string, r *scan.Report, opts Options) error {
	switch format {
	case "json":
		return writeJSON(w, r)
	case "sarif":
		return writeSARIF(w, r, opts)
	case "table", "":
		return writeTable(w, r, opts)
	default:
		return fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
}

func writeJSON(w io.Writer, r *scan.Report) error {
	out := *r
	// Empty lists are [] rather than null, so scripts need no null checks.
	if out.Findings == nil {
		out.Findings = []rules.Finding{}
	}
	if out.Skipped == nil {
		out.Skipped = []rules.Skip{}
	}
	if out.Errors == nil {
		out.Errors = []inventory.SourceError{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}
