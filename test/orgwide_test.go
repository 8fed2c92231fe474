package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The organization read through Cloud Asset Inventory gives the findings the project-by-
// project live scan gives; a folder gives those of its projects only; a bad scope is a
// usage error naming the flag.
func TestScanOrganizationThroughCloudAssetInventory(t *testing.T) {
	exp := loadExpected(t)
	ids := findingIDs
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

// findingIDs names each finding by ID, rule and resource, in report order.
func findingIDs(fs []finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+" "+f.Rule+" "+f.Resource)
	}
	return out
}

// The organization exported to Cloud Storage (--export-to, or scope.export) gives the
// findings the live per-project scan and the ListAssets scan give; the flag wins over the
// configuration; an export that cannot be written is reported, naming the bucket; and
// --export-to needs an organization or folders.
func TestScanOrganizationThroughAnExport(t *testing.T) {
	exp := loadExpected(t)
	const org = "123456789012"
	scan := func(args ...string) jsonReport {
		t.Helper()
		return decodeReport(t, zerodrift(t, "", append([]string{"scan", "--sandbox", "--format", "json", "--now", exp.Now}, args...)...))
	}
	live := scan()
	listed := scan("--organization", org)
	exported := scan("--organization", org, "--export-to", "gs://zerodrift-exports/scans")
	if got := findingIDs(exported.Findings); len(got) == 0 || !slices.Equal(got, findingIDs(live.Findings)) ||
		!slices.Equal(got, findingIDs(listed.Findings)) {
		t.Errorf("findings through an export %v,\nper project %v,\nthrough ListAssets %v", got, findingIDs(live.Findings), findingIDs(listed.Findings))
	}
	if src, _ := exported.Summary["source"].(string); src != "cloud asset inventory: organizations/"+org+" (exported to gs://zerodrift-exports/scans)" ||
		len(exported.Errors) != 0 {
		t.Errorf("source %q, errors %+v", src, exported.Errors)
	}

	// scope.export in the configuration; --export-to replaces it.
	cfg := filepath.Join(t.TempDir(), "zerodrift.yaml")
	if err := os.WriteFile(cfg, []byte("scope:\n  organization: \""+org+"\"\n  export: gs://no-such-bucket/zerodrift\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := scan("--config", cfg)
	if len(missing.Findings) != 0 || len(missing.Errors) != 2 {
		t.Fatalf("export to a missing bucket: %d findings, errors %+v", len(missing.Findings), missing.Errors)
	}
	for _, e := range missing.Errors {
		if e.Service != "cloudasset" || e.Resource != "organizations/"+org || !strings.Contains(e.Message, "bucket no-such-bucket does not exist") {
			t.Errorf("error %+v, want the failed export naming the bucket", e)
		}
	}
	flagged := scan("--config", cfg, "--export-to", "gs://zerodrift-exports/scans")
	if !slices.Equal(findingIDs(flagged.Findings), findingIDs(exported.Findings)) || len(flagged.Errors) != 0 {
		t.Errorf("--export-to over scope.export: %d findings, errors %+v", len(flagged.Findings), flagged.Errors)
	}

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"scan", "--sandbox", "--export-to", "gs://zerodrift-exports/scans"}, "--export-to exports an organization or folders"},
		{[]string{"scan", "--sandbox", "--organization", org, "--export-to", "zerodrift-exports"}, "--export-to: export destination"},
		{[]string{"scan", "--assets", "-", "--export-to", "gs://zerodrift-exports"}, "cannot be combined"},
		{[]string{"run", "--sandbox", "--project", "acme-prod", "--export-to", "gs://zerodrift-exports"}, "--export-to exports an organization or folders"},
	} {
		if r := zerodrift(t, "", tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("%v: exit %d, %s", tc.args, r.code, r.stderr)
		}
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
				if f.Project == "" && i != 0 && scope != nil {
					// Cloud Asset Inventory reads everything: shard 0 keeps what lies above
					// projects. Project by project, each shard reads the folders above its
					// own projects.
					t.Errorf("%v: shard %d found %s on %s: folders and the organization are shard 0's", scope, i, f.Rule, f.Resource)
				}
				if f.Project == "" {
					continue
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
		if dup := len(union) - len(slices.Compact(slices.Clone(union))); dup > 0 && scope != nil {
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

// The shards of one run share out its live changes (DESIGN invariant 2): with
// --max-changes 1 over three shards, shard 0 may make one change and the others none,
// though they have drift a playbook would fix.
func TestShardsShareTheRunsMaxChanges(t *testing.T) {
	exp := loadExpected(t)
	changes, heldBack := 0, 0
	for i := range 3 {
		r := zerodrift(t, "", "run", "--sandbox", "--apply", "--max-changes", "1", "--shard", fmt.Sprintf("%d/3", i),
			"--format", "json", "--now", exp.Now)
		var rep runReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, r.stderr)
		}
		changes += rep.Summary.Changes
		if i > 0 {
			if rep.Summary.Changes != 0 {
				t.Errorf("shard %d made %d live changes; its share of --max-changes 1 is none", i, rep.Summary.Changes)
			}
			heldBack += rep.Summary.ByAction["skipped-limit"]
		}
	}
	if changes > 1 {
		t.Errorf("the shards made %d live changes together, over --max-changes 1", changes)
	}
	if heldBack == 0 {
		t.Error("shards 1 and 2 held back no fix: the test does not exercise the shared budget")
	}
}
