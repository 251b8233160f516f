package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/livechatd/livechatd/host"
)

// Group commit: SQLite has one writer, and a commit costs far more than
// the few rows a transaction of the engine writes. Transactions asked for
// while another batch commits wait together, then run one after the other
// inside one SQLite transaction — each within a savepoint, so one that
// fails is rolled back alone — and commit together. Every caller still
// returns only after its own work is committed: durability is unchanged,
// and the batch behaves as if its transactions had run one after the other.
//
// There is no committer goroutine: the caller that finds no batch running
// leads one, committing what is queued, then hands the lead to the first
// caller that queued meanwhile.

// maxBatch bounds the transactions committed together.
const maxBatch = 256

// txReq is one Tx, or one Record, waiting to run.
type txReq struct {
	ctx  context.Context
	fn   func(host.Tx) error
	rec  *host.Record     // instead of fn: written with the batch's other records
	done *host.OutboxItem // instead of fn: completed with the batch's other completions
	lead chan struct{}    // closed when this caller is to lead the next batch
	over chan struct{}    // closed when the outcome is known

	err      error
	panicked any  // what fn panicked with, re-panicked in the caller
	recorded bool // rec was written (false: its request was recorded before)
}

// committer queues transactions for the next batch.
type committer struct {
	mu      sync.Mutex
	pending []*txReq
	running bool // a leader is committing a batch
}

// Tx implements host.Store.
func (db *DB) Tx(ctx context.Context, fn func(host.Tx) error) error {
	r := &txReq{ctx: ctx, fn: fn}
	db.submit(r)
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// submit queues r for the next batch and returns when its outcome is
// known, leading batches meanwhile when its turn comes.
func (db *DB) submit(r *txReq) {
	r.lead, r.over = make(chan struct{}), make(chan struct{})
	c := &db.commits
	c.mu.Lock()
	c.pending = append(c.pending, r)
	leader := !c.running
	c.running = true
	c.mu.Unlock()
	if !leader {
		select {
		case <-r.over:
		case <-r.lead:
			db.lead()
		}
	} else {
		db.lead()
	}
	<-r.over
}

// lead commits the queued transactions as one batch, then hands the lead
// to the first caller queued meanwhile, or ends the run.
func (db *DB) lead() {
	c := &db.commits
	c.mu.Lock()
	n := min(len(c.pending), maxBatch)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.mu.Unlock()

	db.runBatch(batch)
	// The writer's connection is free: prepare what the batch ran
	// unprepared, for the next ones.
	db.wstmts.prepareWanted(context.Background())

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.running = false
		return
	}
	close(c.pending[0].lead)
}

// runBatch runs and commits a batch, and tells each caller its outcome.
func (db *DB) runBatch(batch []*txReq) {
	defer func() {
		for _, r := range batch {
			close(r.over)
		}
	}()
	if len(batch) == 1 && batch[0].fn != nil {
		r := batch[0]
		r.panicked, r.err = db.txAlone(r.ctx, r.fn)
		return
	}
	// The batch's statements run on a context of their own: a caller
	// that gives up must not interrupt SQLite in the middle of the others'
	// work (an interrupted write rolls the whole transaction back). A
	// caller whose context ended before its turn is skipped.
	bg := context.Background()
	sqlTx, err := db.w.BeginTx(bg, nil) // BEGIN IMMEDIATE: see _txlock in Open
	if err != nil {
		for _, r := range batch {
			r.err = dbError("begin", err)
		}
		return
	}
	defer sqlTx.Rollback() // a no-op after Commit
	var committed []*txReq
	enqueued := false
	// Records and completions run together, in multi-row statements, where
	// they stand in the batch: the ones queued before a Tx are written
	// before it runs.
	var records, completions []*txReq
	flush := func() {
		w := writeTx{sqlTx, db.wstmts}
		db.writeRecords(bg, w, records)
		db.writeCompletions(bg, w, completions)
		for _, r := range append(records, completions...) {
			if r.err == nil {
				committed = append(committed, r)
			}
		}
		records, completions = records[:0], completions[:0]
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = dbError("begin", err)
			continue
		}
		if r.rec != nil {
			records = append(records, r)
			continue
		}
		if r.done != nil {
			completions = append(completions, r)
			continue
		}
		flush()
		if _, err := sqlTx.ExecContext(bg, "SAVEPOINT item"); err != nil {
			abort(batch[i:], committed, dbError("savepoint", err))
			return
		}
		t := &tx{ctx: bg, tx: writeTx{sqlTx, db.wstmts}, now: db.now()}
		r.panicked, r.err = run(r.fn, t)
		if r.err != nil || r.panicked != nil {
			// Undo this transaction's writes only. Should SQLite have
			// rolled the whole transaction back itself (a full disk),
			// the savepoint is gone and nothing of the batch is kept.
			if _, err := sqlTx.ExecContext(bg, "ROLLBACK TO item"); err != nil {
				abort(batch[i+1:], committed, dbError("rollback", err))
				return
			}
		}
		if _, err := sqlTx.ExecContext(bg, "RELEASE item"); err != nil {
			abort(batch[i+1:], committed, dbError("release", err))
			return
		}
		if r.err == nil && r.panicked == nil {
			committed = append(committed, r)
			enqueued = enqueued || t.enqueued
		}
	}
	flush()
	if err := sqlTx.Commit(); err != nil {
		for _, r := range committed {
			r.err = dbError("commit", err)
		}
		return
	}
	if enqueued {
		db.signal()
	}
}

// abort fails the transactions of a batch that cannot go on: those not run
// yet and those run so far, whose work is rolled back with the batch.
func abort(notRun, ran []*txReq, err error) {
	for _, r := range notRun {
		r.err = err
	}
	for _, r := range ran {
		r.err = fmt.Errorf("rolled back with its batch: %w", err)
	}
}

// txAlone runs fn in a transaction of its own, tied to ctx.
func (db *DB) txAlone(ctx context.Context, fn func(host.Tx) error) (panicked any, err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see _txlock in Open
	if err != nil {
		return nil, dbError("begin", err)
	}
	defer sqlTx.Rollback() // also on panic; a no-op after Commit

	t := &tx{ctx: ctx, tx: writeTx{sqlTx, db.wstmts}, now: db.now()}
	if p, err := run(fn, t); err != nil || p != nil {
		return p, err
	}
	if err := sqlTx.Commit(); err != nil {
		if ctx.Err() != nil {
			// database/sql rolled back when ctx ended; say why.
			return nil, fmt.Errorf("commit: %w", ctx.Err())
		}
		return nil, dbError("commit", err)
	}
	if t.enqueued {
		db.signal()
	}
	return nil, nil
}

// run calls fn, turning a panic into a value for its caller to re-panic.
func run(fn func(host.Tx) error, t *tx) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(t)
}
