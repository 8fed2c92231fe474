package playbooks

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/zerodrift/zerodrift/internal/problems"
	"github.com/zerodrift/zerodrift/rules"
)

// builtinFS holds the built-in playbooks; embed.FS is read-only.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinDir is the folder of builtinFS that holds the built-ins, and the prefix of their
// Source.File.
const builtinDir = "builtin"

// Problem is one thing wrong with a playbook file.
type Problem struct {
	File string
	// Line is 0 when the problem is about the whole file or folder.
	Line int
	// Path is the field path within the document, e.g. spec.actions[0].params.ranges; ""
	// when the problem is about the document or file.
	Path string
	Msg  string
	// Err is the underlying error, when there is one (a file that cannot be read).
	Err error
}

// String writes the problem as "file:line: path: message", leaving out the parts it lacks.
func (p Problem) String() string { return problems.Format(p.File, p.Line, p.Path, p.Msg) }

// Error lists every problem found in every playbook file loaded, by file (in load order)
// and line.
type Error struct{ Problems []Problem }

// Error writes the problems one a line, after a count when there are several.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return problems.List("playbook", "playbooks", lines)
}

// Unwrap returns the underlying errors of the problems that have one.
func (e *Error) Unwrap() []error {
	var out []error
	for _, p := range e.Problems {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// Loader reads and validates playbooks. The zero value checks them against rules.Default().
type Loader struct {
	// Rules are the rules playbooks may name; nil means rules.Default(). Pass every rule
	// the binary knows, not only the enabled ones: disabling a rule does not make a
	// playbook for it wrong.
	Rules []rules.Rule
}

// Load reads every *.yaml and *.yml file directly in dir of fsys (not in sub-folders, and
// not hidden files) with the loader's rules; see Loader.Load.
func Load(fsys fs.FS, dir string) ([]*Playbook, error) { return Loader{}.Load(fsys, dir) }

// LoadAll reads the built-in playbooks (when builtin is set) and those of every folder
// with the default rules; see Loader.LoadAll.
func LoadAll(builtin bool, dirs []string) (*Set, error) { return Loader{}.LoadAll(builtin, dirs) }

// Builtin returns the built-in playbooks alone.
func Builtin() (*Set, error) { return Loader{}.LoadAll(true, nil) }

// Load reads every *.yaml and *.yml file directly in dir of fsys (sub-folders and hidden
// files such as Kubernetes' ..data are passed over), each holding one or more playbook
// documents separated by ---, and validates them. Files are named path.Join(dir, name) in
// problems. On any problem it returns nil and an *Error listing every problem of every
// file, including names defined twice.
func (l Loader) Load(fsys fs.FS, dir string) ([]*Playbook, error) {
	return l.load([]source{{fsys: fsys, dir: dir, name: func(n string) string { return path.Join(dir, n) }}})
}

// LoadAll reads the built-in playbooks (when builtin is set) and then every folder in
// dirs, as Load does, and returns them as a Set. Names are unique across all of them: a
// folder playbook may not take a built-in's name (to stop a built-in from running
// unattended, override its unattended in the configuration instead). A missing folder is a
// problem. On any problem it returns nil and an *Error listing every problem of every file.
func (l Loader) LoadAll(builtin bool, dirs []string) (*Set, error) {
	var srcs []source
	if builtin {
		srcs = append(srcs, source{fsys: builtinFS, dir: builtinDir, builtin: true,
			name: func(n string) string { return path.Join(builtinDir, n) }})
	}
	for _, d := range dirs {
		srcs = append(srcs, source{fsys: os.DirFS(d), dir: ".", label: d,
			name: func(n string) string { return filepath.Join(d, n) }})
	}
	pbs, err := l.load(srcs)
	if err != nil {
		return nil, err
	}
	return NewSet(pbs)
}

// source is one folder of playbook files.
type source struct {
	fsys    fs.FS
	dir     string
	label   string              // the folder as people know it, for problems about it; dir when ""
	name    func(string) string // a file's name in problems
	builtin bool
}

// catalog is what documents are checked against: the known rules, by ID.
type catalog struct {
	rules map[string]*rules.Meta
	ids   []string
}

func (l Loader) catalog() *catalog {
	rs := l.Rules
	if rs == nil {
		rs = rules.Default()
	}
	c := &catalog{rules: make(map[string]*rules.Meta, len(rs))}
	for _, r := range rs {
		if r == nil {
			continue
		}
		m := r.Meta()
		if _, dup := c.rules[m.ID]; !dup {
			c.ids = append(c.ids, m.ID)
		}
		c.rules[m.ID] = m
	}
	slices.Sort(c.ids)
	return c
}

func (l Loader) load(srcs []source) ([]*Playbook, error) {
	cat := l.catalog()
	var (
		all      []*Playbook
		problems []Problem
		byName   = map[string]*Playbook{}
	)
	for _, src := range srcs {
		files, err := listFiles(src)
		if err != nil {
			label := cmp.Or(src.label, src.dir)
			problems = append(problems, Problem{File: label, Msg: "cannot read the playbook folder: " + errText(err), Err: err})
			continue
		}
		for _, f := range files {
			file := src.name(f)
			b, err := fs.ReadFile(src.fsys, path.Join(src.dir, f))
			if err != nil {
				problems = append(problems, Problem{File: file, Msg: "cannot read the file: " + errText(err), Err: err})
				continue
			}
			docs, probs := cat.parseFile(file, b, src.builtin)
			for _, doc := range docs {
				p := doc.playbook
				if !validName(p.Metadata.Name) {
					continue // reported already
				}
				if q, dup := byName[p.Metadata.Name]; dup {
					probs = append(probs, duplicateProblem(p, q))
					continue
				}
				// An invalid document still claims its name, so that a duplicate is reported
				// in the same pass rather than after the first problem is fixed.
				byName[p.Metadata.Name] = p
				if doc.valid {
					all = append(all, p)
				}
			}
			slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
			problems = append(problems, probs...)
		}
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return all, nil
}

// duplicateProblem reports p, defined after q with the same name.
func duplicateProblem(p, q *Playbook) Problem {
	at := fmt.Sprintf("%s:%d", q.Source.File, q.Source.nameLine)
	msg := fmt.Sprintf("%q is already defined at %s: playbook names must be unique", p.Metadata.Name, at)
	if q.Source.Builtin && !p.Source.Builtin {
		msg = fmt.Sprintf("%q is the name of the built-in playbook at %s: a folder playbook may not replace a built-in; "+
			"choose another name (and turn the built-in's unattended off in the configuration if it must not run alone)",
			p.Metadata.Name, at)
	}
	return Problem{File: p.Source.File, Line: p.Source.nameLine, Path: "metadata.name", Msg: msg}
}

// listFiles returns the names of the playbook files directly in the source's folder,
// sorted. Symbolic links are followed (a Kubernetes ConfigMap mounts its keys as links into
// ..data); hidden entries and folders are passed over.
func listFiles(src source) ([]string, error) {
	entries, err := fs.ReadDir(src.fsys, src.dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", cmp.Or(src.label, src.dir), err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		if e.IsDir() {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if fi, err := fs.Stat(src.fsys, path.Join(src.dir, n)); err == nil && fi.IsDir() {
				continue
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// errText is an error's innermost message: "no such file or directory" rather than
// "open .: no such file or directory", since the problem already names the file.
func errText(err error) string {
	for {
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			return err.Error()
		}
		err = pe.Err
	}
}

// parsedDoc is one document of a file, valid or not.
type parsedDoc struct {
	playbook *Playbook
	valid    bool
}

// parseFile decodes and validates every document of a file.
func (c *catalog) parseFile(file string, b []byte, builtin bool) ([]parsedDoc, []Problem) {
	var (
		out      []parsedDoc
		problems []Problem
	)
	lines := strings.Split(string(b), "\n")
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, yamlProblem(file, err, b))
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, e.g. after a trailing ---
		}
		root := doc.Content[0]
		d := newDocDecoder(file, root.Line)
		p := d.playbook(root)
		c.validate(d, p)
		problems = append(problems, d.problems...)
		p.Source = Source{File: file, Line: root.Line, Builtin: builtin,
			Text: documentText(lines, root.Line), nameLine: d.lineOf("metadata.name")}
		out = append(out, parsedDoc{playbook: p, valid: len(d.problems) == 0})
	}
	return out, problems
}

// yamlProblem turns a YAML syntax error of the file b into a problem on its line (see
// problems.YAML).
func yamlProblem(file string, err error, b []byte) Problem {
	line, text := problems.YAML(err.Error(), b)
	return Problem{File: file, Line: line, Msg: "not valid YAML: " + text}
}

// documentText returns the lines of the document whose content starts on line start
// (1-based): from the line after the previous document marker (--- or ...) at the start of
// a line to the line before the next, with surrounding blank lines dropped.
func documentText(lines []string, start int) string {
	isMarker := func(l string) bool {
		l = strings.TrimRight(l, "\r")
		return l == "---" || l == "..." || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "---\t") ||
			strings.HasPrefix(l, "... ") || strings.HasPrefix(l, "...\t")
	}
	if start < 1 || start > len(lines) {
		return ""
	}
	from := start - 1
	for from > 0 && !isMarker(lines[from-1]) {
		from--
	}
	to := start
	for to < len(lines) && !isMarker(lines[to]) {
		to++
	}
	doc := lines[from:to]
	for len(doc) > 0 && strings.TrimSpace(doc[0]) == "" {
		doc = doc[1:]
	}
	for len(doc) > 0 && strings.TrimSpace(doc[len(doc)-1]) == "" {
		doc = doc[:len(doc)-1]
	}
	return strings.Join(doc, "\n") + "\n"
}
