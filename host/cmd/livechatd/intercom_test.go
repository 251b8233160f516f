package main_test

// The Intercom provider end to end: the real livechatd process, the
// Intercom plugin built on its own and dropped into plugin_dir, a fake
// Intercom workspace whose app webhook posts to livechatd, and the fake
// bot and channel.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const icHookToken = "ic-hook-token"

// icSetup is livechatd running bot "shop" on the Intercom plugin.
type icSetup struct {
	*proc
	env     *env
	ic      *fake.Server
	bot     *fakes.Bot
	channel *fakes.Channel
}

// icOptions change the bot and the fake workspace.
type icOptions struct {
	timeout string       // session_timeout (30m)
	extra   string       // more of the bot block, e.g. a reconcile block
	fake    fake.Options // the workspace's
}

// icStart builds the Intercom plugin on its own, installs it in the plugin
// dir of the already built livechatd, starts a fake Intercom and
// livechatd, and points the app's webhook at livechatd.
func icStart(t *testing.T, o icOptions) *icSetup {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, pluginDir: filepath.Join(dir, "plugins"), config: filepath.Join(dir, "livechatd.hcl")}
	if err := os.Mkdir(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := builds.Binary(t, "github.com/livechatd/livechatd/plugins/intercom/cmd/livechat-provider-intercom")
	sdktest.Install(t, plugin, e.pluginDir, "intercom")
	if o.timeout == "" {
		o.timeout = "30m"
	}
	s := &icSetup{env: e, bot: fakes.NewBot(t), channel: fakes.NewChannel(t, channelSecret)}
	s.ic = fake.New(t, o.fake)
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider        = "intercom"
  session_timeout = %q
  bot_url         = %q
  channel_url     = %q
  channel_secret  = %q
  webhook_token   = %q
  config {
    base_url      = %q
    access_token  = %q
    client_secret = %q
    admin_id      = %q
    app_id        = %q
  }
  %s
}
`, adminToken, o.timeout, s.bot.URL(), s.channel.URL(), channelSecret, icHookToken, s.ic.URL, s.ic.Token(), s.ic.ClientSecret(),
		fake.DefaultAdminID, s.ic.AppID(), o.extra)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.proc = start(t, e)
	s.ic.SetWebhookURL(s.url + "/v1/livechat/intercom/receive?token=" + icHookToken)
	return s
}

var icJane = map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}

// icEvent sends a channel event for user u, its metadata vouched for by
// the site's signed channel.
func (s *icSetup) icEvent(u string, payload map[string]any) map[string]any {
	s.t.Helper()
	return s.post("/v1/bots/shop/events", map[string]any{
		"client": map[string]any{"user_id": u, "channel_id": "web"}, "metadata": icJane, "metadata_verified": true, "payload": payload})
}

// icOpen starts a session for u after a word with the bot, and returns its
// id and conversation.
func (s *icSetup) icOpen(t *testing.T, u string, n int) (string, fake.Conversation) {
	t.Helper()
	s.icEvent(u, text("help"))
	r := s.icEvent(u, button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	cv := s.ic.WaitConversation(t, n)
	if !strings.Contains(fake.Text(cv.Body), "livechat session "+id) {
		t.Fatalf("conversation %s is not session %s's: %q", cv.ID, id, cv.Body)
	}
	return id, cv
}

func TestIntercomHandoff(t *testing.T) {
	// The app subscribes to every conversation topic: the user's own
	// replies (and the conversation's creation) are echoed back.
	s := icStart(t, icOptions{fake: fake.Options{Topics: []string{"conversation"}}})
	id, cv := s.icOpen(t, "u1", 1)

	// The contact is the site's user (verified): its id, name and email.
	contacts := s.ic.Contacts()
	if len(contacts) != 1 || contacts[0].ID != cv.ContactID || contacts[0].ExternalID != "u1" || contacts[0].Name != "Jane Doe" ||
		contacts[0].Email != "jane@example.com" || contacts[0].Role != "user" {
		t.Errorf("contacts = %+v", contacts)
	}
	// The first message shows the details and the transcript.
	body := fake.Text(cv.Body)
	for _, want := range []string{"Live chat with Jane Doe", "Details (verified by the site):", "plan: gold", "email: jane@example.com",
		"Conversation with the bot before the handoff:", "User: help", "Bot: " + fakes.Reply("help")} {
		if !strings.Contains(body, want) {
			t.Errorf("the conversation's first message lacks %q:\n%s", want, body)
		}
	}

	// The user's messages become the contact's replies; their echoes go
	// nowhere.
	s.icEvent("u1", text("I need help with my order"))
	s.ic.WaitUserTexts(t, cv.ID, 1)
	// An agent's reply reaches the channel; a note does not.
	s.ic.AgentNote(cv.ID, "Ann", "VIP customer, be nice")
	s.ic.AgentReplyHTML(cv.ID, "Ann", "<p>Hi Jane, I'm Ann.</p><p>Let me check <b>your order</b> &amp; come back.</p>")
	s.channel.WaitTexts(t, 1)
	s.icEvent("u1", text("Thanks!"))
	if got := s.ic.WaitUserTexts(t, cv.ID, 2); !slices.Equal(got, []string{"I need help with my order", "Thanks!"}) {
		t.Errorf("user replies = %q", got)
	}

	// The sign-off macro: a question with the quit button.
	s.ic.UseMacro(cv.ID, "Ann", fake.SignOffMacro)
	s.channel.WaitTexts(t, 2)
	s.ic.WaitIdle(t)
	want := []string{"Hi Jane, I'm Ann.\nLet me check your order & come back.", "Thanks for chatting with us - we are here if you need anything else."}
	if got := s.channel.Texts(); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q: echoes and notes must not be delivered", got, want)
	}
	ds := s.channel.Deliveries()
	if a := ds[0].Messages[0].Author; a.Type != "agent" || a.Name != "Ann" {
		t.Errorf("reply author = %+v", a)
	}
	signOff := ds[1].Messages[0].Payload
	buttons, _ := signOff.Content["buttons"].([]any)
	if signOff.ContentType != "question" || len(buttons) != 1 ||
		fmt.Sprint(buttons[0]) != "map[content:map[payload:LIVECHAT_SESSION_END title:Quit livechat] content_type:button]" {
		t.Errorf("sign-off = %+v", signOff)
	}

	// The user quits: the bot hears LIVECHAT_SESSION_END, the
	// conversation is closed by the configured admin.
	r := s.icEvent("u1", button("LIVECHAT_SESSION_END"))
	if got := replyText(r); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("reply to END = %q", got)
	}
	s.ic.WaitState(t, cv.ID, "closed")
	s.ic.WaitIdle(t) // the close's own notification comes back too
	if got := s.bot.Values(); !slices.Equal(got, []string{"help", "LIVECHAT_SESSION_END"}) {
		t.Errorf("the bot heard %q; during the session it must hear nothing", got)
	}
	if got := len(s.channel.Texts()); got != 2 {
		t.Errorf("channel = %q", s.channel.Texts())
	}
	sess := s.admin("/v1/sessions/" + id)
	if sess["state"] != "ended" || sess["end_reason"] != "user" || sess["provider_ref"] != cv.ID {
		t.Errorf("session = %v", sess)
	}
	closed, _ := s.ic.Conversation(cv.ID)
	if last := closed.Parts[len(closed.Parts)-1]; last.PartType != "close" || last.Author.ID != fake.DefaultAdminID {
		t.Errorf("last part = %+v, want the close by admin %s", last, fake.DefaultAdminID)
	}
	// Every notification got a 2xx: echoes and notes are answered, not
	// refused; the user's echoes were sent. Two notes: the agent's and the
	// one the end leaves before the close.
	topics := map[string]int{}
	for _, d := range s.ic.Deliveries() {
		if !d.Delivered() {
			t.Errorf("notification %s (%s) was refused: %+v", d.ID, d.Topic, d.Attempts)
		}
		topics[d.Topic]++
	}
	if topics["conversation.user.replied"] != 2 || topics["conversation.admin.noted"] != 2 || topics["conversation.user.created"] != 1 {
		t.Errorf("notifications by topic: %v", topics)
	}
	if dl, _ := s.admin("/v1/deadletters")["dead_letters"].([]any); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}

func TestIntercomAgentCloses(t *testing.T) {
	s := icStart(t, icOptions{})
	id, cv := s.icOpen(t, "u1", 1)
	s.ic.Close(cv.ID, "Ann")
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if got := s.channel.WaitTexts(t, 1); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("channel = %q", got)
	}
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v", sess)
	}
	// The host's EndSession after the agent's close adds no second close.
	s.ic.WaitIdle(t)
	s.ic.Wait(t, "the end's read of the conversation", func() bool { return s.ic.Count(http.MethodGet, "/conversations/"+cv.ID, 200) >= 1 })
	closes := 0
	after, _ := s.ic.Conversation(cv.ID)
	for _, p := range after.Parts {
		if p.PartType == "close" {
			closes++
		}
	}
	if closes != 1 || s.ic.Count(http.MethodPost, "/parts", 0) != 0 {
		t.Errorf("%d close parts, %d close calls; want the agent's one and none", closes, s.ic.Count(http.MethodPost, "/parts", 0))
	}
	// The user is back with the bot.
	if got := replyText(s.icEvent("u1", text("hello again"))); !slices.Equal(got, []string{fakes.Reply("hello again")}) {
		t.Errorf("after the agent closed: %q", got)
	}
}

func TestIntercomExpiry(t *testing.T) {
	s := icStart(t, icOptions{timeout: "2s"})
	id, cv := s.icOpen(t, "u1", 1)
	s.bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	s.ic.WaitState(t, cv.ID, "closed")
	closed, _ := s.ic.Conversation(cv.ID)
	if n := len(closed.Parts); n != 2 || closed.Parts[0].PartType != "note" || !strings.Contains(fake.Text(closed.Parts[0].Body), "expired") ||
		closed.Parts[1].PartType != "close" {
		t.Errorf("parts = %+v, want a note saying it expired, then the close", closed.Parts)
	}
	if got := s.channel.WaitTexts(t, 1); got[0] != "Your livechat session expired." {
		t.Errorf("channel = %q", got)
	}
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "expired" {
		t.Errorf("session = %v", sess)
	}
}

// TestIntercomForgedSignature: a notification signed with another secret,
// an unsigned one and a wrong URL token are refused with 401 and deliver
// nothing; a captured notification replayed delivers nothing twice.
func TestIntercomForgedSignature(t *testing.T) {
	s := icStart(t, icOptions{extra: `reconcile { enabled = false }`})
	_, cv := s.icOpen(t, "u1", 1)
	one := s.ic.AgentReply(cv.ID, "Ann", "one")
	s.channel.WaitTexts(t, 1)

	refused := func(what string, p fake.Part) {
		t.Helper()
		s.ic.WaitIdle(t)
		d := s.ic.DeliveryOf(t, p.ID)
		if len(d.Attempts) != 1 || d.Attempts[0].Status != http.StatusUnauthorized {
			t.Errorf("%s: attempts %+v, want one answered 401 (Intercom does not retry it)", what, d.Attempts)
		}
	}
	s.ic.SetSigningSecret("not-the-client-secret")
	refused("forged signature", s.ic.AgentReply(cv.ID, "Ann", "forged"))
	s.ic.SetSigningSecret("")
	refused("unsigned", s.ic.AgentReply(cv.ID, "Ann", "unsigned"))
	s.ic.SetSigningSecret(s.ic.ClientSecret())

	d := s.ic.DeliveryOf(t, one.ID)
	if st := s.ic.Replay(t, d.ID); st != http.StatusOK {
		t.Errorf("replay answered %d, want 200", st)
	}
	// A good signature does not make up for a wrong URL token.
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/livechat/intercom/receive?token=wrong-token", bytes.NewReader(d.Body))
	req.Header.Set("X-Hub-Signature", fake.Sign(s.ic.ClientSecret(), d.Body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong URL token: %d, want 401", resp.StatusCode)
	}
	// Per-session order: once "two" is there, anything the refused or
	// replayed notifications had delivered would be there before it.
	s.ic.AgentReply(cv.ID, "Ann", "two")
	if got := s.channel.WaitTexts(t, 2); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("channel = %q; refused and replayed notifications must deliver nothing", got)
	}
}

// TestIntercomRateLimitStorm: a workspace allowing 4 calls a second while
// the user starts and writes 12 messages at once: Intercom answers 429
// with X-RateLimit-Reset and no Retry-After; every message arrives once,
// in order, in one conversation, and nothing is dead-lettered.
func TestIntercomRateLimitStorm(t *testing.T) {
	s := icStart(t, icOptions{fake: fake.Options{RateLimit: 4, Window: time.Second}})
	// Three more 429s (rate_limit_exceeded) on the replies, whatever the
	// window says.
	s.ic.Fail(fake.Fault{Method: http.MethodPost, Path: "/reply", Status: http.StatusTooManyRequests, Times: 3})
	r := s.icEvent("u3", button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	var want []string
	for i := 1; i <= 12; i++ {
		msg := fmt.Sprintf("message %d", i)
		want = append(want, msg)
		s.icEvent("u3", text(msg))
	}
	cv := s.ic.WaitConversation(t, 1)
	got := s.ic.WaitUserTexts(t, cv.ID, 12)
	if !slices.Equal(got, want) {
		t.Errorf("user replies = %q, want %q: each once, in order", got, want)
	}
	limited := s.ic.Count(http.MethodPost, "", http.StatusTooManyRequests) + s.ic.Count(http.MethodGet, "", http.StatusTooManyRequests)
	if limited < 3 {
		t.Errorf("%d calls answered 429, want at least the 3 injected", limited)
	}
	t.Logf("429 storm: %d calls answered 429, %d calls in all, 12 of 12 messages delivered once", limited, len(s.ic.Requests()))
	if n := len(s.ic.Conversations()); n != 1 {
		t.Errorf("%d conversations, want one", n)
	}
	if n := len(s.ic.Contacts()); n != 1 {
		t.Errorf("%d contacts, want one", n)
	}
	if dead := s.admin("/v1/deadletters")["dead_letters"].([]any); len(dead) != 0 {
		t.Errorf("dead letters: %v", dead)
	}
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "active" {
		t.Errorf("session = %v", sess)
	}
}

// TestIntercomDroppedWebhooksCaughtUp: notifications Intercom never
// delivers (dropped) reach the user by reading the conversation back, once
// each and in order, and an agent's close ends the session though its
// notification is lost too.
func TestIntercomDroppedWebhooksCaughtUp(t *testing.T) {
	s := icStart(t, icOptions{extra: `reconcile { interval = "1s" }`})
	id, cv := s.icOpen(t, "u1", 1)
	s.ic.AgentReply(cv.ID, "Ann", "one")
	s.channel.WaitTexts(t, 1)

	s.ic.DropWebhooks(true)
	for _, txt := range []string{"two", "three", "four"} {
		s.ic.AgentReply(cv.ID, "Ann", txt)
	}
	s.ic.AgentNote(cv.ID, "Ann", "a note, never for the user")
	want := []string{"one", "two", "three", "four"}
	if got := s.channel.WaitTexts(t, 4); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q once each, in order", got, want)
	}
	s.ic.Close(cv.ID, "Ann")
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v (%v), want ended by the agent", sess["state"], sess["end_reason"])
	}
	if got := s.channel.Texts(); !slices.Equal(got[:4], want) || slices.ContainsFunc(got[4:], func(t string) bool { return slices.Contains(want, t) }) {
		t.Errorf("channel = %q, want the 4 replies once each", got)
	}
	for _, d := range s.ic.Deliveries() {
		if d.Topic == "conversation.admin.replied" && len(d.Attempts) > 0 && d.Dropped {
			t.Errorf("dropped notification %s was sent", d.ID)
		}
	}
}

func TestIntercomWebhookURL(t *testing.T) {
	s := icStart(t, icOptions{})
	out, errOut, code := run(t, "webhook-url", "-config", s.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	for _, want := range []string{
		"Developer Hub",
		"/v1/livechat/intercom/receive?token=" + icHookToken,
		"POST",
		"conversation.admin.replied, conversation.admin.closed",
		"X-Hub-Signature",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook-url output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, s.ic.ClientSecret()) || strings.Contains(out, s.ic.Token()) {
		t.Errorf("webhook-url shows a secret:\n%s", out)
	}
}
