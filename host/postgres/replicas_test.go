package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/internal/pgtest"
	"github.com/livechatd/livechatd/host/postgres"
)

// What only several replicas on one database show: the storetest suite
// runs one store at a time.

var bg = context.Background()

// replicas opens n stores on one fresh database, named r0, r1, ….
func replicas(t *testing.T, n int, o postgres.Options) ([]*postgres.DB, string) {
	t.Helper()
	dsn := pgtest.Database(t)
	dbs := make([]*postgres.DB, n)
	for i := range dbs {
		o := o
		o.Replica = fmt.Sprintf("r%d", i)
		dbs[i] = openDSN(t, dsn, o)
	}
	return dbs, dsn
}

// waitWake waits up to d for a signal of db's Wake.
func waitWake(db *postgres.DB, d time.Duration) bool {
	select {
	case <-db.Wake():
		return true
	case <-time.After(d):
		return false
	}
}

func woke(db *postgres.DB) bool {
	select {
	case <-db.Wake():
		return true
	default:
		return false
	}
}

func enqueue(t *testing.T, db *postgres.DB, queue, key string) *host.OutboxItem {
	t.Helper()
	o := &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindProviderSend}
	if err := db.Tx(bg, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
		t.Fatalf("enqueue %s: %v", key, err)
	}
	return o
}

