package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

// Each queue with pending work has a row in outbox_queues naming its head
// (its lowest-id pending item) and when that head can be claimed (due_at:
// its next attempt, or the end of its lease). The row is also the queue's
// lock, always taken before the queue's items:
//
//   - Enqueue locks it (creating it when the queue was empty) before the
//     item takes its id from the sequence, and holds it to the commit, so
//     a queue's ids are in commit order: with a bare sequence, id 11 could
//     commit, be claimed and run before id 10 commits.
//   - ClaimDue locks the due rows with FOR UPDATE SKIP LOCKED: replicas
//     claiming together take different queues, and never wait.
//   - Complete, Retry, Dead and Release lock it before the item, then
//     read the queue's next head with a snapshot taken after the lock, so
//     an item enqueued meanwhile is never left without its queue's row.

const outboxColumns = `id, idem_key, queue, kind, session_id, payload, attempts, next_attempt_at,
	last_error, state, created_at, updated_at, claim_token`

// Enqueue implements host.Tx.
func (t *tx) Enqueue(o *host.OutboxItem) error {
	if err := o.Validate(); err != nil {
		return err
	}
	next := o.NextAttemptAt
	if next.IsZero() {
		next = t.now
	}
	next = ms(next)
	// A repeat of work already recorded needs no lock.
	stored, err := scanOutbox(t.queryRow(`SELECT `+outboxColumns+` FROM outbox WHERE idem_key = $1`, o.Key))
	if err == nil {
		*o = *stored
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return dbError("enqueue", err)
	}
	// Lock the queue; head 0 says this transaction made its row.
	var head int64
	if err := t.queryRow(`INSERT INTO outbox_queues (queue, head_id, due_at) VALUES ($1, 0, $2)
		ON CONFLICT (queue) DO UPDATE SET head_id = outbox_queues.head_id
		RETURNING head_id`, o.Queue, next).Scan(&head); err != nil {
		return dbError("enqueue: lock queue", err)
	}
	var payload *string
	if o.Payload != nil {
		p := string(o.Payload)
		payload = &p
	}
	var id int64
	err = t.queryRow(`INSERT INTO outbox (id, idem_key, queue, kind, session_id, payload,
			attempts, next_attempt_at, state, created_at, updated_at)
		VALUES (nextval('outbox_id'), $1, $2, $3, $4, $5, 0, $6, 'pending', $7, $7)
		ON CONFLICT (idem_key) DO NOTHING
		RETURNING id`,
		o.Key, o.Queue, string(o.Kind), nullString(o.SessionID), payload, next, t.now).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		// The same key committed by another transaction meanwhile.
		if head == 0 {
			if _, err := t.exec(`DELETE FROM outbox_queues WHERE queue = $1 AND head_id = 0`, o.Queue); err != nil {
				return dbError("enqueue", err)
			}
		}
		stored, err := scanOutbox(t.queryRow(`SELECT `+outboxColumns+` FROM outbox WHERE idem_key = $1`, o.Key))
		if err != nil {
			return dbError("enqueue", err)
		}
		*o = *stored
		return nil
	}
	if err != nil {
		return dbError("enqueue", err)
	}
	if head == 0 {
		if _, err := t.exec(`UPDATE outbox_queues SET head_id = $2, due_at = $3 WHERE queue = $1`, o.Queue, id, next); err != nil {
			return dbError("enqueue", err)
		}
	}
	o.ID, o.Attempts, o.NextAttemptAt, o.LastError, o.State, o.Claim = id, 0, next, "", host.OutboxPending, ""
	o.CreatedAt, o.UpdatedAt = t.now, t.now
	t.enqueued = true
	return nil
}

// claimQuery locks up to $2 due queue rows no other transaction holds,
// claims their heads with a fresh token each, and pushes the due time of
// the queues whose head it claimed to the lease's end $3. $1 is now, $4
// the replica.
//
// Only those queues: a queue row locked here may name a head that this
// statement's snapshot does not see (the row is read at its latest
// version once locked, and its head can have been enqueued, or made the
// head, by a transaction that committed after the statement began). Such
// a head is not claimed; had its queue been leased anyway, it would stand
// still for the whole lease. Left due, it is claimed by the next pass.
var claimQuery = `WITH heads AS (
		SELECT queue, head_id, due_at FROM outbox_queues
		WHERE due_at <= $1 AND head_id <> 0
		ORDER BY due_at, head_id
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE outbox o SET claimed_until = $3, claim_token = gen_random_uuid()::text, claimed_by = $4, updated_at = $1
		FROM heads h
		WHERE o.id = h.head_id AND o.state = 'pending'
		RETURNING ` + outboxColumnsOf("o") + `, h.due_at AS head_due_at
	), leased AS (
		UPDATE outbox_queues q SET due_at = $3 FROM claimed c WHERE q.queue = c.queue
	)
	SELECT ` + outboxColumnsOf("claimed") + `, claimed.head_due_at FROM claimed`

