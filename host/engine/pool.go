package engine

import (
	"runtime/debug"
	"sync"

	"github.com/livechatd/livechatd/host"
)

// pool is the outbox's workers (Options.Workers of them). Two hands give
// them work: the dispatcher, with what ClaimDue claimed, and — on a store
// that is a host.Preclaimer — the store itself, with an item it claimed in
// the transaction that enqueued it, straight after that commit. Either
// reserves a worker first, so there are never more items running than
// workers.
type pool struct {
	e    *Engine
	size int

	mu     sync.Mutex
	busy   int  // workers reserved or running
	closed bool // Close began: nothing more is reserved
	idle   sync.Cond
}

var _ host.Workers = (*pool)(nil)

func newPool(e *Engine, size int) *pool {
	p := &pool{e: e, size: size}
	p.idle.L = &p.mu
	return p
}

// Reserve implements host.Workers: it takes a free worker, if any.
func (p *pool) Reserve() bool { return p.reserve(1) == 1 }

// reserve takes up to n free workers and returns how many it took.
func (p *pool) reserve(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	n = min(n, p.size-p.busy)
	p.busy += n
	return n
}

// Unreserve implements host.Workers: a worker reserved for an item whose
// claim did not commit is free again, which the dispatcher hears.
func (p *pool) Unreserve() {
	p.unreserve(1)
	p.e.wake()
}

// unreserve frees n reserved workers without waking the dispatcher (for
// the dispatcher's own leftovers).
func (p *pool) unreserve(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	p.busy -= n
	p.idle.Broadcast()
	p.mu.Unlock()
}

// Take implements host.Workers: it runs a claimed item on a worker
// reserved for it. It never blocks.
func (p *pool) Take(it *host.OutboxItem) {
	go p.run(it)
}

// run works on it, and on the next item of its queue when completing it
// claimed that (host.NextClaimer), then frees its worker and wakes the
// dispatcher: a queue may have a next head now, and a worker is free.
func (p *pool) run(it *host.OutboxItem) {
	defer func() {
		p.unreserve(1)
		p.e.wake()
	}()
	defer func() {
		if r := recover(); r != nil { // the lease brings the item back
			p.e.log.Error("panic in outbox worker", "key", it.Key, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	for it != nil {
		it = p.e.work(p.e.workCtx, it)
	}
}

// close stops reservations: once Close began, no new work starts.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// wait returns when no worker is reserved or running.
func (p *pool) wait() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.busy > 0 {
		p.idle.Wait()
	}
}
