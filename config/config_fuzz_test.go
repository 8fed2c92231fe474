package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any input parses or fails with a *config.Error whose every problem names its
// place: the file, and a line of it or a field; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("scope:\n  projects: [a]\nmode: report\n"))
	f.Add([]byte("exemptions:\n  - resource: x\n    expires: 2027-01-01\n    reason: r\n"))
	f.Add([]byte("baseline: {trustedSourceRanges: [1.2.3.4/33], keyMaxAgeDays: -1}\n"))
	// YAML errors yaml.v3 gives no line, or a line counted from 0.
	f.Add([]byte("\""))
	f.Add([]byte("mode: report\nmaxChanges: *nope\n"))
	f.Add([]byte("mode: report\r\nschedule: \x01\n"))
	f.Add([]byte("mode: report\u2028scope: {projects: [a]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := Parse("fuzz.yaml", in)
		if err == nil {
			return
		}
		lines := 1 + strings.Count(string(in), "\n") + strings.Count(string(in), "\r") + strings.Count(string(in), "\u0085") +
			strings.Count(string(in), "\u2028") + strings.Count(string(in), "\u2029") // YAML's line breaks: at most this many lines
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %v is not a config.Error with problems", err)
		}
		for _, p := range ce.Problems {
			if p.File != "fuzz.yaml" || p.Line <= 0 && p.Field == "" || p.Line > lines || !strings.HasPrefix(p.String(), "fuzz.yaml") {
				t.Fatalf("problem %q does not name its place: the file and a line (of %d) or a field", p, lines)
			}
		}
	})
}
