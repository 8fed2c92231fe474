package iac

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
)

// buildFirewallFile writes a file with a firewall named name whose source_ranges has the
// given elements ("L" stands for a reference to a local that holds 0.0.0.0/0), laid out on
// one line or one per line, between other blocks with comments.
func buildFirewallFile(name, elems string, multiline bool, comment string) string {
	comment = strings.NewReplacer("\n", " ", "\r", " ", "*/", "* /").Replace(comment)
	var items []string
	for _, e := range strings.Split(elems, ",") {
		if e == "L" {
			items = append(items, "local.anywhere")
		} else {
			items = append(items, quote(e))
		}
	}
	var list string
	if multiline {
		var b strings.Builder
		b.WriteString("[\n")
		for i, it := range items {
			if i%3 == 1 {
				b.WriteString("    # " + comment + "\n")
			}
			b.WriteString("    " + it + ",")
			if i%2 == 1 {
				b.WriteString(" # " + comment)
			}
			b.WriteString("\n")
			if i%4 == 3 {
				b.WriteString("\n")
			}
		}
		b.WriteString("  ]")
		list = b.String()
	} else {
		list = "[" + strings.Join(items, ", ") + "]"
	}
	return "# " + comment + "\nlocals {\n  anywhere = \"0.0.0.0/0\" # " + comment + "\n}\n\n" +
		"/* " + comment + " */\nresource \"google_compute_firewall\" \"fw\" {\n  project = \"acme-prod\"\n  name    = " + quote(name) + "\n" +
		"  source_ranges = " + list + "\n\n  allow {\n    protocol = \"tcp\"\n  }\n}\n\n" +
		"# " + comment + "\nresource \"google_compute_network\" \"n\" {\n  name = \"n\"\n}\n"
}

// quotedText is a Go-quoted string (%q) in an error message.
var quotedText = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// checkRejection fails unless err, Patch's refusal to make edit in the declaration m, says
// where and why: it starts with the edit, the declaration's address and its file:line in the
// .tf file, and goes on with a reason of a few words, none of it a formatting slip, and no
// internal error (an edit the patcher built and then could not apply is a patcher bug).
func checkRejection(t testing.TB, m Match, edit string, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasSuffix(m.File, ".tf") || m.Line < 1 || m.Address == "" {
		t.Fatalf("the Managed match of %s %s has no place: %q", m.Kind, m.Address, m.File+":"+fmt.Sprint(m.Line))
	}
	if errors.Is(err, ErrNotManaged) {
		t.Fatalf("%s of the Managed match %s: %v", edit, m.Address, err)
	}
	place := fmt.Sprintf("iac: %s of %s (%s:%d): ", edit, m.Address, m.File, m.Line)
	reason, ok := strings.CutPrefix(msg, place)
	if !ok {
		t.Fatalf("%s of %s (%s:%d) failed with %q, which does not start with that place", edit, m.Address, m.File, m.Line, msg)
	}
	if len(strings.Fields(reason)) < 3 {
		t.Fatalf("%s of %s failed with %q, which gives no reason", edit, m.Address, msg)
	}
	// What the reason quotes is the input's, which may hold anything.
	unquoted := quotedText.ReplaceAllString(msg, `""`)
	for _, slip := range []string{"%!", "<nil>", "internal error"} {
		if strings.Contains(unquoted, slip) {
			t.Fatalf("%s of %s failed with %q (%s)", edit, m.Address, msg, slip)
		}
	}
}

// checkPatchRequest makes req's edit of the Managed match m: whenever Patch succeeds, the
// output parses, every other block is byte for byte the same and the edit is in place (see
// checkPatch and checkIntent); whenever it refuses, the error names the place and the
// reason (see checkRejection).
func checkPatchRequest(t *testing.T, ix *Index, m Match, req patchRequest) {
	t.Helper()
	p, err := ix.Patch(m, req.edit, req.params, req.evidence)
	if err != nil {
		checkRejection(t, m, req.edit, err)
		return
	}
	checkPatch(t, p)
	checkIntent(t, m, req, p)
}

