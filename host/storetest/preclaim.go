package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

// RunPreclaimer runs the cases of host.Preclaimer and host.NextClaimer as
// subtests of t, each on a store of its own from open: for a store that
// claims work as it is enqueued and as the item ahead completes
// (host/sqlite). Run covers the rest of the contract; a store that is
// neither (host/postgres) has nothing here to pass.
func RunPreclaimer(t *testing.T, open Opener) {
	t.Helper()
	for _, c := range preclaimCases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, &suite{t: t, open: open})
		})
	}
}

var preclaimCases = []testCase{
	{"Preclaim/HeadOfIdleQueue", testPreclaimHead},
	{"Preclaim/NotBehindOthers", testPreclaimNotBehind},
	{"Preclaim/NoWorkerOrNotDue", testPreclaimNoWorker},
	{"Preclaim/RolledBack", testPreclaimRolledBack},
	{"Preclaim/RepeatedKey", testPreclaimRepeatedKey},
	{"Preclaim/LeaseAndFencing", testPreclaimLease},
	{"Preclaim/ReleaseClaims", testPreclaimReleaseClaims},
	{"Preclaim/Concurrent", testPreclaimConcurrent},
	{"CompleteNext/Chain", testCompleteNext},
	{"CompleteNext/NotDue", testCompleteNextNotDue},
	{"CompleteNext/Fenced", testCompleteNextFenced},
}

func (f *fixture) completeNext(it *host.OutboxItem) (*host.OutboxItem, error) {
	c, ok := f.Store.(host.NextClaimer)
	if !ok {
		f.t.Fatalf("RunPreclaimer: %T is not a host.NextClaimer", f.Store)
	}
	return c.CompleteNext(bg, it)
}

// testCompleteNext: completing an item claims the next of its queue, in
// order, under a fresh token and lease; ClaimDue finds nothing to claim
// meanwhile; the last completion claims nothing and leaves the queue idle.
// Other queues are not touched.
func testCompleteNext(t *testing.T, st *suite) {
	db, clk := st.storeWith(Options{Lease: time.Minute})
	for _, k := range []string{"a1", "a2", "a3", "b1"} {
		db.enqueue("q:"+k[:1], k)
	}
	var a *host.OutboxItem
	for _, it := range db.claimAll(clk.Now()) {
		if it.Key == "a1" {
			a = it
		}
	}
	for _, want := range []string{"a2", "a3"} {
		next, err := db.completeNext(a)
		if err != nil {
			t.Fatalf("CompleteNext %s: %v", a.Key, err)
		}
		if next == nil || next.Key != want || next.Claim == "" || next.Claim == a.Claim || next.State != host.OutboxPending {
			t.Fatalf("CompleteNext %s = %+v, want %s claimed", a.Key, next, want)
		}
		if got := db.claimKeys(clk.Now()); len(got) != 0 {
			t.Fatalf("ClaimDue handed out %v while %s is claimed", got, want)
		}
		if next, ok, err := db.NextDue(bg); err != nil || !ok || next.Before(clk.Now().Add(time.Minute)) {
			t.Errorf("NextDue = %v %v %v; want the lease's end", next, ok, err)
		}
		a = next
	}
	next, err := db.completeNext(a)
	if err != nil || next != nil {
		t.Fatalf("CompleteNext of the last item = %+v, %v; want nil, nil", next, err)
	}
	if pending, _ := db.Pending(bg, "q:a"); pending {
		t.Error("q:a is pending after its last item completed")
	}
	// A repeat under the same claim is a no-op, and claims nothing.
	if next, err := db.completeNext(a); err != nil || next != nil {
		t.Errorf("CompleteNext again = %+v, %v; want nil, nil", next, err)
	}
	if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{Pending: 1, Done: 3}) {
		t.Errorf("OutboxStats = %+v, %v; want b1 pending, a1-a3 done", st, err)
	}
}

// testCompleteNextNotDue: a next item due later (its NextAttemptAt) is
// not claimed; ClaimDue hands it out when due.
func testCompleteNextNotDue(t *testing.T, st *suite) {
	db, clk := st.store()
	db.enqueue("q", "k1")
	later := item("q", "k2")
	later.NextAttemptAt = T0.Add(time.Second)
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(later) })
	k1 := db.claimOne(clk.Now(), "k1")
	if next, err := db.completeNext(k1); err != nil || next != nil {
		t.Fatalf("CompleteNext = %+v, %v; want nil: k2 is not due", next, err)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v before k2 was due", got)
	}
	db.claimOne(clk.Add(time.Second), "k2")
}

