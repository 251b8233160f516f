package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/postgres"
)

// Regression (make bench, 3 replicas): a claim that locked a queue whose
// head had just changed to an item committed after the claim's snapshot
// claimed nothing, yet pushed the queue's due time to the lease's end —
// the queue then stood still for the lease (2 minutes). Replicas enqueue,
// claim and complete on shared queues; once enqueuing stops, every item
// must be done well within the lease.
func TestClaimNeverStallsAQueue(t *testing.T) {
	dbs, _ := replicas(t, 3, postgres.Options{Lease: time.Minute})
	const queues = 4
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var enqueued, done atomic.Int64
	const perReplica = 500
	var wg sync.WaitGroup
	for r, db := range dbs {
		// A producer per replica: items into the shared queues.
		wg.Go(func() {
			for i := range perReplica {
				o := &host.OutboxItem{Key: fmt.Sprintf("r%d-%d", r, i), Queue: fmt.Sprintf("q%d", i%queues), Kind: host.KindProviderSend}
				if err := db.Tx(ctx, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
					t.Errorf("enqueue: %v", err)
					return
				}
				enqueued.Add(1)
			}
		})
	}
	var workers sync.WaitGroup
	stop := make(chan struct{})
	for _, db := range dbs {
		// Two workers per replica: claim, complete at once.
		for range 2 {
			workers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					items, err := db.ClaimDue(ctx, time.Now(), 4)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("claim: %v", err)
						}
						return
					}
					for _, it := range items {
						if err := db.Complete(ctx, it); err != nil {
							t.Errorf("complete %d: %v", it.ID, err)
							return
						}
						done.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	stalled := !until(10*time.Second, func() bool { return done.Load() == enqueued.Load() })
	close(stop)
	workers.Wait()
	st, err := dbs[0].OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d items enqueued by 3 replicas into %d queues, %d done; %d pending", enqueued.Load(), queues, done.Load(), st.Pending)
	if stalled || st.Pending != 0 {
		at, ok, _ := dbs[0].NextDue(context.Background())
		t.Errorf("%d items still pending 10 s after the load (next due %v, %v from now): a queue stalls", st.Pending, ok, time.Until(at).Round(time.Millisecond))
	}
}
