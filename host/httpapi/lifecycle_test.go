package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

func TestLifecycleWithEcho(t *testing.T) {
	s := newStack(t, stackOptions{})

	// No session: the bot answers, and hears everything.
	r := s.say("u1", "help")
	if r.Status != 200 || !slices.Equal(r.texts(), []string{"Do you need some help from a human agent?"}) {
		t.Fatalf("help: %d %s", r.Status, r.Raw)
	}
	if ev := s.bot.WaitValue(t, "help"); ev.Client["bot_id"] != "shop" || ev.Client["user_id"] != "u1" {
		t.Errorf("the bot got client %v, want bot_id shop and user_id u1", ev.Client)
	}

	// START is intercepted: the host answers, the bot hears nothing.
	r = s.event("u1", map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}},
		map[string]any{"firstname": "Jane", "email": "jane@example.com"})
	id, state := r.livechat()
	if r.Status != 200 || id == "" || state != "starting" || !slices.Equal(r.texts(), []string{"Connecting you to an agent…"}) {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	// The agent's greeting reaches the channel, as the agent.
	s.channel.WaitTexts(t, 1)
	d := s.channel.Deliveries()[0]
	if d.SessionID != id || d.Messages[0].Author.Type != "agent" || d.Messages[0].Author.Name != "Echo" || d.Client["user_id"] != "u1" {
		t.Errorf("greeting delivery = %+v", d)
	}

	// User messages go to the agent in order; the API answers with the session.
	for _, text := range []string{"where is my order?", "it is late"} {
		r = s.say("u1", text)
		if _, st := r.livechat(); r.Status != 200 || len(r.messages()) != 0 || (st != "active" && st != "starting") {
			t.Fatalf("say %q: %d %s", text, r.Status, r.Raw)
		}
	}
	got := s.channel.WaitTexts(t, 3)
	if diff := cmp.Diff([]string{"Hello, I am Echo.", "echo: where is my order?", "echo: it is late"}, got); diff != "" {
		t.Errorf("channel (-want +got):\n%s", diff)
	}

	// A second START opens nothing new.
	r = s.click("u1", "LIVECHAT_SESSION_START")
	if again, _ := r.livechat(); again != id {
		t.Errorf("second START gave session %q, want %q", again, id)
	}

	// The agent's sign-off becomes a question with the quit button...
	s.say("u1", "sign off")
	s.channel.WaitTexts(t, 4)
	signOff := s.channel.Deliveries()[3].Messages[0].Payload
	want := map[string]any{"title": "Glad I could help!", "buttons": []any{map[string]any{
		"content_type": "button", "content": map[string]any{"title": "Quit livechat", "payload": "LIVECHAT_SESSION_END"}}}}
	if signOff.ContentType != "question" || !cmp.Equal(want, signOff.Content) {
		t.Errorf("sign-off = %s %v", signOff.ContentType, cmp.Diff(want, signOff.Content))
	}
	// ...and the session goes on if the user says something else.
	s.say("u1", "one more thing")
	s.channel.WaitTexts(t, 5)

	// END: the session closes, the bot hears END, its reply is the answer.
	r = s.click("u1", "LIVECHAT_SESSION_END")
	if _, st := r.livechat(); r.Status != 200 || st != "ended" || !slices.Equal(r.texts(), []string{"Thanks for chatting with us today!"}) {
		t.Fatalf("end: %d %s", r.Status, r.Raw)
	}
	if diff := cmp.Diff([]string{"help", "LIVECHAT_SESSION_END"}, s.bot.Values()); diff != "" {
		t.Errorf("the bot heard something during the session (-want +got):\n%s", diff)
	}
	sess := s.session(id)
	if sess["state"] != "ended" || sess["end_reason"] != "user" || sess["provider_ref"] != "echo-"+id || sess["provider"] != "echo" {
		t.Errorf("session = %v", sess)
	}
	if md, _ := sess["metadata"].(map[string]any); md["email"] != "jane@example.com" {
		t.Errorf("session metadata = %v", sess["metadata"])
	}

	// After the session, the bot has the user again.
	r = s.say("u1", "hello again")
	if !slices.Equal(r.texts(), []string{"bot: hello again"}) {
		t.Errorf("after the session: %s", r.Raw)
	}
}

