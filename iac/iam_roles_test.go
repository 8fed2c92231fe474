package iac

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zerodrift/zerodrift/inventory"
)

func loadOutside(t *testing.T) *Index {
	t.Helper()
	src, err := os.ReadFile("testdata/patch/outside.tf")
	if err != nil {
		t.Fatal(err)
	}
	return loadOne(t, "outside.tf", src)
}

// TestOwnerOfRoles maps findings that list every role of a member (iam-non-org-member):
// each grant is mapped as a one-role finding, and the finding is Managed only when every
// grant is declared.
func TestOwnerOfRoles(t *testing.T) {
	ix := loadOutside(t)
	expires := map[string]string{"role": "roles/storage.admin", "title": "expires", "expression": `request.time < timestamp("2027-01-01T00:00:00Z")`}
	tests := []struct {
		name     string
		evidence map[string]any
		want     string
		why      string
	}{
		{"every grant declared", outsideEv("user:jane.freelance@gmail.com", "roles/viewer", "roles/logging.viewer", "roles/bigquery.dataViewer"),
			"managed env/outside.tf:3 google_project_iam_member.jane_viewer, google_project_iam_member.jane_logs, google_project_iam_binding.bq_viewers", ""},
		{"a role held only conditionally, declared with its condition",
			withConditions(outsideEv("user:sam@gmail.com", "roles/browser", "roles/storage.admin"), expires),
			`managed env/outside.tf:49 module.data_iam.bindings["roles/browser"], module.data_iam.conditional_bindings[0]`, ""},
		{"the unconditional grant is not the conditional one", outsideEv("user:sam@gmail.com", "roles/browser", "roles/storage.admin"),
			`unresolved [env/outside.tf:49 module.data_iam.bindings["roles/browser"]]`, "roles/storage.admin was granted outside it"},
		{"some roles declared, others granted outside Terraform", outsideEv("user:pat@gmail.com", "roles/editor", "roles/viewer"),
			"unresolved [env/outside.tf:32 google_project_iam_member.pat_viewer]", "Terraform grants roles/viewer, and roles/editor was granted outside it"},
		{"no role declared", outsideEv("user:nobody@gmail.com", "roles/editor", "roles/viewer"), "unmanaged []", "any of roles/editor, roles/viewer"},
		{"no role at all", outsideEv("user:nobody@gmail.com"), "unresolved []", "names no role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, ev := range []map[string]any{tc.evidence, jsonEvidence(t, tc.evidence)} {
				m := ix.Owner(inventory.TypeProject, dataIAM, ev)
				if got := where(m); got != tc.want || !strings.Contains(m.Why, tc.why) {
					t.Errorf("got  %s\nwant %s\nwhy: %s (want it to mention %q)", got, tc.want, m.Why, tc.why)
				}
			}
		})
	}
}

// jsonEvidence is the evidence as the ledger gives it back: decoded JSON.
func jsonEvidence(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPatchRoles(t *testing.T) {
	// A members list two bindings share: removing the member from it removes both grants,
	// and the second finds nothing left to do.
	shared := loadOne(t, "shared.tf", []byte(`locals {
  contractors = ["user:kai@gmail.com", "user:lou@acme.example"]
}

resource "google_project_iam_binding" "readers" {
  project = "acme-data"
  role    = "roles/viewer"
  members = local.contractors
}

resource "google_project_iam_binding" "loggers" {
  project = "acme-data"
  role    = "roles/logging.viewer"
  members = local.contractors
}
`))
	ev := outsideEv("user:kai@gmail.com", "roles/viewer", "roles/logging.viewer")
	m := shared.Owner(inventory.TypeProject, dataIAM, ev)
	p, err := shared.Patch(m, EditRemoveIAMMember, nil, ev)
	if err != nil {
		t.Fatalf("%s: %v", where(m), err)
	}
	if !strings.Contains(p.Diff, `+  contractors = ["user:lou@acme.example"]`) || strings.Count(p.Summary, "Remove") != 1 || len(p.Warnings) == 0 {
		t.Errorf("summary %q, warnings %q, diff:\n%s", p.Summary, p.Warnings, p.Diff)
	}
	checkPatchBlocks(t, p, 1)
	if after := loadOne(t, "shared.tf", p.After).Owner(inventory.TypeProject, dataIAM, ev); after.Status != Unmanaged {
		t.Errorf("after the patch: %s (%s)", where(after), after.Why)
	}

	// Grants declared in two files make no one pull request.
	two, err := Load(fstest.MapFS{
		"env/a.tf": {Data: []byte("resource \"google_project_iam_member\" \"a\" {\n  project = \"acme-data\"\n  role    = \"roles/viewer\"\n  member  = \"user:kai@gmail.com\"\n}\n")},
		"env/b.tf": {Data: []byte("resource \"google_project_iam_member\" \"b\" {\n  project = \"acme-data\"\n  role    = \"roles/editor\"\n  member  = \"user:kai@gmail.com\"\n}\n")},
	}, []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	ev = outsideEv("user:kai@gmail.com", "roles/editor", "roles/viewer")
	m = two.Owner(inventory.TypeProject, dataIAM, ev)
	if m.Status != Managed {
		t.Fatalf("two files: %s (%s)", where(m), m.Why)
	}
	if _, err := two.Patch(m, EditRemoveIAMMember, nil, ev); err == nil || !strings.Contains(err.Error(), "declared in 2 files (env/a.tf, env/b.tf)") {
		t.Errorf("two files: %v", err)
	}
	// Only remove-iam-member applies to several grants at once.
	ix := loadOutside(t)
	ev = outsideEv("user:jane.freelance@gmail.com", "roles/viewer", "roles/logging.viewer")
	if _, err := ix.Patch(ix.Owner(inventory.TypeProject, dataIAM, ev), EditRemoveResource, nil, ev); err == nil || !strings.Contains(err.Error(), "only remove-iam-member") {
		t.Errorf("remove-resource of several grants: %v", err)
	}
	if _, err := two.Patch(ix.Owner(inventory.TypeProject, dataIAM, ev), EditRemoveIAMMember, nil, ev); err == nil || !strings.Contains(err.Error(), "not made by this index") {
		t.Errorf("a match of another index: %v", err)
	}
}
