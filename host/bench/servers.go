package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server is a loopback HTTP server of the harness.
type server struct {
	srv *http.Server
	ln  net.Listener
}

func serveLoopback(h http.Handler) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *server) url() string { return "http://" + s.ln.Addr().String() }

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// signal lets goroutines wait for a condition on counters that change:
// each change closes the current channel and makes a new one.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// waitUntil waits until cond holds, ctx is done or timeout passes.
func waitUntil(ctx context.Context, s *signal, timeout time.Duration, cond func() bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ch := s.wait()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return fmt.Errorf("not done after %s", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// event is what the harness posts and what the bot reads: the CSML event
// shape of docs/events.md, the fields the harness uses.
type event struct {
	RequestID string `json:"request_id,omitempty"`
	Client    struct {
		UserID string `json:"user_id"`
	} `json:"client"`
	Payload struct {
		ContentType string            `json:"content_type"`
		Content     map[string]string `json:"content"`
	} `json:"payload"`
}

func newEvent(user, requestID, contentType, key, value string) []byte {
	var ev event
	ev.RequestID, ev.Client.UserID = requestID, user
	ev.Payload.ContentType, ev.Payload.Content = contentType, map[string]string{key: value}
	b, _ := json.Marshal(ev)
	return b
}

// bot is the chatbot behind livechatd: it answers "bot: <text>" and counts
// the LIVECHAT_SESSION_EXPIRED notices it hears.
type bot struct {
	*server
	events  atomic.Int64
	expired atomic.Int64
	changed signal
}

func newBot() (*bot, error) {
	b := &bot{}
	s, err := serveLoopback(http.HandlerFunc(b.serve))
	b.server = s
	return b, err
}

func (b *bot) serve(w http.ResponseWriter, r *http.Request) {
	var ev event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.events.Add(1)
	value := ev.Payload.Content["text"]
	if value == "" {
		value = ev.Payload.Content["payload"]
	}
	if value == "LIVECHAT_SESSION_EXPIRED" {
		b.expired.Add(1)
		b.changed.notify()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": []any{map[string]any{
		"payload": map[string]any{"content_type": "text", "content": map[string]string{"text": "bot: " + value}}}}})
}

func (b *bot) eventsURL() string { return b.url() + "/events" }

// delivery is what livechatd posts to channel_url (docs/events.md).
type delivery struct {
	Client struct {
		UserID string `json:"user_id"`
	} `json:"client"`
	Messages []deliveredMessage `json:"messages"`
}

type deliveredMessage struct {
	Payload struct {
		Content struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"payload"`
}

// echoPrefix starts the agent's answer to a message: the echo provider's
// default prefix.
const echoPrefix = "echo: "

// channel receives deliveries: it hands each agent answer "echo: <id>" to
// whoever waits for id, and counts the rest.
type channel struct {
	*server
	echoed, other atomic.Int64
	last          atomic.Int64 // when the last answer came, in Unix nanoseconds
	changed       signal

	mu      sync.Mutex
	waiters map[string]chan time.Time
}

func newChannel() (*channel, error) {
	c := &channel{waiters: map[string]chan time.Time{}}
	s, err := serveLoopback(http.HandlerFunc(c.serve))
	c.server = s
	return c, err
}

func (c *channel) deliverURL() string { return c.url() + "/deliver" }

func (c *channel) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var d delivery
	if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, m := range d.Messages {
		id, ok := strings.CutPrefix(m.Payload.Content.Text, echoPrefix)
		if !ok {
			c.other.Add(1)
			continue
		}
		c.echoed.Add(1)
		c.last.Store(at.UnixNano())
		c.mu.Lock()
		if ch, ok := c.waiters[id]; ok {
			ch <- at
			delete(c.waiters, id)
		}
		c.mu.Unlock()
	}
	c.changed.notify()
	w.WriteHeader(http.StatusNoContent)
}

// expect registers a wait for the answer to id; call it before sending.
func (c *channel) expect(id string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.waiters[id] = ch
	c.mu.Unlock()
	return ch
}

func (c *channel) forget(id string) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

// platform is the floor: a support platform whose agent answers each
// message at once by posting "echo: <text>" to the channel, with nothing
// in between.
type platform struct {
	*server
	client  *http.Client
	channel string
}

func newPlatform(client *http.Client, channelURL string) (*platform, error) {
	p := &platform{client: client, channel: channelURL}
	s, err := serveLoopback(http.HandlerFunc(p.serve))
	p.server = s
	return p, err
}

func (p *platform) sendURL() string { return p.url() + "/messages" }

func (p *platform) serve(w http.ResponseWriter, r *http.Request) {
	var ev event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var d delivery
	d.Client.UserID = ev.Client.UserID
	d.Messages = make([]deliveredMessage, 1)
	d.Messages[0].Payload.Content.Text = echoPrefix + ev.Payload.Content["text"]
	body, _ := json.Marshal(d)
	if err := post(r.Context(), p.client, p.channel, body, nil); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// post POSTs body as JSON with headers and fails on a non-2xx answer.
func post(ctx context.Context, c *http.Client, url string, body []byte, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, requestWindow)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return nil
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// newClient is the harness's HTTP client: keep-alive connections enough
// for every client at once, no compression.
func newClient(clients int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 2 * clients, IdleConnTimeout: time.Minute,
		DisableCompression: true,
	}}
}

var errTimeout = errors.New("no answer in time")
