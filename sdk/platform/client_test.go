package platform_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

const secret = "sk_live_0123456789abcdef"

// reply is one scripted answer of the fake platform.
type reply struct {
	status int
	header map[string]string
	body   string
}

// scripted answers with its replies in turn, the last one for ever, and
// records the requests.
type scripted struct {
	mu      sync.Mutex
	replies []reply
	reqs    []*http.Request
	bodies  []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, string(b))
	rep := s.replies[min(len(s.reqs), len(s.replies))-1]
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header()[k] = []string{v} // as written: platforms send "Retry-after" too
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// clock is a fake clock: Sleep records the wait and moves time on.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// newTestClient serves h and returns a client of it with a fake clock;
// edit changes the options first.
func newTestClient(t *testing.T, h http.Handler, edit func(*platform.Options)) (*platform.Client, *clock) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := newClock()
	o := platform.Options{
		Name:       "acme",
		BaseURL:    srv.URL + "/api/v2/",
		Auth:       platform.BearerToken(secret),
		HTTPClient: srv.Client(),
		Now:        clk.Now,
		Sleep:      clk.Sleep,
	}
	if edit != nil {
		edit(&o)
	}
	c, err := platform.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

// checkKind fails unless err is of kind want (KindUnknown: no error).
func checkKind(t *testing.T, err error, want sdk.ErrorKind) {
	t.Helper()
	switch {
	case want == sdk.KindUnknown && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != sdk.KindUnknown && err == nil:
		t.Fatalf("no error; want %s", want)
	case want != sdk.KindUnknown && sdk.KindOf(err) != want:
		t.Fatalf("error %v is %s; want %s", err, sdk.KindOf(err), want)
	}
}

