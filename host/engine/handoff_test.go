package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
	"github.com/prometheus/client_golang/prometheus"
)

// described is the harness's provider with capabilities, as a plugin
// describes itself.
type described struct {
	*fakeProvider
	caps []sdk.Capability
}

func (d described) Info() sdk.Info { return sdk.Info{Name: "fake", Capabilities: d.caps} }

func withCapabilities(caps ...sdk.Capability) option {
	return withProvider(func(h *harness) engine.Provider { return described{h.provider, caps} })
}

func withWaiting(every, maxWait time.Duration) option {
	return withBot(func(b *engine.Bot) {
		b.Waiting = engine.Waiting{Every: every, MaxWait: maxWait, Message: "Still waiting…", NoAgent: "Nobody is free."}
	})
}

func (h *harness) waitDue() int {
	h.t.Helper()
	n, err := h.eng.WaitDue(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) push(events ...sdk.Event) {
	h.t.Helper()
	if err := h.eng.PushEvents(context.Background(), "shop", events...); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) outcome(id string) *host.Outcome {
	h.t.Helper()
	var o *host.Outcome
	err := h.db.Tx(context.Background(), func(tx host.Tx) error {
		var err error
		o, err = tx.Outcome(id)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// Waiting feedback on the injected clock: nothing before the interval, a
// "still waiting" message (with a livechat waiting event) at each
// interval, and at max_wait the end: the session closes, the provider's
// EndSession says max_wait, the user reads waiting.no_agent and a
// session_ended event, and the bot hears LIVECHAT_SESSION_NO_AGENT once.
func TestWaitingFeedback(t *testing.T) {
	h := newHarness(t, withWaiting(time.Minute, 5*time.Minute))
	s := h.startSession("u1")
	if n := h.waitDue(); n != 0 {
		t.Errorf("%d waits due at once", n)
	}
	for i := 1; i <= 4; i++ {
		h.clock.Advance(time.Minute + time.Second)
		if n := h.waitDue(); n != 1 {
			t.Fatalf("interval %d: %d waits due, want 1", i, n)
		}
		h.drain()
	}
	if got := count(h.channel.texts("u1"), "Still waiting…"); got != 4 {
		t.Errorf("still-waiting messages %d, want 4: %q", got, h.channel.texts("u1"))
	}
	h.clock.Advance(2 * time.Minute)
	if n := h.waitDue(); n != 1 {
		t.Fatalf("max_wait: %d due", n)
	}
	h.drain()
	got := h.session(s.ID)
	if got.State.IsOpen() {
		t.Fatalf("session still %s after max_wait", got.State)
	}
	if h.bot.count("u1", engine.PayloadNoAgent) != 1 {
		t.Errorf("the bot heard NO_AGENT %d times", h.bot.count("u1", engine.PayloadNoAgent))
	}
	if ends := h.provider.endRequests(); len(ends) != 1 || ends[0].Reason != sdk.EndMaxWait {
		t.Errorf("provider ends %+v, want one with reason max_wait", ends)
	}
	texts := h.channel.texts("u1")
	if i := slices.Index(texts, "Nobody is free."); i < 0 || texts[len(texts)-1] != botAnswer(engine.PayloadNoAgent) {
		t.Errorf("channel texts %q: want no_agent, then the bot's answer", texts)
	}
	if ev := h.channel.events("u1"); ev[len(ev)-1] != "session_ended:max_wait" || count(ev, "waiting") != 4 {
		t.Errorf("livechat events %q", ev)
	}
	o := h.outcome(s.ID)
	if o.EndReason != engine.ReasonMaxWait || o.WaitNotices != 4 || !o.WaitDueAt.IsZero() || !o.FirstAgentAt.IsZero() {
		t.Errorf("outcome %+v", o)
	}
	// Nothing more is due, ever.
	h.clock.Advance(time.Hour)
	if n := h.waitDue(); n != 0 {
		t.Errorf("%d due after the end", n)
	}
}

// The first agent message (or an agent joining) stops the waiting
// feedback: no "still waiting", no end at max_wait; the time to the first
// agent message is recorded.
func TestWaitingStopsForAnAgent(t *testing.T) {
	for _, joined := range []bool{false, true} {
		t.Run(map[bool]string{false: "message", true: "joined"}[joined], func(t *testing.T) {
			h := newHarness(t, withWaiting(time.Minute, 3*time.Minute))
			s := h.startSession("u1")
			h.clock.Advance(30 * time.Second)
			if joined {
				h.push(sdk.Event{ID: "j1", Type: sdk.EventAgentJoined, SessionID: s.ID, Message: sdk.Message{Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann"}}})
			} else {
				h.push(agentMessage(s.ID, "m1", "Hi, Ann here."))
			}
			h.clock.Advance(time.Hour)
			if n := h.waitDue(); n != 0 {
				t.Errorf("%d waits due after the agent came", n)
			}
			h.drain()
			if got := h.session(s.ID); !got.State.IsOpen() {
				t.Errorf("session %s", got.State)
			}
			if slices.Contains(h.channel.texts("u1"), "Still waiting…") {
				t.Errorf("still waiting after the agent came: %q", h.channel.texts("u1"))
			}
			o := h.outcome(s.ID)
			if joined != o.FirstAgentAt.IsZero() {
				t.Errorf("first agent message at %v (joined only: %v)", o.FirstAgentAt, joined)
			}
			if !joined && o.FirstAgentAt.Sub(o.StartedAt) < 30*time.Second {
				t.Errorf("time to the first agent message %s", o.FirstAgentAt.Sub(o.StartedAt))
			}
		})
	}
}

// Without a waiting block nothing is ever due.
func TestWaitingOff(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")
	h.clock.Advance(24 * time.Hour)
	if n := h.waitDue(); n != 0 {
		t.Errorf("%d due without waiting", n)
	}
}

// Presence: an agent joining and the queue position reach the user as
// texts and livechat events, with the agent's name and avatar; agent
// typing reaches the channel and is never stored.
func TestPresence(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) {
		b.Messages.AgentJoined = "{agent} joined."
		b.Messages.QueuePosition = "You are number {position}."
		b.Messages.ExpectedWait = "About {wait}."
	}))
	s := h.startSession("u1")
	ann := sdk.Author{Type: sdk.AuthorAgent, Name: "Ann", AvatarURL: "https://cdn.example.com/ann.png"}
	h.push(sdk.Event{ID: "q1", Type: sdk.EventQueuePosition, SessionID: s.ID, QueuePosition: 3, ExpectedWait: 150 * time.Second},
		sdk.Event{ID: "j1", Type: sdk.EventAgentJoined, SessionID: s.ID, Message: sdk.Message{Author: ann}})
	h.push(sdk.Event{ID: "j1", Type: sdk.EventAgentJoined, SessionID: s.ID, Message: sdk.Message{Author: ann}}) // a replay
	h.push(sdk.Event{ID: "t1", Type: sdk.EventAgentTyping, SessionID: s.ID, Typing: true, Message: sdk.Message{Author: ann}})
	h.drain()
	h.waitFor("the typing indicator", func() bool { return len(h.channel.typing("u1")) == 1 })
	if diff := cmp.Diff([]string{"You are number 3. About 3 minutes.", "Ann joined."}, h.channel.texts("u1")); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"waiting", "agent_joined"}, h.channel.events("u1")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	var joined, waiting map[string]any
	var joinedBy *engine.Author
	for _, d := range h.channel.all() {
		for _, m := range d.Messages {
			var p engine.Payload
			_ = json.Unmarshal(m.Payload, &p)
			switch p.Content["event"] {
			case "agent_joined":
				joined, joinedBy = p.Content, m.Author
			case "waiting":
				waiting = p.Content
			}
		}
	}
	if joined["name"] != "Ann" || joined["avatar_url"] != ann.AvatarURL || joinedBy.AvatarURL != ann.AvatarURL || joinedBy.Type != "agent" {
		t.Errorf("agent_joined %v by %+v", joined, joinedBy)
	}
	if waiting["position"] != 3.0 || waiting["expected_wait"] != 150.0 {
		t.Errorf("waiting %v", waiting)
	}
	if typing := h.channel.typing("u1"); typing[0].duration != 5000 || typing[0].author.Name != "Ann" {
		t.Errorf("typing %+v", typing)
	}
	for _, d := range h.channel.all() {
		isTyping := strings.Contains(string(d.Messages[0].Payload), `"typing"`)
		if d.Ephemeral != isTyping {
			t.Errorf("delivery %s: ephemeral %v", d.Messages[0].Payload, d.Ephemeral)
		}
	}
	msgs, err := h.db.Messages(context.Background(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.Contains(string(m.Payload), `"typing"`) {
			t.Errorf("typing stored: %s", m.Payload)
		}
	}
}

func typingEvent(user string, ms int) engine.Event {
	return engine.Event{Client: engine.Client{UserID: user},
		Payload: engine.Payload{ContentType: engine.ContentTyping, Content: map[string]any{"duration": float64(ms)}}}
}

// User typing goes to a provider with user_typing, throttled to once a
// second unless it changes, never to the bot, never stored; a provider
// without the capability gets none.
func TestUserTyping(t *testing.T) {
	for _, capable := range []bool{true, false} {
		t.Run(map[bool]string{true: "user_typing", false: "without"}[capable], func(t *testing.T) {
			var opts []option
			if capable {
				opts = append(opts, withCapabilities(sdk.CapUserTyping))
			}
			h := newHarness(t, opts...)
			s := h.startSession("u1")
			for _, ms := range []int{3000, 3000, 0} {
				r := h.handle(typingEvent("u1", ms))
				if len(r.Messages) != 0 || r.Livechat != nil {
					t.Errorf("typing answered %+v", r)
				}
			}
			h.clock.Advance(2 * time.Second)
			h.handle(typingEvent("u1", 3000))
			var typing []bool
			for _, c := range h.provider.sendCalls() {
				if c.req.Message.ContentType == sdk.ContentTyping {
					d, _ := c.req.Message.Content["duration"].(int)
					typing = append(typing, d > 0)
					if c.req.Ref != "T-"+s.ID {
						t.Errorf("typing for ref %q", c.req.Ref)
					}
				}
			}
			want := []bool{true, false, true} // the repeat within a second is dropped
			if !capable {
				want = nil
			}
			if diff := cmp.Diff(want, typing); diff != "" {
				t.Errorf("typing sent (-want +got):\n%s", diff)
			}
			if len(h.bot.events()) != 0 {
				t.Errorf("the bot heard %d events", len(h.bot.events()))
			}
			msgs, _ := h.db.Messages(context.Background(), s.ID)
			for _, m := range msgs {
				if strings.Contains(string(m.Payload), "typing") {
					t.Errorf("typing stored: %s", m.Payload)
				}
			}
		})
	}
	// Without a session, typing is answered with nothing too.
	h := newHarness(t)
	if r := h.handle(typingEvent("u9", 1000)); len(r.Messages) != 0 || len(h.bot.events()) != 0 {
		t.Errorf("typing without a session: %+v, bot heard %d", r, len(h.bot.events()))
	}
	if _, err := h.eng.HandleEvent(context.Background(), "shop", engine.Event{Client: engine.Client{UserID: "u1"},
		Payload: engine.Payload{ContentType: "typing", Content: map[string]any{"duration": "soon"}}}); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("typing without a number: %v", err)
	}
}

func readEvent(user string) engine.Event {
	return engine.Event{Client: engine.Client{UserID: user}, Payload: engine.Payload{ContentType: engine.ContentRead}}
}

// A user's read receipt goes to a provider listing read, at most once
// every two seconds per session, never to the bot, never stored; a
// provider without the capability gets none; without a session it is
// answered with nothing.
func TestUserRead(t *testing.T) {
	for _, capable := range []bool{true, false} {
		t.Run(map[bool]string{true: "read", false: "without"}[capable], func(t *testing.T) {
			var opts []option
			if capable {
				opts = append(opts, withCapabilities(sdk.CapRead))
			}
			h := newHarness(t, opts...)
			s := h.startSession("u1")
			for range 3 {
				r := h.handle(readEvent("u1"))
				if len(r.Messages) != 0 || r.Livechat != nil {
					t.Errorf("a read receipt answered %+v", r)
				}
			}
			h.clock.Advance(time.Second)
			h.handle(readEvent("u1")) // within 2 s of the first: held back
			h.clock.Advance(time.Second)
			h.handle(readEvent("u1"))
			n := 0
			for _, c := range h.provider.sendCalls() {
				if c.req.Message.ContentType == sdk.ContentRead {
					n++
					if c.req.Ref != "T-"+s.ID || c.req.SessionID != s.ID || c.req.User.ID != "u1" {
						t.Errorf("read receipt %+v", c.req)
					}
				}
			}
			want := 2
			if !capable {
				want = 0
			}
			if n != want {
				t.Errorf("%d read receipts sent, want %d", n, want)
			}
			if len(h.bot.events()) != 0 {
				t.Errorf("the bot heard %d events", len(h.bot.events()))
			}
			msgs, _ := h.db.Messages(context.Background(), s.ID)
			for _, m := range msgs {
				if strings.Contains(string(m.Payload), `"read"`) {
					t.Errorf("read receipt stored: %s", m.Payload)
				}
			}
		})
	}
	h := newHarness(t, withCapabilities(sdk.CapRead))
	if r := h.handle(readEvent("u9")); len(r.Messages) != 0 || len(h.bot.events()) != 0 || len(h.provider.sendCalls()) != 0 {
		t.Errorf("read without a session: %+v, bot heard %d", r, len(h.bot.events()))
	}
}

func fileEvent(user string) engine.Event {
	return engine.Event{Client: engine.Client{UserID: user}, Payload: engine.Payload{ContentType: "image",
		Content: map[string]any{"url": "https://files.example.com/receipt.png", "name": "receipt.png", "mime": "image/png", "size": float64(2048)}}}
}

// Files: a user's image reaches a provider with attachments as an
// Attachment, and one without as a text with the link; an agent's
// attachment reaches the user as an image payload with its URL.
func TestFiles(t *testing.T) {
	for _, capable := range []bool{true, false} {
		t.Run(map[bool]string{true: "attachments", false: "link"}[capable], func(t *testing.T) {
			var opts []option
			if capable {
				opts = append(opts, withCapabilities(sdk.CapAttachments))
			}
			h := newHarness(t, opts...)
			s := h.startSession("u1")
			h.handle(fileEvent("u1"))
			h.drain()
			var got sdk.Message
			for _, c := range h.provider.sendCalls() {
				got = c.req.Message
			}
			if capable {
				want := &sdk.Attachment{URL: "https://files.example.com/receipt.png", Name: "receipt.png", MIME: "image/png", Size: 2048}
				if got.ContentType != "image" || !cmp.Equal(want, got.Attachment) {
					t.Errorf("sent %+v", got)
				}
			} else if got.ContentType != "text" || got.Content["text"] != "receipt.png: https://files.example.com/receipt.png" || got.Attachment != nil {
				t.Errorf("sent %+v", got)
			}
			h.push(sdk.Event{ID: "f1", Type: sdk.EventAgentMessage, SessionID: s.ID, Message: sdk.Message{
				Author:     sdk.Author{Type: sdk.AuthorAgent, Name: "Ann"},
				Attachment: &sdk.Attachment{URL: "https://cdn.example.com/label.pdf", Name: "label.pdf", MIME: "application/pdf"}}})
			h.drain()
			d := h.channel.all()
			last := d[len(d)-1].Messages[0]
			var p engine.Payload
			_ = json.Unmarshal(last.Payload, &p)
			if p.ContentType != "file" || p.Content["url"] != "https://cdn.example.com/label.pdf" || p.Content["name"] != "label.pdf" {
				t.Errorf("agent attachment delivered as %s", last.Payload)
			}
		})
	}
}

// Routing: the metadata keys are normalized into StartRequest.Routing,
// the raw metadata kept; a bad value is refused naming the key.
func TestRouting(t *testing.T) {
	h := newHarness(t)
	ev := payloadEvent("u1", "", engine.PayloadStart)
	ev.Metadata = map[string]any{"team": " Billing ", "priority": "HIGH", "tags": []any{"VIP", "refund", "vip", " "}, "language": "pt_BR", "email": "j@example.com"}
	h.handle(ev)
	h.drain()
	starts := h.provider.startsOf("u1")
	want := sdk.Routing{Team: "billing", Priority: "high", Tags: []string{"vip", "refund"}, Language: "pt-br"}
	if len(starts) != 1 || !cmp.Equal(want, starts[0].Routing) || starts[0].User.Metadata["team"] != " Billing " {
		t.Fatalf("starts %+v", starts)
	}
	ev = payloadEvent("u2", "", engine.PayloadStart)
	ev.Metadata = map[string]any{"tags": "a, b ,,A"}
	h.handle(ev)
	h.drain()
	if got := h.provider.startsOf("u2")[0].Routing; !cmp.Equal(sdk.Routing{Tags: []string{"a", "b"}}, got) {
		t.Errorf("comma-separated tags: %+v", got)
	}
	for _, tc := range []struct {
		md    map[string]any
		field string
	}{
		{map[string]any{"priority": "asap"}, "metadata.priority"},
		{map[string]any{"team": 3.0}, "metadata.team"},
		{map[string]any{"language": "French!"}, "metadata.language"},
		{map[string]any{"tags": []any{"a", 1.0}}, "metadata.tags[1]"},
		{map[string]any{"tags": map[string]any{}}, "metadata.tags"},
	} {
		ev := payloadEvent("u3", "", engine.PayloadStart)
		ev.Metadata = tc.md
		_, err := h.eng.HandleEvent(context.Background(), "shop", ev)
		var he *host.Error
		if !asHostError(err, &he) || he.Code != host.EINVALID || he.Field != tc.field {
			t.Errorf("%v: %v, want invalid %s", tc.md, err, tc.field)
		}
	}
}

func asHostError(err error, he **host.Error) bool {
	e, ok := err.(*host.Error)
	*he = e
	return ok
}

// alwaysClosed are hours that never open; mondays open 9 to 17 in Paris.
func closedHours(offline bool) *engine.Hours {
	paris, _ := time.LoadLocation("Europe/Paris")
	return &engine.Hours{Location: paris, Weekly: map[time.Weekday][]engine.Span{time.Monday: {{From: 540, To: 1020}}},
		Holidays: map[string]bool{}, OfflineTicket: offline}
}

// A START outside hours opens no live session: the user reads
// messages.closed and a session_ended event (closed_hours), the bot hears
// LIVECHAT_SESSION_CLOSED_HOURS and its answer follows; the attempt is an
// outcome. With offline_ticket, a ticket is opened with the transcript and
// the user reads messages.offline with the next opening.
func TestClosedHours(t *testing.T) {
	for _, offline := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "offline ticket"}[offline], func(t *testing.T) {
			hours := closedHours(offline)
			// Never open now: the harness's clock is real time.
			hours.Weekly = map[time.Weekday][]engine.Span{}
			for d := time.Sunday; d <= time.Saturday; d++ {
				if d != time.Now().In(hours.Location).Weekday() && d != time.Now().In(hours.Location).Add(24*time.Hour).Weekday() {
					hours.Weekly[d] = []engine.Span{{From: 540, To: 1020}}
				}
			}
			h := newHarness(t, withBot(func(b *engine.Bot) {
				b.Hours = hours
				b.Messages.Closed = "We are closed."
				b.Messages.Offline = "We will answer when we open ({opens})."
			}))
			h.handle(textEvent("u1", "", "hello"))
			r := h.handle(payloadEvent("u1", "", engine.PayloadStart))
			texts := replyTexts(r)
			if len(texts) != 2 || texts[1] != botAnswer(engine.PayloadClosedHours) || r.Livechat != nil {
				t.Fatalf("answer %q (%+v)", texts, r.Livechat)
			}
			if offline && (!strings.HasPrefix(texts[0], "We will answer when we open (") || strings.Contains(texts[0], "{opens}")) {
				t.Errorf("offline text %q", texts[0])
			}
			if !offline && texts[0] != "We are closed." {
				t.Errorf("closed text %q", texts[0])
			}
			h.drain()
			if _, err := h.db.OpenSession(context.Background(), "shop", "u1"); host.ErrorCode(err) != host.ENOTFOUND {
				t.Errorf("an open session outside hours: %v", err)
			}
			starts := h.provider.startsOf("u1")
			if offline {
				if len(starts) != 1 || len(starts[0].Transcript) == 0 {
					t.Fatalf("offline ticket starts %+v", starts)
				}
				s := h.onlySession("u1")
				if s.State != host.SessionEnded || s.EndReason != host.EndClosedHours || s.ProviderRef == "" {
					t.Errorf("offline session %s (%s) ref %q, want ended (closed_hours) with a ticket", s.State, s.EndReason, s.ProviderRef)
				}
			} else if len(starts) != 0 {
				t.Errorf("a ticket was opened: %+v", starts)
			}
			st, err := h.db.OutcomeStats(context.Background(), host.OutcomeFilter{Bot: "shop", From: h.clock.Now().Add(-time.Hour), To: h.clock.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if st.EndReasons[engine.ReasonClosedHours] != 1 {
				t.Errorf("outcomes %+v", st)
			}
			// The next message goes to the bot as usual.
			if got := replyTexts(h.handle(textEvent("u1", "", "ok"))); len(got) != 1 || got[0] != botAnswer("ok") {
				t.Errorf("after: %q", got)
			}
		})
	}
}

func TestHoursOpenAndNext(t *testing.T) {
	h := closedHours(false)
	h.Holidays["2026-12-07"] = true
	paris := h.Location
	at := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, paris) }
	for _, tc := range []struct {
		t    time.Time
		open bool
		next time.Time
	}{
		{at(2026, 11, 30, 9, 0), true, at(2026, 11, 30, 9, 0)},         // Monday, opening
		{at(2026, 11, 30, 16, 59), true, at(2026, 11, 30, 16, 59)},     // last minute
		{at(2026, 11, 30, 17, 0), false, at(2026, 12, 14, 9, 0)},       // closed; next Monday is a holiday
		{at(2026, 11, 29, 23, 0), false, at(2026, 11, 30, 9, 0)},       // Sunday night
		{at(2026, 11, 30, 10, 0).UTC(), true, at(2026, 11, 30, 10, 0)}, // any zone
		{at(2026, 11, 30, 8, 0).UTC(), false, at(2026, 11, 30, 9, 0)},
	} {
		if got := h.Open(tc.t); got != tc.open {
			t.Errorf("Open(%v) = %v", tc.t, got)
		}
		if got, ok := h.NextOpen(tc.t); !ok || !got.Equal(tc.next) {
			t.Errorf("NextOpen(%v) = %v, want %v", tc.t, got, tc.next)
		}
	}
}

