// Package postgres implements host.Store on PostgreSQL (jackc/pgx, a
// connection pool with prepared statements) for several livechatd
// replicas on one database: migrations are embedded and applied under an
// advisory lock; sessions read inside a transaction are locked (SELECT …
// FOR UPDATE) so that changes based on them cannot race; outbox claims
// use FOR UPDATE SKIP LOCKED, fenced by claim tokens and leases, with a
// queue's row locked while its items are enqueued, claimed or finished so
// that a queue's order is its commit order; and a commit that enqueued
// wakes every replica through LISTEN/NOTIFY, with a bounded poll as the
// safety net.
//
// It needs PostgreSQL 13 or newer (gen_random_uuid).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livechatd/livechatd/host"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open. The zero value is the default.
type Options struct {
	// Lease is how long a claimed outbox item stays invisible to ClaimDue.
	// A worker must finish an attempt well within it. Default 2m.
	Lease time.Duration
	// MaxConns is the size of the connection pool. Default 16.
	MaxConns int
	// Replica names this replica in the claims it makes, so that
	// ReleaseClaims hands back only the claims a previous run of the same
	// replica left. It must be stable across restarts of one replica and
	// differ between replicas. Default: the host name.
	Replica string
	// WakePoll is the safety net of Wake: when no notification came for
	// this long, the store checks whether a queue head is due and signals
	// if so (a notification lost with a connection, say). Default 5s.
	WakePoll time.Duration
}

// DB is a host.Store on one PostgreSQL database.
type DB struct {
	// Now is the clock for every time the store sets itself. Tests replace
	// it right after Open.
	Now func() time.Time

	pool     *pgxpool.Pool
	locks    *pgxpool.Pool // the webchat's exchange locks (fanout.go)
	connCfg  *pgx.ConnConfig
	lease    time.Duration
	replica  string
	instance string // this DB value's id, in its notifications, to skip its own
	wake     chan struct{}
	wakePoll time.Duration
	notify   chan struct{} // a commit enqueued: tell the other replicas

	records recorder // Record calls waiting to be written together

	streams   streamFanout
	reporting atomic.Bool // this replica holds reporterLock

	stop     context.CancelFunc
	listener sync.WaitGroup
}

var _ host.Store = (*DB)(nil)

// notifyChannel is the LISTEN/NOTIFY channel of new outbox items.
const notifyChannel = "livechatd_outbox"

// migrationLock is the advisory lock key that serialises the migrations
// of replicas starting together ("livechat" in ASCII).
const migrationLock = 0x6c69766563686174

// Open connects to the database of dsn, applies the migrations it has not
// seen yet and starts listening for other replicas' work.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if dsn == "" {
		return nil, &host.Error{Code: host.EINVALID, Field: "dsn", Message: "postgres: a connection string is required"}
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the string, password included.
		return nil, &host.Error{Code: host.EINVALID, Field: "dsn", Message: "postgres: the connection string does not parse"}
	}
	if opts.MaxConns < 0 {
		return nil, &host.Error{Code: host.EINVALID, Field: "max_conns", Message: "postgres: the pool size must be positive"}
	}
	cfg.MaxConns = 16
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	db := &DB{
		Now:      time.Now,
		connCfg:  listenerConfig(cfg.ConnConfig),
		lease:    opts.Lease,
		replica:  opts.Replica,
		instance: host.NewID(),
		wake:     make(chan struct{}, 1),
		wakePoll: opts.WakePoll,
		notify:   make(chan struct{}, 1),
	}
	db.streams.kick = make(chan struct{}, 1)
	if db.lease <= 0 {
		db.lease = 2 * time.Minute
	}
	if db.wakePoll <= 0 {
		db.wakePoll = 5 * time.Second
	}
	if db.replica == "" {
		db.replica, _ = os.Hostname()
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable("connect", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.pool.Close()
		return nil, err
	}
	db.locks, err = pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		db.pool.Close()
		return nil, unavailable("connect", err)
	}
	lctx, stop := context.WithCancel(context.Background())
	db.stop = stop
	ready := make(chan error, 1)
	db.listener.Add(3)
	go db.listen(lctx, ready)
	go db.notifier(lctx)
	go db.streamNotifier(lctx)
	select {
	case err := <-ready:
		if err != nil {
			db.Close()
			return nil, err
		}
	case <-ctx.Done():
		db.Close()
		return nil, ctx.Err()
	}
	return db, nil
}

// listenerName is the application_name of the connection that listens,
// to tell it apart in pg_stat_activity.
const listenerName = "livechatd-listener"

func listenerConfig(c *pgx.ConnConfig) *pgx.ConnConfig {
	c = c.Copy()
	c.RuntimeParams["application_name"] = listenerName
	return c
}

// migrate applies the embedded migrations in order, each in its own
// transaction with its record, holding an advisory lock so that replicas
// starting together apply each once.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return unavailable("migrate", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return dbError("migrate: lock", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return dbError("migrate: create schema_migrations", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	sort.Strings(names)
	latest := 0
	for _, name := range names {
		version, err := migrationVersion(name)
		if err != nil {
			return err
		}
		latest = max(latest, version)
		var applied bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&applied); err != nil {
			return dbError("migrate", err)
		}
		if applied {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				version, path.Base(name), db.now())
			return err
		})
		if err != nil {
			return dbError("migration "+path.Base(name), err)
		}
	}
	var stored int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&stored); err != nil {
		return dbError("migrate: schema version", err)
	}
	if stored > latest {
		return &host.Error{Code: host.ECONFLICT, Field: "dsn",
			Message: fmt.Sprintf("postgres: the database has schema version %d, newer than this livechatd knows (%d)", stored, latest)}
	}
	return nil
}

