package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

var _ = register([]testCase{
	{"Outcome", testOutcomes},
})

// testOutcomes: stored and replaced whole, found due by WaitDueAt, and
// aggregated over a range of start times.
func testOutcomes(t *testing.T, st *suite) {
	db, _ := st.store()
	min := func(n int) time.Time { return T0.Add(time.Duration(n) * time.Minute) }
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
	db.mustTx(func(tx host.Tx) error {
		for _, o := range outcomes {
			if err := tx.PutOutcome(o); err != nil {
				return err
			}
		}
		return nil
	})
	db.mustTx(func(tx host.Tx) error {
		got, err := tx.Outcome("a")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(outcomes[0], got); diff != "" {
			t.Errorf("outcome a (-want +got):\n%s", diff)
		}
		_, err = tx.Outcome("zz")
		wantField(t, err, host.ENOTFOUND, "session_id")
		wantField(t, tx.PutOutcome(&host.Outcome{SessionID: "x", Bot: "shop", Provider: "echo"}), host.EINVALID, "started_at")
		wantField(t, tx.PutOutcome(&host.Outcome{SessionID: "x", Provider: "echo", StartedAt: T0}), host.EINVALID, "bot")
		wantField(t, tx.PutOutcome(&host.Outcome{SessionID: "x", Bot: "shop", Provider: "echo", StartedAt: T0, CSATScore: 6, CSATScale: 5}), host.EINVALID, "csat_score")
		// Replaced whole: the wait is over.
		c := *outcomes[2]
		c.WaitDueAt, c.FirstAgentAt = time.Time{}, min(4)
		return tx.PutOutcome(&c)
	})
	db.mustTx(func(tx host.Tx) error {
		got, err := tx.Outcome("c")
		if err != nil {
			return err
		}
		if !got.WaitDueAt.IsZero() || !got.FirstAgentAt.Equal(min(4)) || got.WaitNotices != 1 {
			t.Errorf("outcome c after the replace: %+v", got)
		}
		return nil
	})
	due, err := db.DueWaits(bg, min(5), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].SessionID != "d" {
		t.Errorf("due waits %v, want d only (c's wait is over)", due)
	}
	if due, err := db.DueWaits(bg, min(0), 10); err != nil || len(due) != 0 {
		t.Errorf("due waits before any is due: %v, %v", due, err)
	}
	st2, err := db.OutcomeStats(bg, host.OutcomeFilter{Bot: "shop", From: T0, To: min(30), Buckets: []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	want := &host.OutcomeStats{Sessions: 3, Open: 1, EndReasons: map[string]int{"user": 1, "max_wait": 1},
		FirstAgent: host.DurationStats{Count: 2, Sum: 4 * time.Minute, Max: 2 * time.Minute, Buckets: []int{0, 2, 2}},
		Length:     host.DurationStats{Count: 2, Sum: 20 * time.Minute, Max: 10 * time.Minute, Buckets: []int{0, 0, 2}},
		CSAT:       map[int]int{5: 1}}
	if diff := cmp.Diff(want, st2); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	all, err := db.OutcomeStats(bg, host.OutcomeFilter{From: T0, To: min(120)})
	if err != nil {
		t.Fatal(err)
	}
	if all.Sessions != 5 || all.EndReasons["agent"] != 1 || all.Open != 2 {
		t.Errorf("every bot: %+v", all)
	}
	// Retention leaves outcomes.
	if _, err := db.DeleteTranscripts(bg, min(1000), 100); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.OutcomeStats(bg, host.OutcomeFilter{From: T0, To: min(120)}); all.Sessions != 5 {
		t.Errorf("after retention: %d outcomes, want 5", all.Sessions)
	}
}
