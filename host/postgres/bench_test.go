package postgres_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/internal/pgtest"
	"github.com/livechatd/livechatd/host/postgres"
)

// The benchmarks of host/sqlite's bot path and claims, on PostgreSQL, to
// set the two stores side by side. The test server runs with fsync off:
// the figures are the store's CPU and round trips, not a disk's.

func benchStore(b *testing.B) *postgres.DB {
	b.Helper()
	db, err := postgres.Open(bg, pgtest.Database(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func payload(text string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"content_type":"text","content":{"text":%q}}`, text))
}

func exchange(user, reqID string) *host.Record {
	return &host.Record{
		Messages: []*host.Message{
			{Bot: "shop", UserID: user, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("hi")},
			{Bot: "shop", UserID: user, Direction: host.DirectionOut, Author: host.AuthorBot, Payload: payload("bot: hello")},
		},
		Request: &host.Request{Bot: "shop", UserID: user, ID: reqID, BodyHash: "h", Response: json.RawMessage(`{"messages":[]}`)},
	}
}

// BenchmarkBotPathWrite: Record under 32 concurrent events, as
// host/sqlite's benchmark of the same name.
func BenchmarkBotPathWrite(b *testing.B) {
	db := benchStore(b)
	var seq atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if ok, err := db.Record(bg, exchange(fmt.Sprintf("u%d", n%1000), fmt.Sprintf("r%d", n))); !ok || err != nil {
				b.Error(ok, err)
			}
		}
	})
}

// BenchmarkClaimWithBacklog claims and completes one item at a time out of
// a backlog of pending items, one queue each, as host/sqlite's benchmark
// of the same name: the cost of an item must not grow with the backlog.
func BenchmarkClaimWithBacklog(b *testing.B) {
	for _, backlog := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			db := benchStore(b)
			fill := func(from, n int) {
				err := db.Tx(bg, func(tx host.Tx) error {
					for i := from; i < from+n; i++ {
						if err := tx.Enqueue(&host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: fmt.Sprintf("q%d", i),
							Kind: host.KindProviderSend, Payload: payload("hello")}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < backlog; i += 1000 {
				fill(i, min(1000, backlog-i))
			}
			next := backlog
			now := time.Now().Add(time.Hour)
			b.ResetTimer()
			for b.Loop() {
				items, err := db.ClaimDue(bg, now, 1)
				if err != nil || len(items) != 1 {
					b.Fatalf("ClaimDue = %d items, %v", len(items), err)
				}
				if err := db.Complete(bg, items[0]); err != nil {
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
