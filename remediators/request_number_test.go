package remediators

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParamNumber(t *testing.T) {
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(`{"half":0.5,"one":1,"text":"0.25","bad":"x","list":[1]}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	fromJSON["num"] = json.Number("0.75")
	fromJSON["int"] = 1
	fromJSON["nan"] = math.NaN()
	fromJSON["inf"] = math.Inf(1)
	r := Request{Params: fromJSON}
	for key, want := range map[string]float64{"half": 0.5, "one": 1, "text": 0.25, "num": 0.75, "int": 1} {
		if got, ok, err := r.ParamNumber(key); got != want || !ok || err != nil {
			t.Errorf("%s = %v, %v, %v; want %v", key, got, ok, err, want)
		}
	}
	for _, key := range []string{"bad", "list", "nan", "inf"} {
		if _, _, err := r.ParamNumber(key); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", key, err)
		}
	}
	if _, ok, err := r.ParamNumber("absent"); ok || err != nil {
		t.Errorf("absent: %v, %v", ok, err)
	}
}
