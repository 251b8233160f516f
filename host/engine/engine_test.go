package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// A channel that retries while the first attempt runs must not get the
// message to the agent twice.
func TestExactlyOnceIntake(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")

	const n = 20
	ev := textEvent("u1", "req-1", "hello")
	replies := make([]string, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		r, err := h.eng.HandleEvent(context.Background(), "shop", ev)
		replies[i], errs[i] = wire(t, r), err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for i, r := range replies {
		if r != replies[0] {
			t.Errorf("reply %d differs from reply 0:\n%s", i, cmp.Diff(replies[0], r))
		}
	}
	h.drain()
	if diff := cmp.Diff([]string{"hello"}, h.provider.sent("u1")); diff != "" {
		t.Fatalf("the agent got (-want +got):\n%s", diff)
	}

	// A later retry gets the first answer and sends nothing.
	if got := wire(t, h.handle(ev)); got != replies[0] {
		t.Errorf("retry: %s", cmp.Diff(replies[0], got))
	}
	h.drain()
	if got := len(h.provider.sent("u1")); got != 1 {
		t.Errorf("after the retry the agent got %d messages, want 1", got)
	}

	// The same id with another body is a conflict.
	_, err := h.eng.HandleEvent(context.Background(), "shop", textEvent("u1", "req-1", "hello again"))
	if host.ErrorCode(err) != host.ECONFLICT || host.ErrorField(err) != "request_id" {
		t.Errorf("same request_id, other body: %v (code %q, field %q), want %s on request_id",
			err, host.ErrorCode(err), host.ErrorField(err), host.ECONFLICT)
	}

	// Request ids are scoped to the user: u2's req-1 is a new request.
	r := h.handle(textEvent("u2", "req-1", "hello"))
	if diff := cmp.Diff([]string{botAnswer("hello")}, replyTexts(r)); diff != "" {
		t.Errorf("u2's reply (-want +got):\n%s", diff)
	}
	if got := h.bot.count("u2", "hello"); got != 1 {
		t.Errorf("the bot heard u2's hello %d times, want 1", got)
	}
}

func TestExactlyOnceStart(t *testing.T) {
	h := newHarness(t)

	const n = 5
	replies := make([]string, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		r, err := h.eng.HandleEvent(context.Background(), "shop", payloadEvent("u1", "start-1", engine.PayloadStart))
		replies[i], errs[i] = wire(t, r), err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for i, r := range replies {
		if r != replies[0] {
			t.Errorf("reply %d differs from reply 0:\n%s", i, cmp.Diff(replies[0], r))
		}
	}
	h.drain()
	s := h.onlySession("u1")
	if s.State != host.SessionActive {
		t.Errorf("session state %s, want active", s.State)
	}
	if got := len(h.provider.startsOf("u1")); got != 1 {
		t.Errorf("StartSession called %d times, want 1", got)
	}
	if got := h.bot.count("u1", engine.PayloadStart); got != 0 {
		t.Errorf("the bot heard START %d times, want 0", got)
	}
}

// A store that is busy for a moment delays a start; it never fails it.
func TestStartRetriesTransientStoreError(t *testing.T) {
	var busy *busyOnce
	h := newHarness(t, withStore(func(s host.Store) host.Store {
		busy = &busyOnce{Store: s}
		return busy
	}))
	s := h.startSession("u1")
	h.drain()

	if s.EndReason != "" {
		t.Errorf("end reason %q, want none", s.EndReason)
	}
	starts := h.attemptsOf(host.KindProviderStart)
	if len(starts) != 2 || host.ErrorCode(starts[0].err) != host.EBUSY || starts[1].err != nil {
		t.Errorf("start attempts %v, want one EBUSY then one success", starts)
	}
	if got := len(h.provider.startsOf("u1")); got != 1 {
		t.Errorf("StartSession called %d times, want 1", got)
	}
	if got := count(h.channel.texts("u1"), unavailable); got != 0 {
		t.Errorf("the user heard %q %d times", unavailable, got)
	}
	if got := h.bot.count("u1", engine.PayloadFailed); got != 0 {
		t.Errorf("the bot heard FAILED %d times", got)
	}
}

// In next_message mode, however the bot takes the pending expiry notice,
// the user's next event goes on.
func TestNextMessageNotice(t *testing.T) {
	refuseOnce := func(err error) func(engine.Event) error {
		var refused atomic.Bool
		return func(ev engine.Event) error {
			if ev.Payload.Value() == engine.PayloadExpired && refused.CompareAndSwap(false, true) {
				return err
			}
			return nil
		}
	}
	tests := []struct {
		name   string
		refuse func(engine.Event) error
		// wantReply is the answer to the user's next event; wantHeard how
		// many times the bot heard EXPIRED; wantDelivered how many times the
		// bot's answer to it reached the channel (when it went through the
		// outbox).
		wantReply     []string
		wantHeard     int
		wantDelivered int
	}{
		{
			name:      "taken",
			wantReply: []string{botAnswer(engine.PayloadExpired), botAnswer("hi again")},
			wantHeard: 1,
		},
		{
			name: "refused for good",
			refuse: func(ev engine.Event) error {
				if ev.Payload.Value() == engine.PayloadExpired {
					return sdk.Permanent(errors.New("bot answered 400"))
				}
				return nil
			},
			wantReply: []string{botAnswer("hi again")},
			wantHeard: 1,
		},
		{
			name:          "not now",
			refuse:        refuseOnce(sdk.Retryable(errors.New("bot answered 503"), 0)),
			wantReply:     []string{botAnswer("hi again")},
			wantHeard:     2,
			wantDelivered: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withBot(func(b *engine.Bot) { b.ExpiredNotice = host.ExpiredNoticeNextMessage }))
			s := h.startSession("u1")
			h.bot.setRefuse(tt.refuse)
			if n := h.expire(); n != 1 {
				t.Fatalf("expired %d sessions, want 1", n)
			}
			h.drain()
			if !h.session(s.ID).NoticePending {
				t.Fatal("no notice pending after the expiry")
			}

			r, err := h.eng.HandleEvent(context.Background(), "shop", textEvent("u1", "", "hi again"))
			if err != nil {
				t.Fatalf("the next event: %v", err)
			}
			if diff := cmp.Diff(tt.wantReply, replyTexts(r)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			h.drain()
			if got := h.bot.count("u1", engine.PayloadExpired); got != tt.wantHeard {
				t.Errorf("the bot heard EXPIRED %d times, want %d", got, tt.wantHeard)
			}
			if got := count(h.channel.texts("u1"), botAnswer(engine.PayloadExpired)); got != tt.wantDelivered {
				t.Errorf("the bot's answer to EXPIRED reached the channel %d times, want %d", got, tt.wantDelivered)
			}
			if h.session(s.ID).NoticePending {
				t.Error("the notice is still pending")
			}
			if got := h.bot.count("u1", "hi again"); got != 1 {
				t.Errorf("the bot heard the next event %d times, want 1", got)
			}
		})
	}
}

func TestNextMessageNoticeOnceForConcurrentEvents(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) { b.ExpiredNotice = host.ExpiredNoticeNextMessage }))
	h.startSession("u1")
	if n := h.expire(); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}

	const n = 10
	replies := make([]engine.Reply, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		replies[i], errs[i] = h.eng.HandleEvent(context.Background(), "shop", textEvent("u1", "", fmt.Sprint("msg ", i)))
	})
	withNotice := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("event %d: %v", i, errs[i])
		}
		texts := replyTexts(replies[i])
		if count(texts, botAnswer(fmt.Sprint("msg ", i))) != 1 {
			t.Errorf("reply %d is %q, without the bot's answer to it", i, texts)
		}
		withNotice += count(texts, botAnswer(engine.PayloadExpired))
	}
	h.drain()
	if got := h.bot.count("u1", engine.PayloadExpired); got != 1 {
		t.Errorf("the bot heard EXPIRED %d times, want 1", got)
	}
	if withNotice != 1 {
		t.Errorf("%d replies carry the answer to EXPIRED, want 1", withNotice)
	}
}

