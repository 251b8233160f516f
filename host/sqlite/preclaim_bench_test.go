package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/host"
)

// anyWorkers is a host.Workers that always has a worker free and leaves
// the items taken to their enqueuer (which has the claim).
type anyWorkers struct{}

func (anyWorkers) Reserve() bool            { return true }
func (anyWorkers) Unreserve()               {}
func (anyWorkers) Take(it *host.OutboxItem) {}

// BenchmarkOutboxRoundTrip is an outbox item's life on the livechat path,
// 32 callers at once, each on a queue of its own (a conversation waiting
// for its answer): enqueued in a transaction, claimed, completed. With
// the dispatcher, the claim is a write of its own (ClaimDue); preclaimed,
// the enqueuing transaction claims it (host.Preclaimer).
func BenchmarkOutboxRoundTrip(b *testing.B) {
	for _, mode := range []string{"dispatcher", "preclaim"} {
		b.Run(mode, func(b *testing.B) {
			db, _ := openDB(b)
			if mode == "preclaim" {
				db.HandOff(anyWorkers{})
			}
			ctx := context.Background()
			b.SetParallelism(16) // 32 callers on 2 cores
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				q := fmt.Sprintf("q%d", n.Add(1))
				for pb.Next() {
					o := &host.OutboxItem{Key: fmt.Sprintf("k%d", n.Add(1)), Queue: q, Kind: host.KindChannelDelivery, Payload: payload("hello")}
					if err := db.Tx(ctx, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
						b.Fatal(err)
					}
					it := o
					if o.Claim == "" {
						items, err := db.ClaimDue(ctx, db.Now(), 1)
						if err != nil {
							b.Fatal(err)
						}
						if len(items) == 0 {
							continue // another caller claimed it; it completes it
						}
						it = items[0]
					}
					if err := db.Complete(ctx, it); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
