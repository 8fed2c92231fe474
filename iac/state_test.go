package iac

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/sandbox"
)

const stateSecret = "-----BEGIN PRIVATE KEY-----c2VjcmV0LWtleS1tYXRlcmlhbA=="

// testState is a state v4 file of envs/prod with secrets in attributes, outputs and private.
const testState = `{
  "version": 4,
  "terraform_version": "1.9.5",
  "serial": 7,
  "lineage": "0b7c6f1e",
  "outputs": {"key": {"value": "` + stateSecret + `", "type": "string", "sensitive": true}},
  "resources": [
    {"mode": "managed", "type": "google_compute_firewall", "name": "ssh",
     "provider": "provider[\"registry.terraform.io/hashicorp/google\"]",
     "instances": [{"schema_version": 1, "attributes": {"id": "projects/acme-prod/global/firewalls/live-ssh",
       "name": "live-ssh", "project": "acme-prod", "network": "default",
       "self_link": "https://www.googleapis.com/compute/v1/projects/acme-prod/global/firewalls/live-ssh"},
       "private": "eyJzZWNyZXQiOiJ4In0="}]},
    {"module": "module.base", "mode": "managed", "type": "google_compute_firewall", "name": "fw", "each": "map",
     "instances": [
       {"index_key": "a", "attributes": {"id": "projects/acme-prod/global/firewalls/live-a", "name": "live-a", "project": "acme-prod"}},
       {"index_key": "b", "attributes": {"id": "projects/acme-prod/global/firewalls/live-b", "name": "live-b", "project": "acme-prod"}}]},
    {"mode": "managed", "type": "google_compute_network", "name": "vpc", "each": "list",
     "instances": [{"index_key": 0, "attributes": {"id": "projects/acme-prod/global/networks/live-vpc", "name": "live-vpc", "project": "acme-prod"}}]},
    {"mode": "managed", "type": "google_project_iam_member", "name": "editor",
     "instances": [{"attributes": {"id": "acme-prod/roles/editor/user:bob@example.com", "project": "acme-prod",
       "role": "roles/editor", "member": "user:bob@example.com", "etag": "BwX"}}]},
    {"module": "module.remote", "mode": "managed", "type": "google_compute_firewall", "name": "x",
     "instances": [{"attributes": {"id": "projects/acme-prod/global/firewalls/remote-x", "name": "remote-x"}}]},
    {"mode": "managed", "type": "google_service_account_key", "name": "k",
     "instances": [{"attributes": {"id": "projects/acme-prod/serviceAccounts/a@acme-prod.iam.gserviceaccount.com/keys/k1",
       "name": "projects/acme-prod/serviceAccounts/a@acme-prod.iam.gserviceaccount.com/keys/k1",
       "private_key": "` + stateSecret + `", "public_key": "pub", "private_key_type": "TYPE_GOOGLE_CREDENTIALS_FILE"},
       "sensitive_attributes": [[{"type": "get_attr", "value": "private_key"}]]}]},
    {"mode": "data", "type": "google_client_config", "name": "cur",
     "instances": [{"attributes": {"id": "d", "access_token": "` + stateSecret + `"}}]}
  ],
  "check_results": null
}`

const stateMain = `terraform {
  backend "gcs" {
    bucket = var.state_bucket
    prefix = "envs/${local.env}"
  }
}

variable "unset" {}

variable "state_bucket" {
  default = "acme-tfstate"
}

locals {
  env = "prod"
}

provider "google" {
  project = "acme-prod"
}

resource "google_compute_firewall" "ssh" {
  name          = var.unset
  network       = "default"
  source_ranges = ["0.0.0.0/0"]
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}

resource "google_compute_firewall" "web" {
  name    = "allow-web"
  network = "default"
  allow {
    protocol = "tcp"
    ports    = ["80"]
  }
}

resource "google_compute_network" "vpc" {
  count = 1
  name  = "vpc-${var.unset}"
}

resource "google_project_iam_member" "editor" {
  project = var.unset
  role    = "roles/editor"
  member  = "user:bob@example.com"
}

module "base" {
  source = "../../modules/base"
  names  = ["a", "b"]
}
`

const stateModule = `variable "names" {}

variable "prefix" {}

resource "google_compute_firewall" "fw" {
  for_each = toset(var.names)
  name     = "${var.prefix}-${each.key}"
  network  = "default"
}
`

