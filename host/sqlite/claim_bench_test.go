package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/livechatd/livechatd/host"
)

// BenchmarkClaimWithBacklog claims and completes one item at a time out of
// a backlog of pending items, one queue each (a burst of expiries, a
// platform outage, a restart after downtime): the cost of an item must not
// grow with the backlog.
func BenchmarkClaimWithBacklog(b *testing.B) {
	for _, backlog := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			db, _ := openDB(b)
			ctx := context.Background()
			fill := func(from, n int) {
				mustTx(b, db, func(tx host.Tx) error {
					for i := from; i < from+n; i++ {
						if err := tx.Enqueue(&host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: fmt.Sprintf("q%d", i),
							Kind: host.KindProviderSend, Payload: payload("hello")}); err != nil {
							return err
						}
					}
					return nil
				})
			}
			fill(0, backlog)
			next := backlog
			b.ResetTimer()
			for b.Loop() {
				items, err := db.ClaimDue(ctx, t0, 1)
				if err != nil || len(items) != 1 {
					b.Fatalf("ClaimDue = %d items, %v", len(items), err)
				}
				if err := db.Complete(ctx, items[0]); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				fill(next, 1) // keep the backlog's size
				next++
				b.StartTimer()
			}
		})
	}
}
