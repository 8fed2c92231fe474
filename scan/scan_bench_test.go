package scan

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/bench/synth"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// BenchmarkScanExport measures an offline scan of a 100k-asset CAI export with the default
// rule set: decode, evaluate, gather the report.
func BenchmarkScanExport(b *testing.B) {
	const n = 100_000
	var export bytes.Buffer
	if err := synth.Write(&export, n, 1); err != nil {
		b.Fatal(err)
	}
	opts := Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}
	b.SetBytes(int64(export.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for b.Loop() {
		rep, err := Run(context.Background(), &inventory.ExportSource{Name: "bench", R: bytes.NewReader(export.Bytes())}, opts)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.Assets != n {
			b.Fatalf("scanned %d assets", rep.Summary.Assets)
		}
		findings = len(rep.Findings)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
	b.ReportMetric(float64(findings), "findings")
}
