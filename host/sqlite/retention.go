package sqlite

import (
	"context"
	"time"

	"github.com/livechatd/livechatd/host"
)

// The retention job's deletes (host/retention). Each removes at most limit
// rows older than a cutoff, oldest first, in its own short write
// transaction: the subquery is a range scan of an index of migration 0003
// (checked in retention_test.go), so a batch costs the rows it deletes,
// and the single writer is free again between batches.
const (
	deleteDoneWorkQuery = `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE state = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?)`
	deleteDeadLettersQuery = `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE state = 'dead' AND updated_at < ? ORDER BY updated_at LIMIT ?)`
	deleteProcessedEventsQuery = `DELETE FROM processed_events WHERE (scope, event_id) IN (
		SELECT scope, event_id FROM processed_events WHERE created_at < ? ORDER BY created_at LIMIT ?)`
	deleteRequestsQuery = `DELETE FROM requests WHERE (bot, user_id, request_id) IN (
		SELECT bot, user_id, request_id FROM requests WHERE created_at < ? ORDER BY created_at LIMIT ?)`
	deleteStreamQuery = `DELETE FROM webchat_stream WHERE seq IN (
		SELECT seq FROM webchat_stream WHERE created_at < ? ORDER BY created_at LIMIT ?)`
	// A message goes once it is old enough and, when it belongs to a
	// session, that session has been closed for as long: an open session's
	// messages stay whatever their age.
	deleteTranscriptsQuery = `DELETE FROM messages WHERE seq IN (
		SELECT m.seq FROM messages m LEFT JOIN sessions s ON s.id = m.session_id
		WHERE m.created_at < ?1
			AND (m.session_id IS NULL OR (s.state NOT IN ('starting', 'active') AND s.ended_at < ?1))
		ORDER BY m.created_at LIMIT ?2)`

	// outboxCountsQuery counts pending and dead items, each from its own
	// range of an index (outbox_queue, outbox_due or outbox_dead), never
	// reading a done item.
	outboxCountsQuery = `SELECT
		(SELECT COUNT(*) FROM outbox WHERE state = 'pending'),
		(SELECT COUNT(*) FROM outbox WHERE state = 'dead')`
)

// DeleteDoneWork deletes up to limit done outbox items finished before
// before. Pending items are never deleted.
func (db *DB) DeleteDoneWork(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete done work", deleteDoneWorkQuery, before, limit)
}

// DeleteDeadLetters deletes up to limit dead outbox items given up on
// before before.
func (db *DB) DeleteDeadLetters(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete dead letters", deleteDeadLettersQuery, before, limit)
}

// DeleteProcessedEvents forgets up to limit webhook event ids recorded
// before before: a replay of one of them would be handled again.
func (db *DB) DeleteProcessedEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete processed events", deleteProcessedEventsQuery, before, limit)
}

// DeleteRequests forgets up to limit request records made before before: a
// retry of one of them would be handled as a new request.
func (db *DB) DeleteRequests(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete requests", deleteRequestsQuery, before, limit)
}

// DeleteTranscripts deletes up to limit messages written before before that
// are outside sessions or belong to a session closed before before. The
// messages of open sessions are never deleted; sessions themselves stay.
func (db *DB) DeleteTranscripts(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete transcripts", deleteTranscriptsQuery, before, limit)
}

// DeleteStreamEntries deletes up to limit webchat stream entries written
// before before.
func (db *DB) DeleteStreamEntries(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete stream entries", deleteStreamQuery, before, limit)
}

// deleteBatch runs one delete of query, whose parameters are the cutoff and
// the limit, as one write transaction, and returns how many rows it
// removed.
func (db *DB) deleteBatch(ctx context.Context, what, query string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, &host.Error{Code: host.EINVALID, Field: "limit", Message: "retention batch must be positive"}
	}
	res, err := db.w.ExecContext(ctx, query, before.UnixMilli(), limit)
	if err != nil {
		return 0, dbError(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbError(what, err)
	}
	return int(n), nil
}

// OutboxCounts counts pending and dead outbox items, for metrics; Done is
// left 0. Unlike OutboxStats it reads only those two states' ranges of the
// outbox's indexes, never a done item, so its cost does not grow with the
// work done (which the retention job deletes anyway).
func (db *DB) OutboxCounts(ctx context.Context) (host.OutboxStats, error) {
	var st host.OutboxStats
	if err := db.rq.QueryRowContext(ctx, outboxCountsQuery).Scan(&st.Pending, &st.Dead); err != nil {
		return host.OutboxStats{}, dbError("outbox counts", err)
	}
	return st, nil
}
