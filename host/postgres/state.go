package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

// Plugin state (host.PluginStateKey): the rows of plugin_state, written
// only for a stored session of the key's bot and provider. The retention
// job finds the state of closed sessions through sessions_ended.

// validKey is PluginStateKey.Validate, and refuses a key with a NUL byte,
// which PostgreSQL's text cannot hold.
func validKey(k host.PluginStateKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if strings.IndexByte(k.Key, 0) >= 0 {
		return &host.Error{Code: host.EINVALID, Field: "key", Message: "a plugin state key must not contain a NUL byte"}
	}
	return nil
}

// PluginState implements host.Store.
func (db *DB) PluginState(ctx context.Context, k host.PluginStateKey) ([]byte, error) {
	if err := validKey(k); err != nil {
		return nil, err
	}
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM plugin_state
		WHERE session_id = $1 AND provider = $2 AND bot = $3 AND key = $4`, k.SessionID, k.Provider, k.Bot, k.Key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
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
	if err := validKey(k); err != nil {
		return err
	}
	if len(value) > host.MaxPluginStateValue {
		return &host.Error{Code: host.EINVALID, Field: "value",
			Message: fmt.Sprintf("a plugin state value is at most %d bytes, this one is %d", host.MaxPluginStateValue, len(value))}
	}
	var others int
	if err := t.queryRow(`SELECT COALESCE(SUM(octet_length(key) + octet_length(value)), 0) FROM plugin_state
		WHERE session_id = $1 AND provider = $2 AND bot = $3 AND key <> $4`, k.SessionID, k.Provider, k.Bot, k.Key).Scan(&others); err != nil {
		return dbError("plugin state size", err)
	}
	if total := others + len(k.Key) + len(value); total > host.MaxPluginStateSession {
		return &host.Error{Code: host.EINVALID, Field: "value",
			Message: fmt.Sprintf("the plugin state of session %s would hold %d bytes, at most %d: delete the keys it no longer needs", k.SessionID, total, host.MaxPluginStateSession)}
	}
	if value == nil {
		value = []byte{} // NOT NULL: an empty value is a value
	}
	tag, err := t.exec(`INSERT INTO plugin_state (session_id, provider, bot, key, value, updated_at)
		SELECT id, provider, bot, $4, $5, $6 FROM sessions WHERE id = $1 AND provider = $2 AND bot = $3
		ON CONFLICT (session_id, provider, bot, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		k.SessionID, k.Provider, k.Bot, k.Key, value, t.now)
	if err != nil {
		return dbError("set plugin state", err)
	}
	if tag.RowsAffected() == 0 {
		return &host.Error{Code: host.ENOTFOUND, Field: "session_id",
			Message: fmt.Sprintf("no session %s of bot %s with provider %s", k.SessionID, k.Bot, k.Provider)}
	}
	return nil
}

// DeletePluginState implements host.Tx.
func (t *tx) DeletePluginState(k host.PluginStateKey) error {
	if err := validKey(k); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM plugin_state WHERE session_id = $1 AND provider = $2 AND bot = $3 AND key = $4`,
		k.SessionID, k.Provider, k.Bot, k.Key); err != nil {
		return dbError("delete plugin state", err)
	}
	return nil
}

// DeletePluginState deletes up to limit plugin state values of sessions
// closed before before, the longest closed first: the retention job runs
// it with the transcripts age, so a session's state goes with its
// messages. The state of open sessions is never deleted.
func (db *DB) DeletePluginState(ctx context.Context, before time.Time, limit int) (int, error) {
	return db.deleteBatch(ctx, "delete plugin state", `DELETE FROM plugin_state WHERE (session_id, provider, bot, key) IN (
		SELECT p.session_id, p.provider, p.bot, p.key FROM sessions s JOIN plugin_state p ON p.session_id = s.id
		WHERE s.ended_at IS NOT NULL AND s.ended_at < $1 AND s.state NOT IN ('starting', 'active')
		ORDER BY s.ended_at LIMIT $2)`, before, limit)
}