func stateRepo(t *testing.T) *Index {
	t.Helper()
	ix, err := Load(fstest.MapFS{
		"envs/prod/main.tf":    {Data: []byte(stateMain)},
		"modules/base/main.tf": {Data: []byte(stateModule)},
	}, []string{"envs/prod"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Problems) > 0 {
		t.Fatalf("problems: %v", ix.Problems)
	}
	return ix
}

func parseTestState(t *testing.T) *State {
	t.Helper()
	st, err := ParseState(strings.NewReader(testState))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestParseStateKeepsOnlyAddressesAndIDs(t *testing.T) {
	st := parseTestState(t)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{stateSecret, "c2VjcmV0LWtleS1tYXRlcmlhbA", "eyJzZWNyZXQiOiJ4In0", "pub", "BwX", "0b7c6f1e"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the parsed state keeps %q: %s", secret, b)
		}
	}
	var got []string
	for _, r := range st.Resources {
		got = append(got, r.Address+" "+r.ID)
	}
	want := []string{
		"google_compute_firewall.ssh projects/acme-prod/global/firewalls/live-ssh",
		`module.base.google_compute_firewall.fw["a"] projects/acme-prod/global/firewalls/live-a`,
		`module.base.google_compute_firewall.fw["b"] projects/acme-prod/global/firewalls/live-b`,
		"google_compute_network.vpc[0] projects/acme-prod/global/networks/live-vpc",
		"google_project_iam_member.editor acme-prod/roles/editor/user:bob@example.com",
		"module.remote.google_compute_firewall.x projects/acme-prod/global/firewalls/remote-x",
		"google_service_account_key.k projects/acme-prod/serviceAccounts/a@acme-prod.iam.gserviceaccount.com/keys/k1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := st.Resources[0]; r.Name != "live-ssh" || r.Project != "acme-prod" || !strings.HasSuffix(r.SelfLink, "/firewalls/live-ssh") {
		t.Errorf("first resource: %+v", r)
	}
}

func TestParseStateErrors(t *testing.T) {
	for name, src := range map[string]string{
		"syntax":      `{"version": 4, "resources": [{"type": "` + stateSecret + `" oops}]}`,
		"type":        `{"version": 4, "resources": [{"mode": "managed", "type": ["` + stateSecret + `"]}]}`,
		"version":     `{"version": 3, "modules": [{"resources": {"x": "` + stateSecret + `"}}]}`,
		"no version":  `{"resources": []}`,
		"bad key":     `{"version": 4, "resources": [{"mode": "managed", "type": "t", "name": "n", "instances": [{"index_key": {"k": "` + stateSecret + `"}}]}]}`,
		"not json":    stateSecret,
		"not a state": `"` + stateSecret + `"`,
	} {
		st, err := ParseState(strings.NewReader(src))
		if err == nil {
			t.Errorf("%s: no error, state %+v", name, st)
			continue
		}
		if !errors.Is(err, ErrBadState) {
			t.Errorf("%s: %v does not wrap ErrBadState", name, err)
		}
		if strings.Contains(err.Error(), "PRIVATE") || strings.Contains(err.Error(), "c2Vj") {
			t.Errorf("%s: the error quotes the state: %v", name, err)
		}
	}
}

func TestOwnerFromState(t *testing.T) {
	ix := stateRepo(t)
	ssh := fwName("acme-prod", "live-ssh")
	if m := ix.Owner(inventory.TypeFirewall, ssh, nil); m.Status != Unresolved {
		t.Fatalf("without state: %s (%s)", where(m), m.Why)
	}
	if m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "allow-web"), nil); m.Status != Ambiguous {
		t.Fatalf("without state, the unevaluated name of ssh may be allow-web: %s (%s)", where(m), m.Why)
	}
	ix.WithState("envs/prod", parseTestState(t))
	iam := "//cloudresourcemanager.googleapis.com/projects/acme-prod"
	for _, tc := range []struct {
		name, assetType, resource string
		evidence                  map[string]any
		want                      string
	}{
		{"name from an unset variable", inventory.TypeFirewall, ssh, nil,
			"managed envs/prod/main.tf:22 google_compute_firewall.ssh"},
		{"self link", inventory.TypeFirewall, "https://www.googleapis.com/compute/v1/projects/acme-prod/global/firewalls/live-ssh", nil,
			"managed envs/prod/main.tf:22 google_compute_firewall.ssh"},
		{"module instance", inventory.TypeFirewall, fwName("acme-prod", "live-b"), nil,
			`managed envs/prod/main.tf:54 module.base.google_compute_firewall.fw["b"]`},
		{"counted network", inventory.TypeNetwork, "//compute.googleapis.com/projects/acme-prod/global/networks/live-vpc", nil,
			"managed envs/prod/main.tf:41 google_compute_network.vpc[0]"},
		{"iam member", inventory.TypeProject, iam, map[string]any{"role": "roles/editor", "member": "user:bob@example.com"},
			"managed envs/prod/main.tf:46 google_project_iam_member.editor"},
		{"iam member, email case", inventory.TypeProject, iam, map[string]any{"role": "roles/editor", "member": "user:Bob@Example.com"},
			"managed envs/prod/main.tf:46 google_project_iam_member.editor"},
		{"iam member, another role", inventory.TypeProject, iam, map[string]any{"role": "roles/editorx", "member": "user:bob@example.com"},
			"unmanaged"},
		{"not in state, config by name", inventory.TypeFirewall, fwName("acme-prod", "allow-web"), nil,
			"managed envs/prod/main.tf:32 google_compute_firewall.web"},
		{"another project", inventory.TypeFirewall, fwName("acme-dev", "live-ssh"), nil, "unmanaged"},
		{"conditional grant is another grant", inventory.TypeProject, iam,
			map[string]any{"role": "roles/editor", "member": "user:bob@example.com", "condition": map[string]any{"title": "t", "expression": "e"}},
			"unmanaged"},
		{"address outside the index", inventory.TypeFirewall, fwName("acme-prod", "remote-x"), nil,
			"unresolved module.remote.google_compute_firewall.x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			got := where(m)
			if m.Status != Managed && len(m.Candidates) > 0 && strings.HasPrefix(m.Candidates[0].Why, "the Terraform state") {
				got = string(m.Status) + " " + m.Candidates[0].Address
			} else if m.Status != Managed {
				got = string(m.Status)
			}
			if got != tc.want {
				t.Errorf("got %s (%s), want %s", got, m.Why, tc.want)
			}
		})
	}
	m := ix.Owner(inventory.TypeFirewall, ssh, nil)
	if m.Root != "envs/prod" || m.Kind != KindFirewall || !strings.Contains(m.Why, "state") {
		t.Errorf("match %+v", m)
	}
	if _, err := ix.Patch(m, EditDisableFirewall, nil, nil); err != nil {
		t.Errorf("patching a match found through state: %v", err)
	}
	ix.WithState("envs/prod", nil)
	if m := ix.Owner(inventory.TypeFirewall, ssh, nil); m.Status != Unresolved {
		t.Errorf("after forgetting the state: %s", where(m))
	}
}