func outboxColumnsOf(alias string) string {
	cols := strings.Split(outboxColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// ClaimDue implements host.Outbox.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit int) ([]*host.OutboxItem, error) {
	now = ms(now)
	type claimed struct {
		it  *host.OutboxItem
		due time.Time
	}
	var out []claimed
	// One statement, committed alone: one round trip.
	err := db.retry(ctx, "claim", func() error {
		out = out[:0]
		rows, err := db.pool.Query(ctx, claimQuery, now, host.ClampLimit(limit), now.Add(db.lease), db.replica)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c claimed
			c.it, err = scanOutbox(rows, &c.due)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].due.Equal(out[j].due) {
			return out[i].due.Before(out[j].due)
		}
		return out[i].it.ID < out[j].it.ID
	})
	items := make([]*host.OutboxItem, len(out))
	for i, c := range out {
		items[i] = c.it
	}
	return items, nil
}

// write runs fn in a transaction of its own, again when PostgreSQL picks
// it as a deadlock victim.
func (db *DB) write(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	return db.retry(ctx, what, func() error { return pgx.BeginFunc(ctx, db.pool, fn) })
}

// retry runs fn, again when PostgreSQL picks it as a deadlock victim.
func (db *DB) retry(ctx context.Context, what string, fn func() error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = fn()
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	var he *host.Error
	if errors.As(err, &he) {
		return err
	}
	return dbError(what, err)
}

// ReleaseClaims implements host.Outbox for this replica: it hands back the
// claims that Options.Replica holds — those a crashed run of this replica
// left — and never another replica's, whose workers may be running them.
func (db *DB) ReleaseClaims(ctx context.Context) error {
	return db.write(ctx, "release claims", func(tx pgx.Tx) error {
		// The queues' rows first, in one order, as everywhere.
		if _, err := tx.Exec(ctx, `SELECT q.queue FROM outbox_queues q JOIN outbox o ON o.id = q.head_id
			WHERE o.state = 'pending' AND o.claimed_until IS NOT NULL AND o.claimed_by = $1
			ORDER BY q.queue FOR UPDATE OF q`, db.replica); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH released AS (
				UPDATE outbox SET claimed_until = NULL, claim_token = '', claimed_by = ''
				WHERE state = 'pending' AND claimed_until IS NOT NULL AND claimed_by = $1
				RETURNING id, next_attempt_at
			)
			UPDATE outbox_queues q SET due_at = r.next_attempt_at FROM released r WHERE q.head_id = r.id`, db.replica)
		return err
	})
}

// Complete implements host.Outbox.
func (db *DB) Complete(ctx context.Context, it *host.OutboxItem) error {
	return db.finish(ctx, it, host.OutboxDone, advanceHead(`UPDATE outbox SET state = 'done', claimed_until = NULL, updated_at = $3
		WHERE id = $1 AND state = 'pending' AND claim_token = $2`), db.now())
}

// Retry implements host.Outbox.
func (db *DB) Retry(ctx context.Context, it *host.OutboxItem, nextAttemptAt time.Time, lastErr string) error {
	return db.finish(ctx, it, "", headDueAt(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $3, last_error = $4,
			claimed_until = NULL, updated_at = $5
		WHERE id = $1 AND state = 'pending' AND claim_token = $2`), ms(nextAttemptAt), lastErr, db.now())
}

// Dead implements host.Outbox.
func (db *DB) Dead(ctx context.Context, it *host.OutboxItem, lastErr string) error {
	return db.finish(ctx, it, "", advanceHead(`UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $3,
			claimed_until = NULL, updated_at = $4
		WHERE id = $1 AND state = 'pending' AND claim_token = $2`), lastErr, db.now())
}

// Release implements host.Outbox.
func (db *DB) Release(ctx context.Context, it *host.OutboxItem, at time.Time) error {
	return db.finish(ctx, it, "", headDueAt(`UPDATE outbox SET next_attempt_at = $3, claimed_until = NULL, claim_token = '',
			claimed_by = '', updated_at = $4
		WHERE id = $1 AND state = 'pending' AND claim_token = $2`), ms(at), db.now())
}

// The statements of finish end with one row: whether the update matched,
// and the item's state and token as they were before it.
const finishResult = `
	SELECT EXISTS (SELECT 1 FROM upd), o.state, o.claim_token FROM outbox o WHERE o.id = $1`

// advanceHead runs update (an UPDATE of a pending item under its claim
// that finishes it), then makes the next pending item of its queue the
// head, or drops the queue's row when it has none. Its snapshot is taken
// after the queue's lock was granted, so it sees every item enqueued
// before.
func advanceHead(update string) string {
	return `WITH upd AS (` + update + ` RETURNING queue),
	nxt AS (
		SELECT o.id, o.next_attempt_at FROM outbox o JOIN upd ON o.queue = upd.queue
		WHERE o.state = 'pending' AND o.id <> $1 ORDER BY o.id LIMIT 1
	), adv AS (
		UPDATE outbox_queues q SET head_id = nxt.id, due_at = nxt.next_attempt_at FROM nxt, upd WHERE q.queue = upd.queue
	), gone AS (
		DELETE FROM outbox_queues q USING upd WHERE q.queue = upd.queue AND NOT EXISTS (SELECT 1 FROM nxt)
	)` + finishResult
}

