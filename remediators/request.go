package remediators

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The readers below accept the shapes a value takes on its way to an action: Go values
// (string, []string, int), decoded YAML (int, []any) and decoded JSON (float64,
// json.Number, []any). A value of the wrong shape is an error wrapping ErrInvalidRequest;
// an absent or null one is reported as absent.

// ParamString returns the string parameter key, "" when absent.
func (r Request) ParamString(key string) (string, error) {
	return asString(r.Params, "params", key)
}

// ParamStrings returns the list-of-strings parameter key (a single string counts as a list
// of one), nil when absent.
func (r Request) ParamStrings(key string) ([]string, error) {
	v, ok := r.Params[key]
	if !ok || v == nil {
		return nil, nil
	}
	bad := func() error {
		return fmt.Errorf("%w: params.%s is a %T, want a list of strings", ErrInvalidRequest, key, v)
	}
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []string:
		return append([]string(nil), t...), nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, bad()
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, bad()
}

// ParamInt returns the integer parameter key and whether it was given.
func (r Request) ParamInt(key string) (int, bool, error) {
	v, ok := r.Params[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	bad := fmt.Errorf("%w: params.%s is %v, want an integer", ErrInvalidRequest, key, v)
	switch t := v.(type) {
	case int:
		return t, true, nil
	case int32:
		return int(t), true, nil
	case int64:
		if t < math.MinInt32 || t > math.MaxInt32 {
			return 0, false, bad
		}
		return int(t), true, nil
	case float64:
		if t != math.Trunc(t) || t < math.MinInt32 || t > math.MaxInt32 {
			return 0, false, bad
		}
		return int(t), true, nil
	case json.Number:
		n, err := strconv.Atoi(t.String())
		if err != nil {
			return 0, false, bad
		}
		return n, true, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil {
			return 0, false, bad
		}
		return n, true, nil
	}
	return 0, false, bad
}

// EvidenceString returns the string evidence key, "" when absent.
func (r Request) EvidenceString(key string) (string, error) {
	return asString(r.Evidence, "evidence", key)
}

// EvidenceMap returns the object evidence key as a map of strings, nil when absent.
func (r Request) EvidenceMap(key string) (map[string]string, error) {
	v, ok := r.Evidence[key]
	if !ok || v == nil {
		return nil, nil
	}
	switch t := v.(type) {
	case map[string]string:
		out := make(map[string]string, len(t))
		for k, s := range t {
			out[k] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]string, len(t))
		for k, e := range t {
			s, ok := e.(string)
			if !ok && e != nil {
				return nil, fmt.Errorf("%w: evidence.%s.%s is a %T, want a string", ErrInvalidRequest, key, k, e)
			}
			out[k] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: evidence.%s is a %T, want an object", ErrInvalidRequest, key, v)
}

func asString(m map[string]any, where, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s.%s is a %T, want a string", ErrInvalidRequest, where, key, v)
	}
	return s, nil
}