func TestBackend(t *testing.T) {
	ix := stateRepo(t)
	b, ok := Backend(ix, "envs/prod")
	if !ok || b != (GCSBackend{Bucket: "acme-tfstate", Prefix: "envs/prod"}) {
		t.Fatalf("Backend = %+v, %v", b, ok)
	}
	if got := b.Object(""); got != "envs/prod/default.tfstate" {
		t.Errorf("Object = %s", got)
	}
	if _, ok := Backend(ix, "modules/base"); ok {
		t.Error("a module without a backend has one")
	}
	for name, src := range map[string]string{
		"no prefix":       "terraform {\n  backend \"gcs\" {\n    bucket = \"b\"\n  }\n}\n",
		"unknown bucket":  "variable \"b\" {}\n\nterraform {\n  backend \"gcs\" {\n    bucket = var.b\n  }\n}\n",
		"another backend": "terraform {\n  backend \"s3\" {\n    bucket = \"b\"\n  }\n}\n",
	} {
		ix := loadOne(t, "main.tf", []byte(src))
		b, ok := Backend(ix, "env")
		switch name {
		case "no prefix":
			if !ok || b != (GCSBackend{Bucket: "b"}) || b.Object("dev") != "dev.tfstate" {
				t.Errorf("%s: %+v, %v", name, b, ok)
			}
		default:
			if ok {
				t.Errorf("%s: %+v", name, b)
			}
		}
	}
}