func TestClientSendsAuthJSONAndDecodes(t *testing.T) {
	s := &scripted{replies: []reply{{status: 201, body: `{"id": 7, "subject": "hi"}`}}}
	c, _ := newTestClient(t, s, func(o *platform.Options) {
		o.Header = http.Header{"User-Agent": {"livechatd-acme/1.0"}}
	})
	var out struct {
		ID      int    `json:"id"`
		Subject string `json:"subject"`
	}
	err := c.Do(context.Background(), http.MethodPost, "tickets", url.Values{"async": {"true"}}, map[string]any{"subject": "hi"}, &out)
	checkKind(t, err, sdk.KindUnknown)
	if out.ID != 7 || out.Subject != "hi" {
		t.Errorf("decoded %+v", out)
	}
	r := s.reqs[0]
	for k, want := range map[string]string{
		"Authorization": "Bearer " + secret, "Content-Type": "application/json",
		"Accept": "application/json", "User-Agent": "livechatd-acme/1.0",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/tickets" || r.URL.RawQuery != "async=true" {
		t.Errorf("request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	}
	if s.bodies[0] != `{"subject":"hi"}` {
		t.Errorf("body %s", s.bodies[0])
	}
}

func TestClientAuthHelpers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		auth   func(*http.Request)
		header string
		want   string
	}{
		{"basic", platform.BasicAuth("jane@example.com", secret), "Authorization", "Basic amFuZUBleGFtcGxlLmNvbTpza19saXZlXzAxMjM0NTY3ODlhYmNkZWY="},
		{"bearer", platform.BearerToken(secret), "Authorization", "Bearer " + secret},
		{"header", platform.HeaderAuth("api_access_token", secret), "api_access_token", secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{replies: []reply{{status: 401, body: `{"error": "Invalid token ` + secret + `"}`}}}
			c, _ := newTestClient(t, s, func(o *platform.Options) { o.Auth = tc.auth })
			err := c.Do(context.Background(), http.MethodGet, "me", nil, nil, nil)
			checkKind(t, err, sdk.KindUnauthorized)
			if got := s.reqs[0].Header.Get(tc.header); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.header, got, tc.want)
			}
			// The echoed credential is redacted because Auth set it.
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "Invalid token [redacted]") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestClientMapsStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		header map[string]string
		body   string
		want   sdk.ErrorKind
		after  time.Duration
		msg    string
	}{
		{400, nil, `{"error": {"msg": "Failed to create ticket", "data": {"sender": ["Missing data for required field."], "channel": ["Missing data for required field."]}}}`,
			sdk.KindInvalid, 0, "400 Bad Request: Failed to create ticket (channel: Missing data for required field., sender: Missing data for required field.)"},
		{422, nil, `{"message": "Validation failed", "errors": [{"field": "email", "message": "It should be a valid email address"}]}`,
			sdk.KindInvalid, 0, "422 Unprocessable Entity: Validation failed (email: It should be a valid email address)"},
		{422, nil, `{"error": "RecordInvalid", "description": "Record validation errors", "details": {"requester": [{"description": "Requester: Email is invalid"}]}}`,
			sdk.KindInvalid, 0, "RecordInvalid: Record validation errors (requester: Requester: Email is invalid)"},
		{400, nil, `{"_error": {"status": 400, "title": "Bad request", "message": "Body did not satisfy requirements"}}`, sdk.KindInvalid, 0, "Body did not satisfy requirements"},
		{400, nil, `{"type": "error.list", "errors": [{"code": "parameter_invalid", "message": "Email is invalid"}]}`, sdk.KindInvalid, 0, "parameter_invalid: Email is invalid"},
		{409, nil, `{"errors": ["Email has already been taken"]}`, sdk.KindInvalid, 0, "409 Conflict: Email has already been taken"},
		{413, nil, ``, sdk.KindInvalid, 0, "413 Request Entity Too Large"},
		{422, nil, `not json at all`, sdk.KindInvalid, 0, "422 Unprocessable Entity: not json at all"},
		{401, nil, `{"error": "Invalid access_token"}`, sdk.KindUnauthorized, 0, "401 Unauthorized: Invalid access_token"},
		{403, nil, `{"error": {"message": "Your role does not allow this"}}`, sdk.KindUnauthorized, 0, "403 Forbidden: Your role does not allow this"},
		{404, nil, `{"error": "Resource not found"}`, sdk.KindNotFound, 0, "404 Not Found: Resource not found"},
		{410, nil, ``, sdk.KindNotFound, 0, "410 Gone"},
		{408, nil, ``, sdk.KindUnavailable, 0, "408 Request Timeout"},
		{500, nil, `<html><body>Internal Server Error</body></html>`, sdk.KindUnavailable, 0, "500 Internal Server Error"},
		{502, nil, ``, sdk.KindUnavailable, 0, "502 Bad Gateway"},
		{503, map[string]string{"Retry-After": "2"}, `{"error": "maintenance"}`, sdk.KindUnavailable, 2 * time.Second, "503 Service Unavailable: maintenance"},
		{429, map[string]string{"Retry-After": "7"}, `{"error": "Too many requests"}`, sdk.KindRateLimited, 7 * time.Second, "429 Too Many Requests: Too many requests"},
		{429, map[string]string{"Retry-after": "Sat, 01 Mar 2025 12:00:30 GMT"}, ``, sdk.KindRateLimited, 30 * time.Second, "429 Too Many Requests"},
		{429, nil, ``, sdk.KindRateLimited, time.Second, "429 Too Many Requests"},
		{429, map[string]string{"Retry-After": "soon"}, ``, sdk.KindRateLimited, time.Second, "429"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			s := &scripted{replies: []reply{{status: tc.status, header: tc.header, body: tc.body}}}
			c, _ := newTestClient(t, s, nil)
			err := c.Do(context.Background(), http.MethodPut, "tickets/12", url.Values{"email": {"jane@example.com"}}, map[string]string{"status": "closed"}, nil)
			checkKind(t, err, tc.want)
			if ok, after := sdk.IsRetryable(err); ok != (tc.want == sdk.KindUnavailable || tc.want == sdk.KindRateLimited) || after != tc.after {
				t.Errorf("IsRetryable = %v, %s; want after %s", ok, after, tc.after)
			}
			if !strings.Contains(err.Error(), "acme: PUT /api/v2/tickets/12: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q; want the call and %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), "jane@example.com") || strings.Contains(err.Error(), "html") {
				t.Errorf("error %q shows the query or an HTML page", err)
			}
			if platform.StatusOf(err) != tc.status {
				t.Errorf("StatusOf = %d, want %d", platform.StatusOf(err), tc.status)
			}
			var pe *platform.Error
			if !errors.As(err, &pe) || pe.Status != tc.status || pe.Method != http.MethodPut || pe.Path != "/api/v2/tickets/12" {
				t.Errorf("error %#v does not unwrap to the *platform.Error", err)
			}
		})
	}
}

