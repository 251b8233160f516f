package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

const sessionColumns = `id, bot, user_id, channel_id, provider, provider_ref, state, end_reason,
	metadata, expired_notice, notice_pending, created_at, updated_at, expires_at, ended_at,
	sync_cursor, synced_at`

// openStates must match the WHERE clause of the partial indexes
// sessions_one_open and sessions_due.
const openStates = `state IN ('starting', 'active')`

// epoch is synced_at for never.
var epoch = time.Unix(0, 0).UTC()

// CreateSession implements host.Tx. ON CONFLICT DO NOTHING covers both
// the primary key and sessions_one_open, so a conflict leaves the
// transaction usable.
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
	tag, err := t.exec(`INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16)
		ON CONFLICT DO NOTHING`,
		s.ID, s.Bot, s.UserID, s.ChannelID, s.Provider, s.ProviderRef, string(s.State), string(s.EndReason),
		meta, string(s.ExpiredNotice), s.NoticePending, t.now, orNull(s.ExpiresAt), orNull(endedAt),
		s.SyncCursor, syncedAt(s.SyncedAt))
	if err != nil {
		return dbError("create session", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, s.ID).Scan(&exists); err != nil {
			return dbError("create session", err)
		}
		if exists {
			return &host.Error{Code: host.ECONFLICT, Field: "id", Message: fmt.Sprintf("session %s already exists", s.ID)}
		}
		return &host.Error{Code: host.ECONFLICT,
			Message: fmt.Sprintf("user %s already has an open session with bot %s", s.UserID, s.Bot)}
	}
	s.CreatedAt, s.UpdatedAt, s.EndedAt = t.now, t.now, endedAt
	return nil
}

// UpdateSession implements host.Tx. The guard against changing a closed
// session's state is in the WHERE clause, so it holds against whatever
// committed since s was read; Session and OpenSession inside a Tx lock the
// row anyway.
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
	tag, err := t.exec(`UPDATE sessions SET
			channel_id = $1, provider_ref = $2, state = $3, end_reason = $4, metadata = $5,
			expired_notice = $6, notice_pending = $7, updated_at = $8, expires_at = $9, ended_at = $10,
			sync_cursor = $11, synced_at = $12
		WHERE id = $13 AND (`+openStates+` OR state = $3)`,
		s.ChannelID, s.ProviderRef, string(s.State), string(s.EndReason), meta,
		string(s.ExpiredNotice), s.NoticePending, t.now, orNull(s.ExpiresAt), orNull(endedAt),
		s.SyncCursor, syncedAt(s.SyncedAt), s.ID)
	if err != nil {
		return dbError("update session", err)
	}
	if tag.RowsAffected() == 0 {
		var state string
		err := t.queryRow(`SELECT state FROM sessions WHERE id = $1`, s.ID).Scan(&state)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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

// The reads of a Tx lock the session they return until the commit
// (FOR UPDATE): a change decided on what was read cannot be overtaken by
// another replica's change of the same session — a message that extends
// expires_at and the expiry of the session wait for each other.

// OpenSession implements host.Tx.
func (t *tx) OpenSession(bot, userID string) (*host.Session, error) {
	return openSession(t.ctx, txQuerier{t}, openSessionQuery+` FOR UPDATE`, bot, userID)
}

// Session implements host.Tx.
func (t *tx) Session(id string) (*host.Session, error) {
	return sessionByID(t.ctx, txQuerier{t}, sessionByIDQuery+` FOR UPDATE`, id)
}

// PendingNotice implements host.Tx.
func (t *tx) PendingNotice(bot, userID string) (*host.Session, error) {
	return pendingNotice(t.ctx, txQuerier{t}, pendingNoticeQuery+` FOR UPDATE`, bot, userID)
}

// PendingNotice implements host.Store.
func (db *DB) PendingNotice(ctx context.Context, bot, userID string) (*host.Session, error) {
	return pendingNotice(ctx, db.pool, pendingNoticeQuery, bot, userID)
}

// Session implements host.Store.
func (db *DB) Session(ctx context.Context, id string) (*host.Session, error) {
	return sessionByID(ctx, db.pool, sessionByIDQuery, id)
}

// OpenSession implements host.Store.
func (db *DB) OpenSession(ctx context.Context, bot, userID string) (*host.Session, error) {
	return openSession(ctx, db.pool, openSessionQuery, bot, userID)
}

// FindSessionByRef implements host.Store.
func (db *DB) FindSessionByRef(ctx context.Context, bot, ref string) (*host.Session, error) {
	notFound := host.Errorf(host.ENOTFOUND, "no session of bot %s with provider reference %q", bot, ref)
	if ref == "" {
		return nil, notFound
	}
	s, err := scanSession(db.pool.QueryRow(ctx, byRefQuery, bot, ref))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	return s, err
}

// ListSessions implements host.Store.
func (db *DB) ListSessions(ctx context.Context, f host.SessionFilter) ([]*host.Session, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Bot != "" {
		where = append(where, "bot = "+arg(f.Bot))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+arg(f.UserID))
	}
	if f.State != "" {
		if !f.State.Valid() {
			return nil, &host.Error{Code: host.EINVALID, Field: "state", Message: fmt.Sprintf("unknown session state %q", f.State)}
		}
		where = append(where, "state = "+arg(string(f.State)))
	}
	if f.Before != "" {
		var created time.Time
		err := db.pool.QueryRow(ctx, `SELECT created_at FROM sessions WHERE id = $1`, f.Before).Scan(&created)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil, &host.Error{Code: host.EINVALID, Field: "before", Message: fmt.Sprintf("unknown session %s", f.Before)}
		case err != nil:
			return nil, dbError("list sessions", err)
		}
		where = append(where, "(created_at, id) < ("+arg(created)+", "+arg(f.Before)+")")
	}
	query := `SELECT ` + sessionColumns + ` FROM sessions`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(host.ClampLimit(f.Limit))
	return querySessions(ctx, db.pool, query, args...)
}

