package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/bench/synth"
	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// benchAssets is the size of the export the benchmarks read: synth's mix, ~1.5 KB an asset.
const benchAssets = 100_000

func benchExport(b *testing.B) []byte {
	b.Helper()
	var export bytes.Buffer
	if err := synth.Write(&export, benchAssets, 1); err != nil {
		b.Fatal(err)
	}
	return export.Bytes()
}

// BenchmarkScanExport measures an offline scan of a 100k-asset CAI export with the default
// rule set: decode, evaluate, gather the report. Compare it with BenchmarkBareTypedDecode:
// the scan should take at most 1.3 times as long.
func BenchmarkScanExport(b *testing.B) {
	export := benchExport(b)
	opts := Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))}
	b.SetBytes(int64(len(export)))
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for b.Loop() {
		rep, err := Run(context.Background(), &inventory.ExportSource{Name: "bench", R: bytes.NewReader(export)}, opts)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.Assets != benchAssets {
			b.Fatalf("scanned %d assets", rep.Summary.Assets)
		}
		findings = len(rep.Findings)
	}
	b.ReportMetric(float64(benchAssets)*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
	b.ReportMetric(float64(findings), "findings")
}

// bareAsset mirrors a CAI export record, resource data left raw as inventory.Asset keeps
// it, for BenchmarkBareTypedDecode.
type bareAsset struct {
	Name       string    `json:"name"`
	AssetType  string    `json:"asset_type"`
	Ancestors  []string  `json:"ancestors"`
	UpdateTime time.Time `json:"update_time"`
	Resource   *struct {
		Version              string          `json:"version"`
		DiscoveryDocumentURI string          `json:"discovery_document_uri"`
		DiscoveryName        string          `json:"discovery_name"`
		Parent               string          `json:"parent"`
		Location             string          `json:"location"`
		Data                 json.RawMessage `json:"data"`
	} `json:"resource"`
	IAMPolicy *struct {
		Version  int    `json:"version"`
		Etag     string `json:"etag"`
		Bindings []struct {
			Role      string   `json:"role"`
			Members   []string `json:"members"`
			Condition *struct {
				Title       string `json:"title"`
				Description string `json:"description"`
				Expression  string `json:"expression"`
			} `json:"condition"`
		} `json:"bindings"`
	} `json:"iam_policy"`
}

// BenchmarkBareTypedDecode is the baseline of the scan's target: a plain typed decode of
// the export of BenchmarkScanExport, each line unmarshalled by encoding/json into a struct
// of the CAI shape, nothing else.
func BenchmarkBareTypedDecode(b *testing.B) {
	export := benchExport(b)
	b.SetBytes(int64(len(export)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		br := bufio.NewReaderSize(bytes.NewReader(export), 256<<10)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				a := new(bareAsset)
				if err := json.Unmarshal(line, a); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != benchAssets {
			b.Fatalf("decoded %d assets", n)
		}
	}
	b.ReportMetric(float64(benchAssets)*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
}
