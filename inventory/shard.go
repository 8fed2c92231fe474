package inventory

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// MaxShards bounds the number of shards ParseShard accepts.
const MaxShards = 10000

// Shard returns the projects of shard i of n (0 <= i < n): those whose ShardOf is i, in the
// order given. Membership depends on the project alone, not on the other projects nor on
// their order, so the n pods of a Kubernetes Indexed Job, each given the same project list
// and its own index, read every project exactly once between them. A project given as
// "projects/ID" lands where "ID" does; give a project in the same form (ID or number) to
// every shard.
func Shard(projects []string, i, n int) []string {
	var out []string
	for _, p := range projects {
		if ShardOf(p, n) == i {
			out = append(out, p)
		}
	}
	return out
}

// ShardOf returns the shard (0 to n-1) of one project: the FNV-1a 64-bit hash of its ID,
// without any "projects/" prefix, modulo n. It is 0 when n < 2.
func ShardOf(project string, n int) int {
	if n < 2 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.TrimPrefix(project, "projects/")))
	return int(h.Sum64() % uint64(n))
}

// ParseShard reads a shard as "i/n": index i of n shards, counted from 0 as Kubernetes
// counts the completion index of an Indexed Job (JOB_COMPLETION_INDEX), so that a pod may
// be given --shard=$(JOB_COMPLETION_INDEX)/N. n must be between 1 and MaxShards.
func ParseShard(s string) (i, n int, err error) {
	idx, total, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("shard %q: want INDEX/COUNT, e.g. 0/4 (the index counts from 0)", s)
	}
	n, err = strconv.Atoi(strings.TrimSpace(total))
	if err != nil || n < 1 || n > MaxShards {
		return 0, 0, fmt.Errorf("shard %q: the count must be a whole number from 1 to %d", s, MaxShards)
	}
	i, err = strconv.Atoi(strings.TrimSpace(idx))
	if err != nil || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: the index must be a whole number from 0 to %d (it counts from 0, as JOB_COMPLETION_INDEX does)", s, n-1)
	}
	return i, n, nil
}