// A session whose ticket is gone, or whose messages cannot reach it, fails
// in the open: the user and the bot hear of it, and the bot takes over.
func TestVanishedTicketFailsSession(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int
		sendErr     error
		wantDead    int
	}{
		{name: "not found", sendErr: sdk.NotFound("ticket gone")},
		{name: "refused for good", sendErr: sdk.Permanent(errors.New("ticket merged"))},
		{name: "retries exhausted", maxAttempts: 2, sendErr: sdk.Retryable(errors.New("platform answered 503"), 0), wantDead: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *engine.Options) { o.MaxAttempts = tt.maxAttempts }))
			s := h.startSession("u1")
			h.provider.onSend(func(context.Context, sdk.SendRequest) error { return tt.sendErr })

			h.handle(textEvent("u1", "", "hello"))
			h.drain()

			got := h.session(s.ID)
			if got.State != host.SessionFailed || got.EndReason != host.EndFailed {
				t.Errorf("session %s/%s, want failed/failed", got.State, got.EndReason)
			}
			if n := count(h.channel.texts("u1"), unavailable); n != 1 {
				t.Errorf("the user heard %q %d times, want 1", unavailable, n)
			}
			if n := h.bot.count("u1", engine.PayloadFailed); n != 1 {
				t.Errorf("the bot heard FAILED %d times, want 1", n)
			}
			if dead := h.deadLetters(); len(dead) != tt.wantDead {
				t.Errorf("dead letters %q, want %d", dead, tt.wantDead)
			}

			r := h.handle(textEvent("u1", "", "anyone?"))
			if diff := cmp.Diff([]string{botAnswer("anyone?")}, replyTexts(r)); diff != "" {
				t.Errorf("the next message's reply (-want +got):\n%s", diff)
			}
			if r.Livechat != nil {
				t.Errorf("the next message was intercepted by session %+v", r.Livechat)
			}
		})
	}
}

