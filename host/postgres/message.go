package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

const messageColumns = `id, bot, user_id, session_id, direction, author, author_name, payload, created_at, late`

// AppendMessage implements host.Tx. The insert is guarded instead of
// failing (an unknown session inserts nothing, a repeated id conflicts
// into nothing), so that the transaction stays usable.
func (t *tx) AppendMessage(m *host.Message) error {
	if m.ID == "" {
		m.ID = host.NewID()
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = t.now
	}
	if err := m.Validate(); err != nil {
		return err
	}
	tag, err := t.exec(`INSERT INTO messages (`+messageColumns+`)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
		WHERE $4::text IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE id = $4::text)
		ON CONFLICT (id) DO NOTHING`,
		m.ID, m.Bot, m.UserID, nullString(m.SessionID), string(m.Direction), string(m.Author), m.AuthorName,
		string(m.Payload), ms(m.CreatedAt), m.Late)
	if err != nil {
		return dbError("append message", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if m.SessionID != "" {
		var exists bool
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, m.SessionID).Scan(&exists); err != nil {
			return dbError("append message", err)
		}
		if !exists {
			return &host.Error{Code: host.EINVALID, Field: "session_id", Message: fmt.Sprintf("unknown session %s", m.SessionID)}
		}
	}
	return &host.Error{Code: host.ECONFLICT, Field: "id", Message: fmt.Sprintf("message %s already exists", m.ID)}
}

// Messages implements host.Store.
func (db *DB) Messages(ctx context.Context, sessionID string) ([]*host.Message, error) {
	return queryMessages(ctx, db.pool, sessionMessagesQuery, sessionID)
}

// Transcript implements host.Store.
func (db *DB) Transcript(ctx context.Context, bot, userID string, limit int) ([]*host.Message, error) {
	return queryMessages(ctx, db.pool, transcriptQuery, bot, userID, host.ClampLimit(limit))
}

const (
	sessionMessagesQuery = `SELECT ` + messageColumns + ` FROM messages
		WHERE session_id = $1 ORDER BY seq`
	// The newest limit messages, turned back into reading order.
	transcriptQuery = `SELECT ` + messageColumns + ` FROM (
			SELECT seq, ` + messageColumns + ` FROM messages
			WHERE bot = $1 AND user_id = $2 AND NOT late ORDER BY seq DESC LIMIT $3
		) m ORDER BY seq`
)

func queryMessages(ctx context.Context, q querier, query string, args ...any) ([]*host.Message, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, dbError("query messages", err)
	}
	defer rows.Close()
	var out []*host.Message
	for rows.Next() {
		var (
			m                 host.Message
			session           *string
			dir, author, body string
			created           time.Time
		)
		if err := rows.Scan(&m.ID, &m.Bot, &m.UserID, &session, &dir, &author, &m.AuthorName,
			&body, &created, &m.Late); err != nil {
			return nil, dbError("read message", err)
		}
		if session != nil {
			m.SessionID = *session
		}
		m.Direction, m.Author = host.Direction(dir), host.Author(author)
		m.Payload = json.RawMessage(body)
		m.CreatedAt = created.UTC()
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("query messages", err)
	}
	return out, nil
}

// MarkProcessed implements host.Tx.
func (t *tx) MarkProcessed(scope, eventID string) (bool, error) {
	if scope == "" || eventID == "" {
		return false, &host.Error{Code: host.EINVALID, Field: "event_id", Message: "event scope and id required"}
	}
	tag, err := t.exec(`INSERT INTO processed_events (scope, event_id, created_at)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, scope, eventID, t.now)
	if err != nil {
		return false, dbError("mark processed", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RememberRequest implements host.Tx.
func (t *tx) RememberRequest(r *host.Request) error {
	if err := validRequest(r); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO requests (bot, user_id, request_id, body_hash, response, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, r.Bot, r.UserID, r.ID, r.BodyHash, string(r.Response), t.now)
	if err != nil {
		return dbError("remember request", err)
	}
	return nil
}

func validRequest(r *host.Request) error {
	if r.Bot == "" || r.UserID == "" || r.ID == "" {
		return &host.Error{Code: host.EINVALID, Field: "request_id", Message: "bot, user and request id required"}
	}
	if !json.Valid(r.Response) {
		return &host.Error{Code: host.EINVALID, Field: "response", Message: "response is not valid JSON"}
	}
	return nil
}

// RecalledRequest implements host.Tx.
func (t *tx) RecalledRequest(bot, userID, id string) (*host.Request, error) {
	return recalledRequest(t.ctx, txQuerier{t}, bot, userID, id)
}

// RecalledRequest implements host.Store.
func (db *DB) RecalledRequest(ctx context.Context, bot, userID, id string) (*host.Request, error) {
	return recalledRequest(ctx, db.pool, bot, userID, id)
}

func recalledRequest(ctx context.Context, q querier, bot, userID, id string) (*host.Request, error) {
	r := &host.Request{Bot: bot, UserID: userID, ID: id}
	var response string
	err := q.QueryRow(ctx, `SELECT body_hash, response FROM requests
		WHERE bot = $1 AND user_id = $2 AND request_id = $3`, bot, userID, id).Scan(&r.BodyHash, &response)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, host.Errorf(host.ENOTFOUND, "no request %q of user %q", id, userID)
	case err != nil:
		return nil, dbError("recall request", err)
	}
	r.Response = json.RawMessage(response)
	return r, nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