func TestReadGCSState(t *testing.T) {
	srv, err := sandbox.New(&sandbox.Scenario{}, sandbox.WithStorage(fstest.MapFS{
		"acme-tfstate/envs/prod/default.tfstate": {Data: []byte(testState)},
		"acme-tfstate/envs/prod/broken.tfstate":  {Data: []byte(`{"version": 4, "resources": [` + stateSecret)},
	}))
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx := context.Background()
	svc, err := storage.NewService(ctx, option.WithEndpoint(url+"/storage/v1/"), option.WithoutAuthentication(),
		option.WithHTTPClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	b := GCSBackend{Bucket: "acme-tfstate", Prefix: "envs/prod"}
	st, err := ReadGCSState(ctx, svc, b, "")
	if err != nil {
		t.Fatal(err)
	}
	if st == nil || len(st.Resources) != 7 || st.Resources[1].Address != `module.base.google_compute_firewall.fw["a"]` {
		t.Fatalf("state %+v", st)
	}
	for _, tc := range []struct {
		b         GCSBackend
		workspace string
	}{{b, "staging"}, {GCSBackend{Bucket: "nobucket", Prefix: "envs/prod"}, "default"}} {
		st, err := ReadGCSState(ctx, svc, tc.b, tc.workspace)
		if st != nil || err != nil {
			t.Errorf("%+v %s: %+v, %v; want no state", tc.b, tc.workspace, st, err)
		}
	}
	_, err = ReadGCSState(ctx, svc, b, "broken")
	if !errors.Is(err, ErrBadState) || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("broken state: %v", err)
	}

	ix := stateRepo(t)
	be, ok := Backend(ix, "envs/prod")
	if !ok {
		t.Fatal("no backend")
	}
	st, err = ReadGCSState(ctx, svc, be, "default")
	if err != nil || st == nil {
		t.Fatalf("ReadGCSState: %v, %v", st, err)
	}
	ix.WithState("envs/prod", st)
	if m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "live-a"), nil); m.Status != Managed ||
		m.Address != `module.base.google_compute_firewall.fw["a"]` {
		t.Errorf("owner through the backend's state: %s (%s)", where(m), m.Why)
	}
}

func TestWithStateConcurrent(t *testing.T) {
	ix := stateRepo(t)
	st := parseTestState(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if i%2 == 0 {
				ix.WithState("envs/prod", st)
			} else {
				ix.WithState("envs/prod", nil)
			}
		}
	}()
	for range 50 {
		if m := ix.Owner(inventory.TypeFirewall, fwName("acme-prod", "live-ssh"), nil); m.Status != Managed && m.Status != Unresolved {
			t.Errorf("status %s", m.Status)
		}
	}
	<-done
}

// stateMoreMain declares resources whose configuration alone cannot single out the live
// resource, next to the state that can.
const stateMoreMain = `provider "google" {
  project = "acme-prod"
}

variable "unset" {}

resource "google_project_iam_binding" "viewers" {
  project = var.unset
  role    = "roles/viewer"
  members = [
    "user:carol@example.com",
    "group:ops@example.com",
  ]
}

resource "google_folder_iam_member" "auditor" {
  folder = var.unset
  role   = "roles/browser"
  member = "user:dave@example.com"
}

resource "google_service_account_key" "rotating" {
  for_each           = toset(["blue", "green"])
  service_account_id = "projects/acme-prod/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com"
}

module "edge_firewall" {
  source       = "terraform-google-modules/network/google//modules/firewall-rules"
  project_id   = var.unset
  network_name = "edge"
  rules = [{
    name   = "edge-ssh"
    ranges = ["0.0.0.0/0"]
    allow  = [{ protocol = "tcp", ports = ["22"] }]
  }]
}
`

const stateMore = `{
  "version": 4, "serial": 1, "lineage": "l",
  "resources": [
    {"mode": "managed", "type": "google_project_iam_binding", "name": "viewers",
     "instances": [{"attributes": {"id": "acme-prod/roles/viewer", "project": "acme-prod", "role": "roles/viewer"}}]},
    {"mode": "managed", "type": "google_folder_iam_member", "name": "auditor",
     "instances": [{"attributes": {"id": "folders/123/roles/browser/user:dave@example.com"}}]},
    {"mode": "managed", "type": "google_service_account_key", "name": "rotating", "each": "map",
     "instances": [
       {"index_key": "blue", "attributes": {"id": "projects/acme-prod/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com/keys/k-blue"}},
       {"index_key": "green", "attributes": {"id": "projects/acme-prod/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com/keys/k-green"}}]},
    {"module": "module.edge_firewall", "mode": "managed", "type": "google_compute_firewall", "name": "rules", "each": "map",
     "instances": [{"index_key": "edge-ssh", "attributes": {"id": "projects/acme-prod/global/firewalls/edge-ssh", "name": "edge-ssh"}}]}
  ]
}`

