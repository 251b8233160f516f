package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

const day = 24 * time.Hour

// retentionClock is a settable clock: the tests move it instead of
// sleeping.
type retentionClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *retentionClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *retentionClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var retentionT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func openRetentionDB(t testing.TB) (*DB, *retentionClock) {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "livechat.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c := &retentionClock{now: retentionT0}
	db.Now = c.Now
	return db, c
}

// explain returns the query plan of query, one detail a line.
func explain(t testing.TB, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestRetentionPlans checks that every retention batch and the metrics'
// count are indexed range scans: their cost is the rows they delete or
// count, never the table.
func TestRetentionPlans(t *testing.T) {
	db, _ := openRetentionDB(t)
	tests := []struct {
		name  string
		query string
		want  []string // each must appear in the plan
	}{
		{"done work", deleteDoneWorkQuery, []string{"COVERING INDEX outbox_done (state=? AND updated_at<?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{"dead letters", deleteDeadLettersQuery, []string{"COVERING INDEX outbox_dead (state=? AND updated_at<?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{"processed events", deleteProcessedEventsQuery, []string{"COVERING INDEX processed_events_created (created_at<?)", "PRIMARY KEY (scope=? AND event_id=?)"}},
		{"requests", deleteRequestsQuery, []string{"COVERING INDEX requests_created (created_at<?)", "PRIMARY KEY (bot=? AND user_id=? AND request_id=?)"}},
		{"webchat stream", deleteStreamQuery, []string{"COVERING INDEX webchat_stream_created (created_at<?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{"transcripts", deleteTranscriptsQuery, []string{"INDEX messages_created (created_at<?)", "SEARCH s USING INDEX sqlite_autoindex_sessions_1 (id=?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{"outbox counts", outboxCountsQuery, []string{"SCALAR SUBQUERY 1\nSEARCH outbox USING COVERING INDEX", "SCALAR SUBQUERY 2\nSEARCH outbox USING COVERING INDEX"}},
	}
	// A migration that recreates a table must recreate its retention index.
	missing := map[string]bool{}
	for _, index := range []string{"outbox_done", "outbox_dead", "processed_events_created", "requests_created", "webchat_stream_created", "messages_created"} {
		var n int
		if err := db.r.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, index).Scan(&n); err != nil {
			t.Fatal(err)
		}
		missing[index] = n == 0
	}
	for index, gone := range missing {
		if gone {
			t.Errorf("index %s is missing: a migration after 0003_retention.sql dropped its table; recreate the index with the table", index)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := explain(t, db, tt.query, 0, 10)
			t.Logf("%s:\n%s", tt.name, plan)
			for _, w := range tt.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan does not say %q:\n%s", w, plan)
				}
			}
			for _, table := range []string{"outbox", "processed_events", "requests", "webchat_stream", "messages", "sessions", "m", "s"} {
				if strings.Contains(plan+"\n", "SCAN "+table+"\n") || strings.Contains(plan, "SCAN "+table+" ") {
					t.Errorf("plan scans %s:\n%s", table, plan)
				}
			}
			if strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan sorts instead of reading an index in order:\n%s", plan)
			}
		})
	}
	// Each count reads one state's range of an index: pending or dead
	// items only, however many done items the outbox holds.
	if plan := explain(t, db, outboxCountsQuery); strings.Count(plan, "(state=?)") != 2 {
		t.Errorf("the counts do not each search one state's range:\n%s", plan)
	}
}

// counts returns the number of rows of each retained table.
func counts(t testing.TB, db *DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, q := range []struct{ name, where string }{
		{"outbox pending", "outbox WHERE state = 'pending'"},
		{"outbox done", "outbox WHERE state = 'done'"},
		{"outbox dead", "outbox WHERE state = 'dead'"},
		{"processed_events", "processed_events"},
		{"requests", "requests"},
		{"messages", "messages"},
		{"webchat_stream", "webchat_stream"},
		{"sessions", "sessions"},
	} {
		var n int
		if err := db.r.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+q.where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[q.name] = n
	}
	return out
}

// retentionFixture writes, with the clock at each moment, rows that a
// retention pass at retentionT0+100d with the default ages partly deletes.
type retentionFixture struct {
	t   testing.TB
	db  *DB
	clk *retentionClock
}

func (f *retentionFixture) at(ts time.Time) *retentionFixture {
	f.clk.Set(ts)
	return f
}

func (f *retentionFixture) tx(fn func(host.Tx) error) {
	f.t.Helper()
	if err := f.db.Tx(context.Background(), fn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *retentionFixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.w.ExecContext(context.Background(), query, args...); err != nil {
		f.t.Fatal(err)
	}
}

// item enqueues an item now and, unless state is pending, finishes it at
// finished. The state is set directly, and the item's queue (it is alone in
// it) dropped as Complete or Dead would: claims are not what is tested.
func (f *retentionFixture) item(key string, state host.OutboxState, finished time.Time) {
	f.t.Helper()
	o := &host.OutboxItem{Key: key, Queue: "q:" + key, Kind: host.KindProviderSend, Payload: json.RawMessage(`{"transcript":[]}`)}
	f.tx(func(tx host.Tx) error { return tx.Enqueue(o) })
	if state != host.OutboxPending {
		f.exec(`UPDATE outbox SET state = ?, updated_at = ? WHERE id = ?`, state, finished.UnixMilli(), o.ID)
		f.exec(`DELETE FROM outbox_queues WHERE queue = ?`, o.Queue)
	}
}

func (f *retentionFixture) session(user string) *host.Session {
	f.t.Helper()
	s := &host.Session{Bot: "shop", UserID: user, Provider: "gorgias", ExpiresAt: f.clk.Now().Add(30 * time.Minute)}
	f.tx(func(tx host.Tx) error { return tx.CreateSession(s) })
	return s
}

func (f *retentionFixture) closeSession(s *host.Session) {
	f.t.Helper()
	s.State, s.EndReason = host.SessionEnded, host.EndUser
	f.tx(func(tx host.Tx) error { return tx.UpdateSession(s) })
}

func (f *retentionFixture) messages(user, sessionID string, n int) {
	f.t.Helper()
	f.tx(func(tx host.Tx) error {
		for i := range n {
			err := tx.AppendMessage(&host.Message{Bot: "shop", UserID: user, SessionID: sessionID,
				Direction: host.DirectionIn, Author: host.AuthorUser, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *retentionFixture) event(id string) {
	f.exec(`INSERT INTO processed_events (scope, event_id, created_at) VALUES ('webhook:echo/shop', ?, ?)`, id, f.clk.Now().UnixMilli())
}

func (f *retentionFixture) request(id string) {
	f.exec(`INSERT INTO requests (bot, user_id, request_id, body_hash, response, created_at) VALUES ('shop', 'u', ?, '', '{}', ?)`,
		id, f.clk.Now().UnixMilli())
}

func (f *retentionFixture) stream(user string, n int) {
	f.t.Helper()
	for i := range n {
		if _, err := f.db.AppendStream(context.Background(), "shop", user, "", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestRetentionDeletes fills a database over 100 days and runs each delete
// with the default ages at day 100, in batches of 2: only what is old
// enough goes, pending work and open sessions' messages stay, and no batch
// deletes more than its limit.
func TestRetentionDeletes(t *testing.T) {
	ctx := context.Background()
	db, clk := openRetentionDB(t)
	f := &retentionFixture{t: t, db: db, clk: clk}
	t0 := retentionT0
	now := t0.Add(100 * day)

	// Outbox: finished at day 0 (old for every age) and day 95 (young).
	f.at(t0)
	for i := range 5 {
		f.item(fmt.Sprintf("done-old-%d", i), host.OutboxDone, t0)
	}
	f.item("dead-old", host.OutboxDead, t0)
	f.item("pending-old", host.OutboxPending, time.Time{}) // stuck for 100 days: kept
	f.item("done-young", host.OutboxDone, t0.Add(95*day))
	f.item("dead-young", host.OutboxDead, t0.Add(95*day))

	// Dedup records, stream entries and messages outside sessions at day
	// 0 and day 95.
	f.at(t0)
	f.event("e-old-1")
	f.event("e-old-2")
	f.event("e-old-3")
	f.request("r-old-1")
	f.request("r-old-2")
	f.request("r-old-3")
	f.stream("u-stream", 5)
	f.messages("u-bot", "", 5)
	f.at(t0.Add(95 * day))
	f.event("e-young")
	f.request("r-young")
	f.stream("u-stream", 1)
	f.messages("u-bot", "", 1)

	// Sessions, all with messages written at day 0: one closed at day 0
	// (its messages go), one closed at day 20 (closed for 80 days: kept),
	// one still open at day 100 (kept whatever their age).
	f.at(t0)
	closedOld, closedRecently, open := f.session("u-closed-old"), f.session("u-closed-recently"), f.session("u-open")
	f.messages("u-closed-old", closedOld.ID, 3)
	f.messages("u-closed-recently", closedRecently.ID, 3)
	f.messages("u-open", open.ID, 3)
	f.closeSession(closedOld)
	f.at(t0.Add(20 * day)).closeSession(closedRecently)
	f.at(t0.Add(99 * day))
	open.ExpiresAt = now.Add(time.Hour)
	f.tx(func(tx host.Tx) error { return tx.UpdateSession(open) })
	f.at(now)

	before := counts(t, db)
	wantBefore := map[string]int{
		"outbox pending": 1, "outbox done": 6, "outbox dead": 2,
		"processed_events": 4, "requests": 4, "messages": 6 + 9, "webchat_stream": 6, "sessions": 3,
	}
	if diff := cmp.Diff(wantBefore, before); diff != "" {
		t.Fatalf("fixture (-want +got):\n%s", diff)
	}

	const batch = 2
	rules := []struct {
		name   string
		delete func(context.Context, time.Time, int) (int, error)
		age    time.Duration
		want   int // rows deleted in all
	}{
		{"done work", db.DeleteDoneWork, 7 * day, 5},
		{"dead letters", db.DeleteDeadLetters, 30 * day, 1},
		{"processed events", db.DeleteProcessedEvents, 30 * day, 3},
		{"requests", db.DeleteRequests, 7 * day, 3},
		{"transcripts", db.DeleteTranscripts, 90 * day, 5 + 3},
		{"webchat streams", db.DeleteStreamEntries, 30 * day, 5},
	}
	for _, r := range rules {
		total, batches := 0, 0
		for {
			n, err := r.delete(ctx, now.Add(-r.age), batch)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if n > batch {
				t.Errorf("%s: one batch deleted %d rows, limit %d", r.name, n, batch)
			}
			total += n
			if batches++; n == 0 || batches > 10 {
				break
			}
		}
		if total != r.want {
			t.Errorf("%s deleted %d rows, want %d", r.name, total, r.want)
		}
	}

	wantAfter := map[string]int{
		"outbox pending": 1, "outbox done": 1, "outbox dead": 1,
		"processed_events": 1, "requests": 1, "messages": 1 + 3 + 3, "webchat_stream": 1, "sessions": 3,
	}
	if diff := cmp.Diff(wantAfter, counts(t, db)); diff != "" {
		t.Errorf("rows left (-want +got):\n%s", diff)
	}
	// The survivors are the right ones.
	for _, id := range []string{open.ID, closedRecently.ID} {
		if ms, err := db.Messages(ctx, id); err != nil || len(ms) != 3 {
			t.Errorf("session %s has %d messages (%v), want its 3", id, len(ms), err)
		}
	}
	if ms, err := db.Messages(ctx, closedOld.ID); err != nil || len(ms) != 0 {
		t.Errorf("session closed 100 days ago has %d messages (%v), want none", len(ms), err)
	}
	if _, err := db.Session(ctx, closedOld.ID); err != nil {
		t.Errorf("the session itself is kept: %v", err)
	}
	items, err := db.ClaimDue(ctx, now, 10)
	if err != nil || len(items) != 1 || items[0].Key != "pending-old" {
		t.Errorf("claimable after retention: %v (%v), want pending-old", items, err)
	}
}

func TestRetentionBadLimit(t *testing.T) {
	db, _ := openRetentionDB(t)
	if _, err := db.DeleteDoneWork(context.Background(), retentionT0, 0); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("limit 0: %v, want EINVALID", err)
	}
}

func TestOutboxCounts(t *testing.T) {
	db, clk := openRetentionDB(t)
	f := &retentionFixture{t: t, db: db, clk: clk}
	for i := range 3 {
		f.item(fmt.Sprintf("p%d", i), host.OutboxPending, time.Time{})
	}
	for i := range 4 {
		f.item(fmt.Sprintf("d%d", i), host.OutboxDone, retentionT0)
	}
	f.item("x", host.OutboxDead, retentionT0)
	st, err := db.OutboxCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (host.OutboxStats{Pending: 3, Dead: 1}); st != want {
		t.Errorf("OutboxCounts = %+v, want %+v (done items are not counted)", st, want)
	}
}

// fillOutbox inserts n items, one in every 1000 pending and one in every
// 200 dead, the rest done, each with a 200-byte payload.
func fillOutbox(b *testing.B, db *DB, n int) {
	b.Helper()
	_, err := db.w.ExecContext(context.Background(), `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?)
		INSERT INTO outbox (idem_key, queue, kind, payload, next_attempt_at, state, created_at, updated_at)
		SELECT 'k' || n, 'q:' || (n % 500), 'provider_send', printf('{"transcript":"%.190c"}', 'x'), n,
			CASE WHEN n % 1000 = 0 THEN 'pending' WHEN n % 200 = 0 THEN 'dead' ELSE 'done' END, n, n
		FROM i`, n)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOutboxScrape is what one /metrics scrape costs the store with
// 200k outbox items: before, the two gauges each ran OutboxStats, a count
// of the whole outbox; after, one OutboxCounts reads the pending and dead
// ranges of their partial indexes only.
func BenchmarkOutboxScrape(b *testing.B) {
	db, _ := openRetentionDB(b)
	fillOutbox(b, db, 200_000)
	ctx := context.Background()
	b.Run("before/2xOutboxStats", func(b *testing.B) {
		for b.Loop() {
			for range 2 {
				if _, err := db.OutboxStats(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("after/OutboxCounts", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.OutboxCounts(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRetentionBatch is one batch of done items deleted from an
// outbox of 200k, by batch size: how long the retention job holds the
// writer at a time. The items of a batch belong to many queues, as they
// do in production, so each batch touches pages all over outbox_queue.
func BenchmarkRetentionBatch(b *testing.B) {
	for _, batch := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db, _ := openRetentionDB(b)
			fillOutbox(b, db, 200_000)
			ctx := context.Background()
			cutoff := time.UnixMilli(1_000_000) // after every row
			for b.Loop() {
				n, err := db.DeleteDoneWork(ctx, cutoff, batch)
				if err != nil {
					b.Fatal(err)
				}
				if n != batch {
					b.Fatalf("deleted %d rows, want %d (the fixture ran out)", n, batch)
				}
			}
		})
	}
}
