package sqlite

import "github.com/livechatd/livechatd/host"

// Claims as work is enqueued (host.Preclaimer). On the livechat path every
// user message is two outbox items — its send to the platform, the
// agent's answer's delivery — and each used to be claimed by the
// dispatcher in a write of its own once its commit woke it. An item that
// heads an idle queue is claimable the moment it commits, so the
// transaction that enqueues it claims it, when the engine has a worker
// free, and the worker takes it after the commit.

var _ host.Preclaimer = (*DB)(nil)

// workersRef holds the pool HandOff gave (atomic.Pointer needs a type).
type workersRef struct{ w host.Workers }

// HandOff implements host.Preclaimer.
func (db *DB) HandOff(w host.Workers) {
	if w == nil {
		db.workers.Store(nil)
		return
	}
	db.workers.Store(&workersRef{w})
}

// handOff is the pool of the transactions beginning now, or nil.
func (db *DB) handOff() host.Workers {
	if r := db.workers.Load(); r != nil {
		return r.w
	}
	return nil
}

// preclaim is what a transaction claimed as it enqueued, for its pool.
type preclaim struct {
	w     host.Workers
	items []*host.OutboxItem
}

// give hands the items to their workers: the transaction committed.
func (p preclaim) give() {
	for _, it := range p.items {
		p.w.Take(it)
	}
}

// drop gives the reserved workers back: the claims did not commit.
func (p preclaim) drop() {
	for range p.items {
		p.w.Unreserve()
	}
}
