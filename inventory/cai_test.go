package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const exportLine = `{"name":"//compute.googleapis.com/projects/p1/global/firewalls/allow-ssh","asset_type":"compute.googleapis.com/Firewall","ancestors":["projects/123","organizations/9"],"update_time":"2026-11-01T10:00:00.123Z","resource":{"version":"v1","discovery_document_uri":"https://www.googleapis.com/discovery/v1/apis/compute/v1/rest","discovery_name":"Firewall","parent":"//cloudresourcemanager.googleapis.com/projects/123","data":{"name":"allow-ssh","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}]}}}`

const policyLine = `{"name":"//cloudresourcemanager.googleapis.com/projects/123","asset_type":"cloudresourcemanager.googleapis.com/Project","iam_policy":{"version":3,"etag":"BwX=","bindings":[{"role":"roles/editor","members":["serviceAccount:a@p1.iam.gserviceaccount.com"],"condition":{"title":"t","expression":"request.time < timestamp('2027-01-01T00:00:00Z')"}}],"audit_configs":[{"service":"allServices","audit_log_configs":[{"log_type":"DATA_READ","exempted_members":["user:x@acme.example"]}]}]}}`

func decodeAll(t *testing.T, in string, opts DecodeOptions) ([]*Asset, DecodeStats, error) {
	t.Helper()
	var got []*Asset
	st, err := DecodeCAI(context.Background(), strings.NewReader(in), opts, func(a *Asset) error {
		got = append(got, a)
		return nil
	})
	return got, st, err
}

// compactLines turns a JSON array into JSON lines without a final newline.
func compactLines(t *testing.T, array string) string {
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(array), &elems); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range elems {
		var b bytes.Buffer
		if err := json.Compact(&b, e); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b.String())
	}
	return strings.Join(lines, "\n")
}

func TestDecodeCAIShapes(t *testing.T) {
	camelArray := `[
  {
    "name": "//compute.googleapis.com/projects/p1/global/firewalls/allow-ssh",
    "assetType": "compute.googleapis.com/Firewall",
    "updateTime": "2026-11-01T10:00:00.123Z",
    "resource": {"discoveryName": "Firewall", "data": {"name": "allow-ssh", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}}
  },
  {
    "name": "//cloudresourcemanager.googleapis.com/projects/123",
    "assetType": "cloudresourcemanager.googleapis.com/Project",
    "iamPolicy": {"version": 3, "etag": "BwX=", "bindings": [{"role": "roles/editor", "members": ["serviceAccount:a@p1.iam.gserviceaccount.com"], "condition": {"title": "t", "expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}}],
      "auditConfigs": [{"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": ["user:x@acme.example"]}]}]}
  }
]`
	cases := map[string]string{
		"export JSON lines, snake_case":     exportLine + "\n" + policyLine + "\n",
		"list JSON array, camelCase":        camelArray,
		"snake_case in an array":            "[" + exportLine + ",\n" + policyLine + "]",
		"camelCase lines, no final newline": compactLines(t, camelArray),
		"blank lines and CRLF":              "\r\n\n" + exportLine + "\r\n\r\n" + policyLine,
		"byte order mark before the array":  "\xEF\xBB\xBF" + camelArray,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, st, err := decodeAll(t, in, DecodeOptions{Name: "assets.json"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || st.Assets != 2 {
				t.Fatalf("got %d assets (stats %d), want 2", len(got), st.Assets)
			}
			fw, err := got[0].Firewall()
			if err != nil {
				t.Fatal(err)
			}
			if got[0].AssetType != TypeFirewall || fw.Name != "allow-ssh" || fw.SourceRanges[0] != "0.0.0.0/0" || fw.Allowed[0].IPProtocol != "tcp" {
				t.Errorf("firewall decoded as %+v / %+v", got[0], fw)
			}
			if got[0].UpdateTime.IsZero() || got[0].Resource.DiscoveryName != "Firewall" {
				t.Errorf("update time or discovery name lost: %+v", got[0])
			}
			p := got[1].IAMPolicy
			if p == nil || p.Version != 3 || p.Etag != "BwX=" || len(p.Bindings) != 1 || p.Bindings[0].Condition == nil {
				t.Fatalf("policy decoded as %+v", p)
			}
			if len(p.AuditConfigs) != 1 || p.AuditConfigs[0].AuditLogConfigs[0].LogType != "DATA_READ" ||
				p.AuditConfigs[0].AuditLogConfigs[0].ExemptedMembers[0] != "user:x@acme.example" {
				t.Errorf("audit configs decoded as %+v", p.AuditConfigs)
			}
			if got[1].Resource != nil {
				t.Errorf("IAM-policy-only asset got a resource: %+v", got[1].Resource)
			}
		})
	}
}

