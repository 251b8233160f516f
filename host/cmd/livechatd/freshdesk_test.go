package main_test

// The Freshdesk provider end to end: the real livechatd process, the
// Freshdesk plugin built on its own and dropped into plugin_dir, a fake
// Freshdesk whose automation rule is set up from what `livechatd
// webhook-url` prints, and the fake bot and channel.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/freshdesk/fake"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const (
	fdWebhookSecret = "fd-webhook-secret-0123456789abcdef"
	fdHookToken     = "fd-hook-token"
	fdAPIKey        = "fd-api-key"
)

// fdWorld is livechatd as a process with the Freshdesk plugin, a fake
// helpdesk, the fake bot and channel.
type fdWorld struct {
	t       *testing.T
	p       *proc
	fd      *fake.Server
	bot     *fakes.Bot
	channel *fakes.Channel
	env     *env
	hook    fdPrinted
}

// fdPrinted is what `livechatd webhook-url` printed for the rule.
type fdPrinted struct {
	URL, Method string
	Triggers    []string
	Headers     map[string]string
	Body        string
}

// fdParse reads webhook-url's output: URL, Method, Triggers, Header lines
// and the Body after "Body:".
func fdParse(t *testing.T, out string) fdPrinted {
	t.Helper()
	h := fdPrinted{Headers: map[string]string{}}
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "URL":
			h.URL = v
		case "Method":
			h.Method = v
		case "Triggers":
			h.Triggers = strings.Split(v, ", ")
		case "Header":
			name, val, _ := strings.Cut(v, ":")
			h.Headers[strings.TrimSpace(name)] = strings.TrimSpace(val)
		case "Body":
			if i+1 < len(lines) {
				h.Body = lines[i+1]
			}
		}
	}
	if h.URL == "" || h.Method == "" || len(h.Triggers) == 0 || h.Body == "" || len(h.Headers) == 0 {
		t.Fatalf("webhook-url printed no complete rule:\n%s", out)
	}
	return h
}

type fdOptions struct {
	timeout string // session_timeout (30m)
	extra   string // more of the bot block, e.g. a reconcile block
}

func newFDWorld(t *testing.T, o fdOptions) *fdWorld {
	t.Helper()
	w := &fdWorld{t: t, bot: fakes.NewBot(t), channel: fakes.NewChannel(t, "secret"), env: newEnv(t)}
	// Freshdesk retries a failed webhook 5, 30 and 60 minutes later: here
	// a moment later, so that a test sees the retries.
	w.fd = fake.New(t, fake.Options{APIKey: fdAPIKey, Retries: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond}})
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/freshdesk/cmd/livechat-provider-freshdesk"), w.env.pluginDir, "freshdesk")
	if o.timeout == "" {
		o.timeout = "30m"
	}
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`
listen      = %q
public_url  = "http://%s"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider        = "freshdesk"
  session_timeout = %q
  bot_url         = %q
  channel_url     = %q
  channel_secret  = "secret"
  webhook_token   = %q
  config {
    base_url       = %q
    api_key        = %q
    webhook_secret = %q
    tags           = ["shop"]
  }
  %s
}
`, addr, addr, adminToken, o.timeout, w.bot.URL(), w.channel.URL(), fdHookToken, w.fd.URL, fdAPIKey, fdWebhookSecret, o.extra)
	if err := os.WriteFile(w.env.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// The operator's step: create the rule webhook-url describes.
	out, errOut, code := run(t, "webhook-url", "-config", w.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	if strings.Contains(out, fdWebhookSecret) || strings.Contains(out, fdAPIKey) {
		t.Fatalf("webhook-url printed a secret:\n%s", out)
	}
	w.hook = fdParse(t, out)
	if want := "http://" + addr + "/v1/livechat/freshdesk/receive?token=" + fdHookToken; w.hook.URL != want {
		t.Fatalf("webhook-url printed %s, want %s", w.hook.URL, want)
	}
	w.setRule(fdWebhookSecret)
	w.p = start(t, w.env)
	return w
}

// setRule creates the printed rule, the custom header set to secret. The
// operator also ticked "Note is added": the user's own notes come back as
// echoes, and agents' private notes are webhooked too.
func (w *fdWorld) setRule(secret string) {
	headers := map[string]string{}
	for k := range w.hook.Headers {
		headers[k] = secret
	}
	w.fd.SetRule(&fake.Rule{Events: append(slices.Clone(w.hook.Triggers), "Note is added"), ByAgent: false, Tag: "livechat",
		Method: w.hook.Method, URL: w.hook.URL, Headers: headers, Body: w.hook.Body})
}

func (w *fdWorld) wait(what string, cond func() bool) {
	w.t.Helper()
	w.fd.Wait(w.t, what, cond)
}

// start opens a session for user and returns its id and ticket.
func (w *fdWorld) start(user string, metadata map[string]any, verified bool) (string, fake.Ticket) {
	w.t.Helper()
	w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": user, "channel_id": "web"},
		"metadata": metadata, "metadata_verified": verified, "payload": text("help")})
	r := w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": user, "channel_id": "web"},
		"metadata": metadata, "metadata_verified": verified, "payload": button("LIVECHAT_SESSION_START")})
	id := r["livechat"].(map[string]any)["session_id"].(string)
	var tk fake.Ticket
	w.wait("the ticket", func() bool {
		for _, t := range w.fd.Tickets() {
			if strings.Contains(t.DescriptionText, "Livechat session: "+id) {
				tk = t
				return true
			}
		}
		return false
	})
	return id, tk
}

