package gorgias

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// reply is one scripted answer.
type reply struct {
	status int
	header map[string]string
	body   string
}

// scripted answers with replies in turn, the last one for ever, and
// records the requests.
type scripted struct {
	mu      sync.Mutex
	replies []reply
	reqs    []*http.Request
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	rep := s.replies[min(len(s.reqs), len(s.replies))-1]
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header()[k] = []string{v} // as written: Gorgias sends "Retry-after"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func testClient(t *testing.T, h http.Handler, lim *platform.Limiter) (*client, *clock) {
	t.Helper()
	clk := newClock()
	return testClientAt(t, h, lim, clk), clk
}

func testClientAt(t *testing.T, h http.Handler, lim *platform.Limiter, clk *clock) *client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	return newClient(base, testEmail, testKey, lim, options{httpClient: srv.Client(), now: clk.Now, sleep: clk.Sleep}, 0)
}

func TestClientSendsAuthAndJSON(t *testing.T) {
	var (
		mu     sync.Mutex
		got    *http.Request
		header http.Header
		body   string
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, header, body = r, r.Header.Clone(), string(b)
		mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": 7, "external_id": "s1"})
	})
	c, _ := testClient(t, h, nil)
	out, err := c.createTicket(context.Background(), newTicket{ExternalID: "s1", Channel: "api", Via: "api", Messages: []newMessage{{Channel: "api", Via: "api"}}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if out.ID != 7 || out.ExternalID != "s1" {
		t.Errorf("decoded %+v", out)
	}
	user, key, ok := (&http.Request{Header: header}).BasicAuth()
	if !ok || user != testEmail || key != testKey {
		t.Errorf("basic auth = %q %q %v; want the email and the API key", user, key, ok)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Accept": "application/json"} {
		if v := header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if got.Method != http.MethodPost || got.URL.Path != "/api/tickets" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	if !strings.Contains(body, `"external_id":"s1"`) || !strings.Contains(body, `"from_agent":false`) {
		t.Errorf("body %s", body)
	}
}

func TestClientSlowsDownNearTheCallLimit(t *testing.T) {
	tests := []struct {
		limit string
		want  []time.Duration // waits before the next call
	}{
		{"10/40", nil},
		{"37/40", nil},
		{"38/40", []time.Duration{500 * time.Millisecond}},
		{"39/40", []time.Duration{time.Second}},
		{"40/40", []time.Duration{1500 * time.Millisecond}},
		{"77/80", nil},
		{"78/80", []time.Duration{250 * time.Millisecond}},
		{"garbage", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.limit, func(t *testing.T) {
			s := &scripted{replies: []reply{
				{status: 200, header: map[string]string{"X-Gorgias-Account-Api-Call-Limit": tc.limit}, body: `{"data": []}`},
				{status: 200, header: map[string]string{"X-Gorgias-Account-Api-Call-Limit": "0/40"}, body: `{"data": []}`},
			}}
			c, clk := testClient(t, s, nil)
			for i := 0; i < 2; i++ {
				if _, err := c.findTickets(context.Background(), "s1"); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, clk.Slept()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientHonoursRetryAfter(t *testing.T) {
	tooMany := func(after string) reply {
		return reply{status: 429, header: map[string]string{"Retry-after": after}, body: `{"error": {"msg": "Too many requests"}}`}
	}
	ok := reply{status: 200, body: `{"data": []}`}
	tests := []struct {
		name      string
		replies   []reply
		method    string
		deadline  time.Duration // 0: none
		wantErr   sdk.ErrorKind // KindUnknown: no error
		wantAfter time.Duration
		wantCalls int
		wantSlept []time.Duration
	}{
		{name: "waits and retries", replies: []reply{tooMany("5"), ok}, wantCalls: 2, wantSlept: []time.Duration{5 * time.Second}},
		{name: "a POST too: it was refused", replies: []reply{tooMany("2"), {status: 201, body: `{"id": 1}`}}, method: http.MethodPost, wantCalls: 2, wantSlept: []time.Duration{2 * time.Second}},
		{name: "deadline too close", replies: []reply{tooMany("5"), ok}, deadline: time.Second, wantErr: sdk.KindRateLimited, wantAfter: 5 * time.Second, wantCalls: 1},
		{name: "too long a wait", replies: []reply{tooMany("60"), ok}, wantErr: sdk.KindRateLimited, wantAfter: time.Minute, wantCalls: 1},
		{name: "refused again and again", replies: []reply{tooMany("1")}, wantErr: sdk.KindRateLimited, wantAfter: time.Second, wantCalls: 4,
			wantSlept: []time.Duration{time.Second, time.Second, time.Second}},
		{name: "no Retry-After", replies: []reply{{status: 429, body: `{"error": {"msg": "Too many requests"}}`}, ok}, wantCalls: 2, wantSlept: []time.Duration{time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{replies: tc.replies}
			c, clk := testClient(t, s, nil)
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			var err error
			if tc.method == http.MethodPost {
				_, err = c.createCustomer(ctx, newCustomer{Email: "a@b.c"})
			} else {
				_, err = c.findTickets(ctx, "s1")
			}
			checkKind(t, err, tc.wantErr)
			if tc.wantErr != sdk.KindUnknown {
				var e *sdk.Error
				if errors.As(err, &e) && e.RetryAfter != tc.wantAfter {
					t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tc.wantAfter)
				}
			}
			if s.count() != tc.wantCalls {
				t.Errorf("%d calls, want %d", s.count(), tc.wantCalls)
			}
			if diff := cmp.Diff(tc.wantSlept, clk.Slept()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientAccountWaitsAfter429(t *testing.T) {
	// Two bots on one account share its bucket: after a 429 with a long
	// Retry-After, the other's call is not even tried.
	lim := platform.NewLimiter(0, 0)
	s := &scripted{replies: []reply{{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{}`}}}
	a, clk := testClient(t, s, lim)
	b := testClientAt(t, s, lim, clk)
	_, err := a.findTickets(context.Background(), "s1")
	checkKind(t, err, sdk.KindRateLimited)
	_, err = b.findTickets(context.Background(), "s1")
	checkKind(t, err, sdk.KindRateLimited)
	if ok, after := sdk.IsRetryable(err); !ok || after != 30*time.Second {
		t.Errorf("second bot: retryable %v after %s; want after 30s", ok, after)
	}
	if s.count() != 1 {
		t.Errorf("%d calls; the second must wait for the account", s.count())
	}
}

func TestClientRetriesServerErrors(t *testing.T) {
	unavailable := reply{status: 503, body: `{"error": {"msg": "An external service had an issue."}}`}
	tests := []struct {
		name      string
		replies   []reply
		post      bool
		wantErr   sdk.ErrorKind
		wantCalls int
		wantSlept []time.Duration
	}{
		{name: "gives up after 3 tries", replies: []reply{unavailable}, wantErr: sdk.KindUnavailable, wantCalls: 3,
			wantSlept: []time.Duration{500 * time.Millisecond, time.Second}},
		{name: "recovers", replies: []reply{{status: 502, body: "<html>Bad Gateway</html>"}, {status: 200, body: `{"data": []}`}}, wantCalls: 2,
			wantSlept: []time.Duration{500 * time.Millisecond}},
		{name: "a POST is not repeated blindly", replies: []reply{unavailable}, post: true, wantErr: sdk.KindUnavailable, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{replies: tc.replies}
			c, clk := testClient(t, s, nil)
			var err error
			if tc.post {
				_, err = c.addMessage(context.Background(), 5, newMessage{})
			} else {
				_, err = c.findTickets(context.Background(), "s1")
			}
			checkKind(t, err, tc.wantErr)
			if s.count() != tc.wantCalls {
				t.Errorf("%d calls, want %d", s.count(), tc.wantCalls)
			}
			if diff := cmp.Diff(tc.wantSlept, clk.Slept()); diff != "" {
				t.Errorf("backoffs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientNetworkErrorsAreRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base, _ := url.Parse(srv.URL + "/api/")
	srv.Close()
	clk := newClock()
	c := newClient(base, testEmail, testKey, nil, options{httpClient: &http.Client{}, now: clk.Now, sleep: clk.Sleep}, 0)
	_, err := c.findCustomers(context.Background(), "email", "jane@example.com")
	checkKind(t, err, sdk.KindUnavailable)
	if len(clk.Slept()) != 2 {
		t.Errorf("backoffs %v; want 2 (3 tries)", clk.Slept())
	}
	if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "jane@example.com") {
		t.Errorf("error %q shows the key or the query", err)
	}
}

func TestClientClassifiesErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   sdk.ErrorKind
		msg    []string // in the error
	}{
		{400, `{"error": {"msg": "Failed to create ticket", "data": {"sender": ["Missing data for required field."], "channel": ["Missing data for required field."]}}}`,
			sdk.KindInvalid, []string{"400", "Failed to create ticket", "channel: Missing data for required field., sender: Missing data for required field."}},
		{400, `{"error": "bad cursor"}`, sdk.KindInvalid, []string{"bad cursor"}},
		{401, `{"error": {"msg": "Unauthorized"}}`, sdk.KindUnauthorized, []string{"401", "Unauthorized"}},
		{403, `{"error": {"msg": "Your role does not allow this"}}`, sdk.KindUnauthorized, []string{"403", "role"}},
		{404, `{"error": {"msg": "Resource not found."}}`, sdk.KindNotFound, []string{"404", "Resource not found."}},
		{405, `{"error": {"msg": "The specified HTTP method is not allowed."}}`, sdk.KindInvalid, []string{"not allowed"}},
		{409, `{"error": {"msg": "The resource already exists."}}`, sdk.KindInvalid, []string{"409", "already exists"}},
		{413, ``, sdk.KindInvalid, []string{"413", "Request Entity Too Large"}},
		{422, `not json at all`, sdk.KindInvalid, []string{"422", "not json at all"}},
		// A server that echoes the credentials must not get them into errors.
		{400, `{"error": {"msg": "bad key ` + testKey + `", "data": {"api_key": ["` + testKey + `"]}}}`, sdk.KindInvalid, []string{"bad key [redacted]"}},
		{500, `{"error": {"msg": "oops ` + testKey + `"}}`, sdk.KindUnavailable, []string{"500", "oops [redacted]"}},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			c, _ := testClient(t, &scripted{replies: []reply{{status: tc.status, body: tc.body}}}, nil)
			err := c.setTicketStatus(context.Background(), 12, "closed")
			checkKind(t, err, tc.want)
			if err == nil {
				return
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if !strings.Contains(err.Error(), "PUT /api/tickets/12") {
				t.Errorf("error %q does not name the call", err)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q shows the API key", err)
			}
			if platform.StatusOf(err) != tc.status {
				t.Errorf("error %v does not unwrap to the platform's answer", err)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	// Retry-After is read by the SDK's client: sdk/platform tests it.
	for _, tc := range []struct {
		v           string
		used, limit int
		ok          bool
	}{{"10/40", 10, 40, true}, {" 3 / 80 ", 3, 80, true}, {"40", 0, 0, false}, {"a/b", 0, 0, false}, {"1/0", 0, 0, false}} {
		used, limit, ok := parseCallLimit(tc.v)
		if used != tc.used || limit != tc.limit || ok != tc.ok {
			t.Errorf("parseCallLimit(%q) = %d, %d, %v", tc.v, used, limit, ok)
		}
	}
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
