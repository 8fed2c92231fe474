package playbooks

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file decodes a playbook document from its YAML node tree, strictly: an unknown or
// repeated key, or a value of the wrong shape, is a problem naming its line and field path.
// Walking the nodes (rather than letting yaml.v3 fill a struct) is what lets every problem
// of a document be reported at once, each with its path.

// docDecoder decodes one document and collects its problems.
type docDecoder struct {
	file     string
	docLine  int
	problems []Problem
	lines    map[string]int  // field path → line of its key (or list item)
	bad      map[string]bool // field paths already reported as malformed
	null     map[string]bool // field paths written with no value
}

func newDocDecoder(file string, line int) *docDecoder {
	return &docDecoder{file: file, docLine: line, lines: map[string]int{}, bad: map[string]bool{}, null: map[string]bool{}}
}

// errorf records a problem on line at path.
func (d *docDecoder) errorf(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail records a problem with the value at path, which later checks then leave alone.
func (d *docDecoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.errorf(n.Line, path, format, args...)
}

// at records a problem at path, on the line of path or of its nearest recorded parent,
// unless the value at path, or a value holding it, was already reported malformed.
func (d *docDecoder) at(path, format string, args ...any) {
	if d.malformed(path) {
		return
	}
	d.errorf(d.lineOf(path), path, format, args...)
}

// malformed reports whether path or a parent of it (the document itself included) was
// reported malformed.
func (d *docDecoder) malformed(path string) bool {
	if d.bad[""] {
		return true
	}
	for path != "" {
		if d.bad[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
	return false
}

// present reports whether the document gives path a value (not null, not malformed).
func (d *docDecoder) present(path string) bool {
	_, ok := d.lines[path]
	return ok && !d.null[path] && !d.bad[path]
}

// lineOf returns the line of path's key, or of its nearest recorded parent's.
func (d *docDecoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return d.docLine
}

// deref follows aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName says what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!bool":
			return "a boolean"
		case "!!float":
			return "a number"
		case "!!null":
			return "null"
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "an alias"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping decodes a mapping whose keys must be among fields, calling each for the keys
// present with a non-null value, in document order. It reports whether n is a mapping.
func (d *docDecoder) mapping(n *yaml.Node, path string, fields []string, each func(key string, v *yaml.Node, path string)) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping with %s, got %s", orList(fields, "and"), kindName(n))
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, p, "appears twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		if !slices.Contains(fields, k.Value) {
			d.errorf(k.Line, p, "unknown field: want %s", orList(fields, "or"))
			continue
		}
		d.lines[p] = k.Line
		if isNull(v) {
			d.null[p] = true
			continue
		}
		each(k.Value, deref(v), p)
	}
	return true
}

// sequence calls each for every item of a list, with the item's path.
func (d *docDecoder) sequence(n *yaml.Node, path, what string, each func(i int, v *yaml.Node, path string)) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list of %s, got %s", what, kindName(n))
		return
	}
	for i, v := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		v = deref(v)
		d.lines[p] = v.Line
		each(i, v, p)
	}
}

// text decodes a string field. Any scalar is taken as written (a title of 2024 is the text
// "2024"); a list or mapping is a problem.
func (d *docDecoder) text(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

// strictString decodes a string that must be written as one ("5" rather than 5); with
// ints, an integer is taken as its text too (ports: [22, 3389]).
func (d *docDecoder) strictString(n *yaml.Node, path string, ints bool) (string, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || (ints && n.Tag == "!!int")) {
		return n.Value, true
	}
	d.fail(n, path, "want a string, got %s", kindName(n))
	return "", false
}

// texts decodes a list of strings; null items are problems.
func (d *docDecoder) texts(n *yaml.Node, path string, ints bool) []string {
	var out []string
	d.sequence(n, path, "strings", func(_ int, v *yaml.Node, p string) {
		if s, ok := d.strictString(v, p, ints); ok {
			out = append(out, s)
		}
	})
	return out
}

func (d *docDecoder) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.fail(n, path, "want true or false, got %s", kindName(n))
		return false, false
	}
	return b, true
}

func (d *docDecoder) integer(n *yaml.Node, path string) (int, bool) {
	var i int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.fail(n, path, "want an integer, got %s", kindName(n))
		return 0, false
	}
	if err := n.Decode(&i); err != nil {
		d.fail(n, path, "%s is not an integer zerodrift can hold", n.Value)
		return 0, false
	}
	return i, true
}