// A ticket that is gone when the session ends is closed enough.
func TestEndOfVanishedTicket(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")
	h.provider.onEnd(func(context.Context, sdk.EndRequest) error { return sdk.NotFound("ticket gone") })

	r := h.handle(payloadEvent("u1", "", engine.PayloadEnd))
	h.drain()

	if diff := cmp.Diff([]string{botAnswer(engine.PayloadEnd)}, replyTexts(r)); diff != "" {
		t.Errorf("reply to END (-want +got):\n%s", diff)
	}
	if got := h.session(s.ID); got.State != host.SessionEnded || got.EndReason != host.EndUser {
		t.Errorf("session %s/%s, want ended/user", got.State, got.EndReason)
	}
	ends := h.attemptsOf(host.KindProviderEnd)
	if len(ends) != 1 || ends[0].err != nil {
		t.Errorf("end attempts %v, want one that completed", ends)
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters %q, want none", dead)
	}
}

// A platform's Retry-After is honoured, up to RetryMax.
func TestRetryAfterIsCapped(t *testing.T) {
	const retryMax = time.Hour
	tests := []struct {
		name       string
		retryAfter time.Duration
		want       time.Duration
	}{
		{"a year", 365 * 24 * time.Hour, retryMax},
		{"ten minutes", 10 * time.Minute, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *engine.Options) { o.RetryMax = retryMax }))
			h.startSession("u1")
			h.drain()
			h.provider.onSend(func(context.Context, sdk.SendRequest) error {
				return sdk.RateLimited(errors.New("platform answered 429"), tt.retryAfter)
			})

			before := h.clock.Now()
			h.handle(textEvent("u1", "", "hello"))
			h.waitFor("the send to fail", func() bool { return len(h.attemptsOf(host.KindProviderSend)) > 0 })
			after := h.clock.Now()

			at, ok, err := h.db.NextDue(context.Background())
			if err != nil || !ok {
				t.Fatalf("NextDue: %v, %v", ok, err)
			}
			// The store keeps milliseconds.
			lo, hi := before.Add(tt.want-time.Millisecond), after.Add(tt.want)
			if at.Before(lo) || at.After(hi) {
				t.Errorf("next attempt in %s, want %s", at.Sub(before), tt.want)
			}
		})
	}
}