// testCompleteNextFenced: a worker whose claim is stale completes nothing
// and claims nothing (ECONFLICT); a claim taken by CompleteNext is handed
// back by ReleaseClaims and out again when its lease runs out, like any.
func testCompleteNextFenced(t *testing.T, st *suite) {
	db, clk := st.storeWith(Options{Lease: time.Minute})
	for _, k := range []string{"k1", "k2", "k3"} {
		db.enqueue("q", k)
	}
	stale := db.claimOne(clk.Now(), "k1")
	fresh := db.claimOne(clk.Add(time.Minute), "k1") // the lease ran out
	next, err := db.completeNext(stale)
	wantField(t, err, host.ECONFLICT, "claim")
	if next != nil {
		t.Fatalf("a stale CompleteNext claimed %s", next.Key)
	}
	k2, err := db.completeNext(fresh)
	if err != nil || k2 == nil || k2.Key != "k2" {
		t.Fatalf("CompleteNext = %+v, %v; want k2", k2, err)
	}
	if err := db.ReleaseClaims(bg); err != nil {
		t.Fatal(err)
	}
	again := db.claimOne(clk.Now(), "k2")
	wantCode(t, db.Complete(bg, k2), host.ECONFLICT)
	k3, err := db.completeNext(again)
	if err != nil || k3 == nil || k3.Key != "k3" {
		t.Fatalf("CompleteNext = %+v, %v; want k3", k3, err)
	}
	if got := db.claimKeys(clk.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("claimed %v within k3's lease", got)
	}
	if got := db.claimKeys(clk.Add(time.Second)); !cmp.Equal(got, []string{"k3"}) {
		t.Fatalf("claimed %v after k3's lease ran out, want k3", got)
	}
}

// workers is a host.Workers with a few free workers; it records what the
// store asked of it.
type workers struct {
	mu                   sync.Mutex
	free                 int
	reserved, unreserved int
	taken                []*host.OutboxItem
	onTake               func(*host.OutboxItem)
}

func (w *workers) Reserve() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.free == 0 {
		return false
	}
	w.free--
	w.reserved++
	return true
}

func (w *workers) Unreserve() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.free++
	w.unreserved++
}

func (w *workers) Take(it *host.OutboxItem) {
	w.mu.Lock()
	check := w.onTake
	w.taken = append(w.taken, it)
	w.mu.Unlock()
	if check != nil {
		check(it)
	}
}

// counts are reserved, unreserved and taken so far.
func (w *workers) counts() (int, int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reserved, w.unreserved, len(w.taken)
}

func (w *workers) takenKeys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return keysOf(w.taken)
}

// preclaimer opens a store with a lease of a minute and hands it w.
func (s *suite) preclaimer(w *workers) (*fixture, *Clock) {
	s.t.Helper()
	f, clk := s.storeWith(Options{Lease: time.Minute})
	p, ok := f.Store.(host.Preclaimer)
	if !ok {
		s.t.Fatalf("RunPreclaimer: %T is not a host.Preclaimer", f.Store)
	}
	p.HandOff(w)
	return f, clk
}

func item(queue, key string) *host.OutboxItem {
	return &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindChannelDelivery, Payload: []byte(fmt.Sprintf(`{"key":%q}`, key))}
}