// Three replicas migrating one empty database at once: each migration is
// applied once, and every replica opens.
func TestOpenMigratesOnceAcrossReplicas(t *testing.T) {
	dsn := pgtest.Database(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(bg, dsn, postgres.Options{Replica: fmt.Sprint(i)})
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var versions string
	if err := conn.QueryRow(bg, `SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	var want []string
	for _, f := range files {
		v, _, _ := strings.Cut(filepath.Base(f), "_")
		n, _ := strconv.Atoi(v)
		want = append(want, fmt.Sprintf("%d:%s", n, filepath.Base(f)))
	}
	if versions != strings.Join(want, ",") {
		t.Errorf("schema_migrations = %q, want each migration once: %q", versions, strings.Join(want, ","))
	}
	// A database migrated by a newer livechatd is refused.
	if _, err := conn.Exec(bg, `INSERT INTO schema_migrations VALUES (999, '0999_future.sql', now())`); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(bg, dsn, postgres.Options{}); err == nil {
		db.Close()
		t.Fatal("Open of a database migrated by a newer livechatd succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open: %v, want a schema version error", err)
	}
}

// Bad and unreachable connection strings are refused with a code and the
// field, and the password appears in no error.
func TestOpenErrorsKeepTheSecret(t *testing.T) {
	const secret = "s3cr3t-pw"
	srv := pgtest.Shared(t)
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, dsn, code string
	}{
		{"empty", "", host.EINVALID},
		{"does not parse", "postgres://u:" + secret + "@127.0.0.1:5432/db?sslmode=bogus&connect_timeout=x", host.EINVALID},
		{"no server", fmt.Sprintf("postgres://u:%s@127.0.0.1:1/db?sslmode=disable&connect_timeout=5", secret), host.EUNAVAILABLE},
		{"no database", fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/no_such_db?sslmode=disable", secret, srv.Port), host.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := postgres.Open(ctx, tc.dsn, postgres.Options{})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if got := host.ErrorCode(err); got != tc.code {
				t.Errorf("code %q (%v), want %q", got, err, tc.code)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// Producers on every replica fill a few queues while workers on every
// replica claim and complete: every item is handed out once while its
// lease holds, completed once, and each queue's items in commit order.
func TestReplicasShareTheOutbox(t *testing.T) {
	dbs, _ := replicas(t, 3, postgres.Options{Lease: time.Minute})
	const (
		queues  = 5
		perProd = 40
	)
	total := len(dbs) * 2 * perProd
	var (
		mu       sync.Mutex
		claimed  = map[string][]int64{}
		seen     = map[int64]string{}
		failures []string
	)
	fail := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(f, a...))
	}
	var prod sync.WaitGroup
	for r, db := range dbs {
		for p := range 2 {
			prod.Go(func() {
				for i := range perProd {
					o := &host.OutboxItem{Key: fmt.Sprintf("r%d-p%d-%d", r, p, i), Queue: fmt.Sprintf("q%d", (r+p+i)%queues), Kind: host.KindProviderSend}
					if err := db.Tx(bg, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
						fail("enqueue: %v", err)
						return
					}
				}
			})
		}
	}
	ctx, stop := context.WithCancel(bg)
	var work sync.WaitGroup
	for r, db := range dbs {
		for w := range 2 {
			work.Go(func() {
				for ctx.Err() == nil {
					items, err := db.ClaimDue(ctx, time.Now(), 4)
					if err != nil {
						if ctx.Err() == nil {
							fail("claim on r%d: %v", r, err)
						}
						return
					}
					mu.Lock()
					for _, it := range items {
						if by, ok := seen[it.ID]; ok {
							failures = append(failures, fmt.Sprintf("item %d handed to r%d/w%d after %s", it.ID, r, w, by))
						}
						seen[it.ID] = fmt.Sprintf("r%d/w%d", r, w)
						claimed[it.Queue] = append(claimed[it.Queue], it.ID)
					}
					mu.Unlock()
					for _, it := range items {
						if err := db.Complete(bg, it); err != nil {
							fail("complete %d on r%d: %v", it.ID, r, err)
						}
					}
					if len(items) == 0 {
						select { // nothing due: wait for work, as the engine does
						case <-db.Wake():
						case <-time.After(20 * time.Millisecond):
						case <-ctx.Done():
						}
					}
				}
			})
		}
	}
	prod.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := dbs[0].OutboxStats(bg)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done == int64(total) || time.Now().After(deadline) {
			if st.Done != int64(total) {
				t.Errorf("after 60s: %+v, want %d done", st, total)
			}
			break
		}
		waitWake(dbs[0], 20*time.Millisecond)
	}
	stop()
	work.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(seen) != total {
		t.Errorf("%d items handed out, want %d", len(seen), total)
	}
	for q, ids := range claimed {
		if !slices.IsSorted(ids) {
			t.Errorf("queue %s worked on out of order: %v", q, ids)
		}
	}
}

// A commit that enqueues wakes every other replica through NOTIFY, and
// its own store once, locally (its own notification is skipped).
func TestWakeAcrossReplicas(t *testing.T) {
	dbs, _ := replicas(t, 3, postgres.Options{WakePoll: time.Hour})
	a, b, c := dbs[0], dbs[1], dbs[2]
	enqueue(t, a, "q", "k1")
	if !woke(a) {
		t.Fatal("no local wake after the commit")
	}
	for i, db := range []*postgres.DB{b, c} {
		if !waitWake(db, 10*time.Second) {
			t.Fatalf("replica %d was not woken by another's commit", i+1)
		}
	}
	// b's commit reaches a after a's own notification (a listener gets
	// them in commit order): one signal then means a skipped its own.
	enqueue(t, b, "q", "k2")
	if !woke(b) {
		t.Fatal("no local wake on b")
	}
	if !waitWake(a, 10*time.Second) {
		t.Fatal("a was not woken by b's commit")
	}
	if !waitWake(c, 10*time.Second) {
		t.Fatal("c was not woken by b's commit")
	}
	if woke(a) {
		t.Error("a holds a second signal: its own notification woke it")
	}
	// Commits that store nothing new notify nobody: a repeated key.
	if err := c.Tx(bg, func(tx host.Tx) error {
		return tx.Enqueue(&host.OutboxItem{Key: "k1", Queue: "q", Kind: host.KindProviderSend})
	}); err != nil {
		t.Fatal(err)
	}
	if woke(c) {
		t.Error("a commit that stored nothing woke its own store")
	}
	enqueue(t, b, "q", "k3") // a marker after it
	woke(b)
	for i, db := range []*postgres.DB{a, c} {
		if !waitWake(db, 10*time.Second) {
			t.Fatalf("replica %d was not woken by the marker", 2*i)
		}
		if woke(db) {
			t.Errorf("replica %d holds a second signal: the commit that stored nothing notified", 2*i)
		}
	}
}

// The safety net: work that arrives without a notification (a listener
// that was down, a notification lost) wakes a replica within the poll.
func TestWakePollFindsDueWork(t *testing.T) {
	dbs, dsn := replicas(t, 1, postgres.Options{WakePoll: 100 * time.Millisecond})
	db := dbs[0]
	woke(db)
	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	// An item stored as another replica would, minus the NOTIFY.
	if _, err := conn.Exec(bg, `WITH o AS (
			INSERT INTO outbox (id, idem_key, queue, kind, next_attempt_at, state, created_at, updated_at)
			VALUES (nextval('outbox_id'), 'k', 'q', 'provider_send', now(), 'pending', now(), now()) RETURNING id)
		INSERT INTO outbox_queues (queue, head_id, due_at) SELECT 'q', id, now() FROM o`); err != nil {
		t.Fatal(err)
	}
	if !waitWake(db, 10*time.Second) {
		t.Fatal("the poll did not find the due item")
	}
	items, err := db.ClaimDue(bg, time.Now(), 10)
	if err != nil || len(items) != 1 || items[0].Key != "k" {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
}

// A listener whose connection is cut reconnects, and then checks for due
// work itself: nothing committed meanwhile waits for the next commit.
func TestListenerReconnects(t *testing.T) {
	dbs, dsn := replicas(t, 2, postgres.Options{WakePoll: time.Hour})
	a, b := dbs[0], dbs[1]
	conn, err := pgx.Connect(bg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var killed int
	if err := conn.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'livechatd-listener' AND datname = current_database()`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 2 {
		t.Fatalf("terminated %d listeners, want 2", killed)
	}
	enqueue(t, b, "q", "while-a-was-away")
	if !waitWake(a, 20*time.Second) {
		t.Fatal("a was not woken after its listener reconnected")
	}
	// Listening again: the next commit wakes it through NOTIFY.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(bg, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'livechatd-listener' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners after 20s, want 2", n)
		}
		waitWake(a, 50*time.Millisecond)
	}
	woke(a)
	enqueue(t, b, "q2", "after")
	if !waitWake(a, 10*time.Second) {
		t.Fatal("a was not woken by a commit after the reconnect")
	}
}