func (w *fdWorld) say(user, msg string) {
	w.t.Helper()
	w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": user, "channel_id": "web"}, "payload": text(msg)})
}

// userNotes are the ticket's notes from the user, in order.
func (w *fdWorld) userNotes(ticket int64) []string {
	var out []string
	for _, c := range w.fd.Conversations(ticket) {
		if c.Source == fake.ConvNote && c.Incoming && !c.Private {
			out = append(out, c.BodyText)
		}
	}
	return out
}

func (w *fdWorld) session(id string) map[string]any { return w.p.admin("/v1/sessions/" + id) }

func (w *fdWorld) noDeadLetters() {
	w.t.Helper()
	if dl, _ := w.p.admin("/v1/deadletters")["dead_letters"].([]any); len(dl) != 0 {
		w.t.Errorf("dead letters: %v", dl)
	}
}

var fdJane = map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}

func TestFreshdeskSeedScenario(t *testing.T) {
	w := newFDWorld(t, fdOptions{})
	id, tk := w.start("u1", fdJane, true)

	// A Chat ticket from Jane's contact with the transcript and metadata.
	c, _ := w.fd.Contact(tk.RequesterID)
	if c.Email != "jane@example.com" || c.Name != "Jane Doe" {
		t.Errorf("requester = %+v", c)
	}
	if tk.Source != fake.SourceChat || tk.Status != fake.StatusOpen || tk.Subject != "Live chat with Jane Doe" ||
		!slices.Equal(tk.Tags, []string{"livechat", "shop"}) {
		t.Errorf("ticket = %+v", tk)
	}
	for _, want := range []string{"About the user\n", "email: jane@example.com", "plan: gold", "User: help",
		"Bot: Do you need some help from a human agent? [Yes, talk to a human!]"} {
		if !strings.Contains(tk.DescriptionText, want) {
			t.Errorf("description lacks %q:\n%s", want, tk.DescriptionText)
		}
	}

	// The user's messages become their public incoming notes; the rule
	// echoes them back, and they go nowhere.
	w.say("u1", "I need help with my order")
	w.wait("the user's note", func() bool { return len(w.userNotes(tk.ID)) == 1 })
	if n := w.fd.Conversations(tk.ID)[0]; n.UserID != tk.RequesterID || n.Private || !n.Incoming || n.BodyText != "I need help with my order" {
		t.Errorf("user note = %+v", n)
	}
	// An agent's private note stays in Freshdesk; the reply reaches the user.
	if _, err := w.fd.AgentNote(tk.ID, "Ann", "VIP customer, be nice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fd.AgentReply(tk.ID, "Ann", "Hi Jane, I'm Ann.\nLet me check your order."); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 1)
	w.say("u1", "Thanks!")
	w.wait("the thanks", func() bool { return len(w.userNotes(tk.ID)) == 2 })

	// The sign-off canned response: a question with the quit button.
	if _, err := w.fd.UseCannedResponse(tk.ID, "Ann", fake.SignOffTitle); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 2)
	w.fd.WaitIdle(t)
	ds := w.channel.Deliveries()
	if got := w.channel.Texts(); !slices.Equal(got, []string{"Hi Jane, I'm Ann.\nLet me check your order.", "Thanks for chatting with us! Anything else, just write again."}) {
		t.Fatalf("channel = %q; echoes and notes must not be delivered", got)
	}
	if a := ds[0].Messages[0].Author; a.Type != "agent" || a.Name != "Ann" {
		t.Errorf("reply author = %+v", a)
	}
	signOff := ds[1].Messages[0].Payload
	buttons, _ := signOff.Content["buttons"].([]any)
	if signOff.ContentType != "question" || len(buttons) != 1 ||
		fmt.Sprint(buttons[0]) != "map[content:map[payload:LIVECHAT_SESSION_END title:Quit livechat] content_type:button]" {
		t.Errorf("sign-off = %+v", signOff)
	}

	// The user quits: the bot hears it, the ticket is closed with a note.
	w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u1", "channel_id": "web"}, "payload": button("LIVECHAT_SESSION_END")})
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	w.wait("the ticket closed", func() bool { t2, _ := w.fd.Ticket(tk.ID); return t2.Status == fake.StatusClosed })
	convs := w.fd.Conversations(tk.ID)
	if last := convs[len(convs)-1]; !last.Private || last.BodyText != "The user ended the live chat." {
		t.Errorf("last conversation = %+v, want the private end note", last)
	}
	w.fd.WaitIdle(t) // the close's own webhook comes back too
	if s := w.session(id); s["state"] != "ended" || s["end_reason"] != "user" || s["provider_ref"] != strconv.FormatInt(tk.ID, 10) {
		t.Errorf("session = %v", s)
	}
	if got := w.bot.Values(); !slices.Equal(got, []string{"help", "LIVECHAT_SESSION_END"}) {
		t.Errorf("the bot heard %q; during the session it must hear nothing", got)
	}
	// Every webhook was answered 2xx: echoes and notes are taken, not refused.
	events := map[string]int{}
	for _, d := range w.fd.Deliveries() {
		if !d.Delivered() || len(d.Attempts) != 1 {
			t.Errorf("delivery %d (%s): %+v", d.ID, d.Event, d.Attempts)
		}
		events[d.Event]++
	}
	if events["Reply is sent"] != 2 || events["Note is added"] != 4 || events["Status is changed to Closed"] != 1 {
		t.Errorf("webhooks by event: %v", events)
	}
	w.noDeadLetters()
}