// testPreclaimHead: an item at the head of an idle queue, due now, is
// stored claimed and handed over after the commit, complete and with the
// claim Enqueue filled in; the dispatcher finds nothing to claim or wake
// for, and the claim completes like any other.
func testPreclaimHead(t *testing.T, st *suite) {
	w := &workers{free: 4}
	db, clk := st.preclaimer(w)
	o := item("q", "k1")
	committed := false
	w.onTake = func(it *host.OutboxItem) {
		// Taken after the commit: a fresh read sees the item.
		if n, err := db.OutboxStats(bg); err != nil || n.Pending != 1 {
			t.Errorf("when taken: OutboxStats = %+v, %v; want the item committed", n, err)
		}
		committed = true
	}
	db.mustTx(func(tx host.Tx) error {
		if err := tx.Enqueue(o); err != nil {
			return err
		}
		if _, _, taken := w.counts(); taken != 0 {
			t.Error("the item was taken before its transaction committed")
		}
		return nil
	})
	if !committed {
		t.Fatal("Take was not called by the time Tx returned")
	}
	if o.Claim == "" || o.ID == 0 || o.State != host.OutboxPending {
		t.Errorf("Enqueue filled %+v; want an ID, pending, and the claim", o)
	}
	r, u, n := w.counts()
	if r != 1 || u != 0 || n != 1 {
		t.Fatalf("reserved %d, unreserved %d, taken %d; want 1, 0, 1", r, u, n)
	}
	got := w.taken[0]
	if got == o {
		t.Error("Take got the caller's item itself; want a copy")
	}
	if diff := cmp.Diff(o, got); diff != "" {
		t.Errorf("taken item differs from the enqueued one (-enqueued +taken):\n%s", diff)
	}
	if db.woke() {
		t.Error("a commit whose only item was taken signalled Wake")
	}
	if items := db.claimAll(clk.Now()); len(items) != 0 {
		t.Errorf("ClaimDue handed out %s, claimed already", keysOf(items))
	}
	if next, ok, err := db.NextDue(bg); err != nil || !ok || !next.Equal(T0.Add(time.Minute)) {
		t.Errorf("NextDue = %v %v %v; want the lease's end %v", next, ok, err, T0.Add(time.Minute))
	}
	if pending, err := db.Pending(bg, "q"); err != nil || !pending {
		t.Errorf("Pending(q) = %v, %v; want true while claimed", pending, err)
	}
	if err := db.Complete(bg, got); err != nil {
		t.Fatalf("Complete under the claim given at enqueue: %v", err)
	}
	if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{Done: 1}) {
		t.Errorf("OutboxStats = %+v, %v; want 1 done", st, err)
	}
	if pending, _ := db.Pending(bg, "q"); pending {
		t.Error("the queue is pending after its only item completed")
	}
}

// testPreclaimNotBehind: only the head of a queue is claimed as it is
// enqueued. Items behind a pending item — one in the same transaction, or
// one committed before — are stored unclaimed, signal Wake, and come out
// of ClaimDue in queue order once the items ahead are done.
func testPreclaimNotBehind(t *testing.T, st *suite) {
	w := &workers{free: 8}
	db, clk := st.preclaimer(w)
	db.mustTx(func(tx host.Tx) error {
		for _, k := range []string{"a1", "a2", "b1"} {
			if err := tx.Enqueue(item("q:"+k[:1], k)); err != nil {
				return err
			}
		}
		return nil
	})
	if got := w.takenKeys(); !cmp.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("taken %v, want the heads a1 and b1", got)
	}
	if !db.woke() {
		t.Error("a commit with an item left to the dispatcher did not signal Wake")
	}
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q:a", "a3")) })
	if got := w.takenKeys(); len(got) != 2 {
		t.Fatalf("taken %v: a3 was claimed behind a1 and a2", got)
	}
	if r, u, _ := w.counts(); r != 2 || u != 0 {
		t.Errorf("reserved %d, unreserved %d; want a worker reserved for each head only", r, u)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v while a1 runs", got)
	}
	a1 := w.taken[0]
	if err := db.Complete(bg, a1); err != nil {
		t.Fatal(err)
	}
	a2 := db.claimOne(clk.Now(), "a2")
	if err := db.Complete(bg, a2); err != nil {
		t.Fatal(err)
	}
	a3 := db.claimOne(clk.Now(), "a3")
	if a2.ID >= a3.ID || a1.ID >= a2.ID {
		t.Errorf("ids a1 %d, a2 %d, a3 %d: not in queue order", a1.ID, a2.ID, a3.ID)
	}
	if err := db.Complete(bg, a3); err != nil {
		t.Fatal(err)
	}
	// The queue is idle again: its next item is claimed as enqueued.
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q:a", "a4")) })
	if got := w.takenKeys(); !cmp.Equal(got, []string{"a1", "b1", "a4"}) {
		t.Errorf("taken %v, want a4 at the head of the idle queue", got)
	}
}

