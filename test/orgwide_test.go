package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The organization read through Cloud Asset Inventory gives the findings the project-by-
// project live scan gives; a folder gives those of its projects only; a bad scope is a
// usage error naming the flag.
func TestScanOrganizationThroughCloudAssetInventory(t *testing.T) {
	exp := loadExpected(t)
	ids := func(fs []finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.ID+" "+f.Rule+" "+f.Resource)
		}
		return out
	}
	live := decodeReport(t, zerodrift(t, "", "scan", "--sandbox", "--format", "json", "--now", exp.Now))
	org := decodeReport(t, zerodrift(t, "", "scan", "--sandbox", "--organization", "123456789012", "--format", "json", "--now", exp.Now))
	if !slices.Equal(ids(live.Findings), ids(org.Findings)) {
		t.Errorf("organization-wide and per-project findings differ:\nper project: %v\norganization: %v", ids(live.Findings), ids(org.Findings))
	}
	if src, _ := org.Summary["source"].(string); !strings.Contains(src, "cloud asset inventory: organizations/123456789012") {
		t.Errorf("source %q", src)
	}
	folder := decodeReport(t, zerodrift(t, "", "scan", "--sandbox", "--folder", "111111111111", "--format", "json", "--now", exp.Now))
	if len(folder.Findings) == 0 || len(folder.Findings) >= len(org.Findings) {
		t.Errorf("folder scan: %d findings of the organization's %d", len(folder.Findings), len(org.Findings))
	}
	for _, f := range folder.Findings {
		if !slices.Contains(ids(org.Findings), f.ID+" "+f.Rule+" "+f.Resource) {
			t.Errorf("the folder scan found %s, which the organization scan did not", f.ID)
		}
	}
	r := zerodrift(t, "", "scan", "--sandbox", "--folder", "prod")
	if r.code != 1 || !strings.Contains(r.stderr, `--organization/--folder: "prod" is not a number`) {
		t.Errorf("bad folder: exit %d, %s", r.code, r.stderr)
	}
	r = zerodrift(t, "", "scan", "--project", "p", "--organization", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "give one or the other") {
		t.Errorf("--project with --organization: exit %d, %s", r.code, r.stderr)
	}
}

// Sharded scans, as the pods of an Indexed Job run them: together they find what one scan
// finds, each project in one shard only; the same holds through Cloud Asset Inventory.
func TestShardsTogetherFindWhatOneScanFinds(t *testing.T) {
	exp := loadExpected(t)
	for _, scope := range [][]string{nil, {"--organization", "123456789012"}} {
		args := append([]string{"scan", "--sandbox", "--format", "json", "--now", exp.Now}, scope...)
		whole := decodeReport(t, zerodrift(t, "", args...))
		var union []string
		owner := map[string]int{}
		for i := range 3 {
			part := decodeReport(t, zerodrift(t, "", append(args, "--shard", fmt.Sprintf("%d/3", i))...))
			for _, f := range part.Findings {
				union = append(union, f.ID)
				if f.Project == "" && i != 0 {
					t.Errorf("%v: shard %d found %s on %s: folders and the organization are shard 0's", scope, i, f.Rule, f.Resource)
				}
				if prev, ok := owner[f.Project]; ok && prev != i {
					t.Errorf("%v: project %s is in shards %d and %d", scope, f.Project, prev, i)
				}
				owner[f.Project] = i
			}
		}
		var want []string
		for _, f := range whole.Findings {
			want = append(want, f.ID)
		}
		slices.Sort(union)
		if dup := len(union) - len(slices.Compact(slices.Clone(union))); dup > 0 {
			t.Errorf("%v: %d findings found by two shards", scope, dup)
		}
		union = slices.Compact(union)
		slices.Sort(want)
		if !slices.Equal(union, want) {
			t.Errorf("%v: the shards' findings %v differ from the whole scan's %v", scope, union, want)
		}
	}
	if r := zerodrift(t, "", "scan", "--sandbox", "--shard", "3/3"); r.code != 1 || !strings.Contains(r.stderr, "--shard:") {
		t.Errorf("--shard 3/3: exit %d, %s", r.code, r.stderr)
	}
}
