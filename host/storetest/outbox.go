package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

var _ = register([]testCase{
	{"Outbox/QueueOrder", testOutboxQueueOrder},
	{"Outbox/Lease", testOutboxLease},
	{"Outbox/NextDue", testNextDue},
	{"Outbox/Pending", testPending},
	{"Outbox/EnqueueDedup", testEnqueueDedup},
	{"Outbox/Finish", testOutboxFinish},
	{"Outbox/Wake", testWake},
	{"Outbox/ReleaseClaims", testReleaseClaims},
	{"Outbox/ReleaseHandsBack", testReleaseHandsBack},
	{"Outbox/DeadLettersAndStats", testDeadLettersAndStats},
	{"Outbox/ClaimLimitAndDueOrder", testClaimLimitAndDueOrder},
	{"Outbox/ConcurrentWorkers", testConcurrentWorkers},
})

// testOutboxQueueOrder walks the worker through queues: only heads are
// claimed, a retried head blocks its queue until it is done or dead, and
// the other queues go on meanwhile.
func testOutboxQueueOrder(t *testing.T, st *suite) {
	db, clk := st.store()
	for _, k := range []string{"a1", "b1", "a2", "a3", "b2"} {
		db.enqueue("q:"+k[:1], k)
	}
	db.enqueue("q:c", "c1")
	claimed := map[string]*host.OutboxItem{} // the latest claim of each key

	complete := func(keys ...string) func(time.Time) {
		return func(time.Time) {
			for _, k := range keys {
				if err := db.Complete(bg, claimed[k]); err != nil {
					t.Fatalf("Complete %s: %v", k, err)
				}
			}
		}
	}
	steps := []struct {
		name string
		do   func(now time.Time) // what the worker does before claiming
		want []string            // keys claimed at now, in claim order
	}{
		{"heads only", nil, []string{"a1", "b1", "c1"}},
		{"claimed heads block their queues", nil, []string{}},
		{"a1 fails: retry in 10s; b1 and c1 done", func(now time.Time) {
			if err := db.Retry(bg, claimed["a1"], now.Add(10*time.Second), "platform down"); err != nil {
				t.Fatal(err)
			}
			complete("b1", "c1")(now)
		}, []string{"b2"}},
		{"a2 waits behind the retried a1", complete("b2"), []string{}},
		{"a1 due again", func(time.Time) { clk.Add(10 * time.Second) }, []string{"a1"}},
		{"a1 fails for good: a2 goes", func(time.Time) {
			if err := db.Dead(bg, claimed["a1"], "rejected"); err != nil {
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
		for _, it := range db.claimAll(clk.Now()) {
			if it.Claim == "" {
				t.Fatalf("%s: item %s claimed without a claim token", s.name, it.Key)
			}
			claimed[it.Key] = it
			got = append(got, it.Key)
		}
		if !cmp.Equal(s.want, got) {
			t.Fatalf("%s: claimed %v, want %v", s.name, got, s.want)
		}
	}
	// The retried item kept its attempt and error until it went dead.
	dead, err := db.DeadLetters(bg, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Key != "a1" || dead[0].Attempts != 2 || dead[0].LastError != "rejected" || dead[0].State != host.OutboxDead {
		t.Errorf("DeadLetters = %+v, want a1 after 2 attempts", dead)
	}
	st2, err := db.OutboxStats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (host.OutboxStats{Done: 5, Dead: 1}); st2 != want {
		t.Errorf("OutboxStats = %+v, want %+v", st2, want)
	}
	if _, ok, err := db.NextDue(bg); ok || err != nil {
		t.Errorf("NextDue with nothing pending: ok=%v err=%v", ok, err)
	}
}

func testOutboxLease(t *testing.T, st *suite) {
	db, clk := st.storeWith(Options{Lease: time.Minute})
	db.enqueue("q", "k1")

	items, err := db.ClaimDue(bg, clk.Now(), 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
	claimed := items[0]
	if claimed.Attempts != 0 || claimed.State != host.OutboxPending || string(claimed.Payload) != `{"key":"k1"}` ||
		claimed.Queue != "q" || claimed.Kind != host.KindProviderSend || !claimed.CreatedAt.Equal(T0) {
		t.Errorf("claimed item = %+v", claimed)
	}
	next, ok, err := db.NextDue(bg)
	if err != nil || !ok || !next.Equal(T0.Add(time.Minute)) {
		t.Errorf("NextDue while leased = %v %v %v, want the lease's end", next, ok, err)
	}
	if pending, err := db.Pending(bg, "q"); !pending || err != nil {
		t.Errorf("Pending while claimed = %v, %v; want true", pending, err)
	}
	// The worker crashed: nobody calls Complete. Until the lease runs out
	// the item is not handed out again; then it is, with a new token.
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
		for _, it := range db.claimAll(T0.Add(c.after)) {
			if it.Claim == latest.Claim {
				t.Errorf("claim at T0+%v reused the token of the claim before", c.after)
			}
			latest = it
			got = append(got, it.Key)
		}
		if !cmp.Equal(c.want, got) {
			t.Errorf("claim at T0+%v: %v, want %v", c.after, got, c.want)
		}
	}
	// The first worker wakes up late: its claim is stale and changes nothing.
	clk.Add(3 * time.Minute)
	wantField(t, db.Retry(bg, claimed, clk.Now(), "stale"), host.ECONFLICT, "claim")
	wantField(t, db.Complete(bg, claimed), host.ECONFLICT, "claim")
	wantField(t, db.Dead(bg, claimed, "stale"), host.ECONFLICT, "claim")
	wantField(t, db.Release(bg, claimed, clk.Now()), host.ECONFLICT, "claim")
	// A retry releases the lease at once; the item is due at its new time.
	if err := db.Retry(bg, latest, clk.Now().Add(5*time.Second), "timeout"); err != nil {
		t.Fatal(err)
	}
	next, ok, err = db.NextDue(bg)
	if err != nil || !ok || !next.Equal(clk.Now().Add(5*time.Second)) {
		t.Errorf("NextDue after Retry = %v %v %v, want the retry time", next, ok, err)
	}
	if got := db.claimKeys(clk.Now().Add(5 * time.Second)); !cmp.Equal(got, []string{"k1"}) {
		t.Errorf("claim at the retry time: %v", got)
	}
}

func testNextDue(t *testing.T, st *suite) {
	db, _ := st.store()
	if _, ok, err := db.NextDue(bg); ok || err != nil {
		t.Fatalf("NextDue on an empty outbox: ok=%v err=%v", ok, err)
	}
	later := func(queue, key string, d time.Duration) {
		o := &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindChannelDelivery, NextAttemptAt: T0.Add(d)}
		db.mustTx(func(tx host.Tx) error { return tx.Enqueue(o) })
		if !o.NextAttemptAt.Equal(T0.Add(d)) {
			t.Errorf("Enqueue changed NextAttemptAt to %v", o.NextAttemptAt)
		}
	}
	later("q1", "head", time.Hour)
	later("q1", "behind", time.Second) // due sooner, but not a head: it cannot run first
	later("q2", "other", time.Minute)
	next, ok, err := db.NextDue(bg)
	if err != nil || !ok || !next.Equal(T0.Add(time.Minute)) {
		t.Errorf("NextDue = %v %v %v, want T0+1m (the earliest head)", next, ok, err)
	}
	if got := db.claimKeys(T0.Add(30 * time.Second)); len(got) != 0 {
		t.Errorf("claimed %v before any head was due (behind is due, but not a head)", got)
	}
	// A head due in the past: NextDue says so.
	later("q3", "overdue", -time.Hour)
	if next, ok, err := db.NextDue(bg); err != nil || !ok || !next.Equal(T0.Add(-time.Hour)) {
		t.Errorf("NextDue = %v %v %v, want T0-1h", next, ok, err)
	}
}

func testPending(t *testing.T, st *suite) {
	db, clk := st.store()
	if pending, err := db.Pending(bg, "q"); pending || err != nil {
		t.Fatalf("Pending of an empty queue: %v, %v", pending, err)
	}
	db.enqueue("q", "k1")
	db.enqueue("q", "k2")
	db.enqueue("other", "o1")
	for _, key := range []string{"k1", "k2"} {
		if pending, err := db.Pending(bg, "q"); !pending || err != nil {
			t.Fatalf("Pending before %s is done: %v, %v", key, pending, err)
		}
		items := db.claimAll(clk.Now())
		for _, it := range items {
			if it.Queue == "q" {
				if err := db.Complete(bg, it); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if pending, err := db.Pending(bg, "q"); pending || err != nil {
		t.Errorf("Pending after every item is done: %v, %v", pending, err)
	}
	if pending, err := db.Pending(bg, "other"); !pending || err != nil {
		t.Errorf("Pending of the other queue: %v, %v", pending, err)
	}
}

func testEnqueueDedup(t *testing.T, st *suite) {
	db, clk := st.store()
	first := &host.OutboxItem{Key: "deliver-e1", Queue: "user:shop/u1", Kind: host.KindChannelDelivery, SessionID: "s1", Payload: json.RawMessage(`{"n":1}`)}
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(first) })
	if first.ID == 0 || first.State != host.OutboxPending || first.Attempts != 0 || !first.NextAttemptAt.Equal(T0) ||
		!first.CreatedAt.Equal(T0) || !first.UpdatedAt.Equal(T0) {
		t.Fatalf("Enqueue did not fill the item: %+v", first)
	}
	if !db.woke() {
		t.Error("no wake after the first enqueue")
	}

	clk.Add(time.Second)
	again := &host.OutboxItem{Key: "deliver-e1", Queue: "other", Kind: host.KindBotNotice, Payload: json.RawMessage(`{"n":2}`)}
	db.mustTx(func(tx host.Tx) error {
		if err := tx.Enqueue(again); err != nil {
			return err
		}
		// Twice in one transaction is the same.
		return tx.Enqueue(&host.OutboxItem{Key: "deliver-e1", Queue: "q", Kind: host.KindBotNotice})
	})
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("a repeated key did not return the stored item (-want +got):\n%s", diff)
	}
	if db.woke() {
		t.Error("wake after an enqueue that stored nothing")
	}
	// The key stays taken once the item is done.
	if err := db.Complete(bg, db.claimOne(clk.Now(), "deliver-e1")); err != nil {
		t.Fatal(err)
	}
	done := &host.OutboxItem{Key: "deliver-e1", Queue: "user:shop/u1", Kind: host.KindChannelDelivery}
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(done) })
	if done.ID != first.ID || done.State != host.OutboxDone {
		t.Errorf("enqueue after done = %+v, want the done item", done)
	}
	if st, _ := db.OutboxStats(bg); st != (host.OutboxStats{Done: 1}) {
		t.Errorf("OutboxStats = %+v, want one item", st)
	}
	// IDs grow: a later item of the queue comes after.
	next := db.enqueue("user:shop/u1", "deliver-e2")
	if next <= first.ID {
		t.Errorf("a later item has ID %d, not after %d", next, first.ID)
	}

	for _, bad := range []struct {
		o     *host.OutboxItem
		field string
	}{
		{&host.OutboxItem{Queue: "q", Kind: host.KindBotNotice}, "key"},
		{&host.OutboxItem{Key: "k", Kind: host.KindBotNotice}, "queue"},
		{&host.OutboxItem{Key: "k", Queue: "q"}, "kind"},
		{&host.OutboxItem{Key: "k", Queue: "q", Kind: host.KindBotNotice, Payload: json.RawMessage(`{`)}, "payload"},
	} {
		err := db.Tx(bg, func(tx host.Tx) error { return tx.Enqueue(bad.o) })
		wantField(t, err, host.EINVALID, bad.field)
	}
}

func testOutboxFinish(t *testing.T, st *suite) {
	db, _ := st.store()
	db.enqueue("q1", "done")
	db.enqueue("q2", "dead")
	items := db.claimAll(T0)
	if len(items) != 2 {
		t.Fatalf("claimed %v", keysOf(items))
	}
	done, dead := items[0], items[1]
	if done.Key != "done" {
		done, dead = dead, done
	}
	unknown := &host.OutboxItem{ID: 999999, Claim: "x"}
	if err := db.Complete(bg, done); err != nil {
		t.Fatal(err)
	}
	if err := db.Dead(bg, dead, "no"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"complete twice", db.Complete(bg, done), ""},
		{"retry a done item", db.Retry(bg, done, T0, "late"), host.ECONFLICT},
		{"dead a done item", db.Dead(bg, done, "late"), host.ECONFLICT},
		{"release a done item", db.Release(bg, done, T0), host.ECONFLICT},
		{"complete a dead item", db.Complete(bg, dead), host.ECONFLICT},
		{"dead a dead item", db.Dead(bg, dead, "again"), host.ECONFLICT},
		{"complete unknown", db.Complete(bg, unknown), host.ENOTFOUND},
		{"retry unknown", db.Retry(bg, unknown, T0, ""), host.ENOTFOUND},
		{"dead unknown", db.Dead(bg, unknown, ""), host.ENOTFOUND},
		{"release unknown", db.Release(bg, unknown, T0), host.ENOTFOUND},
		{"complete unclaimed", db.Complete(bg, &host.OutboxItem{ID: done.ID}), host.EINVALID},
		{"retry unclaimed", db.Retry(bg, &host.OutboxItem{ID: done.ID}, T0, ""), host.EINVALID},
	}
	for _, tt := range tests {
		if got := host.ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: %v (code %q), want %q", tt.name, tt.err, got, tt.code)
		}
	}
	if st, _ := db.OutboxStats(bg); st != (host.OutboxStats{Done: 1, Dead: 1}) {
		t.Errorf("OutboxStats = %+v after refused calls, want 1 done and 1 dead", st)
	}
}

