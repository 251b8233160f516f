package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// TestOutboxQueueOrder walks the worker through two queues: only heads are
// claimed, a retried head blocks its queue until it is done or dead, and
// the other queue goes on meanwhile.
func TestOutboxQueueOrder(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)
	for _, k := range []string{"a1", "b1", "a2", "a3", "b2"} {
		enqueue(t, db, "q:"+k[:1], k)
	}
	enqueue(t, db, "q:c", "c1")
	claimed := map[string]*host.OutboxItem{} // the latest claim of each key

	type step struct {
		name string
		do   func(now time.Time) // what the worker does before claiming
		want []string            // keys claimed at now
	}
	complete := func(keys ...string) func(time.Time) {
		return func(time.Time) {
			for _, k := range keys {
				if err := db.Complete(ctx, claimed[k]); err != nil {
					t.Fatalf("Complete %s: %v", k, err)
				}
			}
		}
	}
	steps := []step{
		{"heads only", nil, []string{"a1", "b1", "c1"}},
		{"claimed heads block their queues", nil, []string{}},
		{"a1 fails: retry in 10s; b1 and c1 done", func(now time.Time) {
			if err := db.Retry(ctx, claimed["a1"], now.Add(10*time.Second), "platform down"); err != nil {
				t.Fatal(err)
			}
			complete("b1", "c1")(now)
		}, []string{"b2"}},
		{"a2 waits behind the retried a1", complete("b2"), []string{}},
		{"a1 due again", func(time.Time) { clk.Add(10 * time.Second) }, []string{"a1"}},
		{"a1 fails for good: a2 goes", func(time.Time) {
			if err := db.Dead(ctx, claimed["a1"], "rejected"); err != nil {
				t.Fatal(err)
			}
		}, []string{"a2"}},
		{"then a3", complete("a2"), []string{"a3"}},
		{"then nothing", complete("a3"), []string{}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do(clk.Now())
		}
		got := []string{}
		for _, it := range claimAll(t, db, clk.Now()) {
			claimed[it.Key] = it
			got = append(got, it.Key)
		}
		if !cmp.Equal(s.want, got) {
			t.Fatalf("%s: claimed %v, want %v", s.name, got, s.want)
		}
	}

	dead, err := db.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Key != "a1" || dead[0].Attempts != 2 || dead[0].LastError != "rejected" || dead[0].State != host.OutboxDead {
		t.Errorf("DeadLetters = %+v, want a1 after 2 attempts", dead)
	}
	st, err := db.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (host.OutboxStats{Done: 5, Dead: 1}); st != want {
		t.Errorf("OutboxStats = %+v, want %+v", st, want)
	}
}

func TestOutboxLease(t *testing.T) {
	ctx := context.Background()
	db, clk := openAt(t, t.TempDir()+"/livechat.db", sqlite.Options{Lease: time.Minute})
	enqueue(t, db, "q", "k1")

	items, err := db.ClaimDue(ctx, clk.Now(), 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
	claimed := items[0]
	if claimed.Attempts != 0 || claimed.State != host.OutboxPending || string(claimed.Payload) != `{"key":"k1"}` {
		t.Errorf("claimed item = %+v", claimed)
	}
	next, ok, err := db.NextDue(ctx)
	if err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("NextDue while leased = %v %v %v, want the lease's end", next, ok, err)
	}
	// The worker crashed: nobody calls Complete. Until the lease runs out
	// the item is not handed out again; then it is.
	latest := claimed
	for _, c := range []struct {
		after time.Duration
		want  []string
	}{
		{0, []string{}},
		{time.Minute - time.Millisecond, []string{}},
		{time.Minute, []string{"k1"}},
		{time.Minute + time.Second, []string{}}, // leased again by the claim above
		{2*time.Minute + time.Second, []string{"k1"}},
	} {
		got := []string{}
		for _, it := range claimAll(t, db, t0.Add(c.after)) {
			latest = it
			got = append(got, it.Key)
		}
		if !cmp.Equal(c.want, got) {
			t.Errorf("claim at t0+%v: %v, want %v", c.after, got, c.want)
		}
	}
	// The first worker wakes up late: its claim is stale and changes nothing.
	clk.Add(3 * time.Minute)
	wantCode(t, db.Retry(ctx, claimed, clk.Now(), "stale"), host.ECONFLICT)
	wantCode(t, db.Complete(ctx, claimed), host.ECONFLICT)
	// A retry releases the lease at once; the item is due at its new time.
	if err := db.Retry(ctx, latest, clk.Now().Add(5*time.Second), "timeout"); err != nil {
		t.Fatal(err)
	}
	next, ok, err = db.NextDue(ctx)
	if err != nil || !ok || !next.Equal(clk.Now().Add(5*time.Second)) {
		t.Errorf("NextDue after Retry = %v %v %v, want the retry time", next, ok, err)
	}
	if got := claimKeys(t, db, clk.Now().Add(5*time.Second)); !cmp.Equal(got, []string{"k1"}) {
		t.Errorf("claim at the retry time: %v", got)
	}
}