func TestOwnerFromStateConfirmsConfiguration(t *testing.T) {
	ix, err := Load(fstest.MapFS{"envs/edge/main.tf": {Data: []byte(stateMoreMain)}}, []string{"envs/edge"})
	if err != nil {
		t.Fatal(err)
	}
	project := "//cloudresourcemanager.googleapis.com/projects/acme-prod"
	folder := "//cloudresourcemanager.googleapis.com/folders/123"
	key := func(id string) string {
		return "//iam.googleapis.com/projects/acme-prod/serviceAccounts/ci@acme-prod.iam.gserviceaccount.com/keys/" + id
	}
	cases := []struct {
		name, assetType, resource string
		evidence                  map[string]any
		without, with             string
	}{
		{"binding member in an unevaluated project", inventory.TypeProject, project,
			map[string]any{"role": "roles/viewer", "member": "group:ops@example.com"},
			"unresolved [envs/edge/main.tf:12 google_project_iam_binding.viewers]",
			"managed envs/edge/main.tf:12 google_project_iam_binding.viewers"},
		{"binding without the member", inventory.TypeProject, project,
			map[string]any{"role": "roles/viewer", "member": "user:eve@example.com"}, "unmanaged []", "unmanaged []"},
		{"folder member", inventory.TypeFolder, folder,
			map[string]any{"role": "roles/browser", "member": "user:dave@example.com"},
			"unresolved [envs/edge/main.tf:16 google_folder_iam_member.auditor]",
			"managed envs/edge/main.tf:16 google_folder_iam_member.auditor"},
		{"one key of a for_each", inventory.TypeServiceAccountKey, key("k-green"), nil,
			`ambiguous [envs/edge/main.tf:23 google_service_account_key.rotating["blue"], envs/edge/main.tf:23 google_service_account_key.rotating["green"]]`,
			`managed envs/edge/main.tf:23 google_service_account_key.rotating["green"]`},
		{"firewall in a registry module", inventory.TypeFirewall, fwName("acme-prod", "edge-ssh"), nil,
			"unresolved [envs/edge/main.tf:31 module.edge_firewall.rules[0]]",
			"managed envs/edge/main.tf:31 module.edge_firewall.rules[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix.WithState("envs/edge", nil)
			if got := where(ix.Owner(tc.assetType, tc.resource, tc.evidence)); got != tc.without {
				t.Errorf("without state: got %s, want %s", got, tc.without)
			}
			st, err := ParseState(strings.NewReader(stateMore))
			if err != nil {
				t.Fatal(err)
			}
			ix.WithState("envs/edge", st)
			m := ix.Owner(tc.assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.with {
				t.Errorf("with state: got %s (%s), want %s", got, m.Why, tc.with)
			}
			if m.Status == Managed {
				if !strings.Contains(m.Why, "Terraform state") {
					t.Errorf("why does not say the state decided: %s", m.Why)
				}
				edit := map[string]string{inventory.TypeServiceAccountKey: EditRemoveResource, inventory.TypeFirewall: EditDisableFirewall}[tc.assetType]
				p, err := ix.Patch(m, cmp.Or(edit, EditRemoveIAMMember), nil, tc.evidence)
				if err != nil {
					t.Fatalf("patching a match found through state: %v", err)
				}
				if bytes.Equal(p.Before, p.After) {
					t.Error("the patch changes nothing")
				}
			}
		})
	}
}

// ownerWithState checks Owner's answer from the configuration alone against without, then
// gives root the state stateJSON and returns Owner's answer with it.
func ownerWithState(t *testing.T, ix *Index, root, stateJSON, without, assetType, resource string, evidence map[string]any) Match {
	t.Helper()
	ix.WithState(root, nil)
	if got := where(ix.Owner(assetType, resource, evidence)); got != without {
		t.Errorf("without state: got %s, want %s", got, without)
	}
	st, err := ParseState(strings.NewReader(stateJSON))
	if err != nil {
		t.Fatal(err)
	}
	ix.WithState(root, st)
	return ix.Owner(assetType, resource, evidence)
}