func TestStartPassesTranscriptAndMetadata(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder"})
	s.say("u1", "help")
	s.say("u1", "my parcel is lost")
	r := s.event("u1", map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}},
		map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"})
	id, _ := r.livechat()
	s.channel.WaitTexts(t, 1) // ack start
	starts := s.recordsOf("start")
	if len(starts) != 1 {
		t.Fatalf("starts = %v", starts)
	}
	st := starts[0]
	user := st["user"].(map[string]any)
	wantMeta := map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}
	if user["id"] != "u1" || user["channel_id"] != "web" || !cmp.Equal(wantMeta, user["metadata"]) {
		t.Errorf("start user = %v", user)
	}
	if st["session_id"] != id || st["key"] != "start:"+id {
		t.Errorf("start session/key = %v %v", st["session_id"], st["key"])
	}
	var transcript []string
	for _, m := range st["messages"].([]any) {
		m := m.(map[string]any)
		c := m["content"].(map[string]any)
		text, _ := c["text"].(string)
		if text == "" {
			text, _ = c["title"].(string)
		}
		transcript = append(transcript, m["author"].(map[string]any)["type"].(string)+": "+text)
	}
	wantTranscript := []string{"user: help", "bot: Do you need some help from a human agent?", "user: my parcel is lost", "bot: bot: my parcel is lost"}
	if diff := cmp.Diff(wantTranscript, transcript); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}

	for i := 1; i <= 3; i++ {
		s.say("u1", fmt.Sprintf("message %d", i))
	}
	s.channel.WaitTexts(t, 4)
	var sent []string
	for _, rec := range s.recordsOf("send") {
		m := rec["messages"].([]any)[0].(map[string]any)
		sent = append(sent, m["content"].(map[string]any)["text"].(string))
		if rec["ref"] != "T-"+id || !strings.HasPrefix(rec["key"].(string), "send:") {
			t.Errorf("send record = %v", rec)
		}
	}
	if diff := cmp.Diff([]string{"message 1", "message 2", "message 3"}, sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}

	s.click("u1", "LIVECHAT_SESSION_END")
	s.waitDone("end:" + id)
	ends := s.recordsOf("end")
	if len(ends) != 1 || ends[0]["reason"] != "user" || ends[0]["ref"] != "T-"+id {
		t.Errorf("ends = %v", ends)
	}
}

// startSession opens a session for user and waits for the agent's greeting.
func (s *stack) startSession(user string, greetings int) string {
	s.t.Helper()
	r := s.click(user, "LIVECHAT_SESSION_START")
	id, _ := r.livechat()
	if id == "" {
		s.t.Fatalf("start: %s", r.Raw)
	}
	s.channel.WaitTexts(s.t, greetings)
	s.waitDone("start:" + id) // active, with its expiry set
	return id
}

func TestExpiryImmediate(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder"})
	id := s.startSession("u1", 1)
	s.clock.Add(29 * time.Minute)
	if n, err := s.engine.ExpireDue(context.Background()); err != nil || n != 0 {
		t.Fatalf("expired %d (%v) before the timeout", n, err)
	}
	s.say("u1", "still there?") // activity pushes expiry back
	s.channel.WaitTexts(t, 2)
	s.clock.Add(29 * time.Minute)
	if n, _ := s.engine.ExpireDue(context.Background()); n != 0 {
		t.Fatal("a message did not postpone the expiry")
	}
	s.clock.Add(2 * time.Minute)
	if n, err := s.engine.ExpireDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	s.bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	s.waitDone("end:" + id)
	// The agent's acknowledgement of the end comes after the session closed:
	// it is not delivered.
	texts := s.channel.WaitTexts(t, 3)
	if diff := cmp.Diff([]string{"ack start", "ack send", "Your livechat session expired."}, texts); diff != "" {
		t.Errorf("channel (-want +got):\n%s", diff)
	}
	sess := s.session(id)
	if sess["state"] != "expired" || sess["end_reason"] != "expired" {
		t.Errorf("session = %v", sess)
	}
	if ends := s.recordsOf("end"); len(ends) != 1 || ends[0]["reason"] != "expired" {
		t.Errorf("provider ends = %v", ends)
	}
	// The user's next message is not lost: the bot has it.
	if r := s.say("u1", "hello?"); !slices.Equal(r.texts(), []string{"bot: hello?"}) {
		t.Errorf("after expiry: %s", r.Raw)
	}
}

func TestExpiryNextMessage(t *testing.T) {
	s := newStack(t, stackOptions{bots: func(b *engine.Bot) { b.ExpiredNotice = host.ExpiredNoticeNextMessage }})
	s.startSession("u1", 1)
	s.clock.Add(31 * time.Minute)
	if n, err := s.engine.ExpireDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	if vs := s.bot.Values(); len(vs) != 0 {
		t.Errorf("the bot heard %v at expiry; in next_message mode it hears it with the next event", vs)
	}
	r := s.say("u1", "anyone?")
	if diff := cmp.Diff([]string{"Your livechat session expired.", "bot: anyone?"}, r.texts()); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"LIVECHAT_SESSION_EXPIRED", "anyone?"}, s.bot.Values()); diff != "" {
		t.Errorf("bot (-want +got):\n%s", diff)
	}
	// Told once only.
	r = s.say("u1", "again")
	if diff := cmp.Diff([]string{"bot: again"}, r.texts()); diff != "" {
		t.Errorf("second answer (-want +got):\n%s", diff)
	}
}

