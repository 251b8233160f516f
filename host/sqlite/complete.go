package sqlite

import (
	"context"
	"strings"

	"github.com/livechatd/livechatd/host"
)

// Batched completions: every outbox item's work ends with Complete, two per
// user message on the livechat path (its send, the agent's answer's
// delivery). As a Tx each cost a savepoint and three statements (the
// update under the claim, the queue's next head, its update); queued with
// group commit, the completions of a batch take one UPDATE … FROM (VALUES
// …) and two statements for all their queues' heads.

// writeCompletions completes the items of cs inside the batch's
// transaction t, setting each one's outcome. An item its claim no longer
// holds (a stale lease, a finished item) gets the error finish gives it.
func (db *DB) writeCompletions(ctx context.Context, t writeTx, cs []*txReq) {
	if len(cs) == 0 {
		return
	}
	if _, err := t.ExecContext(ctx, "SAVEPOINT completions"); err != nil {
		for _, r := range cs {
			r.err = dbError("savepoint", err)
		}
		return
	}
	if err := db.completeAll(ctx, t, cs); err != nil {
		for _, r := range cs {
			r.err = err
		}
		if _, err := t.ExecContext(ctx, "ROLLBACK TO completions"); err != nil {
			return // the whole transaction is gone: the commit says so
		}
	}
	if _, err := t.ExecContext(ctx, "RELEASE completions"); err != nil {
		for _, r := range cs {
			r.err = dbError("release", err)
		}
	}
}

func (db *DB) completeAll(ctx context.Context, t writeTx, cs []*txReq) error {
	now := db.now().UnixMilli()
	done := map[int64]string{} // id → queue of the items completed
	for chunk := range chunks(cs) {
		args := make([]any, 0, 2*len(chunk)+1)
		args = append(args, now)
		for _, r := range chunk {
			args = append(args, r.done.ID, r.done.Claim)
		}
		rows, err := t.QueryContext(ctx, completeMany(len(chunk)), args...)
		if err != nil {
			return dbError("complete", err)
		}
		for rows.Next() {
			var id int64
			var queue string
			if err := rows.Scan(&id, &queue); err != nil {
				rows.Close()
				return dbError("complete", err)
			}
			done[id] = queue
		}
		if err := rows.Close(); err != nil {
			return dbError("complete", err)
		}
		if err := rows.Err(); err != nil {
			return dbError("complete", err)
		}
	}
	var queues []string
	for _, r := range cs {
		q, ok := done[r.done.ID]
		if ok {
			queues = append(queues, q) // one item per queue is claimed at a time
			continue
		}
		// Not completed by the batch: say why, as Complete alone would.
		r.err = finishIn(ctx, t, r.done, host.OutboxDone, advanceHead, completeQuery, now, r.done.ID, r.done.Claim)
	}
	for chunk := range chunks(queues) {
		args := make([]any, len(chunk))
		for i, q := range chunk {
			args[i] = q
		}
		if _, err := t.ExecContext(ctx, advanceHeads(len(chunk)), args...); err != nil {
			return dbError("update outbox queue", err)
		}
		if _, err := t.ExecContext(ctx, dropEmptyQueues(len(chunk)), args...); err != nil {
			return dbError("update outbox queue", err)
		}
	}
	return nil
}

var (
	// completeMany completes the (id, claim token) pairs still pending
	// under their claim; the first argument is the time.
	completeMany = multiRow(`UPDATE outbox SET state = 'done', claimed_until = 0, updated_at = ?1
		FROM (VALUES `, 2, `) AS v WHERE outbox.id = v.column1 AND outbox.claim_token = v.column2 AND outbox.state = 'pending'
		RETURNING outbox.id, outbox.queue`)
	// advanceHeads makes each queue's next pending item its head (headQuery
	// for each); dropEmptyQueues then drops the queues left without one.
	advanceHeads = inList(`UPDATE outbox_queues
		SET (head_id, due_at) = (SELECT id, next_attempt_at FROM outbox
			WHERE state = 'pending' AND queue = outbox_queues.queue ORDER BY id LIMIT 1)
		WHERE queue IN `, ` AND EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND queue = outbox_queues.queue)`)
	dropEmptyQueues = inList(`DELETE FROM outbox_queues WHERE queue IN `,
		` AND NOT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending' AND queue = outbox_queues.queue)`)
)

// inList is multiRow for a list of single values: head + "(?, ?, …)" +
// tail.
func inList(head, tail string) func(n int) string {
	return bySize(func(n int) string {
		return head + "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" + tail
	})
}
