package engine_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

// txCounter counts the write transactions that expire sessions.
type txCounter struct {
	host.Store
	n atomic.Int64
}

func (c *txCounter) Tx(ctx context.Context, fn func(host.Tx) error) error {
	return c.Store.Tx(ctx, func(tx host.Tx) error {
		w := &expiringTx{Tx: tx}
		err := fn(w)
		if err == nil && w.expired > 0 {
			c.n.Add(1)
		}
		return err
	})
}

// expiringTx counts the sessions a transaction expires.
type expiringTx struct {
	host.Tx
	expired int
}

func (t *expiringTx) UpdateSession(s *host.Session) error {
	if s.State == host.SessionExpired {
		t.expired++
	}
	return t.Tx.UpdateSession(s)
}

// A burst of expiries is expired in batches, each one transaction with the
// work it causes, not a transaction per session; every session ends once
// and each bot hears of it once.
func TestExpiryInBatches(t *testing.T) {
	counter := &txCounter{}
	h := newHarness(t, withStore(func(s host.Store) host.Store { counter.Store = s; return counter }))
	const sessions = 501 // two batches
	ctx := context.Background()
	err := h.db.Tx(ctx, func(tx host.Tx) error {
		for i := range sessions {
			s := &host.Session{Bot: "shop", UserID: fmt.Sprintf("u%04d", i), Provider: "fake", State: host.SessionActive,
				ProviderRef: fmt.Sprintf("T%d", i), ExpiresAt: h.clock.Now().Add(time.Minute)}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := h.expire(); n != sessions {
		t.Fatalf("expired %d sessions, want %d", n, sessions)
	}
	if tx := counter.n.Load(); tx != 2 {
		t.Errorf("expiring %d sessions took %d transactions, want 2 (one per 500)", sessions, tx)
	}
	if n := h.expire(); n != 0 {
		t.Errorf("a second pass expired %d sessions", n)
	}
	// Each session ended once, its ticket's closing and its bot notice
	// queued with it.
	ended, err := h.db.ListSessions(ctx, host.SessionFilter{Bot: "shop", State: host.SessionExpired, Limit: host.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(ended) != sessions {
		t.Errorf("%d sessions expired in the store, want %d", len(ended), sessions)
	}
	st, err := h.db.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total := st.Pending + st.Done + st.Dead; total < 2*sessions {
		t.Errorf("%d outbox items, want at least the %d closings and notices", total, 2*sessions)
	}
	h.waitFor("the first bot notice", func() bool { return h.bot.count("u0000", engine.PayloadExpired) == 1 })
}
