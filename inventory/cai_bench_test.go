package inventory

import (
	"bytes"
	"context"
	"testing"

	"github.com/zerodrift/zerodrift/bench/synth"
)

const benchAssets = 100_000

// BenchmarkDecodeCAI measures decoding alone: the floor under any offline scan.
func BenchmarkDecodeCAI(b *testing.B) {
	var export bytes.Buffer
	if err := synth.Write(&export, benchAssets, 1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(export.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		_, err := DecodeCAI(context.Background(), bytes.NewReader(export.Bytes()), DecodeOptions{}, func(*Asset) error {
			n++
			return nil
		})
		if err != nil || n != benchAssets {
			b.Fatalf("decoded %d assets: %v", n, err)
		}
	}
	b.ReportMetric(float64(benchAssets)*float64(b.N)/b.Elapsed().Seconds(), "assets/s")
}