// One user's slow delivery never holds up another user's.
func TestSlowQueueDoesNotDelayOthers(t *testing.T) {
	h := newHarness(t)
	a, b := h.startSession("A"), h.startSession("B")

	release := make(chan struct{})
	releaseA := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseA)
	var blockedA atomic.Bool
	var triesB atomic.Int32
	h.channel.onDeliver(func(ctx context.Context, _ string, d engine.Delivery) error {
		switch d.Client.UserID {
		case "A":
			blockedA.Store(true)
			h.sig.notify()
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case "B":
			if triesB.Add(1) == 1 {
				return sdk.Retryable(errors.New("channel answered 503"), 0)
			}
		}
		return nil
	})

	push(t, h, agentMessage(a.ID, "1", "hi A"))
	h.waitFor("A's delivery to block", blockedA.Load)
	push(t, h, agentMessage(b.ID, "1", "hi B"))
	h.waitFor("B's delivery", func() bool { return len(h.channel.texts("B")) == 1 })

	if got := h.channel.texts("A"); len(got) != 0 {
		t.Fatalf("A got %q while blocked", got)
	}
	if got := triesB.Load(); got != 2 {
		t.Errorf("B's delivery was tried %d times while A was blocked, want 2 (a failure and a success)", got)
	}
	releaseA()
	h.waitFor("A's delivery", func() bool { return len(h.channel.texts("A")) == 1 })
}

func push(t *testing.T, h *harness, events ...sdk.Event) {
	t.Helper()
	if err := h.eng.PushEvents(context.Background(), "shop", events...); err != nil {
		t.Fatalf("push %v: %v", events, err)
	}
}

// Work running when the engine closes past its deadline is handed back,
// not failed, and the next engine on the store runs it.
func TestCloseHandsBackWork(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")
	h.drain()

	var block, blocked atomic.Bool
	block.Store(true)
	h.provider.onSend(func(ctx context.Context, _ sdk.SendRequest) error {
		if !block.Load() {
			return nil
		}
		blocked.Store(true)
		h.sig.notify()
		<-ctx.Done()
		return ctx.Err()
	})
	h.handle(textEvent("u1", "", "hello"))
	h.waitFor("the send to be in flight", blocked.Load)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.eng.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "handed back") {
		t.Fatalf("Close: %v, want an error saying work was handed back", err)
	}
	h.eng = nil

	// Read the item back: pending, no attempt counted.
	items, err := h.db.ClaimDue(context.Background(), h.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != host.KindProviderSend || items[0].State != host.OutboxPending || items[0].Attempts != 0 {
		t.Fatalf("due after Close: %+v, want the send, pending, with 0 attempts", items)
	}
	handedBack := items[0].ID

	// A new engine on the same file runs it.
	block.Store(false)
	h.close()
	h.open()
	h.waitFor("the message to reach the agent", func() bool { return len(h.provider.sent("u1")) == 1 })
	h.drain()
	sends := h.attemptsOf(host.KindProviderSend)
	last := sends[len(sends)-1]
	if last.item.ID != handedBack || last.item.Attempts != 0 || last.err != nil {
		t.Errorf("last send attempt %+v (err %v), want item %d with 0 attempts, done", last.item, last.err, handedBack)
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters %q, want none", dead)
	}
}

func TestCloseIdle(t *testing.T) {
	tests := []struct {
		name string
		work bool
	}{
		{"fresh", false},
		{"after work", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.work {
				h.startSession("u1")
				h.handle(textEvent("u1", "", "hello"))
				h.drain()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := h.eng.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %s with nothing running", d)
			}
			h.eng = nil
		})
	}
}

