package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerodrift/zerodrift/inventory"
	"github.com/zerodrift/zerodrift/rules"
	"github.com/zerodrift/zerodrift/scan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const exportFixture = `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/ssh","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"ssh","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}
{"name":"//compute.googleapis.com/projects/p1/global/firewalls/gke-c-1-all","asset_type":"compute.googleapis.com/Firewall","resource":{"data":{"name":"gke-c-1-all","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp"}]}}}
{"name":"//compute.googleapis.com/projects/p2/global/networks/default","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"default","autoCreateSubnetworks":true}}}
{"name":"//cloudresourcemanager.googleapis.com/organizations/1","asset_type":"cloudresourcemanager.googleapis.com/Organization","iam_policy":{"bindings":[{"role":"roles/editor","members":["allUsers"]}]}}
`

func fixtureReport(t *testing.T) *scan.Report {
	t.Helper()
	rep, err := scan.Run(context.Background(), &inventory.ExportSource{Name: "export.json", R: strings.NewReader(exportFixture)},
		scan.Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	rep.Errors = append(rep.Errors, inventory.SourceError{Project: "p3", Service: "compute", Resource: "firewalls", Code: 403,
		Reason: "accessNotConfigured", Message: "Compute Engine API has not been used in project p3\nbefore or it is disabled."})
	rep.Summary.Errors = len(rep.Errors)
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update, then review the diff):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	for _, format := range Formats {
		var buf bytes.Buffer
		if err := Write(&buf, format, fixtureReport(t), Options{Version: "test"}); err != nil {
			t.Fatal(err)
		}
		golden(t, "report."+format, buf.Bytes())
	}
}

func TestTableColoursOnlyWhenAsked(t *testing.T) {
	var plain, colour bytes.Buffer
	rep := fixtureReport(t)
	if err := Write(&plain, "table", rep, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&colour, "table", rep, Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain table has colour codes")
	}
	if !strings.Contains(colour.String(), "\x1b[1;31mCRITICAL") {
		t.Errorf("coloured table lacks a red CRITICAL:\n%q", colour.String())
	}
	// Text from the cloud cannot break the table's lines.
	if strings.Contains(plain.String(), "p3\nbefore") {
		t.Error("a newline in an error message reached the table")
	}
}

func TestJSONHasEmptyListsNotNull(t *testing.T) {
	rep, err := scan.Run(context.Background(), &inventory.ExportSource{Name: "empty", R: strings.NewReader("")},
		scan.Options{Rules: rules.Default(), Env: rules.DefaultEnv(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, "json", rep, Options{}); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"findings", "skipped", "errors"} {
		if l, ok := m[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %#v, want []", k, m[k])
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "xml", fixtureReport(t), Options{}); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("got %v", err)
	}
}

func TestSARIFPointsAtTheDeclaringTerraform(t *testing.T) {
	var buf bytes.Buffer
	rep := fixtureReport(t)
	declared := map[string]FileLine{}
	for _, f := range rep.Findings {
		if f.Resource == "//compute.googleapis.com/projects/p1/global/firewalls/ssh" {
			declared[f.ID] = FileLine{File: "envs/prod/firewall.tf", Line: 12}
		}
	}
	if err := Write(&buf, "sarif", rep, Options{Declared: declared}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"uri": "envs/prod/firewall.tf"`) || !strings.Contains(out, `"startLine": 12`) {
		t.Errorf("SARIF does not point at envs/prod/firewall.tf:12:\n%s", out)
	}
	if !strings.Contains(out, `"uri": "gcp/compute.googleapis.com/projects/p2/global/networks/default"`) {
		t.Error("an undeclared resource lost its gcp/ artifact")
	}
}
