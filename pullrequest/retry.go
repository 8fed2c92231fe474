package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"go.uber.org/zap"
)

const (
	// maxAttempts bounds the attempts of one call.
	maxAttempts = 5
	// maxServerRetries bounds the retries of 5xx answers and network errors.
	maxServerRetries = 3
	// serverBackoff is the first pause after a 5xx answer; it doubles.
	serverBackoff = 200 * time.Millisecond
	// defaultRateLimitWait is the wait for a rate limit that names no time.
	defaultRateLimitWait = time.Minute
	// rateLimitMargin is added to a rate-limit wait, so that the retry lands after it.
	rateLimitMargin = 50 * time.Millisecond
)

// call runs one API call, retrying what GitHub asks to retry: secondary rate limits
// (*github.AbuseRateLimitError), primary rate limits, 429 and 403 answers with
// Retry-After, 5xx answers and network errors. Rate-limit waits honour Retry-After (or
// the reset time), bounded by Config.MaxRetryWait; 5xx retries back off exponentially.
// Writes hold the write lock for the whole call, waits included, so that writes stay
// serialized and paced even under rate limiting.
func (c *Client) call(ctx context.Context, op string, write bool, fn func(context.Context) (*github.Response, error)) error {
	if write {
		select {
		case c.writeSem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		defer func() { <-c.writeSem }()
	}
	serverRetries := 0
	for attempt := 1; ; attempt++ {
		if write && c.cfg.WriteInterval > 0 && !c.lastWrite.IsZero() {
			if err := sleep(ctx, time.Until(c.lastWrite.Add(c.cfg.WriteInterval))); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		start := time.Now()
		resp, err := fn(ctx)
		if write {
			c.lastWrite = time.Now()
		}
		status := 0
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
		}
		c.log.Debug("github call", zap.String("op", op), zap.Int("status", status),
			zap.Duration("took", time.Since(start)), zap.Int("attempt", attempt))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		wait, kind := c.retryable(err)
		if kind == "" || attempt >= maxAttempts {
			return fmt.Errorf("%s: %w", op, err)
		}
		if kind == "server" {
			serverRetries++
			if serverRetries > maxServerRetries {
				return fmt.Errorf("%s: %w", op, err)
			}
			if wait == 0 {
				wait = serverBackoff << (serverRetries - 1)
			}
		}
		if wait > c.cfg.MaxRetryWait {
			return fmt.Errorf("%s: GitHub asks to wait %v, more than the %v allowed: %w", op, wait.Round(time.Second), c.cfg.MaxRetryWait, err)
		}
		c.log.Warn("github call to retry", zap.String("op", op), zap.String("reason", kind),
			zap.Int("status", status), zap.Duration("wait", wait), zap.Int("attempt", attempt))
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

// retryable classifies an error: the wait before a retry (zero when the backoff decides)
// and the kind of failure ("rate-limit", "server"), or "" when the call must not be
// retried.
func (c *Client) retryable(err error) (time.Duration, string) {
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := defaultRateLimitWait
		if abuse.RetryAfter != nil {
			wait = *abuse.RetryAfter
		}
		return max(wait, 0) + rateLimitMargin, "rate-limit"
	}
	var rate *github.RateLimitError
	if errors.As(err, &rate) {
		wait := defaultRateLimitWait
		if !rate.Rate.Reset.Time.IsZero() {
			wait = time.Until(rate.Rate.Reset.Time)
		}
		return max(wait, 0) + rateLimitMargin, "rate-limit"
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		status := er.Response.StatusCode
		retryAfter, hasRetryAfter := parseRetryAfter(er.Response.Header.Get("Retry-After"), c.now())
		switch {
		case status == http.StatusTooManyRequests,
			status == http.StatusForbidden && (hasRetryAfter || strings.Contains(strings.ToLower(er.Message), "rate limit")):
			if !hasRetryAfter {
				retryAfter = defaultRateLimitWait
			}
			return retryAfter + rateLimitMargin, "rate-limit"
		case status == http.StatusInternalServerError, status == http.StatusBadGateway,
			status == http.StatusServiceUnavailable, status == http.StatusGatewayTimeout:
			if hasRetryAfter {
				return retryAfter, "server"
			}
			return 0, "server"
		}
		return 0, ""
	}
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) {
		// The App's installation token could not be had: retry only what the server or
		// the network failed.
		if he.Response != nil && he.Response.StatusCode < http.StatusInternalServerError {
			return 0, ""
		}
		return 0, "server"
	}
	var ue *url.Error
	if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), "refusing a redirect") {
		return 0, "server"
	}
	return 0, ""
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// statusOf is the HTTP status of a go-github error, 0 when it has none.
func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// errorMentions reports whether a go-github error's message or details hold s.
func errorMentions(err error, s string) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	if strings.Contains(er.Message, s) {
		return true
	}
	for _, e := range er.Errors {
		if strings.Contains(e.Message, s) {
			return true
		}
	}
	return false
}