// A panicking plugin call is a failed attempt, not a dead process.
func TestPanicInProviderIsRetried(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")
	var panicked atomic.Bool
	h.provider.onSend(func(context.Context, sdk.SendRequest) error {
		if panicked.CompareAndSwap(false, true) {
			panic("provider bug")
		}
		return nil
	})

	h.handle(textEvent("u1", "", "one"))
	h.drain()
	h.handle(textEvent("u1", "", "two"))
	h.drain()

	if diff := cmp.Diff([]string{"one", "two"}, h.provider.sent("u1")); diff != "" {
		t.Errorf("the agent got (-want +got):\n%s", diff)
	}
	sends := h.attemptsOf(host.KindProviderSend)
	if len(sends) != 3 || sends[0].err == nil || !strings.Contains(sends[0].err.Error(), "panic") {
		t.Errorf("send attempts %v, want a panic, then two successes", sends)
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters %q, want none", dead)
	}
}

func TestTranscriptSize(t *testing.T) {
	tests := []struct {
		size int
		want []string
	}{
		{0, nil},
		{3, []string{botAnswer("two"), "three", botAnswer("three")}},
		{20, []string{"one", botAnswer("one"), "two", botAnswer("two"), "three", botAnswer("three")}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			h := newHarness(t, withBot(func(b *engine.Bot) { b.TranscriptSize = tt.size }))
			for _, text := range []string{"one", "two", "three"} {
				h.handle(textEvent("u1", "", text))
			}
			h.startSession("u1")

			starts := h.provider.startsOf("u1")
			if len(starts) != 1 {
				t.Fatalf("StartSession called %d times, want 1", len(starts))
			}
			var got []string
			for _, m := range starts[0].Transcript {
				got = append(got, messageText(m))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transcript (-want +got):\n%s", diff)
			}
		})
	}
}

// A provider that opens no ticket has not started the session.
func TestEmptyRefFailsStart(t *testing.T) {
	h := newHarness(t)
	h.provider.onStart(func(context.Context, sdk.StartRequest) (sdk.StartResult, error) {
		return sdk.StartResult{}, nil
	})

	h.handle(payloadEvent("u1", "", engine.PayloadStart))
	h.drain()

	s := h.onlySession("u1")
	if s.State != host.SessionFailed || s.EndReason != host.EndFailed {
		t.Errorf("session %s/%s, want failed/failed", s.State, s.EndReason)
	}
	if got := len(h.provider.startsOf("u1")); got != 1 {
		t.Errorf("StartSession called %d times, want 1", got)
	}
	if n := count(h.channel.texts("u1"), unavailable); n != 1 {
		t.Errorf("the user heard %q %d times, want 1", unavailable, n)
	}
	if n := h.bot.count("u1", engine.PayloadFailed); n != 1 {
		t.Errorf("the bot heard FAILED %d times, want 1", n)
	}
}

func TestPushEventWithoutID(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")

	err := h.eng.PushEvents(context.Background(), "shop", agentMessage(s.ID, "", "hi"))
	if sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("PushEvents without an id: %v (kind %s), want invalid", err, sdk.KindOf(err))
	}
	h.drain()
	if got := h.channel.texts("u1"); len(got) != 0 {
		t.Errorf("delivered %q", got)
	}
}

