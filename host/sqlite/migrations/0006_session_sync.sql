-- Reconciliation: where the host last read each session's platform side
-- back (sync_cursor, the provider's own cursor) and when (synced_at, unix
-- ms; 0 for never). Open sessions of a bot are read back oldest read first.
ALTER TABLE sessions ADD COLUMN sync_cursor TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN synced_at INTEGER NOT NULL DEFAULT 0;

CREATE INDEX sessions_sync ON sessions (bot, synced_at, id)
	WHERE state IN ('starting', 'active');
