-- livechatd's store on PostgreSQL (host/postgres): the tables of
-- host/sqlite's migrations 0001–0007 in one, for several replicas.
-- Times are timestamptz to the millisecond; JSON given by callers is kept
-- as text exactly as given (the transcript and outbox payloads), the
-- session metadata as jsonb.

CREATE TABLE sessions (
	id             text PRIMARY KEY,
	bot            text NOT NULL,
	user_id        text NOT NULL,
	channel_id     text NOT NULL DEFAULT '',
	provider       text NOT NULL,
	provider_ref   text NOT NULL DEFAULT '',
	state          text NOT NULL,
	end_reason     text NOT NULL DEFAULT '',
	metadata       jsonb,
	expired_notice text NOT NULL,
	notice_pending boolean NOT NULL DEFAULT false,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	expires_at     timestamptz,
	ended_at       timestamptz,
	-- Reconciliation: the provider's cursor of the last read back and
	-- when; the epoch for never.
	sync_cursor    text NOT NULL DEFAULT '',
	synced_at      timestamptz NOT NULL DEFAULT 'epoch'
);

-- One open session per (bot, user), enforced by the database so that it
-- holds under concurrent requests on every replica.
CREATE UNIQUE INDEX sessions_one_open ON sessions (bot, user_id)
	WHERE state IN ('starting', 'active');
-- Expiry is a query, not a timer.
CREATE INDEX sessions_due ON sessions (expires_at, id)
	WHERE state IN ('starting', 'active');
CREATE INDEX sessions_sync ON sessions (bot, synced_at, id)
	WHERE state = 'active' AND provider_ref <> '';
CREATE INDEX sessions_ref ON sessions (bot, provider_ref, created_at, id)
	WHERE provider_ref <> '';
CREATE INDEX sessions_notice ON sessions (bot, user_id, created_at, id)
	WHERE notice_pending;
CREATE INDEX sessions_bot_created ON sessions (bot, created_at, id);
CREATE INDEX sessions_state_created ON sessions (state, created_at, id);
CREATE INDEX sessions_user_created ON sessions (user_id, created_at, id);
CREATE INDEX sessions_created ON sessions (created_at, id);
-- Retention of plugin state: the sessions closed longest ago.
CREATE INDEX sessions_ended ON sessions (ended_at)
	WHERE ended_at IS NOT NULL;

CREATE TABLE messages (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- the transcript's order
	id          text NOT NULL UNIQUE,
	bot         text NOT NULL,
	user_id     text NOT NULL,
	session_id  text REFERENCES sessions (id),
	direction   text NOT NULL,
	author      text NOT NULL,
	author_name text NOT NULL DEFAULT '',
	payload     text NOT NULL,
	created_at  timestamptz NOT NULL,
	late        boolean NOT NULL DEFAULT false
);
CREATE INDEX messages_session ON messages (session_id, seq)
	WHERE session_id IS NOT NULL;
CREATE INDEX messages_user ON messages (bot, user_id, seq);
CREATE INDEX messages_created ON messages (created_at);

-- The outbox. An item's id comes from outbox_id while its queue's row in
-- outbox_queues is locked, so within a queue ids are in commit order: a
-- queue's head (its lowest-id pending item) never has an earlier item
-- still to commit.
CREATE SEQUENCE outbox_id;
CREATE TABLE outbox (
	id              bigint PRIMARY KEY,
	idem_key        text NOT NULL UNIQUE,
	queue           text NOT NULL,
	kind            text NOT NULL,
	session_id      text,
	payload         text,
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	claimed_until   timestamptz,          -- the lease; NULL when not claimed
	claim_token     text NOT NULL DEFAULT '',
	claimed_by      text NOT NULL DEFAULT '', -- the replica that holds the claim
	last_error      text NOT NULL DEFAULT '',
	state           text NOT NULL,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);
CREATE INDEX outbox_queue ON outbox (queue, id) WHERE state = 'pending';
CREATE INDEX outbox_claimed_by ON outbox (claimed_by) WHERE state = 'pending' AND claimed_until IS NOT NULL;
CREATE INDEX outbox_done ON outbox (updated_at, id) WHERE state = 'done';
CREATE INDEX outbox_dead ON outbox (updated_at, id) WHERE state = 'dead';

-- The head of each queue with pending work and when it can be claimed
-- (its next attempt, or the end of its lease). Its row is the queue's
-- lock: enqueueing, claiming and finishing lock it before the items.
CREATE TABLE outbox_queues (
	queue   text PRIMARY KEY,
	head_id bigint NOT NULL,
	due_at  timestamptz NOT NULL
);
CREATE INDEX outbox_queues_due ON outbox_queues (due_at, head_id);

CREATE TABLE processed_events (
	scope      text NOT NULL,
	event_id   text NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (scope, event_id)
);
CREATE INDEX processed_events_created ON processed_events (created_at);

CREATE TABLE requests (
	bot        text NOT NULL,
	user_id    text NOT NULL,
	request_id text NOT NULL,
	body_hash  text NOT NULL,
	response   text NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (bot, user_id, request_id)
);
CREATE INDEX requests_created ON requests (created_at);

-- The built-in webchat channel's per-user streams. A user's entries are
-- numbered while a lock on the user's stream is held, so numbers are in
-- commit order and a reader resuming after a number misses nothing.
CREATE TABLE webchat_stream (
	seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	bot        text NOT NULL,
	user_id    text NOT NULL,
	key        text UNIQUE,
	entry      text NOT NULL,
	created_at timestamptz NOT NULL
);
CREATE INDEX webchat_stream_user ON webchat_stream (bot, user_id, seq);
CREATE INDEX webchat_stream_created ON webchat_stream (created_at);

-- Provider plugins' state per session (sdk.StateStore).
CREATE TABLE plugin_state (
	session_id text NOT NULL REFERENCES sessions (id),
	provider   text NOT NULL,
	bot        text NOT NULL,
	key        text NOT NULL,
	value      bytea NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (session_id, provider, bot, key)
);
