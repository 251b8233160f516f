package gorgias

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/livechatd/livechatd/sdk"
)

// client is a thin client of one Gorgias account's REST API.
//
// Rate limit: Gorgias meters each account with a leaky bucket (40 calls per
// 20 s for API keys, i.e. 2 calls/s sustained) and reports its level on
// every answer as X-Gorgias-Account-Api-Call-Limit: used/limit. When used
// comes within 2 of the limit, the next call waits one leak interval
// (20 s / limit: 500 ms for 40) for each call beyond used = limit-2, so the
// bucket drains instead of overflowing. A 429 makes every call of the
// account wait its Retry-After. A wait happens inside the call when it is at
// most maxWait and the call's deadline leaves room for it; otherwise the
// call fails at once with sdk.RateLimited and the delay, and the host's
// outbox retries it later.
//
// Retries: 5xx answers, 408 and network errors or timeouts are tried again
// up to attempts times, with backoff, for idempotent methods (GET, PUT,
// DELETE), then fail with sdk.Retryable. A POST is never repeated here:
// whether a timed-out POST took effect is only known by looking, which the
// provider does (findOrCreate). 429 is the exception: Gorgias refused the
// call, so it is repeated for any method.
//
// Errors name the method, the path (never the query, which may carry an
// email) and Gorgias's own message; the API key is never part of them.
type client struct {
	base   *url.URL
	email  string
	apiKey string
	http   *http.Client
	lim    *limiter
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error

	attempts       int           // tries of an idempotent call on 5xx/network errors
	backoff        time.Duration // first backoff; doubles
	rateWaits      int           // 429s waited out inside one call
	maxWait        time.Duration // longest wait inside a call
	window         time.Duration // the bucket's window: limit calls per window
	attemptTimeout time.Duration // one HTTP request
}

// limiter is the rate-limit state of one Gorgias account.
type limiter struct {
	mu        sync.Mutex
	notBefore time.Time
}

// hold makes the account's next call wait until t at least.
func (l *limiter) hold(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.notBefore) {
		l.notBefore = t
	}
}

func (l *limiter) next() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notBefore
}

func newClient(base *url.URL, email, apiKey string, lim *limiter, o options) *client {
	if lim == nil {
		lim = &limiter{}
	}
	return &client{
		base: base, email: email, apiKey: apiKey, http: o.httpClient, lim: lim, now: o.now, sleep: o.sleep,
		attempts:       3,
		backoff:        500 * time.Millisecond,
		rateWaits:      3,
		maxWait:        10 * time.Second,
		window:         20 * time.Second,
		attemptTimeout: 20 * time.Second,
	}
}

// APIError is a non-2xx answer of the Gorgias API.
type APIError struct {
	Method string
	Path   string
	Status int
	// Msg and Data are Gorgias's {"error": {"msg", "data"}}.
	Msg  string
	Data string
}

func (e *APIError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("gorgias: %s %s: %d %s", e.Method, e.Path, e.Status, msg)
	if e.Data != "" {
		s += " (" + e.Data + ")"
	}
	return s
}

// do calls the API: path is relative to the base URL ("tickets/12"), in is
// sent as JSON when not nil, a 2xx answer is decoded into out when not nil.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.base.JoinPath(path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return sdk.Permanent(errorf("%s %s: encode: %w", method, u.Path, err))
		}
	}
	idempotent := method != http.MethodPost
	tries, waits := 0, 0
	for {
		tries++
		if err := c.throttle(ctx, method, u.Path); err != nil {
			return err
		}
		status, header, respBody, err := c.roundTrip(ctx, method, u, body)
		if err != nil {
			if ctx.Err() != nil {
				return sdk.Retryable(errorf("%s %s: %w", method, u.Path, ctx.Err()), 0)
			}
			if idempotent && tries < c.attempts {
				if err := c.pause(ctx, method, u.Path, c.backoffFor(tries)); err != nil {
					return err
				}
				continue
			}
			return sdk.Retryable(errorf("%s %s: %s", method, u.Path, c.redact(err.Error())), 0)
		}
		c.observe(header)
		if status >= 200 && status < 300 {
			if out == nil || len(bytes.TrimSpace(respBody)) == 0 {
				return nil
			}
			if err := json.Unmarshal(respBody, out); err != nil {
				// A garbled success: the caller's lookups tell what happened.
				return sdk.Retryable(errorf("%s %s: decode the answer: %v", method, u.Path, err), 0)
			}
			return nil
		}
		apiErr := c.apiError(method, u.Path, status, respBody)
		switch {
		case status == http.StatusTooManyRequests:
			d := retryAfter(header, c.now())
			c.lim.hold(c.now().Add(d))
			if waits < c.rateWaits && c.canWait(ctx, d) {
				waits++
				tries-- // a refused call is not an attempt
				continue
			}
			return sdk.RateLimited(apiErr, d)
		case status >= 500 || status == http.StatusRequestTimeout:
			if idempotent && tries < c.attempts {
				if err := c.pause(ctx, method, u.Path, c.backoffFor(tries)); err != nil {
					return err
				}
				continue
			}
			return sdk.Retryable(apiErr, 0)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return sdk.Unauthorized("%w", apiErr)
		case status == http.StatusNotFound || status == http.StatusGone:
			return sdk.NotFound("%w", apiErr)
		}
		return sdk.Permanent(apiErr) // 400, 405, 409, 413, 422...
	}
}