// CSAT: after an end by the user, the rating question comes with one
// button per score; the answer is stored once, counted, sent to a provider
// with csat, answered with thanks, and never reaches the bot; another
// user's answer, a second answer or a bad score changes nothing.
func TestCSAT(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, withCapabilities(sdk.CapCSAT), withOptions(func(o *engine.Options) { o.Metrics = engine.NewMetrics(reg) }),
		withBot(func(b *engine.Bot) {
			b.CSAT = &engine.CSAT{Question: "How was it?", Scale: 3, Labels: []string{"Bad", "OK", "Good"}, Thanks: "Thanks!"}
		}))
	s := h.startSession("u1")
	h.push(agentMessage(s.ID, "m1", "Hello"))
	h.handle(payloadEvent("u1", "", engine.PayloadEnd))
	h.drain()
	var buttons []any
	for _, d := range h.channel.all() {
		for _, m := range d.Messages {
			var p engine.Payload
			_ = json.Unmarshal(m.Payload, &p)
			if p.ContentType == "question" && p.Content["title"] == "How was it?" {
				buttons = p.Content["buttons"].([]any)
			}
		}
	}
	if len(buttons) != 3 {
		t.Fatalf("csat buttons %v", buttons)
	}
	good := buttons[2].(map[string]any)["content"].(map[string]any)
	if good["title"] != "Good" || good["payload"] != engine.PayloadCSAT+"3:"+s.ID {
		t.Errorf("third button %v", good)
	}
	rate := func(user, payload string) engine.Reply {
		return h.handle(engine.Event{Client: engine.Client{UserID: user}, Payload: engine.Payload{ContentType: "payload", Content: map[string]any{"payload": payload}}})
	}
	if got := replyTexts(rate("u2", engine.PayloadCSAT+"1:"+s.ID)); len(got) != 0 {
		t.Errorf("another user's answer: %q", got)
	}
	if got := replyTexts(rate("u1", engine.PayloadCSAT+"9:"+s.ID)); len(got) != 0 {
		t.Errorf("a bad score: %q", got)
	}
	if got := replyTexts(rate("u1", good["payload"].(string))); len(got) != 1 || got[0] != "Thanks!" {
		t.Errorf("rating answered %q", got)
	}
	rate("u1", engine.PayloadCSAT+"1:"+s.ID) // a second answer
	h.drain()
	if o := h.outcome(s.ID); o.CSATScore != 3 || o.CSATScale != 3 {
		t.Errorf("outcome %+v", o)
	}
	var rated []sdk.Message
	for _, c := range h.provider.sendCalls() {
		if c.req.Message.ContentType == sdk.ContentRating {
			rated = append(rated, c.req.Message)
		}
	}
	if len(rated) != 1 || rated[0].Content["score"] != 3.0 || rated[0].Content["label"] != "Good" {
		t.Errorf("ratings sent %+v", rated)
	}
	for _, ev := range h.bot.events() {
		if strings.HasPrefix(ev.Payload.Value(), engine.PayloadCSAT) {
			t.Errorf("the bot heard %q", ev.Payload.Value())
		}
	}
	if _, err := h.db.OpenSession(context.Background(), "shop", "u1"); host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("the rating opened something: %v", err)
	}
	if got := sampleCount(t, reg, "livechat_csat_ratings_total"); got != 1 {
		t.Errorf("csat counted %v", got)
	}
	if got := sampleCount(t, reg, "livechat_first_agent_seconds"); got != 1 {
		t.Errorf("first agent messages observed %v", got)
	}
	if got := sampleCount(t, reg, "livechat_session_seconds"); got != 1 {
		t.Errorf("session lengths observed %v", got)
	}
}

// sampleCount sums a family's counters, or its histograms' sample counts.
func sampleCount(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				n += float64(h.GetSampleCount())
			} else {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// An old quit button after the session ended does nothing visible and the
// bot hears END once.
func TestStaleEnd(t *testing.T) {
	h := newHarness(t)
	h.startSession("u1")
	h.handle(payloadEvent("u1", "", engine.PayloadEnd))
	for range 2 {
		if r := h.handle(payloadEvent("u1", "", engine.PayloadEnd)); len(r.Messages) != 0 || r.Livechat != nil {
			t.Errorf("a stale END answered %s", wire(t, r))
		}
	}
	h.drain()
	if n := h.bot.count("u1", engine.PayloadEnd); n != 1 {
		t.Errorf("the bot heard END %d times", n)
	}
}
