package iac

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zerodrift/zerodrift/inventory"
)

// loadFixtures indexes fixture files of testdata/patch, each as its own root named after
// it (subnet.tf is subnet/subnet.tf).
func loadFixtures(t testing.TB, names ...string) *Index {
	t.Helper()
	fsys := fstest.MapFS{}
	var roots []string
	for _, n := range names {
		src, err := os.ReadFile("testdata/patch/" + n)
		if err != nil {
			t.Fatal(err)
		}
		root := strings.TrimSuffix(n, ".tf")
		fsys[root+"/"+n] = &fstest.MapFile{Data: src}
		roots = append(roots, root)
	}
	return loadClean(t, fsys, roots...)
}

// loadClean indexes fsys, failing the test on any problem.
func loadClean(t testing.TB, fsys fstest.MapFS, roots ...string) *Index {
	t.Helper()
	ix, err := Load(fsys, roots)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Problems) > 0 {
		t.Fatalf("problems: %v", ix.Problems)
	}
	return ix
}

func TestOwnerComputeAndProjectSettings(t *testing.T) {
	ix := loadFixtures(t, "subnet.tf", "compute.tf", "audit.tf")
	const proj = "//cloudresourcemanager.googleapis.com/projects/"
	tests := []struct {
		name      string
		assetType string
		resource  string
		evidence  map[string]any
		want      string
	}{
		{"subnetwork in the provider's region", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west1", "app-ew1"),
			subnetEv("app-ew1", "europe-west1", "shared-vpc"), "managed subnet/subnet.tf:14 google_compute_subnetwork.app"},
		{"subnetwork: same name in another region", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west4", "app-ew1"), nil, "unmanaged []"},
		{"subnetwork: another project", inventory.TypeSubnetwork, subnetName("acme-prod", "europe-west1", "app-ew1"), nil, "unmanaged []"},
		{"subnetwork: another network", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west1", "app-ew1"),
			subnetEv("app-ew1", "europe-west1", "other-vpc"), "unmanaged []"},
		{"subnetwork with its own region", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west4", "batch-ew4"), nil,
			"managed subnet/subnet.tf:26 google_compute_subnetwork.batch"},
		{"network module subnet", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west1", "edge-ew1"),
			subnetEv("edge-ew1", "europe-west1", "data-vpc"), "managed subnet/subnet.tf:72 module.vpc.subnets[1]"},
		{"network module subnet: network differs", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west1", "edge-ew1"),
			subnetEv("edge-ew1", "europe-west1", "shared-vpc"), "unmanaged []"},
		{"subnets module subnet", inventory.TypeSubnetwork, subnetName("acme-net", "europe-west1", "ops-ew1"), nil,
			"managed subnet/subnet.tf:89 module.extra_subnets.subnets[0]"},
		{"the network module's network stays opaque", inventory.TypeNetwork, fwPrefix + "acme-net/global/networks/data-vpc", nil,
			"unresolved [subnet/subnet.tf:58 module.vpc]"},
		{"malformed subnetwork name", inventory.TypeSubnetwork, fwPrefix + "acme-net/regions/europe-west1/subnetworks", nil, "unresolved []"},

		{"instance in the provider's zone", inventory.TypeInstance, instanceName("acme-prod", "europe-west1-b", "bastion-1"), nil,
			"managed compute/compute.tf:14 google_compute_instance.bastion"},
		{"instance: same name in another zone", inventory.TypeInstance, instanceName("acme-prod", "europe-west1-c", "bastion-1"), nil, "unmanaged []"},
		{"instance with its own zone", inventory.TypeInstance, instanceName("acme-prod", "europe-west1-c", "web-1"), nil,
			"managed compute/compute.tf:45 google_compute_instance.web"},
		{"instance not declared", inventory.TypeInstance, instanceName("acme-prod", "europe-west1-b", "web-2"), nil, "unmanaged []"},

		{"project metadata item of the key", inventory.TypeComputeProject, computeProject("acme-prod"), projectMetadataEv("acme-prod", "enable-oslogin"),
			"managed compute/compute.tf:92 google_compute_project_metadata_item.oslogin"},
		{"project metadata key without an item: a new item after the others", inventory.TypeComputeProject, computeProject("acme-prod"),
			projectMetadataEv("acme-prod", "serial-port-enable"),
			"managed compute/compute.tf:92 google_compute_project_metadata_item.acme_prod_serial_port_enable"},
		{"authoritative project metadata", inventory.TypeComputeProject, computeProject("acme-legacy"), projectMetadataEv("acme-legacy", "serial-port-enable"),
			"managed compute/compute.tf:97 google_compute_project_metadata.legacy"},
		{"project whose metadata is not in Terraform", inventory.TypeComputeProject, computeProject("acme-dev"), projectMetadataEv("acme-dev", "enable-oslogin"),
			"unmanaged []"},
		{"project metadata: the project is created here", inventory.TypeComputeProject, computeProject("acme-sandbox"),
			projectMetadataEv("acme-sandbox", "enable-oslogin"),
			"managed audit/audit.tf:35 google_compute_project_metadata_item.acme_sandbox_enable_oslogin"},
		{"compute project finding without a metadata key", inventory.TypeComputeProject, computeProject("acme-prod"), nil, "unresolved []"},

		{"audit config", inventory.TypeProject, proj + "acme-prod", auditEv("", []string{"DATA_WRITE"}, nil),
			"managed audit/audit.tf:3 google_project_iam_audit_config.prod"},
		{"audit config: project by number, ID in the evidence", inventory.TypeProject, proj + "100000000001", auditEv("acme-prod", []string{"DATA_WRITE"}, nil),
			"managed audit/audit.tf:3 google_project_iam_audit_config.prod"},
		{"audit config: project by number only", inventory.TypeProject, proj + "100000000001", auditEv("", []string{"DATA_WRITE"}, nil),
			"unresolved [audit/audit.tf:3 google_project_iam_audit_config.prod]"},
		{"audit config: a new one after the project's IAM", inventory.TypeProject, proj + "acme-dev", auditEv("", []string{"DATA_READ"}, nil),
			"managed audit/audit.tf:25 google_project_iam_audit_config.acme_dev_all_services"},
		{"audit config: a new one after the project", inventory.TypeProject, proj + "acme-sandbox", auditEv("", []string{"DATA_READ"}, nil),
			"managed audit/audit.tf:35 google_project_iam_audit_config.acme_sandbox_all_services"},
		{"audit config: nothing about the project", inventory.TypeProject, proj + "acme-other", auditEv("", []string{"DATA_READ"}, nil), "unmanaged []"},
		{"a project finding that is not about audit logs still needs a role and member", inventory.TypeProject, proj + "acme-prod",
			map[string]any{"networks": []string{"a", "b"}, "count": 2, "max": 1}, "unresolved []"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.want {
				t.Errorf("got  %s\nwant %s\nwhy: %s", got, tc.want, m.Why)
				for _, c := range m.Candidates {
					t.Logf("candidate %s:%d %s: %s", c.File, c.Line, c.Address, c.Why)
				}
			}
		})
	}
}

