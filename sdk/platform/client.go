// Package platform is the HTTP client a provider plugin needs to call its
// support platform's REST API, so that every plugin classifies the
// platform's answers the same way and none leaks a credential:
//
//   - JSON in and out, relative paths joined to a base URL, credentials set
//     by an Auth function (BasicAuth, BearerToken, HeaderAuth);
//   - every failure classified for the host: 400, 409, 422 and other 4xx
//     are sdk.Permanent with the platform's own message, 401/403
//     sdk.KindUnauthorized, 404/410 sdk.KindNotFound, 408 and 5xx
//     sdk.Retryable, 429 sdk.RateLimited after its Retry-After (seconds or
//     an HTTP date; DefaultRetryAfter when absent), network errors and
//     timeouts retryable;
//   - a timeout per attempt, retries with backoff for idempotent calls,
//     429s waited out inside the call when the wait is short and the
//     call's deadline leaves room;
//   - an optional Limiter, shared by the clients of one platform account,
//     that keeps calls within the platform's calls per window and holds
//     every client after a 429;
//   - errors that name the method, the path (never the query, which may
//     carry an email or a key) and the platform's message, with every
//     secret redacted: what Auth sets, the base URL's userinfo, and
//     Options.Secrets, also URL-escaped.
//
// The host's outbox retries what a call gives up on, so a client waits
// little inside a call and returns a classified error instead.
package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Options configure a Client. BaseURL is required; the zero value of every
// other field is a sensible default.
type Options struct {
	// Name prefixes every error, e.g. "acme: GET /api/tickets/12: 404 Not
	// Found: Ticket not found".
	Name string
	// BaseURL is what paths given to Do are joined to, e.g.
	// "https://acme.gorgias.com/api/". Userinfo in it becomes Basic auth
	// (unless Auth is set) and is redacted from errors.
	BaseURL string
	// Auth sets the credentials on every request. The header values it sets
	// are redacted from errors (for "Basic" and "Bearer" values, the
	// credentials inside them too).
	Auth func(*http.Request)
	// Header is set on every request, e.g. a User-Agent.
	Header http.Header
	// Secrets are redacted from every error besides what Auth sets, e.g. a
	// webhook secret a platform might echo. Values shorter than 4 bytes are
	// not redacted: they would blank out ordinary words.
	Secrets []string
	// HTTPClient makes the requests (default: a new http.Client).
	HTTPClient *http.Client
	// Timeout bounds one attempt, answer read included (default 30s).
	Timeout time.Duration
	// Attempts is how many times an idempotent call (GET, HEAD, PUT,
	// DELETE, OPTIONS) is tried on a network error, a 408 or a 5xx before it
	// fails (default 1: the host's outbox retries). A POST is tried once:
	// whether a failed POST took effect is only known by looking (see
	// Retry).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// one after (default 500ms).
	Backoff time.Duration
	// RateWaits is how many 429s one call waits out itself, for any method
	// since the platform refused the call (default 0: a 429 fails the call
	// with sdk.RateLimited at once).
	RateWaits int
	// MaxWait is the longest one wait inside a call may be (default 10s); a
	// longer one, or one past the call's deadline, fails the call with
	// sdk.RateLimited and the delay instead.
	MaxWait time.Duration
	// DefaultRetryAfter is the wait of a 429 without a readable Retry-After
	// (default 1s); NoRetryAfter leaves it to the host's backoff.
	DefaultRetryAfter time.Duration
	// RetryAfter reads the wait out of an answer's headers when the
	// platform says it its own way (default: the Retry-After header, as
	// ParseRetryAfter reads it). ResetHeader reads a header holding the
	// Unix time the platform's window resets, e.g. Intercom's
	// X-RateLimit-Reset.
	RetryAfter func(h http.Header, now time.Time) (time.Duration, bool)
	// Retryable marks error answers the platform means as "try again" —
	// e.g. a 409 for two updates of one record that collided — which are
	// returned as sdk.Retryable instead of the kind their status gives.
	Retryable func(status int, body []byte) bool
	// Limiter spaces calls out and holds them after a 429. Share one among
	// the clients of one platform account; nil for none.
	Limiter *Limiter
	// OnResponse sees the status and headers of every answer, e.g. to Hold
	// the Limiter when a platform's usage header says its bucket is nearly
	// full.
	OnResponse func(status int, h http.Header)
	// ErrorMessage reads the platform's message out of an error answer's
	// body (default: ErrorMessage, which knows the common shapes).
	ErrorMessage func(body []byte) string
	// MaxBody bounds how much of an answer is read (default 16 MiB).
	MaxBody int64
	// Now and Sleep are the clock, for tests (default: time.Now and a timer
	// that ends with the context).
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
}

