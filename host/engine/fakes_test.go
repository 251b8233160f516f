package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/sdk"
)

// The engine's unit tests run it against in-memory bots, channels and
// providers and a real SQLite store. They never sleep: every fake and every
// outbox attempt signals a change, and tests wait for the condition they
// need, with a deadline.

// waitTimeout bounds every wait: long enough for a loaded CI machine,
// short enough that a stuck engine fails the test rather than the run.
const waitTimeout = 10 * time.Second

// signal wakes whoever waits for a change. Each wait takes the current
// channel before it checks its condition, so no change is missed.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) changed() <-chan struct{} {
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

// clock is the engine's and the store's clock: real time, so that backoffs
// pass by themselves, plus what a test moved it forward by, so that
// sessions expire without waiting.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// fakeBot answers every event with "bot: <value of the event>", unless
// refuse says otherwise, and remembers what it heard.
type fakeBot struct {
	sig    *signal
	mu     sync.Mutex
	refuse func(ev engine.Event) error
	heard  []engine.Event
}

var _ engine.BotCaller = (*fakeBot)(nil)

func (b *fakeBot) CallBot(_ context.Context, _ *engine.Bot, ev engine.Event) (engine.Reply, error) {
	defer b.sig.notify()
	b.mu.Lock()
	b.heard = append(b.heard, ev)
	refuse := b.refuse
	b.mu.Unlock()
	if refuse != nil {
		if err := refuse(ev); err != nil {
			return engine.Reply{}, err
		}
	}
	return engine.Reply{Messages: []engine.OutMessage{{Payload: textPayload(botAnswer(ev.Payload.Value()))}}}, nil
}

// setRefuse makes the bot answer events for which f returns an error with
// that error.
func (b *fakeBot) setRefuse(f func(ev engine.Event) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refuse = f
}

// count is how many times the bot heard value from user.
func (b *fakeBot) count(user, value string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, ev := range b.heard {
		if ev.Client.UserID == user && ev.Payload.Value() == value {
			n++
		}
	}
	return n
}

func botAnswer(value string) string { return "bot: " + value }

// fakeChannel takes deliveries, or fails them as deliver says, and keeps
// those it took.
type fakeChannel struct {
	sig     *signal
	mu      sync.Mutex
	deliver func(ctx context.Context, key string, d engine.Delivery) error
	got     []engine.Delivery
}

var _ engine.Channel = (*fakeChannel)(nil)

func (c *fakeChannel) Deliver(ctx context.Context, _ string, key string, d engine.Delivery) error {
	defer c.sig.notify()
	c.mu.Lock()
	deliver := c.deliver
	c.mu.Unlock()
	if deliver != nil {
		if err := deliver(ctx, key, d); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, d)
	return nil
}

func (c *fakeChannel) onDeliver(f func(ctx context.Context, key string, d engine.Delivery) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliver = f
}

// texts are the texts delivered to user, in order.
func (c *fakeChannel) texts(user string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range c.got {
		if d.Client.UserID != user {
			continue
		}
		for _, m := range d.Messages {
			if isLivechatEvent(m.Payload) || strings.Contains(string(m.Payload), `"content_type":"typing"`) {
				continue // not a text: see events and typing
			}
			out = append(out, payloadText(m.Payload))
		}
	}
	return out
}

// events are the structured livechat events delivered to user, in order:
// "<event>" or "<event>:<reason>".
func (c *fakeChannel) events(user string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range c.got {
		if d.Client.UserID != user {
			continue
		}
		for _, m := range d.Messages {
			var p engine.Payload
			if json.Unmarshal(m.Payload, &p) != nil || p.ContentType != engine.ContentLivechat {
				continue
			}
			name, _ := p.Content["event"].(string)
			if r, ok := p.Content["reason"].(string); ok {
				name += ":" + r
			}
			out = append(out, name)
		}
	}
	return out
}

// fakeProvider opens tickets "T-<session id>", takes messages and closes
// tickets, unless its hooks say otherwise, and records every call.
type fakeProvider struct {
	sig *signal
	mu  sync.Mutex

	start   func(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error)
	send    func(ctx context.Context, req sdk.SendRequest) error
	end     func(ctx context.Context, req sdk.EndRequest) error
	webhook func(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)

	starts []sdk.StartRequest
	sends  []sendCall
	ends   []sdk.EndRequest
}

type sendCall struct {
	req sdk.SendRequest
	err error
}

var _ engine.Provider = (*fakeProvider)(nil)

