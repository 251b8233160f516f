package sqlite_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/host"
)

// BenchmarkBotPathWrite is the bot path's write under 32 concurrent
// events: a Record (batched multi-row statements) against the same rows
// written as a Tx each (a savepoint and one statement per row in the
// group-commit batch), as the bot path wrote them before Record.
func BenchmarkBotPathWrite(b *testing.B) {
	ctx := context.Background()
	for _, mode := range []string{"record", "tx"} {
		b.Run(mode, func(b *testing.B) {
			db, _ := openDB(b)
			var seq atomic.Int64
			b.SetParallelism(16) // 32 goroutines on 2 cores
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					x := exchange(fmt.Sprintf("u%d", n%1000), fmt.Sprintf("r%d", n), "bot: hello")
					if mode == "record" {
						if ok, err := db.Record(ctx, x); !ok || err != nil {
							b.Error(ok, err)
						}
						continue
					}
					err := db.Tx(ctx, func(tx host.Tx) error {
						if _, err := tx.RecalledRequest(x.Request.Bot, x.Request.UserID, x.Request.ID); host.ErrorCode(err) != host.ENOTFOUND {
							return fmt.Errorf("recalled: %v", err)
						}
						for _, m := range x.Messages {
							if err := tx.AppendMessage(m); err != nil {
								return err
							}
						}
						return tx.RememberRequest(x.Request)
					})
					if err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