// playbook decodes a document's root mapping. Semantic checks are validate's.
func (d *docDecoder) playbook(root *yaml.Node) *Playbook {
	p := &Playbook{}
	d.mapping(root, "", []string{"apiVersion", "kind", "metadata", "spec"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "apiVersion":
			p.APIVersion = d.text(v, path)
		case "kind":
			p.Kind = d.text(v, path)
		case "metadata":
			d.metadata(v, path, &p.Metadata)
		case "spec":
			d.spec(v, path, &p.Spec)
		}
	})
	return p
}

func (d *docDecoder) metadata(n *yaml.Node, path string, m *Metadata) {
	d.mapping(n, path, []string{"name", "title", "description"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "name":
			m.Name = d.text(v, path)
		case "title":
			m.Title = d.text(v, path)
		case "description":
			m.Description = d.text(v, path)
		}
	})
}

func (d *docDecoder) spec(n *yaml.Node, path string, s *Spec) {
	fields := []string{"fixes", "preconditions", "actions", "effect", "risk", "unattended", "rank", "terraform"}
	d.mapping(n, path, fields, func(key string, v *yaml.Node, path string) {
		switch key {
		case "fixes":
			d.sequence(v, path, "fixes", func(_ int, item *yaml.Node, p string) {
				s.Fixes = append(s.Fixes, d.fix(item, p))
			})
		case "preconditions":
			s.Preconditions = d.texts(v, path, false)
		case "actions":
			d.sequence(v, path, "actions", func(_ int, item *yaml.Node, p string) {
				s.Actions = append(s.Actions, d.step(item, p))
			})
		case "effect":
			s.Effect = Effect(d.text(v, path))
		case "risk":
			s.Risk = Risk(d.text(v, path))
		case "unattended":
			s.Unattended, _ = d.boolean(v, path)
		case "rank":
			s.Rank, _ = d.integer(v, path)
		case "terraform":
			s.Terraform = &Terraform{}
			d.terraform(v, path, s.Terraform)
		}
	})
}

// fix decodes an entry of spec.fixes; a malformed entry is kept empty so that indexes
// still match the document.
func (d *docDecoder) fix(n *yaml.Node, path string) Fix {
	var f Fix
	d.mapping(n, path, []string{"rule", "when"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "rule":
			f.Rule = d.text(v, path)
		case "when":
			f.When = &When{}
			d.mapping(v, path, []string{"categories", "ports"}, func(key string, v *yaml.Node, path string) {
				switch key {
				case "categories":
					f.When.Categories = d.texts(v, path, false)
				case "ports":
					f.When.Ports = d.texts(v, path, true)
				}
			})
		}
	})
	return f
}

// step decodes an entry of spec.actions; its parameters are typed later, by validate,
// once the action is known.
func (d *docDecoder) step(n *yaml.Node, path string) Step {
	var s Step
	d.mapping(n, path, []string{"action", "params"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "action":
			s.Action = d.text(v, path)
		case "params":
			if v.Kind != yaml.MappingNode {
				d.fail(v, path, "want a mapping of parameter names to values, got %s", kindName(v))
				return
			}
			seen := map[string]bool{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k := deref(v.Content[i])
				if k.Kind != yaml.ScalarNode {
					d.errorf(k.Line, path, "a parameter name must be a plain name, got %s", kindName(k))
					continue
				}
				p := join(path, k.Value)
				if seen[k.Value] {
					d.errorf(k.Line, p, "appears twice")
					continue
				}
				seen[k.Value] = true
				d.lines[p] = k.Line
				s.rawParams = append(s.rawParams, rawParam{name: k.Value, keyLine: k.Line, value: deref(v.Content[i+1])})
			}
		}
	})
	return s
}

func (d *docDecoder) terraform(n *yaml.Node, path string, t *Terraform) {
	d.mapping(n, path, []string{"resourceTypes", "edit", "description"}, func(key string, v *yaml.Node, path string) {
		switch key {
		case "resourceTypes":
			t.ResourceTypes = d.texts(v, path, false)
		case "edit":
			t.Edit = d.text(v, path)
		case "description":
			t.Description = d.text(v, path)
		}
	})
}

// orList writes "a, b or c" (with conj "or").
func orList(items []string, conj string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}
