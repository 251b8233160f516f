package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
	sqlite3 "modernc.org/sqlite/lib"
)

const sessionColumns = `id, bot, user_id, channel_id, provider, provider_ref, state, end_reason,
	metadata, expired_notice, notice_pending, created_at, updated_at, expires_at, ended_at,
	sync_cursor, synced_at`

// openStates must match the WHERE clause of the partial indexes
// sessions_one_open and sessions_due word for word, or SQLite will not use
// them.
const openStates = `state IN ('starting', 'active')`

// CreateSession implements host.Tx.
func (t *tx) CreateSession(s *host.Session) error {
	if s.ID == "" {
		s.ID = host.NewID()
	}
	if s.State == "" {
		s.State = host.SessionStarting
	}
	if s.ExpiredNotice == "" {
		s.ExpiredNotice = host.ExpiredNoticeImmediate
	}
	if err := s.Validate(); err != nil {
		return err
	}
	meta, err := marshalMetadata(s.Metadata)
	if err != nil {
		return err
	}
	endedAt := s.EndedAt
	if !s.State.IsOpen() && endedAt.IsZero() {
		endedAt = t.now
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Bot, s.UserID, s.ChannelID, s.Provider, s.ProviderRef, s.State, s.EndReason,
		meta, s.ExpiredNotice, s.NoticePending, t.now.UnixMilli(), t.now.UnixMilli(),
		msOrNull(s.ExpiresAt), msOrNull(endedAt), s.SyncCursor, msOrZero(s.SyncedAt))
	if err != nil {
		return sessionWriteError("create session", s, err)
	}
	s.CreatedAt, s.UpdatedAt, s.EndedAt = t.now, t.now, endedAt
	return nil
}

