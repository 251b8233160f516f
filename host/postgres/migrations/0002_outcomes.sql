-- Outcomes (issue 17): one row per handoff, for the waiting feedback
-- (wait_due_at, scanned like sessions' expires_at) and the outcome metrics
-- of GET /v1/stats (ranges of started_at). Kept apart from sessions, and
-- left alone by retention, so that the figures outlive the transcripts.
CREATE TABLE outcomes (
	session_id     text PRIMARY KEY,
	bot            text NOT NULL,
	provider       text NOT NULL,
	started_at     timestamptz NOT NULL,
	first_agent_at timestamptz,
	ended_at       timestamptz,
	end_reason     text NOT NULL DEFAULT '',
	csat_score     integer NOT NULL DEFAULT 0,
	csat_scale     integer NOT NULL DEFAULT 0,
	wait_due_at    timestamptz,
	wait_notices   integer NOT NULL DEFAULT 0
);

CREATE INDEX outcomes_wait_due ON outcomes (wait_due_at, session_id)
	WHERE wait_due_at IS NOT NULL;

CREATE INDEX outcomes_started ON outcomes (started_at, bot);
