-- Exactly-once intake and fenced claims (issue 9).

-- A request id is scoped to (bot, user) and bound to the body that first
-- used it: the same id with another body is a conflict, not a replay.
-- Records of the old per-bot table cannot be scoped to a user; a retry of a
-- request answered before the upgrade is handled as a new request.
DROP TABLE requests;
CREATE TABLE requests (
	bot        TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	request_id TEXT NOT NULL,
	body_hash  TEXT NOT NULL,
	response   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (bot, user_id, request_id)
) WITHOUT ROWID;
-- Retention deletes by age (0003 made this index on the table dropped here).
CREATE INDEX requests_created ON requests (created_at);

-- A claim's token: Complete, Retry, Dead and Release of a worker whose
-- claim was taken over (lease over, or handed back) match nothing.
ALTER TABLE outbox ADD COLUMN claim_token TEXT NOT NULL DEFAULT '';

-- An agent message that arrived after its session closed: kept for the
-- audit trail, never delivered, left out of later transcripts.
ALTER TABLE messages ADD COLUMN late INTEGER NOT NULL DEFAULT 0;
