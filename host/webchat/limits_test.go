package webchat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/prometheus/client_golang/prometheus"
)

// endless is a stream log that always has more: limit entries of size
// bytes after any seq, as a user's long history would. It records what
// each read returned.
type endless struct {
	size int

	mu       sync.Mutex
	released bool // until then, the log is empty
	maxBytes int  // the most bytes one read returned
	maxLimit int  // the largest limit asked for
	reads    int
}

var _ webchat.Log = (*endless)(nil)

func (l *endless) AppendStream(context.Context, string, string, string, ...json.RawMessage) ([]int64, error) {
	return nil, nil
}

func (l *endless) Stream(_ context.Context, _, _ string, after int64, limit int) ([]host.StreamEntry, error) {
	l.mu.Lock()
	released := l.released
	l.mu.Unlock()
	if !released {
		return nil, nil
	}
	out := make([]host.StreamEntry, limit)
	entry := json.RawMessage(`"` + strings.Repeat("x", l.size-2) + `"`)
	for i := range out {
		out[i] = host.StreamEntry{Seq: after + 1 + int64(i), Entry: entry}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	l.maxBytes = max(l.maxBytes, limit*l.size)
	l.maxLimit = max(l.maxLimit, limit)
	return out, nil
}

func serve(t *testing.T, c *webchat.Channel) *httptest.Server {
	t.Helper()
	r := mux.NewRouter()
	c.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		c.Shutdown()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// openRaw opens a stream on a raw connection, reads the status line and
// then never reads again, as a slow or hostile client would.
func openRaw(t *testing.T, c *webchat.Channel, srv *httptest.Server, user string) int {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /v1/bots/shop/users/%s/stream?token=%s HTTP/1.1\r\nHost: x\r\n\r\n", user, c.Token("shop", user))
	var status int
	line, err := bufio.NewReader(conn).ReadString('\n')
	if _, serr := fmt.Sscanf(line, "HTTP/1.1 %d", &status); err != nil || serr != nil {
		t.Fatalf("status line %q: %v %v", line, err, serr)
	}
	return status
}

// waitFor waits until cond holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

// Issue 10, point 5: 30 connections that never read one user's stream took
// livechatd to 1.1 GB. At most StreamsPerUser of them open, the rest are
// refused; each holds at most about ReplayBytes; and a client that does
// not read loses its stream after WriteTimeout.
func TestStreamsOfNonReadingClientsAreBounded(t *testing.T) {
	const entry = 8 << 10
	log := &endless{size: entry}
	reg := prometheus.NewRegistry()
	limits := webchat.Limits{StreamsPerUser: 4, ReplayBytes: 32 << 10, WriteTimeout: 200 * time.Millisecond}
	c := webchat.New(log, map[string]string{"shop": "secret"}, nil, webchat.WithLimits(limits), webchat.WithMetrics(webchat.NewMetrics(reg)))
	srv := serve(t, c)

	statuses := map[int]int{}
	for range 30 {
		statuses[openRaw(t, c, srv, "u1")]++
	}
	if statuses[http.StatusOK] != 4 || statuses[http.StatusTooManyRequests] != 26 {
		t.Errorf("30 streams of one user: %v; want 4 open, 26 refused with 429", statuses)
	}
	if got := gathered(t, reg, "livechat_webchat_refused_total", "streams_per_user"); got != 26 {
		t.Errorf("refused streams_per_user = %v, want 26", got)
	}
	// The user's history arrives: the open streams fill their sockets, then
	// their write deadline ends them.
	log.mu.Lock()
	log.released = true
	log.mu.Unlock()
	if err := c.RecordExchange(context.Background(), "shop", engine.Event{Client: engine.Client{UserID: "u1"},
		Payload: engine.Payload{ContentType: "text", Content: map[string]any{"text": "hi"}}}, engine.Reply{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the non-reading streams to be closed", func() bool { return c.Stats().OpenStreams == 0 })
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.maxBytes > limits.ReplayBytes || log.maxLimit > 64 {
		t.Errorf("one read loaded %d bytes (limit %d); want at most the budget, %d", log.maxBytes, log.maxLimit, limits.ReplayBytes)
	}
	if c.Stats().BufferedBytes != 0 {
		t.Errorf("%d bytes still counted as buffered", c.Stats().BufferedBytes)
	}
	// Closed streams free their places.
	if s := openRaw(t, c, srv, "u1"); s != http.StatusOK {
		t.Errorf("a stream after the others closed: %d", s)
	}
}

// gathered reads a gauge or counter of reg, the one with limit="limit"
// when limit is not empty.
func gathered(t *testing.T, reg *prometheus.Registry, name, limit string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := limit == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "limit" && l.GetValue() == limit)
			}
			if match {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// Streams are bounded in all too: past Limits.Streams, 503 with
// Retry-After; the open-streams gauge counts them.
func TestStreamsInAllAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := webchat.New(emptyLog{}, map[string]string{"shop": "secret"}, nil,
		webchat.WithLimits(webchat.Limits{Streams: 3}), webchat.WithMetrics(webchat.NewMetrics(reg)))
	srv := serve(t, c)
	for i := range 3 {
		if s := openRaw(t, c, srv, fmt.Sprintf("u%d", i)); s != http.StatusOK {
			t.Fatalf("stream %d: %d", i, s)
		}
	}
	res, err := http.Get(srv.URL + "/v1/bots/shop/users/u9/stream?token=" + c.Token("shop", "u9"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("the 4th stream: %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if got := c.Stats().OpenStreams; got != 3 {
		t.Errorf("open streams = %d, want 3", got)
	}
	if got := gathered(t, reg, "livechat_webchat_streams_open", ""); got != 3 {
		t.Errorf("livechat_webchat_streams_open = %v, want 3", got)
	}
	if got := gathered(t, reg, "livechat_webchat_refused_total", "streams"); got != 1 {
		t.Errorf("refused streams = %v, want 1", got)
	}
}

type emptyLog struct{}

func (emptyLog) AppendStream(context.Context, string, string, string, ...json.RawMessage) ([]int64, error) {
	return nil, nil
}

func (emptyLog) Stream(context.Context, string, string, int64, int) ([]host.StreamEntry, error) {
	return nil, nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Identities are rate limited per client address: 429 with Retry-After.
func TestIdentitiesAreRateLimitedPerAddress(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c := webchat.New(emptyLog{}, map[string]string{"shop": "secret"}, nil,
		webchat.WithLimits(webchat.Limits{IdentitiesPerMinute: 3}), webchat.WithClock(clock.Now))
	r := mux.NewRouter()
	c.Register(r)
	identity := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/chat/shop/identity", nil)
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	for i := range 3 {
		if w := identity("192.0.2.1:1000"); w.Code != http.StatusOK {
			t.Fatalf("identity %d: %d", i, w.Code)
		}
	}
	w := identity("192.0.2.1:2000") // another port, the same address
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "20" || !strings.Contains(w.Body.String(), `"rate_limited"`) {
		t.Errorf("4th identity: %d Retry-After %q %s; want 429 after 20s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := identity("192.0.2.2:1000"); w.Code != http.StatusOK {
		t.Errorf("another address: %d", w.Code)
	}
	clock.Advance(20 * time.Second)
	if w := identity("192.0.2.1:1000"); w.Code != http.StatusOK {
		t.Errorf("after Retry-After: %d", w.Code)
	}
}

// STARTs are rate limited per user: each opens a ticket.
func TestStartsAreRateLimitedPerUser(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c := webchat.New(emptyLog{}, map[string]string{"shop": "secret"}, nil, webchat.WithClock(clock.Now))
	start := func(user string) engine.Event {
		return engine.Event{Client: engine.Client{UserID: user}, Payload: engine.Payload{ContentType: "payload", Content: map[string]any{"payload": engine.PayloadStart}}}
	}
	admit := func(ev engine.Event) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		if ok := c.Admit(w, "shop", ev); ok != (w.Code == http.StatusOK && w.Body.Len() == 0) {
			t.Fatalf("Admit said %v and wrote %d %s", ok, w.Code, w.Body)
		}
		return w
	}
	for i := range webchat.DefaultLimits.StartsPerMinute {
		if w := admit(start("u1")); w.Body.Len() != 0 {
			t.Fatalf("start %d refused: %s", i, w.Body)
		}
	}
	w := admit(start("u1"))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "12" || !strings.Contains(w.Body.String(), `"field":"payload"`) {
		t.Errorf("6th start: %d Retry-After %q %s; want 429 after 12s naming payload", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := admit(engine.Event{Client: engine.Client{UserID: "u1"}, Payload: engine.Payload{ContentType: "text", Content: map[string]any{"text": "hello"}}}); w.Body.Len() != 0 {
		t.Errorf("a text of the same user refused: %s", w.Body)
	}
	if w := admit(start("u2")); w.Body.Len() != 0 {
		t.Errorf("another user's start refused: %s", w.Body)
	}
	clock.Advance(12 * time.Second)
	if w := admit(start("u1")); w.Body.Len() != 0 {
		t.Errorf("a start after Retry-After refused: %s", w.Body)
	}
}

// Request ids are scoped to (bot, user): two users' exchanges under the
// same request id are both in their streams (the key was global: the
// second user's exchange was taken for a replay of the first's).
func TestExchangeKeysAreScopedToTheUser(t *testing.T) {
	c, db := open(t)
	ctx := context.Background()
	for _, user := range []string{"u1", "u2"} {
		ev := engine.Event{RequestID: "req-1", Client: engine.Client{UserID: user}, Payload: engine.Payload{ContentType: "text", Content: map[string]any{"text": "hi from " + user}}}
		if err := c.RecordExchange(ctx, "shop", ev, engine.Reply{}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := db.Stream(ctx, "shop", "u2", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(string(entries[0].Entry), "hi from u2") {
		t.Errorf("u2's stream: %d entries %v; want their own exchange", len(entries), entries)
	}
}
