package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/livechatd/livechatd/host"
)

// MarkProcessed implements host.Tx.
func (t *tx) MarkProcessed(scope, eventID string) (bool, error) {
	if scope == "" || eventID == "" {
		return false, &host.Error{Code: host.EINVALID, Field: "event_id", Message: "event scope and id required"}
	}
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO processed_events (scope, event_id, created_at)
		VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, scope, eventID, t.now.UnixMilli())
	if err != nil {
		return false, dbError("mark processed", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError("mark processed", err)
	}
	return n == 1, nil
}

// RememberRequest implements host.Tx.
func (t *tx) RememberRequest(r *host.Request) error {
	if r.Bot == "" || r.UserID == "" || r.ID == "" {
		return &host.Error{Code: host.EINVALID, Field: "request_id", Message: "bot, user and request id required"}
	}
	if !json.Valid(r.Response) {
		return &host.Error{Code: host.EINVALID, Field: "response", Message: "response is not valid JSON"}
	}
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO requests (bot, user_id, request_id, body_hash, response, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.Bot, r.UserID, r.ID, r.BodyHash, string(r.Response), t.now.UnixMilli())
	if err != nil {
		return dbError("remember request", err)
	}
	return nil
}

// RecalledRequest implements host.Tx.
func (t *tx) RecalledRequest(bot, userID, id string) (*host.Request, error) {
	return recalledRequest(t.ctx, t.tx, bot, userID, id)
}

// RecalledRequest implements host.Store.
func (db *DB) RecalledRequest(ctx context.Context, bot, userID, id string) (*host.Request, error) {
	return recalledRequest(ctx, db.rq, bot, userID, id)
}

func recalledRequest(ctx context.Context, q queryer, bot, userID, id string) (*host.Request, error) {
	r := &host.Request{Bot: bot, UserID: userID, ID: id}
	var response string
	err := q.QueryRowContext(ctx, `SELECT body_hash, response FROM requests
		WHERE bot = ? AND user_id = ? AND request_id = ?`, bot, userID, id).Scan(&r.BodyHash, &response)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, host.Errorf(host.ENOTFOUND, "no request %q of user %q", id, userID)
	case err != nil:
		return nil, dbError("recall request", err)
	}
	r.Response = json.RawMessage(response)
	return r, nil
}