// NoRetryAfter, as Options.DefaultRetryAfter, gives a 429 without
// Retry-After no delay of its own: the host's backoff applies.
const NoRetryAfter time.Duration = -1

// Client calls one platform account's REST API. It is safe for concurrent
// use.
type Client struct {
	o       Options
	base    *url.URL
	secrets []string // static ones, longest first
}

// New returns a Client, or an error naming what is wrong with the options.
func New(o Options) (*Client, error) {
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("platform: BaseURL %q is not an http(s) URL", redactURL(o.BaseURL))
	}
	if base.Path == "" {
		base.Path = "/"
	}
	secrets := append([]string(nil), o.Secrets...)
	if u := base.User; u != nil {
		user := u.Username()
		pass, _ := u.Password()
		secrets = append(secrets, pass, u.String())
		if o.Auth == nil {
			o.Auth = BasicAuth(user, pass)
		}
		base.User = nil
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.RetryAfter == nil {
		o.RetryAfter = func(h http.Header, now time.Time) (time.Duration, bool) {
			return ParseRetryAfter(h.Get("Retry-After"), now)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 1
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Second
	}
	switch {
	case o.DefaultRetryAfter < 0:
		o.DefaultRetryAfter = 0
	case o.DefaultRetryAfter == 0:
		o.DefaultRetryAfter = time.Second
	}
	if o.ErrorMessage == nil {
		o.ErrorMessage = ErrorMessage
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 16 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return &Client{o: o, base: base, secrets: expand(secrets)}, nil
}

// Error is a non-2xx answer of the platform. Match it with errors.As or
// StatusOf; it is wrapped in an *sdk.Error that classifies it.
type Error struct {
	Name   string // Options.Name
	Method string
	Path   string // the URL's path, never its query
	Status int
	// Message is the platform's own, on one line, secrets redacted.
	Message string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Name != "" {
		s = e.Name + ": " + s
	}
	return s
}

// StatusOf is the HTTP status of the platform's answer in err's chain, or 0
// when err is not one (a network error, say).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Do calls the API: path is joined to the base URL ("tickets/12"), query is
// added when not empty, in is sent as JSON when not nil, and a 2xx answer is
// decoded into out when out is not nil and the answer has a body. Its
// errors are classified (see the package documentation).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := c.base.JoinPath(path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return sdk.Permanent(c.errorf("%s %s: encode: %w", method, u.Path, err))
		}
	}
	idempotent := method != http.MethodPost && method != http.MethodPatch
	tries, waits := 0, 0
	for {
		tries++
		if err := c.throttle(ctx, method, u.Path); err != nil {
			return err
		}
		status, header, respBody, secrets, err := c.roundTrip(ctx, method, u, body)
		if err != nil {
			if ctx.Err() != nil {
				return sdk.Retryable(c.errorf("%s %s: %w", method, u.Path, ctx.Err()), 0)
			}
			if idempotent && tries < c.o.Attempts {
				if err := c.pause(ctx, method, u.Path, c.backoff(tries)); err != nil {
					return err
				}
				continue
			}
			return sdk.Retryable(c.errorf("%s %s: %s", method, u.Path, redact(err.Error(), secrets)), 0)
		}
		if c.o.OnResponse != nil {
			c.o.OnResponse(status, header)
		}
		if status >= 200 && status < 300 {
			if out == nil || len(bytes.TrimSpace(respBody)) == 0 {
				return nil
			}
			if err := json.Unmarshal(respBody, out); err != nil {
				// A garbled success: a retry, or the caller's lookups, tell
				// what happened.
				return sdk.Retryable(c.errorf("%s %s: decode the answer: %s", method, u.Path, redact(err.Error(), secrets)), 0)
			}
			return nil
		}
		apiErr := &Error{Name: c.o.Name, Method: method, Path: u.Path, Status: status,
			Message: redact(oneLine(c.o.ErrorMessage(respBody)), secrets)}
		after, hasAfter := c.o.RetryAfter(header, c.o.Now())
		switch {
		case status == http.StatusTooManyRequests:
			if !hasAfter {
				after = c.o.DefaultRetryAfter
			}
			if c.o.Limiter != nil {
				c.o.Limiter.Hold(c.o.Now().Add(after))
			}
			if waits < c.o.RateWaits && c.canWait(ctx, after) {
				waits++
				tries-- // a refused call is not an attempt
				if err := c.pause(ctx, method, u.Path, after); err != nil {
					return err
				}
				continue
			}
			return sdk.RateLimited(apiErr, after)
		case status >= 500 || status == http.StatusRequestTimeout:
			if wait := max(c.backoff(tries), after); idempotent && tries < c.o.Attempts && c.canWait(ctx, wait) {
				if err := c.pause(ctx, method, u.Path, wait); err != nil {
					return err
				}
				continue
			}
			return sdk.Retryable(apiErr, after)
		case c.o.Retryable != nil && c.o.Retryable(status, respBody):
			return sdk.Retryable(apiErr, after)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return &sdk.Error{Kind: sdk.KindUnauthorized, Err: apiErr}
		case status == http.StatusNotFound || status == http.StatusGone:
			return &sdk.Error{Kind: sdk.KindNotFound, Err: apiErr}
		}
		return sdk.Permanent(apiErr) // 400, 405, 409, 413, 422, a 3xx not followed...
	}
}