// FuzzPatchReplaceWorld patches generated firewalls with generated trusted ranges: whenever
// Patch succeeds, the output parses, every other block is byte for byte the same, and the
// firewall's source ranges are what the edit promises (see checkIntent): the world ranges
// out, the trusted ones in, and the internet no longer covered. Whenever it refuses, the
// error names the place and the reason (see checkRejection).
func FuzzPatchReplaceWorld(f *testing.F) {
	f.Add("allow-ssh", "0.0.0.0/0", false, "c", "35.235.240.0/20")
	f.Add("allow-ssh", "10.0.0.0/8,0.0.0.0/0,::/0", true, "comment", "35.235.240.0/20,2001:db8::/32")
	f.Add("x", "0.0.0.0/1,128.0.0.0/1,L", true, "# nested", "10.0.0.0/8")
	f.Add("a\"b${c}", "L,192.0.2.0/24", false, "${x} %{y}", "192.0.2.0/24")
	f.Add("n", "::/0,8000::/1,::/1", true, "", "::/1")
	f.Add("n", "0.0.0.0/0", true, "*/ /* ", "0.0.0.0/1")
	f.Add("kept", "0.0.0.0/0,0.0.0.0/1", false, "kept and trusted cover it", "128.0.0.0/1")
	f.Add("nested", "0.0.0.0/0,0.0.0.0/1,128.0.0.0/1,10.0.0.0/8", true, "the halves inside", "35.235.240.0/20")
	f.Fuzz(func(t *testing.T, name, elems string, multiline bool, comment, trusted string) {
		if name == "" || strings.ContainsAny(name, "/") || len(elems) > 400 || len(trusted) > 200 ||
			!utf8.ValidString(name) || cty.StringVal(name).AsString() != name {
			t.Skip() // not a name the cloud could report: names are UTF-8, and HCL normalizes to NFC
		}
		src := buildFirewallFile(name, elems, multiline, comment)
		ix := loadOne(t, "main.tf", []byte(src))
		if len(ix.Problems) > 0 {
			t.Skip() // the generator wrote something HCL rejects (e.g. invalid UTF-8)
		}
		// The evidence is what the rule reports of the live rule: the ranges that make the
		// internet whole, with local.anywhere read as 0.0.0.0/0.
		live := strings.Split(strings.ReplaceAll(","+elems+",", ",L,", ",0.0.0.0/0,"), ",")
		world, _ := rules.CoversInternet(live)
		req := patchRequest{assetType: inventory.TypeFirewall, resource: fwName("acme-prod", name), edit: EditReplaceWorldSourceRanges,
			params: map[string]any{"ranges": strings.Split(trusted, ",")}, evidence: map[string]any{"worldRanges": world}}
		m := ix.Owner(req.assetType, req.resource, nil)
		if m.Status != Managed {
			t.Fatalf("owner of %q: %s (%s)\n%s", name, m.Status, m.Why, src)
		}
		checkPatchRequest(t, ix, m, req)
	})
}

// computeRequests lists the edits of subnetworks, instances, networks, project metadata and
// audit configuration that FuzzPatchAnyFile tries on the resources of a few names in project.
func computeRequests(project string) []patchRequest {
	var out []patchRequest
	for _, region := range []string{"r", "europe-west1", "europe-west4"} {
		for _, name := range []string{"s", "app-ew1", "batch-ew4", "legacy-ew1", "edge-ew1", "data-ew1", "ops-ew1"} {
			res := subnetName(project, region, name)
			out = append(out,
				patchRequest{inventory.TypeSubnetwork, res, EditEnableSubnetFlowLogs, flowLogs(), nil},
				patchRequest{inventory.TypeSubnetwork, res, EditEnablePrivateAccess, nil, nil})
		}
	}
	for _, zone := range []string{"z", "europe-west1-b", "europe-west1-c"} {
		for _, name := range []string{"i", "bastion-1", "web-1", "worker-1", "hardened-1", "debug-1", "override-1", "env-1", "env-script-1", "oslogin-1", "combined-1"} {
			res := instanceName(project, zone, name)
			out = append(out,
				patchRequest{inventory.TypeInstance, res, EditSetInstanceMetadata, metadataParam("serial-port-enable", "FALSE"), metadataEv("serial-port-enable")},
				patchRequest{inventory.TypeInstance, res, EditSetInstanceMetadata, metadataParam("enable-oslogin", "TRUE"), nil},
				patchRequest{inventory.TypeInstance, res, EditRemoveExternalIP, nil, map[string]any{"interfaces": []string{"nic0", "nic1"}}})
		}
	}
	for _, name := range []string{"n", "default", "shared-vpc"} {
		out = append(out, patchRequest{inventory.TypeNetwork, fwPrefix + project + "/global/networks/" + name, EditAddEgressDeny, nil, nil})
	}
	for _, key := range []string{"enable-oslogin", "serial-port-enable"} {
		out = append(out, patchRequest{inventory.TypeComputeProject, computeProject(project), EditSetInstanceMetadata,
			metadataParam(key, "FALSE"), projectMetadataEv(project, key)})
	}
	out = append(out, patchRequest{inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/" + project, EditSetAuditConfig,
		auditParams(), auditEv("", []string{"DATA_READ"}, nil)})
	return out
}