// TestOwnerProjectSettingsEdgeCases: what stops a project-wide setting from being Managed.
func TestOwnerProjectSettingsEdgeCases(t *testing.T) {
	audit := auditEv("", []string{"DATA_READ"}, nil)
	const p = "//cloudresourcemanager.googleapis.com/projects/acme-prod"
	member := "resource \"google_project_iam_member\" \"m\" {\n  project = \"acme-prod\"\n  role    = \"roles/viewer\"\n  member  = \"user:a@acme.example\"\n}\n"
	tests := []struct {
		name      string
		files     map[string]string
		assetType string
		resource  string
		evidence  map[string]any
		want      string
	}{
		{"two roots declare the project's IAM", map[string]string{"a/iam.tf": member, "b/iam.tf": member},
			inventory.TypeProject, p, audit,
			"ambiguous [a/iam.tf:1 google_project_iam_audit_config.acme_prod_all_services, b/iam.tf:1 google_project_iam_audit_config.acme_prod_all_services]"},
		{"the file holding most of the project's IAM", map[string]string{
			"a/iam.tf":  member + strings.ReplaceAll(member, "\"m\"", "\"n\""),
			"a/main.tf": strings.ReplaceAll(member, "\"m\"", "\"o\""),
		}, inventory.TypeProject, p, audit, "managed a/iam.tf:6 google_project_iam_audit_config.acme_prod_all_services"},
		{"a taken label gets a number", map[string]string{
			"a/iam.tf": member + "resource \"google_project_iam_audit_config\" \"acme_prod_all_services\" {\n  project = \"acme-other\"\n  service = \"allServices\"\n}\n",
		}, inventory.TypeProject, p, audit, "managed a/iam.tf:1 google_project_iam_audit_config.acme_prod_all_services_2"},
		{"an audit config for one service is not the one for allServices", map[string]string{
			"a/iam.tf": "resource \"google_project_iam_audit_config\" \"gcs\" {\n  project = \"acme-prod\"\n  service = \"storage.googleapis.com\"\n}\n",
		}, inventory.TypeProject, p, audit, "unmanaged []"},
		{"an authoritative IAM policy", map[string]string{
			"a/iam.tf": member + "resource \"google_project_iam_policy\" \"p\" {\n  project     = \"acme-prod\"\n  policy_data = data.google_iam_policy.p.policy_data\n}\n",
		}, inventory.TypeProject, p, audit, "unresolved [a/iam.tf:6 google_project_iam_policy.p]"},
		{"a module that may declare the audit config", map[string]string{
			"a/main.tf": member + "module \"audit\" {\n  source  = \"terraform-google-modules/iam/google//modules/audit_config\"\n  project = \"acme-prod\"\n" +
				"  audit_log_config = [{ service = \"allServices\", log_type = \"DATA_READ\", exempted_members = [] }]\n}\n",
		}, inventory.TypeProject, p, audit, "unresolved [a/main.tf:6 module.audit]"},
		{"audit config whose project cannot be evaluated", map[string]string{
			"a/iam.tf": "resource \"google_project_iam_audit_config\" \"x\" {\n  project = var.p\n  service = \"allServices\"\n}\n",
		}, inventory.TypeProject, p, audit, "unresolved [a/iam.tf:1 google_project_iam_audit_config.x]"},
		{"subnetwork without a region, provider without one", map[string]string{
			"a/main.tf": "resource \"google_compute_subnetwork\" \"s\" {\n  project = \"acme-prod\"\n  name    = \"s1\"\n}\n",
		}, inventory.TypeSubnetwork, subnetName("acme-prod", "us-east1", "s1"), nil, "unresolved [a/main.tf:1 google_compute_subnetwork.s]"},
		{"subnetwork region as a URL", map[string]string{
			"a/main.tf": "resource \"google_compute_subnetwork\" \"s\" {\n  project = \"acme-prod\"\n  name    = \"s1\"\n" +
				"  region  = \"https://www.googleapis.com/compute/v1/projects/acme-prod/regions/us-east1\"\n}\n",
		}, inventory.TypeSubnetwork, subnetName("acme-prod", "us-east1", "s1"), nil, "managed a/main.tf:1 google_compute_subnetwork.s"},
		{"subnetwork region partly known", map[string]string{
			"a/main.tf": "resource \"google_compute_subnetwork\" \"s\" {\n  project = \"acme-prod\"\n  name    = \"s1\"\n  region  = \"${var.geo}-east1\"\n}\n",
		}, inventory.TypeSubnetwork, subnetName("acme-prod", "europe-west1", "s1"), nil, "unmanaged []"},
		{"instance from a template", map[string]string{
			"a/main.tf": "resource \"google_compute_instance_from_template\" \"i\" {\n  project = \"acme-prod\"\n  zone    = \"us-east1-b\"\n  name    = \"i1\"\n" +
				"  source_instance_template = \"t\"\n}\n",
		}, inventory.TypeInstance, instanceName("acme-prod", "us-east1-b", "i1"), nil, "unresolved [a/main.tf:1 google_compute_instance_from_template.i]"},
		{"instance in an unrecognised module", map[string]string{
			"a/main.tf": "module \"vm\" {\n  source   = \"git::https://example.com/vm.git\"\n  project  = \"acme-prod\"\n  hostname = \"i1\"\n}\n",
		}, inventory.TypeInstance, instanceName("acme-prod", "us-east1-b", "i1"), nil, "unresolved [a/main.tf:1 module.vm]"},
		{"firewall rules of the network module stay opaque", map[string]string{
			"a/main.tf": "module \"vpc\" {\n  source       = \"terraform-google-modules/network/google\"\n  project_id   = \"acme-prod\"\n  network_name = \"n\"\n" +
				"  firewall_rules = [{ name = \"allow-ssh\", direction = \"INGRESS\", ranges = [\"0.0.0.0/0\"] }]\n}\n",
		}, inventory.TypeFirewall, fwName("acme-prod", "allow-ssh"), nil, "unresolved [a/main.tf:1 module.vpc]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			var roots []string
			for name, src := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(src)}
				root := name[:strings.IndexByte(name, '/')]
				if !strings.Contains(strings.Join(roots, ","), root) {
					roots = append(roots, root)
				}
			}
			ix, err := Load(fsys, roots)
			if err != nil {
				t.Fatal(err)
			}
			if len(ix.Problems) > 0 {
				t.Fatalf("problems: %v", ix.Problems)
			}
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.want {
				t.Errorf("got  %s\nwant %s\nwhy: %s", got, tc.want, m.Why)
				for _, c := range m.Candidates {
					t.Logf("candidate %s:%d %s: %s", c.File, c.Line, c.Address, c.Why)
				}
			}
		})
	}
}