// Retry is for a call the caller repeats itself, such as a POST whose
// failure is checked by a lookup before it is made again: after the
// caller's try (1 for the first) failed with err, it waits the backoff and
// returns nil when another try may help — err is sdk.KindUnavailable, the
// Attempts are not used up, ctx is live — and returns err otherwise.
func (c *Client) Retry(ctx context.Context, try int, err error) error {
	if sdk.KindOf(err) != sdk.KindUnavailable || try >= c.o.Attempts || ctx.Err() != nil {
		return err
	}
	if perr := c.o.Sleep(ctx, c.backoff(try)); perr != nil {
		return err
	}
	return nil
}

// roundTrip makes one request and reads the whole answer. It returns the
// secrets of this request (the static ones and what Auth set) for
// redaction.
func (c *Client) roundTrip(ctx context.Context, method string, u *url.URL, body []byte) (int, http.Header, []byte, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, c.secrets, err
	}
	for k, vs := range c.o.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	secrets := c.secrets
	if c.o.Auth != nil {
		before := req.Header.Clone()
		c.o.Auth(req)
		secrets = c.authSecrets(before, req.Header)
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, query included
		}
		return 0, nil, nil, secrets, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.o.MaxBody))
	if err != nil {
		return 0, nil, nil, secrets, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, resp.Header, b, secrets, nil
}

// throttle waits until the Limiter lets the call go, or fails it with
// sdk.RateLimited when that is too long to wait.
func (c *Client) throttle(ctx context.Context, method, path string) error {
	if c.o.Limiter == nil {
		return nil
	}
	for range 16 { // a clock that does not move must not spin for ever
		wait := c.o.Limiter.reserve(c.o.Now())
		if wait <= 0 {
			return nil
		}
		if !c.canWait(ctx, wait) {
			return sdk.RateLimited(c.errorf("%s %s: rate limit: the next call may be made in %s", method, path, wait.Round(time.Millisecond)), wait)
		}
		if err := c.pause(ctx, method, path, wait); err != nil {
			return err
		}
	}
	return sdk.RateLimited(c.errorf("%s %s: rate limit: no call slot", method, path), c.o.DefaultRetryAfter)
}

func (c *Client) pause(ctx context.Context, method, path string, d time.Duration) error {
	if err := c.o.Sleep(ctx, d); err != nil {
		return sdk.Retryable(c.errorf("%s %s: %w", method, path, err), 0)
	}
	return nil
}

// canWait reports whether a call may wait d: not too long, and not past its
// deadline.
func (c *Client) canWait(ctx context.Context, d time.Duration) bool {
	if d > c.o.MaxWait {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	return true
}

func (c *Client) backoff(try int) time.Duration {
	return c.o.Backoff << (try - 1)
}

func (c *Client) errorf(format string, args ...any) error {
	if c.o.Name != "" {
		format = c.o.Name + ": " + format
	}
	return fmt.Errorf(format, args...)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