// stateSettingsMain declares projects' audit configurations and metadata through a variable
// without a value and through a module input: the configuration alone cannot say which
// project they are for, the state can.
const stateSettingsMain = `variable "project_id" {}

variable "tenant_project" {}

resource "google_project_iam_member" "other_viewer" {
  project = "acme-other"
  role    = "roles/viewer"
  member  = "group:ops@example.com"
}

resource "google_project_iam_audit_config" "all" {
  project = var.project_id
  service = "allServices"

  audit_log_config {
    log_type = "ADMIN_READ"
  }
}

resource "google_compute_project_metadata_item" "oslogin" {
  project = var.project_id
  key     = "enable-oslogin"
  value   = "FALSE"
}

module "tenant" {
  source     = "../../modules/tenant"
  project_id = var.tenant_project
}
`

const stateSettingsModule = `variable "project_id" {}

resource "google_project_iam_audit_config" "this" {
  project = var.project_id
  service = "allServices"

  audit_log_config {
    log_type = "DATA_READ"
  }
}

resource "google_compute_project_metadata" "this" {
  project = var.project_id
  metadata = {
    serial-port-enable = "TRUE"
  }
}
`

// stateSettings records the blocks of stateSettingsMain for acme-app and acme-tenant; the
// module's audit configuration has only its ID, as the provider writes it.
const stateSettings = `{
  "version": 4, "serial": 3, "lineage": "l",
  "resources": [
    {"mode": "managed", "type": "google_project_iam_member", "name": "other_viewer",
     "instances": [{"attributes": {"id": "acme-other/roles/viewer/group:ops@example.com", "project": "acme-other"}}]},
    {"mode": "managed", "type": "google_project_iam_audit_config", "name": "all",
     "instances": [{"attributes": {"id": "acme-app/audit_config/allServices", "project": "acme-app", "service": "allServices", "etag": "BwX"}}]},
    {"mode": "managed", "type": "google_compute_project_metadata_item", "name": "oslogin",
     "instances": [{"attributes": {"id": "enable-oslogin", "project": "acme-app", "key": "enable-oslogin", "value": "FALSE"}}]},
    {"module": "module.tenant", "mode": "managed", "type": "google_project_iam_audit_config", "name": "this",
     "instances": [{"attributes": {"id": "acme-tenant/audit_config/allServices"}}]},
    {"module": "module.tenant", "mode": "managed", "type": "google_compute_project_metadata", "name": "this",
     "instances": [{"attributes": {"id": "acme-tenant", "project": "acme-tenant", "metadata": {"serial-port-enable": "TRUE"}}}]}
  ]
}`