func (p *fakeProvider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	defer p.sig.notify()
	p.mu.Lock()
	p.starts = append(p.starts, req)
	start := p.start
	p.mu.Unlock()
	if start != nil {
		return start(ctx, req)
	}
	return sdk.StartResult{Ref: "T-" + req.SessionID}, nil
}

func (p *fakeProvider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	defer p.sig.notify()
	p.mu.Lock()
	send := p.send
	p.mu.Unlock()
	var err error
	if send != nil {
		// Outside the lock: a hook may block, or panic.
		err = send(ctx, req)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sends = append(p.sends, sendCall{req, err})
	if err != nil {
		return sdk.SendResult{}, err
	}
	return sdk.SendResult{PlatformMessageID: req.Message.ID}, nil
}

func (p *fakeProvider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	defer p.sig.notify()
	p.mu.Lock()
	p.ends = append(p.ends, req)
	end := p.end
	p.mu.Unlock()
	if end != nil {
		return end(ctx, req)
	}
	return nil
}

func (p *fakeProvider) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	defer p.sig.notify()
	p.mu.Lock()
	webhook := p.webhook
	p.mu.Unlock()
	if webhook != nil {
		return webhook(ctx, req)
	}
	return sdk.WebhookResult{}, nil
}

func (p *fakeProvider) onWebhook(f func(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.webhook = f
}

func (p *fakeProvider) onStart(f func(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = f
}

func (p *fakeProvider) onSend(f func(ctx context.Context, req sdk.SendRequest) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.send = f
}

func (p *fakeProvider) onEnd(f func(ctx context.Context, req sdk.EndRequest) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.end = f
}

// sent are the texts the provider accepted from user, in order.
func (p *fakeProvider) sent(user string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.sends {
		if c.err == nil && c.req.User.ID == user {
			out = append(out, messageText(c.req.Message))
		}
	}
	return out
}

// startsOf are the StartSession calls for user.
func (p *fakeProvider) startsOf(user string) []sdk.StartRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []sdk.StartRequest
	for _, r := range p.starts {
		if r.User.ID == user {
			out = append(out, r)
		}
	}
	return out
}

func (p *fakeProvider) endCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ends)
}

// busyOnce is a store whose Session fails once with EBUSY, as SQLite does
// when the file stays locked past busy_timeout.
type busyOnce struct {
	host.Store
	mu     sync.Mutex
	failed bool
}

var _ host.Store = (*busyOnce)(nil)

func (s *busyOnce) Session(ctx context.Context, id string) (*host.Session, error) {
	s.mu.Lock()
	first := !s.failed
	s.failed = true
	s.mu.Unlock()
	if first {
		return nil, &host.Error{Code: host.EBUSY, Message: "database is locked"}
	}
	return s.Store.Session(ctx, id)
}

// claimCounter counts the outbox items the engine claims, so that drain
// can tell when no attempt is running.
type claimCounter struct {
	host.Store
	n atomic.Int64
}

func (c *claimCounter) ClaimDue(ctx context.Context, now time.Time, limit int) ([]*host.OutboxItem, error) {
	items, err := c.Store.ClaimDue(ctx, now, limit)
	c.n.Add(int64(len(items)))
	return items, err
}

// harness is one engine for bot "shop" (provider "fake") on a SQLite file,
// with fake bots, channel and provider.
type harness struct {
	t        testing.TB
	path     string
	clock    *clock
	sig      *signal
	bot      *fakeBot
	channel  *fakeChannel
	provider *fakeProvider
	cfg      *engine.Bot
	opts     engine.Options
	wrap     func(host.Store) host.Store
	// serve, when set, is the provider the engine calls instead of
	// provider (which it may wrap).
	serve engine.Provider

	db     *sqlite.DB // read by the tests directly, never through wrap
	claims *claimCounter
	eng    *engine.Engine

	mu       sync.Mutex
	attempts []attempt
	finished int64 // attempts of the running engine
}

// attempt is one attempt at an outbox item, as OnWork saw it.
type attempt struct {
	item host.OutboxItem
	err  error
}

func (a attempt) String() string {
	return fmt.Sprintf("%s %s (attempts %d): %v", a.item.Kind, a.item.Key, a.item.Attempts, a.err)
}

// option changes a harness before its engine starts.
type option func(*harness)

func withBot(f func(*engine.Bot)) option         { return func(h *harness) { f(h.cfg) } }
func withOptions(f func(*engine.Options)) option { return func(h *harness) { f(&h.opts) } }
func withProvider(serve func(*harness) engine.Provider) option {
	return func(h *harness) { h.serve = serve(h) }
}
func withStore(wrap func(host.Store) host.Store) option {
	return func(h *harness) { h.wrap = wrap }
}