func TestConcurrentStartsOpenOneSession(t *testing.T) {
	s := newStack(t, stackOptions{})
	const n = 50
	ids := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.click("u1", "LIVECHAT_SESSION_START")
			ids[i], _ = r.livechat()
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != 200 || ids[i] != ids[0] || ids[0] == "" {
			t.Fatalf("start %d: status %d session %q; want 200 and %q", i, statuses[i], ids[i], ids[0])
		}
	}
	r := s.admin(http.MethodGet, "/v1/sessions?bot=shop")
	if list := r.Body["sessions"].([]any); len(list) != 1 {
		t.Errorf("sessions = %d, want 1", len(list))
	}
	s.channel.WaitTexts(t, 1)
	if got := s.channel.Texts(); len(got) != 1 {
		t.Errorf("the agent greeted %d times", len(got))
	}
}

func TestChannelDownThenBack(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.channel.SetDown(true)
	s.click("u1", "LIVECHAT_SESSION_START")
	for i := 1; i <= 5; i++ {
		s.say("u1", fmt.Sprintf("m%d", i))
	}
	s.channel.WaitAttempts(t, 4) // a few refused attempts
	s.channel.SetDown(false)
	got := s.channel.WaitTexts(t, 6)
	want := []string{"Hello, I am Echo.", "echo: m1", "echo: m2", "echo: m3", "echo: m4", "echo: m5"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("channel (-want +got):\n%s", diff)
	}
	tries := map[string]int{}
	for _, a := range s.channel.Attempts() {
		if !a.SignatureOK {
			t.Errorf("attempt %s: bad signature", a.DeliveryID)
		}
		tries[a.DeliveryID]++
	}
	if tries[s.channel.Deliveries()[0].ID] < 2 {
		t.Errorf("the first delivery was tried %d times; its retries must reuse its id", tries[s.channel.Deliveries()[0].ID])
	}
}

func TestStartFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail string
		bots func(*engine.Bot)
	}{
		{"permanent", "permanent", nil},
		{"retryable past start_timeout", "retryable", func(b *engine.Bot) { b.StartTimeout = 100 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"fail_start": tc.fail}, bots: tc.bots})
			r := s.click("u1", "LIVECHAT_SESSION_START")
			id, _ := r.livechat()
			s.bot.WaitValue(t, "LIVECHAT_SESSION_FAILED")
			got := s.channel.WaitTexts(t, 2)
			if diff := cmp.Diff([]string{"No agent is available right now.", "Sorry, nobody can take your call."}, got); diff != "" {
				t.Errorf("channel (-want +got):\n%s", diff)
			}
			if sess := s.session(id); sess["state"] != "failed" {
				t.Errorf("session = %v", sess)
			}
			if r := s.say("u1", "ok then"); !slices.Equal(r.texts(), []string{"bot: ok then"}) {
				t.Errorf("after a failed start the bot must have the user: %s", r.Raw)
			}
		})
	}
}

func TestAdminEndsSession(t *testing.T) {
	s := newStack(t, stackOptions{})
	id := s.startSession("u1", 1)
	if r := s.do(http.MethodPost, "/v1/sessions/"+id+"/end", nil, nil); r.Status != 401 || r.errorCode() != "unauthorized" {
		t.Errorf("end without token: %d %s", r.Status, r.Raw)
	}
	r := s.admin(http.MethodPost, "/v1/sessions/"+id+"/end")
	if r.Status != 200 || r.Body["state"] != "ended" || r.Body["end_reason"] != "admin" {
		t.Fatalf("admin end: %d %s", r.Status, r.Raw)
	}
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if got := s.channel.WaitTexts(t, 2); got[1] != "Thanks for chatting with us today!" {
		t.Errorf("channel = %q", got)
	}
	if r := s.admin(http.MethodPost, "/v1/sessions/"+id+"/end"); r.Status != 409 || r.errorCode() != "conflict" {
		t.Errorf("second end: %d %s", r.Status, r.Raw)
	}
}

func TestRequestIDMakesRetriesSafe(t *testing.T) {
	s := newStack(t, stackOptions{})
	ev := map[string]any{"request_id": "req-1", "client": map[string]any{"user_id": "u1"},
		"payload": map[string]any{"content_type": "text", "content": map[string]any{"text": "once"}}}
	first := s.postJSON("/v1/bots/shop/events", ev)
	second := s.postJSON("/v1/bots/shop/events", ev)
	if first.Raw != second.Raw || first.Status != 200 {
		t.Errorf("retry answered %s, first %s", second.Raw, first.Raw)
	}
	if vs := s.bot.Values(); len(vs) != 1 {
		t.Errorf("the bot got %v; a retried request must reach it once", vs)
	}
}
