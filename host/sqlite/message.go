package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/host"
	sqlite3 "modernc.org/sqlite/lib"
)

const messageColumns = `id, bot, user_id, session_id, direction, author, author_name, payload, created_at, late`

// AppendMessage implements host.Tx.
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
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO messages (`+messageColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Bot, m.UserID, nullString(m.SessionID), m.Direction, m.Author, m.AuthorName,
		string(m.Payload), m.CreatedAt.UnixMilli(), m.Late)
	switch constraint(err) {
	case 0:
		if err != nil {
			return dbError("append message", err)
		}
		return nil
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &host.Error{Code: host.EINVALID, Field: "session_id", Message: fmt.Sprintf("unknown session %s", m.SessionID)}
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return &host.Error{Code: host.ECONFLICT, Field: "id", Message: fmt.Sprintf("message %s already exists", m.ID)}
	}
	return dbError("append message", err)
}

// Messages implements host.Store.
func (db *DB) Messages(ctx context.Context, sessionID string) ([]*host.Message, error) {
	return queryMessages(ctx, db.rq, sessionMessagesQuery, sessionID)
}

// Transcript implements host.Store.
func (db *DB) Transcript(ctx context.Context, bot, userID string, limit int) ([]*host.Message, error) {
	return queryMessages(ctx, db.rq, transcriptQuery, bot, userID, host.ClampLimit(limit))
}

const (
	sessionMessagesQuery = `SELECT ` + messageColumns + ` FROM messages
		WHERE session_id = ? ORDER BY seq`
	// The newest limit messages, turned back into reading order.
	transcriptQuery = `SELECT ` + messageColumns + ` FROM (
			SELECT seq, ` + messageColumns + ` FROM messages
			WHERE bot = ? AND user_id = ? AND late = 0 ORDER BY seq DESC LIMIT ?
		) ORDER BY seq`
)

func queryMessages(ctx context.Context, q queryer, query string, args ...any) ([]*host.Message, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError("query messages", err)
	}
	defer rows.Close()
	var out []*host.Message
	for rows.Next() {
		var (
			m       host.Message
			session sql.NullString
			payload string
			created int64
		)
		if err := rows.Scan(&m.ID, &m.Bot, &m.UserID, &session, &m.Direction, &m.Author, &m.AuthorName,
			&payload, &created, &m.Late); err != nil {
			return nil, dbError("read message", err)
		}
		m.SessionID = session.String
		m.Payload = []byte(payload)
		m.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("query messages", err)
	}
	return out, nil
}
