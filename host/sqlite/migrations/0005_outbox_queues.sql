-- The head of each queue with pending work, kept as work is enqueued and
-- finished, so that claiming costs the due heads, not the whole backlog
-- (the heads used to be computed as MIN(id) GROUP BY queue over every
-- pending item, on every claim).
--
-- due_at is when the head can be claimed: its next attempt, or the end of
-- its lease while it is claimed.
CREATE TABLE outbox_queues (
	queue   TEXT PRIMARY KEY,
	head_id INTEGER NOT NULL,
	due_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX outbox_queues_due ON outbox_queues (due_at, head_id);

INSERT INTO outbox_queues (queue, head_id, due_at)
	SELECT o.queue, o.id, MAX(o.next_attempt_at, o.claimed_until)
	FROM outbox o
	JOIN (SELECT MIN(id) AS id FROM outbox WHERE state = 'pending' GROUP BY queue) h ON h.id = o.id;