// DueExpiries implements host.Store.
func (db *DB) DueExpiries(ctx context.Context, now time.Time, limit int) ([]*host.Session, error) {
	return querySessions(ctx, db.pool, dueExpiriesQuery, ms(now), host.ClampLimit(limit))
}

// DueSyncs implements host.Store.
func (db *DB) DueSyncs(ctx context.Context, bot string, before time.Time, limit int) ([]*host.Session, error) {
	return querySessions(ctx, db.pool, dueSyncsQuery, bot, ms(before), host.ClampLimit(limit))
}

const (
	sessionByIDQuery = `SELECT ` + sessionColumns + ` FROM sessions WHERE id = $1`
	openSessionQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = $1 AND user_id = $2 AND ` + openStates
	pendingNoticeQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = $1 AND user_id = $2 AND notice_pending
		ORDER BY created_at DESC, id DESC LIMIT 1`
	byRefQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE bot = $1 AND provider_ref = $2 AND provider_ref <> ''
		ORDER BY created_at DESC, id DESC LIMIT 1`
	// Answered by the partial index sessions_due.
	dueExpiriesQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE ` + openStates + ` AND expires_at <= $1
		ORDER BY expires_at, id LIMIT $2`
	// Answered by the partial index sessions_sync.
	dueSyncsQuery = `SELECT ` + sessionColumns + ` FROM sessions
		WHERE state = 'active' AND provider_ref <> '' AND bot = $1 AND synced_at <= $2
		ORDER BY synced_at, id LIMIT $3`
)

func sessionByID(ctx context.Context, q querier, query, id string) (*host.Session, error) {
	s, err := scanSession(q.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "session %s not found", id)
	}
	return s, err
}

func openSession(ctx context.Context, q querier, query, bot, userID string) (*host.Session, error) {
	s, err := scanSession(q.QueryRow(ctx, query, bot, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "user %s has no open session with bot %s", userID, bot)
	}
	return s, err
}

func pendingNotice(ctx context.Context, q querier, query, bot, userID string) (*host.Session, error) {
	s, err := scanSession(q.QueryRow(ctx, query, bot, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, host.Errorf(host.ENOTFOUND, "no pending notice for user %s of bot %s", userID, bot)
	}
	return s, err
}

func querySessions(ctx context.Context, q querier, query string, args ...any) ([]*host.Session, error) {
	rows, err := q.Query(ctx, query, args...)
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

// scanSession reads one row of sessionColumns. It returns pgx.ErrNoRows
// unwrapped so that callers can turn it into ENOTFOUND.
func scanSession(row pgx.Row) (*host.Session, error) {
	var (
		s                        host.Session
		state, reason, notice    string
		meta                     []byte
		created, updated, synced time.Time
		expires, ended           *time.Time
	)
	err := row.Scan(&s.ID, &s.Bot, &s.UserID, &s.ChannelID, &s.Provider, &s.ProviderRef, &state, &reason,
		&meta, &notice, &s.NoticePending, &created, &updated, &expires, &ended, &s.SyncCursor, &synced)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, dbError("read session", err)
	}
	s.State, s.EndReason, s.ExpiredNotice = host.SessionState(state), host.EndReason(reason), host.ExpiredNotice(notice)
	if meta != nil {
		if err := json.Unmarshal(meta, &s.Metadata); err != nil {
			return nil, fmt.Errorf("read session %s metadata: %w", s.ID, err)
		}
	}
	s.CreatedAt, s.UpdatedAt = created.UTC(), updated.UTC()
	s.ExpiresAt, s.EndedAt = fromNull(expires), fromNull(ended)
	if !synced.Equal(epoch) {
		s.SyncedAt = synced.UTC()
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

func syncedAt(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return ms(t)
}

// Glance implements host.Store: one row whatever is found, each part
// through its index (the requests' key, sessions_notice,
// sessions_one_open).
func (db *DB) Glance(ctx context.Context, bot, userID, requestID string) (host.Glance, error) {
	var (
		g              host.Glance
		hash, response *string
		open           *string
	)
	err := db.pool.QueryRow(ctx, `SELECT r.body_hash, r.response,
			EXISTS (SELECT 1 FROM sessions WHERE bot = $1 AND user_id = $2 AND notice_pending),
			(SELECT id FROM sessions WHERE bot = $1 AND user_id = $2 AND `+openStates+`)
		FROM (SELECT 1) one LEFT JOIN requests r ON r.bot = $1 AND r.user_id = $2 AND r.request_id = $3`,
		bot, userID, requestID).Scan(&hash, &response, &g.NoticePending, &open)
	if err != nil {
		return host.Glance{}, dbError("glance", err)
	}
	if hash != nil && response != nil {
		g.Request = &host.Request{Bot: bot, UserID: userID, ID: requestID, BodyHash: *hash, Response: json.RawMessage(*response)}
	}
	if open != nil {
		g.OpenSession = *open
	}
	return g, nil
}