// TestOwnerProjectSettingsFromState: an audit configuration or a project metadata block
// whose project is computed is resolved through the state's instances, by their project and
// service (or key) attributes or their IDs; a block the state records for another project is
// not a candidate, which leaves a new block next to the project's IAM.
func TestOwnerProjectSettingsFromState(t *testing.T) {
	ix := loadClean(t, fstest.MapFS{
		"envs/app/main.tf":       {Data: []byte(stateSettingsMain)},
		"modules/tenant/main.tf": {Data: []byte(stateSettingsModule)},
	}, "envs/app")
	project := func(p string) string { return "//cloudresourcemanager.googleapis.com/projects/" + p }
	audit := auditEv("", []string{"DATA_READ"}, nil)
	cases := []struct {
		name, assetType, resource string
		evidence                  map[string]any
		without, with             string
	}{
		{"audit config of a variable's project", inventory.TypeProject, project("acme-app"), audit,
			"unresolved [envs/app/main.tf:11 google_project_iam_audit_config.all, modules/tenant/main.tf:3 module.tenant.google_project_iam_audit_config.this]",
			"managed envs/app/main.tf:11 google_project_iam_audit_config.all"},
		{"audit config, project by number with its ID in the evidence", inventory.TypeProject, project("100000000007"),
			auditEv("acme-app", []string{"DATA_READ"}, nil),
			"unresolved [envs/app/main.tf:11 google_project_iam_audit_config.all, modules/tenant/main.tf:3 module.tenant.google_project_iam_audit_config.this]",
			"managed envs/app/main.tf:11 google_project_iam_audit_config.all"},
		{"audit config of a module input's project, by its state ID", inventory.TypeProject, project("acme-tenant"), audit,
			"unresolved [envs/app/main.tf:11 google_project_iam_audit_config.all, modules/tenant/main.tf:3 module.tenant.google_project_iam_audit_config.this]",
			"managed modules/tenant/main.tf:3 module.tenant.google_project_iam_audit_config.this"},
		{"the state puts every audit config in other projects: a new one after the project's IAM", inventory.TypeProject, project("acme-other"), audit,
			"unresolved [envs/app/main.tf:11 google_project_iam_audit_config.all, modules/tenant/main.tf:3 module.tenant.google_project_iam_audit_config.this]",
			"managed envs/app/main.tf:5 google_project_iam_audit_config.acme_other_all_services"},
		{"metadata item of a variable's project", inventory.TypeComputeProject, computeProject("acme-app"),
			projectMetadataEv("acme-app", "enable-oslogin"),
			"unresolved [envs/app/main.tf:20 google_compute_project_metadata_item.oslogin, modules/tenant/main.tf:12 module.tenant.google_compute_project_metadata.this]",
			"managed envs/app/main.tf:20 google_compute_project_metadata_item.oslogin"},
		{"authoritative metadata of a module input's project", inventory.TypeComputeProject, computeProject("acme-tenant"),
			projectMetadataEv("acme-tenant", "serial-port-enable"),
			"unresolved [modules/tenant/main.tf:12 module.tenant.google_compute_project_metadata.this]",
			"managed modules/tenant/main.tf:12 module.tenant.google_compute_project_metadata.this"},
		{"the state puts the metadata blocks in other projects", inventory.TypeComputeProject, computeProject("acme-other"),
			projectMetadataEv("acme-other", "enable-oslogin"),
			"unresolved [envs/app/main.tf:20 google_compute_project_metadata_item.oslogin, modules/tenant/main.tf:12 module.tenant.google_compute_project_metadata.this]",
			"unmanaged []"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := ownerWithState(t, ix, "envs/app", stateSettings, tc.without, tc.assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.with {
				t.Errorf("with state: got %s (%s), want %s", got, m.Why, tc.with)
			}
			if m.Status != Managed {
				return
			}
			if !strings.Contains(m.Why, "Terraform state") && !strings.HasPrefix(m.Why, "no google_project_iam_audit_config") {
				t.Errorf("why does not say the state decided: %s", m.Why)
			}
			edit, params := EditSetAuditConfig, auditParams()
			if tc.assetType == inventory.TypeComputeProject {
				key := tc.evidence["metadataKey"].(string)
				edit, params = EditSetInstanceMetadata, metadataParam(key, map[string]string{"enable-oslogin": "TRUE", "serial-port-enable": "FALSE"}[key])
			}
			p, err := ix.Patch(m, edit, params, tc.evidence)
			if err != nil {
				t.Fatalf("patching a match found through state: %v", err)
			}
			if bytes.Equal(p.Before, p.After) {
				t.Error("the patch changes nothing")
			}
		})
	}
}

// stateUnsettledMain declares audit configurations and metadata that a state records but
// cannot settle: instances of a for_each that cannot be evaluated, an IAM policy that
// overrides any audit configuration, two blocks for one project.
const stateUnsettledMain = `variable "projects" {}

variable "project_id" {}

resource "google_project_iam_audit_config" "each" {
  for_each = toset(var.projects)
  project  = each.value
  service  = "allServices"

  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

data "google_iam_policy" "locked" {
  binding {
    role    = "roles/viewer"
    members = ["group:ops@example.com"]
  }
}

resource "google_project_iam_policy" "locked" {
  project     = var.project_id
  policy_data = data.google_iam_policy.locked.policy_data
}

resource "google_compute_project_metadata_item" "oslogin" {
  project = var.project_id
  key     = "enable-oslogin"
  value   = "TRUE"
}

resource "google_compute_project_metadata" "all" {
  project = var.project_id
  metadata = {
    enable-oslogin = "TRUE"
  }
}
`