const unavailable = "No agent is available right now."

func newHarness(t testing.TB, options ...option) *harness {
	t.Helper()
	sig := &signal{}
	h := &harness{
		t:        t,
		path:     filepath.Join(t.TempDir(), "livechat.db"),
		clock:    &clock{},
		sig:      sig,
		bot:      &fakeBot{sig: sig},
		channel:  &fakeChannel{sig: sig},
		provider: &fakeProvider{sig: sig},
		cfg: &engine.Bot{
			Name:           "shop",
			Provider:       "fake",
			SessionTimeout: 30 * time.Minute,
			StartTimeout:   2 * time.Minute,
			ExpiredNotice:  host.ExpiredNoticeImmediate,
			TranscriptSize: 20,
			ChannelURL:     "http://channel.invalid/deliver",
			Messages: engine.Messages{
				Start:       "Connecting you to an agent…",
				EndPrompt:   "Thanks!",
				EndButton:   "Quit livechat",
				Unavailable: unavailable,
			},
		},
		opts: engine.Options{
			RetryBase: 5 * time.Millisecond,
			RetryMax:  50 * time.Millisecond,
			// The tests call ExpireDue themselves.
			ExpiryInterval: time.Hour,
		},
	}
	for _, o := range options {
		o(h)
	}
	h.open()
	t.Cleanup(h.close)
	return h
}

// open opens the store and starts an engine on it.
func (h *harness) open() {
	h.t.Helper()
	db, err := sqlite.Open(h.path, sqlite.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	db.Now = h.clock.Now
	h.db = db
	h.mu.Lock()
	h.finished = 0
	h.mu.Unlock()
	h.claims = &claimCounter{Store: db}
	var store host.Store = h.claims
	if h.wrap != nil {
		store = h.wrap(store)
	}
	opts := h.opts
	opts.Now = h.clock.Now
	opts.Bots = h.bot
	opts.Channels = h.channel
	opts.OnWork = func(it *host.OutboxItem, err error) {
		h.mu.Lock()
		h.attempts = append(h.attempts, attempt{*it, err})
		h.finished++
		h.mu.Unlock()
		h.sig.notify()
	}
	var serve engine.Provider = h.provider
	if h.serve != nil {
		serve = h.serve
	}
	providers := engine.ProvidersFunc(func(string) (engine.Provider, error) { return serve, nil })
	h.eng = engine.New(store, providers, []*engine.Bot{h.cfg}, opts)
	h.eng.Run()
}

// close stops the engine, if a test has not, and closes the store.
func (h *harness) close() {
	h.t.Helper()
	if h.eng != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.eng.Close(ctx); err != nil {
			h.t.Errorf("close engine: %v", err)
		}
		h.eng = nil
	}
	if h.db != nil {
		if err := h.db.Close(); err != nil {
			h.t.Errorf("close store: %v", err)
		}
		h.db = nil
	}
}

// waitFor waits until cond holds, checking it after every change.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		changed := h.sig.changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			h.t.Fatalf("gave up waiting for %s after %s", what, waitTimeout)
		}
	}
}