// ReleaseClaims hands back only the claims of its own replica: a replica
// starting must not take work that another, alive, is running; a restart
// of the same replica gets back what its crashed run held.
func TestReleaseClaimsIsPerReplica(t *testing.T) {
	dbs, dsn := replicas(t, 2, postgres.Options{Lease: time.Hour})
	a, b := dbs[0], dbs[1]
	enqueue(t, a, "qa", "held-by-a")
	enqueue(t, a, "qb", "held-by-b")
	now := time.Now()
	ia, err := a.ClaimDue(bg, now, 1)
	if err != nil || len(ia) != 1 {
		t.Fatalf("a claimed %v, %v", ia, err)
	}
	ib, err := b.ClaimDue(bg, now, 1)
	if err != nil || len(ib) != 1 {
		t.Fatalf("b claimed %v, %v", ib, err)
	}
	if err := b.ReleaseClaims(bg); err != nil {
		t.Fatal(err)
	}
	got, err := a.ClaimDue(bg, now, 10)
	if err != nil || len(got) != 1 || got[0].ID != ib[0].ID {
		t.Fatalf("after b's ReleaseClaims: claimed %v, %v; want b's item only", got, err)
	}
	if err := b.Complete(bg, ib[0]); host.ErrorCode(err) != host.ECONFLICT {
		t.Errorf("b's released claim completed: %v, want ECONFLICT", err)
	}
	// a "crashes" and comes back under the same name.
	restarted := openDSN(t, dsn, postgres.Options{Replica: "r0", Lease: time.Hour})
	if err := restarted.ReleaseClaims(bg); err != nil {
		t.Fatal(err)
	}
	// Both items a held (its first claim and b's, taken over) are free.
	again, err := b.ClaimDue(bg, now, 10)
	if err != nil || len(again) != 2 {
		t.Fatalf("after a's restart: claimed %v, %v; want both items", again, err)
	}
	if err := a.Complete(bg, ia[0]); host.ErrorCode(err) != host.ECONFLICT {
		t.Errorf("the crashed run's claim completed: %v, want ECONFLICT", err)
	}
}