func testWake(t *testing.T, st *suite) {
	db, _ := st.store()
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
		{"commit of a repeated key", func(tx host.Tx) error { return tx.Enqueue(item("k1")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = db.Tx(bg, tt.fn)
			if got := db.woke(); got != tt.want {
				t.Errorf("woke = %v, want %v", got, tt.want)
			}
			if db.woke() {
				t.Error("more than one signal pending")
			}
		})
	}
	// The signal waits for a worker that was busy when it fired.
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("k5")) })
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("k6")) })
	select {
	case <-db.Wake():
	default:
		t.Error("the signal of an earlier commit was lost")
	}
	if db.woke() {
		t.Error("two commits left two signals: they must coalesce")
	}
	// Claiming and finishing do not signal.
	items, err := db.ClaimDue(bg, T0, 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
	if err := db.Complete(bg, items[0]); err != nil {
		t.Fatal(err)
	}
	if db.woke() {
		t.Error("ClaimDue or Complete signalled")
	}
}

func testReleaseClaims(t *testing.T, st *suite) {
	db, clk := st.store()
	db.enqueue("q1", "a")
	db.enqueue("q2", "b")
	if got := db.claimKeys(clk.Now()); len(got) != 2 {
		t.Fatalf("claimed %v, want a and b", got)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v again under lease", got)
	}
	// A new process takes over: what the dead one held is claimable now.
	if err := db.ReleaseClaims(bg); err != nil {
		t.Fatal(err)
	}
	if next, ok, err := db.NextDue(bg); err != nil || !ok || next.After(clk.Now()) {
		t.Errorf("NextDue after ReleaseClaims = %v %v %v, want now or earlier", next, ok, err)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 2 {
		t.Errorf("after ReleaseClaims claimed %v, want a and b", got)
	}
}

// testReleaseHandsBack: an item handed back without running keeps its
// attempts and place, is claimable at the given time, and the old claim is
// void.
func testReleaseHandsBack(t *testing.T, st *suite) {
	db, clk := st.store()
	db.enqueue("q", "k1")
	db.enqueue("q", "k2")
	it := db.claimOne(clk.Now(), "k1")
	if err := db.Release(bg, it, clk.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.Complete(bg, it), host.ECONFLICT)
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v before the release time", got)
	}
	again := db.claimOne(clk.Add(time.Second), "k1")
	if again.Attempts != 0 {
		t.Errorf("attempts after release = %d, want 0", again.Attempts)
	}
}