// TestOwnerProjectSettingsStateUnsettled: what a state records but cannot settle stays
// Unresolved or Ambiguous, with the state's addresses as candidates and a reason.
func TestOwnerProjectSettingsStateUnsettled(t *testing.T) {
	ix := loadClean(t, fstest.MapFS{"envs/fleet/main.tf": {Data: []byte(stateUnsettledMain)}}, "envs/fleet")
	const (
		each = `{"mode": "managed", "type": "google_project_iam_audit_config", "name": "each", "each": "map",
		  "instances": [{"index_key": "%[1]s", "attributes": {"id": "%[1]s/audit_config/allServices", "project": "%[1]s", "service": "allServices"}}]}`
		policy = `{"mode": "managed", "type": "google_project_iam_policy", "name": "locked",
		  "instances": [{"attributes": {"id": "acme-locked", "project": "acme-locked", "policy_data": "{}"}}]}`
		item = `{"mode": "managed", "type": "google_compute_project_metadata_item", "name": "oslogin",
		  "instances": [{"attributes": {"id": "enable-oslogin", "project": "acme-fleet-1", "key": "enable-oslogin"}}]}`
		metadata = `{"mode": "managed", "type": "google_compute_project_metadata", "name": "all",
		  "instances": [{"attributes": {"id": "acme-fleet-1", "project": "acme-fleet-1"}}]}`
	)
	project := func(p string) string { return "//cloudresourcemanager.googleapis.com/projects/" + p }
	audit := auditEv("", []string{"DATA_WRITE"}, nil)
	cases := []struct {
		name, resource string
		evidence       map[string]any
		state          []string
		without, with  string
		why            string
	}{
		{"an instance of a for_each that cannot be evaluated", project("acme-fleet-1"), audit,
			[]string{fmt.Sprintf(each, "acme-fleet-1"), policy},
			`unresolved [envs/fleet/main.tf:5 google_project_iam_audit_config.each[?], envs/fleet/main.tf:22 google_project_iam_policy.locked]`,
			`unresolved [:0 google_project_iam_audit_config.each["acme-fleet-1"]]`, "could not be traced to a block"},
		{"the project's authoritative IAM policy", project("acme-locked"), audit, []string{policy},
			`unresolved [envs/fleet/main.tf:5 google_project_iam_audit_config.each[?], envs/fleet/main.tf:22 google_project_iam_policy.locked]`,
			`unresolved [envs/fleet/main.tf:22 google_project_iam_policy.locked]`, "authoritative for the project's IAM policy"},
		{"an audit config next to the policy that overrides it", project("acme-locked"), audit,
			[]string{fmt.Sprintf(each, "acme-locked"), policy},
			`unresolved [envs/fleet/main.tf:5 google_project_iam_audit_config.each[?], envs/fleet/main.tf:22 google_project_iam_policy.locked]`,
			`ambiguous [:0 google_project_iam_audit_config.each["acme-locked"], envs/fleet/main.tf:22 google_project_iam_policy.locked]`,
			"2 Terraform state instances"},
		{"a metadata item next to the authoritative metadata", computeProject("acme-fleet-1"), projectMetadataEv("acme-fleet-1", "enable-oslogin"),
			[]string{item, metadata},
			`unresolved [envs/fleet/main.tf:27 google_compute_project_metadata_item.oslogin, envs/fleet/main.tf:33 google_compute_project_metadata.all]`,
			`ambiguous [envs/fleet/main.tf:27 google_compute_project_metadata_item.oslogin, envs/fleet/main.tf:33 google_compute_project_metadata.all]`,
			"2 Terraform state instances"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assetType := inventory.TypeProject
			if tc.evidence["metadataKey"] != nil {
				assetType = inventory.TypeComputeProject
			}
			st := `{"version": 4, "resources": [` + strings.Join(tc.state, ",\n") + `]}`
			m := ownerWithState(t, ix, "envs/fleet", st, tc.without, assetType, tc.resource, tc.evidence)
			if got := where(m); got != tc.with {
				t.Errorf("with state: got %s (%s), want %s", got, m.Why, tc.with)
			}
			if !strings.Contains(m.Why, tc.why) {
				t.Errorf("why %q does not say %q", m.Why, tc.why)
			}
			for _, c := range m.Candidates {
				if !strings.HasPrefix(c.Why, "the Terraform state") {
					t.Errorf("candidate %s: %s does not name the state", c.Address, c.Why)
				}
			}
		})
	}
}
