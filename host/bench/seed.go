package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
	_ "modernc.org/sqlite" // the driver host/sqlite uses, for the bulk insert
)

// seed stores n open sessions of bot in the SQLite file at path, due in a
// day (markDue brings some forward): straight in
// SQL (host/sqlite/migrations/0001_init.sql), one statement, so that
// seeding a million takes seconds rather than the minutes HTTP would.
// host/sqlite.Open creates the schema first, so the file is what
// livechatd would have written.
func seed(ctx context.Context, path, bot string, n int) error {
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=synchronous(off)&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	now := time.Now()
	_, err = conn.ExecContext(ctx, `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO sessions (id, bot, user_id, provider, provider_ref, state, expired_notice, created_at, updated_at, expires_at)
SELECT printf('seed-%08d', i), ?, printf('seed-user-%08d', i), 'echo', printf('echo-seed-%08d', i), ?, ?, ?, ?, ?
FROM n`,
		n, bot, string(host.SessionActive), string(host.ExpiredNoticeImmediate), now.UnixMilli(), now.UnixMilli(),
		now.Add(24*time.Hour).UnixMilli())
	if err != nil {
		return fmt.Errorf("seed %d sessions: %w", n, err)
	}
	return nil
}

// countExpired counts the sessions livechatd has expired, reading the
// file beside it (WAL readers do not block the writer).
func countExpired(ctx context.Context, path string) (int, error) {
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE state = ?`, string(host.SessionExpired)).Scan(&n)
	return n, err
}

// markDue makes the first n seeded sessions due at dueAt.
func markDue(ctx context.Context, path string, n int, dueAt time.Time) error {
	conn, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=synchronous(off)&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `UPDATE sessions SET expires_at = ? WHERE id <= printf('seed-%08d', ?)`, dueAt.UnixMilli(), n)
	return err
}
