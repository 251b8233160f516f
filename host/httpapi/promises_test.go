package httpapi_test

// Regression tests of issue 9 ("the engine keeps its promises") through the
// whole stack: the HTTP API, the engine, SQLite and a real plugin binary.
// Each failed on the engine before the work.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

// waitUntil waits, re-checking after every outbox attempt, until cond holds.
func (s *stack) waitUntil(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		s.workMu.Lock()
		sig := s.workSig
		s.workMu.Unlock()
		if cond() {
			return
		}
		select {
		case <-sig:
		case <-deadline.C:
			s.t.Fatalf("%s: not within 30s", what)
		}
	}
}

// sentTexts are the texts of the user messages the recorder was sent.
func (s *stack) sentTexts() []string {
	var out []string
	for _, r := range s.recordsOf("send") {
		msgs, _ := r["messages"].([]any)
		for _, m := range msgs {
			c, _ := m.(map[string]any)["content"].(map[string]any)
			if text, ok := c["text"].(string); ok {
				out = append(out, text)
			}
		}
	}
	return out
}

func (s *stack) sayWithID(user, requestID, text string) response {
	s.t.Helper()
	return s.postJSON("/v1/bots/shop/events", map[string]any{"request_id": requestID,
		"client":  map[string]any{"user_id": user, "channel_id": "web"},
		"payload": map[string]any{"content_type": "text", "content": map[string]any{"text": text}}})
}

// Point 1: a channel that retries while the first attempt runs gets the
// message to the agent once (it was 20 of 20 twice, or 20 times).
func TestConcurrentRetriesReachTheAgentOnce(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	s.startSession("u1", 0)

	const n = 20
	replies := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = s.sayWithID("u1", "req-hello", "hello") })
	}
	wg.Wait()
	for i, r := range replies {
		if r.Status != http.StatusOK || r.Raw != replies[0].Raw {
			t.Fatalf("attempt %d answered %d %s; first %s", i, r.Status, r.Raw, replies[0].Raw)
		}
	}
	// The provider queue is ordered: once "after" is sent, every "hello" is.
	s.sayWithID("u1", "req-after", "after")
	s.waitUntil("the message after", func() bool { return slices.Contains(s.sentTexts(), "after") })
	if got := s.sentTexts(); !slices.Equal(got, []string{"hello", "after"}) {
		t.Errorf("the agent got %q, want hello once, then after", got)
	}
}

// docs/events.md: a request id is scoped to (bot, user) and bound to its body.
func TestRequestIDIsBoundToUserAndBody(t *testing.T) {
	s := newStack(t, stackOptions{})
	if r := s.sayWithID("u1", "req-1", "first"); r.Status != http.StatusOK {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	r := s.sayWithID("u1", "req-1", "another text")
	if r.Status != http.StatusConflict || r.errorCode() != host.ECONFLICT {
		t.Errorf("same id, another body: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	if e, _ := r.Body["error"].(map[string]any); e["field"] != "request_id" {
		t.Errorf("error names field %v, want request_id", e["field"])
	}
	// Another user's request with the same id is their own.
	if r := s.sayWithID("u2", "req-1", "first"); !slices.Equal(r.texts(), []string{"bot: first"}) {
		t.Errorf("u2: %s", r.Raw)
	}
	if got := s.bot.Values(); !slices.Equal(got, []string{"first", "first"}) {
		t.Errorf("the bot heard %q, want each user's request once", got)
	}
}

// Point 3: a bot that refuses the pending expiry notice no longer locks the
// user out (every later event, START included, was 502 forever).
func TestRefusedExpiryNoticeDoesNotLockTheUserOut(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}, bots: func(b *engine.Bot) {
		b.ExpiredNotice = host.ExpiredNoticeNextMessage
	}})
	s.startSession("u1", 0)
	s.clock.Add(31 * time.Minute)
	if n, err := s.engine.ExpireDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	s.bot.Refuse("LIVECHAT_SESSION_EXPIRED", http.StatusBadRequest)
	r := s.say("u1", "hello")
	if r.Status != http.StatusOK || !slices.Equal(r.texts(), []string{"bot: hello"}) {
		t.Fatalf("after a refused notice: %d %s", r.Status, r.Raw)
	}
	if r := s.click("u1", "LIVECHAT_SESSION_START"); r.Status != http.StatusOK {
		t.Errorf("START after a refused notice: %d %s", r.Status, r.Raw)
	}
}

// Point 4: a session whose ticket vanished fails visibly instead of turning
// the user's messages into silent dead letters.
func TestVanishedTicketFailsTheSession(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false, "fail_send": "not_found"}})
	id := s.startSession("u1", 0)
	s.say("u1", "where is my order?")
	if got := s.channel.WaitTexts(t, 1); !slices.Equal(got, []string{"No agent is available right now."}) {
		t.Errorf("channel = %q", got)
	}
	s.bot.WaitValue(t, "LIVECHAT_SESSION_FAILED")
	if sess := s.session(id); sess["state"] != "failed" || sess["end_reason"] != "failed" {
		t.Errorf("session = %v", sess)
	}
	if r := s.say("u1", "hello?"); !slices.Equal(r.texts(), []string{"bot: hello?"}) {
		t.Errorf("the next message went to %s, want the bot", r.Raw)
	}
	if r := s.admin(http.MethodGet, "/v1/deadletters"); len(r.Body["dead_letters"].([]any)) != 0 {
		t.Errorf("dead letters: %s", r.Raw)
	}
}

// Point 9: transcript_size = 0 sends no transcript (it sent 100 messages).
func TestTranscriptSizeZeroSendsNone(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}, bots: func(b *engine.Bot) {
		b.TranscriptSize = 0
	}})
	s.say("u1", "help")
	s.startSession("u1", 0)
	starts := s.recordsOf("start")
	if len(starts) != 1 {
		t.Fatalf("%d starts", len(starts))
	}
	if msgs, _ := starts[0]["messages"].([]any); len(msgs) != 0 {
		t.Errorf("the start carried %d transcript messages, want none: %v", len(msgs), msgs)
	}
}

// Points 9 and 12: event ids are remembered per session (a platform that
// starts its ids again — a sandbox restarted by a second `make run` — had
// the first reply of every new ticket dropped), and an agent message after
// the session closed is kept and visible instead of dropped without trace.
func TestAgentEventIDsPerSessionAndLateMessages(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	agent := func(session, eventID, text string) {
		t.Helper()
		r := s.webhook(url.Values{"token": {webhookToken}, "session_id": {session}, "event_id": {eventID}, "text": {text}, "agent": {"Ann"}})
		if r.Status != http.StatusOK {
			t.Fatalf("webhook %s: %d %s", text, r.Status, r.Raw)
		}
	}
	first := s.startSession("u1", 0)
	agent(first, "1", "hello from ticket one")
	s.channel.WaitTexts(t, 1)
	s.click("u1", "LIVECHAT_SESSION_END")
	agent(first, "2", "too late")

	second := s.startSession("u1", 0)
	agent(second, "1", "hello from ticket two")
	got := s.channel.WaitTexts(t, 2)
	if !slices.Equal(got, []string{"hello from ticket one", "hello from ticket two"}) {
		t.Errorf("channel = %q", got)
	}
	var late []string
	for _, m := range s.session(first)["messages"].([]any) {
		m := m.(map[string]any)
		if m["late"] == true {
			late = append(late, fmt.Sprint(m["payload"].(map[string]any)["content"].(map[string]any)["text"]))
		}
	}
	if !slices.Equal(late, []string{"too late"}) {
		t.Errorf("late messages of the first session = %q", late)
	}
}
