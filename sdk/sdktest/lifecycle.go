package sdktest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

var transcript = []sdk.Message{
	{ContentType: "text", Content: map[string]any{"text": "My order 4711 never arrived"}, Author: sdk.Author{Type: sdk.AuthorUser}},
	{ContentType: "text", Content: map[string]any{"text": "Shall I connect you to a human agent?"}, Author: sdk.Author{Type: sdk.AuthorBot}},
}

// lifecycle drives sessions of bot "conformance" through the plugin.
func (r *suiteRun) lifecycle() {
	pf := r.s.Platform
	if pf == nil {
		for _, name := range []string{CheckStart, CheckStartContext, CheckSendOrder, CheckSendIdempotent, CheckAgentReply,
			CheckSameTextTwice, CheckNotesIgnored, CheckEchoesIgnored, CheckWebhookReplay, CheckWebhookToken, CheckReadSession,
			CheckError400, CheckError503, CheckConcurrency, CheckAgentClose, CheckEndCloses, CheckExpiryCloses, CheckRestartIdem} {
			r.run(name, "needs a Platform adapter to a fake of the platform (sdktest.Conformance in a Go test)", nil)
		}
		return
	}
	if !r.pointWebhooks("conformance") {
		return
	}
	var a Ticket
	r.run(CheckStart, "", func(c *check) {
		var err error
		a, err = r.start(c, "conformance", "conformance-a")
		if err != nil {
			return
		}
		ctx, cancel := r.callCtx()
		defer cancel()
		again, err := r.plugin().StartSession(ctx, r.startRequest("conformance", "conformance-a", "start-conformance-a"))
		if err != nil || again.Ref != a.Ref {
			c.fix("a retried StartSession (same IdempotencyKey) answered %q, %s, not the first ticket %q: find the ticket the first try opened (by the key or the session id) instead of opening another", again.Ref, errText(err), a.Ref)
		}
		r.received(c, a, "a start tried twice with the same IdempotencyKey", []string{"waiting message of conformance-a"})
	})
	if a.Ref == "" {
		r.blocked(CheckStart, CheckStartContext, CheckSendOrder, CheckSendIdempotent, CheckAgentReply, CheckSameTextTwice,
			CheckNotesIgnored, CheckEchoesIgnored, CheckWebhookReplay, CheckWebhookToken, CheckReadSession, CheckError400,
			CheckError503, CheckConcurrency, CheckAgentClose, CheckEndCloses, CheckExpiryCloses, CheckRestartIdem)
		return
	}
	cp, _ := pf.(ContextPlatform)
	r.run(CheckStartContext, missing(cp == nil, "the adapter is no ContextPlatform (TicketText)"), func(c *check) {
		text, err := cp.TicketText(a)
		if err != nil {
			c.fix("the adapter could not read the ticket: %v", err)
			return
		}
		for _, want := range []string{"My order 4711 never arrived", "Shall I connect you to a human agent?", "Conformance", "conformance@example.com", "conformance-gold"} {
			if !strings.Contains(text, want) {
				c.fix("the ticket does not show %q: an agent must see the bot's transcript and the user's metadata (name, email and the other keys) when the session starts", want)
			}
		}
	})
	r.run(CheckSendOrder, "", func(c *check) {
		var texts []string
		for i := 1; i <= 5; i++ {
			texts = append(texts, fmt.Sprintf("message %d of 5 (conformance-a)", i))
		}
		for _, t := range texts {
			if err := r.send(a, t, r.key()); err != nil {
				c.fix("SendMessage failed: %s: forward every user message to the ticket", errText(err))
				return
			}
		}
		r.received(c, a, "messages sent one after the other", texts)
	})
	r.run(CheckSendIdempotent, "", func(c *check) {
		r.sendTwice(c, a, "retried message (conformance-a)", nil)
	})
	r.run(CheckAgentReply, "", func(c *check) { r.reply(c, a, "Hello, this is the agent.") })
	r.run(CheckSameTextTwice, "", func(c *check) {
		before := r.host.replays(a.SessionID)
		want, ok := r.reply(c, a, "ok")
		if !ok {
			return
		}
		if _, err := pf.AgentReply(a, "ok"); err != nil {
			c.fix("the adapter could not reply: %v", err)
			return
		}
		_ = r.settle()
		r.wait(func() bool { return r.count(a, want) >= 2 || r.host.replays(a.SessionID) > before })
		if n := r.count(a, want); n != 2 {
			c.fix("the agent wrote %q twice and the host applied it %d time(s), dropping the rest as replays: make Event.ID the platform's message id, never derived from the text", want, n)
		}
	})
	np, _ := pf.(NotePlatform)
	r.run(CheckNotesIgnored, missing(np == nil, "the adapter is no NotePlatform (AgentNote)"), func(c *check) {
		note := "internal note the user must not see (conformance-a)"
		if err := np.AgentNote(a, note); err != nil {
			c.fix("the adapter could not write a note: %v", err)
			return
		}
		if _, ok := r.reply(c, a, "A reply after the note."); !ok {
			return
		}
		_ = r.settle()
		if r.count(a, note) > 0 {
			c.fix("an agent's internal note reached the user: leave private notes out of the events")
		}
	})
	r.run(CheckEchoesIgnored, "", func(c *check) {
		_ = r.settle()
		for _, e := range r.host.allEvents() {
			if e.Type == sdk.EventAgentMessage && slices.Contains(r.sent, e.Message.PlainText()) {
				c.fix("the user's own message %q came back as an agent message (event %q): ignore the platform's echo of what the plugin posted", e.Message.PlainText(), e.ID)
				return
			}
		}
	})
	webhooks := r.has(sdk.CapWebhook)
	r.run(CheckWebhookReplay, missing(!webhooks, "the plugin does not list the webhook capability"), func(c *check) {
		_ = r.settle()
		hooks := r.host.webhooks()
		if len(hooks) == 0 {
			c.fix("the platform sent no webhook for the agent's replies: list the webhooks to create in Info.Webhooks, and point them at the host in the adapter's PointWebhooks")
			return
		}
		before := len(r.host.allEvents())
		for _, h := range hooks {
			status, err := r.host.resend(h, nil)
			if err != nil || status >= 300 {
				c.fix("a webhook delivered again was answered %d (%v): answer a redelivery as the first delivery; the host drops its events by id", status, err)
				return
			}
		}
		if after := len(r.host.allEvents()); after != before {
			c.fix("%d webhooks delivered again added %d events: give an event the same Event.ID every time the platform delivers it (the platform's message or event id, not a time or a random id)", len(hooks), after-before)
		}
	})
	r.run(CheckWebhookToken, missing(!webhooks, "the plugin does not list the webhook capability"), func(c *check) {
		hooks := r.host.webhooks()
		if len(hooks) == 0 {
			c.fix("no webhook arrived to try with a wrong token: see %s", CheckWebhookReplay)
			return
		}
		before := len(r.host.allEvents())
		for _, tok := range []string{"wrong-token", ""} {
			if status, err := r.host.resend(hooks[len(hooks)-1], &tok); err != nil || status != http.StatusUnauthorized {
				c.fix("a webhook with token %q was answered %d (%v), not 401", tok, status, err)
			}
		}
		if after := len(r.host.allEvents()); after != before {
			c.fix("a webhook with a wrong token added events")
		}
	})
	r.run(CheckReadSession, missing(!r.has(sdk.CapReadSession), "the plugin does not implement sdk.SessionReader"), func(c *check) { r.readSession(c, a) })
	fp, _ := pf.(FaultPlatform)
	r.run(CheckError400, missing(fp == nil, "the adapter is no FaultPlatform (Fail, Heal)"), func(c *check) {
		err := r.failing(fp, a, http.StatusBadRequest, 0)
		if ok, _ := sdk.IsRetryable(err); err == nil || ok {
			c.fix("SendMessage answered by a 400 returned %s: a 400 cannot succeed on retry; return sdk.Permanent(err) so the host stops retrying", errText(err))
		}
	})
	r.run(CheckError503, missing(fp == nil, "the adapter is no FaultPlatform (Fail, Heal)"), func(c *check) {
		err := r.failing(fp, a, http.StatusServiceUnavailable, 7*time.Second)
		if ok, _ := sdk.IsRetryable(err); err == nil || !ok {
			c.fix("SendMessage answered by a 503 returned %s: the platform is down for now; return sdk.Retryable(err, retryAfter)", errText(err))
		} else if d := retryAfterOf(err); d < 7*time.Second {
			c.fix("a 503 with Retry-After: 7 gave RetryAfter %s: pass the platform's Retry-After to sdk.Retryable so the host waits that long", d)
		}
	})
	r.run(CheckConcurrency, "", r.manyBots)
	r.run(CheckAgentClose, "", func(c *check) {
		t, err := r.start(c, "conformance", "conformance-closed-by-agent")
		if err != nil {
			return
		}
		if err := pf.AgentClose(t); err != nil {
			c.fix("the adapter could not close the ticket: %v", err)
			return
		}
		if !r.wait(func() bool { return r.closedEvent(t) }) {
			c.fix("an agent closed the ticket and no session_closed event reached the host: turn the platform's close into sdk.EventSessionClosed naming the session%s", r.host.troubles())
			return
		}
		ctx, cancel := r.callCtx()
		defer cancel()
		if err := r.plugin().EndSession(ctx, sdk.EndRequest{Bot: t.Bot, SessionID: t.SessionID, Ref: t.Ref, User: r.user(t.SessionID), Reason: sdk.EndAgent, IdempotencyKey: r.key()}); err != nil {
			c.fix("EndSession (reason agent) after the agent closed the ticket failed: %s; the host calls it for every ended session, so closing a closed ticket must succeed", errText(err))
		}
	})
	closes := r.has(sdk.CapCloseTicket)
	for _, tc := range []struct {
		name   string
		reason sdk.EndReason
	}{{CheckEndCloses, sdk.EndUser}, {CheckExpiryCloses, sdk.EndExpired}} {
		r.run(tc.name, missing(!closes, "the plugin does not list the close_ticket capability"), func(c *check) {
			t, err := r.start(c, "conformance", "conformance-end-"+string(tc.reason))
			if err != nil {
				return
			}
			ctx, cancel := r.callCtx()
			defer cancel()
			key := r.key()
			for i := 0; i < 2; i++ {
				if err := r.plugin().EndSession(ctx, sdk.EndRequest{Bot: t.Bot, SessionID: t.SessionID, Ref: t.Ref, User: r.user(t.SessionID), Reason: tc.reason, IdempotencyKey: key}); err != nil {
					c.fix("EndSession (reason %s, try %d) failed: %s; a retried end must succeed too", tc.reason, i+1, errText(err))
					return
				}
			}
			got, err := pf.Received(t)
			if err != nil {
				c.fix("the adapter could not read the ticket: %v", err)
			} else if !got.Closed {
				c.fix("EndSession (reason %s) left the ticket open: the plugin lists close_ticket, so close it on the platform", tc.reason)
			}
		})
	}
	r.run(CheckRestartIdem, "", func(c *check) {
		text := "message retried after a plugin restart (conformance-a)"
		r.sendTwice(c, a, text, func() error {
			r.stdoutSoFar += r.current.Stdout()
			r.stderrSoFar += r.current.Stderr()
			r.current.Kill()
			if err := r.launch(); err != nil {
				return err
			}
			return r.configureAll()
		})
	})
}

