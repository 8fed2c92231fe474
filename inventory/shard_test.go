package inventory_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

func shardProjects(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("synth-p%05d", i)
	}
	return out
}

func TestShardsPartitionTheProjects(t *testing.T) {
	projects := shardProjects(1000)
	for _, n := range []int{1, 2, 3, 8, 64} {
		owner := map[string]int{}
		var union []string
		for i := range n {
			shard := inventory.Shard(projects, i, n)
			for _, p := range shard {
				if prev, dup := owner[p]; dup {
					t.Fatalf("n=%d: %s in shards %d and %d", n, p, prev, i)
				}
				owner[p] = i
			}
			union = append(union, shard...)
			// Roughly even: no shard holds more than twice its share.
			if n > 1 && len(shard) > 2*len(projects)/n {
				t.Errorf("n=%d: shard %d holds %d projects of %d", n, i, len(shard), len(projects))
			}
		}
		slices.Sort(union)
		if !slices.Equal(union, projects) {
			t.Errorf("n=%d: the union of the shards holds %d projects, want the %d given", n, len(union), len(projects))
		}
	}
}

func TestShardIsStable(t *testing.T) {
	projects := shardProjects(300)
	want := inventory.Shard(projects, 2, 5)
	shuffled := slices.Clone(projects)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := inventory.Shard(shuffled, 2, 5)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("shard 2/5 depends on the order: %v, want %v", got, want)
	}
	// Membership depends on the project alone: a subset keeps its members' shards.
	if sub := inventory.Shard(projects[:50], 2, 5); !slices.Equal(sub, slices.DeleteFunc(slices.Clone(want), func(p string) bool { return p >= projects[50] })) {
		t.Errorf("shard 2/5 of a subset = %v", sub)
	}
	// The hash is fixed (FNV-1a 64 of the ID, mod n): these values must never change, or
	// the pods of a fleet upgraded one by one would skip or repeat projects.
	for p, want := range map[string]int{"prod-web": 827, "synth-p00000": 620, "projects/synth-p00000": 620} {
		if got := inventory.ShardOf(p, 1000); got != want {
			t.Errorf("ShardOf(%q, 1000) = %d, want %d", p, got, want)
		}
	}
	if got := inventory.ShardOf("prod-web", 1); got != 0 {
		t.Errorf("ShardOf(prod-web, 1) = %d, want 0", got)
	}
}

func TestParseShard(t *testing.T) {
	for in, want := range map[string][2]int{"0/1": {0, 1}, "2/8": {2, 8}, " 7/8 ": {7, 8}} {
		i, n, err := inventory.ParseShard(in)
		if err != nil || i != want[0] || n != want[1] {
			t.Errorf("ParseShard(%q) = %d, %d, %v; want %v", in, i, n, err, want)
		}
	}
	for in, msg := range map[string]string{
		"9/8":   "index must be a whole number from 0 to 7",
		"8/8":   "index must be a whole number from 0 to 7",
		"-1/8":  "index must be",
		"x/8":   "index must be",
		"1/0":   "count must be a whole number from 1 to",
		"1/abc": "count must be",
		"3":     "want INDEX/COUNT",
		"":      "want INDEX/COUNT",
		"1/2/3": "count must be",
	} {
		if _, _, err := inventory.ParseShard(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseShard(%q) error %v, want it to say %q", in, err, msg)
		}
	}
}
