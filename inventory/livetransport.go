package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// DefaultQPS returns the request rates (requests per second, retries included) the live
// source keeps to by default, by service. They follow how Google charges each API's quota:
//
//   - Resource Manager is a client-based API: every call is charged to the caller's quota
//     project, whose default read quota is 600 requests a minute (10 a second; 4 a second for
//     projects.search). 8 a second leaves a fifth of it to the other tools that share the
//     quota project (gcloud, Terraform). A scan makes about one such call per project (its
//     getIamPolicy), so at the default a scan reads about 8 projects a second: 1,000
//     projects take about two minutes. With a raised quota, raise this limit to match.
//   - Compute Engine and IAM are resource-based APIs: each call is charged to the scanned
//     project (by default 1,500 compute list requests and 6,000 IAM reads a minute per
//     project). A scan makes 4 compute calls and 1 + one per service account IAM calls per
//     project, far below either, so their limits only bound the scanner's own rate.
//
// An emulator (a plain-HTTP endpoint, such as the sandbox) has no quota: its services are
// not limited unless LiveConfig.QPS says so.
func DefaultQPS() map[string]float64 {
	return map[string]float64{
		ServiceCompute:         1000,
		ServiceResourceManager: 8,
		ServiceIAM:             1000,
	}
}

// qpsOf returns the limit of one service: cfg's when set, else the default unless the
// service is an emulator; 0 when the service is not limited.
func qpsOf(cfg map[string]float64, service string, emulator bool) float64 {
	q := cfg[service]
	if q == 0 && !emulator {
		q = DefaultQPS()[service]
	}
	return max(q, 0)
}

// RetryPolicy is how the live source retries a call that failed for a reason that may
// pass: HTTP 429, 500, 502, 503 or 504, a 403 whose reason is a rate limit (Compute Engine
// answers its rate quotas so), a connection that failed or an attempt that timed out. Other
// failures (a 403 for a missing permission or a disabled API, a 404) are not retried.
//
// Each wait is drawn uniformly between 0 and a cap that starts at BaseDelay and doubles
// after each failure, up to MaxDelay ("full jitter"), so that the workers of a scan that
// failed together do not retry together. A Retry-After header (seconds or an HTTP date), or
// the retryDelay of a google.rpc.RetryInfo error detail, sets the least wait; one longer
// than MaxDelay is not waited for: the call fails at once. Waits end with the context.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of one call, the first included; 0 means 5 and 1
	// disables retries.
	MaxAttempts int
	// BaseDelay is the cap of the first wait; 0 means 500ms.
	BaseDelay time.Duration
	// MaxDelay caps every wait; 0 means 30s.
	MaxDelay time.Duration
	// AttemptTimeout bounds one attempt, reading its answer included; 0 means 60s.
	AttemptTimeout time.Duration
}

// withDefaults fills the zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = 60 * time.Second
	}
	return p
}

// backoff returns the wait after the failed-th failure (1 for the first): uniform between 0
// and min(MaxDelay, BaseDelay·2^(failed-1)). jitter(n) returns an int64 in [0, n).
func (p RetryPolicy) backoff(failed int, jitter func(int64) int64) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < failed && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return time.Duration(jitter(int64(ceiling) + 1))
}

// ServiceStats counts the HTTP traffic of one service since NewLive.
type ServiceStats struct {
	Service string `json:"service"`
	// Attempts is the number of requests sent, retries included.
	Attempts int64 `json:"attempts"`
	// Retries is the number of attempts that repeated a failed one.
	Retries int64 `json:"retries"`
	// GaveUp is the number of calls that still failed, for a reason worth retrying, when
	// they ran out of attempts or were told to wait longer than RetryPolicy.MaxDelay.
	GaveUp int64 `json:"gaveUp"`
	// Throttled is the time calls waited for the QPS limit, summed over calls.
	Throttled time.Duration `json:"throttled"`
	// Backoff is the time calls waited between attempts, summed over calls.
	Backoff time.Duration `json:"backoff"`
}

type serviceCounters struct {
	attempts, retries, gaveUp, throttled, backoff atomic.Int64
}

