package remediators

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParamNumber returns the number parameter key and whether it was given. It accepts the
// shapes the other readers do: Go numbers, decoded YAML (int, float64) and decoded JSON
// (float64, json.Number), and a numeric string. NaN and the infinities are refused.
func (r Request) ParamNumber(key string) (float64, bool, error) {
	v, ok := r.Params[key]
	if !ok || v == nil {
		return 0, false, nil
	}
	bad := fmt.Errorf("%w: params.%s is %v, want a number", ErrInvalidRequest, key, v)
	var f float64
	switch t := v.(type) {
	case float64:
		f = t
	case float32:
		f = float64(t)
	case int:
		f = float64(t)
	case int32:
		f = float64(t)
	case int64:
		f = float64(t)
	case json.Number:
		n, err := t.Float64()
		if err != nil {
			return 0, false, bad
		}
		f = n
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil {
			return 0, false, bad
		}
		f = n
	default:
		return 0, false, bad
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, bad
	}
	return f, true, nil
}