func TestNextDue(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	if _, ok, err := db.NextDue(ctx); ok || err != nil {
		t.Fatalf("NextDue on an empty outbox: ok=%v err=%v", ok, err)
	}
	later := func(queue, key string, d time.Duration) {
		o := &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindChannelDelivery, NextAttemptAt: t0.Add(d)}
		mustTx(t, db, func(tx host.Tx) error { return tx.Enqueue(o) })
	}
	later("q1", "head", time.Hour)
	later("q1", "behind", time.Second) // due sooner, but not a head: it cannot run first
	later("q2", "other", time.Minute)
	next, ok, err := db.NextDue(ctx)
	if err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("NextDue = %v %v %v, want t0+1m (the earliest head)", next, ok, err)
	}
}

func TestEnqueueDedup(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)
	first := &host.OutboxItem{Key: "deliver-e1", Queue: "user:shop/u1", Kind: host.KindChannelDelivery, Payload: json.RawMessage(`{"n":1}`)}
	mustTx(t, db, func(tx host.Tx) error { return tx.Enqueue(first) })
	if first.ID == 0 || first.State != host.OutboxPending || !first.NextAttemptAt.Equal(t0) || !first.CreatedAt.Equal(t0) {
		t.Fatalf("Enqueue did not fill the item: %+v", first)
	}
	if !woke(db) {
		t.Error("no wake after the first enqueue")
	}

	clk.Add(time.Second)
	again := &host.OutboxItem{Key: "deliver-e1", Queue: "other", Kind: host.KindBotNotice, Payload: json.RawMessage(`{"n":2}`)}
	mustTx(t, db, func(tx host.Tx) error {
		if err := tx.Enqueue(again); err != nil {
			return err
		}
		// Twice in one transaction is the same.
		return tx.Enqueue(&host.OutboxItem{Key: "deliver-e1", Queue: "q", Kind: host.KindBotNotice})
	})
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("a repeated key did not return the stored item (-want +got):\n%s", diff)
	}
	if woke(db) {
		t.Error("wake after an enqueue that stored nothing")
	}
	// The key stays taken once the item is done.
	if err := db.Complete(ctx, claimOne(t, db, clk.Now(), "deliver-e1")); err != nil {
		t.Fatal(err)
	}
	done := &host.OutboxItem{Key: "deliver-e1", Queue: "user:shop/u1", Kind: host.KindChannelDelivery}
	mustTx(t, db, func(tx host.Tx) error { return tx.Enqueue(done) })
	if done.ID != first.ID || done.State != host.OutboxDone {
		t.Errorf("enqueue after done = %+v, want the done item", done)
	}
	if st, _ := db.OutboxStats(ctx); st != (host.OutboxStats{Done: 1}) {
		t.Errorf("OutboxStats = %+v, want one item", st)
	}

	for _, bad := range []*host.OutboxItem{
		{Queue: "q", Kind: host.KindBotNotice},
		{Key: "k", Kind: host.KindBotNotice},
		{Key: "k", Queue: "q"},
		{Key: "k", Queue: "q", Kind: host.KindBotNotice, Payload: json.RawMessage(`{`)},
	} {
		err := db.Tx(ctx, func(tx host.Tx) error { return tx.Enqueue(bad) })
		wantCode(t, err, host.EINVALID)
	}
}