func (c *serviceCounters) snapshot(service string) ServiceStats {
	return ServiceStats{Service: service, Attempts: c.attempts.Load(), Retries: c.retries.Load(), GaveUp: c.gaveUp.Load(),
		Throttled: time.Duration(c.throttled.Load()), Backoff: time.Duration(c.backoff.Load())}
}

// policyTransport keeps one service's calls to its QPS limit and retries those that failed
// for a reason that may pass. It sits above the transport WrapTransport wraps, so that
// metrics see every attempt.
type policyTransport struct {
	service string
	next    http.RoundTripper
	limiter *rate.Limiter // nil: not limited
	retry   RetryPolicy   // with defaults
	stats   *serviceCounters
	log     *zap.Logger
	jitter  func(int64) int64
}

// RetryReads returns a TransportWrapper that retries a service's reads (GET and HEAD) as
// retry says, each attempt bounded by retry.AttemptTimeout, and sends every other request
// once, as it is: whether a write whose answer was lost took effect is for its caller to
// find out, not for a transport to guess. The live actions' clients use it instead of the
// client libraries' own retries, which retry some reads without a bound on attempts.
func RetryReads(retry RetryPolicy, log *zap.Logger) TransportWrapper {
	return func(service string, next http.RoundTripper) http.RoundTripper {
		return &readRetrier{reads: newPolicyTransport(service, next, 0, retry, &serviceCounters{}, log), next: next}
	}
}

// readRetrier sends reads through a policyTransport and other requests straight on.
type readRetrier struct {
	reads *policyTransport
	next  http.RoundTripper
}

func (t *readRetrier) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return t.reads.RoundTrip(req)
	}
	return t.next.RoundTrip(req)
}

func newPolicyTransport(service string, next http.RoundTripper, qps float64, retry RetryPolicy, stats *serviceCounters, log *zap.Logger) *policyTransport {
	t := &policyTransport{service: service, next: next, retry: retry.withDefaults(), stats: stats, log: log, jitter: rand.Int64N}
	if qps > 0 {
		// A burst of 1 spaces the calls evenly: no second ever sees more than qps+1 calls.
		t.limiter = rate.NewLimiter(rate.Limit(qps), 1)
	}
	return t
}

// maxPeek bounds how much of an error answer is read to decide on a retry.
const maxPeek = 64 << 10

// RoundTrip sends req, waiting for the QPS limit before each attempt and between attempts
// as RetryPolicy says. The last answer (or error) is returned as it came.
func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 1; ; attempt++ {
		if err := t.wait(ctx); err != nil {
			closeUnsent(req, attempt)
			return nil, err
		}
		r, cancel, err := t.attemptRequest(req, attempt)
		if err != nil {
			closeUnsent(req, attempt)
			return nil, err
		}
		t.stats.attempts.Add(1)
		if attempt > 1 {
			t.stats.retries.Add(1)
		}
		resp, err := t.next.RoundTrip(r)
		why, after := t.classify(resp, err)
		if why == "" || ctx.Err() != nil || !replayable {
			return finish(resp, err, cancel)
		}
		if attempt >= t.retry.MaxAttempts || after > t.retry.MaxDelay {
			t.stats.gaveUp.Add(1)
			t.log.Debug("giving up a call", zap.String("service", t.service), zap.String("method", req.Method),
				zap.String("path", req.URL.Path), zap.String("reason", why), zap.Int("attempts", attempt), zap.Duration("retryAfter", after))
			return finish(resp, err, cancel)
		}
		discard(resp)
		cancel()
		delay := max(after, t.retry.backoff(attempt, t.jitter))
		t.log.Debug("retrying a call", zap.String("service", t.service), zap.String("method", req.Method),
			zap.String("path", req.URL.Path), zap.String("reason", why), zap.Int("attempt", attempt), zap.Duration("wait", delay))
		t.stats.backoff.Add(int64(delay))
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%s %s: waiting to retry after %s: %w", req.Method, req.URL.Path, why, err)
		}
	}
}

