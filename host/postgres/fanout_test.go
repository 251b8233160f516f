package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/postgres"
)

// Two replicas claim due expiries at once, each holding its claim: they
// get disjoint sessions (SKIP LOCKED), and a session claimed by neither
// stays due.
func TestClaimDueExpiriesSplitsReplicas(t *testing.T) {
	dbs, _ := replicas(t, 2, postgres.Options{})
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := dbs[0].Tx(bg, func(tx host.Tx) error {
		for i := range 10 {
			s := &host.Session{Bot: "shop", UserID: fmt.Sprintf("u%02d", i), Provider: "gorgias", State: host.SessionActive,
				ExpiresAt: now.Add(-time.Duration(10-i) * time.Second)}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !dbs[0].ClaimsExpiries() {
		t.Fatal("the PostgreSQL store does not say it claims expiries")
	}
	first := make(chan []string, 1)
	release := make(chan struct{})
	errs := make(chan error, 2)
	go func() {
		errs <- dbs[0].Tx(bg, func(tx host.Tx) error {
			due, err := tx.(engine.ExpiryClaimer).ClaimDueExpiries(now, 4)
			if err != nil {
				return err
			}
			first <- userIDs(due)
			<-release // hold the claim while the other replica claims
			return nil
		})
	}()
	a := <-first
	var b []string
	err = dbs[1].Tx(bg, func(tx host.Tx) error {
		due, err := tx.(engine.ExpiryClaimer).ClaimDueExpiries(now, 100)
		b = userIDs(due)
		return err
	})
	close(release)
	if err != nil || <-errs != nil {
		t.Fatal(err)
	}
	if strings.Join(a, ",") != "u00,u01,u02,u03" || strings.Join(b, ",") != "u04,u05,u06,u07,u08,u09" {
		t.Errorf("replica 1 claimed %v, replica 2 %v: want the earliest 4, then the other 6", a, b)
	}
}

func userIDs(ss []*host.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.UserID)
	}
	return out
}

// A stream append on one replica reaches the other's watchers, with its
// bot and user, and not the appending replica's own.
func TestStreamFanout(t *testing.T) {
	dbs, _ := replicas(t, 2, postgres.Options{})
	type grew struct{ bot, user string }
	got := [2]chan grew{make(chan grew, 8), make(chan grew, 8)}
	for i, db := range dbs {
		db.WatchStreams(func(bot, user string) { got[i] <- grew{bot, user} })
	}
	sent := time.Now()
	if _, err := dbs[0].AppendStream(bg, "shop", "u\x1fodd", "", json.RawMessage(`{"type":"message"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got[1]:
		if g != (grew{"shop", "u\x1fodd"}) {
			t.Errorf("replica 2 heard %q", g)
		}
		t.Logf("replica 2 heard of the append %s after it was made", time.Since(sent).Round(time.Microsecond))
	case <-time.After(5 * time.Second):
		t.Fatal("replica 2 was not told within 5s")
	}
	// The appending replica is not told (its channel knows already): a
	// second append, told to replica 2, comes after any echo would have.
	if _, err := dbs[0].AppendStream(bg, "shop", "v", "", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got[1]:
	case <-time.After(5 * time.Second):
		t.Fatal("replica 2 was not told of the second append")
	}
	select {
	case g := <-got[0]:
		t.Errorf("replica 1 was told of its own append %q", g)
	default:
	}
}

// An exchange held on one replica holds a delivery's wait on another,
// until it is released; another user's deliveries do not wait.
func TestExchangeLocksAcrossReplicas(t *testing.T) {
	dbs, _ := replicas(t, 2, postgres.Options{})
	release, err := dbs[0].HoldExchange(bg, "shop", "u1")
	if err != nil {
		t.Fatal(err)
	}
	// Another user's delivery does not wait.
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	if err := dbs[1].AwaitExchanges(ctx, "shop", "u2"); err != nil {
		t.Fatalf("u2's delivery waited for u1's exchange: %v", err)
	}
	// A second exchange of the same user on the other replica may run
	// alongside (shared).
	release2, err := dbs[1].HoldExchange(ctx, "shop", "u1")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dbs[1].AwaitExchanges(ctx, "shop", "u1") }()
	select {
	case err := <-done:
		t.Fatalf("the delivery did not wait for the exchanges in flight: %v", err)
	case <-time.After(300 * time.Millisecond): // it is still waiting: what is tested
	}
	release()
	select {
	case err := <-done:
		t.Fatalf("the delivery went on with an exchange still in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	released := time.Now()
	release2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("the delivery went on %s after the last exchange ended", time.Since(released).Round(time.Microsecond))
	release() // twice is harmless
}

// Exactly one of three replicas reports the shared gauges; when it
// closes, another takes over within the safety poll.
func TestOneReplicaReports(t *testing.T) {
	dbs, _ := replicas(t, 3, postgres.Options{WakePoll: 100 * time.Millisecond})
	reporters := func() []int {
		var out []int
		for i, db := range dbs {
			if db != nil && db.Reporting() {
				out = append(out, i)
			}
		}
		return out
	}
	until(5*time.Second, func() bool { return len(reporters()) == 1 })
	r := reporters()
	if len(r) != 1 {
		t.Fatalf("reporting replicas: %v, want exactly one", r)
	}
	dbs[r[0]].Close()
	dbs[r[0]] = nil
	until(5*time.Second, func() bool { return len(reporters()) == 1 })
	if got := reporters(); len(got) != 1 {
		t.Fatalf("after the reporter closed, reporting replicas: %v, want exactly one", got)
	}
}

// until waits for cond, checked every 10 ms, for up to d: for state that
// other goroutines change without telling.
func until(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}