func TestDecodeCAIOptionalFields(t *testing.T) {
	in := `{"name":"//compute.googleapis.com/projects/p1/global/networks/default","asset_type":"compute.googleapis.com/Network","resource":{"data":{"name":"default"}}}`
	got, _, err := decodeAll(t, in, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0].Ancestors) != 0 || !got[0].UpdateTime.IsZero() {
		t.Errorf("want no ancestors and no update time, got %+v", got[0])
	}
	if got[0].Project() != "p1" || got[0].ShortName() != "default" {
		t.Errorf("Project() = %q, ShortName() = %q", got[0].Project(), got[0].ShortName())
	}
}

func TestDecodeCAIEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "[]", " [ ] "} {
		got, _, err := decodeAll(t, in, DecodeOptions{})
		if err != nil || len(got) != 0 {
			t.Errorf("%q: got %d assets, err %v; want none and no error", in, len(got), err)
		}
	}
}

func TestDecodeCAIMalformedLineNamesTheLine(t *testing.T) {
	in := exportLine + "\n\n" + `{"name": "x", "asset_type": ` + "\n" + policyLine + "\n"
	_, _, err := decodeAll(t, in, DecodeOptions{Name: "export.json"})
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 3 {
		t.Fatalf("got %v, want a DecodeError at line 3", err)
	}
	if !strings.HasPrefix(err.Error(), "export.json:3: ") {
		t.Errorf("error %q does not name file and line", err)
	}
}

func TestDecodeCAIMissingFields(t *testing.T) {
	for in, want := range map[string]string{
		`{"asset_type":"compute.googleapis.com/Network"}`:                  `no "name"`,
		`{"name":"//compute.googleapis.com/projects/p/global/networks/n"}`: `no "asset_type"`,
		`{"name":"n","asset_type":"t","update_time":"yesterday"}`:          `not an RFC 3339 time`,
		`{"name":"n","asset_type":"t","resource":{"data":[1,2]}}`:          `resource.data is not a JSON object`,
		`["not", "an", "asset"]`:                                           `not a CAI asset`,
	} {
		_, _, err := decodeAll(t, in+"\n", DecodeOptions{Name: "f"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got error %v, want one containing %q", in, err, want)
		}
	}
}

func TestDecodeCAISkipInvalid(t *testing.T) {
	in := exportLine + "\nnot json\n" + policyLine + "\n{\"name\":\"\"}\n"
	got, st, err := decodeAll(t, in, DecodeOptions{Name: "f", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || st.SkippedCount != 2 || len(st.Skipped) != 2 {
		t.Fatalf("got %d assets, %d skipped (%v)", len(got), st.SkippedCount, st.Skipped)
	}
	if st.Skipped[0].Line != 2 || st.Skipped[1].Line != 4 {
		t.Errorf("skipped lines %d and %d, want 2 and 4", st.Skipped[0].Line, st.Skipped[1].Line)
	}
}

func TestDecodeCAIArrayErrorsNameTheLine(t *testing.T) {
	in := "[\n" + exportLine + ",\n" + `{"asset_type": "x"}` + ",\n" + policyLine + "\n]"
	_, _, err := decodeAll(t, in, DecodeOptions{Name: "list.json"})
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 3 {
		t.Fatalf("got %v, want a DecodeError at line 3", err)
	}
	_, st, err := decodeAll(t, in, DecodeOptions{Name: "list.json", SkipInvalid: true})
	if err != nil || st.Assets != 2 || st.SkippedCount != 1 {
		t.Fatalf("skip-invalid: err %v, stats %+v", err, st)
	}
	// A syntax error inside an array cannot be skipped: the rest is unreadable.
	_, _, err = decodeAll(t, "[\n"+exportLine+",\n{oops}\n]", DecodeOptions{Name: "list.json", SkipInvalid: true})
	if !errors.As(err, &de) || de.Line != 3 {
		t.Fatalf("got %v, want a DecodeError at line 3", err)
	}
}

func TestDecodeCAIGzipAndLongLines(t *testing.T) {
	long := strings.Replace(exportLine, `"name":"allow-ssh"`, `"name":"allow-ssh","description":"`+strings.Repeat("x", 1<<20)+`"`, 1)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(long + "\n" + policyLine + "\n"))
	zw.Close()
	var got []*Asset
	_, err := DecodeCAI(context.Background(), &buf, DecodeOptions{}, func(a *Asset) error {
		got = append(got, a)
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d assets, err %v", len(got), err)
	}
	if fw, _ := got[0].Firewall(); len(fw.Description) != 1<<20 {
		t.Errorf("long line truncated: description has %d bytes", len(fw.Description))
	}
}

func TestDecodeCAICallbackErrorStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := DecodeCAI(context.Background(), strings.NewReader(exportLine+"\n"+policyLine), DecodeOptions{}, func(*Asset) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("got %v after %d calls, want stop after 1", err, n)
	}
}