func testDeadLettersAndStats(t *testing.T, st *suite) {
	db, clk := st.store()
	for i := range 5 {
		db.enqueue(fmt.Sprintf("q%d", i), fmt.Sprintf("k%d", i))
	}
	db.enqueue("q0", "behind")
	for i, it := range db.claimAll(clk.Now()) {
		clk.Add(time.Second)
		var err error
		if i < 3 {
			err = db.Dead(bg, it, "error "+it.Key)
		} else {
			err = db.Complete(bg, it)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	dead, err := db.DeadLetters(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(dead); !cmp.Equal(got, []string{"k2", "k1", "k0"}) {
		t.Errorf("DeadLetters = %v, want the most recent first", got)
	}
	for _, d := range dead {
		if d.State != host.OutboxDead || d.Attempts != 1 || d.LastError != "error "+d.Key {
			t.Errorf("dead letter %+v", d)
		}
	}
	if dead, _ := db.DeadLetters(bg, 2); len(dead) != 2 {
		t.Errorf("DeadLetters(2) = %d items", len(dead))
	}
	if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{Pending: 1, Done: 2, Dead: 3}) {
		t.Errorf("OutboxStats = %+v, %v", st, err)
	}
	if st, err := db.OutboxCounts(bg); err != nil || st != (host.OutboxStats{Pending: 1, Dead: 3}) {
		t.Errorf("OutboxCounts = %+v, %v; want pending and dead only", st, err)
	}
	// The dead head unblocked its queue.
	if got := db.claimKeys(clk.Now()); !cmp.Equal(got, []string{"behind"}) {
		t.Errorf("claimed %v, want the item behind the dead head", got)
	}
}

// testClaimLimitAndDueOrder: ClaimDue hands out at most limit heads, the
// earliest due first, and the next call the rest.
func testClaimLimitAndDueOrder(t *testing.T, st *suite) {
	db, clk := st.store()
	for i, d := range []time.Duration{5, 1, 4, 2, 3} {
		o := &host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: fmt.Sprintf("q%d", i), Kind: host.KindWebhook, NextAttemptAt: T0.Add(d * time.Second)}
		db.mustTx(func(tx host.Tx) error { return tx.Enqueue(o) })
	}
	now := clk.Add(10 * time.Second)
	items, err := db.ClaimDue(bg, now, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(items); !cmp.Equal(got, []string{"k1", "k3"}) {
		t.Errorf("ClaimDue(limit 2) = %v, want the two earliest due", got)
	}
	if got := db.claimKeys(now); !cmp.Equal(got, []string{"k4", "k2", "k0"}) {
		t.Errorf("then %v, want the rest, earliest due first", got)
	}
}

// testConcurrentWorkers: producers enqueue into a few queues at once while
// several workers claim and complete. Every item is handed out and
// completed once, each queue's items are worked on one at a time, and in
// ID order: an item that commits after a later-numbered one of its queue
// was already claimed would show as a step back.
func testConcurrentWorkers(t *testing.T, st *suite) {
	db, clk := st.store()
	const (
		queues    = 4
		producers = 4
		perProd   = 25
		workers   = 4
	)
	total := producers * perProd
	var (
		mu       sync.Mutex
		claimed  = map[string][]int64{} // queue: IDs in claim order
		busy     = map[string]bool{}    // queue: an item of it is being worked on
		seen     = map[int64]bool{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	var prod sync.WaitGroup
	for p := range producers {
		prod.Go(func() {
			for i := range perProd {
				o := &host.OutboxItem{Key: fmt.Sprintf("p%d-%d", p, i), Queue: fmt.Sprintf("q%d", (p+i)%queues), Kind: host.KindProviderSend}
				if err := db.Tx(bg, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
					fail("enqueue: %v", err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var work sync.WaitGroup
	for range workers {
		work.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				items, err := db.ClaimDue(bg, clk.Now(), 3)
				if err != nil {
					fail("claim: %v", err)
					return
				}
				mu.Lock()
				for _, it := range items {
					if busy[it.Queue] {
						failures = append(failures, fmt.Sprintf("item %d of %s claimed while another of its queue is worked on", it.ID, it.Queue))
					}
					if seen[it.ID] {
						failures = append(failures, fmt.Sprintf("item %d handed out twice", it.ID))
					}
					busy[it.Queue], seen[it.ID] = true, true
					claimed[it.Queue] = append(claimed[it.Queue], it.ID)
				}
				mu.Unlock()
				for _, it := range items {
					mu.Lock()
					busy[it.Queue] = false
					mu.Unlock()
					if err := db.Complete(bg, it); err != nil {
						fail("complete %d: %v", it.ID, err)
					}
				}
			}
		})
	}
	prod.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := db.OutboxStats(bg)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done == int64(total) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after 30s: %+v, want %d done", st, total)
			break
		}
		select { // the workers poll; this only paces the check
		case <-db.Wake():
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(done)
	work.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	n := 0
	for q, ids := range claimed {
		n += len(ids)
		if !slices.IsSorted(ids) {
			t.Errorf("queue %s was worked on out of order: %v", q, ids)
		}
	}
	if n != total {
		t.Errorf("%d items worked on, want %d", n, total)
	}
}
