package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// backlog measures what one outbox item costs the store — claimed, then
// completed — with n items pending in other queues, for each n of
// Options.Backlogs: the cost must not grow with the backlog (issue 12,
// point 2). It runs on the store in process, as the engine's dispatcher
// uses it.
func (h *harness) backlog(ctx context.Context) error {
	var first float64
	for _, n := range h.opts.Backlogs {
		dir, err := h.newDir(fmt.Sprintf("backlog-%d", n))
		if err != nil {
			return err
		}
		db, err := sqlite.Open(filepath.Join(dir, "livechat.db"), sqlite.Options{Synchronous: h.opts.Synchronous})
		if err != nil {
			return err
		}
		perItem, err := h.backlogOf(ctx, db, n)
		db.Close()
		if err != nil {
			return err
		}
		if first == 0 {
			first = perItem
		}
		h.rep.add(Figure{Section: "backlog", Name: fmt.Sprintf("claim + complete, %d pending", n), Value: perItem, Unit: "µs/item",
			Target: "flat within 2×", Note: fmt.Sprintf("%.2f× the smallest backlog", perItem/first)})
		h.logf("backlog %d: %.0f µs per item", n, perItem)
	}
	return nil
}

// backlogOf fills db with n pending items, one queue each, then times
// claiming and completing BacklogItems of them, one at a time.
func (h *harness) backlogOf(ctx context.Context, db *sqlite.DB, n int) (float64, error) {
	const chunk = 10_000
	for from := 0; from < n; from += chunk {
		err := db.Tx(ctx, func(tx host.Tx) error {
			for i := from; i < min(from+chunk, n); i++ {
				if err := tx.Enqueue(&host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: fmt.Sprintf("q%d", i),
					Kind: host.KindProviderSend, Payload: []byte(`{"message_id":"m","payload":{"content_type":"text","content":{"text":"hello"}}}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("fill the backlog: %w", err)
		}
	}
	items := min(h.opts.BacklogItems, n)
	now := time.Now().Add(time.Minute)
	began := time.Now()
	for range items {
		got, err := db.ClaimDue(ctx, now, 1)
		if err != nil || len(got) != 1 {
			return 0, fmt.Errorf("claim: %d items, %v", len(got), err)
		}
		if err := db.Complete(ctx, got[0]); err != nil {
			return 0, fmt.Errorf("complete: %w", err)
		}
	}
	return float64(time.Since(began).Microseconds()) / float64(items), nil
}
