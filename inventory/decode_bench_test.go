package inventory

import (
	"bytes"
	"context"
	"testing"
)

// benchDecode runs decode over export (benchAssets synthetic assets in some shape).
func benchDecode(b *testing.B, decode decodeFunc, export []byte) {
	b.SetBytes(int64(len(export)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_, err := decode(context.Background(), bytes.NewReader(export), DecodeOptions{}, func(*Asset) error {
			n++
			return nil
		})
		if err != nil || n != benchAssets {
			b.Fatalf("decoded %d assets: %v", n, err)
		}
	}
	b.ReportMetric(float64(benchAssets)*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
}

// BenchmarkDecodeCAIReference decodes the export of BenchmarkDecodeCAI with encoding/json,
// as DecodeCAI did before its fast decoder: the "before" of the comparison.
func BenchmarkDecodeCAIReference(b *testing.B) {
	benchDecode(b, decodeCAIReference, synthExport(b, benchAssets, 1))
}

// BenchmarkDecodeCAIArray decodes the same assets as an indented camelCase JSON array, the
// shape `gcloud asset list --format=json` prints.
func BenchmarkDecodeCAIArray(b *testing.B) {
	benchDecode(b, DecodeCAI, shapes(b, synthExport(b, benchAssets, 1))["pretty camel"])
}
