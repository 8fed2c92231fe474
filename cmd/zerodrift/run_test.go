package main

import (
	"strconv"
	"testing"
)

// TestShardBudgetAddsUpToTheRunBudget: the n shards of a run together make at most the
// run's maxChanges live changes, however it divides.
func TestShardBudgetAddsUpToTheRunBudget(t *testing.T) {
	for _, tc := range []struct{ flag, configured, n int }{
		{-1, 3, 2}, {-1, 10, 3}, {2, 10, 5}, {0, 10, 4}, {-1, 7, 7}, {-1, 1, 1000}, {100, 3, 8},
	} {
		budget := tc.configured
		if tc.flag >= 0 {
			budget = tc.flag
		}
		sum, most, least := 0, 0, budget
		for i := range tc.n {
			share, err := shardBudget(tc.flag, tc.configured, fmtShard(i, tc.n))
			if err != nil {
				t.Fatal(err)
			}
			sum += share
			most, least = max(most, share), min(least, share)
		}
		if sum != budget {
			t.Errorf("flag %d, configured %d, %d shards: shares add up to %d, want %d", tc.flag, tc.configured, tc.n, sum, budget)
		}
		if most-least > 1 {
			t.Errorf("flag %d, configured %d, %d shards: shares from %d to %d, want them even", tc.flag, tc.configured, tc.n, least, most)
		}
	}
	if got, _ := shardBudget(-1, 4, ""); got != 4 {
		t.Errorf("unsharded: %d, want the configured 4", got)
	}
	if _, err := shardBudget(-1, 4, "2/2"); err == nil {
		t.Error("shard 2/2 accepted")
	}
}

func fmtShard(i, n int) string { return strconv.Itoa(i) + "/" + strconv.Itoa(n) }
