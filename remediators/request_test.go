package remediators

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRequestReaders(t *testing.T) {
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(`{"ranges":["10.0.0.0/8"],"one":"x","n":3,"frac":1.5,"list":[1]}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	r := Request{Params: fromJSON, Evidence: map[string]any{"role": "roles/editor", "condition": map[string]any{"title": "t", "expression": "e"}, "bad": 1}}
	if got, err := r.ParamStrings("ranges"); err != nil || !slices.Equal(got, []string{"10.0.0.0/8"}) {
		t.Errorf("ranges = %v, %v", got, err)
	}
	if got, err := r.ParamStrings("one"); err != nil || !slices.Equal(got, []string{"x"}) {
		t.Errorf("one = %v, %v", got, err)
	}
	if got, err := r.ParamStrings("absent"); err != nil || got != nil {
		t.Errorf("absent = %v, %v", got, err)
	}
	if _, err := r.ParamStrings("list"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("list of numbers: %v", err)
	}
	if n, ok, err := r.ParamInt("n"); n != 3 || !ok || err != nil {
		t.Errorf("n = %d, %v, %v", n, ok, err)
	}
	if _, _, err := r.ParamInt("frac"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("frac: %v", err)
	}
	if _, ok, err := r.ParamInt("absent"); ok || err != nil {
		t.Errorf("absent int: %v, %v", ok, err)
	}
	if s, err := r.EvidenceString("role"); s != "roles/editor" || err != nil {
		t.Errorf("role = %q, %v", s, err)
	}
	if _, err := r.EvidenceString("bad"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("bad: %v", err)
	}
	if m, err := r.EvidenceMap("condition"); err != nil || m["expression"] != "e" {
		t.Errorf("condition = %v, %v", m, err)
	}
	if _, err := r.EvidenceMap("role"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("role as a map: %v", err)
	}
}

func TestOperationErrorText(t *testing.T) {
	e := &OperationError{Operation: "operation-1", HTTPStatus: 403, Errors: []OperationErrorItem{{Code: "QUOTA_EXCEEDED", Message: "Quota exceeded"}, {Message: "second"}}}
	if got := e.Error(); got != "operation operation-1 failed (HTTP 403): QUOTA_EXCEEDED: Quota exceeded; second" {
		t.Errorf("Error() = %q", got)
	}
	if !strings.Contains((&RefusedError{Reason: "r", Dependents: []string{"a"}}).Error(), "[a]") {
		t.Error("RefusedError does not list dependents")
	}
}
