package problems

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestYAML places the errors yaml.v3 makes on the line where a person would look.
func TestYAML(t *testing.T) {
	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"mode: report\nscope:\n  projects: [a\nmaxChanges: 3\n", 3, "did not find expected ',' or ']'"},
		{"mode: report\nscope: {projects: [a]\nmaxChanges: 3\n", 2, "did not find expected ',' or '}'"},
		{"mode: report\nscope:\n  projects:\n  - a\n - b\n", 5, "did not find expected key"},
		{"%YAML 1.1\n%YAML 1.1\n", 2, "found duplicate %YAML directive"},
		{"mode: report\nmaxChanges: 3\nmode: \"x\n", 3, "found unexpected end of stream"},
		{"mode: report\nmaxChanges: *nope\n", 2, "unknown anchor 'nope' referenced"},
		{"a: 1\r\nb: 2\rc: \x01\n", 3, "control characters are not allowed"},
		{"a: 1\nb: 2\nc: \xff\n", 3, "invalid leading UTF-8 octet"},
		{"mode: a: b\n", 1, "mapping values are not allowed in this context"},
		{"\"", 1, "found unexpected end of stream"},
		{"a: [", 1, "did not find expected node content"},
		{"a: [\n\n", 1, "did not find expected node content"},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tc.src), &n)
		if err == nil {
			t.Fatalf("%q parses", tc.src)
		}
		if line, msg := YAML(err.Error(), []byte(tc.src)); line != tc.line || msg != tc.msg {
			t.Errorf("YAML(%q) for %q = %d, %q; want %d, %q", err, tc.src, line, msg, tc.line, tc.msg)
		}
	}
	if line, msg := YAML("line 7: field x not found in type config.Config", []byte(strings.Repeat("a: 1\n", 8))); line != 7 || msg != "field x not found in type config.Config" {
		t.Errorf("a decoder error: %d, %q", line, msg)
	}
}