func TestOutboxFinish(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	enqueue(t, db, "q1", "done")
	enqueue(t, db, "q2", "dead")
	items := claimAll(t, db, t0)
	if len(items) != 2 {
		t.Fatalf("claimed %v", items)
	}
	done, dead := items[0], items[1]
	unknown := &host.OutboxItem{ID: 999, Claim: "x"}
	if err := db.Complete(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := db.Dead(ctx, dead, "no"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"complete twice", db.Complete(ctx, done), ""},
		{"retry a done item", db.Retry(ctx, done, t0, "late"), host.ECONFLICT},
		{"dead a done item", db.Dead(ctx, done, "late"), host.ECONFLICT},
		{"complete a dead item", db.Complete(ctx, dead), host.ECONFLICT},
		{"complete unknown", db.Complete(ctx, unknown), host.ENOTFOUND},
		{"retry unknown", db.Retry(ctx, unknown, t0, ""), host.ENOTFOUND},
		{"complete unclaimed", db.Complete(ctx, &host.OutboxItem{ID: done.ID}), host.EINVALID},
	}
	for _, tt := range tests {
		if got := host.ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: %v (code %q), want %q", tt.name, tt.err, got, tt.code)
		}
	}
}

func TestWake(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	item := func(key string) *host.OutboxItem {
		return &host.OutboxItem{Key: key, Queue: "q", Kind: host.KindBotNotice}
	}
	tests := []struct {
		name string
		fn   func(host.Tx) error
		want bool
	}{
		{"commit with enqueue", func(tx host.Tx) error { return tx.Enqueue(item("k1")) }, true},
		{"commit with two enqueues: one signal", func(tx host.Tx) error {
			if err := tx.Enqueue(item("k2")); err != nil {
				return err
			}
			return tx.Enqueue(item("k3"))
		}, true},
		{"rollback with enqueue", func(tx host.Tx) error {
			if err := tx.Enqueue(item("k4")); err != nil {
				return err
			}
			return host.Errorf(host.EINVALID, "changed my mind")
		}, false},
		{"commit without enqueue", func(tx host.Tx) error { return tx.CreateSession(newSession("u1")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = db.Tx(ctx, tt.fn)
			if got := woke(db); got != tt.want {
				t.Errorf("woke = %v, want %v", got, tt.want)
			}
			if woke(db) {
				t.Error("more than one signal pending")
			}
		})
	}
	// The signal waits for a worker that was busy when it fired.
	mustTx(t, db, func(tx host.Tx) error { return tx.Enqueue(item("k5")) })
	select {
	case <-db.Wake():
	default:
		t.Error("the signal of an earlier commit was lost")
	}
	// Claiming and finishing do not signal.
	items, err := db.ClaimDue(ctx, t0, 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
	if err := db.Complete(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	if woke(db) {
		t.Error("ClaimDue or Complete signalled")
	}
}

func TestReleaseClaims(t *testing.T) {
	db, clk := openDB(t)
	ctx := context.Background()
	enqueue(t, db, "q1", "a")
	enqueue(t, db, "q2", "b")
	if got := claimKeys(t, db, clk.Now()); len(got) != 2 {
		t.Fatalf("claimed %v, want a and b", got)
	}
	if got := claimKeys(t, db, clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v again under lease", got)
	}
	// A new process takes over: what the dead one held is claimable now.
	if err := db.ReleaseClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if got := claimKeys(t, db, clk.Now()); len(got) != 2 {
		t.Errorf("after ReleaseClaims claimed %v, want a and b", got)
	}
}

// TestReleaseHandsBack: an item handed back without running keeps its
// attempts and place, is claimable at the given time, and the old claim is
// void.
func TestReleaseHandsBack(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)
	enqueue(t, db, "q", "k1")
	enqueue(t, db, "q", "k2")
	it := claimOne(t, db, clk.Now(), "k1")
	if err := db.Release(ctx, it, clk.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.Complete(ctx, it), host.ECONFLICT)
	if got := claimKeys(t, db, clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v before the release time", got)
	}
	again := claimOne(t, db, clk.Add(time.Second), "k1")
	if again.Attempts != 0 {
		t.Errorf("attempts after release = %d, want 0", again.Attempts)
	}
}

// TestOneProcessPerFile: a second Open of the same file fails, naming the
// file and the holder; once the first closes, it opens.
func TestOneProcessPerFile(t *testing.T) {
	path := t.TempDir() + "/livechat.db"
	first, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, sqlite.Options{})
	wantCode(t, err, host.ECONFLICT)
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("error %q names neither the file nor the holder", msg)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	second.Close()
}
