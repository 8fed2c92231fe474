package iac

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/zerodrift/zerodrift/inventory"
)

// hostileStrings returns values from the cloud that try to break out of an HCL string.
func hostileStrings() []string {
	return []string{
		`plain`,
		`quote " inside`,
		`back\slash\`,
		`${var.secret}`,
		`$${already escaped}`,
		`%{ if true }x%{ endif }`,
		`%%{`,
		"new\nline",
		"carriage\rreturn\ttab",
		"`backticks` and ```fences```",
		"\"]\n}\nresource \"google_compute_firewall\" \"evil\" {\n  name = \"x\"\n#",
		"nul\x00byte and bell\x07",
		"line\u2028separator",
		"trailing $",
		"trailing %",
		"$",
		"${",
		"unicode é ✓ 🚀",
		"bad utf8 \xff\xfe",
		"..",
		".",
		"../../etc/passwd",
		strings.Repeat("<b>`x`</b>${a}%{b}", 500),
		strings.Repeat("${x}`@eve #1 [l](javascript:x)", 300),
	}
}

// evalQuoted parses `x = <quote(s)>` and returns the string it evaluates to.
func evalQuoted(t testing.TB, s string) string {
	t.Helper()
	src := "x = " + quote(s) + "\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), "q.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("quote(%q) = %s does not parse: %v", s, quote(s), diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() || len(attrs) != 1 {
		t.Fatalf("quote(%q): %v", s, diags)
	}
	if strings.Contains(src, "\n") && strings.Count(src, "\n") != 1 {
		t.Fatalf("quote(%q) = %s spans lines", s, quote(s))
	}
	v, diags := attrs["x"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("quote(%q) = %s does not evaluate without variables: %v", s, quote(s), diags)
	}
	return v.AsString()
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range hostileStrings() {
		got := evalQuoted(t, s)
		var want strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte
			want.WriteRune(r)
		}
		if got != want.String() {
			t.Errorf("quote(%q) = %s evaluates to %q", s, quote(s), got)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range hostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := evalQuoted(t, s)
		// HCL strings are cty strings, which are NFC-normalized.
		if utf8.ValidString(s) && got != cty.StringVal(s).AsString() {
			t.Errorf("quote(%q) = %s evaluates to %q", s, quote(s), got)
		}
	})
}

// TestHostileNames declares firewalls whose names carry HCL syntax, finds them by their
// live names and patches them: the output parses and nothing is injected.
func TestHostileNames(t *testing.T) {
	for _, name := range hostileStrings() {
		if strings.Contains(name, "/") || !utf8.ValidString(name) {
			continue // not a path segment of a resource name
		}
		t.Run(name, func(t *testing.T) {
			src := "provider \"google\" {\n  project = \"acme-prod\"\n}\n\n" +
				"resource \"google_compute_firewall\" \"fw\" {\n  name          = " + quote(name) + "\n" +
				"  source_ranges = [\"0.0.0.0/0\"]\n\n  allow {\n    protocol = \"tcp\"\n  }\n}\n"
			ix := loadOne(t, "main.tf", []byte(src))
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", name), nil)
			if m.Status != Managed {
				t.Fatalf("owner: %s (%s)", m.Status, m.Why)
			}
			p, err := ix.Patch(m, EditReplaceWorldSourceRanges, iap(), map[string]any{"worldRanges": []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			checkPatch(t, p)
			if strings.Contains(string(p.After), "evil") != strings.Contains(src, "evil") {
				t.Error("a block was injected")
			}
			if !strings.Contains(p.Summary, quote(name)) && !strings.Contains(p.Summary, "google_compute_firewall.fw") {
				t.Errorf("summary %q", p.Summary)
			}
			// A deny rule's name derives from the live name: a name GCP would refuse is not written.
			if _, err := ix.Patch(m, EditAddDenyFirewall, map[string]any{"ports": []string{"22"}}, nil); err == nil && name != "plain" {
				t.Errorf("add-deny-firewall accepted the name %q", name)
			}
		})
	}
}

// TestHostileParams feeds values that are not what they claim to be.
func TestHostileParams(t *testing.T) {
	src := []byte("resource \"google_compute_firewall\" \"fw\" {\n  project       = \"p\"\n  name          = \"fw\"\n" +
		"  source_ranges = [\"0.0.0.0/0\"]\n}\n")
	ix := loadOne(t, "main.tf", src)
	m := ix.Owner(inventory.TypeFirewall, fwName("p", "fw"), nil)
	for _, s := range hostileStrings() {
		if _, err := ix.Patch(m, EditReplaceWorldSourceRanges, map[string]any{"ranges": []string{s}}, nil); err == nil {
			t.Errorf("range %q accepted", s)
		}
		if _, err := ix.Patch(m, EditEnableFirewallLogging, map[string]any{"metadata": s}, nil); err == nil {
			t.Errorf("metadata %q accepted", s)
		}
		if _, err := ix.Patch(m, EditAddDenyFirewall, map[string]any{"ports": []string{s}}, nil); err == nil {
			t.Errorf("port %q accepted", s)
		}
		ev := map[string]any{"exposed": []map[string]any{{"protocol": s, "ports": []string{"22"}}}}
		if _, err := ix.Patch(m, EditAddDenyFirewall, nil, ev); err == nil && s != "plain" {
			t.Errorf("protocol %q accepted", s)
		}
		// Hostile world ranges from the evidence are ignored, not written.
		p, err := ix.Patch(m, EditReplaceWorldSourceRanges, iap(), map[string]any{"worldRanges": []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		checkPatch(t, p)
	}
	// A member with quotes is removed, never written.
	member := `user:a"b${c}@acme.example`
	src = []byte("resource \"google_project_iam_binding\" \"b\" {\n  project = \"p\"\n  role    = \"roles/viewer\"\n" +
		"  members = [" + quote(member) + ", \"user:ok@acme.example\"]\n}\n")
	ix = loadOne(t, "main.tf", src)
	m = ix.Owner(inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/p",
		map[string]any{"role": "roles/viewer", "member": member})
	p, err := ix.Patch(m, EditRemoveIAMMember, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPatch(t, p)
	if strings.Contains(string(p.After), `a\"b`) {
		t.Errorf("member not removed:\n%s", p.After)
	}
}

// TestHostileComputeNames declares subnetworks, instances and a project's IAM whose names
// carry HCL syntax, finds them by their live names and patches them: the output parses,
// nothing is injected, and each edit is in place. Derived names (an egress deny rule's) are
// refused when GCP would refuse them.
func TestHostileComputeNames(t *testing.T) {
	for _, name := range hostileStrings() {
		if strings.Contains(name, "/") || !utf8.ValidString(name) {
			continue // not a path segment of a resource name
		}
		t.Run(name, func(t *testing.T) {
			src := "provider \"google\" {\n  project = \"acme-prod\"\n  region  = \"us-east1\"\n  zone    = \"us-east1-b\"\n}\n\n" +
				"resource \"google_compute_subnetwork\" \"s\" {\n  name          = " + quote(name) + "\n  ip_cidr_range = \"10.0.0.0/24\"\n}\n\n" +
				"resource \"google_compute_instance\" \"i\" {\n  name = " + quote(name) + "\n\n  network_interface {\n    network = \"default\"\n\n" +
				"    access_config {\n    }\n  }\n\n  metadata = {\n    serial-port-enable = \"TRUE\"\n  }\n}\n\n" +
				"resource \"google_compute_network\" \"n\" {\n  name = " + quote(name) + "\n}\n\n" +
				"resource \"google_project_iam_member\" \"m\" {\n  for_each = toset([\"user:a@acme.example\"])\n  project  = " + quote(name) + "\n" +
				"  role     = \"roles/viewer\"\n  member   = each.value\n}\n\n" +
				"resource \"google_compute_project_metadata_item\" \"k\" {\n  count   = 1\n  project = " + quote(name) + "\n" +
				"  key     = \"block-project-ssh-keys\"\n  value   = \"TRUE\"\n}\n"
			ix := loadOne(t, "main.tf", []byte(src))
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			reqs := []patchRequest{
				{inventory.TypeSubnetwork, subnetName("acme-prod", "us-east1", name), EditEnableSubnetFlowLogs, flowLogs(), nil},
				{inventory.TypeSubnetwork, subnetName("acme-prod", "us-east1", name), EditEnablePrivateAccess, nil, nil},
				{inventory.TypeInstance, instanceName("acme-prod", "us-east1-b", name), EditSetInstanceMetadata,
					metadataParam("serial-port-enable", name), metadataEv("serial-port-enable")},
				{inventory.TypeInstance, instanceName("acme-prod", "us-east1-b", name), EditRemoveExternalIP, nil,
					map[string]any{"interfaces": []string{"nic0"}}},
				// The project ID only reaches the file through the for_each and count anchors'
				// fallback, quoted.
				{inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/" + name, EditSetAuditConfig, auditParams(),
					auditEv("", []string{"DATA_READ"}, nil)},
				{inventory.TypeComputeProject, computeProject(name), EditSetInstanceMetadata, metadataParam("enable-oslogin", "TRUE"),
					projectMetadataEv(name, "enable-oslogin")},
			}
			for _, req := range reqs {
				m := ix.Owner(req.assetType, req.resource, req.evidence)
				if m.Status != Managed {
					t.Fatalf("%s: owner: %s (%s)", req.edit, m.Status, m.Why)
				}
				p, err := ix.Patch(m, req.edit, req.params, req.evidence)
				if err != nil {
					t.Fatalf("%s: %v", req.edit, err)
				}
				checkPatch(t, p)
				checkIntent(t, m, req, p)
				if strings.Contains(string(p.After), "evil") != strings.Contains(src, "evil") {
					t.Errorf("%s: a block was injected", req.edit)
				}
				if n, n0 := topBlocks(t, p.After), topBlocks(t, []byte(src)); n > n0+1 {
					t.Errorf("%s: %d blocks, %d before:\n%s", req.edit, n, n0, p.After)
				}
			}
			m := ix.Owner(inventory.TypeNetwork, fwPrefix+"acme-prod/global/networks/"+name, nil)
			if m.Status != Managed {
				t.Fatalf("network: %s (%s)", m.Status, m.Why)
			}
			if _, err := ix.Patch(m, EditAddEgressDeny, nil, nil); err == nil && name != "plain" {
				t.Errorf("add-egress-deny accepted the network name %q", name)
			}
		})
	}
}

// topBlocks counts the top-level blocks of a file.
func topBlocks(t testing.TB, src []byte) int {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "x.tf", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("does not parse: %v", diags)
	}
	return len(f.Body.(*hclsyntax.Body).Blocks)
}

// TestHostileComputeParams feeds parameters and evidence that are not what they claim to be.
func TestHostileComputeParams(t *testing.T) {
	src := []byte("provider \"google\" {\n  project = \"p\"\n  region  = \"r\"\n  zone    = \"z\"\n}\n\n" +
		"resource \"google_compute_subnetwork\" \"s\" {\n  name = \"s\"\n}\n\n" +
		"resource \"google_compute_instance\" \"i\" {\n  name = \"i\"\n\n  network_interface {\n    access_config {}\n  }\n}\n\n" +
		"resource \"google_compute_network\" \"n\" {\n  name = \"n\"\n}\n\n" +
		"resource \"google_project_iam_audit_config\" \"a\" {\n  service = \"allServices\"\n}\n")
	ix := loadOne(t, "main.tf", src)
	sub := ix.Owner(inventory.TypeSubnetwork, subnetName("p", "r", "s"), nil)
	inst := ix.Owner(inventory.TypeInstance, instanceName("p", "z", "i"), nil)
	net := ix.Owner(inventory.TypeNetwork, fwPrefix+"p/global/networks/n", nil)
	audit := ix.Owner(inventory.TypeProject, "//cloudresourcemanager.googleapis.com/projects/p", auditEv("", []string{"DATA_READ"}, nil))
	for _, m := range []Match{sub, inst, net, audit} {
		if m.Status != Managed {
			t.Fatalf("%s: %s", m.Why, m.Status)
		}
	}
	bad := []struct {
		m      Match
		edit   string
		params map[string]any
		ev     map[string]any
	}{
		{sub, EditEnableSubnetFlowLogs, map[string]any{"flowSampling": 0.0}, nil},
		{sub, EditEnableSubnetFlowLogs, map[string]any{"flowSampling": 1.5}, nil},
		{sub, EditEnableSubnetFlowLogs, map[string]any{"flowSampling": math.NaN()}, nil},
		{sub, EditEnableSubnetFlowLogs, map[string]any{"flowSampling": []string{"0.5"}}, nil},
		{sub, EditEnableSubnetFlowLogs, map[string]any{"metadata": "CUSTOM_METADATA"}, nil},
		{inst, EditSetInstanceMetadata, map[string]any{"key": "serial-port-enable"}, nil},
		{inst, EditSetInstanceMetadata, map[string]any{"key": "serial-port-enable", "value": false}, nil},
		{inst, EditSetInstanceMetadata, metadataParam("serial-port-enable", "bad utf8 \xff"), nil},
		{inst, EditSetInstanceMetadata, metadataParam("enable-oslogin", "TRUE"), metadataEv("serial-port-enable")},
		{inst, EditRemoveExternalIP, nil, nil},
		{inst, EditRemoveExternalIP, nil, map[string]any{"interfaces": []string{"eth0"}}},
		{inst, EditRemoveExternalIP, nil, map[string]any{"interfaces": []string{"nic1"}}},
		{net, EditAddEgressDeny, map[string]any{"priority": 65536}, nil},
		{net, EditAddEgressDeny, map[string]any{"priority": "65535"}, nil},
		{net, EditAddEgressDeny, map[string]any{"priority": 1.5}, nil},
		{audit, EditSetAuditConfig, map[string]any{"logTypes": []string{}}, nil},
		{sub, EditSetAuditConfig, auditParams(), nil},
		{audit, EditRemoveExternalIP, nil, map[string]any{"interfaces": []string{"nic0"}}},
		{inst, EditEnablePrivateAccess, nil, nil},
	}
	for _, s := range hostileStrings() {
		bad = append(bad,
			struct {
				m      Match
				edit   string
				params map[string]any
				ev     map[string]any
			}{sub, EditEnableSubnetFlowLogs, map[string]any{"aggregationInterval": s}, nil},
			struct {
				m      Match
				edit   string
				params map[string]any
				ev     map[string]any
			}{sub, EditEnableSubnetFlowLogs, map[string]any{"flowSampling": s}, nil},
			struct {
				m      Match
				edit   string
				params map[string]any
				ev     map[string]any
			}{inst, EditSetInstanceMetadata, metadataParam(s+" ", "FALSE"), nil},
			struct {
				m      Match
				edit   string
				params map[string]any
				ev     map[string]any
			}{audit, EditSetAuditConfig, map[string]any{"logTypes": []string{s}}, nil},
			struct {
				m      Match
				edit   string
				params map[string]any
				ev     map[string]any
			}{inst, EditRemoveExternalIP, nil, map[string]any{"interfaces": []string{s}}},
		)
	}
	for _, b := range bad {
		if p, err := ix.Patch(b.m, b.edit, b.params, b.ev); err == nil {
			t.Errorf("%s %s with %v %v was accepted:\n%s", b.m.Address, b.edit, b.params, b.ev, p.Diff)
		}
	}
	// A hostile metadata value is written as a string that evaluates to itself.
	for _, s := range hostileStrings() {
		if !utf8.ValidString(s) {
			continue
		}
		req := patchRequest{inventory.TypeInstance, instanceName("p", "z", "i"), EditSetInstanceMetadata, metadataParam("startup-script", s), nil}
		p, err := ix.Patch(inst, req.edit, req.params, nil)
		if err != nil {
			t.Fatalf("value %q: %v", s, err)
		}
		checkPatch(t, p)
		checkIntent(t, inst, req, p)
	}
}