func missing(cond bool, why string) string {
	if cond {
		return why
	}
	return ""
}

// blocked reports checks that could not run because first failed.
func (r *suiteRun) blocked(first string, names ...string) {
	for _, n := range names {
		if n == first {
			continue
		}
		r.run(n, "", func(c *check) { c.fix("could not run: no session, see %s", first) })
	}
}

func (r *suiteRun) pointWebhooks(bot string) bool {
	wp, ok := r.s.Platform.(WebhookPlatform)
	if !r.has(sdk.CapWebhook) {
		return true
	}
	if !ok {
		r.run(CheckStart, "", func(c *check) {
			c.fix("the plugin lists the webhook capability but the adapter is no WebhookPlatform: implement PointWebhooks and WaitDelivered")
		})
		return false
	}
	if err := wp.PointWebhooks(bot, r.host.webhookURL(bot)); err != nil {
		r.run(CheckStart, "", func(c *check) { c.fix("the adapter could not point webhooks at the host: %v", err) })
		return false
	}
	return true
}

// configureAll configures every bot used so far, as the host does after
// a plugin restart.
func (r *suiteRun) configureAll() error {
	ctx, cancel := r.callCtx()
	defer cancel()
	for _, bot := range r.bots {
		diags, err := r.plugin().Configure(ctx, bot, r.config(bot))
		if err == nil {
			err = diags.Err()
		}
		if err != nil {
			return fmt.Errorf("configure %s: %w", bot, err)
		}
	}
	return nil
}

