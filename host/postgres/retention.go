package postgres

import (
	"context"
	"time"

	"github.com/livechatd/livechatd/host"
)

// The retention job's deletes (host/retention). Each removes at most limit
// rows older than a cutoff, oldest first, in its own short transaction;
// the subquery reads an index of the age, so a batch costs the rows it
// deletes.

// DeleteDoneWork deletes up to limit done outbox items finished before
// before. Pending items are never deleted.
func (db *DB) DeleteDoneWork(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete done work", `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE state = 'done' AND updated_at < $1 ORDER BY updated_at LIMIT $2)`, before, limit)
}

// DeleteDeadLetters deletes up to limit dead outbox items given up on
// before before.
func (db *DB) DeleteDeadLetters(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete dead letters", `DELETE FROM outbox WHERE id IN (
		SELECT id FROM outbox WHERE state = 'dead' AND updated_at < $1 ORDER BY updated_at LIMIT $2)`, before, limit)
}

// DeleteProcessedEvents forgets up to limit webhook event ids recorded
// before before: a replay of one of them would be handled again.
func (db *DB) DeleteProcessedEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete processed events", `DELETE FROM processed_events WHERE (scope, event_id) IN (
		SELECT scope, event_id FROM processed_events WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, before, limit)
}

// DeleteRequests forgets up to limit request records made before before: a
// retry of one of them would be handled as a new request.
func (db *DB) DeleteRequests(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete requests", `DELETE FROM requests WHERE (bot, user_id, request_id) IN (
		SELECT bot, user_id, request_id FROM requests WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, before, limit)
}

// DeleteTranscripts deletes up to limit messages written before before that
// are outside sessions or belong to a session closed before before. The
// messages of open sessions are never deleted; sessions themselves stay.
func (db *DB) DeleteTranscripts(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete transcripts", `DELETE FROM messages WHERE seq IN (
		SELECT m.seq FROM messages m LEFT JOIN sessions s ON s.id = m.session_id
		WHERE m.created_at < $1
			AND (m.session_id IS NULL OR (s.state NOT IN ('starting', 'active') AND s.ended_at < $1))
		ORDER BY m.created_at LIMIT $2)`, before, limit)
}

// DeleteStreamEntries deletes up to limit webchat stream entries written
// before before.
func (db *DB) DeleteStreamEntries(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete stream entries", `DELETE FROM webchat_stream WHERE seq IN (
		SELECT seq FROM webchat_stream WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, before, limit)
}

// deleteBatch runs one delete of query, whose parameters are the cutoff and
// the limit, and returns how many rows it removed.
func (db *DB) deleteBatch(ctx context.Context, what, query string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, &host.Error{Code: host.EINVALID, Field: "limit", Message: "retention batch must be positive"}
	}
	tag, err := db.pool.Exec(ctx, query, ms(before), limit)
	if err != nil {
		return 0, dbError(what, err)
	}
	return int(tag.RowsAffected()), nil
}