func TestFreshdeskUnverifiedUser(t *testing.T) {
	w := newFDWorld(t, fdOptions{})
	// Someone types Jane's email: the ticket is not filed under her.
	_, tk := w.start("u9", map[string]any{"email": "jane@example.com", "firstname": "Not Jane"}, false)
	c, _ := w.fd.Contact(tk.RequesterID)
	if c.Email == "jane@example.com" || !strings.HasSuffix(c.Email, "@livechat.invalid") {
		t.Errorf("requester = %+v: an unverified user must get a contact of their own", c)
	}
	if !strings.Contains(tk.DescriptionText, "unverified") || !strings.Contains(tk.DescriptionText, "email: jane@example.com") {
		t.Errorf("description = %q", tk.DescriptionText)
	}
}

func TestFreshdeskAgentCloses(t *testing.T) {
	w := newFDWorld(t, fdOptions{})
	id, tk := w.start("u1", fdJane, true)
	if err := w.fd.SetStatus(tk.ID, "Ann", fake.StatusResolved); err != nil {
		t.Fatal(err)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if s := w.session(id); s["state"] != "ended" || s["end_reason"] != "agent" {
		t.Errorf("session = %v", s)
	}
	// EndSession (reason agent) leaves the resolved ticket as the agent left it.
	if got, _ := w.fd.Ticket(tk.ID); got.Status != fake.StatusResolved {
		t.Errorf("ticket status %d, want resolved", got.Status)
	}
	if got := replyText(w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u1", "channel_id": "web"}, "payload": text("hello again")})); !slices.Equal(got, []string{"bot: hello again"}) {
		t.Errorf("after the agent resolved: %q", got)
	}
	w.noDeadLetters()
}

func TestFreshdeskExpiry(t *testing.T) {
	w := newFDWorld(t, fdOptions{timeout: "2s"})
	id, tk := w.start("u2", fdJane, true)
	w.bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	w.wait("the ticket closed with a note", func() bool {
		t2, _ := w.fd.Ticket(tk.ID)
		convs := w.fd.Conversations(tk.ID)
		return t2.Status == fake.StatusClosed && len(convs) > 0 && convs[len(convs)-1].Private &&
			strings.HasPrefix(convs[len(convs)-1].BodyText, "The live chat expired")
	})
	// The user hears of the expiry (after the host's own "ended" notice,
	// where the host sends one).
	got := w.channel.WaitTexts(t, 1)
	if !slices.Contains(got, "Your livechat session expired.") {
		got = w.channel.WaitTexts(t, 2)
	}
	if !slices.Contains(got, "Your livechat session expired.") {
		t.Errorf("channel = %q", got)
	}
	if s := w.session(id); s["state"] != "expired" {
		t.Errorf("session = %v", s)
	}
}

// Freshdesk signs nothing: a webhook without the bot's secret header, or
// with a wrong one, or with a wrong URL token, is refused 401 and delivers
// nothing, also when Freshdesk retries it.
func TestFreshdeskForgedWebhookRefused(t *testing.T) {
	w := newFDWorld(t, fdOptions{extra: `reconcile { enabled = false }`})
	_, tk := w.start("u1", fdJane, true)
	w.fd.AgentReply(tk.ID, "Ann", "one")
	w.channel.WaitTexts(t, 1)
	w.fd.WaitIdle(t)
	before := len(w.fd.Deliveries())

	w.setRule("not-the-secret-but-just-as-long")
	w.fd.AgentReply(tk.ID, "Ann", "forged")
	w.fd.WaitIdle(t)
	ds := w.fd.Deliveries()[before:]
	if len(ds) != 1 || len(ds[0].Attempts) != 4 {
		t.Fatalf("deliveries %+v, want one tried 4 times (Freshdesk's 3 retries)", ds)
	}
	for _, a := range ds[0].Attempts {
		if a.Status != http.StatusUnauthorized {
			t.Errorf("forged delivery answered %d, want 401", a.Status)
		}
	}
	// No secret header at all, and a wrong URL token with the right one.
	for _, tc := range []struct {
		url     string
		headers map[string]string
	}{
		{w.hook.URL, nil},
		{strings.Replace(w.hook.URL, fdHookToken, "wrong-token", 1), map[string]string{"X-Livechat-Secret": fdWebhookSecret}},
	} {
		req, _ := http.NewRequest(http.MethodPost, tc.url, bytes.NewReader(fmt.Appendf(nil, `{"ticket_id": %d, "status": "Open"}`, tk.ID)))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with %v: %d, want 401", tc.url, tc.headers, res.StatusCode)
		}
	}
	// The right secret again: the next webhook reads the ticket and
	// brings the reply the refused one was for, then the new one.
	w.setRule(fdWebhookSecret)
	w.fd.AgentReply(tk.ID, "Ann", "two")
	if got := w.channel.WaitTexts(t, 3); !slices.Equal(got, []string{"one", "forged", "two"}) {
		t.Errorf("channel = %q", got)
	}
}

