-- Plugin state (issue 14): small values a provider plugin keeps with the
-- host per session (sdk.StateStore), scoped to (session, provider, bot).
-- ended_at copies the session's, so that the retention job deletes the
-- state of sessions closed long enough ago with a range scan of
-- plugin_state_ended, as it does the other tables; the trigger keeps the
-- copy when a session closes (a closed session never opens again).
CREATE TABLE plugin_state (
	session_id TEXT NOT NULL REFERENCES sessions (id),
	provider   TEXT NOT NULL,
	bot        TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      BLOB NOT NULL,
	updated_at INTEGER NOT NULL,
	ended_at   INTEGER,
	PRIMARY KEY (session_id, provider, bot, key)
) WITHOUT ROWID;

CREATE INDEX plugin_state_ended ON plugin_state (ended_at)
	WHERE ended_at IS NOT NULL;

CREATE TRIGGER plugin_state_session_ended AFTER UPDATE OF ended_at ON sessions
	WHEN NEW.ended_at IS NOT OLD.ended_at
BEGIN
	UPDATE plugin_state SET ended_at = NEW.ended_at WHERE session_id = NEW.id;
END;
