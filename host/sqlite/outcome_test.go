package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

// Outcomes: stored and replaced whole, found due by wait_due_at, and
// aggregated over a range of start times.
func TestOutcomes(t *testing.T) {
	db, _ := openDB(t)
	ctx := context.Background()
	min := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	outcomes := []*host.Outcome{
		// answered after 2 min, ended by the user after 10, rated 5
		{SessionID: "a", Bot: "shop", Provider: "echo", StartedAt: min(0), FirstAgentAt: min(2), EndedAt: min(10), EndReason: "user", CSATScore: 5, CSATScale: 5},
		// never answered: max_wait after 10 min
		{SessionID: "b", Bot: "shop", Provider: "echo", StartedAt: min(1), EndedAt: min(11), EndReason: "max_wait"},
		// open, waiting, due at 3
		{SessionID: "c", Bot: "shop", Provider: "echo", StartedAt: min(2), WaitDueAt: min(3), WaitNotices: 1},
		// another bot, due at 1
		{SessionID: "d", Bot: "help", Provider: "echo", StartedAt: min(2), WaitDueAt: min(1)},
		// outside the range
		{SessionID: "e", Bot: "shop", Provider: "echo", StartedAt: min(60), EndedAt: min(61), EndReason: "agent"},
	}
	mustTx(t, db, func(tx host.Tx) error {
		for _, o := range outcomes {
			if err := tx.PutOutcome(o); err != nil {
				return err
			}
		}
		return nil
	})
	mustTx(t, db, func(tx host.Tx) error {
		got, err := tx.Outcome("a")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(outcomes[0], got); diff != "" {
			t.Errorf("outcome a (-want +got):\n%s", diff)
		}
		_, err = tx.Outcome("zz")
		wantCode(t, err, host.ENOTFOUND)
		wantCode(t, tx.PutOutcome(&host.Outcome{SessionID: "x", Bot: "shop", Provider: "echo"}), host.EINVALID)
		// Replaced whole: the wait is over.
		c := *outcomes[2]
		c.WaitDueAt, c.FirstAgentAt = time.Time{}, min(4)
		return tx.PutOutcome(&c)
	})
	due, err := db.DueWaits(ctx, min(5), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].SessionID != "d" {
		t.Errorf("due waits %v, want d only (c's wait is over)", due)
	}
	st, err := db.OutcomeStats(ctx, host.OutcomeFilter{Bot: "shop", From: t0, To: min(30), Buckets: []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	want := &host.OutcomeStats{Sessions: 3, Open: 1, EndReasons: map[string]int{"user": 1, "max_wait": 1},
		FirstAgent: host.DurationStats{Count: 2, Sum: 4 * time.Minute, Max: 2 * time.Minute, Buckets: []int{0, 2, 2}},
		Length:     host.DurationStats{Count: 2, Sum: 20 * time.Minute, Max: 10 * time.Minute, Buckets: []int{0, 0, 2}},
		CSAT:       map[int]int{5: 1}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	all, err := db.OutcomeStats(ctx, host.OutcomeFilter{From: t0, To: min(120)})
	if err != nil {
		t.Fatal(err)
	}
	if all.Sessions != 5 || all.EndReasons["agent"] != 1 {
		t.Errorf("every bot: %+v", all)
	}
}
