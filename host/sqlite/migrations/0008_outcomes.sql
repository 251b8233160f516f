-- Outcomes (issue 17): one row per handoff, for the waiting feedback
-- (wait_due_at, scanned like sessions' expires_at) and the outcome metrics
-- of GET /v1/stats (ranges of started_at). Kept apart from sessions, and
-- left alone by retention, so that the figures outlive the transcripts.
CREATE TABLE outcomes (
	session_id     TEXT PRIMARY KEY,
	bot            TEXT NOT NULL,
	provider       TEXT NOT NULL,
	started_at     INTEGER NOT NULL,
	first_agent_at INTEGER,
	ended_at       INTEGER,
	end_reason     TEXT NOT NULL DEFAULT '',
	csat_score     INTEGER NOT NULL DEFAULT 0,
	csat_scale     INTEGER NOT NULL DEFAULT 0,
	wait_due_at    INTEGER,
	wait_notices   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX outcomes_wait_due ON outcomes (wait_due_at)
	WHERE wait_due_at IS NOT NULL;

CREATE INDEX outcomes_started ON outcomes (started_at, bot);
