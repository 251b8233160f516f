package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
)

// BenchmarkWaitDue times the waiting feedback's scan: 1000 sessions due
// at once, each getting its "still waiting" message queued (the outcome
// moved to the next interval and a delivery enqueued), in batches of one
// transaction. Reported per session.
func BenchmarkWaitDue(b *testing.B) {
	const sessions = 1000
	h := newHarness(b, withWaiting(time.Minute, time.Hour))
	ctx := context.Background()
	var ids []string
	err := h.db.Tx(ctx, func(tx host.Tx) error {
		for i := range sessions {
			s := &host.Session{Bot: "shop", UserID: fmt.Sprintf("u%04d", i), Provider: "fake", State: host.SessionActive,
				ProviderRef: fmt.Sprintf("T%d", i), ExpiresAt: h.clock.Now().Add(24 * time.Hour)}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
			ids = append(ids, s.ID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		now := h.clock.Now()
		err := h.db.Tx(ctx, func(tx host.Tx) error {
			for _, id := range ids {
				if err := tx.PutOutcome(&host.Outcome{SessionID: id, Bot: "shop", Provider: "fake", StartedAt: now, WaitDueAt: now}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := h.eng.WaitDue(ctx)
		if err != nil || n != sessions {
			b.Fatalf("WaitDue = %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*sessions), "µs/session")
}
