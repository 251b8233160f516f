package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
)

const outboxColumns = `id, idem_key, queue, kind, session_id, payload, attempts, next_attempt_at,
	last_error, state, created_at, updated_at, claim_token`

// Each queue with pending work has a row in outbox_queues naming its head
// (its lowest-ID pending item) and when that head can be claimed (due_at:
// its next attempt, or the end of its lease). Enqueue, Complete, Retry,
// Dead and Release keep it in the same transaction as the item, so a claim
// reads the due heads off an index, whatever the backlog behind them.

// claimQuery selects the due heads, the earliest first.
var claimQuery = `SELECT ` + outboxColumnsOf("o") + ` FROM outbox_queues q JOIN outbox o ON o.id = q.head_id
	WHERE q.due_at <= ? ORDER BY q.due_at, q.head_id LIMIT ?`

// nextDueQuery: when the earliest head can be claimed.
const nextDueQuery = `SELECT MIN(due_at) FROM outbox_queues`

// headQuery finds a queue's head: its lowest-ID pending item.
const headQuery = `SELECT id, next_attempt_at FROM outbox WHERE state = 'pending' AND queue = ? ORDER BY id LIMIT 1`

func outboxColumnsOf(alias string) string {
	cols := strings.Split(outboxColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// Enqueue implements host.Tx.
func (t *tx) Enqueue(o *host.OutboxItem) error {
	if err := o.Validate(); err != nil {
		return err
	}
	next := o.NextAttemptAt
	if next.IsZero() {
		next = t.now
	}
	var id int64
	err := t.tx.QueryRowContext(t.ctx, `INSERT INTO outbox (idem_key, queue, kind, session_id, payload,
			attempts, next_attempt_at, claimed_until, last_error, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, 0, '', 'pending', ?, ?)
		ON CONFLICT (idem_key) DO NOTHING
		RETURNING id`,
		o.Key, o.Queue, o.Kind, nullString(o.SessionID), jsonOrNull(o.Payload),
		next.UnixMilli(), t.now.UnixMilli(), t.now.UnixMilli()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		// The key exists: this is a repeat of work already recorded.
		stored, err := scanOutbox(t.tx.QueryRowContext(t.ctx,
			`SELECT `+outboxColumns+` FROM outbox WHERE idem_key = ?`, o.Key))
		if err != nil {
			return dbError("enqueue", err)
		}
		*o = *stored
		return nil
	}
	if err != nil {
		return dbError("enqueue", err)
	}
	// The item heads its queue unless the queue has pending work already.
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO outbox_queues (queue, head_id, due_at) VALUES (?, ?, ?)
		ON CONFLICT (queue) DO NOTHING`, o.Queue, id, next.UnixMilli()); err != nil {
		return dbError("enqueue", err)
	}
	o.ID, o.Attempts, o.NextAttemptAt, o.LastError, o.State = id, 0, next.UTC().Truncate(time.Millisecond), "", host.OutboxPending
	o.CreatedAt, o.UpdatedAt = t.now, t.now
	t.enqueued = true
	return nil
}

// ClaimDue implements host.Outbox. Like every write, it is committed
// together with the transactions that arrive beside it (see Tx).
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit int) ([]*host.OutboxItem, error) {
	var items []*host.OutboxItem
	err := db.write(ctx, func(ctx context.Context, sqlTx queryer) error {
		ms := now.UnixMilli()
		var err error
		items, err = queryOutbox(ctx, sqlTx, claimQuery, ms, host.ClampLimit(limit))
		if err != nil {
			return err
		}
		until := now.Add(db.lease).UnixMilli()
		for _, it := range items {
			it.Claim = host.NewID()
			if _, err := sqlTx.ExecContext(ctx, `UPDATE outbox SET claimed_until = ?, claim_token = ?, updated_at = ? WHERE id = ?`,
				until, it.Claim, ms, it.ID); err != nil {
				return dbError("claim", err)
			}
			if _, err := sqlTx.ExecContext(ctx, `UPDATE outbox_queues SET due_at = ? WHERE queue = ?`, until, it.Queue); err != nil {
				return dbError("claim", err)
			}
			it.UpdatedAt = time.UnixMilli(ms).UTC()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// write runs fn on the writer inside Tx, so that it shares a commit with
// the transactions beside it.
func (db *DB) write(ctx context.Context, fn func(context.Context, queryer) error) error {
	return db.Tx(ctx, func(htx host.Tx) error {
		t := htx.(*tx)
		return fn(t.ctx, t.tx)
	})
}

// ReleaseClaims implements host.Outbox.
func (db *DB) ReleaseClaims(ctx context.Context) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError("release claims", err)
	}
	defer sqlTx.Rollback()
	if _, err := sqlTx.ExecContext(ctx, `UPDATE outbox SET claimed_until = 0, claim_token = ''
		WHERE state = 'pending' AND claimed_until <> 0`); err != nil {
		return dbError("release claims", err)
	}
	if _, err := sqlTx.ExecContext(ctx, `UPDATE outbox_queues
		SET due_at = (SELECT next_attempt_at FROM outbox WHERE id = head_id)`); err != nil {
		return dbError("release claims", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return dbError("release claims", err)
	}
	return nil
}

// Complete implements host.Outbox. Completions queue with group commit's
// transactions and are written together (complete.go).
func (db *DB) Complete(ctx context.Context, it *host.OutboxItem) error {
	if it.Claim == "" {
		return unclaimed(it)
	}
	r := &txReq{ctx: ctx, done: it}
	db.submit(r)
	return r.err
}

// completeQuery completes one item under its claim, the way finish runs
// Retry, Dead and Release; writeCompletions runs it for the items its
// batched statement did not complete, to say why.
const completeQuery = `UPDATE outbox SET state = 'done', claimed_until = 0, updated_at = ?
		WHERE id = ? AND state = 'pending' AND claim_token = ? RETURNING queue`

// Retry implements host.Outbox.
func (db *DB) Retry(ctx context.Context, it *host.OutboxItem, nextAttemptAt time.Time, lastErr string) error {
	return db.finish(ctx, it, "", headDueAt(nextAttemptAt), `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
			claimed_until = 0, updated_at = ?
		WHERE id = ? AND state = 'pending' AND claim_token = ? RETURNING queue`, nextAttemptAt.UnixMilli(), lastErr, db.now().UnixMilli(), it.ID, it.Claim)
}

// Dead implements host.Outbox.
func (db *DB) Dead(ctx context.Context, it *host.OutboxItem, lastErr string) error {
	return db.finish(ctx, it, "", advanceHead, `UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?,
			claimed_until = 0, updated_at = ?
		WHERE id = ? AND state = 'pending' AND claim_token = ? RETURNING queue`, lastErr, db.now().UnixMilli(), it.ID, it.Claim)
}

// Release implements host.Outbox.
func (db *DB) Release(ctx context.Context, it *host.OutboxItem, at time.Time) error {
	return db.finish(ctx, it, "", headDueAt(at), `UPDATE outbox SET next_attempt_at = ?, claimed_until = 0, claim_token = '', updated_at = ?
		WHERE id = ? AND state = 'pending' AND claim_token = ? RETURNING queue`, at.UnixMilli(), db.now().UnixMilli(), it.ID, it.Claim)
}

// advanceHead makes the next pending item of queue its head, or drops the
// queue's row when it has none: the item that headed it is finished.
func advanceHead(ctx context.Context, sqlTx queryer, queue string) error {
	var id, next int64
	err := sqlTx.QueryRowContext(ctx, headQuery, queue).Scan(&id, &next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = sqlTx.ExecContext(ctx, `DELETE FROM outbox_queues WHERE queue = ?`, queue)
	case err == nil:
		_, err = sqlTx.ExecContext(ctx, `UPDATE outbox_queues SET head_id = ?, due_at = ? WHERE queue = ?`, id, next, queue)
	}
	return err
}

// headDueAt makes the queue's head (the item just retried or released)
// claimable at at.
func headDueAt(at time.Time) func(context.Context, queryer, string) error {
	return func(ctx context.Context, sqlTx queryer, queue string) error {
		_, err := sqlTx.ExecContext(ctx, `UPDATE outbox_queues SET due_at = ? WHERE queue = ?`, at.UnixMilli(), queue)
		return err
	}
}

// finish runs an update of a pending item under its claim (a query ending
// in RETURNING queue), then then on its queue, in one transaction. When the
// update matches nothing, the item is unknown (ENOTFOUND), already in state
// idempotent under the same claim (nil), or finished or claimed again
// otherwise (ECONFLICT): a worker whose lease ran out must not undo what
// another worker did since.
func (db *DB) finish(ctx context.Context, it *host.OutboxItem, idempotent host.OutboxState,
	then func(context.Context, queryer, string) error, query string, args ...any) error {
	if it.Claim == "" {
		return unclaimed(it)
	}
	return db.write(ctx, func(ctx context.Context, sqlTx queryer) error {
		return finishIn(ctx, sqlTx, it, idempotent, then, query, args...)
	})
}

func unclaimed(it *host.OutboxItem) error {
	return &host.Error{Code: host.EINVALID, Field: "claim", Message: fmt.Sprintf("outbox item %d was not claimed", it.ID)}
}

// finishIn is finish inside a transaction.
func finishIn(ctx context.Context, sqlTx queryer, it *host.OutboxItem, idempotent host.OutboxState,
	then func(context.Context, queryer, string) error, query string, args ...any) error {
	var queue string
	err := sqlTx.QueryRowContext(ctx, query, args...).Scan(&queue)
	if err == nil {
		if err := then(ctx, sqlTx, queue); err != nil {
			return dbError("update outbox queue", err)
		}
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dbError("update outbox", err)
	}
	var state host.OutboxState
	var token string
	err = sqlTx.QueryRowContext(ctx, `SELECT state, claim_token FROM outbox WHERE id = ?`, it.ID).Scan(&state, &token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return host.Errorf(host.ENOTFOUND, "outbox item %d not found", it.ID)
	case err != nil:
		return dbError("update outbox", err)
	case state == idempotent && token == it.Claim:
		return nil
	case state == host.OutboxPending:
		return &host.Error{Code: host.ECONFLICT, Field: "claim", Message: fmt.Sprintf("outbox item %d is claimed by another worker now", it.ID)}
	}
	return &host.Error{Code: host.ECONFLICT, Field: "state", Message: fmt.Sprintf("outbox item %d is already %s", it.ID, state)}
}

// Pending implements host.Outbox.
func (db *DB) Pending(ctx context.Context, queue string) (bool, error) {
	var pending bool
	if err := db.rq.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_queues WHERE queue = ?)`,
		queue).Scan(&pending); err != nil {
		return false, dbError("pending", err)
	}
	return pending, nil
}

// NextDue implements host.Outbox.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := db.rq.QueryRowContext(ctx, nextDueQuery).Scan(&at)
	if err != nil {
		return time.Time{}, false, dbError("next due", err)
	}
	return fromMS(at), at.Valid, nil
}

