package inventory

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeCAI: any input either decodes or fails with a DecodeError naming the input (and,
// unless it is compressed, the line); it never panics, and with SkipInvalid a JSON-lines input never fails on a bad record.
func FuzzDecodeCAI(f *testing.F) {
	f.Add([]byte(exportLine + "\n" + policyLine + "\n"))
	f.Add([]byte("[" + exportLine + "," + policyLine + "]"))
	f.Add([]byte("{\"name\":\"x\"}\n\n[1]\n"))
	f.Add([]byte("\x1f\x8b\x08"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, skip := range []bool{false, true} {
			_, err := DecodeCAI(context.Background(), bytes.NewReader(in), DecodeOptions{Name: "fuzz.json", SkipInvalid: skip}, func(a *Asset) error {
				if a.Name == "" || a.AssetType == "" {
					t.Fatalf("asset without name or type handed on: %+v", a)
				}
				return nil
			})
			if err == nil {
				continue
			}
			var de *DecodeError
			if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("error %v does not name the input", err)
			}
			// Uncompressed input is read from memory, which cannot fail: the error is the
			// input's, and names the line of the record at fault.
			if !bytes.HasPrefix(in, []byte{0x1f, 0x8b}) && (de.Line < 1 || de.Line > bytes.Count(in, []byte("\n"))+1) {
				t.Fatalf("error %v names line %d of an input of %d lines", err, de.Line, bytes.Count(in, []byte("\n"))+1)
			}
		}
	})
}
