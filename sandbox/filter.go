package sandbox

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// listFilter is the subset of compute's list filter the sandbox understands: one
// expression, or several in parentheses joined by AND (or nothing), each comparing a field
// (dotted for nested fields) with = or != (exact) or eq or ne (RE2, whole value). A field
// holding a list matches when any element does. Anything else is answered 400, so that a
// caller never silently gets an unfiltered list.
type listFilter []filterExpr

type filterExpr struct {
	path   []string
	negate bool
	value  string
	re     *regexp.Regexp // eq and ne
}

var (
	filterExactRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.]*)\s*(!=|=)\s*(.+)$`)
	filterRegexRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.]*)\s+(eq|ne)\s+(.+)$`)
)

func parseFilter(s string) (listFilter, *apiError) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	bad := func(why string) *apiError {
		return errInvalid(fmt.Sprintf("Invalid value for field 'filter': '%s'. %s", s, why))
	}
	if strings.Contains(s, " OR ") || strings.Contains(s, " or ") {
		return nil, bad("The sandbox does not understand OR.")
	}
	var parts []string
	if strings.HasPrefix(s, "(") {
		rest := s
		for rest != "" {
			if !strings.HasPrefix(rest, "(") {
				return nil, bad("The sandbox understands only expressions in parentheses joined by AND.")
			}
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return nil, bad("Unbalanced parentheses.")
			}
			parts = append(parts, rest[1:end])
			rest = strings.TrimSpace(rest[end+1:])
			rest = strings.TrimSpace(strings.TrimPrefix(rest, "AND "))
		}
	} else {
		parts = []string{s}
	}
	var f listFilter
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var x filterExpr
		if m := filterRegexRE.FindStringSubmatch(p); m != nil {
			re, err := regexp.Compile("^(?:" + unquote(m[3]) + ")$")
			if err != nil {
				return nil, bad("Invalid regular expression: " + err.Error())
			}
			x = filterExpr{path: strings.Split(m[1], "."), negate: m[2] == "ne", re: re}
		} else if m := filterExactRE.FindStringSubmatch(p); m != nil {
			x = filterExpr{path: strings.Split(m[1], "."), negate: m[2] == "!=", value: unquote(m[3])}
		} else {
			return nil, bad("The sandbox understands FIELD = VALUE, FIELD != VALUE, FIELD eq REGEX and FIELD ne REGEX.")
		}
		f = append(f, x)
	}
	return f, nil
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

func (f listFilter) matches(d map[string]any) bool {
	for _, x := range f {
		if x.matches(d) == x.negate {
			return false
		}
	}
	return true
}

// matches reports whether the field equals (or matches) the value, ignoring negation.
func (x filterExpr) matches(d map[string]any) bool {
	for _, v := range fieldValues(d, x.path) {
		if x.re != nil && x.re.MatchString(v) || x.re == nil && v == x.value {
			return true
		}
	}
	return false
}

// fieldValues returns the scalar values at a dotted path, walking into lists.
func fieldValues(v any, path []string) []string {
	switch t := v.(type) {
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, fieldValues(x, path)...)
		}
		return out
	case map[string]any:
		if len(path) == 0 {
			return nil
		}
		return fieldValues(t[path[0]], path[1:])
	}
	if len(path) > 0 || v == nil {
		return nil
	}
	switch t := v.(type) {
	case string:
		return []string{t}
	case json.Number:
		return []string{t.String()}
	case bool:
		if t {
			return []string{"true"}
		}
		return []string{"false"}
	}
	return []string{fmt.Sprint(v)}
}
