-- Times are integer unix milliseconds (UTC); NULL is the zero time.
-- JSON is stored as text exactly as given.

CREATE TABLE sessions (
	id             TEXT PRIMARY KEY,
	bot            TEXT NOT NULL,
	user_id        TEXT NOT NULL,
	channel_id     TEXT NOT NULL DEFAULT '',
	provider       TEXT NOT NULL,
	provider_ref   TEXT NOT NULL DEFAULT '',
	state          TEXT NOT NULL,
	end_reason     TEXT NOT NULL DEFAULT '',
	metadata       TEXT,
	expired_notice TEXT NOT NULL,
	notice_pending INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	expires_at     INTEGER,
	ended_at       INTEGER
);

-- One open session per (bot, user), enforced by the database so that it
-- holds under concurrent requests and across processes.
CREATE UNIQUE INDEX sessions_one_open ON sessions (bot, user_id)
	WHERE state IN ('starting', 'active');

-- Expiry is a query, not a timer. Queries must repeat the WHERE clause
-- verbatim for SQLite to use a partial index.
CREATE INDEX sessions_due ON sessions (expires_at, id)
	WHERE state IN ('starting', 'active');

CREATE INDEX sessions_ref ON sessions (bot, provider_ref, created_at, id)
	WHERE provider_ref <> '';

CREATE INDEX sessions_notice ON sessions (bot, user_id, created_at, id)
	WHERE notice_pending = 1;

CREATE INDEX sessions_bot_created ON sessions (bot, created_at, id);
CREATE INDEX sessions_state_created ON sessions (state, created_at, id);
CREATE INDEX sessions_created ON sessions (created_at, id);

CREATE TABLE messages (
	seq         INTEGER PRIMARY KEY, -- insertion order, the order of the transcript
	id          TEXT NOT NULL UNIQUE,
	bot         TEXT NOT NULL,
	user_id     TEXT NOT NULL,
	session_id  TEXT REFERENCES sessions (id),
	direction   TEXT NOT NULL,
	author      TEXT NOT NULL,
	author_name TEXT NOT NULL DEFAULT '',
	payload     TEXT NOT NULL,
	created_at  INTEGER NOT NULL
);

CREATE INDEX messages_session ON messages (session_id, seq)
	WHERE session_id IS NOT NULL;
CREATE INDEX messages_user ON messages (bot, user_id, seq);

CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY, -- the order within a queue
	idem_key        TEXT NOT NULL UNIQUE,
	queue           TEXT NOT NULL,
	kind            TEXT NOT NULL,
	session_id      TEXT,
	payload         TEXT,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	claimed_until   INTEGER NOT NULL DEFAULT 0, -- lease; 0 when not claimed
	last_error      TEXT NOT NULL DEFAULT '',
	state           TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);

-- The head of each queue is MIN(id) per queue among pending items.
CREATE INDEX outbox_queue ON outbox (state, queue, id);
CREATE INDEX outbox_due ON outbox (next_attempt_at)
	WHERE state = 'pending';

CREATE TABLE processed_events (
	scope      TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (scope, event_id)
) WITHOUT ROWID;

CREATE TABLE requests (
	bot        TEXT NOT NULL,
	request_id TEXT NOT NULL,
	response   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (bot, request_id)
) WITHOUT ROWID;