// Three replicas run the expiry job at once over the same due sessions,
// as the engine does (DueExpiries, then a Tx that reads each session and
// expires it if still open and due): each session is expired once, and
// its end is enqueued once.
func TestExpiryOnceAcrossReplicas(t *testing.T) {
	dbs, _ := replicas(t, 3, postgres.Options{})
	const n = 300
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	err := dbs[0].Tx(bg, func(tx host.Tx) error {
		ids = ids[:0]
		for i := range n {
			s := &host.Session{Bot: "shop", UserID: fmt.Sprintf("u%03d", i), Provider: "gorgias", State: host.SessionActive,
				ExpiresAt: now.Add(-time.Duration(i) * time.Millisecond)}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
			ids = append(ids, s.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	expiredBy := map[string]int{}
	var wg sync.WaitGroup
	for r, db := range dbs {
		wg.Go(func() {
			for {
				due, err := db.DueExpiries(bg, now, 50)
				if err != nil {
					t.Errorf("r%d: %v", r, err)
					return
				}
				if len(due) == 0 {
					return
				}
				var mine []string
				err = db.Tx(bg, func(tx host.Tx) error {
					mine = mine[:0]
					for _, d := range due {
						s, err := tx.Session(d.ID)
						if err != nil {
							return err
						}
						if !s.State.IsOpen() || s.ExpiresAt.After(now) {
							continue
						}
						s.State, s.EndReason = host.SessionExpired, host.EndExpired
						if err := tx.UpdateSession(s); err != nil {
							return err
						}
						if err := tx.Enqueue(&host.OutboxItem{Key: "end:" + s.ID, Queue: host.ProviderQueue(s.ID), Kind: host.KindProviderEnd}); err != nil {
							return err
						}
						mine = append(mine, s.ID)
					}
					return nil
				})
				if err != nil {
					t.Errorf("r%d: %v", r, err)
					return
				}
				mu.Lock()
				for _, id := range mine {
					expiredBy[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if expiredBy[id] != 1 {
			t.Errorf("session %s expired %d times", id, expiredBy[id])
		}
	}
	st, err := dbs[0].OutboxStats(bg)
	if err != nil || st.Pending != n {
		t.Errorf("outbox %+v, %v; want %d ends", st, err, n)
	}
}

// A transaction picked as a deadlock victim runs again: two transactions
// locking two sessions in opposite orders both commit.
func TestDeadlockVictimRunsAgain(t *testing.T) {
	dbs, _ := replicas(t, 2, postgres.Options{})
	var ids [2]string
	for i := range ids {
		s := &host.Session{Bot: "shop", UserID: fmt.Sprintf("u%d", i), Provider: "gorgias", ExpiresAt: time.Now().Add(time.Hour)}
		if err := dbs[0].Tx(bg, func(tx host.Tx) error { return tx.CreateSession(s) }); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	var (
		wg       sync.WaitGroup
		both     sync.WaitGroup // both hold their first lock
		runs     [2]int
		firstRun [2]sync.Once
	)
	both.Add(2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			errs[i] = dbs[i].Tx(bg, func(tx host.Tx) error {
				runs[i]++
				first, second := ids[i], ids[1-i]
				s, err := tx.Session(first)
				if err != nil {
					return err
				}
				firstRun[i].Do(both.Done)
				both.Wait()
				if _, err := tx.Session(second); err != nil {
					return err
				}
				s.ChannelID = fmt.Sprintf("by %d", i)
				return tx.UpdateSession(s)
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		var he *host.Error
		if err != nil {
			t.Errorf("transaction %d: %v (as *Error: %v)", i, err, errors.As(err, &he))
		}
	}
	// The victim runs again; its second run may meet the other
	// transaction again (it can lock the first row before the other's
	// wait ends), so more runs are fine, as long as both commit.
	if runs[0]+runs[1] < 3 {
		t.Errorf("runs %v: want a transaction run again (the deadlock's victim)", runs)
	}
}