// headDueAt runs update (an UPDATE of a pending item under its claim that
// hands it back until $3), and makes the queue's head — the item — due
// then.
func headDueAt(update string) string {
	return `WITH upd AS (` + update + ` RETURNING queue),
	due AS (
		UPDATE outbox_queues q SET due_at = $3 FROM upd WHERE q.queue = upd.queue
	)` + finishResult
}

// lockItemQueue locks the row of item $1's queue.
const lockItemQueue = `SELECT 1 FROM outbox_queues WHERE queue = (SELECT queue FROM outbox WHERE id = $1) FOR UPDATE`

// finish runs query ($1 the item's id, $2 its claim token, then args; see
// advanceHead and headDueAt) after locking the item's queue, both sent at
// once as one implicit transaction: one round trip. When the update
// matches nothing, the item is unknown (ENOTFOUND), already in state
// idempotent under the same claim (nil), or finished or claimed again
// otherwise (ECONFLICT): a worker whose lease ran out must not undo what
// another worker did since.
func (db *DB) finish(ctx context.Context, it *host.OutboxItem, idempotent host.OutboxState, query string, args ...any) error {
	if it.Claim == "" {
		return &host.Error{Code: host.EINVALID, Field: "claim", Message: fmt.Sprintf("outbox item %d was not claimed", it.ID)}
	}
	var (
		updated      bool
		state, token string
		err          error
	)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		b := &pgx.Batch{}
		b.Queue(lockItemQueue, it.ID)
		b.Queue(query, append([]any{it.ID, it.Claim}, args...)...).QueryRow(func(row pgx.Row) error {
			return row.Scan(&updated, &state, &token)
		})
		err = db.pool.SendBatch(ctx, b).Close()
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return host.Errorf(host.ENOTFOUND, "outbox item %d not found", it.ID)
	case err != nil:
		return dbError("update outbox", err)
	case updated:
		return nil
	case host.OutboxState(state) == idempotent && token == it.Claim:
		return nil
	case host.OutboxState(state) == host.OutboxPending:
		return &host.Error{Code: host.ECONFLICT, Field: "claim", Message: fmt.Sprintf("outbox item %d is claimed by another worker now", it.ID)}
	}
	return &host.Error{Code: host.ECONFLICT, Field: "state", Message: fmt.Sprintf("outbox item %d is already %s", it.ID, state)}
}

// Pending implements host.Outbox.
func (db *DB) Pending(ctx context.Context, queue string) (bool, error) {
	var pending bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox_queues WHERE queue = $1)`, queue).Scan(&pending); err != nil {
		return false, dbError("pending", err)
	}
	return pending, nil
}

// NextDue implements host.Outbox.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT MIN(due_at) FROM outbox_queues WHERE head_id <> 0`).Scan(&at); err != nil {
		return time.Time{}, false, dbError("next due", err)
	}
	return fromNull(at), at != nil, nil
}

// DeadLetters implements host.Outbox.
func (db *DB) DeadLetters(ctx context.Context, limit int) ([]*host.OutboxItem, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $1`, host.ClampLimit(limit))
	if err != nil {
		return nil, dbError("dead letters", err)
	}
	defer rows.Close()
	var out []*host.OutboxItem
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, dbError("dead letters", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("dead letters", err)
	}
	return out, nil
}

// OutboxStats implements host.Outbox.
func (db *DB) OutboxStats(ctx context.Context) (host.OutboxStats, error) {
	var st host.OutboxStats
	rows, err := db.pool.Query(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return st, dbError("outbox stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return st, dbError("outbox stats", err)
		}
		switch host.OutboxState(state) {
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

// OutboxCounts counts pending and dead outbox items, for metrics; Done is
// left 0. Each count reads its state's partial index only.
func (db *DB) OutboxCounts(ctx context.Context) (host.OutboxStats, error) {
	var st host.OutboxStats
	if err := db.pool.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE state = 'pending'),
		(SELECT COUNT(*) FROM outbox WHERE state = 'dead')`).Scan(&st.Pending, &st.Dead); err != nil {
		return host.OutboxStats{}, dbError("outbox counts", err)
	}
	return st, nil
}

// scanOutbox reads one row of outboxColumns, and extra columns after
// them. It returns pgx.ErrNoRows unwrapped.
func scanOutbox(row pgx.Row, extra ...any) (*host.OutboxItem, error) {
	var (
		o                      host.OutboxItem
		kind, state            string
		session, payload       *string
		next, created, updated time.Time
	)
	dest := append([]any{&o.ID, &o.Key, &o.Queue, &kind, &session, &payload, &o.Attempts, &next,
		&o.LastError, &state, &created, &updated, &o.Claim}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	o.Kind, o.State = host.OutboxKind(kind), host.OutboxState(state)
	if session != nil {
		o.SessionID = *session
	}
	if payload != nil {
		o.Payload = json.RawMessage(*payload)
	}
	o.NextAttemptAt, o.CreatedAt, o.UpdatedAt = next.UTC(), created.UTC(), updated.UTC()
	return &o, nil
}
