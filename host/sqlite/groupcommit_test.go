package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// waitQueued waits until n Tx calls wait for the next batch.
func waitQueued(t *testing.T, db *sqlite.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for sqlite.QueuedTx(db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Tx calls queued, want %d", sqlite.QueuedTx(db), n)
		}
		// Another goroutine is about to queue; let it run.
		runtime.Gosched()
	}
}

// Transactions that arrive while a batch commits are committed together,
// each as if alone: one that fails, conflicts or panics leaves nothing
// behind, the others keep everything they wrote, and each caller hears its
// own outcome.
func TestGroupCommitKeepsEachTransactionApart(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	createSession(t, db, newSession("taken"))

	// The first transaction holds the writer until the others queue.
	release, running := make(chan struct{}), make(chan struct{})
	first := make(chan error)
	go func() {
		first <- db.Tx(ctx, func(tx host.Tx) error {
			close(running)
			<-release
			return tx.AppendMessage(&host.Message{Bot: "shop", UserID: "first", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("first")})
		})
	}()
	<-running
	type outcome struct {
		user     string
		err      error
		panicked any
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	kinds := map[string]func(tx host.Tx) error{}
	var users []string
	for i := range 20 {
		u := fmt.Sprintf("u%02d", i)
		users = append(users, u)
		write := func(tx host.Tx) error {
			return tx.AppendMessage(&host.Message{Bot: "shop", UserID: u, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload(u)})
		}
		switch i % 5 {
		case 1: // writes, then fails: its write is undone
			kinds[u] = func(tx host.Tx) error {
				if err := write(tx); err != nil {
					return err
				}
				return errors.New("refused " + u)
			}
		case 2: // writes, then panics
			kinds[u] = func(tx host.Tx) error {
				if err := write(tx); err != nil {
					return err
				}
				panic("boom " + u)
			}
		case 3: // a constraint: the user "taken" already has an open session
			kinds[u] = func(tx host.Tx) error {
				if err := write(tx); err != nil {
					return err
				}
				return tx.CreateSession(newSession("taken"))
			}
		default:
			kinds[u] = write
		}
	}
	results := make(chan outcome, len(users)+1)
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ctx
			if i == 4 {
				c = cancelled // gave up before its turn: skipped
			}
			o := outcome{user: u}
			func() {
				defer func() { o.panicked = recover() }()
				o.err = db.Tx(c, kinds[u])
			}()
			results <- o
		}()
	}
	waitQueued(t, db, len(users))
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)

	got := map[string]outcome{}
	for o := range results {
		got[o.user] = o
	}
	for i, u := range users {
		o := got[u]
		msgs, err := db.Transcript(ctx, "shop", u, 10)
		if err != nil {
			t.Fatal(err)
		}
		kept := len(msgs) == 1
		switch {
		case i == 4:
			if !errors.Is(o.err, context.Canceled) || kept {
				t.Errorf("%s (context cancelled): err %v, kept %v; want context.Canceled and nothing kept", u, o.err, kept)
			}
		case i%5 == 1:
			if o.err == nil || o.err.Error() != "refused "+u || kept {
				t.Errorf("%s (fails): err %v, kept %v; want its own error and nothing kept", u, o.err, kept)
			}
		case i%5 == 2:
			if o.panicked != "boom "+u || kept {
				t.Errorf("%s (panics): panicked %v, kept %v; want its own panic and nothing kept", u, o.panicked, kept)
			}
		case i%5 == 3:
			if host.ErrorCode(o.err) != host.ECONFLICT || kept {
				t.Errorf("%s (conflict): err %v, kept %v; want ECONFLICT and nothing kept", u, o.err, kept)
			}
		default:
			if o.err != nil || o.panicked != nil || !kept {
				t.Errorf("%s: err %v, panicked %v, kept %v; want it committed", u, o.err, o.panicked, kept)
			}
		}
	}
}

// A transaction that enqueues outbox work wakes the worker after its batch
// commits.
func TestGroupCommitWakes(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	release, running := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.Tx(ctx, func(tx host.Tx) error { close(running); <-release; return nil })
	}()
	<-running
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: "q", Kind: host.KindProviderSend, Payload: []byte(`{}`)}
			if err := db.Tx(ctx, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
				t.Error(err)
			}
		}()
	}
	waitQueued(t, db, 3)
	select {
	case <-db.Wake():
		t.Fatal("woken before anything was committed")
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	select {
	case <-db.Wake():
	default:
		t.Fatal("no wake-up after the batch that enqueued work committed")
	}
	st, err := db.OutboxStats(ctx)
	if err != nil || st.Pending != 3 {
		t.Errorf("pending %d (%v), want 3", st.Pending, err)
	}
}

// BenchmarkTxParallel is the engine's write pattern: many callers, each a
// small transaction. Group commit shares one commit among those that
// arrive together.
func BenchmarkTxParallel(b *testing.B) {
	db, _ := openDB(b)
	ctx := context.Background()
	b.SetParallelism(16) // 16 × GOMAXPROCS callers, like concurrent HTTP requests
	var n sync.Mutex
	i := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			u := fmt.Sprintf("u%d", i)
			n.Unlock()
			if err := db.Tx(ctx, func(tx host.Tx) error {
				return tx.AppendMessage(&host.Message{Bot: "shop", UserID: u, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload(u)})
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