// DeadLetters implements host.Outbox.
func (db *DB) DeadLetters(ctx context.Context, limit int) ([]*host.OutboxItem, error) {
	return queryOutbox(ctx, db.rq, `SELECT `+outboxColumns+` FROM outbox
		WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT ?`, host.ClampLimit(limit))
}

// OutboxStats implements host.Outbox.
func (db *DB) OutboxStats(ctx context.Context) (host.OutboxStats, error) {
	var st host.OutboxStats
	rows, err := db.rq.QueryContext(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return st, dbError("outbox stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state host.OutboxState
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return st, dbError("outbox stats", err)
		}
		switch state {
		case host.OutboxPending:
			st.Pending = n
		case host.OutboxDone:
			st.Done = n
		case host.OutboxDead:
			st.Dead = n
		}
	}
	if err := rows.Err(); err != nil {
		return st, dbError("outbox stats", err)
	}
	return st, nil
}

func queryOutbox(ctx context.Context, q queryer, query string, args ...any) ([]*host.OutboxItem, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError("query outbox", err)
	}
	defer rows.Close()
	var out []*host.OutboxItem
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("query outbox", err)
	}
	return out, nil
}

func scanOutbox(row scanner) (*host.OutboxItem, error) {
	var (
		o                      host.OutboxItem
		session, payload       sql.NullString
		next, created, updated int64
	)
	if err := row.Scan(&o.ID, &o.Key, &o.Queue, &o.Kind, &session, &payload, &o.Attempts, &next,
		&o.LastError, &o.State, &created, &updated, &o.Claim); err != nil {
		return nil, err
	}
	o.SessionID = session.String
	if payload.Valid {
		o.Payload = []byte(payload.String)
	}
	o.NextAttemptAt = time.UnixMilli(next).UTC()
	o.CreatedAt = time.UnixMilli(created).UTC()
	o.UpdatedAt = time.UnixMilli(updated).UTC()
	return &o, nil
}
