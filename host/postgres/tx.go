package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/livechatd/livechatd/host"
)

// maxAttempts bounds how often a transaction is run when PostgreSQL
// rolls it back for a deadlock or a serialization failure.
const maxAttempts = 5

// Tx implements host.Store. Each call is one READ COMMITTED transaction
// on a pooled connection. When PostgreSQL rolls it back as a deadlock
// victim, fn runs again (at most maxAttempts times in all): nothing of the
// earlier run was committed.
func (db *DB) Tx(ctx context.Context, fn func(host.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = db.txOnce(ctx, fn)
		if !retry || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (db *DB) txOnce(ctx context.Context, fn func(host.Tx) error) (retry bool, err error) {
	pgTx, err := db.pool.Begin(ctx)
	if err != nil {
		return false, dbError("begin", err)
	}
	defer pgTx.Rollback(context.Background()) // also on panic; a no-op after Commit
	t := &tx{ctx: ctx, tx: pgTx, db: db, now: db.now()}
	err = fn(t)
	if t.broken != nil && retryable(t.broken) {
		return true, dbError("transaction", t.broken)
	}
	if err != nil {
		return false, err
	}
	if t.broken != nil {
		// fn went on after an internal error: nothing is committed.
		return false, dbError("transaction", t.broken)
	}
	if ctx.Err() != nil {
		return false, fmt.Errorf("commit: %w", ctx.Err())
	}
	if err := pgTx.Commit(ctx); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("commit: %w", ctx.Err())
		}
		return retryable(err), dbError("commit", err)
	}
	if t.enqueued {
		db.signal()
		db.notifyOthers()
	}
	return false, nil
}

// tx implements host.Tx. Every time it sets is the one read when the
// transaction began, so a transaction's rows agree with each other.
type tx struct {
	ctx      context.Context
	tx       pgx.Tx
	db       *DB
	now      time.Time
	enqueued bool
	// broken is the first error of a statement that failed: PostgreSQL
	// has aborted the transaction, and it cannot commit.
	broken error
}

var _ host.Tx = (*tx)(nil)

func (t *tx) fail(err error) error {
	if err != nil && t.broken == nil && !errors.Is(err, pgx.ErrNoRows) {
		t.broken = err
	}
	return err
}

func (t *tx) exec(query string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.tx.Exec(t.ctx, query, args...)
	return tag, t.fail(err)
}

func (t *tx) queryRow(query string, args ...any) pgx.Row {
	return txRow{t: t, row: t.tx.QueryRow(t.ctx, query, args...)}
}

func (t *tx) query(query string, args ...any) (pgx.Rows, error) {
	rows, err := t.tx.Query(t.ctx, query, args...)
	if err != nil {
		return nil, t.fail(err)
	}
	return txRows{Rows: rows, t: t}, nil
}

// txRows notes the error of a query's rows in its transaction.
type txRows struct {
	pgx.Rows
	t *tx
}

func (r txRows) Err() error { return r.t.fail(r.Rows.Err()) }

// txRow notes the error of a row's query in its transaction.
type txRow struct {
	t   *tx
	row pgx.Row
}

func (r txRow) Scan(dest ...any) error { return r.t.fail(r.row.Scan(dest...)) }

// querier is what the pool and a transaction share, so reads run the same
// inside and outside a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txQuerier runs a querier's reads in t, noting failures.
type txQuerier struct{ t *tx }

func (q txQuerier) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	return q.t.query(sql, args...)
}

func (q txQuerier) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	return q.t.queryRow(sql, args...)
}