// Event ids only have to be unique within a conversation.
func TestAgentEventDedupIsPerSession(t *testing.T) {
	h := newHarness(t)
	a, b := h.startSession("A"), h.startSession("B")

	push(t, h, agentMessage(a.ID, "ev-1", "hi A"))
	push(t, h, agentMessage(b.ID, "ev-1", "hi B"))
	push(t, h, agentMessage(a.ID, "ev-1", "hi A"))
	h.drain()

	if diff := cmp.Diff([]string{"hi A"}, h.channel.texts("A")); diff != "" {
		t.Errorf("A got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"hi B"}, h.channel.texts("B")); diff != "" {
		t.Errorf("B got (-want +got):\n%s", diff)
	}
}

// An agent message after the session closed is kept for the record only.
func TestLateAgentMessage(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")
	h.handle(payloadEvent("u1", "", engine.PayloadEnd))
	h.drain()
	delivered := h.channel.texts("u1")

	push(t, h, agentMessage(s.ID, "ev-late", "too late"))
	h.drain()

	msgs, err := h.db.Messages(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, m := range msgs {
		if payloadText(m.Payload) == "too late" {
			late++
			if !m.Late || m.Author != host.AuthorAgent {
				t.Errorf("late message kept as %+v, want Late, by the agent", m)
			}
		}
	}
	if late != 1 {
		t.Errorf("the late message is kept %d times, want 1", late)
	}
	if diff := cmp.Diff(delivered, h.channel.texts("u1")); diff != "" {
		t.Errorf("deliveries after the late message (-before +after):\n%s", diff)
	}

	h.startSession("u1")
	starts := h.provider.startsOf("u1")
	if len(starts) != 2 {
		t.Fatalf("StartSession called %d times, want 2", len(starts))
	}
	for _, m := range starts[1].Transcript {
		if messageText(m) == "too late" {
			t.Errorf("the next session's transcript has the late message: %+v", m)
		}
	}
}

// Work for a plugin that is down waits for it without spending attempts.
func TestPluginDownKeepsAttempts(t *testing.T) {
	errDown := errors.New("plugin is restarting")
	h := newHarness(t, withOptions(func(o *engine.Options) {
		o.MaxAttempts = 2
		o.PluginDown = func(err error) bool { return errors.Is(err, errDown) }
	}))
	s := h.startSession("u1")
	var down atomic.Bool
	down.Store(true)
	h.provider.onSend(func(context.Context, sdk.SendRequest) error {
		if down.Load() {
			return fmt.Errorf("send: %w", errDown)
		}
		return nil
	})

	h.handle(textEvent("u1", "", "hello"))
	// More tries than MaxAttempts: none of them may count.
	h.waitFor("three tries while the plugin is down", func() bool { return len(h.attemptsOf(host.KindProviderSend)) >= 3 })
	down.Store(false)
	h.waitFor("the message to reach the agent", func() bool { return len(h.provider.sent("u1")) == 1 })
	h.drain()

	for i, a := range h.attemptsOf(host.KindProviderSend) {
		if a.item.Attempts != 0 {
			t.Errorf("try %d found %d attempts counted, want 0", i, a.item.Attempts)
		}
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters %q, want none", dead)
	}
	if got := h.session(s.ID); got.State != host.SessionActive {
		t.Errorf("session %s, want active", got.State)
	}
}

// However many expiry passes run at once, the bot hears of an expiry once.
func TestImmediateExpiryOnce(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")
	h.clock.Advance(h.cfg.SessionTimeout + time.Minute)

	const n = 8
	expired := make([]int, n)
	errs := make([]error, n)
	concurrently(n, func(i int) {
		expired[i], errs[i] = h.eng.ExpireDue(context.Background())
	})
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("ExpireDue %d: %v", i, errs[i])
		}
		total += expired[i]
	}
	if total != 1 {
		t.Errorf("expired %d sessions in all, want 1", total)
	}
	h.drain()

	if got := h.session(s.ID); got.State != host.SessionExpired || got.EndReason != host.EndExpired {
		t.Errorf("session %s/%s, want expired/expired", got.State, got.EndReason)
	}
	if got := h.bot.count("u1", engine.PayloadExpired); got != 1 {
		t.Errorf("the bot heard EXPIRED %d times, want 1", got)
	}
	if got := count(h.channel.texts("u1"), botAnswer(engine.PayloadExpired)); got != 1 {
		t.Errorf("the bot's answer to EXPIRED reached the user %d times, want 1", got)
	}
	if got := h.provider.endCalls(); got != 1 {
		t.Errorf("EndSession called %d times, want 1", got)
	}
}