func migrationVersion(name string) (int, error) {
	base := path.Base(name)
	digits, _, ok := strings.Cut(base, "_")
	v, err := strconv.Atoi(digits)
	if !ok || err != nil || v <= 0 {
		return 0, fmt.Errorf("postgres: migration %s: name must start with a number and an underscore", base)
	}
	return v, nil
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close stops listening and closes every connection.
func (db *DB) Close() error {
	if db.stop != nil {
		db.stop()
		db.listener.Wait()
	}
	db.pool.Close()
	if db.locks != nil {
		db.locks.Close()
	}
	return nil
}

// Wake implements host.Outbox: it receives after a commit of this store
// stored a new outbox item, after another replica's did (NOTIFY), and
// when the safety poll finds a due head.
func (db *DB) Wake() <-chan struct{} { return db.wake }

func (db *DB) signal() {
	select {
	case db.wake <- struct{}{}:
	default: // a signal is already pending; they coalesce
	}
}

// notifyOthers asks the notifier to tell the other replicas that work
// was committed. Requests coalesce while a notification is on its way.
func (db *DB) notifyOthers() {
	select {
	case db.notify <- struct{}{}:
	default:
	}
}

// notifier sends the notifications of this store's commits, after them
// and apart from them. A NOTIFY inside the transaction would be cheaper by
// a statement but dear at scale: PostgreSQL serialises the commits of
// notifying transactions cluster-wide (a lock held through the commit's
// WAL flush, so that notifications queue in commit order), which would
// make every enqueuing commit of every replica wait for the others'. Sent
// apart, bursts coalesce into one notification, committed without
// waiting for the flush (a lost notification costs a poll, not work).
func (db *DB) notifier(ctx context.Context) {
	defer db.listener.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.notify:
		}
		// An error is not retried: the listeners' poll finds the work.
		db.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)`, notifyChannel, db.instance)
	}
}

// listen receives the notifications of other replicas' commits on a
// connection of its own, reconnecting when it is lost; after a reconnect,
// and whenever wakePoll passes without a notification, it checks for due
// work itself. ready receives the outcome of the first LISTEN.
func (db *DB) listen(ctx context.Context, ready chan<- error) {
	defer db.listener.Done()
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, db.connCfg)
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+notifyChannel)
		}
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+streamChannel)
		}
		if err == nil {
			db.tryReport(ctx, conn)
		}
		if first {
			first = false
			if err != nil {
				ready <- unavailable("listen", err)
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			}
			ready <- nil
		} else if err == nil {
			db.pollDue(ctx)         // what was committed while we were away
			db.callWatchers("", "") // streams that grew meanwhile
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			db.receive(ctx, conn)
		}
		db.reporting.Store(false) // the lock goes with the connection
		if conn != nil {
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// receive waits for notifications on conn until it fails or ctx ends.
func (db *DB) receive(ctx context.Context, conn *pgx.Conn) {
	for {
		wctx, cancel := context.WithTimeout(ctx, db.wakePoll)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			switch {
			case n.Channel == streamChannel:
				db.streamNotified(n.Payload)
			case n.Payload != db.instance:
				db.signal()
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			db.pollDue(ctx)
			db.tryReport(ctx, conn)
			if conn.IsClosed() {
				return
			}
		default:
			return // the connection is lost: reconnect
		}
	}
}

// tryReport takes the reporter lock on conn unless this replica holds it.
func (db *DB) tryReport(ctx context.Context, conn *pgx.Conn) {
	if db.reporting.Load() || conn.IsClosed() {
		return
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(reporterLock)).Scan(&got); err == nil && got {
		db.reporting.Store(true)
	}
}

// pollDue signals when a queue head is due now.
func (db *DB) pollDue(ctx context.Context) {
	at, ok, err := db.NextDue(ctx)
	if err == nil && ok && !at.After(db.now()) {
		db.signal()
	}
}

// now is the store's clock at the precision it stores.
func (db *DB) now() time.Time {
	return db.Now().UTC().Truncate(time.Millisecond)
}

// ms truncates t to the stored precision.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// orNull is t, or NULL for the zero time.
func orNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// fromNull reads a nullable time.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// Errors. A failed statement aborts a PostgreSQL transaction, so the
// methods of Tx that may meet a constraint avoid failing (ON CONFLICT,
// guarded INSERT … SELECT) and report the conflict as an *Error while the
// transaction stays usable.

// retryable reports whether err is a serialization failure or a deadlock:
// nothing was committed and running the transaction again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// dbError wraps a database error with context: contention is EBUSY (retry
// after a moment), a lost or refused connection EUNAVAILABLE; context
// errors stay matchable with errors.Is.
func dbError(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case retryable(err), pe.Code == "55P03": // lock_not_available
			return &host.Error{Code: host.EBUSY, Message: "database busy", Err: fmt.Errorf("%s: %w", what, err)}
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"): // connection, shutdown
			return unavailable(what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return unavailable(what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func unavailable(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &host.Error{Code: host.EUNAVAILABLE, Message: "database unavailable", Err: fmt.Errorf("%s: %w", what, err)}
}
