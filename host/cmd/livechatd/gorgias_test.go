package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const (
	gorgiasEmail  = "ops@acme.com"
	gorgiasAPIKey = "sandbox-api-key"
	gorgiasToken  = "gorgias-hook-token"
)

// gorgiasWorld is livechatd as a process with the Gorgias plugin, the
// sandbox, the fake bot and channel, and the sandbox's HTTP integration
// pointed at livechatd exactly as `livechatd webhook-url` prints it.
type gorgiasWorld struct {
	t       *testing.T
	p       *proc
	sandbox *sandbox.Sandbox
	bot     *fakes.Bot
	channel *fakes.Channel
	env     *env
}

// freeAddr finds a loopback address to give livechatd before it starts, so
// that public_url, and the webhook URL printed from it, are known.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// worldOptions change the world's bot.
type worldOptions struct {
	timeout string // session_timeout (30m)
	botURL  string // the fake bot's by default
	webchat bool   // channel = "webchat" instead of the fake channel
	extra   string // more of the bot block, e.g. a reconcile block
}

func newGorgiasWorld(t *testing.T, o worldOptions) *gorgiasWorld {
	t.Helper()
	w := &gorgiasWorld{t: t, bot: fakes.NewBot(t), channel: fakes.NewChannel(t, "secret"), env: newEnv(t)}
	w.sandbox = sandbox.Start(t, sandbox.Options{
		Accounts: map[string]string{gorgiasEmail: gorgiasAPIKey},
		Backoff:  func(int) time.Duration { return 10 * time.Millisecond },
	})
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/gorgias/cmd/livechat-provider-gorgias"), w.env.pluginDir, "gorgias")
	if o.timeout == "" {
		o.timeout = "30m"
	}
	if o.botURL == "" {
		o.botURL = w.bot.URL()
	}
	channel := fmt.Sprintf("channel_url     = %q", w.channel.URL())
	if o.webchat {
		channel = `channel         = "webchat"`
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
  provider        = "gorgias"
  session_timeout = %q
  bot_url         = %q
  %s
  channel_secret  = "secret"
  webhook_token   = %q
  config {
    base_url = %q
    email    = %q
    api_key  = %q
  }
  %s
}
`, addr, addr, adminToken, o.timeout, o.botURL, channel, gorgiasToken, w.sandbox.BaseURL(), gorgiasEmail, gorgiasAPIKey, o.extra)
	if err := os.WriteFile(w.env.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// The operator's step: paste what webhook-url prints into Gorgias.
	out, errOut, code := run(t, "webhook-url", "-config", w.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	hook, ok := fakes.ParseWebhookURL(out)
	if !ok {
		t.Fatalf("webhook-url printed no complete webhook:\n%s", out)
	}
	seedQuery := "external_id={{ticket.external_id}}&ticket_id={{ticket.id}}&event_type={{event.type}}&event_id={{event.id}}&message_id={{event.object_id}}&text={{message.body_text}}&from_agent={{message.from_agent}}"
	if want := "http://" + addr + "/v1/livechat/gorgias/receive?token=" + gorgiasToken + "&" + seedQuery; hook.URL != want {
		t.Fatalf("webhook-url printed\n%s\nwant the seed's URL with the token:\n%s", hook.URL, want)
	}
	if hook.Method != "GET" || hook.Triggers != "ticket-message-created" {
		t.Fatalf("webhook-url: method %q triggers %q", hook.Method, hook.Triggers)
	}
	if _, err := w.sandbox.CreateIntegration(sandbox.Integration{Name: "livechat", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: hook.URL, Method: hook.Method, Triggers: map[string]bool{hook.Triggers: true},
	}}); err != nil {
		t.Fatal(err)
	}
	w.p = start(t, w.env)
	return w
}

func (w *gorgiasWorld) wait(what string, cond func() bool) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.sandbox.WaitUntil(ctx, cond); err != nil {
		w.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// ticket waits for the session's one ticket.
func (w *gorgiasWorld) ticket(session string) sandbox.Ticket {
	w.t.Helper()
	w.wait("the ticket", func() bool { return len(w.sandbox.TicketsByExternalID(session)) > 0 })
	ts := w.sandbox.TicketsByExternalID(session)
	if len(ts) != 1 {
		w.t.Fatalf("%d tickets for session %s, want exactly one", len(ts), session)
	}
	return ts[0]
}

// texts are the ticket's message bodies, in order.
func (w *gorgiasWorld) texts(ticket int64) []string {
	w.t.Helper()
	msgs, err := w.sandbox.Messages(ticket)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.BodyText))
	}
	return out
}

func (w *gorgiasWorld) idle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.sandbox.WaitIdle(ctx); err != nil {
		w.t.Fatal(err)
	}
}

func TestGorgiasSeedScenario(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{})
	p := w.p

	// The user talks with the bot.
	if r := p.say("u1", text("hi, where is my order?")); !strings.Contains(fmt.Sprint(r["messages"]), "bot: hi, where is my order?") {
		t.Fatalf("bot reply: %v", r)
	}
	// START, with the user's metadata, which the (signed) channel vouches
	// for: the ticket goes to the existing customer with that email.
	r := p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u1", "channel_id": "web"},
		"metadata":          map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"},
		"metadata_verified": true,
		"payload":           button("LIVECHAT_SESSION_START")})
	session := r["livechat"].(map[string]any)["session_id"].(string)
	ticket := w.ticket(session)
	if c := ticket.Customer; c == nil || c.Email != "jane@example.com" || !strings.Contains(string(c.Name), "Jane Doe") {
		t.Errorf("ticket customer = %+v", ticket.Customer)
	}
	cust, err := w.sandbox.CustomerByEmail("jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(cust.Data), "gold") {
		t.Errorf("customer data = %v, want the other metadata (plan gold)", cust.Data)
	}
	if first := w.texts(ticket.ID); len(first) == 0 || !strings.Contains(first[0], "hi, where is my order?") || !strings.Contains(first[0], "bot: hi, where is my order?") {
		t.Errorf("the ticket's first message should hold the transcript: %q", first)
	}

	// The user's messages become ticket messages; their echoes come back
	// through the integration and are not delivered to the user.
	p.say("u1", text("order 1234"))
	p.say("u1", text("it was due yesterday"))
	w.wait("the user's messages", func() bool {
		texts := w.texts(ticket.ID)
		return slices.Contains(texts, "order 1234") && slices.Contains(texts, "it was due yesterday")
	})
	texts := w.texts(ticket.ID)
	if slices.Index(texts, "order 1234") > slices.Index(texts, "it was due yesterday") {
		t.Errorf("ticket messages out of order: %q", texts)
	}
	w.idle() // every echo delivered to livechatd

	// An internal note stays internal; the agent's reply reaches the user.
	if _, err := w.sandbox.Note(ticket.ID, "Ann", "customer is VIP, be nice"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sandbox.Reply(ticket.ID, "Ann", "Hi Jane, I am looking into it."); err != nil {
		t.Fatal(err)
	}
	got := w.channel.WaitTexts(t, 1)
	d := w.channel.Deliveries()[0]
	if got[0] != "Hi Jane, I am looking into it." || d.Messages[0].Author.Type != "agent" || !strings.Contains(d.Messages[0].Author.Name, "Ann") {
		t.Errorf("first delivery = %q by %+v", got, d.Messages[0].Author)
	}

	// The sign-off macro: a question with the quit button.
	if _, err := w.sandbox.ApplyMacro(ticket.ID, "Ann", sandbox.MacroSignOff); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 2)
	signOff := w.channel.Deliveries()[1].Messages[0].Payload
	buttons, _ := signOff.Content["buttons"].([]any)
	if signOff.ContentType != "question" || signOff.Content["title"] != "Thanks for chatting with us today!" || len(buttons) != 1 ||
		!strings.Contains(fmt.Sprint(buttons[0]), "payload:LIVECHAT_SESSION_END") || !strings.Contains(fmt.Sprint(buttons[0]), "title:Quit livechat") {
		t.Errorf("sign-off = %+v", signOff)
	}
	w.idle()
	if got := w.channel.Texts(); len(got) != 2 {
		t.Errorf("the channel got %q: an echo or the internal note leaked", got)
	}

	// END: the ticket is closed and the bot hears LIVECHAT_SESSION_END.
	r = p.say("u1", button("LIVECHAT_SESSION_END"))
	if !strings.Contains(fmt.Sprint(r["messages"]), "Thanks for chatting with us today!") {
		t.Errorf("end reply: %v", r)
	}
	w.wait("the ticket closed", func() bool { tk, _ := w.sandbox.Ticket(ticket.ID); return tk.Status == "closed" })
	if diff := slices.Compare([]string{"hi, where is my order?", "LIVECHAT_SESSION_END"}, w.bot.Values()); diff != 0 {
		t.Errorf("the bot heard %q; nothing during the session, then END", w.bot.Values())
	}
	if got := w.sandbox.TicketsByExternalID(session); len(got) != 1 {
		t.Errorf("%d tickets", len(got))
	}
}

func TestGorgiasExpiryClosesWithNote(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{timeout: "2s"})
	r := w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u2"},
		"metadata": map[string]any{"email": "sam@example.com"}, "payload": button("LIVECHAT_SESSION_START")})
	session := r["livechat"].(map[string]any)["session_id"].(string)
	ticket := w.ticket(session)
	w.bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	w.wait("the ticket closed with a note", func() bool {
		tk, _ := w.sandbox.Ticket(ticket.ID)
		msgs, _ := w.sandbox.Messages(ticket.ID)
		for _, m := range msgs {
			if !m.Public && m.Channel == "internal-note" && tk.Status == "closed" {
				return true
			}
		}
		return false
	})
	if got := w.channel.WaitTexts(t, 1); got[0] != "Your livechat session expired." {
		t.Errorf("channel = %q", got)
	}
}

func TestGorgiasRateLimitsAndOutages(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{})
	// A storm of 429s, then a spell of 503s, while the user starts and talks.
	w.sandbox.InjectFault(http.StatusTooManyRequests, 6, time.Second)
	w.sandbox.InjectFault(http.StatusServiceUnavailable, 6, 0)
	r := w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": "u3"},
		"metadata": map[string]any{"email": "kim@example.com"}, "payload": button("LIVECHAT_SESSION_START")})
	session := r["livechat"].(map[string]any)["session_id"].(string)
	var want []string
	for i := 1; i <= 5; i++ {
		msg := "message " + strconv.Itoa(i)
		want = append(want, msg)
		w.p.say("u3", text(msg))
	}
	ticket := w.ticket(session)
	w.wait("every message", func() bool {
		n := 0
		for _, tx := range w.texts(ticket.ID) {
			if strings.HasPrefix(tx, "message ") {
				n++
			}
		}
		return n >= 5
	})
	var got []string
	for _, tx := range w.texts(ticket.ID) {
		if strings.HasPrefix(tx, "message ") {
			got = append(got, tx)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ticket messages = %q, want %q: each once, in order", got, want)
	}
	if n := len(w.sandbox.TicketsByExternalID(session)); n != 1 {
		t.Errorf("%d tickets, want one", n)
	}
	if dead := w.p.admin("/v1/deadletters")["dead_letters"].([]any); len(dead) != 0 {
		t.Errorf("dead letters: %v", dead)
	}
}

func TestGorgiasWebhookRefusals(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{})
	start := func(user string) (string, sandbox.Ticket) {
		r := w.p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": user},
			"metadata": map[string]any{"email": user + "@example.com"}, "payload": button("LIVECHAT_SESSION_START")})
		s := r["livechat"].(map[string]any)["session_id"].(string)
		return s, w.ticket(s)
	}
	s1, t1 := start("alice")
	_, t2 := start("bob")
	w.idle()
	reply, err := w.sandbox.Reply(t2.ID, "Ann", "for bob only")
	if err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 1) // bob got it through the integration
	get := func(q url.Values) int {
		resp, err := http.Get(w.p.url + "/v1/livechat/gorgias/receive?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	forged := func(token string, session string, ticket int64) url.Values {
		return url.Values{"token": {token}, "external_id": {session}, "ticket_id": {strconv.FormatInt(ticket, 10)},
			"event_type": {"ticket-message-created"}, "event_id": {"forged-1"}, "message_id": {strconv.FormatInt(reply.ID, 10)},
			"text": {"for bob only"}, "from_agent": {"True"}}
	}
	if code := get(forged("wrong-token", s1, t1.ID)); code != 401 {
		t.Errorf("wrong token: %d, want 401", code)
	}
	// Alice's session, with Bob's ticket: answered 200 (Gorgias would
	// disable an integration that keeps failing) and ignored.
	if code := get(forged(gorgiasToken, s1, t2.ID)); code != 200 {
		t.Errorf("another session's ticket: %d, want 200, ignored", code)
	}
	if got := w.channel.Texts(); len(got) != 1 {
		t.Errorf("refused or ignored webhooks delivered: %q", got)
	}
}
