package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/prometheus/client_golang/prometheus"
)

// countingOutbox answers OutboxCounts with st or err and counts the calls.
type countingOutbox struct {
	st    host.OutboxStats
	err   error
	calls atomic.Int32
}

func (c *countingOutbox) OutboxCounts(context.Context) (host.OutboxStats, error) {
	c.calls.Add(1)
	return c.st, c.err
}

// outboxItems gathers reg and returns livechat_outbox_items by state.
func outboxItems(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "livechat_outbox_items" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestOutboxGaugesOneQueryPerScrape checks that a scrape shows both states
// from a single count (two gauges used to count the whole outbox each).
func TestOutboxGaugesOneQueryPerScrape(t *testing.T) {
	store := &countingOutbox{st: host.OutboxStats{Pending: 3, Dead: 2, Done: 1000}}
	reg := prometheus.NewRegistry()
	RegisterOutboxGauges(reg, store)

	for scrape := int32(1); scrape <= 2; scrape++ {
		got := outboxItems(t, reg)
		if len(got) != 2 || got["pending"] != 3 || got["dead"] != 2 {
			t.Errorf("scrape %d: livechat_outbox_items = %v, want pending 3 and dead 2 only", scrape, got)
		}
		if n := store.calls.Load(); n != scrape {
			t.Errorf("after %d scrapes, %d counts; want one per scrape", scrape, n)
		}
	}

	store.err = errors.New("database is locked")
	if got := outboxItems(t, reg); got["pending"] != -1 || got["dead"] != -1 {
		t.Errorf("unreadable store: livechat_outbox_items = %v, want -1 for both", got)
	}
}