// A storm of 429s while the user starts and talks: every message reaches
// the ticket once, in order, and nothing is dead-lettered.
func TestFreshdeskRateLimitStorm(t *testing.T) {
	w := newFDWorld(t, fdOptions{})
	w.fd.Fail(fake.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 12})
	r := w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u3", "channel_id": "web"},
		"metadata": fdJane, "metadata_verified": true, "payload": button("LIVECHAT_SESSION_START")})
	id := r["livechat"].(map[string]any)["session_id"].(string)
	var want []string
	for i := 1; i <= 5; i++ {
		msg := "message " + strconv.Itoa(i)
		want = append(want, msg)
		w.say("u3", msg)
	}
	var tk fake.Ticket
	w.wait("the ticket and every message", func() bool {
		ts := w.fd.Tickets()
		if len(ts) == 0 {
			return false
		}
		tk = ts[0]
		return len(w.userNotes(tk.ID)) >= 5
	})
	w.wait("the session active", func() bool { return w.session(id)["state"] == "active" })
	if got := w.userNotes(tk.ID); !slices.Equal(got, want) {
		t.Errorf("notes = %q, want %q: each once, in order", got, want)
	}
	if n := len(w.fd.Tickets()); n != 1 {
		t.Errorf("%d tickets, want one", n)
	}
	n429 := 0
	for _, c := range w.fd.Calls() {
		if c.Status == http.StatusTooManyRequests {
			n429++
		}
	}
	if n429 != 12 {
		t.Errorf("%d calls answered 429, want the storm's 12", n429)
	}
	t.Logf("429 storm: %d calls refused, %d calls in all, 1 ticket, %d notes", n429, len(w.fd.Calls()), len(w.userNotes(tk.ID)))
	w.noDeadLetters()
}