// drain waits until the outbox has no pending work left and no attempt is
// running: an attempt may still be at work after its item left the
// pending state (a dead letter fails its session). No claim may happen
// while the pending count is read, or the count could miss the work of an
// attempt that just ended.
func (h *harness) drain() {
	h.t.Helper()
	h.waitFor("the outbox to drain", func() bool {
		claimed := h.claims.n.Load()
		h.mu.Lock()
		finished := h.finished
		h.mu.Unlock()
		st, err := h.db.OutboxStats(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		return claimed == finished && st.Pending == 0 && h.claims.n.Load() == claimed
	})
}

// handle sends ev to bot "shop" and fails the test on an error.
func (h *harness) handle(ev engine.Event) engine.Reply {
	h.t.Helper()
	r, err := h.eng.HandleEvent(context.Background(), "shop", ev)
	if err != nil {
		h.t.Fatalf("event %q of %s: %v", ev.Payload.Value(), ev.Client.UserID, err)
	}
	return r
}

// startSession opens a session for user and waits until it is active.
func (h *harness) startSession(user string) *host.Session {
	h.t.Helper()
	h.handle(payloadEvent(user, "", engine.PayloadStart))
	var s *host.Session
	h.waitFor("the session of "+user+" to be active", func() bool {
		var err error
		s, err = h.db.OpenSession(context.Background(), "shop", user)
		if err != nil && host.ErrorCode(err) != host.ENOTFOUND {
			h.t.Fatal(err)
		}
		return s != nil && s.State == host.SessionActive
	})
	return s
}

// session reads a session back.
func (h *harness) session(id string) *host.Session {
	h.t.Helper()
	s, err := h.db.Session(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// onlySession is the one session user ever had.
func (h *harness) onlySession(user string) *host.Session {
	h.t.Helper()
	ss, err := h.db.ListSessions(context.Background(), host.SessionFilter{Bot: "shop", UserID: user})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(ss) != 1 {
		h.t.Fatalf("%s has %d sessions, want 1", user, len(ss))
	}
	return ss[0]
}

// expire moves the clock past the session timeout and expires what is due.
func (h *harness) expire() int {
	h.t.Helper()
	h.clock.Advance(h.cfg.SessionTimeout + time.Minute)
	n, err := h.eng.ExpireDue(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// attemptsOf are the attempts at items of kind so far.
func (h *harness) attemptsOf(kind host.OutboxKind) []attempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []attempt
	for _, a := range h.attempts {
		if a.item.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// deadLetters are the keys of the dead items.
func (h *harness) deadLetters() []string {
	h.t.Helper()
	items, err := h.db.DeadLetters(context.Background(), 100)
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

// concurrently runs f(0)…f(n-1) at once and waits for all of them.
func concurrently(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func textEvent(user, requestID, text string) engine.Event {
	return engine.Event{RequestID: requestID, Client: engine.Client{UserID: user, ChannelID: "web"},
		Metadata: map[string]any{"firstname": "Jane"},
		Payload:  engine.Payload{ContentType: "text", Content: map[string]any{"text": text}}}
}

func payloadEvent(user, requestID, payload string) engine.Event {
	return engine.Event{RequestID: requestID, Client: engine.Client{UserID: user, ChannelID: "web"},
		Metadata: map[string]any{"firstname": "Jane"},
		Payload:  engine.Payload{ContentType: "payload", Content: map[string]any{"payload": payload}}}
}

func agentMessage(sessionID, id, text string) sdk.Event {
	return sdk.Event{ID: id, Type: sdk.EventAgentMessage, SessionID: sessionID,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{"text": text}, Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann"}}}
}

func textPayload(text string) json.RawMessage {
	b, _ := json.Marshal(engine.Payload{ContentType: "text", Content: map[string]any{"text": text}})
	return b
}

// payloadText is the value of a CSML payload: its text, payload or URL.
func payloadText(raw json.RawMessage) string {
	var p engine.Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return "<" + string(raw) + ">"
	}
	return p.Value()
}

func messageText(m sdk.Message) string {
	return engine.Payload{ContentType: m.ContentType, Content: m.Content}.Value()
}

// replyTexts are the texts of a reply's messages; structured livechat
// events (docs/handoff.md) are not texts and are left out.
func replyTexts(r engine.Reply) []string {
	var out []string
	for _, m := range r.Messages {
		if isLivechatEvent(m.Payload) {
			continue
		}
		out = append(out, payloadText(m.Payload))
	}
	return out
}

// isLivechatEvent reports whether a payload is a structured livechat event.
func isLivechatEvent(raw json.RawMessage) bool {
	var p engine.Payload
	return json.Unmarshal(raw, &p) == nil && p.ContentType == engine.ContentLivechat
}

// wire is a reply as the channel receives it.
func wire(t *testing.T, r engine.Reply) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// all are the deliveries the channel took, in order.
func (c *fakeChannel) all() []engine.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]engine.Delivery(nil), c.got...)
}

type typingShown struct {
	duration int
	author   *engine.Author
}

// typing are the typing indicators delivered to user, in order.
func (c *fakeChannel) typing(user string) []typingShown {
	var out []typingShown
	for _, d := range c.all() {
		if d.Client.UserID != user {
			continue
		}
		for _, m := range d.Messages {
			var p engine.Payload
			if json.Unmarshal(m.Payload, &p) != nil || p.ContentType != engine.ContentTyping {
				continue
			}
			ms, _ := p.Content["duration"].(float64)
			out = append(out, typingShown{int(ms), m.Author})
		}
	}
	return out
}

// sendCalls are the provider's SendMessage calls so far.
func (p *fakeProvider) sendCalls() []sendCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sendCall(nil), p.sends...)
}

// endRequests are the provider's EndSession calls so far.
func (p *fakeProvider) endRequests() []sdk.EndRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sdk.EndRequest(nil), p.ends...)
}

// events are the events the bot heard so far.
func (b *fakeBot) events() []engine.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]engine.Event(nil), b.heard...)
}
