package main_test

// The Chatwoot provider end to end: the real livechatd process, the
// Chatwoot plugin built on its own and dropped into plugin_dir, a fake
// Chatwoot that webhooks livechatd, and the fake bot and channel.

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const (
	cwWebhookSecret = "cw-webhook-secret"
	cwHookToken     = "cw-hook-token"
)

// cwClock is the fake Chatwoot's clock: real time, shifted.
type cwClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *cwClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *cwClock) Shift(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = d
}

// chatwootSetup is livechatd running bot "shop" on the Chatwoot plugin.
type chatwootSetup struct {
	*proc
	env     *env
	cw      *fake.Server
	clock   *cwClock
	bot     *fakes.Bot
	channel *fakes.Channel
}

// setupChatwoot builds the Chatwoot plugin on its own, installs it in the
// plugin dir of the already built livechatd, starts a fake Chatwoot, and
// writes livechatd's config for bot "shop" on it.
// setupChatwoot writes the config of a Chatwoot bot; extra goes into its
// bot block (a reconcile block, say).
func setupChatwoot(t *testing.T, extra ...string) *chatwootSetup {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, pluginDir: filepath.Join(dir, "plugins"), config: filepath.Join(dir, "livechatd.hcl")}
	if err := os.Mkdir(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := builds.Binary(t, "github.com/livechatd/livechatd/plugins/chatwoot/cmd/livechat-provider-chatwoot")
	sdktest.Install(t, plugin, e.pluginDir, "chatwoot")

	s := &chatwootSetup{env: e, clock: &cwClock{}, bot: fakes.NewBot(t), channel: fakes.NewChannel(t, "secret")}
	s.cw = fake.New(t, fake.Options{Secret: cwWebhookSecret, Now: s.clock.Now})
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider        = "chatwoot"
  session_timeout = "30m"
  bot_url         = %q
  channel_url     = %q
  channel_secret  = "secret"
  webhook_token   = %q
  config {
    base_url         = %q
    account_id       = %d
    api_access_token = %q
    webhook_secret   = %q
  }
  %s
}
`, adminToken, s.bot.URL(), s.channel.URL(), cwHookToken, s.cw.URL, s.cw.AccountID(), s.cw.Token(), cwWebhookSecret, strings.Join(extra, "\n  "))
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// startChatwoot sets up and starts livechatd, then points the fake
// Chatwoot's webhook at it (its URL is known only now).
func startChatwoot(t *testing.T, extra ...string) *chatwootSetup {
	t.Helper()
	s := setupChatwoot(t, extra...)
	s.proc = start(t, s.env)
	s.cw.SetWebhookURL(s.webhookURL(cwHookToken))
	return s
}

func (s *chatwootSetup) webhookURL(token string) string {
	return s.url + "/v1/livechat/chatwoot/receive?token=" + token
}

// event sends a channel event for user with metadata.
func (s *chatwootSetup) event(user string, metadata map[string]any, payload map[string]any) map[string]any {
	s.t.Helper()
	// The channel is the site's own, signed, with its users logged in: it
	// vouches for their metadata.
	return s.post("/v1/bots/shop/events", map[string]any{
		"client": map[string]any{"user_id": user, "channel_id": "web"}, "metadata": metadata, "metadata_verified": true,
		"payload": payload})
}

var janeMetadata = map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}

// open starts a session for u1 and returns its id and conversation.
func (s *chatwootSetup) open(t *testing.T) (string, fake.Conversation) {
	t.Helper()
	s.event("u1", janeMetadata, text("help"))
	r := s.event("u1", janeMetadata, button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	cv := s.cw.WaitConversation(t, 1)
	if cv.CustomAttributes["livechat_session_id"] != id {
		t.Fatalf("conversation %+v is not session %s's", cv, id)
	}
	return id, cv
}

func replyText(r map[string]any) []string {
	var out []string
	msgs, _ := r["messages"].([]any)
	for _, m := range msgs {
		content, _ := m.(map[string]any)["payload"].(map[string]any)["content"].(map[string]any)
		for _, k := range []string{"text", "title"} {
			if s, ok := content[k].(string); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func TestChatwootHandoff(t *testing.T) {
	s := startChatwoot(t)

	// The user talks to the bot, then asks for a human.
	if got := replyText(s.event("u1", janeMetadata, text("help"))); !slices.Equal(got, []string{fakes.Reply("help")}) {
		t.Fatalf("bot reply = %q", got)
	}
	r := s.event("u1", janeMetadata, button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)

	// A conversation in the API inbox, on Jane's contact, with the transcript.
	cv := s.cw.WaitConversation(t, 1)
	if cv.CustomAttributes["livechat_session_id"] != id || cv.CustomAttributes["livechat_bot"] != "shop" || cv.Status != "open" {
		t.Errorf("conversation = %+v", cv)
	}
	inboxes := s.cw.Inboxes()
	if len(inboxes) != 1 || inboxes[0].Name != "livechat" || inboxes[0].ChannelType != "Channel::Api" || cv.InboxID != inboxes[0].ID {
		t.Errorf("inboxes = %+v; conversation in inbox %d", inboxes, cv.InboxID)
	}
	contacts := s.cw.Contacts()
	if len(contacts) != 1 || contacts[0].ID != cv.ContactID || contacts[0].Name != "Jane Doe" || contacts[0].Email != "jane@example.com" ||
		contacts[0].Identifier != "u1" || contacts[0].CustomAttributes["plan"] != "gold" {
		t.Errorf("contacts = %+v", contacts)
	}
	note := s.cw.WaitMessage(t, cv.ID, "the transcript note", func(m fake.Message) bool { return m.Private })
	wantNote := "Conversation with the bot before the handoff:\n\nUser: help\nBot: Do you need some help from a human agent? [Yes, talk to a human!]"
	if note.Content != wantNote || note.MessageType != "outgoing" {
		t.Errorf("transcript note = %+v\nwant %q", note, wantNote)
	}

	// The user's messages become incoming messages; their echoes come back
	// through the webhook and go nowhere.
	s.event("u1", janeMetadata, text("I need help with my order"))
	s.cw.WaitMessage(t, cv.ID, "the user's message", func(m fake.Message) bool {
		return m.MessageType == "incoming" && m.Content == "I need help with my order" && m.Sender.Type == "contact"
	})
	// An agent's reply reaches the channel; a private note does not.
	s.cw.PrivateNote(cv.ID, "Ann", "VIP customer, be nice")
	s.cw.AgentReply(cv.ID, "Ann", "Hi Jane, I'm Ann. Let me check your order.")
	s.channel.WaitTexts(t, 1)
	s.event("u1", janeMetadata, text("Thanks!"))
	s.cw.WaitMessage(t, cv.ID, "the user's thanks", func(m fake.Message) bool { return m.MessageType == "incoming" && m.Content == "Thanks!" })

	// The sign-off canned response: a question with the quit button.
	s.cw.UseCannedResponse(cv.ID, "Ann", fake.SignOffShortCode)
	s.channel.WaitTexts(t, 2)
	s.cw.WaitIdle(t)
	ds := s.channel.Deliveries()
	if got := s.channel.Texts(); !slices.Equal(got, []string{"Hi Jane, I'm Ann. Let me check your order.", "Let us know if we can do anything else for you - we are here to help."}) {
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

	// The user quits: the bot hears LIVECHAT_SESSION_END and answers, the
	// conversation is resolved.
	r = s.event("u1", janeMetadata, button("LIVECHAT_SESSION_END"))
	if got := replyText(r); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("reply to END = %q", got)
	}
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	s.cw.WaitStatus(t, cv.ID, "resolved")
	s.cw.WaitIdle(t) // the resolve's own webhook comes back too

	if got := s.bot.Values(); !slices.Equal(got, []string{"help", "LIVECHAT_SESSION_END"}) {
		t.Errorf("the bot heard %q; during the session it must hear nothing", got)
	}
	if got := len(s.channel.Texts()); got != 2 {
		t.Errorf("channel = %q", s.channel.Texts())
	}
	sess := s.admin("/v1/sessions/" + id)
	if sess["state"] != "ended" || sess["end_reason"] != "user" || sess["provider_ref"] != strconv.FormatInt(cv.ID, 10) {
		t.Errorf("session = %v", sess)
	}
	// Every webhook got a 2xx: echoes and notes are answered, not
	// refused. Chatwoot never webhooks activity messages.
	var events []string
	for _, d := range s.cw.Deliveries() {
		if !d.Delivered() {
			t.Errorf("delivery %s (%s) was refused: %+v", d.ID, d.Event, d.Attempts)
		}
		events = append(events, d.Event)
	}
	webhooked := 0
	for _, m := range s.cw.Messages(cv.ID) {
		if m.MessageType != "activity" {
			webhooked++
		}
	}
	if n := strings.Count(strings.Join(events, ","), "message_created"); n != webhooked {
		t.Errorf("%d message_created deliveries for %d messages that are not activity", n, webhooked)
	}
	if dl, _ := s.admin("/v1/deadletters")["dead_letters"].([]any); len(dl) != 0 {
		t.Errorf("dead letters: %v", dl)
	}
}

func TestChatwootAgentResolves(t *testing.T) {
	s := startChatwoot(t)
	id, cv := s.open(t)
	s.cw.Resolve(cv.ID, "Ann")
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	s.channel.WaitTexts(t, 1) // the bot's answer to the END
	if got := s.channel.Texts(); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("channel = %q", got)
	}
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v", sess)
	}
	// The user is back with the bot.
	if got := replyText(s.event("u1", nil, text("hello again"))); !slices.Equal(got, []string{"bot: hello again"}) {
		t.Errorf("after the agent resolved: %q", got)
	}
}

// TestChatwootWebhookAuthenticity: a forged signature, an unsigned
// delivery, a stale timestamp and a wrong URL token are refused with 401;
// a replayed or redelivered delivery is answered 200 and delivers nothing.
// Chatwoot never retries a webhook: the refused replies are lost to the
// webhook path (reconciliation, off here, catches them up: see
// TestChatwootRefusedWebhooksCaughtUp), and a redelivery someone forces,
// properly signed, gets each through once.
func TestChatwootWebhookAuthenticity(t *testing.T) {
	s := startChatwoot(t, `reconcile { enabled = false }`)
	_, cv := s.open(t)
	one := s.cw.AgentReply(cv.ID, "Ann", "one")
	s.channel.WaitTexts(t, 1)

	refused := func(what string, m fake.Message) {
		t.Helper()
		s.cw.WaitIdle(t)
		d := s.cw.DeliveryOf(t, m.ID)
		if len(d.Attempts) != 1 || d.Attempts[0].Status != http.StatusUnauthorized {
			t.Errorf("%s: attempts %+v, want one answered 401", what, d.Attempts)
		}
	}
	s.cw.SetSigningSecret("not-the-secret")
	refused("forged signature", s.cw.AgentReply(cv.ID, "Ann", "signed with another secret"))
	s.cw.SetSigningSecret("")
	refused("unsigned", s.cw.AgentReply(cv.ID, "Ann", "unsigned"))
	s.cw.SetSigningSecret(cwWebhookSecret)
	s.clock.Shift(-10 * time.Minute)
	refused("stale timestamp", s.cw.AgentReply(cv.ID, "Ann", "signed ten minutes ago"))
	s.clock.Shift(0)

	// A captured delivery sent again, as is and freshly signed.
	d := s.cw.DeliveryOf(t, one.ID)
	if st := s.cw.Replay(t, d.ID); st != http.StatusOK {
		t.Errorf("replay answered %d, want 200", st)
	}
	if st := s.cw.Redeliver(t, d.ID); st != http.StatusOK {
		t.Errorf("redelivery answered %d, want 200", st)
	}
	// A good signature does not make up for a wrong URL token.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, s.webhookURL("wrong-token"), bytes.NewReader(d.Body))
	req.Header.Set("X-Chatwoot-Timestamp", ts)
	req.Header.Set("X-Chatwoot-Signature", "sha256="+fake.Sign(cwWebhookSecret, ts, d.Body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong URL token: %d, want 401", resp.StatusCode)
	}

	// Per-session order: once "two" is there, anything the refused or
	// replayed deliveries had delivered would be there before it.
	s.cw.AgentReply(cv.ID, "Ann", "two")
	if got := s.channel.WaitTexts(t, 2); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("channel = %q; refused and replayed deliveries must deliver nothing", got)
	}

	// Redelivered (by hand: Chatwoot itself never does) and signed right,
	// each gets through once.
	s.cw.Flush(t)
	want := []string{"one", "two", "signed with another secret", "unsigned", "signed ten minutes ago"}
	if got := s.channel.WaitTexts(t, 5); !slices.Equal(got, want) {
		t.Errorf("channel = %q, want %q", got, want)
	}
	for _, d := range s.cw.Deliveries() {
		if d.Event == "message_created" && !d.Delivered() {
			t.Errorf("delivery %s still refused: %+v", d.ID, d.Attempts)
		}
	}
	s.cw.AgentReply(cv.ID, "Ann", "three")
	if got := s.channel.WaitTexts(t, 6); !slices.Equal(got, append(want, "three")) {
		t.Errorf("channel = %q", got)
	}
}

func TestChatwootWebhookURL(t *testing.T) {
	s := setupChatwoot(t)
	out, errOut, code := run(t, "webhook-url", "-config", s.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	for _, want := range []string{
		"Settings › Integrations › Webhooks",
		"/v1/livechat/chatwoot/receive?token=" + cwHookToken,
		"POST",
		"message_created, conversation_status_changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook-url output lacks %q:\n%s", want, out)
		}
	}
}

// Chatwoot sends a webhook once and never again: replies whose webhooks
// were refused or dropped reach the user by reading the conversation back,
// once each and in order, and an agent resolving ends the session though
// that webhook is lost too.
func TestChatwootRefusedWebhooksCaughtUp(t *testing.T) {
	s := startChatwoot(t, `reconcile { interval = "1s" }`)
	id, cv := s.open(t)
	s.cw.AgentReply(cv.ID, "Ann", "one")
	s.channel.WaitTexts(t, 1)

	s.cw.SetSigningSecret("not-the-secret") // refused with 401, never retried
	s.cw.AgentReply(cv.ID, "Ann", "two")
	s.cw.SetSigningSecret(cwWebhookSecret)
	s.cw.DropWebhooks(fake.WebhookRule{}) // lost on the way
	for _, text := range []string{"three", "four", "five"} {
		s.cw.AgentReply(cv.ID, "Ann", text)
	}
	want := []string{"one", "two", "three", "four", "five"}
	if got := s.channel.WaitTexts(t, 5); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q once each, in order", got, want)
	}
	s.cw.Resolve(cv.ID, "Ann")
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if sess := s.admin("/v1/sessions/" + id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v (%v), want ended by the agent", sess["state"], sess["end_reason"])
	}
	// After the replies, only the bot's answer to the END.
	if got := s.channel.Texts(); !slices.Equal(got[:5], want) || slices.ContainsFunc(got[5:], func(t string) bool { return slices.Contains(want, t) }) {
		t.Errorf("channel = %q, want the 5 replies once each", got)
	}
}