// testPreclaimNoWorkerOrNotDue: without a free worker, or for an item due
// later, the item is stored as Enqueue always stored it: unclaimed, Wake
// signalled, ClaimDue hands it out when due. HandOff(nil) stops claiming.
func testPreclaimNoWorker(t *testing.T, st *suite) {
	w := &workers{free: 0}
	db, clk := st.preclaimer(w)
	o := item("q1", "busy")
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(o) })
	if o.Claim != "" {
		t.Errorf("claimed %s without a free worker", o.Key)
	}
	if !db.woke() {
		t.Error("no Wake for an item left to the dispatcher")
	}
	db.claimOne(clk.Now(), "busy")

	w.mu.Lock()
	w.free = 4
	w.mu.Unlock()
	later := item("q2", "later")
	later.NextAttemptAt = T0.Add(time.Second)
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(later) })
	if later.Claim != "" {
		t.Error("claimed an item due later")
	}
	if r, _, _ := w.counts(); r != 0 {
		t.Errorf("reserved %d workers for an item due later", r)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Fatalf("claimed %v before it was due", got)
	}
	db.claimOne(clk.Add(time.Second), "later")

	db.Store.(host.Preclaimer).HandOff(nil)
	off := item("q3", "off")
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(off) })
	if off.Claim != "" {
		t.Error("claimed after HandOff(nil)")
	}
	if r, _, n := w.counts(); r != 0 || n != 0 {
		t.Errorf("reserved %d, taken %d after HandOff(nil)", r, n)
	}
	db.claimOne(clk.Now(), "off")
}

// testPreclaimRolledBack: a transaction that claimed as it enqueued and
// then failed, or panicked, stores nothing, gives every worker back and
// hands nothing over.
func testPreclaimRolledBack(t *testing.T, st *suite) {
	w := &workers{free: 2}
	db, clk := st.preclaimer(w)
	err := db.Tx(bg, func(tx host.Tx) error {
		for _, k := range []string{"x1", "y1"} {
			o := item("q:"+k[:1], k)
			if err := tx.Enqueue(o); err != nil {
				return err
			}
			if o.Claim == "" {
				t.Errorf("%s not claimed with a free worker", k)
			}
		}
		return host.Errorf(host.EINVALID, "changed my mind")
	})
	wantCode(t, err, host.EINVALID)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic of fn did not reach the caller")
			}
		}()
		_ = db.Tx(bg, func(tx host.Tx) error {
			if err := tx.Enqueue(item("q:z", "z1")); err != nil {
				return err
			}
			panic("fn panics")
		})
	}()
	if r, u, n := w.counts(); r != 3 || u != 3 || n != 0 {
		t.Errorf("reserved %d, unreserved %d, taken %d; want 3, 3, 0", r, u, n)
	}
	if db.woke() {
		t.Error("a rolled-back transaction signalled Wake")
	}
	if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{}) {
		t.Errorf("OutboxStats = %+v, %v after rollbacks; want nothing stored", st, err)
	}
	// The queues are idle, and the workers free again.
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q:x", "x2")) })
	if got := w.takenKeys(); !cmp.Equal(got, []string{"x2"}) {
		t.Errorf("taken %v, want x2", got)
	}
	if got := db.claimKeys(clk.Now()); len(got) != 0 {
		t.Errorf("claimed %v", got)
	}
}

// testPreclaimRepeatedKey: enqueueing a key stored before stores nothing
// and claims nothing, even when its queue is idle.
func testPreclaimRepeatedKey(t *testing.T, st *suite) {
	w := &workers{free: 4}
	db, _ := st.preclaimer(w)
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q", "k")) })
	first := w.taken[0]
	if err := db.Complete(bg, first); err != nil {
		t.Fatal(err)
	}
	again := item("q", "k")
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(again) })
	if again.ID != first.ID || again.State != host.OutboxDone {
		t.Errorf("repeat = %+v, want the stored item %d, done", again, first.ID)
	}
	r, u, n := w.counts()
	if n != 1 || r-u != 1 {
		t.Errorf("reserved %d, unreserved %d, taken %d; want the repeat to hold no worker and be taken never", r, u, n)
	}
	if pending, _ := db.Pending(bg, "q"); pending {
		t.Error("a repeated key left its queue pending")
	}
}

// testPreclaimLease: a claim made as the item was enqueued is fenced like
// any claim. When its lease runs out (its worker died), ClaimDue hands the
// item out again under a new token, and the first worker's Complete is
// ECONFLICT.
func testPreclaimLease(t *testing.T, st *suite) {
	w := &workers{free: 1}
	db, clk := st.preclaimer(w)
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q", "k")) })
	stale := w.taken[0]
	if got := db.claimKeys(clk.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("claimed %v within the lease", got)
	}
	again := db.claimOne(clk.Add(time.Second), "k")
	if again.Claim == stale.Claim {
		t.Fatal("the new claim has the old token")
	}
	wantField(t, db.Complete(bg, stale), host.ECONFLICT, "claim")
	if err := db.Complete(bg, again); err != nil {
		t.Fatal(err)
	}
}