func TestClientDecodeFailureIsRetryable(t *testing.T) {
	c, _ := newTestClient(t, &scripted{replies: []reply{{status: 200, body: `{"id": `}}}, nil)
	var out struct{ ID int }
	err := c.Do(context.Background(), http.MethodGet, "tickets/1", nil, nil, &out)
	checkKind(t, err, sdk.KindUnavailable)
	if !strings.Contains(err.Error(), "decode the answer") {
		t.Errorf("error %q", err)
	}
	// An empty 2xx with somewhere to decode into is fine (204, say).
	c, _ = newTestClient(t, &scripted{replies: []reply{{status: 204}}}, nil)
	checkKind(t, c.Do(context.Background(), http.MethodDelete, "tickets/1", nil, nil, &out), sdk.KindUnknown)
}

func TestClientRetriesIdempotentCalls(t *testing.T) {
	unavailable := reply{status: 503, body: `{"error": "An external service had an issue."}`}
	for _, tc := range []struct {
		name      string
		replies   []reply
		method    string
		want      sdk.ErrorKind
		calls     int
		slept     []time.Duration
		attempts  int
		rateWaits int
		// defaultAfter is Options.DefaultRetryAfter; after the RetryAfter
		// of a rate-limited error.
		defaultAfter, after time.Duration
	}{
		{name: "gives up after 3 tries", replies: []reply{unavailable}, method: http.MethodGet, want: sdk.KindUnavailable, calls: 3,
			slept: []time.Duration{500 * time.Millisecond, time.Second}, attempts: 3},
		{name: "recovers", replies: []reply{{status: 502}, {status: 200, body: `{}`}}, method: http.MethodPut, calls: 2,
			slept: []time.Duration{500 * time.Millisecond}, attempts: 3},
		{name: "a POST is not repeated blindly", replies: []reply{unavailable}, method: http.MethodPost, want: sdk.KindUnavailable, calls: 1, attempts: 3},
		{name: "default: one try", replies: []reply{unavailable}, method: http.MethodGet, want: sdk.KindUnavailable, calls: 1},
		{name: "429 waited out, a POST too", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "2"}}, {status: 201, body: `{}`}},
			method: http.MethodPost, calls: 2, slept: []time.Duration{2 * time.Second}, rateWaits: 3},
		{name: "429 again and again", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "1"}}}, method: http.MethodGet,
			want: sdk.KindRateLimited, calls: 4, slept: []time.Duration{time.Second, time.Second, time.Second}, rateWaits: 3},
		{name: "429 too long to wait", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "60"}}, {status: 200}}, method: http.MethodGet,
			want: sdk.KindRateLimited, calls: 1, rateWaits: 3},
		{name: "429 without Retry-After, NoRetryAfter: the host's backoff", replies: []reply{{status: 429}, {status: 200}}, method: http.MethodGet,
			want: sdk.KindRateLimited, calls: 1, defaultAfter: platform.NoRetryAfter, after: 0},
		{name: "429 without Retry-After, waited out for DefaultRetryAfter", replies: []reply{{status: 429}, {status: 200}}, method: http.MethodGet,
			calls: 2, slept: []time.Duration{3 * time.Second}, rateWaits: 1, defaultAfter: 3 * time.Second},
		{name: "429 default: not waited", replies: []reply{{status: 429, header: map[string]string{"Retry-After": "1"}}, {status: 200}}, method: http.MethodGet,
			want: sdk.KindRateLimited, calls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{replies: tc.replies}
			c, clk := newTestClient(t, s, func(o *platform.Options) {
				o.Attempts, o.RateWaits, o.DefaultRetryAfter = tc.attempts, tc.rateWaits, tc.defaultAfter
			})
			err := c.Do(context.Background(), tc.method, "tickets", nil, nil, nil)
			checkKind(t, err, tc.want)
			if _, after := sdk.IsRetryable(err); tc.want == sdk.KindRateLimited && tc.defaultAfter != 0 && after != tc.after {
				t.Errorf("RetryAfter %s, want %s", after, tc.after)
			}
			if s.count() != tc.calls {
				t.Errorf("%d calls, want %d", s.count(), tc.calls)
			}
			if diff := cmp.Diff(tc.slept, clk.Slept()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientRateLimitWaitRespectsDeadline(t *testing.T) {
	s := &scripted{replies: []reply{{status: 429, header: map[string]string{"Retry-After": "5"}}, {status: 200}}}
	c, clk := newTestClient(t, s, func(o *platform.Options) { o.RateWaits = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.Do(ctx, http.MethodGet, "tickets", nil, nil, nil)
	checkKind(t, err, sdk.KindRateLimited)
	if _, after := sdk.IsRetryable(err); after != 5*time.Second || s.count() != 1 || len(clk.Slept()) != 0 {
		t.Errorf("after %s, %d calls, waits %v; want RateLimited after 5s at once", after, s.count(), clk.Slept())
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c, _ := newTestClient(t, h, func(o *platform.Options) { o.Timeout = 50 * time.Millisecond })
	err := c.Do(context.Background(), http.MethodGet, "slow", nil, nil, nil)
	checkKind(t, err, sdk.KindUnavailable)
	if !strings.Contains(err.Error(), "acme: GET /api/v2/slow") {
		t.Errorf("error %q does not name the call", err)
	}
}

func TestLimiterSpacesCalls(t *testing.T) {
	// 3 calls per 10 s: the 4th waits for the 1st to leave the window.
	s := &scripted{replies: []reply{{status: 200, body: `{}`}}}
	lim := platform.NewLimiter(3, 10*time.Second)
	c, clk := newTestClient(t, s, func(o *platform.Options) { o.Limiter = lim; o.MaxWait = time.Minute })
	for i := 0; i < 5; i++ {
		checkKind(t, c.Do(context.Background(), http.MethodGet, "tickets", nil, nil, nil), sdk.KindUnknown)
	}
	if diff := cmp.Diff([]time.Duration{10 * time.Second}, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if s.count() != 5 {
		t.Errorf("%d calls, want 5", s.count())
	}
}

func TestLimiterRefusesWhenTheWaitIsTooLong(t *testing.T) {
	s := &scripted{replies: []reply{{status: 200, body: `{}`}}}
	lim := platform.NewLimiter(1, time.Minute)
	c, clk := newTestClient(t, s, func(o *platform.Options) { o.Limiter = lim })
	checkKind(t, c.Do(context.Background(), http.MethodGet, "a", nil, nil, nil), sdk.KindUnknown)
	err := c.Do(context.Background(), http.MethodGet, "b", nil, nil, nil)
	checkKind(t, err, sdk.KindRateLimited)
	if _, after := sdk.IsRetryable(err); after != time.Minute || s.count() != 1 || len(clk.Slept()) != 0 {
		t.Errorf("after %s, %d calls, waits %v", after, s.count(), clk.Slept())
	}
}

func TestLimiterHeldBy429ForEveryClient(t *testing.T) {
	// Two bots on one account share its limiter: after a 429 with a long
	// Retry-After, the other's call is not even tried.
	s := &scripted{replies: []reply{{status: 429, header: map[string]string{"Retry-After": "30"}}}}
	lim := platform.NewLimiter(0, 0)
	clk := newClock()
	opts := func(o *platform.Options) { o.Limiter, o.Now, o.Sleep = lim, clk.Now, clk.Sleep }
	a, _ := newTestClient(t, s, opts)
	b, _ := newTestClient(t, s, opts)
	checkKind(t, a.Do(context.Background(), http.MethodGet, "x", nil, nil, nil), sdk.KindRateLimited)
	err := b.Do(context.Background(), http.MethodGet, "x", nil, nil, nil)
	checkKind(t, err, sdk.KindRateLimited)
	if ok, after := sdk.IsRetryable(err); !ok || after != 30*time.Second {
		t.Errorf("second client: retryable %v after %s; want after 30s", ok, after)
	}
	if s.count() != 1 {
		t.Errorf("%d calls; the second must wait for the account", s.count())
	}
}

func TestLimiterHold(t *testing.T) {
	// OnResponse can hold the limiter on a platform's own usage header.
	s := &scripted{replies: []reply{{status: 200, header: map[string]string{"X-Usage": "full"}, body: `{}`}, {status: 200, body: `{}`}}}
	lim := platform.NewLimiter(0, 0)
	var c *platform.Client
	c, clk := newTestClient(t, s, func(o *platform.Options) {
		o.Limiter = lim
		o.OnResponse = func(status int, h http.Header) {
			if h.Get("X-Usage") == "full" {
				lim.Hold(o.Now().Add(1500 * time.Millisecond))
			}
		}
	})
	for i := 0; i < 2; i++ {
		checkKind(t, c.Do(context.Background(), http.MethodGet, "x", nil, nil, nil), sdk.KindUnknown)
	}
	if diff := cmp.Diff([]time.Duration{1500 * time.Millisecond}, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestClientRedactsSecrets(t *testing.T) {
	// Credentials in the base URL's userinfo, a header, an extra secret, and
	// a platform that echoes them all back, URL-encoded too.
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message": "bad: ` + r.Header.Get("Authorization") + ` / ` + r.Header.Get("X-Api-Key") +
			` / ` + url.QueryEscape("extra secret/42") + ` / ` + r.URL.String() + `"}`))
	})
	srv := httptest.NewServer(echo)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("acct", "pa55word-in-url")
	clk := newClock()
	c, err := platform.New(platform.Options{
		Name: "acme", BaseURL: u.String() + "/api/", HTTPClient: srv.Client(),
		Auth:    platform.HeaderAuth("X-Api-Key", secret),
		Secrets: []string{"extra secret/42"},
		Now:     clk.Now, Sleep: clk.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(context.Background(), http.MethodGet, "x", url.Values{"token": {secret}}, nil, nil)
	checkKind(t, err, sdk.KindInvalid)
	for _, leak := range []string{secret, "pa55word-in-url", "extra secret/42", url.QueryEscape("extra secret/42"), "YWNjdDpwYTU1d29yZC1pbi11cmw"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q shows %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q: want the echo, redacted", err)
	}

	// A transport error's text repeats the URL: neither it nor the query
	// shows.
	srv.Close()
	err = c.Do(context.Background(), http.MethodGet, "x", url.Values{"token": {secret}}, nil, nil)
	checkKind(t, err, sdk.KindUnavailable)
	for _, leak := range []string{secret, "pa55word-in-url", "token="} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("transport error %q shows %q", err, leak)
		}
	}
}

func TestRetry(t *testing.T) {
	// Retry is for calls the caller repeats itself, such as a POST checked
	// by a lookup first.
	c, clk := newTestClient(t, http.NotFoundHandler(), func(o *platform.Options) { o.Attempts = 3 })
	ctx := context.Background()
	unavailable := sdk.Retryable(errors.New("503"), 0)
	for try, want := range []error{nil, nil, unavailable} {
		if err := c.Retry(ctx, try+1, unavailable); !errors.Is(err, want) {
			t.Errorf("try %d: %v, want %v", try+1, err, want)
		}
	}
	invalid := sdk.Permanent(errors.New("400"))
	if err := c.Retry(ctx, 1, invalid); !errors.Is(err, invalid) {
		t.Errorf("a permanent error: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{500 * time.Millisecond, time.Second}, clk.Slept()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, base := range []string{"", "ftp://x/", "://", "http:///nohost"} {
		if _, err := platform.New(platform.Options{BaseURL: base}); err == nil {
			t.Errorf("BaseURL %q accepted", base)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true}, {" 0.5 ", 500 * time.Millisecond, true}, {"", 0, false}, {"-3", 0, false}, {"0", 0, false},
		{"soon", 0, false}, {"Sat, 01 Mar 2025 12:00:07 GMT", 7 * time.Second, true}, {"Sat, 01 Mar 2025 11:00:00 GMT", 0, false},
		{"Saturday, 01-Mar-25 12:00:09 GMT", 9 * time.Second, true}, {"999999", time.Hour, true}, {"NaN", 0, false}, {"1e300", time.Hour, true},
	} {
		got, ok := platform.ParseRetryAfter(tc.v, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzErrorMessage(f *testing.F) {
	f.Add([]byte(`{"error": {"msg": "x", "data": {"a": ["b"]}}}`))
	f.Add([]byte(`{"errors": [{"field": "f", "message": "m"}, "s", 3]}`))
	f.Add([]byte(`{"_error": {"message": 1}, "details": {"a": [{"description": "d"}]}}`))
	f.Add([]byte("<html>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := platform.ErrorMessage(body)
		if strings.ContainsAny(msg, "\n\r") || len(msg) > 400 {
			t.Errorf("message %q: want one short line", msg)
		}
	})
}

// A platform that says when its window resets instead of how long to
// wait (Intercom's X-RateLimit-Reset): ResetHeader turns it into the wait.
func TestClientRetryAfterFromResetHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header func(now time.Time) map[string]string
		after  time.Duration
	}{
		{"reset in 8 s", func(now time.Time) map[string]string {
			return map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Add(8*time.Second).Unix(), 10)}
		}, 9 * time.Second},
		{"Retry-After wins", func(now time.Time) map[string]string {
			return map[string]string{"Retry-After": "3", "X-RateLimit-Reset": strconv.FormatInt(now.Add(8*time.Second).Unix(), 10)}
		}, 3 * time.Second},
		{"reset passed", func(now time.Time) map[string]string {
			return map[string]string{"X-RateLimit-Reset": strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)}
		}, time.Second},
		{"unreadable: the default", func(time.Time) map[string]string { return map[string]string{"X-RateLimit-Reset": "soon"} }, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{}
			c, clk := newTestClient(t, s, func(o *platform.Options) {
				o.RetryAfter = platform.ResetHeader("X-RateLimit-Reset")
				o.DefaultRetryAfter = 2 * time.Second
			})
			s.replies = []reply{{status: 429, header: tc.header(clk.Now().Truncate(time.Second)), body: `{"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}`}}
			err := c.Do(context.Background(), http.MethodGet, "contacts/1", nil, nil, nil)
			checkKind(t, err, sdk.KindRateLimited)
			if _, after := sdk.IsRetryable(err); after != tc.after {
				t.Errorf("wait %s, want %s", after, tc.after)
			}
		})
	}
}

// A status the platform means as "try again" (Zendesk's 409 when two
// updates of one ticket collide) is retryable when Options.Retryable says
// so, and keeps its own kind otherwise.
func TestClientRetryableStatus(t *testing.T) {
	collided := func(status int, body []byte) bool {
		return status == http.StatusConflict && strings.Contains(string(body), "try again")
	}
	for _, tc := range []struct {
		body string
		want sdk.ErrorKind
	}{
		{`{"error": "Conflict", "description": "The ticket was updated by someone else: try again"}`, sdk.KindUnavailable},
		{`{"error": "Conflict", "description": "Email has already been taken"}`, sdk.KindInvalid},
	} {
		s := &scripted{replies: []reply{{status: 409, body: tc.body}}}
		c, _ := newTestClient(t, s, func(o *platform.Options) { o.Retryable = collided })
		err := c.Do(context.Background(), http.MethodPut, "tickets/1", nil, map[string]string{"status": "open"}, nil)
		checkKind(t, err, tc.want)
		if !strings.Contains(err.Error(), "409 Conflict") {
			t.Errorf("error %q does not name the status", err)
		}
	}
}
