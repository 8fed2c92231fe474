package inventory

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		header, body string
		want         time.Duration
	}{
		{"1", "", time.Second},
		{" 30 ", "", 30 * time.Second},
		{"0", "", 0},
		{"-5", "", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), "", 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), "", 0},
		{"soon", "", 0},
		{"", `{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}}`, 1500 * time.Millisecond},
		{"2", `{"error":{"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"9s"}]}}`, 2 * time.Second},
		{"", `{"error":{"code":503}}`, 0},
		{"", `not json`, 0},
	} {
		h := http.Header{}
		if c.header != "" {
			h.Set("Retry-After", c.header)
		}
		if got := retryAfter(h, []byte(c.body), now); got != c.want {
			t.Errorf("retryAfter(%q, %q) = %v, want %v", c.header, c.body, got, c.want)
		}
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	p := RetryPolicy{BaseDelay: 500 * time.Millisecond, MaxDelay: 3 * time.Second}.withDefaults()
	highest := func(n int64) int64 { return n - 1 }
	for failed, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 4: 3 * time.Second, 30: 3 * time.Second} {
		if got := p.backoff(failed, highest); got != want {
			t.Errorf("backoff after %d failures, at most %v; want %v", failed, got, want)
		}
	}
	if got := p.backoff(3, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("full jitter may wait nothing; got %v", got)
	}
	if d := (RetryPolicy{}).withDefaults(); d.MaxAttempts != 5 || d.BaseDelay != 500*time.Millisecond || d.MaxDelay != 30*time.Second || d.AttemptTimeout != time.Minute {
		t.Errorf("defaults %+v", d)
	}
}

func TestIsRateLimit(t *testing.T) {
	for body, want := range map[string]bool{
		`{"error":{"code":403,"errors":[{"reason":"rateLimitExceeded"}]}}`:                          true,
		`{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`:                      true,
		`{"error":{"code":403,"details":[{"@type":"x.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}`: true,
		`{"error":{"code":403,"errors":[{"reason":"forbidden"}]}}`:                                  false,
		`{"error":{"code":403,"errors":[{"reason":"accessNotConfigured"}]}}`:                        false,
		``: false,
	} {
		if got := isRateLimit([]byte(body)); got != want {
			t.Errorf("isRateLimit(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestDefaultLimitsSpareEmulators(t *testing.T) {
	if got := qpsOf(nil, ServiceResourceManager, false); got != DefaultQPS()[ServiceResourceManager] {
		t.Errorf("Google's resource manager limited to %v", got)
	}
	if got := qpsOf(nil, ServiceResourceManager, true); got != 0 {
		t.Errorf("an emulator limited to %v by default", got)
	}
	set := map[string]float64{ServiceCompute: 12, ServiceIAM: -1}
	if got := qpsOf(set, ServiceCompute, true); got != 12 {
		t.Errorf("an emulator's set limit read as %v", got)
	}
	if got := qpsOf(set, ServiceIAM, false); got != 0 {
		t.Errorf("a lifted limit read as %v", got)
	}
}
