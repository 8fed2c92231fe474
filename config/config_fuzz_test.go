package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any input parses or fails with a *config.Error naming the file; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("scope:\n  projects: [a]\nmode: report\n"))
	f.Add([]byte("exemptions:\n  - resource: x\n    expires: 2027-01-01\n    reason: r\n"))
	f.Add([]byte("baseline: {trustedSourceRanges: [1.2.3.4/33], keyMaxAgeDays: -1}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, err := Parse("fuzz.yaml", in)
		if err == nil {
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "fuzz.yaml") {
			t.Fatalf("error %v is not a config.Error naming the file", err)
		}
	})
}
