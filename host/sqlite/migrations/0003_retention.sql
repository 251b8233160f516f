-- Retention (issue 9): the indexes that make each batch of the retention
-- job an indexed range scan of the rows old enough to go, and the dead
-- letters countable without reading the outbox. Queries must repeat a
-- partial index's WHERE clause word for word for SQLite to use it.

-- Done and dead items, oldest finished first; updated_at is when they
-- finished. Partial, so that claims and retries of pending items, which
-- set updated_at, never touch them; state leads so that the planner
-- prefers them to outbox_queue (state, queue, id) without statistics.
CREATE INDEX outbox_done ON outbox (state, updated_at) WHERE state = 'done';
CREATE INDEX outbox_dead ON outbox (state, updated_at) WHERE state = 'dead';

-- Everything else by age. The messages of a session are walked by their
-- own age and kept while their session is open or closed too recently (a
-- lookup of the session by its key); only sessions that last longer than
-- the transcripts age make a pass step over rows it cannot delete yet.
CREATE INDEX processed_events_created ON processed_events (created_at);
CREATE INDEX webchat_stream_created ON webchat_stream (created_at);
CREATE INDEX messages_created ON messages (created_at);

-- requests_created (created_at) is made by 0004, which recreates requests.