// roundTrip makes one request and reads the whole answer.
func (c *client) roundTrip(ctx context.Context, method string, u *url.URL, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth(c.email, c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "livechatd-gorgias/"+Version)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, query included
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	const maxBody = 16 << 20
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// throttle waits until the account may make its next call.
func (c *client) throttle(ctx context.Context, method, path string) error {
	wait := c.lim.next().Sub(c.now())
	if wait <= 0 {
		return nil
	}
	if !c.canWait(ctx, wait) {
		return sdk.RateLimited(errorf("%s %s: rate limit: the next call may be made in %s", method, path, wait.Round(time.Millisecond)), wait)
	}
	return c.pause(ctx, method, path, wait)
}

func (c *client) pause(ctx context.Context, method, path string, d time.Duration) error {
	if err := c.sleep(ctx, d); err != nil {
		return sdk.Retryable(errorf("%s %s: %w", method, path, err), 0)
	}
	return nil
}

// canWait reports whether a call may wait d: not too long, and not past its
// deadline.
func (c *client) canWait(ctx context.Context, d time.Duration) bool {
	if d > c.maxWait {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	return true
}

func (c *client) backoffFor(try int) time.Duration {
	return c.backoff << (try - 1)
}

// callLimitHeadroom is how close to the limit the bucket may fill before
// calls slow down.
const callLimitHeadroom = 2

// observe slows the account's next call down when the bucket is nearly full.
func (c *client) observe(h http.Header) {
	used, limit, ok := parseCallLimit(h.Get("X-Gorgias-Account-Api-Call-Limit"))
	if !ok || used < limit-callLimitHeadroom {
		return
	}
	interval := c.window / time.Duration(limit)
	over := used - (limit - callLimitHeadroom) + 1
	c.lim.hold(c.now().Add(time.Duration(over) * interval))
}

// parseCallLimit parses "used/limit".
func parseCallLimit(s string) (used, limit int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(s), "/")
	if !found {
		return 0, 0, false
	}
	used, err1 := strconv.Atoi(strings.TrimSpace(a))
	limit, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || limit <= 0 || used < 0 {
		return 0, 0, false
	}
	return used, limit, true
}

// retryAfter reads Retry-After (seconds or an HTTP date); 1 s when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	const fallback, most = time.Second, time.Hour
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return fallback
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return fallback
	}
	switch {
	case d <= 0:
		return fallback
	case d > most:
		return most
	}
	return d
}

// apiError reads Gorgias's error body: {"error": {"msg", "data"}}, or
// {"error": "..."}, or anything else.
func (c *client) apiError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	body = []byte(c.redact(string(body)))
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Msg     string          `json:"msg"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		e.Msg = snippet(string(body))
	} else {
		var s string
		var obj struct {
			Msg  string          `json:"msg"`
			Data json.RawMessage `json:"data"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil:
			e.Msg = s
		case json.Unmarshal(v.Error, &obj) == nil:
			e.Msg, e.Data = obj.Msg, formatErrorData(obj.Data)
		}
		if e.Msg == "" {
			e.Msg = v.Message
		}
		if e.Msg == "" {
			e.Msg = v.Msg
		}
		e.Msg = snippet(e.Msg)
	}
	e.Msg, e.Data = c.redact(e.Msg), c.redact(e.Data)
	return e
}

// formatErrorData renders {"field": ["msg", ...]} as "field: msg; msg, ...".
func formatErrorData(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return snippet(string(raw))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		var msgs []string
		var one string
		switch {
		case json.Unmarshal(fields[k], &msgs) == nil:
			parts = append(parts, k+": "+strings.Join(msgs, "; "))
		case json.Unmarshal(fields[k], &one) == nil:
			parts = append(parts, k+": "+one)
		default:
			parts = append(parts, k+": "+string(fields[k]))
		}
	}
	return snippet(strings.Join(parts, ", "))
}

// snippet is s on one line, cut to a readable length.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const most = 300
	if len(s) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// redact removes the API key from s, whatever echoed it.
func (c *client) redact(s string) string {
	if len(c.apiKey) < 4 {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "[redacted]")
}
