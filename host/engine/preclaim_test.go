package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// The outbox items of a conversation on idle queues are claimed by the
// transactions that enqueue them (the store is a host.Preclaimer) and run
// straight after the commit: the dispatcher claims none of them.
func TestPreclaimIdleQueuesSkipTheDispatcher(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")
	h.drain()
	before := h.claims.dispatched.Load()
	pre := h.claims.preclaimed.Load()
	for i := range 3 {
		text := fmt.Sprintf("hello %d", i)
		h.handle(textEvent("u1", "", text))
		h.waitFor("the platform to get "+text, func() bool { return slices.Contains(h.provider.sent("u1"), text) })
		answer := fmt.Sprintf("answer %d", i)
		if err := h.eng.PushEvents(context.Background(), "shop", agentMessage(s.ID, fmt.Sprintf("ev%d", i), answer)); err != nil {
			t.Fatal(err)
		}
		h.waitFor("the user to read "+answer, func() bool { return slices.Contains(h.channel.texts("u1"), answer) })
		h.drain()
	}
	if got := h.claims.dispatched.Load() - before; got != 0 {
		t.Errorf("the dispatcher claimed %d items of an idle conversation, want 0", got)
	}
	if got := h.claims.preclaimed.Load() - pre; got != 6 {
		t.Errorf("%d items were claimed as they were enqueued, want 6 (3 sends, 3 deliveries)", got)
	}
	if got, want := h.provider.sent("u1"), []string{"hello 0", "hello 1", "hello 2"}; !slices.Equal(got, want) {
		t.Errorf("the platform got %q, want %q", got, want)
	}
	for _, a := range h.attemptsOf(host.KindProviderSend) {
		if a.err != nil {
			t.Errorf("attempt %s failed", a)
		}
	}
}

// An item enqueued behind others of its queue is never claimed as it is
// enqueued: it waits for its turn, and the worker that completes the item
// ahead takes it (host.NextClaimer), without the dispatcher. The platform
// gets the session's messages in order.
func TestPreclaimNotBehindOthers(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")
	h.drain()
	release := make(chan struct{})
	h.provider.onSend(func(ctx context.Context, req sdk.SendRequest) error {
		if messageText(req.Message) == "m0" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	before, pre, chained := h.claims.dispatched.Load(), h.claims.preclaimed.Load(), h.claims.chained.Load()
	h.handle(textEvent("u1", "", "m0"))
	// m0 is running (claimed with its enqueue), holding its queue.
	h.waitFor("m0 to be claimed", func() bool { return h.claims.preclaimed.Load() == pre+1 })
	for i := 1; i <= 3; i++ {
		h.handle(textEvent("u1", "", fmt.Sprintf("m%d", i)))
	}
	if got := h.claims.preclaimed.Load() - pre; got != 1 {
		t.Fatalf("%d items claimed as they were enqueued behind a running head, want only m0", got)
	}
	close(release)
	want := []string{"m0", "m1", "m2", "m3"}
	h.waitFor("every message to reach the platform", func() bool { return len(h.provider.sent("u1")) == len(want) })
	h.drain()
	if got := h.provider.sent("u1"); !slices.Equal(got, want) {
		t.Errorf("the platform got %q, want %q", got, want)
	}
	if got := h.claims.chained.Load() - chained; got != 3 {
		t.Errorf("%d items were taken as the item ahead completed, want the 3 queued behind m0", got)
	}
	if got := h.claims.dispatched.Load() - before; got != 0 {
		t.Errorf("the dispatcher claimed %d items, want none", got)
	}
}

// With every worker busy, an item is stored unclaimed and the dispatcher
// runs it once a worker frees up: nothing waits for a worker that was
// never reserved, and there are never more items running than workers.
func TestPreclaimNeedsAFreeWorker(t *testing.T) {
	h := newHarness(t, withOptions(func(o *engine.Options) { o.Workers = 1 }))
	s := h.startSession("u1")
	h.drain()
	release := make(chan struct{})
	h.provider.onSend(func(ctx context.Context, req sdk.SendRequest) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	before, pre, claims := h.claims.dispatched.Load(), h.claims.preclaimed.Load(), h.claims.n.Load()
	h.handle(textEvent("u1", "", "hold the worker"))
	h.waitFor("the send to be claimed", func() bool { return h.claims.preclaimed.Load() == pre+1 })
	// The one worker is busy: the agent's answer goes to another queue
	// (the user's channel), idle, but no worker is free for it.
	if err := h.eng.PushEvents(context.Background(), "shop", agentMessage(s.ID, "ev1", "meanwhile")); err != nil {
		t.Fatal(err)
	}
	if got := h.claims.n.Load() - claims; got != 1 {
		t.Fatalf("%d claims with the only worker busy, want the send's alone", got)
	}
	if got := h.channel.texts("u1"); slices.Contains(got, "meanwhile") {
		t.Fatalf("delivered %q while the only worker was busy", got)
	}
	close(release)
	h.waitFor("the answer to be delivered", func() bool { return slices.Contains(h.channel.texts("u1"), "meanwhile") })
	h.drain()
	if got := h.claims.dispatched.Load() - before; got != 1 {
		t.Errorf("the dispatcher claimed %d items, want the delivery", got)
	}
}

// A transaction that enqueued, claimed and then failed gives its worker
// back: the pool is not worn down by rolled-back work, and later work on
// the same queue is claimed as usual.
func TestPreclaimRollbackGivesTheWorkerBack(t *testing.T) {
	h := newHarness(t, withOptions(func(o *engine.Options) { o.Workers = 1 }))
	h.startSession("u1")
	h.drain()
	s := h.onlySession("u1")
	for i := range 5 {
		err := h.db.Tx(context.Background(), func(tx host.Tx) error {
			it := &host.OutboxItem{Key: fmt.Sprintf("rolled-back-%d", i), Queue: host.ChannelQueue("shop", "u1"),
				Kind: host.KindChannelDelivery, SessionID: s.ID, Payload: []byte(`{}`)}
			if err := tx.Enqueue(it); err != nil {
				return err
			}
			if it.Claim == "" {
				return fmt.Errorf("item %s was not claimed with a worker free", it.Key)
			}
			return host.Errorf(host.EINVALID, "changed my mind")
		})
		if host.ErrorCode(err) != host.EINVALID {
			t.Fatalf("Tx %d: %v, want the EINVALID it returned", i, err)
		}
	}
	pre := h.claims.preclaimed.Load()
	if err := h.eng.PushEvents(context.Background(), "shop", agentMessage(s.ID, "ev1", "still here")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the answer to be delivered", func() bool { return slices.Contains(h.channel.texts("u1"), "still here") })
	h.drain()
	if got := h.claims.preclaimed.Load() - pre; got != 1 {
		t.Errorf("the delivery after 5 rolled-back claims was claimed as enqueued %d times, want 1: the worker was not given back", got)
	}
	if st, err := h.db.OutboxStats(context.Background()); err != nil || st.Pending != 0 {
		t.Errorf("OutboxStats = %+v, %v: a rolled-back item is stored", st, err)
	}
}