// UpdateSession implements host.Tx.
func (t *tx) UpdateSession(s *host.Session) error {
	if err := s.Validate(); err != nil {
		return err
	}
	meta, err := marshalMetadata(s.Metadata)
	if err != nil {
		return err
	}
	endedAt := s.EndedAt
	if !s.State.IsOpen() && endedAt.IsZero() {
		endedAt = t.now
	}
	// A closed session keeps its state: the guard is in the WHERE clause
	// so that it holds against whatever committed since s was read.
	res, err := t.tx.ExecContext(t.ctx, `UPDATE sessions SET
			channel_id = ?, provider_ref = ?, state = ?, end_reason = ?, metadata = ?,
			expired_notice = ?, notice_pending = ?, updated_at = ?, expires_at = ?, ended_at = ?,
			sync_cursor = ?, synced_at = ?
		WHERE id = ? AND (`+openStates+` OR state = ?)`,
		s.ChannelID, s.ProviderRef, s.State, s.EndReason, meta,
		s.ExpiredNotice, s.NoticePending, t.now.UnixMilli(), msOrNull(s.ExpiresAt), msOrNull(endedAt),
		s.SyncCursor, msOrZero(s.SyncedAt), s.ID, s.State)
	if err != nil {
		return sessionWriteError("update session", s, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError("update session", err)
	} else if n == 0 {
		var state host.SessionState
		err := t.tx.QueryRowContext(t.ctx, `SELECT state FROM sessions WHERE id = ?`, s.ID).Scan(&state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return host.Errorf(host.ENOTFOUND, "session %s not found", s.ID)
		case err != nil:
			return dbError("update session", err)
		}
		return &host.Error{Code: host.ECONFLICT, Field: "state",
			Message: fmt.Sprintf("session %s is already %s", s.ID, state)}
	}
	s.UpdatedAt, s.EndedAt = t.now, endedAt
	return nil
}

func sessionWriteError(what string, s *host.Session, err error) error {
	switch constraint(err) {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &host.Error{Code: host.ECONFLICT, Field: "id", Message: fmt.Sprintf("session %s already exists", s.ID)}
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE: // sessions_one_open, the only other unique index
		return &host.Error{Code: host.ECONFLICT,
			Message: fmt.Sprintf("user %s already has an open session with bot %s", s.UserID, s.Bot)}
	}
	return dbError(what, err)
}

// OpenSession implements host.Tx.
func (t *tx) OpenSession(bot, userID string) (*host.Session, error) {
	return openSession(t.ctx, t.tx, bot, userID)
}

// Session implements host.Tx.
func (t *tx) Session(id string) (*host.Session, error) {
	return sessionByID(t.ctx, t.tx, id)
}

// PendingNotice implements host.Tx.
func (t *tx) PendingNotice(bot, userID string) (*host.Session, error) {
	return pendingNotice(t.ctx, t.tx, bot, userID)
}

// Glance implements host.Store.
func (db *DB) Glance(ctx context.Context, bot, userID, requestID string) (host.Glance, error) {
	var (
		g              host.Glance
		hash, response sql.NullString
		open           sql.NullString
	)
	err := db.rq.QueryRowContext(ctx, glanceQuery, bot, userID, requestID).Scan(&hash, &response, &g.NoticePending, &open)
	if err != nil {
		return host.Glance{}, dbError("glance", err)
	}
	if hash.Valid {
		g.Request = &host.Request{Bot: bot, UserID: userID, ID: requestID, BodyHash: hash.String, Response: json.RawMessage(response.String)}
	}
	g.OpenSession = open.String
	return g, nil
}

// PendingNotice implements host.Store.
func (db *DB) PendingNotice(ctx context.Context, bot, userID string) (*host.Session, error) {
	return pendingNotice(ctx, db.rq, bot, userID)
}

func pendingNotice(ctx context.Context, q queryer, bot, userID string) (*host.Session, error) {
	s, err := scanSession(q.QueryRowContext(ctx, pendingNoticeQuery, bot, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "no pending notice for user %s of bot %s", userID, bot)
	}
	return s, err
}

// Session implements host.Store.
func (db *DB) Session(ctx context.Context, id string) (*host.Session, error) {
	return sessionByID(ctx, db.rq, id)
}

// OpenSession implements host.Store.
func (db *DB) OpenSession(ctx context.Context, bot, userID string) (*host.Session, error) {
	return openSession(ctx, db.rq, bot, userID)
}

// FindSessionByRef implements host.Store.
func (db *DB) FindSessionByRef(ctx context.Context, bot, ref string) (*host.Session, error) {
	notFound := host.Errorf(host.ENOTFOUND, "no session of bot %s with provider reference %q", bot, ref)
	if ref == "" {
		return nil, notFound
	}
	s, err := scanSession(db.rq.QueryRowContext(ctx, byRefQuery, bot, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound
	}
	return s, err
}

// ListSessions implements host.Store.
func (db *DB) ListSessions(ctx context.Context, f host.SessionFilter) ([]*host.Session, error) {
	var where []string
	var args []any
	if f.Bot != "" {
		where, args = append(where, "bot = ?"), append(args, f.Bot)
	}
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.State != "" {
		if !f.State.Valid() {
			return nil, &host.Error{Code: host.EINVALID, Field: "state", Message: fmt.Sprintf("unknown session state %q", f.State)}
		}
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	if f.Before != "" {
		var created int64
		err := db.rq.QueryRowContext(ctx, `SELECT created_at FROM sessions WHERE id = ?`, f.Before).Scan(&created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, &host.Error{Code: host.EINVALID, Field: "before", Message: fmt.Sprintf("unknown session %s", f.Before)}
		case err != nil:
			return nil, dbError("list sessions", err)
		}
		where, args = append(where, "(created_at, id) < (?, ?)"), append(args, created, f.Before)
	}
	query := `SELECT ` + sessionColumns + ` FROM sessions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, host.ClampLimit(f.Limit))
	return querySessions(ctx, db.rq, query, args...)
}

// DueExpiries implements host.Store.
func (db *DB) DueExpiries(ctx context.Context, now time.Time, limit int) ([]*host.Session, error) {
	return querySessions(ctx, db.rq, dueExpiriesQuery, now.UnixMilli(), host.ClampLimit(limit))
}

// DueSyncs implements host.Store.
func (db *DB) DueSyncs(ctx context.Context, bot string, before time.Time, limit int) ([]*host.Session, error) {
	return querySessions(ctx, db.rq, dueSyncsQuery, bot, before.UnixMilli(), host.ClampLimit(limit))
}

// The queries that run on every event or webhook; TestQueryPlans checks
// their indexes. Partial indexes need their WHERE clause repeated.
const (
	openSessionQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = ? AND user_id = ? AND ` + openStates
	// glanceQuery: one row whatever is found, each part through its index
	// (requests' key, sessions_notice, sessions_one_open).
	glanceQuery = `SELECT r.body_hash, r.response,
			EXISTS (SELECT 1 FROM sessions WHERE bot = ?1 AND user_id = ?2 AND notice_pending = 1),
			(SELECT id FROM sessions WHERE bot = ?1 AND user_id = ?2 AND ` + openStates + `)
		FROM (SELECT 1) LEFT JOIN requests r ON r.bot = ?1 AND r.user_id = ?2 AND r.request_id = ?3`
	pendingNoticeQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = ? AND user_id = ? AND notice_pending = 1
		ORDER BY created_at DESC, id DESC LIMIT 1`
	byRefQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = ? AND provider_ref = ? AND provider_ref <> ''
		ORDER BY created_at DESC, id DESC LIMIT 1`
)

// dueExpiriesQuery is answered by the partial index sessions_due: a
// million idle sessions cost rows, not a scan. Without statistics the
// planner may prefer sessions_state_created and sort every open session,
// so the index is named; SQLite fails the query rather than ignore it.
const dueExpiriesQuery = `SELECT ` + sessionColumns + ` FROM sessions INDEXED BY sessions_due
	WHERE ` + openStates + ` AND expires_at <= ?
	ORDER BY expires_at, id LIMIT ?`

// dueSyncsQuery is answered by the partial index sessions_sync: the open
// sessions of one bot, least recently read first. Starting sessions have
// no ticket to read yet.
const dueSyncsQuery = `SELECT ` + sessionColumns + ` FROM sessions INDEXED BY sessions_sync
	WHERE ` + openStates + ` AND bot = ? AND synced_at <= ? AND state = 'active' AND provider_ref <> ''
	ORDER BY synced_at, id LIMIT ?`

func sessionByID(ctx context.Context, q queryer, id string) (*host.Session, error) {
	s, err := scanSession(q.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "session %s not found", id)
	}
	return s, err
}

func openSession(ctx context.Context, q queryer, bot, userID string) (*host.Session, error) {
	s, err := scanSession(q.QueryRowContext(ctx, openSessionQuery, bot, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "user %s has no open session with bot %s", userID, bot)
	}
	return s, err
}

func querySessions(ctx context.Context, q queryer, query string, args ...any) ([]*host.Session, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError("query sessions", err)
	}
	defer rows.Close()
	var out []*host.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("query sessions", err)
	}
	return out, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanSession reads one row of sessionColumns. It returns sql.ErrNoRows
// unwrapped so that callers can turn it into ENOTFOUND.
func scanSession(row scanner) (*host.Session, error) {
	var (
		s                host.Session
		meta             sql.NullString
		created, updated int64
		expires, ended   sql.NullInt64
		synced           int64
	)
	err := row.Scan(&s.ID, &s.Bot, &s.UserID, &s.ChannelID, &s.Provider, &s.ProviderRef, &s.State, &s.EndReason,
		&meta, &s.ExpiredNotice, &s.NoticePending, &created, &updated, &expires, &ended,
		&s.SyncCursor, &synced)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, dbError("read session", err)
	}
	if meta.Valid {
		if err := json.Unmarshal([]byte(meta.String), &s.Metadata); err != nil {
			return nil, fmt.Errorf("read session %s metadata: %w", s.ID, err)
		}
	}
	s.CreatedAt = time.UnixMilli(created).UTC()
	s.UpdatedAt = time.UnixMilli(updated).UTC()
	s.ExpiresAt = fromMS(expires)
	s.EndedAt = fromMS(ended)
	if synced != 0 {
		s.SyncedAt = time.UnixMilli(synced).UTC()
	}
	return &s, nil
}

// marshalMetadata stores a nil map as NULL so that it reads back as nil.
func marshalMetadata(m map[string]any) (any, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, &host.Error{Code: host.EINVALID, Field: "metadata", Message: "metadata is not JSON", Err: err}
	}
	return string(b), nil
}
