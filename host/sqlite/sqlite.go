// Package sqlite implements host.Store on SQLite (modernc.org/sqlite, no
// cgo) for a single livechatd process: WAL journal, one writer connection
// and a small pool of readers, migrations embedded and applied on Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open. The zero value is the default.
type Options struct {
	// Synchronous is "normal" (the default: what was committed survives a
	// crash of the process) or "full" (it survives a power loss too).
	Synchronous string
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before it fails with EUNAVAILABLE. Default 5s.
	BusyTimeout time.Duration
	// Lease is how long a claimed outbox item stays invisible to ClaimDue.
	// A worker must finish an attempt well within it. Default 2m.
	Lease time.Duration
	// Readers is the size of the read-only connection pool. Default 4.
	Readers int
}

// DB is a host.Store on one SQLite file.
type DB struct {
	// Now is the clock for every time the store sets itself. Tests replace
	// it right after Open.
	Now func() time.Time

	path  string
	lease time.Duration
	w     *sql.DB // one connection: SQLite has one writer at a time anyway
	lock  *fileLock
	r     *sql.DB // read-only connections; WAL lets them run beside the writer
	rq    readers // r, with prepared statements: what reads use
	wake  chan struct{}

	wstmts *stmtCache // the writer's prepared statements

	commits committer // Tx calls waiting to be committed together
}

var _ host.Store = (*DB)(nil)

// Open opens (creating when needed) the database at path, checks that it is
// in WAL mode and applies the migrations it has not seen yet.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, &host.Error{Code: host.EINVALID, Field: "path", Message: "sqlite: database path required"}
	}
	sync := "NORMAL"
	switch strings.ToLower(opts.Synchronous) {
	case "", "normal":
	case "full":
		sync = "FULL"
	default:
		return nil, &host.Error{Code: host.EINVALID, Field: "synchronous",
			Message: fmt.Sprintf("sqlite: synchronous must be \"normal\" or \"full\", not %q", opts.Synchronous)}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	lease := opts.Lease
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	readers := opts.Readers
	if readers <= 0 {
		readers = 4
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
	}

	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	db := &DB{Now: time.Now, path: path, lease: lease, lock: lock, wake: make(chan struct{}, 1)}
	busyPragma := fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds())

	// temp_store(memory): group commit runs each transaction of a batch in
	// a savepoint, and SQLite keeps the pages a savepoint changes in a
	// sub-journal, which spills to a temporary file past 64 KiB — a
	// write(2) per page, a fifth of the bot path's CPU in the profile. In
	// memory it is a copy; it is never needed after the batch commits.
	db.w, err = sql.Open("sqlite", dsn(path, "_txlock=immediate",
		busyPragma, "journal_mode(wal)", "foreign_keys(1)", "synchronous("+sync+")", "temp_store(memory)"))
	if err != nil {
		lock.release()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.wstmts = newStmtCache(db.w)
	db.w.SetConnMaxIdleTime(0)
	db.w.SetConnMaxLifetime(0)

	ctx := context.Background()
	if err := db.checkWAL(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}

	// Readers are opened after the writer has put the file in WAL mode;
	// query_only makes a write through them fail instead of contending
	// with the writer.
	db.r, err = sql.Open("sqlite", dsn(path, "", busyPragma, "foreign_keys(1)", "query_only(1)"))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open readers: %w", err)
	}
	db.r.SetMaxOpenConns(readers)
	db.r.SetMaxIdleConns(readers)
	db.rq = readerPool(db.r)
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dsn builds a modernc.org/sqlite URI with pragmas that every pooled
// connection runs when it opens.
func dsn(path, extra string, pragmas ...string) string {
	// The path is a URI path: escape what would end it early.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(esc)
	sep := "?"
	for _, p := range pragmas {
		b.WriteString(sep + "_pragma=" + p)
		sep = "&"
	}
	if extra != "" {
		b.WriteString(sep + extra)
	}
	return b.String()
}

func (db *DB) checkWAL(ctx context.Context) error {
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: journal mode is %q, want wal (is %s on a file system without shared memory?)", mode, db.path)
	}
	return nil
}

// migrate applies the embedded migrations in order, each in its own
// transaction together with its record, so a crash leaves no half-applied
// migration. The immediate transaction also serialises two processes
// opening the same file.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	latest := 0
	for _, name := range names {
		version, err := migrationVersion(name)
		if err != nil {
			return err
		}
		latest = max(latest, version)
		if err := db.applyMigration(ctx, version, name); err != nil {
			return err
		}
	}
	var stored int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&stored); err != nil {
		return fmt.Errorf("sqlite: schema version: %w", err)
	}
	if stored > latest {
		return fmt.Errorf("sqlite: %s has schema version %d, newer than this livechatd knows (%d)", db.path, stored, latest)
	}
	return nil
}

func migrationVersion(name string) (int, error) {
	base := filepath.Base(name)
	digits, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(digits)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("sqlite: migration %s: name must start with a number and an underscore", base)
	}
	return v, nil
}

func (db *DB) applyMigration(ctx context.Context, version int, name string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", version, err)
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, name)
	if err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("sqlite: migration %s: %w", filepath.Base(name), err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		version, filepath.Base(name), db.now().UnixMilli()); err != nil {
		return fmt.Errorf("sqlite: record migration %d: %w", version, err)
	}
	return tx.Commit()
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.rq.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return dbError("ping", err)
	}
	return nil
}

// Close closes every connection. The WAL is checkpointed when the last one
// closes.
func (db *DB) Close() error {
	var errs []error
	if db.rq.stmts != nil {
		db.rq.stmts.close()
	}
	if db.wstmts != nil {
		db.wstmts.close()
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	errs = append(errs, db.lock.release())
	db.lock = nil
	return errors.Join(errs...)
}

// Wake implements host.Outbox.
func (db *DB) Wake() <-chan struct{} { return db.wake }

func (db *DB) signal() {
	select {
	case db.wake <- struct{}{}:
	default: // a signal is already pending; they coalesce
	}
}

// now is the store's clock at the precision it stores.
func (db *DB) now() time.Time {
	return db.Now().UTC().Truncate(time.Millisecond)
}

// tx implements host.Tx. Every time it sets is the one read when the
// transaction began, so a transaction's rows agree with each other.
type tx struct {
	ctx      context.Context
	tx       writeTx
	now      time.Time
	enqueued bool
}

var _ host.Tx = (*tx)(nil)

// queryer is what *sql.DB and *sql.Tx share, so reads run the same inside
// and outside a transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbError wraps a database error with context, turning lock contention
// into EUNAVAILABLE so that callers may retry. Context errors stay
// matchable with errors.Is.
func dbError(what string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &host.Error{Code: host.EBUSY, Message: "database busy", Err: fmt.Errorf("%s: %w", what, err)}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// constraint returns the extended SQLite result code of a constraint
// violation, or 0.
func constraint(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return se.Code()
	}
	return 0
}

// Times are stored as unix milliseconds, the zero time as NULL.
func msOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// msOrZero is msOrNull for the columns that keep 0 for the zero time.
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.Int64).UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonOrNull stores nil JSON as NULL so that it reads back as nil.
func jsonOrNull(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