func TestModuleShapes(t *testing.T) {
	for src, want := range map[string]moduleShape{
		"terraform-google-modules/network/google":                                                  shapeNetwork,
		"registry.terraform.io/terraform-google-modules/network/google":                            shapeNetwork,
		"git::https://github.com/terraform-google-modules/terraform-google-network.git?ref=v9.1.0": shapeNetwork,
		"terraform-google-modules/network/google//modules/subnets":                                 shapeSubnets,
		"github.com/terraform-google-modules/terraform-google-network//modules/subnets?ref=v9.1.0": shapeSubnets,
		"./vendor/terraform-google-network/modules/subnets":                                        shapeSubnets,
		"terraform-google-modules/network/google//modules/firewall-rules":                          shapeFirewallRules,
		"terraform-google-modules/network/google//modules/vpc":                                     shapeNone,
		"./vendor/terraform-google-network":                                                        shapeNone,
		"acme/network/google":                                                                      shapeNone,
	} {
		if got := moduleShapeOf(src); got != want {
			t.Errorf("moduleShapeOf(%q) = %d, want %d", src, got, want)
		}
	}
}

// TestOwnerComputeFromState: a subnetwork and an instance the configuration names through an
// unknown variable are Managed by their state addresses.
func TestOwnerComputeFromState(t *testing.T) {
	src := "variable \"env\" {}\n\nresource \"google_compute_subnetwork\" \"s\" {\n  project = \"acme-prod\"\n  region  = \"us-east1\"\n  name    = \"${var.env}-s\"\n}\n\n" +
		"resource \"google_compute_instance\" \"i\" {\n  project = \"acme-prod\"\n  zone    = \"us-east1-b\"\n  name    = \"${var.env}-i\"\n}\n"
	ix, err := Load(fstest.MapFS{"env/main.tf": {Data: []byte(src)}}, []string{"env"})
	if err != nil {
		t.Fatal(err)
	}
	sub, inst := subnetName("acme-prod", "us-east1", "prod-s"), instanceName("acme-prod", "us-east1-b", "prod-i")
	if m := ix.Owner(inventory.TypeSubnetwork, sub, nil); m.Status != Unresolved {
		t.Fatalf("without state: %s (%s)", m.Status, m.Why)
	}
	st, err := ParseState(strings.NewReader(`{"version": 4, "resources": [
	  {"mode": "managed", "type": "google_compute_subnetwork", "name": "s",
	   "instances": [{"attributes": {"id": "projects/acme-prod/regions/us-east1/subnetworks/prod-s", "name": "prod-s"}}]},
	  {"mode": "managed", "type": "google_compute_instance", "name": "i",
	   "instances": [{"attributes": {"id": "projects/acme-prod/zones/us-east1-b/instances/prod-i", "name": "prod-i",
	     "self_link": "https://www.googleapis.com/compute/v1/projects/acme-prod/zones/us-east1-b/instances/prod-i"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ix.WithState("env", st)
	for _, c := range []struct{ typ, name, want string }{
		{inventory.TypeSubnetwork, sub, "managed env/main.tf:3 google_compute_subnetwork.s"},
		{inventory.TypeInstance, inst, "managed env/main.tf:9 google_compute_instance.i"},
		{inventory.TypeInstance, instanceName("acme-prod", "us-east1-c", "prod-i"), "unmanaged []"},
	} {
		m := ix.Owner(c.typ, c.name, nil)
		if got := where(m); got != c.want {
			t.Errorf("%s: got %s, want %s (%s)", c.name, got, c.want, m.Why)
		}
		if m.Status == Managed {
			if _, err := ix.Patch(m, map[string]string{inventory.TypeSubnetwork: EditEnablePrivateAccess,
				inventory.TypeInstance: EditSetInstanceMetadata}[c.typ], metadataParam("serial-port-enable", "FALSE"), nil); err != nil {
				t.Errorf("%s: patch after a state match: %v", c.name, err)
			}
		}
	}
}
