package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/ledger"
)

// BenchmarkPlanChangeSetStatus measures the write-ahead pair every live change costs: plan
// (with snapshot and plan JSON) then one status transition, each its own transaction.
func BenchmarkPlanChangeSetStatus(b *testing.B) {
	for _, k := range backendKinds() {
		b.Run(k.name, func(b *testing.B) {
			s := benchStore(b, k)
			ctx := context.Background()
			at := time.Now()
			i := 0
			for b.Loop() {
				i++
				planAndApply(b, ctx, s, fmt.Sprintf("ch-%d", i), at)
			}
		})
	}
}

// BenchmarkPlanChangeSetStatusParallel is the same from many goroutines at once, as
// concurrent runs or replicas would write.
func BenchmarkPlanChangeSetStatusParallel(b *testing.B) {
	for _, k := range backendKinds() {
		b.Run(k.name, func(b *testing.B) {
			s := benchStore(b, k)
			ctx := context.Background()
			at := time.Now()
			var n atomic.Int64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					planAndApply(b, ctx, s, fmt.Sprintf("ch-%d", n.Add(1)), at)
				}
			})
		})
	}
}

func benchStore(b *testing.B, k backendKind) ledger.Store {
	b.Helper()
	s := openStore(b, k.prepare(b)(b))
	if err := s.StartRun(context.Background(), ledger.Run{ID: "bench", Kind: "run", Mode: "apply"}); err != nil {
		b.Fatalf("StartRun: %v", err)
	}
	return s
}

func planAndApply(b *testing.B, ctx context.Context, s ledger.Store, id string, at time.Time) {
	c := newChange(id, "bench", "//compute.googleapis.com/projects/p1/global/firewalls/"+id, at)
	if err := s.PlanChange(ctx, c); err != nil {
		b.Fatalf("PlanChange: %v", err)
	}
	if err := s.SetStatus(ctx, id, ledger.StatusApplied, "operation done", at); err != nil {
		b.Fatalf("SetStatus: %v", err)
	}
}