// Webhooks lost (over the rate limit, or while livechatd was down):
// reconciliation reads the ticket back, delivers the replies once each and
// in order, and the agent's close ends the session.
func TestFreshdeskDroppedWebhooksCaughtUp(t *testing.T) {
	w := newFDWorld(t, fdOptions{extra: `reconcile { interval = "1s" }`})
	id, tk := w.start("u1", fdJane, true)
	w.fd.AgentReply(tk.ID, "Ann", "one")
	w.channel.WaitTexts(t, 1)
	w.fd.DropWebhooks(true)
	for _, msg := range []string{"two", "three", "four"} {
		w.fd.AgentReply(tk.ID, "Ann", msg)
	}
	want := []string{"one", "two", "three", "four"}
	if got := w.channel.WaitTexts(t, 4); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q once each, in order", got, want)
	}
	// Delayed webhooks: reconciliation delivers the replies first; the
	// webhooks, released late, name the same conversation ids and deliver
	// nothing again.
	w.fd.DropWebhooks(false)
	w.fd.HoldWebhooks(true)
	w.fd.AgentReply(tk.ID, "Ann", "five")
	want = append(want, "five")
	if got := w.channel.WaitTexts(t, 5); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q", got, want)
	}
	w.fd.HoldWebhooks(false)
	w.fd.WaitIdle(t)
	w.fd.AgentReply(tk.ID, "Ann", "six") // once it is there, the late webhook's events would be before it
	want = append(want, "six")
	if got := w.channel.WaitTexts(t, 6); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q once each", got, want)
	}
	w.fd.DropWebhooks(true)
	if err := w.fd.SetStatus(tk.ID, "Ann", fake.StatusClosed); err != nil {
		t.Fatal(err)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if s := w.session(id); s["state"] != "ended" || s["end_reason"] != "agent" {
		t.Errorf("session = %v, want ended by the agent", s)
	}
	got := w.channel.Texts()
	if !slices.Equal(got[:6], want) || slices.ContainsFunc(got[6:], func(s string) bool { return slices.Contains(want, s) }) {
		t.Errorf("channel = %q, want the 6 replies once each", got)
	}
	dropped := 0
	for _, d := range w.fd.Deliveries() {
		if d.Dropped {
			dropped++
		}
	}
	if dropped != 4 {
		t.Errorf("%d webhooks dropped, want the 3 replies' and the close's", dropped)
	}
}
