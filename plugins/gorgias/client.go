package gorgias

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk/platform"
)

// client is a client of one Gorgias account's REST API, on the SDK's
// platform client (Basic auth, statuses classified, the API key redacted
// from every error, errors naming the method and path but never the query,
// which may carry an email).
//
// Rate limit: Gorgias meters each account with a leaky bucket (40 calls per
// 20 s for API keys, i.e. 2 calls/s sustained) and reports its level on
// every answer as X-Gorgias-Account-Api-Call-Limit: used/limit. When used
// comes within 2 of the limit, the next call waits one leak interval
// (20 s / limit: 500 ms for 40) for each call beyond used = limit-2, so the
// bucket drains instead of overflowing. A 429 makes every call of the
// account wait its Retry-After. A wait happens inside the call when it is at
// most 10 s and the call's deadline leaves room for it; otherwise the call
// fails at once with sdk.RateLimited and the delay, and the host's outbox
// retries it later.
//
// Retries: 5xx answers, 408 and network errors or timeouts are tried again
// up to 3 times, with backoff, for idempotent methods (GET, PUT, DELETE),
// then fail with sdk.Retryable. A POST is never repeated here: whether a
// timed-out POST took effect is only known by looking, which the provider
// does (findOrCreate). 429 is the exception: Gorgias refused the call, so
// it is repeated for any method, up to 3 times.
type client struct {
	*platform.Client
	email string
	now   func() time.Time
}

// window is the account's bucket: limit calls per window.
const window = 20 * time.Second

// newClient returns the client of an account; lim is the account's, shared
// by its bots.
func newClient(base *url.URL, email, apiKey string, lim *platform.Limiter, o options, timeout time.Duration) *client {
	if lim == nil {
		lim = platform.NewLimiter(0, 0)
	}
	api, err := platform.New(platform.Options{
		Name:       "gorgias",
		BaseURL:    base.String(),
		Auth:       platform.BasicAuth(email, apiKey),
		Header:     http.Header{"User-Agent": {"livechatd-gorgias/" + Version}},
		HTTPClient: o.httpClient,
		Timeout:    timeout,
		Attempts:   3,
		RateWaits:  3,
		Limiter:    lim,
		OnResponse: func(_ int, h http.Header) { observe(h, lim, o.now) },
		Now:        o.now,
		Sleep:      o.sleep,
	})
	if err != nil {
		panic(err) // base was checked by config.check
	}
	return &client{Client: api, email: email, now: o.now}
}

// callLimitHeadroom is how close to the limit the bucket may fill before
// calls slow down.
const callLimitHeadroom = 2

// observe slows the account's next call down when the bucket is nearly full.
func observe(h http.Header, lim *platform.Limiter, now func() time.Time) {
	used, limit, ok := parseCallLimit(h.Get("X-Gorgias-Account-Api-Call-Limit"))
	if !ok || used < limit-callLimitHeadroom {
		return
	}
	interval := window / time.Duration(limit)
	over := used - (limit - callLimitHeadroom) + 1
	lim.Hold(now().Add(time.Duration(over) * interval))
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
