package postgres

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/livechatd/livechatd/host"
)

// What replicas share beside the outbox's wake-ups: webchat streams that
// grew on another replica, the webchat's "a delivery waits for the
// user's exchange in flight" rule, and which replica reports the gauges
// read from the shared store.

// streamChannel is the LISTEN/NOTIFY channel of webchat streams that grew.
const streamChannel = "livechatd_stream"

// reporterLock is the advisory lock held, on its listening connection, by
// the one replica that exports the gauges computed from the shared store
// ("lcgauges" in ASCII).
const reporterLock = 0x6c63676175676573

// CheckDSN reports whether dsn parses as a connection string, without
// connecting. Its error never quotes dsn (it usually holds a password).
func CheckDSN(dsn string) error {
	if dsn == "" {
		return &host.Error{Code: host.EINVALID, Field: "dsn", Message: "postgres: a connection string is required"}
	}
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return &host.Error{Code: host.EINVALID, Field: "dsn", Message: "postgres: the connection string does not parse"}
	}
	return nil
}

// Replica is the name this store claims outbox items under.
func (db *DB) Replica() string { return db.replica }

// Reporting reports whether this replica is the one that exports the
// gauges read from the shared store (engine.RegisterOutboxGauges): one
// replica at a time holds the reporter lock, so those gauges are not
// multiplied by the number of replicas. When it dies, another takes the
// lock within Options.WakePoll.
func (db *DB) Reporting() bool { return db.reporting.Load() }

// WatchStreams registers fn to be called when a webchat stream grew on
// another replica, with its bot and user; with "", "" after this replica
// may have missed notifications (its listening connection was lost), so
// that every stream is read again. fn must not block.
func (db *DB) WatchStreams(fn func(bot, user string)) {
	db.streams.mu.Lock()
	defer db.streams.mu.Unlock()
	db.streams.watchers = append(db.streams.watchers, fn)
}

// streamFanout is the state of the stream notifications.
type streamFanout struct {
	mu       sync.Mutex
	watchers []func(bot, user string)
	pending  map[string]struct{} // payloads to send
	kick     chan struct{}
}

// streamGrew queues the notification of a committed append to the
// user's stream; the stream notifier sends it apart from the commit.
func (db *DB) streamGrew(bot, user string) {
	db.streams.mu.Lock()
	if db.streams.pending == nil {
		db.streams.pending = map[string]struct{}{}
	}
	db.streams.pending[db.instance+"\x1f"+bot+"\x1f"+user] = struct{}{}
	db.streams.mu.Unlock()
	select {
	case db.streams.kick <- struct{}{}:
	default:
	}
}

// streamNotifier sends the queued stream notifications, those that
// queued meanwhile together, each user once.
func (db *DB) streamNotifier(ctx context.Context) {
	defer db.listener.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.streams.kick:
		}
		db.streams.mu.Lock()
		payloads := make([]string, 0, len(db.streams.pending))
		for p := range db.streams.pending {
			payloads = append(payloads, p)
		}
		clear(db.streams.pending)
		db.streams.mu.Unlock()
		if len(payloads) == 0 {
			continue
		}
		// As for the outbox: a lost notification costs a reload of the
		// page's stream, never an entry (it is stored).
		db.pool.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, p) FROM unnest($2::text[]) p`,
			streamChannel, payloads)
	}
}

// streamNotified calls the watchers for a stream notification of
// another replica.
func (db *DB) streamNotified(payload string) {
	instance, rest, ok := strings.Cut(payload, "\x1f")
	if !ok || instance == db.instance {
		return
	}
	bot, user, ok := strings.Cut(rest, "\x1f")
	if !ok {
		return
	}
	db.callWatchers(bot, user)
}

func (db *DB) callWatchers(bot, user string) {
	db.streams.mu.Lock()
	fns := db.streams.watchers
	db.streams.mu.Unlock()
	for _, fn := range fns {
		fn(bot, user)
	}
}

// exchangeKey is the advisory lock key of user's exchanges with bot.
const exchangeKey = `hashtextextended('webchat_exchange' || chr(31) || $1 || chr(31) || $2, 0)`

// HoldExchange marks an exchange of user with bot as in flight on every
// replica until release is called: AwaitExchanges waits for it. It holds
// a shared advisory lock on a connection of a pool of its own (so that
// exchanges waiting for it never take the connections their own writes
// need); if the replica dies, the connection and the lock go with it.
func (db *DB) HoldExchange(ctx context.Context, bot, user string) (release func(), err error) {
	conn, err := db.locks.Acquire(ctx)
	if err != nil {
		return nil, unavailable("hold exchange", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared(`+exchangeKey+`)`, bot, user); err != nil {
		conn.Release()
		return nil, dbError("hold exchange", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock_shared(`+exchangeKey+`)`, bot, user); err != nil {
				// Closing the session releases its locks.
				conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

// AwaitExchanges waits until no replica holds an exchange of user with
// bot (HoldExchange) that began before it was called.
func (db *DB) AwaitExchanges(ctx context.Context, bot, user string) error {
	// In autocommit, the transaction lock is released as the statement
	// ends: taking it is waiting for the shared holders.
	if _, err := db.locks.Exec(ctx, `SELECT pg_advisory_xact_lock(`+exchangeKey+`)`, bot, user); err != nil {
		return dbError("await exchanges", err)
	}
	return nil
}
