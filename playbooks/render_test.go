package playbooks

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// teamPlaybook is a folder playbook with parameters, for the golden files.
const teamPlaybook = `# Owned by netsec@acme.example.
apiVersion: zerodrift.dev/v1
kind: Playbook
metadata:
  name: team-ssh-corp-ranges
  title: Restrict SSH to the corporate ranges (and log it)
  description: |
    Our bastions live in 10.20.0.0/16; the VPN egress is 192.0.2.0/24.
    Logging stays on for the audit.
spec:
  fixes:
    - rule: firewall-open-ingress
      when:
        categories: [OPEN_SSH_PORT]
        ports: ["tcp:22"]
  preconditions: [notExempt, notManagedByGKE]
  actions:
    - action: firewall.restrictSources
      params:
        ranges: [10.20.0.0/16, 192.0.2.0/24]
    - action: firewall.enableLogging
  risk: medium
  unattended: true
  rank: 5
  terraform:
    resourceTypes: [google_compute_firewall]
    edit: replace-world-source-ranges
`

// goldenSet is the built-ins plus teamPlaybook, with configuration turning unattended off
// for the team playbook and on for sa-key-disable.
func goldenSet(t *testing.T) *Set {
	t.Helper()
	b, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	team, err := Load(fstest.MapFS{"team/ssh.yaml": {Data: []byte(teamPlaybook)}}, "team")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(append(b.All(), team...))
	if err != nil {
		t.Fatal(err)
	}
	s, err = s.WithUnattended(map[string]bool{"team-ssh-corp-ranges": false, "sa-key-disable": true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./playbooks -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./playbooks -update, then review the diff):\n%s", name, got)
	}
}

func TestWriteListGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteList(&buf, goldenSet(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "list.golden", buf.Bytes())
}

func TestWriteShowGolden(t *testing.T) {
	s := goldenSet(t)
	for _, name := range []string{"firewall-restrict-sources", "network-delete-default", "sa-key-disable", "subnet-enable-flow-logs", "team-ssh-corp-ranges"} {
		t.Run(name, func(t *testing.T) {
			p, ok := s.Get(name)
			if !ok {
				t.Fatalf("no playbook %s", name)
			}
			var buf bytes.Buffer
			if err := WriteShow(&buf, p); err != nil {
				t.Fatal(err)
			}
			golden(t, "show-"+name+".golden", buf.Bytes())
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteErrors(t *testing.T) {
	s := goldenSet(t)
	if err := WriteList(failWriter{}, s); err == nil {
		t.Error("WriteList to a failing writer: no error")
	}
	p, _ := s.Get("firewall-disable")
	if err := WriteShow(failWriter{}, p); err == nil {
		t.Error("WriteShow to a failing writer: no error")
	}
}

func TestCleanStripsControlCharacters(t *testing.T) {
	if got := oneLine("a\x1b[31mb\nc\u009bd\te"); got != "a [31mb c d\te" {
		t.Errorf("oneLine = %q", got)
	}
	if got := clean("a\nb\x07", false); got != "a\nb " {
		t.Errorf("clean = %q", got)
	}
}

// TestReadmeNamesTheCatalogues keeps README.md, the schema reference, true to the code.
func TestReadmeNamesTheCatalogues(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range Actions() {
		want = append(want, "`"+a.Name+"`")
		for _, p := range a.Params {
			want = append(want, "`"+p.Name+"`")
			for _, e := range p.Enum {
				want = append(want, "`"+e+"`")
			}
		}
	}
	for _, p := range Preconditions() {
		want = append(want, "`"+p.Name+"`")
	}
	for _, e := range TerraformEdits() {
		want = append(want, "`"+e.Name+"`")
	}
	s, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("README.md does not mention %s", w)
		}
	}
	// The built-ins table: | name | fixes | rank | risk | effect | unattended |
	for _, p := range s.All() {
		prefix := "| `" + p.Metadata.Name + "` |"
		var row []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				row = strings.Split(l, "|")
			}
		}
		if len(row) != 8 {
			t.Errorf("README.md's built-ins table has no row for %s", p.Metadata.Name)
			continue
		}
		got := fmt.Sprintf("%s %s %s %s", strings.TrimSpace(row[3]), strings.TrimSpace(row[4]), strings.TrimSpace(row[5]),
			strings.Fields(row[6])[0])
		if want := fmt.Sprintf("%d %s %s %s", p.Spec.Rank, p.Spec.Risk, p.Spec.Effect, yesNo(p.Spec.Unattended)); got != want {
			t.Errorf("README.md says %s is %q, the file says %q", p.Metadata.Name, got, want)
		}
	}
}
