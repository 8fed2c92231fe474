package inventory

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/zerodrift/zerodrift/bench/synth"
)

// The differential tests: on every input, the fast decoder (decodeCAI) and the encoding/json
// reference (decodeCAIReference) hand on deeply equal assets, count and list the same skipped
// records, and fail with the same error at the same line.

type decodeFunc func(context.Context, io.Reader, DecodeOptions, func(*Asset) error) (DecodeStats, error)

type decodeResult struct {
	assets []*Asset
	stats  DecodeStats
	err    error
}

func runDecode(dec decodeFunc, in []byte, opts DecodeOptions) decodeResult {
	var res decodeResult
	res.stats, res.err = dec(context.Background(), bytes.NewReader(in), opts, func(a *Asset) error {
		res.assets = append(res.assets, a)
		return nil
	})
	return res
}

// diffDecode fails t when the two decoders disagree on in, with and without SkipInvalid.
func diffDecode(t testing.TB, in []byte) {
	t.Helper()
	for _, skip := range []bool{false, true} {
		opts := DecodeOptions{Name: "in.json", SkipInvalid: skip}
		want := runDecode(decodeCAIReference, in, opts)
		got := runDecode(decodeCAI, in, opts)
		if msg := compareResults(got, want); msg != "" {
			t.Fatalf("SkipInvalid=%v: fast decoder differs from encoding/json: %s\ninput (%d bytes): %.2000q", skip, msg, len(in), in)
		}
	}
}

// checkView: a view the decoder read with an asset is what encoding/json makes of the
// asset's data, and stands for that data.
func checkView(a *Asset) string {
	if a == nil || a.Resource == nil || a.Resource.view == nil {
		return ""
	}
	if a.Resource.viewSrc != unsafe.SliceData(a.Resource.Data) {
		return "its view was read from other bytes than its data"
	}
	want := reflect.New(reflect.TypeOf(a.Resource.view).Elem())
	if err := json.Unmarshal(a.Resource.Data, want.Interface()); err != nil {
		return fmt.Sprintf("a view was read from data encoding/json rejects: %v", err)
	}
	if !reflect.DeepEqual(a.Resource.view, want.Interface()) {
		return fmt.Sprintf("view %+v, encoding/json reads %+v", a.Resource.view, want.Interface())
	}
	return ""
}

// withoutView returns a copy of a without the view read with it, to compare with what
// encoding/json decodes.
func withoutView(a *Asset) *Asset {
	if a == nil || a.Resource == nil || a.Resource.view == nil {
		return a
	}
	c, r := *a, *a.Resource
	r.view, r.viewSrc = nil, nil
	c.Resource = &r
	return &c
}

