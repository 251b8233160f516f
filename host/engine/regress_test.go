// Tests of bugs found by the engine unit tests, after their fixes.
package engine_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// The bot's answer to a pending expiry notice reaches the user even when
// the event it came with fails and is retried.
func TestNextMessageNoticeAnswerSurvivesFailedEvent(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) { b.ExpiredNotice = host.ExpiredNoticeNextMessage }))
	h.startSession("u1")
	if n := h.expire(); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	h.drain()
	var failed atomic.Bool
	h.bot.setRefuse(func(ev engine.Event) error {
		if ev.Payload.Value() == "hi again" && failed.CompareAndSwap(false, true) {
			return sdk.Retryable(errors.New("bot answered 503"), 0)
		}
		return nil
	})

	ev := textEvent("u1", "req-1", "hi again")
	if _, err := h.eng.HandleEvent(context.Background(), "shop", ev); err == nil {
		t.Fatal("the first try succeeded; the bot was to fail it")
	}
	r := h.handle(ev) // the channel retries
	h.drain()

	heard := count(replyTexts(r), botAnswer(engine.PayloadExpired)) +
		count(h.channel.texts("u1"), botAnswer(engine.PayloadExpired))
	if heard != 1 {
		t.Errorf("the bot's answer to EXPIRED reached the user %d times, want 1 (reply %q, channel %q)",
			heard, replyTexts(r), h.channel.texts("u1"))
	}
}

// busyTx is a store whose next Tx, once armed, fails with EBUSY.
type busyTx struct {
	host.Store
	mu    sync.Mutex
	armed bool
}

func (s *busyTx) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = true
}

func (s *busyTx) Tx(ctx context.Context, fn func(host.Tx) error) error {
	s.mu.Lock()
	fail := s.armed
	s.armed = false
	s.mu.Unlock()
	if fail {
		return &host.Error{Code: host.EBUSY, Message: "database is locked"}
	}
	return s.Store.Tx(ctx, fn)
}

// A dead letter of a session's provider work fails the session even when
// the store is busy for a moment just then.
func TestDeadLetterFailsSessionDespiteBusyStore(t *testing.T) {
	var busy *busyTx
	h := newHarness(t,
		withOptions(func(o *engine.Options) { o.MaxAttempts = 2 }),
		withStore(func(s host.Store) host.Store {
			busy = &busyTx{Store: s}
			return busy
		}))
	s := h.startSession("u1")
	var tries atomic.Int32
	h.provider.onSend(func(context.Context, sdk.SendRequest) error {
		if tries.Add(1) == 2 {
			// The last attempt: the next transaction is the one that
			// fails the session.
			busy.arm()
		}
		return sdk.Retryable(errors.New("platform answered 503"), 0)
	})

	h.handle(textEvent("u1", "", "hello"))
	h.waitFor("the session to fail", func() bool { return h.session(s.ID).State == host.SessionFailed })
	h.drain()
	if n := count(h.channel.texts("u1"), unavailable); n != 1 {
		t.Errorf("the user heard %q %d times, want 1", unavailable, n)
	}
}

// Two events with one request_id and different bodies, at once, for a user
// without a session: the bot hears one of them, the other is a conflict.
func TestSameRequestIDOtherBodyConcurrently(t *testing.T) {
	h := newHarness(t)
	errs := make([]error, 2)
	texts := []string{"first body", "second body"}
	concurrently(2, func(i int) {
		_, errs[i] = h.eng.HandleEvent(context.Background(), "shop", textEvent("u1", "req-1", texts[i]))
	})
	heard := h.bot.count("u1", texts[0]) + h.bot.count("u1", texts[1])
	conflicts := 0
	for _, err := range errs {
		if host.ErrorCode(err) == host.ECONFLICT {
			conflicts++
		} else if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
	}
	if heard != 1 || conflicts != 1 {
		t.Errorf("the bot heard %d of the two bodies and %d got a conflict; want 1 and 1", heard, conflicts)
	}
}
