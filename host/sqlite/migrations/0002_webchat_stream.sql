-- The built-in webchat channel's per-user streams: everything shown in a
-- user's chat window, in order, so that a reload or a reconnection
-- (Last-Event-ID) replays what was missed. key makes a retried delivery a
-- no-op.
CREATE TABLE webchat_stream (
	seq        INTEGER PRIMARY KEY,
	bot        TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	key        TEXT    UNIQUE,
	entry      TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE INDEX webchat_stream_user ON webchat_stream (bot, user_id, seq);