func compareResults(got, want decodeResult) string {
	if errString(got.err) != errString(want.err) {
		return fmt.Sprintf("error %q, want %q", errString(got.err), errString(want.err))
	}
	var gotDE, wantDE *DecodeError
	if errors.As(got.err, &gotDE) != errors.As(want.err, &wantDE) || (gotDE != nil && gotDE.Line != wantDE.Line) {
		return fmt.Sprintf("error %#v, want %#v", got.err, want.err)
	}
	if len(got.assets) != len(want.assets) {
		return fmt.Sprintf("%d assets, want %d", len(got.assets), len(want.assets))
	}
	for i := range got.assets {
		if msg := checkView(got.assets[i]); msg != "" {
			return fmt.Sprintf("asset %d: %s", i, msg)
		}
		if !reflect.DeepEqual(withoutView(got.assets[i]), want.assets[i]) {
			return fmt.Sprintf("asset %d:\n got %s\nwant %s", i, dumpAsset(got.assets[i]), dumpAsset(want.assets[i]))
		}
	}
	g, w := got.stats, want.stats
	if g.Assets != w.Assets || g.SkippedCount != w.SkippedCount || len(g.Skipped) != len(w.Skipped) {
		return fmt.Sprintf("stats %+v, want %+v", g, w)
	}
	for i := range g.Skipped {
		if g.Skipped[i].Line != w.Skipped[i].Line || g.Skipped[i].Error() != w.Skipped[i].Error() {
			return fmt.Sprintf("skipped record %d: %v, want %v", i, g.Skipped[i], w.Skipped[i])
		}
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func dumpAsset(a *Asset) string {
	s := fmt.Sprintf("%+v", *a)
	if a.Resource != nil {
		s += fmt.Sprintf(" resource=%+v data=%q", *a.Resource, a.Resource.Data)
	}
	if a.IAMPolicy != nil {
		s += fmt.Sprintf(" policy=%+v", *a.IAMPolicy)
	}
	return s
}

// synthExport returns n synthetic assets as JSON lines.
func synthExport(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := synth.Write(&b, n, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// camelKeys renames the snake_case keys of a CAI record (not those of resource.data) to
// camelCase, as `gcloud asset list` writes them.
func camelKeys(v any, inData bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if !inData {
				parts := strings.Split(k, "_")
				for i := 1; i < len(parts); i++ {
					parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
				}
				k = strings.Join(parts, "")
			}
			out[k] = camelKeys(e, inData || k == "data")
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = camelKeys(e, inData)
		}
		return v
	}
	return v
}

// shapes returns the synthetic export in the shapes DecodeCAI reads: lines, a compact array,
// an indented camelCase array (as gcloud prints it), CRLF lines and gzip.
func shapes(t testing.TB, lines []byte) map[string][]byte {
	t.Helper()
	recs := bytes.Split(bytes.TrimSpace(lines), []byte("\n"))
	var camel []any
	for _, r := range recs {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		camel = append(camel, camelKeys(v, false))
	}
	pretty, err := json.MarshalIndent(camel, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(lines)
	zw.Close()
	return map[string][]byte{
		"lines":        lines,
		"array":        append(append([]byte("["), bytes.Join(recs, []byte(","))...), ']'),
		"pretty camel": pretty,
		"crlf":         bytes.ReplaceAll(lines, []byte("\n"), []byte("\r\n")),
		"bom":          append([]byte("\xEF\xBB\xBF\n\n"), lines...),
		"gzip":         gz.Bytes(),
	}
}

func TestDecodeCAIMatchesReferenceOnSyntheticExports(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for name, in := range shapes(t, synthExport(t, n, 7)) {
		t.Run(name, func(t *testing.T) {
			diffDecode(t, in)
			got := runDecode(decodeCAI, in, DecodeOptions{})
			if got.err != nil || len(got.assets) != n {
				t.Fatalf("decoded %d assets, err %v; want %d", len(got.assets), got.err, n)
			}
		})
	}
}

// TestDecodeCAIMatchesReferenceOnTestdata runs both decoders on every file under the
// module's testdata folders, CAI exports or not, and on the fuzz corpus.
func TestDecodeCAIMatchesReferenceOnTestdata(t *testing.T) {
	n := 0
	err := filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.Contains(filepath.ToSlash(path), "/testdata/") {
			return nil
		}
		in, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		t.Run(path, func(t *testing.T) {
			diffDecode(t, in)
			if bytes.HasPrefix(in, []byte("go test fuzz v1\n")) {
				for _, v := range fuzzCorpusValues(in) {
					diffDecode(t, v)
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no testdata files found")
	}
}

// fuzzCorpusValues extracts the []byte and string values of a fuzz corpus file.
func fuzzCorpusValues(in []byte) [][]byte {
	var out [][]byte
	for _, l := range strings.Split(string(in), "\n")[1:] {
		l = strings.TrimSpace(l)
		for _, prefix := range []string{"[]byte(", "string("} {
			if q, ok := strings.CutPrefix(l, prefix); ok {
				var s string
				if _, err := fmt.Sscanf(strings.TrimSuffix(q, ")"), "%q", &s); err == nil {
					out = append(out, []byte(s))
				}
			}
		}
	}
	return out
}

// edgeCases are records and streams chosen to take the fast decoder off its usual path.
var edgeCases = []string{
	exportLine + "\n" + policyLine + "\n",
	"[" + exportLine + "," + policyLine + "]",
	"{\"name\":\"x\"}\n\n[1]\n",
	"\x1f\x8b\x08",
	"",
	"\n\n",
	"[]",
	" [ ] ",
	"[ ] trailing",
	"[\n" + exportLine + ",\n{oops}\n]",
	"[\n" + exportLine + ",\n" + `{"asset_type": "x"}` + ",\n" + policyLine + "\n]",
	"[" + exportLine + "," + "]",
	"[" + exportLine + " " + policyLine + "]",
	"[" + exportLine + "}",
	"[" + exportLine,
	"[" + exportLine + ",",
	"[,]",
	"[1, \"x\", null, true, [], {}]",
	"[[" + exportLine + "]]",
	"[" + exportLine + "]" + exportLine,
	"\xEF\xBB\xBF\xEF\xBB\xBF  \n[" + exportLine + "]",
	"\xEF\xBB" + exportLine,
	exportLine + " x\n",
	exportLine + exportLine + "\n",
	exportLine + "\r\n\f\n" + policyLine,
	"\v" + exportLine,
	exportLine + "\n\u00a0\n" + policyLine,
	"null\n1\n\"s\"\n[]\n{}\n",
	`{"name":"n","asset_type":"t","Name":"m"}`,
	`{"NAME":"n","asset_type":"t"}`,
	`{"name":"n","ASSET_TYPE":"t"}`,
	`{"name":"n","aſſet_type":"t"}`,
	`{"name":"n","asset_type":"t","résumé":1}`,
	`{"name":"n","asset_type":"t","nam\u0065":"m"}`,
	`{"name":"a","name":"b","asset_type":"t"}`,
	`{"name":"n","asset_type":"t","resource":{"version":"v1"},"resource":{"parent":"p"}}`,
	`{"name":"n","asset_type":"","assetType":"T"}`,
	`{"name":"n","asset_type":null,"assetType":"T"}`,
	`{"name":"n","asset_type":"t","assetType":"T"}`,
	`{"name":"n","asset_type":5}`,
	`{"name":"n\u00e9\n\"\\\/\b\f\r\t\ud83d\ude00\ud800x\udc00","asset_type":"t"}`,
	"{\"name\":\"bad \xff utf8 \xe2\x82\",\"asset_type\":\"t\"}",
	"{\"name\":\"ok \xe2\x82\xac utf8\",\"asset_type\":\"t\"}",
	"{\"name\":\"ctl \x01\",\"asset_type\":\"t\"}",
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00.123456789123Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00.Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00+02:00"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01t10:00:00z"}`,
	`{"name":"n","asset_type":"t","update_time":"2024-02-29T23:59:59Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2023-02-29T23:59:59Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T24:00:00Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:60Z"}`,
	`{"name":"n","asset_type":"t","update_time":"0000-01-01T00:00:00Z"}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00Z","updateTime":"garbage"}`,
	`{"name":"n","asset_type":"t","update_time":"","updateTime":"2026-11-01T10:00:00.5Z"}`,
	`{"name":"n","asset_type":"t","update_time":"","updateTime":"garbage"}`,
	`{"name":"n","asset_type":"t","update_time":null}`,
	`{"name":"n","asset_type":"t","update_time":"2026-11-01T10:00:00\u005a"}`,
	`{"name":"n","asset_type":"t","ancestors":[]}`,
	`{"name":"n","asset_type":"t","ancestors":null}`,
	`{"name":"n","asset_type":"t","ancestors":[null,"a"]}`,
	`{"name":"n","asset_type":"t","ancestors":["a",1]}`,
	`{"name":"n","asset_type":"t","ancestors":"a"}`,
	`{"name":"n","asset_type":"t","resource":null}`,
	`{"name":"n","asset_type":"t","resource":{}}`,
	`{"name":"n","asset_type":"t","resource":{"data":null}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":[]}}`,
	`{"name":"n","asset_type":"t","resource":{"data":"x"}}`,
	`{"name":"n","asset_type":"t","resource":{"data":1}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{ "a" : [ 1 , -2.5e+3 , true , false , null , { } , [ ] , "\u00e9" ] } }}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":01}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":1.}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":-}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":tru}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":"\x"}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":"\u12G4"}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":1,}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a" 1}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":[1 2]}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{"a":1}},"resource":null}`,
	`{"name":"n","asset_type":"t","resource":{"discovery_name":"","discoveryName":"D","discovery_document_uri":"u","discoveryDocumentUri":"U","location":"l","version":null}}`,
	`{"name":"n","asset_type":"t","resource":{"Data":{}}}`,
	`{"name":"n","asset_type":"t","resource":{"data":{}},"extra":{"data":[1,{"x":null}]}}`,
	`{"name":"n","asset_type":"t","resource":{"version":1}}`,
	`{"name":"n","asset_type":"t","resource":[]}`,
	`{"name":"n","asset_type":"t","iam_policy":null,"iamPolicy":{"version":1}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":2},"iamPolicy":{"version":1}}`,
	`{"name":"n","asset_type":"t","iam_policy":{}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":3.0}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":1e2}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":-0}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":99999999999999999999}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"version":"3"}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":null,"etag":null}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[null,{}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[{"role":"r","members":[],"condition":null}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[{"role":"r","members":null,"condition":{}}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[{"Role":"r"}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[{"role":"r","role":"s"}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":[{"condition":{"title":"t","description":"d\nx","expression":"e","extra":1}}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"bindings":{}}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"audit_configs":[],"auditConfigs":[{"service":"s"}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"audit_configs":null,"auditConfigs":[{"service":"s"}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"auditConfigs":[null,{"service":"s","auditLogConfigs":[null,{"logType":"L","log_type":"","exemptedMembers":["a"],"exempted_members":[]}]}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"audit_configs":[{"service":"s","audit_log_configs":[],"auditLogConfigs":[{"logType":"L"}]}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":{"audit_configs":[{"service":"s","audit_log_configs":null,"auditLogConfigs":[{"log_type":"x","logType":"L","exempted_members":null,"exemptedMembers":["m"]}]}]}}`,
	`{"name":"n","asset_type":"t","iam_policy":[]}`,
	`{"name":"n","asset_type":"t"` + strings.Repeat(`,"x":[`, 600) + strings.Repeat(`]`, 600) + `}`,
	`{"name":"n","asset_type":"t","x":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}`,
	"[" + `{"name":"n","asset_type":"t","x":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}]`,
	"[" + `{"name":"n","asset_type":"t","x":` + strings.Repeat(`[`, 700) + strings.Repeat(`]`, 700) + `}]`,
	" \n [\n\n  " + policyLine + " \n , \n " + exportLine + "\n\n]\n",
	"[\n" + policyLine + ",\n" + `{"name":"n","asset_type":"t","ancestors":[1]}` + ",\n" + exportLine + "]",
	"[\n" + policyLine + ",\n" + `{"name":"n","asset_type":"t","resource":{"data":{"a":01}}}` + ",\n" + exportLine + "]",
	"[\n" + policyLine + ",\n\n   ,\n" + exportLine + "]",
	"[\n" + policyLine + "\n\n   \n" + exportLine + "]",
	"[\n" + policyLine + "\n,\n" + exportLine + "\n",
	"[\"unterminated",
	"[tru",
	"[-",
	"[1",
	"[{\"name\":\"n\",\"asset_type\":\"t\"}\n,\n\n{\"name\":\"n\",\"asset_type\":\"t\"\n,\n",
	"[\"0\".",
	"[null.]",
	"[true1]",
	"[1.]",
	"[\"x\"0]",
	"[{\"name\":\"n\",\"asset_type\":\"t\"}.5]",
	"[12",
	"[12 ",
}

func TestDecodeCAIMatchesReferenceOnEdgeCases(t *testing.T) {
	for i, in := range edgeCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { diffDecode(t, []byte(in)) })
	}
}

// TestDecodeCAIMatchesReferenceOnLongRecords crosses the sizes of the readers' buffers: a
// line longer than the line reader's, a record of an array longer than the array window's
// look-ahead and than the window itself.
func TestDecodeCAIMatchesReferenceOnLongRecords(t *testing.T) {
	for _, size := range []int{arrayLookahead - 300, arrayLookahead + 10, 300 << 10, 600 << 10, 1 << 20} {
		long := strings.Replace(exportLine, `"name":"allow-ssh"`, `"name":"allow-ssh","description":"`+strings.Repeat("x", size)+`"`, 1)
		diffDecode(t, []byte(long+"\n"+policyLine+"\n"))
		diffDecode(t, []byte("[\n"+policyLine+",\n"+long+",\n"+policyLine+"\n]"))
		broken := strings.Replace(long, `"x`, `"\q`, 1)
		diffDecode(t, []byte("[\n"+policyLine+",\n"+broken+",\n"+policyLine+"\n]"))
	}
}

// TestDecodeCAIMatchesReferenceOnTruncatedGzip: a read error in the middle of a record.
func TestDecodeCAIMatchesReferenceOnTruncatedGzip(t *testing.T) {
	for name, in := range shapes(t, synthExport(t, 400, 3)) {
		if name == "gzip" {
			continue
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(in)
		zw.Close()
		for _, cut := range []int{20, gz.Len() / 3, gz.Len() - 4} {
			t.Run(fmt.Sprintf("%s/%d", name, cut), func(t *testing.T) { diffDecode(t, gz.Bytes()[:cut]) })
		}
	}
}

// TestDecodeCAIReadsInAnyChunks: the input arriving a byte or a few bytes at a time
// changes nothing.
func TestDecodeCAIReadsInAnyChunks(t *testing.T) {
	in := shapes(t, synthExport(t, 300, 9))
	for _, name := range []string{"lines", "array", "pretty camel"} {
		want := runDecode(decodeCAIReference, in[name], DecodeOptions{})
		for how, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(in[name])),
			"half":     iotest.HalfReader(bytes.NewReader(in[name])),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(in[name])),
		} {
			var got decodeResult
			got.stats, got.err = decodeCAI(context.Background(), r, DecodeOptions{}, func(a *Asset) error {
				got.assets = append(got.assets, a)
				return nil
			})
			if msg := compareResults(got, want); msg != "" {
				t.Fatalf("%s, %s: %s", name, how, msg)
			}
		}
	}
}

// TestDecodeCAIRetainsNothing: the assets handed on own their bytes; decoding the next
// record does not change an asset already handed on.
func TestDecodeCAIRetainsNothing(t *testing.T) {
	in := shapes(t, synthExport(t, 500, 5))
	for _, name := range []string{"lines", "pretty camel"} {
		got := runDecode(decodeCAI, in[name], DecodeOptions{})
		want := runDecode(decodeCAIReference, in[name], DecodeOptions{})
		if msg := compareResults(got, want); msg != "" {
			t.Fatalf("%s: %s", name, msg)
		}
	}
}

func FuzzDecodeCAIMatchesReference(f *testing.F) {
	for _, in := range edgeCases {
		if len(in) < 4096 {
			f.Add([]byte(in))
		}
	}
	lines := synthExport(f, 20, 11)
	for _, in := range shapes(f, lines) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) { diffDecode(t, in) })
}
