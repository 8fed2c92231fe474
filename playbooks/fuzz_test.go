package playbooks

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzLoad: any file loads or fails with a *playbooks.Error whose every problem names its
// place: the file, and a line of it or a field; never a panic. A file that loads yields
// playbooks that render.
func FuzzLoad(f *testing.F) {
	entries, err := fs.ReadDir(builtinFS, builtinDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(builtinFS, builtinDir+"/"+e.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(validDoc + "---\n" + validDoc))
	f.Add([]byte(teamPlaybook))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("spec: {actions: [{action: firewall.denyPorts, params: {ports: [1-2, 'udp:3'], priorityOffset: 0x10}}]}\n"))
	f.Add([]byte("metadata: {name: a, name: b}\n---\n- 1\n...\n"))
	// YAML errors yaml.v3 gives no line, or a line counted from 0.
	f.Add([]byte("\""))
	f.Add([]byte("metadata: {name: *nope}\n"))
	f.Add([]byte("metadata:\r\n  name: \xff\n"))
	f.Add([]byte("metadata:\n  name: [a\nspec: {}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pbs, err := Load(fstest.MapFS{"dir/fuzz.yaml": {Data: in}}, "dir")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %v is not a playbooks.Error with problems", err)
			}
			lines := 1 + strings.Count(string(in), "\n") + strings.Count(string(in), "\r") + strings.Count(string(in), "\u0085") +
				strings.Count(string(in), "\u2028") + strings.Count(string(in), "\u2029") // YAML's line breaks: at most this many lines
			for _, p := range pe.Problems {
				if p.File != "dir/fuzz.yaml" || !strings.HasPrefix(p.String(), "dir/fuzz.yaml") || p.Line <= 0 && p.Path == "" || p.Line > lines {
					t.Fatalf("problem %q does not name its place: the file and a line (of %d) or a field", p, lines)
				}
			}
			return
		}
		for _, p := range pbs {
			if err := WriteShow(&strings.Builder{}, p); err != nil {
				t.Fatal(err)
			}
		}
	})
}
