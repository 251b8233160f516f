package sqlite

import (
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
func (t *tx) RememberRequest(bot, requestID string, response json.RawMessage) error {
	if bot == "" || requestID == "" {
		return &host.Error{Code: host.EINVALID, Field: "request_id", Message: "bot and request id required"}
	}
	if !json.Valid(response) {
		return &host.Error{Code: host.EINVALID, Field: "response", Message: "response is not valid JSON"}
	}
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO requests (bot, request_id, response, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, bot, requestID, string(response), t.now.UnixMilli())
	if err != nil {
		return dbError("remember request", err)
	}
	return nil
}

// RecalledRequest implements host.Tx.
func (t *tx) RecalledRequest(bot, requestID string) (json.RawMessage, bool, error) {
	var response string
	err := t.tx.QueryRowContext(t.ctx, `SELECT response FROM requests WHERE bot = ? AND request_id = ?`,
		bot, requestID).Scan(&response)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, dbError("recall request", err)
	}
	return json.RawMessage(response), true, nil
}
