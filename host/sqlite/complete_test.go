package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
)

// Completions queued together are written together, and each still hears
// its own outcome: a completed item's queue moves to its next item or
// goes away; a claim that is no longer the item's, an item completed
// before and an unknown item get what Complete alone gives them, and do
// not stop the others.
func TestCompletionsInOneBatch(t *testing.T) {
	ctx := context.Background()
	db, clock := openDB(t)
	for i := range 40 {
		enqueue(t, db, fmt.Sprintf("q%02d", i), fmt.Sprintf("k%02d-a", i))
		if i%2 == 0 {
			enqueue(t, db, fmt.Sprintf("q%02d", i), fmt.Sprintf("k%02d-b", i)) // the queue's next item
		}
	}
	items := claimAll(t, db, clock.Now())
	if len(items) != 40 {
		t.Fatalf("claimed %d heads, want 40", len(items))
	}
	// Item 0 is completed now, alone: completing it again with its claim is
	// idempotent. Item 1's lease runs out and it is claimed again: its old
	// claim is stale.
	if err := db.Complete(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	stale := *items[1]
	if err := db.Release(ctx, items[1], clock.Now()); err != nil {
		t.Fatal(err)
	}
	reclaimed := claimAll(t, db, clock.Now())
	// q00's next item and q01's item again.
	if len(reclaimed) != 2 {
		t.Fatalf("claimed %v after the release, want q00's b and q01's a", reclaimed)
	}

	release, running := make(chan struct{}), make(chan struct{})
	first := make(chan error)
	go func() {
		first <- db.Tx(ctx, func(tx host.Tx) error { close(running); <-release; return nil })
	}()
	<-running
	batch := append([]*host.OutboxItem{items[0], &stale, {ID: 999999, Claim: "nobody's"}}, items[2:]...)
	errs := make([]chan error, len(batch))
	for i, it := range batch {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- db.Complete(ctx, it) }()
		waitQueued(t, db, i+1)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, it := range batch {
		err := <-errs[i]
		switch i {
		case 0:
			if err != nil {
				t.Errorf("completing %s again under its claim: %v, want nil", it.Key, err)
			}
		case 1:
			wantCode(t, err, host.ECONFLICT)
		case 2:
			wantCode(t, err, host.ENOTFOUND)
		default:
			if err != nil {
				t.Errorf("%s: %v", it.Key, err)
			}
		}
	}
	// What is claimable now: the b items of the even queues (but q00's,
	// claimed above), and nothing of the odd ones but q01's a, still
	// claimed under its new claim.
	var want []string
	for i := 2; i < 40; i += 2 {
		want = append(want, fmt.Sprintf("k%02d-b", i))
	}
	got := claimKeys(t, db, clock.Now())
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claimable after the batch: %v\nwant %v", got, want)
	}
	pending, err := db.Pending(ctx, "q03")
	if err != nil || pending {
		t.Errorf("q03 has no pending work left, yet Pending says %v (%v)", pending, err)
	}
	if st, err := db.OutboxStats(ctx); err != nil || st.Done != 39 {
		t.Errorf("stats %+v, %v: want 39 done (every a but q01's)", st, err)
	}
	clock.Add(time.Hour) // the leases of q00's b and q01's a run out
	if got := claimKeys(t, db, clock.Now()); len(got) != 2+len(want) {
		t.Errorf("after the leases: %v", got)
	}
}
