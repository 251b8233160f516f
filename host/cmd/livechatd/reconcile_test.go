package main_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// These tests run livechatd, the Gorgias plugin and the sandbox as they run
// in production, and lose the platform's webhooks on purpose: what the
// agent writes must reach the user all the same, once and in order, by
// reading the tickets back (issue 11).

// startGorgiasSession opens user's session and returns its ticket.
func (w *gorgiasWorld) startSession(user string) (string, sandbox.Ticket) {
	w.t.Helper()
	r := w.p.say(user, button("LIVECHAT_SESSION_START"))
	session := r["livechat"].(map[string]any)["session_id"].(string)
	return session, w.ticket(session)
}

// replies has agent Ann write n replies "<prefix> i" on ticket.
func (w *gorgiasWorld) replies(ticket int64, prefix string, from, to int) []string {
	w.t.Helper()
	var out []string
	for i := from; i <= to; i++ {
		text := fmt.Sprintf("%s %d", prefix, i)
		if _, err := w.sandbox.Reply(ticket, "Ann", text); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, text)
	}
	return out
}

// ticketReads counts the plugin's reads of ticket so far.
func (w *gorgiasWorld) ticketReads(ticket int64) int {
	n := 0
	for _, r := range w.sandbox.Requests() {
		if isTicketRead(r) && r.Path == fmt.Sprintf("/api/tickets/%d", ticket) {
			n++
		}
	}
	return n
}

// isTicketRead reports whether r is a read of a ticket, GET
// /api/tickets/{id}: what reconciliation costs.
func isTicketRead(r sandbox.Request) bool {
	parts := strings.Split(strings.Trim(r.Path, "/"), "/")
	return r.Method == "GET" && len(parts) == 3 && parts[0] == "api" && parts[1] == "tickets"
}

func TestGorgiasRepliesReachTheUserWithWebhooksDropped(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{extra: `reconcile { interval = "2s" }`})
	session, ticket := w.startSession("u1")

	// Every webhook is lost; the agent writes ten replies, most within the
	// same second.
	w.sandbox.DropWebhooks()
	start := time.Now()
	want := w.replies(ticket.ID, "reply", 1, 10)
	got := w.channel.WaitTexts(t, 10)
	if !slices.Equal(got, want) {
		t.Fatalf("the user got %q, want %q once each, in order", got, want)
	}
	t.Logf("10 replies with every webhook dropped reached the user %s after the first was written (interval 2s)", time.Since(start).Round(10*time.Millisecond))
	if len(w.sandbox.DroppedWebhooks()) < 10 {
		t.Errorf("the sandbox dropped %d webhooks, want every one of the 10 replies'", len(w.sandbox.DroppedWebhooks()))
	}

	// Webhooks back on: a reply arrives by webhook, and the reads that
	// follow add no second copy.
	w.sandbox.ClearWebhookFaults()
	w.replies(ticket.ID, "by webhook", 11, 11)
	w.channel.WaitTexts(t, 11)
	reads := w.ticketReads(ticket.ID)
	w.wait("two more reads of the ticket", func() bool { return w.ticketReads(ticket.ID) >= reads+2 })
	if got := w.channel.Texts(); len(got) != 11 || got[10] != "by webhook 11" {
		t.Errorf("after more reads the user got %q, want the 11 replies once each", got)
	}

	// The agent closes the ticket and that webhook is lost too: the
	// session ends all the same and the bot takes over again.
	w.sandbox.DropWebhooks()
	if _, err := w.sandbox.CloseTicket(ticket.ID, "Ann"); err != nil {
		t.Fatal(err)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if s := w.p.admin("/v1/sessions/" + session); s["state"] != "ended" || s["end_reason"] != "agent" {
		t.Errorf("session is %v (%v), want ended by the agent", s["state"], s["end_reason"])
	}
}

// livechatd is killed while the agent writes three replies; their webhooks
// reach no one. After the restart — with an interval far longer than the
// test — the start-up read delivers all three, once.
func TestGorgiasRepliesAfterSIGKILL(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{extra: `reconcile { interval = "1h" }`})
	_, ticket := w.startSession("u1")
	w.replies(ticket.ID, "before", 1, 1)
	w.channel.WaitTexts(t, 1)

	if err := w.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.p.done
	w.sandbox.DropWebhooks() // the host is down: its webhooks are lost
	want := append([]string{"before 1"}, w.replies(ticket.ID, "while down", 1, 3)...)
	w.sandbox.ClearWebhookFaults()

	w.p = start(t, w.env)
	got := w.channel.WaitTexts(t, 4)
	if !slices.Equal(got, want) {
		t.Fatalf("after the restart the user got %q, want %q once each, in order", got, want)
	}
	reads := w.ticketReads(ticket.ID)
	w.replies(ticket.ID, "after", 1, 1) // by webhook: the host is up
	w.channel.WaitTexts(t, 5)
	w.idle()
	if got := w.channel.Texts(); len(got) != 5 {
		t.Errorf("the user got %q, want 5 replies once each", got)
	}
	if n := w.ticketReads(ticket.ID); n != reads {
		t.Errorf("the ticket was read %d more times within the hour's interval", n-reads)
	}
}
