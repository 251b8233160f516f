package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// platform is a fakeProvider whose platform side can be read back, like a
// plugin with the read_session capability: the agents' messages of each
// ticket in the platform's order, whether the ticket is closed, and every
// call the platform saw, at the engine's clock.
type platform struct {
	*fakeProvider
	clock *clock
	info  sdk.Info

	mu       sync.Mutex
	messages map[string][]sdk.Event // by ticket
	closed   map[string]bool
	reads    []sdk.ReadRequest
	readAt   []time.Time
	calls    []time.Time // starts, sends, ends and reads
	readErr  func(req sdk.ReadRequest) error
	restarts int
}

var (
	_ engine.SessionReader = (*platform)(nil)
	_ engine.Described     = (*platform)(nil)
	_ engine.Restarted     = (*platform)(nil)
)

func newPlatform(h *harness) *platform {
	return &platform{
		fakeProvider: h.provider,
		clock:        h.clock,
		info:         sdk.Info{Name: "fake", Capabilities: []sdk.Capability{sdk.CapReadSession}},
		messages:     map[string][]sdk.Event{},
		closed:       map[string]bool{},
	}
}

// withPlatform serves the harness's provider as a platform that can be
// read back, and turns reconciliation on for the bot; the test calls
// ReconcileDue itself.
func withPlatform(p **platform) []option {
	return []option{
		withProvider(func(h *harness) engine.Provider { *p = newPlatform(h); return *p }),
		withBot(func(b *engine.Bot) { b.Reconcile = engine.Reconcile{Interval: 30 * time.Second} }),
		withOptions(func(o *engine.Options) { o.ReconcileTick = time.Hour }),
	}
}

func (p *platform) Info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

func (p *platform) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

func (p *platform) call() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, p.clock.Now())
}

func (p *platform) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	p.call()
	return p.fakeProvider.StartSession(ctx, req)
}

func (p *platform) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	p.call()
	return p.fakeProvider.SendMessage(ctx, req)
}

func (p *platform) EndSession(ctx context.Context, req sdk.EndRequest) error {
	p.call()
	return p.fakeProvider.EndSession(ctx, req)
}

// ReadSession answers the ticket's messages after the cursor, an index.
func (p *platform) ReadSession(_ context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	defer p.sig.notify()
	p.call()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reads = append(p.reads, req)
	p.readAt = append(p.readAt, p.clock.Now())
	if p.readErr != nil {
		if err := p.readErr(req); err != nil {
			return sdk.ReadResult{}, err
		}
	}
	from := 0
	if req.Cursor != "" {
		from, _ = strconv.Atoi(req.Cursor)
	}
	all := p.messages[req.Ref]
	return sdk.ReadResult{Events: slices.Clone(all[from:]), Closed: p.closed[req.Ref], Cursor: strconv.Itoa(len(all))}, nil
}

// reply has an agent write on ticket ref; the event is what its webhook
// would carry.
func (p *platform) reply(ref, text string) sdk.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := sdk.Event{ID: fmt.Sprintf("msg-%d", len(p.messages[ref])+1), Type: sdk.EventAgentMessage, Ref: ref,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{"text": text}, Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann"}}}
	p.messages[ref] = append(p.messages[ref], ev)
	return ev
}

func (p *platform) close(ref string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed[ref] = true
}

func (p *platform) readsOf(ref string) []sdk.ReadRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []sdk.ReadRequest
	for _, r := range p.reads {
		if r.Ref == ref {
			out = append(out, r)
		}
	}
	return out
}

func (p *platform) readCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reads)
}