func (r *suiteRun) startRequest(bot, session, key string) sdk.StartRequest {
	user := sdk.User{ID: "user-" + session, ChannelID: "conformance", Metadata: map[string]any{
		"firstname": "Conformance", "lastname": "Tester", "email": "conformance@example.com", "plan": "conformance-gold"}}
	r.mu.Lock()
	r.users[session] = user
	r.mu.Unlock()
	return sdk.StartRequest{Bot: bot, SessionID: session, User: user, Transcript: transcript,
		Messages:       []sdk.Message{{ID: "waiting-" + session, ContentType: "text", Content: map[string]any{"text": "waiting message of " + session}, Author: sdk.Author{Type: sdk.AuthorUser}}},
		IdempotencyKey: key}
}

// start opens a session and registers it with the host.
func (r *suiteRun) start(c *check, bot, session string) (Ticket, error) {
	ctx, cancel := r.callCtx()
	defer cancel()
	r.mu.Lock()
	r.sent = append(r.sent, "waiting message of "+session)
	r.mu.Unlock()
	// The host keeps a session before it asks for its ticket: events may
	// name it by SessionID while StartSession runs.
	r.host.addSession(bot, session, "")
	res, err := r.plugin().StartSession(ctx, r.startRequest(bot, session, "start-"+session))
	if err == nil && res.Ref == "" {
		err = fmt.Errorf("no Ref")
	}
	if err != nil {
		c.fix("StartSession failed: %s: open a ticket with the transcript, the metadata and the waiting messages, and return its reference", errText(err))
		return Ticket{}, err
	}
	r.host.setRef(session, res.Ref)
	return Ticket{Bot: bot, SessionID: session, Ref: res.Ref, h: r.host, s: r}, nil
}

