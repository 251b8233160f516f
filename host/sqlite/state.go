package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/host"
)

// Plugin state (host.PluginStateKey): the rows of plugin_state, migration
// 0007. A row is written only for a stored session of its bot and
// provider, and carries the session's ended_at for the retention job.
const (
	pluginStateQuery = `SELECT value FROM plugin_state
		WHERE session_id = ? AND provider = ? AND bot = ? AND key = ?`
	// The bytes the session's other keys of the provider hold, for the
	// per-session bound; a range of the primary key.
	pluginStateSizeQuery = `SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value)), 0) FROM plugin_state
		WHERE session_id = ?1 AND provider = ?2 AND bot = ?3 AND key <> ?4`
	// Inserted only when the session is the bot's and the provider's.
	setPluginStateQuery = `INSERT INTO plugin_state (session_id, provider, bot, key, value, updated_at, ended_at)
		SELECT id, provider, bot, ?4, ?5, ?6, ended_at FROM sessions WHERE id = ?1 AND provider = ?2 AND bot = ?3
		ON CONFLICT (session_id, provider, bot, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`
	deletePluginStateQuery = `DELETE FROM plugin_state
		WHERE session_id = ? AND provider = ? AND bot = ? AND key = ?`
	// A range scan of plugin_state_ended (checked in state_test.go).
	deletePluginStateEndedQuery = `DELETE FROM plugin_state WHERE (session_id, provider, bot, key) IN (
		SELECT session_id, provider, bot, key FROM plugin_state
		WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY ended_at LIMIT ?)`
)

// PluginState implements host.Store.
func (db *DB) PluginState(ctx context.Context, k host.PluginStateKey) ([]byte, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var v []byte
	err := db.rq.QueryRowContext(ctx, pluginStateQuery, k.SessionID, k.Provider, k.Bot, k.Key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &host.Error{Code: host.ENOTFOUND, Field: "key", Message: fmt.Sprintf("no plugin state %q for session %s", k.Key, k.SessionID)}
	}
	if err != nil {
		return nil, dbError("plugin state", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SetPluginState implements host.Tx.
func (t *tx) SetPluginState(k host.PluginStateKey, value []byte) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if len(value) > host.MaxPluginStateValue {
		return &host.Error{Code: host.EINVALID, Field: "value",
			Message: fmt.Sprintf("a plugin state value is at most %d bytes, this one is %d", host.MaxPluginStateValue, len(value))}
	}
	var others int
	if err := t.tx.QueryRowContext(t.ctx, pluginStateSizeQuery, k.SessionID, k.Provider, k.Bot, k.Key).Scan(&others); err != nil {
		return dbError("plugin state size", err)
	}
	if total := others + len(k.Key) + len(value); total > host.MaxPluginStateSession {
		return &host.Error{Code: host.EINVALID, Field: "value",
			Message: fmt.Sprintf("the plugin state of session %s would hold %d bytes, at most %d: delete the keys it no longer needs", k.SessionID, total, host.MaxPluginStateSession)}
	}
	if value == nil {
		value = []byte{} // NOT NULL: an empty value is a value
	}
	res, err := t.tx.ExecContext(t.ctx, setPluginStateQuery, k.SessionID, k.Provider, k.Bot, k.Key, value, t.now.UnixMilli())
	if err != nil {
		return dbError("set plugin state", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError("set plugin state", err)
	} else if n == 0 {
		return &host.Error{Code: host.ENOTFOUND, Field: "session_id",
			Message: fmt.Sprintf("no session %s of bot %s with provider %s", k.SessionID, k.Bot, k.Provider)}
	}
	return nil
}

// DeletePluginState implements host.Tx.
func (t *tx) DeletePluginState(k host.PluginStateKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, deletePluginStateQuery, k.SessionID, k.Provider, k.Bot, k.Key); err != nil {
		return dbError("delete plugin state", err)
	}
	return nil
}

// DeletePluginState deletes up to limit plugin state values of sessions
// closed before before, the longest closed first: the retention job runs it
// with the transcripts age, so a session's state goes with its messages.
// The state of open sessions is never deleted.
func (db *DB) DeletePluginState(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete plugin state", deletePluginStateEndedQuery, before, limit)
}
