package gcspath

import "testing"

func TestValidBucketAndObject(t *testing.T) {
	for name, want := range map[string]bool{
		"zerodrift-exports": true, "acme.example_state": true, "abc": true,
		"ab": false, "Exports": false, "-exports": false, "exports-": false, "a/b": false, "": false,
	} {
		if got := ValidBucket(name); got != want {
			t.Errorf("ValidBucket(%q) = %v, want %v", name, got, want)
		}
	}
	for f, want := range map[Folder]string{
		{Bucket: "b-1"}:                   "x.json",
		{Bucket: "b-1", Prefix: "scans"}:  "scans/x.json",
		{Bucket: "b-1", Prefix: "a/b/cd"}: "a/b/cd/x.json",
	} {
		if got := f.Object("x.json"); got != want {
			t.Errorf("%v.Object = %q, want %q", f, got, want)
		}
		if back, err := ParseFolder(f.String()); err != nil || back != f {
			t.Errorf("ParseFolder(%q) = %+v, %v", f.String(), back, err)
		}
	}
}
