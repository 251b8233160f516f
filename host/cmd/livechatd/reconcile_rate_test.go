//go:build faults

package main_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

// This test takes two minutes of real time: it runs in `make faults`, not
// `make test`.

// Fifty open sessions read back every 30 s would take more calls than
// Gorgias allows an account (40 per 20 s); over two minutes the sandbox
// never admits more than that in any 20 s window, and the users' messages
// reach their tickets at once all along.
func TestGorgiasReconcileWithinTheRateLimit(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{})
	const sessions = 50
	// The sessions open without the limit: at Gorgias's pace, 50 starts
	// (five calls each) alone take two minutes.
	w.sandbox.LimitRate(false)
	var users []string
	sessionOf := map[string]string{}
	for i := range sessions {
		u := fmt.Sprintf("u%02d", i)
		r := w.p.say(u, button("LIVECHAT_SESSION_START"))
		sessionOf[u], users = r["livechat"].(map[string]any)["session_id"].(string), append(users, u)
	}
	w.wait("every ticket", func() bool {
		for _, s := range sessionOf {
			if len(w.sandbox.TicketsByExternalID(s)) == 0 {
				return false
			}
		}
		return true
	})
	tickets := map[string]int64{}
	for u, s := range sessionOf {
		tickets[u] = w.ticket(s).ID
	}
	w.idle()
	w.sandbox.LimitRate(true)
	w.sandbox.ResetCallStats()
	before := len(w.sandbox.Requests())

	// The load: a user message every 4 s (a send costs Gorgias two calls:
	// 10 per 20 s), each waited for on its ticket.
	var lags []time.Duration
	pace := time.NewTicker(4 * time.Second)
	defer pace.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		u := users[i%sessions]
		msg := fmt.Sprintf("message %d", i)
		sent := time.Now()
		w.p.say(u, text(msg))
		w.wait("the message on the ticket", func() bool { return slices.Contains(w.texts(tickets[u]), msg) })
		lags = append(lags, time.Since(sent))
		<-pace.C
	}
	stats := w.sandbox.CallStats(gorgiasEmail)
	reads := 0
	for _, r := range w.sandbox.Requests()[before:] {
		if isTicketRead(r) {
			reads++
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("2 minutes, %d sessions: %d calls, at most %d in a 20 s window (limit 40); %d ticket reads; %d messages, lag p50 %s max %s",
		sessions, stats.Calls, stats.MaxInWindow, reads, len(lags), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	if stats.MaxInWindow > 40 {
		t.Errorf("the sandbox admitted %d calls in one 20 s window, over Gorgias's 40", stats.MaxInWindow)
	}
	if reads < sessions {
		t.Errorf("%d ticket reads in 2 minutes, want every one of the %d sessions read back", reads, sessions)
	}
	if worst := lags[len(lags)-1]; worst > 3*time.Second {
		t.Errorf("a user message took %s to reach its ticket: held back by reads", worst)
	}
}
