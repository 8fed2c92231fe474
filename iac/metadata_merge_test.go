package iac

import (
	"os"
	"path"
	"strings"
	"testing"

	"github.com/zerodrift/zerodrift/inventory"
)

// TestSetMetadataMergeAlready: when metadata = merge(...) already declares the wanted value
// (merge is last-wins: the last argument that has the key decides, null arguments are
// skipped), set-instance-metadata makes no patch and says that Terraform already sets it:
// the live instance drifted, and terraform apply restores it.
func TestSetMetadataMergeAlready(t *testing.T) {
	const drift = "in Terraform; the live resource drifted from it, and terraform apply restores it"
	for _, tc := range []struct {
		file, zone, instance, key, value string
		want                             string
	}{
		// web-1 gets block-project-ssh-keys from local.common_metadata, the first argument.
		{"compute.tf", "europe-west1-c", "web-1", "block-project-ssh-keys", "TRUE",
			`google_compute_instance.web already sets block-project-ssh-keys = "TRUE" (from local.common_metadata, merged into its metadata) ` + drift},
		{"metadata_merge.tf", "europe-west1-b", "hardened-1", "serial-port-enable", "FALSE",
			`google_compute_instance.hardened already sets serial-port-enable = "FALSE" (from local.hardened, merged into its metadata)`},
		// The last map's entry wins over local.hardened's serial-port-enable = "FALSE".
		{"metadata_merge.tf", "europe-west1-b", "override-1", "serial-port-enable", "TRUE",
			`google_compute_instance.override already sets serial-port-enable = "TRUE" (from {`},
		// A variable's default, and a null argument, which merge skips.
		{"metadata_merge.tf", "europe-west1-b", "oslogin-1", "enable-oslogin", "TRUE",
			`google_compute_instance.oslogin already sets enable-oslogin = "TRUE" (from var.base_metadata, merged into its metadata)`},
		// local.combined is itself a merge(...): its last argument sets the key, its first
		// argument (local.hardened) the other.
		{"metadata_merge.tf", "europe-west1-b", "combined-1", "enable-oslogin", "TRUE",
			`google_compute_instance.combined already sets enable-oslogin = "TRUE" (from { enable-oslogin = "TRUE" }, merged into its metadata)`},
		{"metadata_merge.tf", "europe-west1-b", "combined-1", "block-project-ssh-keys", "TRUE",
			`google_compute_instance.combined already sets block-project-ssh-keys = "TRUE" (from local.hardened, merged into its metadata)`},
	} {
		t.Run(tc.instance+" "+tc.key, func(t *testing.T) {
			src, err := os.ReadFile(path.Join("testdata/patch", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ix := loadOne(t, tc.file, src)
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(inventory.TypeInstance, instanceName("acme-prod", tc.zone, tc.instance), metadataEv(tc.key))
			if m.Status != Managed {
				t.Fatalf("owner: %s (%s)", m.Status, m.Why)
			}
			p, err := ix.Patch(m, EditSetInstanceMetadata, metadataParam(tc.key, tc.value), metadataEv(tc.key))
			if err == nil {
				t.Fatalf("a patch, want an error saying Terraform already sets the key:\n%s", p.Diff)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant an error containing %s", err, tc.want)
			}
		})
	}
}

// TestSetMetadataMergeInline covers merge(...) arguments the fixtures do not: an explicit key
// in the last map decides whatever the earlier arguments are; an argument after the one that
// sets the wanted value that cannot be evaluated (a for expression, a function call, a local
// that is not a map) does not let the edit report the value as already set: the key is set
// in the last argument, which wins, with a warning naming that argument.
func TestSetMetadataMergeInline(t *testing.T) {
	const head = "provider \"google\" {\n  project = \"p\"\n  zone    = \"z\"\n}\n\n" +
		"variable \"extra\" {\n  type = map(string)\n}\n\n" +
		"locals {\n  base   = { serial-port-enable = \"FALSE\" }\n  script = file(\"x.sh\")\n}\n\n"
	for _, tc := range []struct {
		name, metadata string
		// after is the patched metadata line; "" when the edit reports the value as already
		// set, with an error containing want.
		after, want string
	}{
		{"last map decides over a variable", `merge(var.extra, { serial-port-enable = "FALSE" })`, "",
			`already sets serial-port-enable = "FALSE" (from { serial-port-enable = "FALSE" }, merged into its metadata)`},
		{"last map decides over a for expression", `merge({ for k, v in var.extra : k => v }, { "serial-port-enable" = "FALSE" })`, "",
			`already sets serial-port-enable = "FALSE"`},
		{"parenthesized merge argument", `merge((merge(local.base)), {})`, "", `already sets serial-port-enable = "FALSE" (from local.base,`},
		{"for expression after", `merge(local.base, { for k, v in var.extra : k => v })`,
			`merge(local.base, { for k, v in var.extra : k => v }, { serial-port-enable = "FALSE" })`,
			`local.base sets serial-port-enable = "FALSE" in the metadata of google_compute_instance.i, but { for k, v in var.extra : k => v }, merged after it, could not be evaluated and may override it`},
		{"function call after", `merge(local.base, lookup(var.extra, "x", {}), { a = "b" })`,
			"", // multi-line result checked by its warning
			`but lookup(var.extra, "x", {}), merged after it, could not be evaluated`},
		{"local that is not a map", `merge(local.base, local.script)`,
			`merge(local.base, local.script, { serial-port-enable = "FALSE" })`,
			`but local.script, merged after it, could not be evaluated`},
		{"computed key after", `merge(local.base, { (var.extra["k"]) = "TRUE" }, { a = "b" })`, "",
			`but { (var.extra["k"]) = "TRUE" }, merged after it, could not be evaluated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := head + "resource \"google_compute_instance\" \"i\" {\n  name     = \"i\"\n  metadata = " + tc.metadata + "\n}\n"
			ix := loadOne(t, "main.tf", []byte(src))
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(inventory.TypeInstance, instanceName("p", "z", "i"), metadataEv("serial-port-enable"))
			if m.Status != Managed {
				t.Fatalf("owner: %s (%s)", m.Status, m.Why)
			}
			req := patchRequest{inventory.TypeInstance, instanceName("p", "z", "i"), EditSetInstanceMetadata,
				metadataParam("serial-port-enable", "FALSE"), metadataEv("serial-port-enable")}
			p, err := ix.Patch(m, req.edit, req.params, req.evidence)
			if strings.Contains(tc.want, "already") {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error containing %s", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			checkPatch(t, p)
			checkIntent(t, m, req, p)
			if tc.after != "" && !strings.Contains(string(p.After), "  metadata = "+tc.after+"\n") {
				t.Errorf("patched file, want metadata = %s:\n%s", tc.after, p.After)
			}
			if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, tc.want) {
				t.Errorf("warnings %q, want one containing %s", p.Warnings, tc.want)
			}
		})
	}
}