func (r *suiteRun) send(t Ticket, text, key string) error {
	ctx, cancel := r.callCtx()
	defer cancel()
	r.mu.Lock()
	r.sent = append(r.sent, text)
	r.mu.Unlock()
	_, err := r.plugin().SendMessage(ctx, sdk.SendRequest{Bot: t.Bot, SessionID: t.SessionID, Ref: t.Ref, User: r.user(t.SessionID), Message: sdk.Text(text), IdempotencyKey: key})
	return err
}

// sendTwice sends text twice with one key, calling between (when not nil)
// in between, and checks that the platform has it once.
func (r *suiteRun) sendTwice(c *check, t Ticket, text string, between func() error) {
	key := r.key()
	if err := r.send(t, text, key); err != nil {
		c.fix("SendMessage failed: %s", errText(err))
		return
	}
	if between != nil {
		if err := between(); err != nil {
			c.fix("could not restart the plugin: %v", err)
			return
		}
	}
	if err := r.send(t, text, key); err != nil {
		c.fix("a retried SendMessage (same IdempotencyKey) failed: %s; a retry of a message already posted must succeed", errText(err))
		return
	}
	got, err := r.s.Platform.Received(t)
	if err != nil {
		c.fix("the adapter could not read the ticket: %v", err)
		return
	}
	if n := countOf(got.Messages, text); n != 1 {
		how := "remember the IdempotencyKey of what you posted, or find it on the platform before posting again"
		if between != nil {
			how = "keep the IdempotencyKey where a restart does not lose it: on the platform (an external id on the message, looked up before posting) or in durable storage"
		}
		c.fix("a message sent twice with the same IdempotencyKey%s reached the platform %d times: %s", map[bool]string{true: " across a plugin restart", false: ""}[between != nil], n, how)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// received checks that the platform holds want in order, each once.
func (r *suiteRun) received(c *check, t Ticket, what string, want []string) {
	got, err := r.s.Platform.Received(t)
	if err != nil {
		c.fix("the adapter could not read the ticket: %v", err)
		return
	}
	i := 0
	for _, m := range got.Messages {
		if i < len(want) && m == want[i] {
			i++
		}
	}
	if i < len(want) {
		c.fix("%s: the platform holds %q, which lacks %q in its place: post each user message, in the order the host sends them", what, got.Messages, want[i])
	}
	for _, w := range want {
		if n := countOf(got.Messages, w); n > 1 {
			c.fix("%s: %q reached the platform %d times: post each message once", what, w, n)
		}
	}
}

func (r *suiteRun) count(t Ticket, text string) int {
	n := 0
	for _, e := range r.host.events(t.SessionID) {
		if e.Type == sdk.EventAgentMessage && e.Message.PlainText() == text {
			n++
		}
	}
	return n
}

func (r *suiteRun) closedEvent(t Ticket) bool {
	for _, e := range r.host.events(t.SessionID) {
		if e.Type == sdk.EventSessionClosed {
			return true
		}
	}
	return false
}

// reply makes the agent answer and waits for the host to apply it.
func (r *suiteRun) reply(c *check, t Ticket, text string) (string, bool) {
	before := len(r.host.events(t.SessionID))
	want, err := r.s.Platform.AgentReply(t, text)
	if err != nil {
		c.fix("the adapter could not reply: %v", err)
		return "", false
	}
	arrived := func() bool {
		for _, e := range r.host.events(t.SessionID)[before:] {
			if e.Type == sdk.EventAgentMessage && e.Message.PlainText() == want {
				return true
			}
		}
		return false
	}
	if !r.wait(arrived) {
		c.fix("the agent replied %q and no agent_message with that text reached the host for session %s (ticket %s): turn the platform's agent message into sdk.EventAgentMessage naming the session by SessionID or Ref%s", want, t.SessionID, t.Ref, r.host.troubles())
		return "", false
	}
	for _, e := range r.host.events(t.SessionID) {
		if e.Message.PlainText() == want && e.Message.Author.Type != sdk.AuthorAgent {
			c.fix("the agent's reply %q has author type %q: set Message.Author.Type to agent", want, e.Message.Author.Type)
		}
	}
	return want, true
}

// failing sends a message while the platform answers status.
func (r *suiteRun) failing(fp FaultPlatform, t Ticket, status int, after time.Duration) error {
	fp.Fail(status, after)
	defer fp.Heal()
	ctx, cancel := r.callCtx()
	defer cancel()
	_, err := r.plugin().SendMessage(ctx, sdk.SendRequest{Bot: t.Bot, SessionID: t.SessionID, Ref: t.Ref, User: r.user(t.SessionID),
		Message: sdk.Text(fmt.Sprintf("message meeting a %d", status)), IdempotencyKey: r.key()})
	return err
}

func (r *suiteRun) readSession(c *check, a Ticket) {
	ctx, cancel := r.callCtx()
	defer cancel()
	read := func(cursor string) (sdk.ReadResult, bool) {
		res, err := r.plugin().ReadSession(ctx, sdk.ReadRequest{Bot: a.Bot, SessionID: a.SessionID, Ref: a.Ref, User: r.user(a.SessionID), Cursor: cursor})
		if err != nil {
			c.fix("ReadSession(cursor %q) failed: %s", cursor, errText(err))
			return res, false
		}
		return res, true
	}
	first, ok := read("")
	if !ok {
		return
	}
	ids := map[string]string{}
	for _, e := range first.Events {
		ids[e.ID] = e.Message.PlainText()
	}
	for _, e := range r.host.events(a.SessionID) {
		if e.Type != sdk.EventAgentMessage {
			continue
		}
		if text, ok := ids[e.ID]; !ok || text != e.Message.PlainText() {
			c.fix("the webhook gave the agent's %q id %q but ReadSession has no event with that id and text: give both the same Event.ID (share the code)", e.Message.PlainText(), e.ID)
			return
		}
	}
	if err := r.host.apply(a.Bot, first.Events, false); err != nil {
		c.fix("the read's events could not be applied: %v", err)
	}
	again, ok := read("")
	if !ok {
		return
	}
	if len(again.Events) != len(first.Events) {
		c.fix("ReadSession repeated with the same cursor gave %d events, then %d: a repeated read must give the same events", len(first.Events), len(again.Events))
	}
	if dp, ok := r.s.Platform.(DropPlatform); ok {
		dp.DropWebhooks(true)
		want, err := r.s.Platform.AgentReply(a, "A reply whose webhook was lost.")
		_ = r.settle()
		dp.DropWebhooks(false)
		if err != nil {
			c.fix("the adapter could not reply: %v", err)
			return
		}
		next, ok := read(first.Cursor)
		if !ok {
			return
		}
		found := false
		for _, e := range next.Events {
			found = found || e.Message.PlainText() == want
		}
		if !found {
			c.fix("an agent reply whose webhook was lost is not in ReadSession(cursor %q): return the agent messages written since the cursor", first.Cursor)
		}
		_ = r.host.apply(a.Bot, next.Events, false)
	}
}

// manyBots runs sessions of several bots at once.
func (r *suiteRun) manyBots(c *check) {
	var tickets []Ticket
	ctx, cancel := r.callCtx()
	defer cancel()
	for b := 1; b <= r.o.Bots; b++ {
		bot := fmt.Sprintf("conformance-b%d", b)
		r.bots = append(r.bots, bot)
		if diags, err := r.plugin().Configure(ctx, bot, r.config(bot)); err != nil || diags.HasErrors() {
			c.fix("Configure of a second bot failed (%v %v): one plugin process serves every bot; keep one client per bot", diags, err)
			return
		}
		if !r.pointWebhooks(bot) {
			return
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, bot := range r.bots[1:] {
		for s := 1; s <= r.o.Sessions; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t, err := r.start(c, bot, fmt.Sprintf("%s-s%d", bot, s))
				if err != nil {
					return
				}
				for i := 1; i <= 3; i++ {
					if err := r.send(t, fmt.Sprintf("message %d of %s", i, t.SessionID), r.key()); err != nil {
						mu.Lock()
						c.fix("SendMessage of session %s failed while other bots' sessions ran: %s", t.SessionID, errText(err))
						mu.Unlock()
						return
					}
				}
				mu.Lock()
				tickets = append(tickets, t)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if c.res.Status == Fail {
		return
	}
	wants := map[string]string{}
	for _, t := range tickets {
		r.received(c, t, "sessions of several bots at once", []string{"message 1 of " + t.SessionID, "message 2 of " + t.SessionID, "message 3 of " + t.SessionID})
		want, err := r.s.Platform.AgentReply(t, "Reply to "+t.SessionID)
		if err != nil {
			c.fix("the adapter could not reply: %v", err)
			return
		}
		wants[t.SessionID] = want
	}
	for _, t := range tickets {
		if !r.wait(func() bool { return r.count(t, wants[t.SessionID]) > 0 }) {
			c.fix("the agent's reply in session %s of bot %s did not reach that session: name the session (SessionID or Ref) of the bot the webhook or push is for%s", t.SessionID, t.Bot, r.host.troubles())
			return
		}
	}
}

// ending: stdout, Shutdown and secrets, over every process of the run.
func (r *suiteRun) ending() {
	r.run(CheckShutdown, "", func(c *check) {
		ctx, cancel := context.WithTimeout(r.ctx, r.o.ShutdownDeadline)
		defer cancel()
		start := time.Now()
		err := r.current.Shutdown(ctx)
		if err != nil {
			c.fix("Shutdown with a %s deadline returned after %s: %s; finish or drop in-flight work and return when its context is done", r.o.ShutdownDeadline, time.Since(start).Round(time.Millisecond), errText(err))
		}
	})
	r.current.Kill()
	r.stdoutSoFar += r.current.Stdout()
	r.stderrSoFar += r.current.Stderr()
	r.run(CheckStdout, "", func(c *check) {
		if out := r.stdoutSoFar; out != "" {
			if len(out) > 200 {
				out = out[:200] + "…"
			}
			c.fix("the plugin printed %q on stdout after start-up, which livechatd only logs as a warning (rate-limited): log with sdk.Logger() (stderr) instead of fmt.Print", out)
		}
	})
	r.run(CheckSecrets, "", func(c *check) {
		for _, bot := range append([]string{"conformance"}, r.bots...) {
			cfg := r.config(bot)
			for _, a := range r.current.Info.Schema.Attributes {
				v, ok := cfg[a.Name].(string)
				if a.Sensitive && ok && len(v) >= 4 && strings.Contains(r.stderrSoFar, v) {
					c.fix("the value of sensitive attribute %q appears in the plugin's logs: never log a secret or an error that carries it", a.Name)
					return
				}
			}
		}
	})
}