// FuzzPatchAnyFile makes every edit on whatever file the fuzzer writes that declares one of
// a few firewalls, subnetworks, instances, networks, or a project's metadata or IAM: Patch
// never panics, and whenever it succeeds the output parses, every other block is byte for
// byte the same, and the edit is in place (see checkIntent); whenever it refuses, the error
// names the place and the reason (see checkRejection).
func FuzzPatchAnyFile(f *testing.F) {
	for _, name := range []string{"firewall.tf", "module_rules.tf", "variables.tf", "subnet.tf", "compute.tf", "audit.tf", "network.tf", "metadata_merge.tf"} {
		src, err := os.ReadFile("testdata/patch/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(src))
	}
	f.Add("resource \"google_compute_firewall\" \"x\" {\n  project = \"p\"\n  name = \"fw\"\n  source_ranges = [\"0.0.0.0/0\"]\n}\n")
	f.Add("resource \"google_compute_firewall\" \"x\" {\n  project = \"p\"\n  name = \"fw\"\n}\n")
	f.Add("module \"m\" {\n  source = \"terraform-google-modules/network/google//modules/firewall-rules\"\n  project_id = \"p\"\n" +
		"  rules = [{ name = \"fw\", ranges = [\"::/0\"] }, {\n    name = \"y\"\n  }]\n}\n")
	f.Add("provider \"google\" {\n  project = \"p\"\n  region = \"r\"\n  zone = \"z\"\n}\n" +
		"resource \"google_compute_subnetwork\" \"s\" {\n  name = \"s\"\n  log_config {\n    metadata = \"CUSTOM_METADATA\"\n  }\n}\n" +
		"resource \"google_compute_instance\" \"i\" {\n  name = \"i\"\n  metadata = { serial-port-enable = \"TRUE\" }\n" +
		"  network_interface {\n    access_config {}\n    ipv6_access_config {}\n  }\n}\n" +
		"resource \"google_compute_project_metadata_item\" \"k\" {\n  for_each = { \"enable-oslogin\" = \"FALSE\", other = \"x\" }\n  key = each.key\n  value = each.value\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 1<<14 {
			t.Skip()
		}
		ix := loadOne(t, "main.tf", []byte(src))
		for _, project := range []string{"p", "acme-prod", "acme-net", "acme-dev", "acme-sandbox", "acme-legacy"} {
			if !strings.Contains(src, project) && !strings.Contains(src, "provider") {
				continue // nothing can be in this project
			}
			for _, req := range computeRequests(project) {
				m := ix.Owner(req.assetType, req.resource, req.evidence)
				if m.Status != Managed {
					continue
				}
				checkPatchRequest(t, ix, m, req)
			}
		}
		for _, project := range []string{"p", "acme-prod"} {
			for _, name := range []string{"fw", "allow-ssh", "allow-multi", "allow-rdp-split", "allow-admin"} {
				m := ix.Owner(inventory.TypeFirewall, fwName(project, name), nil)
				if m.Status != Managed {
					continue
				}
				for _, edit := range []string{EditReplaceWorldSourceRanges, EditDisableFirewall, EditEnableFirewallLogging,
					EditAddDenyFirewall, EditRemoveResource} {
					// The evidence is what the rule would report of the declared ranges.
					known, _, _ := sourceRanges(m)
					world, _ := rules.CoversInternet(known)
					req := patchRequest{assetType: inventory.TypeFirewall, resource: fwName(project, name), edit: edit,
						params:   map[string]any{"ranges": []string{"10.0.0.0/8"}, "metadata": "EXCLUDE_ALL_METADATA", "ports": []string{"22", "udp:53"}},
						evidence: map[string]any{"worldRanges": world}}
					checkPatchRequest(t, ix, m, req)
				}
			}
		}
	})
}