// closeUnsent closes the body of a request that fails before its first attempt is sent, as
// a RoundTripper must; later attempts send copies, and the first was closed when sent.
func closeUnsent(req *http.Request, attempt int) {
	if attempt == 1 && req.Body != nil {
		_ = req.Body.Close()
	}
}

// wait waits for the QPS limit.
func (t *policyTransport) wait(ctx context.Context) error {
	if t.limiter == nil {
		return nil
	}
	start := time.Now()
	err := t.limiter.Wait(ctx)
	t.stats.throttled.Add(int64(time.Since(start)))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("waiting for the %s QPS limit: %w", t.service, err)
	}
	return nil
}

// attemptRequest returns the request of one attempt, bounded by AttemptTimeout, with a
// fresh body after the first; cancel ends the attempt's context.
func (t *policyTransport) attemptRequest(req *http.Request, attempt int) (*http.Request, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.retry.AttemptTimeout)
	r := req.Clone(ctx)
	if attempt > 1 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("%s %s: rewinding the request body to retry: %w", req.Method, req.URL.Path, err)
		}
		r.Body = body
	}
	return r, cancel, nil
}

// classify says why an attempt is worth retrying ("" when it is not) and the least wait the
// server asked for.
func (t *policyTransport) classify(resp *http.Response, err error) (string, time.Duration) {
	if err != nil {
		return "transport error: " + err.Error(), 0
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		body := peek(resp)
		return "HTTP " + strconv.Itoa(resp.StatusCode), retryAfter(resp.Header, body, time.Now())
	case http.StatusForbidden:
		body := peek(resp)
		if isRateLimit(body) {
			return "HTTP 403 rate limit", retryAfter(resp.Header, body, time.Now())
		}
	}
	return "", 0
}

// finish returns the final answer, ending the attempt's context when its body is closed.
func finish(resp *http.Response, err error, cancel context.CancelFunc) (*http.Response, error) {
	if err != nil || resp == nil {
		cancel()
		return resp, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// peek reads the start of an answer's body and puts it back.
func peek(resp *http.Response) []byte {
	if resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxPeek))
	resp.Body = &replayed{Reader: io.MultiReader(bytes.NewReader(b), resp.Body), Closer: resp.Body}
	return b
}

type replayed struct {
	io.Reader
	io.Closer
}

// discard drains and closes an answer that is not returned, so its connection is reused.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPeek))
	_ = resp.Body.Close()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// googleError is the part of Google's JSON error answer that tells a rate limit and how
// long to wait.
type googleError struct {
	Error struct {
		Errors []struct {
			Reason string `json:"reason"`
		} `json:"errors"`
		Details []struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

func decodeGoogleError(body []byte) *googleError {
	var g googleError
	if len(body) == 0 || json.Unmarshal(body, &g) != nil {
		return nil
	}
	return &g
}

// isRateLimit reports whether a 403 answer is a rate limit rather than a denial: Compute
// Engine answers 403 rateLimitExceeded when a rate quota is spent.
func isRateLimit(body []byte) bool {
	g := decodeGoogleError(body)
	if g == nil {
		return false
	}
	for _, e := range g.Error.Errors {
		if e.Reason == "rateLimitExceeded" || e.Reason == "userRateLimitExceeded" {
			return true
		}
	}
	for _, d := range g.Error.Details {
		if d.Reason == "RATE_LIMIT_EXCEEDED" {
			return true
		}
	}
	return false
}

// retryAfter returns the wait the server asked for: the Retry-After header, in seconds or as
// an HTTP date, else the retryDelay of a google.rpc.RetryInfo detail; 0 when none.
func retryAfter(h http.Header, body []byte, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			if secs <= 0 {
				return 0
			}
			return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
		}
		if at, err := http.ParseTime(v); err == nil {
			return max(at.Sub(now), 0)
		}
	}
	if g := decodeGoogleError(body); g != nil {
		for _, d := range g.Error.Details {
			if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && d.RetryDelay != "" {
				if delay, err := time.ParseDuration(d.RetryDelay); err == nil && delay > 0 {
					return delay
				}
			}
		}
	}
	return 0
}