// reconcile reads back what is due now and returns how many sessions it
// read, then waits for the outbox to deliver what was found.
func (h *harness) reconcile() int {
	h.t.Helper()
	n, err := h.eng.ReconcileDue(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	h.drain()
	return n
}

func texts(n int, format string) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

// Every webhook of a session dropped: its ten agent replies, some in the
// same instant, reach the user once each and in order at the next read,
// and the read after that adds nothing.
func TestReconcileDeliversRepliesWhoseWebhooksWereDropped(t *testing.T) {
	var p *platform
	h := newHarness(t, withPlatform(&p)...)
	s := h.startSession("u1")
	if n := h.reconcile(); n != 0 {
		t.Errorf("a session that just started was read back (%d): its first read is one interval away", n)
	}
	for _, text := range texts(10, "reply %d") {
		p.reply(s.ProviderRef, text) // no webhook reaches the host
	}
	h.clock.Advance(30 * time.Second)
	if n := h.reconcile(); n != 1 {
		t.Fatalf("read back %d sessions, want 1", n)
	}
	want := texts(10, "reply %d")
	if got := h.channel.texts("u1"); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if cur := h.session(s.ID).SyncCursor; cur != "10" {
		t.Errorf("cursor after the read = %q, want the platform's %q", cur, "10")
	}

	// Nothing is read again before the interval is over.
	if n := h.reconcile(); n != 0 {
		t.Errorf("read back %d sessions within the interval, want 0", n)
	}
	p.reply(s.ProviderRef, "reply 11")
	h.clock.Advance(30 * time.Second)
	h.reconcile()
	reads := p.readsOf(s.ProviderRef)
	if last := reads[len(reads)-1]; last.Cursor != "10" || last.SessionID != s.ID || last.User.ID != "u1" {
		t.Errorf("second read asked %+v, want cursor 10 for session %s of u1", last, s.ID)
	}
	if got := h.channel.texts("u1"); !slices.Equal(got, texts(11, "reply %d")) {
		t.Errorf("delivered %q after the second read, want replies 1 to 11 once each", got)
	}
}

// Webhooks and reads carry the same ids: whichever comes second is a
// replay, even when the read starts over from the first message (a lost
// cursor).
func TestReconcileAndWebhooksDeliverOnce(t *testing.T) {
	var p *platform
	h := newHarness(t, withPlatform(&p)...)
	s := h.startSession("u1")
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		ev := p.reply(s.ProviderRef, fmt.Sprintf("reply %d", i))
		if i != 2 { // the second one's webhook is dropped
			if err := h.eng.PushEvents(ctx, "shop", ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.drain()
	h.clock.Advance(30 * time.Second)
	h.reconcile()
	// The read found reply 2, delivered after reply 3: the platform's
	// order is kept for what arrives together, not across paths.
	if got, want := h.channel.texts("u1"), []string{"reply 1", "reply 3", "reply 2"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	// A read from the start again (a cursor lost) and a late webhook:
	// nothing is delivered twice.
	cur := h.session(s.ID)
	cur.SyncCursor = ""
	if err := h.db.Tx(ctx, func(tx host.Tx) error { return tx.UpdateSession(cur) }); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Second)
	h.reconcile()
	if err := h.eng.PushEvents(ctx, "shop", p.messages[s.ProviderRef][1]); err != nil {
		t.Fatal(err)
	}
	h.drain()
	if got := h.channel.texts("u1"); len(got) != 3 {
		t.Errorf("delivered %q, want each of the 3 replies once", got)
	}
}

// An agent closing the ticket while its webhook is dropped still ends the
// session: after the agent's last words, the bot hears
// LIVECHAT_SESSION_END and the ticket is not read again.
func TestReconcileEndsSessionClosedOnThePlatform(t *testing.T) {
	var p *platform
	h := newHarness(t, withPlatform(&p)...)
	s := h.startSession("u1")
	p.reply(s.ProviderRef, "bye")
	p.close(s.ProviderRef)
	h.clock.Advance(30 * time.Second)
	h.reconcile()
	got := h.session(s.ID)
	if got.State != host.SessionEnded || got.EndReason != host.EndAgent {
		t.Fatalf("session is %s (%s), want ended by the agent", got.State, got.EndReason)
	}
	if texts := h.channel.texts("u1"); len(texts) == 0 || texts[0] != "bye" {
		t.Errorf("delivered %q, want the agent's last message first", texts)
	}
	if n := h.bot.count("u1", engine.PayloadEnd); n != 1 {
		t.Errorf("the bot heard %s %d times, want 1", engine.PayloadEnd, n)
	}
	reads := p.readCount()
	h.clock.Advance(time.Hour)
	if n := h.reconcile(); n != 0 || p.readCount() != reads {
		t.Errorf("an ended session was read again (%d sessions)", n)
	}
}

// What a read finds that names another session is a plugin's bug: dropped,
// and the session's own events still apply.
func TestReconcileDropsEventsOfOtherSessions(t *testing.T) {
	var p *platform
	h := newHarness(t, withPlatform(&p)...)
	a := h.startSession("a")
	b := h.startSession("b")
	p.reply(a.ProviderRef, "for a")
	p.mu.Lock()
	stray := agentMessage(b.ID, "stray", "for b, through a's read")
	p.messages[a.ProviderRef] = append(p.messages[a.ProviderRef], stray)
	p.mu.Unlock()
	h.clock.Advance(30 * time.Second)
	h.reconcile()
	if got := h.channel.texts("a"); !slices.Equal(got, []string{"for a"}) {
		t.Errorf("a got %q, want only its own reply", got)
	}
	if got := h.channel.texts("b"); len(got) != 0 {
		t.Errorf("b got %q through a's read, want nothing", got)
	}
}

// After the host restarts, and after the plugin restarts, every active
// session is read at once, however recently it was read: webhooks sent
// meanwhile went nowhere.
func TestReconcileReadsEverythingAfterARestart(t *testing.T) {
	var p *platform
	h := newHarness(t, withPlatform(&p)...)
	s1 := h.startSession("u1")
	s2 := h.startSession("u2")
	h.clock.Advance(30 * time.Second)
	if n := h.reconcile(); n != 2 {
		t.Fatalf("first pass read %d sessions, want 2", n)
	}
	if n := h.reconcile(); n != 0 {
		t.Fatalf("a pass right after read %d sessions, want 0", n)
	}

	p.mu.Lock()
	p.restarts++
	p.mu.Unlock()
	p.reply(s1.ProviderRef, "while the plugin restarted")
	if n := h.reconcile(); n != 2 {
		t.Errorf("after a plugin restart, read %d sessions at once, want 2", n)
	}
	if got := h.channel.texts("u1"); !slices.Equal(got, []string{"while the plugin restarted"}) {
		t.Errorf("u1 got %q", got)
	}

	// The host restarts: a new engine on the same store.
	h.close()
	p.reply(s2.ProviderRef, "while livechatd was down")
	h.open()
	if n := h.reconcile(); n != 2 {
		t.Errorf("after the host restarted, read %d sessions at once, want 2", n)
	}
	if got := h.channel.texts("u2"); !slices.Equal(got, []string{"while livechatd was down"}) {
		t.Errorf("u2 got %q", got)
	}
}

// Reads within a platform's limit, shared with sends: with 50 open
// sessions and users writing all along, the platform never sees more
// calls in any window than its limit, reads take at most half of it, the
// users' messages go out at once, and every session is read back within
// the two minutes.
func TestReconcileStaysWithinTheRateLimit(t *testing.T) {
	var p *platform
	limit := sdk.RateLimit{Calls: 40, Per: 20 * time.Second}
	h := newHarness(t, append(withPlatform(&p), withBot(func(b *engine.Bot) { b.Reconcile.RateLimit = limit }))...)
	const sessions = 50
	var users []string
	for i := range sessions {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	// The sessions are opened in a burst that uses the whole window, as
	// after an outage; then the window passes.
	for _, u := range users {
		h.startSession(u)
	}
	h.clock.Advance(limit.Per)
	p.mu.Lock()
	p.calls, p.reads, p.readAt = nil, nil, nil
	p.mu.Unlock()

	start := h.clock.Now()
	sent := 0
	for step := range 120 {
		h.clock.Advance(time.Second)
		if step%6 == 0 { // a user message every 6 s
			u := users[step%sessions]
			h.handle(textEvent(u, "", fmt.Sprintf("hello %d", step)))
			sent++
			h.drain() // the message reached the platform at once
			if got := len(h.provider.sent(u)); got == 0 {
				t.Fatalf("step %d: %s's message did not go out", step, u)
			}
		}
		h.reconcile()
	}
	p.mu.Lock()
	calls, reads, readAt := slices.Clone(p.calls), slices.Clone(p.reads), slices.Clone(p.readAt)
	p.mu.Unlock()
	maxCalls := maxInWindow(calls, limit.Per)
	if maxCalls > limit.Calls {
		t.Errorf("the platform saw %d calls in one %s window, over its limit of %d", maxCalls, limit.Per, limit.Calls)
	}
	if most := maxInWindow(readAt, limit.Per); most > limit.Calls/2 {
		t.Errorf("%d reads in one %s window, over half the limit (%d)", most, limit.Per, limit.Calls/2)
	}
	read := map[string]int{}
	for _, r := range reads {
		read[r.SessionID]++
	}
	if len(read) != sessions {
		t.Errorf("%d of %d sessions were read back in 2 minutes", len(read), sessions)
	}
	t.Logf("2 minutes from %s: %d calls (%d reads, %d sends), at most %d in a %s window; reads per session %v",
		start.Format(time.TimeOnly), len(calls), len(reads), sent, maxCalls, limit.Per, read)
}

// maxInWindow is the most times in any window of length per.
func maxInWindow(times []time.Time, per time.Duration) int {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most, from := 0, 0
	for i, t := range times {
		for !times[from].After(t.Add(-per)) {
			from++
		}
		most = max(most, i-from+1)
	}
	return most
}

// A platform that says "slow down" holds the bot's reads back for as long
// as it asks; a ticket it no longer has fails the session; a plugin that
// cannot read is not asked again until it restarts.
func TestReconcileReadFailures(t *testing.T) {
	t.Run("rate limited", func(t *testing.T) {
		var p *platform
		h := newHarness(t, withPlatform(&p)...)
		h.startSession("u1")
		h.startSession("u2")
		p.mu.Lock()
		p.readErr = func(sdk.ReadRequest) error { return sdk.RateLimited(errors.New("429"), 40*time.Second) }
		p.mu.Unlock()
		h.clock.Advance(30 * time.Second)
		h.reconcile()
		if n := p.readCount(); n != 1 {
			t.Fatalf("%d reads after a 429, want the pass to stop at the first", n)
		}
		p.mu.Lock()
		p.readErr = nil
		p.mu.Unlock()
		h.clock.Advance(30 * time.Second)
		if n := h.reconcile(); n != 0 {
			t.Errorf("read %d sessions 30s into a 40s pause", n)
		}
		h.clock.Advance(11 * time.Second)
		if n := h.reconcile(); n != 2 {
			t.Errorf("read %d sessions after the pause, want 2", n)
		}
	})
	t.Run("ticket gone", func(t *testing.T) {
		var p *platform
		h := newHarness(t, withPlatform(&p)...)
		s := h.startSession("u1")
		p.mu.Lock()
		p.readErr = func(sdk.ReadRequest) error { return sdk.NotFound("ticket %s was deleted", s.ProviderRef) }
		p.mu.Unlock()
		h.clock.Advance(30 * time.Second)
		h.reconcile()
		if got := h.session(s.ID); got.State != host.SessionFailed {
			t.Errorf("session is %s after its ticket was deleted, want failed", got.State)
		}
		if got := h.channel.texts("u1"); len(got) == 0 || got[0] != unavailable {
			t.Errorf("user got %q, want %q first", got, unavailable)
		}
		if n := h.bot.count("u1", engine.PayloadFailed); n != 1 {
			t.Errorf("the bot heard %s %d times, want 1", engine.PayloadFailed, n)
		}
	})
	t.Run("other errors", func(t *testing.T) {
		var p *platform
		h := newHarness(t, withPlatform(&p)...)
		s1 := h.startSession("u1")
		h.startSession("u2")
		p.mu.Lock()
		p.readErr = func(r sdk.ReadRequest) error {
			if r.SessionID == s1.ID {
				return sdk.Retryable(errors.New("502 from the platform"), 0)
			}
			return nil
		}
		p.mu.Unlock()
		h.clock.Advance(30 * time.Second)
		if n := h.reconcile(); n != 2 {
			t.Fatalf("read %d sessions, want 2", n)
		}
		// The failing session waits its turn rather than starve the other.
		if got := h.session(s1.ID); got.State != host.SessionActive || got.SyncedAt.IsZero() {
			t.Errorf("failing session: %s, read at %v; want active and marked read", got.State, got.SyncedAt)
		}
		if n := h.reconcile(); n != 0 {
			t.Errorf("read %d sessions right after, want 0", n)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		var p *platform
		h := newHarness(t, withPlatform(&p)...)
		h.startSession("u1")
		h.startSession("u2")
		p.mu.Lock()
		p.readErr = func(sdk.ReadRequest) error {
			return &sdk.Error{Kind: sdk.KindInvalid, Err: fmt.Errorf("old plugin: %w", errors.ErrUnsupported)}
		}
		p.mu.Unlock()
		h.clock.Advance(30 * time.Second)
		h.reconcile()
		h.clock.Advance(time.Hour)
		h.reconcile()
		if n := p.readCount(); n != 1 {
			t.Errorf("%d reads of a plugin that cannot read, want 1", n)
		}
		p.mu.Lock()
		p.restarts++ // a new plugin version, maybe
		p.readErr = nil
		p.mu.Unlock()
		if n := h.reconcile(); n != 2 {
			t.Errorf("after the plugin restarted, read %d sessions, want 2", n)
		}
	})
}

// A plugin without the read_session capability, or a bot with
// reconciliation off, is never read.
func TestReconcileOnlyWhereItApplies(t *testing.T) {
	t.Run("no capability", func(t *testing.T) {
		var p *platform
		h := newHarness(t, withPlatform(&p)...)
		p.mu.Lock()
		p.info.Capabilities = []sdk.Capability{sdk.CapWebhook}
		p.mu.Unlock()
		h.startSession("u1")
		h.clock.Advance(time.Hour)
		if n := h.reconcile(); n != 0 || p.readCount() != 0 {
			t.Errorf("read %d sessions of a plugin without read_session", n)
		}
	})
	t.Run("off", func(t *testing.T) {
		var p *platform
		h := newHarness(t, append(withPlatform(&p), withBot(func(b *engine.Bot) { b.Reconcile = engine.Reconcile{} }))...)
		h.startSession("u1")
		h.clock.Advance(time.Hour)
		if n := h.reconcile(); n != 0 || p.readCount() != 0 {
			t.Errorf("read %d sessions of a bot with reconciliation off", n)
		}
	})
}