// testPreclaimReleaseClaims: a claim made as the item was enqueued is
// handed back by ReleaseClaims (the process that held it died).
func testPreclaimReleaseClaims(t *testing.T, st *suite) {
	w := &workers{free: 1}
	db, clk := st.preclaimer(w)
	db.mustTx(func(tx host.Tx) error { return tx.Enqueue(item("q", "k")) })
	stale := w.taken[0]
	if err := db.ReleaseClaims(bg); err != nil {
		t.Fatal(err)
	}
	again := db.claimOne(clk.Now(), "k")
	if again.Attempts != 0 {
		t.Errorf("attempts after ReleaseClaims = %d, want 0", again.Attempts)
	}
	wantCode(t, db.Complete(bg, stale), host.ECONFLICT)
}

// testPreclaimConcurrent: many transactions at once, some failing, on a
// few queues, with fewer workers than transactions. Every reservation is
// either handed over or given back; every item handed over is stored
// claimed under its token and heads its queue; and, worked on as the
// engine does (each taken or claimed item completed, then ClaimDue for
// the rest), every committed item is done once, each queue in ID order.
func testPreclaimConcurrent(t *testing.T, st *suite) {
	w := &workers{free: 3}
	db, clk := st.preclaimer(w)
	const (
		producers = 6
		perProd   = 15
		queues    = 4
	)
	var mu sync.Mutex
	committed := map[string]bool{}
	var prod sync.WaitGroup
	for p := range producers {
		prod.Go(func() {
			for i := range perProd {
				key := fmt.Sprintf("p%d-%d", p, i)
				fail := i%5 == 4
				err := db.Tx(bg, func(tx host.Tx) error {
					if err := tx.Enqueue(item(fmt.Sprintf("q%d", (p+i)%queues), key)); err != nil {
						return err
					}
					if fail {
						return host.Errorf(host.EINVALID, "rolled back")
					}
					return nil
				})
				if (err != nil) != fail {
					t.Errorf("Tx %s: %v", key, err)
				}
				if err == nil {
					mu.Lock()
					committed[key] = true
					mu.Unlock()
				}
			}
		})
	}
	// Work meanwhile: complete what was taken (giving its worker back),
	// and claim and complete what else is due.
	done := map[string]int{}
	order := map[string][]int64{}
	work := func(it *host.OutboxItem) {
		if err := db.Complete(bg, it); err != nil {
			t.Errorf("Complete %s: %v", it.Key, err)
		}
		done[it.Key]++
		order[it.Queue] = append(order[it.Queue], it.ID)
	}
	handled := 0
	finished := make(chan struct{})
	go func() { prod.Wait(); close(finished) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		taken := slices.Clone(w.taken[handled:])
		handled = len(w.taken)
		w.mu.Unlock()
		for _, it := range taken {
			work(it)
			w.Unreserve() // the worker is free again
		}
		items, err := db.ClaimDue(bg, clk.Now(), 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			work(it)
		}
		select {
		case <-finished:
		default:
			if time.Now().After(deadline) {
				t.Fatal("producers still running after 30s")
			}
			continue
		}
		if len(taken) == 0 && len(items) == 0 {
			if s, err := db.OutboxStats(bg); err != nil || s.Pending == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("work left after 30s")
		}
	}
	// Every reservation was handed over (and its worker freed by the loop
	// above) or given back by the store.
	r, u, n := w.counts()
	if r != u {
		t.Errorf("reserved %d, unreserved %d (%d of them by the loop, after work taken), taken %d", r, u, n, n)
	}
	if n == 0 {
		t.Error("nothing was claimed as it was enqueued")
	}
	for k := range committed {
		if done[k] != 1 {
			t.Errorf("%s done %d times, want once", k, done[k])
		}
	}
	for k, c := range done {
		if !committed[k] {
			t.Errorf("%s done %d times but its transaction failed", k, c)
		}
	}
	for q, ids := range order {
		if !slices.IsSorted(ids) {
			t.Errorf("queue %s worked on out of order: %v", q, ids)
		}
	}
	if s, err := db.OutboxStats(bg); err != nil || s.Pending != 0 || s.Done != int64(len(committed)) {
		t.Errorf("OutboxStats = %+v, %v; want %d done", s, err, len(committed))
	}
}
