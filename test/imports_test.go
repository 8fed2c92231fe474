package test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/zerodrift/zerodrift/"

// forbidden lists, per package folder, the project packages it must never import: data
// flows one way, detection never acts, and only cmd wires the sandbox in (DESIGN.md).
var forbidden = map[string][]string{
	"rules":       {"scan", "report", "sandbox", "remediators", "ledger", "playbooks", "pullrequest", "iac", "config", "cmd"},
	"inventory":   {"scan", "rules", "report", "sandbox", "remediators", "ledger", "playbooks", "pullrequest", "cmd"},
	"scan":        {"sandbox", "report", "cmd", "config"},
	"report":      {"sandbox", "cmd", "inventory/live"},
	"config":      {"sandbox", "scan", "inventory", "cmd"},
	"iac":         {"remediators", "sandbox"},
	"ledger":      {"scan", "remediators", "playbooks", "sandbox"},
	"remediators": {"pullrequest", "sandbox"},
}

func TestImportBoundaries(t *testing.T) {
	root := repoRoot()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			depTop := strings.Split(dep, "/")[0]
			if depTop == "sandbox" && top != "cmd" && top != "sandbox" {
				t.Errorf("%s imports the sandbox: only cmd may wire it in", rel)
			}
			for _, bad := range forbidden[top] {
				if dep == bad || depTop == bad {
					t.Errorf("%s imports %s, which %s must never import", rel, p, top)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
