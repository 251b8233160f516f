package main_test

// The Zendesk provider end to end: the real livechatd process, the Zendesk
// plugin built on its own and dropped into plugin_dir, a fake Zendesk
// account whose ticket-events webhook is pointed at livechatd exactly as
// `livechatd webhook-url` prints it, and the fake bot and channel.

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/zendesk/fake"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const zdHookToken = "zd-hook-token"

// zdClock is the fake Zendesk's clock: real time, shifted.
type zdClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *zdClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *zdClock) Shift(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = d
}

// zdWorld is livechatd running bot "shop" on the Zendesk plugin.
type zdWorld struct {
	t       *testing.T
	p       *proc
	env     *env
	zd      *fake.Server
	clock   *zdClock
	bot     *fakes.Bot
	channel *fakes.Channel
}

// zdOptions change the world's bot.
type zdOptions struct {
	timeout string // session_timeout (30m)
	extra   string // more of the bot block, e.g. a reconcile block
}

func newZDWorld(t *testing.T, o zdOptions) *zdWorld {
	t.Helper()
	w := &zdWorld{t: t, env: newEnv(t), clock: &zdClock{}, bot: fakes.NewBot(t), channel: fakes.NewChannel(t, "secret")}
	w.zd = fake.New(t, fake.Options{Now: w.clock.Now, RetryWait: func(time.Duration) time.Duration { return 20 * time.Millisecond }})
	w.zd.DefineUserField("plan")
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/zendesk/cmd/livechat-provider-zendesk"), w.env.pluginDir, "zendesk")
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
  provider        = "zendesk"
  session_timeout = %q
  bot_url         = %q
  channel_url     = %q
  channel_secret  = "secret"
  webhook_token   = %q
  config {
    base_url       = %q
    email          = %q
    api_token      = %q
    webhook_secret = %q
    plan           = "team"
    user_fields    = { plan = "plan" }
  }
  %s
}
`, addr, addr, adminToken, o.timeout, w.bot.URL(), w.channel.URL(), zdHookToken, w.zd.URL, w.zd.Email(), w.zd.Token(), w.zd.Secret(), o.extra)
	if err := os.WriteFile(w.env.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The operator's step: create the webhook with what webhook-url prints.
	out, errOut, code := run(t, "webhook-url", "-config", w.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	hook, ok := fakes.ParseWebhookURL(out)
	if !ok {
		t.Fatalf("webhook-url printed no complete webhook:\n%s", out)
	}
	if want := "http://" + addr + "/v1/livechat/zendesk/receive?token=" + zdHookToken; hook.URL != want || hook.Method != "POST" ||
		hook.Triggers != fake.EventCommentAdded+", "+fake.EventStatusChanged {
		t.Fatalf("webhook-url printed %+v; want POST %s on comment added and status changed:\n%s", hook, want, out)
	}
	w.zd.SetWebhookURL(hook.URL)
	w.p = start(t, w.env)
	return w
}

var zdJane = map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}

// event sends a channel event for user; the channel vouches for the
// metadata (its users are logged in).
func (w *zdWorld) event(user string, payload map[string]any) map[string]any {
	w.t.Helper()
	return w.p.post("/v1/bots/shop/events", map[string]any{
		"client": map[string]any{"user_id": user, "channel_id": "web"}, "metadata": zdJane, "metadata_verified": true, "payload": payload})
}

// open starts a session for user and returns its id and ticket.
func (w *zdWorld) open(user string) (string, fake.Ticket) {
	w.t.Helper()
	w.event(user, text("help"))
	r := w.event(user, button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	return id, w.zd.WaitTicket(w.t, "livechat:shop:"+id)
}

// userTexts are the requester's public comments on ticket, in order.
func (w *zdWorld) userTexts(ticket fake.Ticket) []string {
	var out []string
	for _, c := range w.zd.Comments(ticket.ID) {
		if c.AuthorID == ticket.RequesterID && c.Public {
			out = append(out, c.Body)
		}
	}
	return out
}

func (w *zdWorld) session(id string) map[string]any { return w.p.admin("/v1/sessions/" + id) }

func (w *zdWorld) noDeadLetters() {
	w.t.Helper()
	if dl, _ := w.p.admin("/v1/deadletters")["dead_letters"].([]any); len(dl) != 0 {
		w.t.Errorf("dead letters: %v", dl)
	}
}

func zdReplyTexts(r map[string]any) []string {
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

// The seed scenario: transcript and metadata on start, messages both ways,
// echoes and private notes ignored, the sign-off macro's quit button, the
// user ending the chat.
func TestZendeskHandoff(t *testing.T) {
	w := newZDWorld(t, zdOptions{})
	id, tk := w.open("u1")

	// A ticket on the API channel, on Jane's requester (found by her
	// vouched-for email, with her plan in a user field).
	if tk.Via.Channel != "api" || tk.Subject != "Live chat with Jane Doe" || !slices.Contains(tk.Tags, "livechat") {
		t.Errorf("ticket = %+v", tk)
	}
	u, _ := w.zd.User(tk.RequesterID)
	if u.ExternalID != "" || u.Email != "jane@example.com" || u.Name != "Jane Doe" || u.UserFields["plan"] != "gold" || u.Role != "end-user" {
		t.Errorf("requester = %+v", u)
	}
	first := w.zd.Comments(tk.ID)[0]
	for _, want := range []string{"User details:", "email: jane@example.com", "plan: gold",
		"User: help", "Bot: Do you need some help from a human agent? [Yes, talk to a human!]"} {
		if !strings.Contains(first.Body, want) {
			t.Errorf("first comment lacks %q:\n%s", want, first.Body)
		}
	}
	if first.Public {
		t.Error("the transcript comment is public: the requester would be emailed the bot's conversation")
	}

	// The user's messages become the requester's public comments; their
	// webhooks come back and go nowhere.
	w.event("u1", text("I need help with my order"))
	w.zd.WaitComment(t, tk.ID, "the user's message", func(c fake.Comment) bool {
		return c.Body == "I need help with my order" && c.AuthorID == tk.RequesterID && c.Public
	})
	// An agent's private note goes nowhere; a public reply reaches the user.
	if _, err := w.zd.PrivateNote(tk.ID, "Ann", "VIP customer, be nice"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "Hi Jane, I'm Ann. Let me check your order."); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 1)
	w.event("u1", text("Thanks!"))
	w.zd.WaitComment(t, tk.ID, "the user's thanks", func(c fake.Comment) bool { return c.Body == "Thanks!" && c.AuthorID == tk.RequesterID })

	// The sign-off macro: a question with the quit button.
	if _, err := w.zd.ApplyMacro(tk.ID, "Ann", fake.SignOffMacro); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 2)
	w.zd.WaitIdle(t)
	if got, want := w.channel.Texts(), []string{"Hi Jane, I'm Ann. Let me check your order.", "Thanks for chatting with us! Is there anything else we can do for you?"}; !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q: echoes and notes must not be delivered", got, want)
	}
	ds := w.channel.Deliveries()
	if a := ds[0].Messages[0].Author; a.Type != "agent" {
		t.Errorf("reply author = %+v", a)
	}
	signOff := ds[1].Messages[0].Payload
	buttons, _ := signOff.Content["buttons"].([]any)
	if signOff.ContentType != "question" || len(buttons) != 1 ||
		fmt.Sprint(buttons[0]) != "map[content:map[payload:LIVECHAT_SESSION_END title:Quit livechat] content_type:button]" {
		t.Errorf("sign-off = %+v", signOff)
	}

	// The user quits: the bot hears LIVECHAT_SESSION_END, the ticket is
	// solved with a private note saying why.
	if got := zdReplyTexts(w.event("u1", button("LIVECHAT_SESSION_END"))); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("reply to END = %q", got)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	w.zd.WaitStatus(t, tk.ID, "solved")
	w.zd.WaitComment(t, tk.ID, "the end note", func(c fake.Comment) bool { return !c.Public && c.Body == "The user ended the live chat." })
	w.zd.WaitIdle(t)

	if got := w.bot.Values(); !slices.Equal(got, []string{"help", "LIVECHAT_SESSION_END"}) {
		t.Errorf("the bot heard %q; during the session it must hear nothing", got)
	}
	if got := w.userTexts(tk); !slices.Equal(got, []string{"I need help with my order", "Thanks!"}) {
		t.Errorf("requester comments = %q", got)
	}
	if got := len(w.channel.Texts()); got != 2 {
		t.Errorf("channel = %q", w.channel.Texts())
	}
	sess := w.session(id)
	if sess["state"] != "ended" || sess["end_reason"] != "user" || sess["provider_ref"] != strconv.FormatInt(tk.ID, 10) {
		t.Errorf("session = %v", sess)
	}
	// Every webhook was answered 2xx, echoes and notes included, once.
	comments, statuses := 0, 0
	for _, d := range w.zd.Deliveries() {
		if !d.Delivered() || len(d.Attempts) != 1 {
			t.Errorf("delivery %s (%s) attempts %+v, want one 2xx", d.ID, d.Event, d.Attempts)
		}
		switch d.Event {
		case fake.EventCommentAdded:
			comments++
		case fake.EventStatusChanged:
			statuses++
		}
	}
	if n := len(w.zd.Comments(tk.ID)); comments != n || statuses == 0 {
		t.Errorf("%d comment deliveries for %d comments, %d status deliveries", comments, n, statuses)
	}
	w.noDeadLetters()
}

func TestZendeskAgentSolves(t *testing.T) {
	w := newZDWorld(t, zdOptions{})
	id, tk := w.open("u1")
	if err := w.zd.Solve(tk.ID, "Ann"); err != nil {
		t.Fatal(err)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if got := w.channel.WaitTexts(t, 1); !slices.Equal(got, []string{fakes.Reply("LIVECHAT_SESSION_END")}) {
		t.Errorf("channel = %q", got)
	}
	if sess := w.session(id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v", sess)
	}
	// EndSession (reason agent) found the ticket solved: no note, no update.
	w.zd.WaitIdle(t)
	if n := w.zd.Count(http.MethodPut, "/tickets/", 0); n != 0 {
		t.Errorf("%d ticket updates after the agent solved it", n)
	}
	// The user is back with the bot.
	if got := zdReplyTexts(w.event("u1", text("hello again"))); !slices.Equal(got, []string{"bot: hello again"}) {
		t.Errorf("after the agent solved: %q", got)
	}
	w.noDeadLetters()
}

func TestZendeskExpiry(t *testing.T) {
	w := newZDWorld(t, zdOptions{timeout: "2s"})
	id, tk := w.open("u2")
	w.bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	w.zd.WaitStatus(t, tk.ID, "solved")
	w.zd.WaitComment(t, tk.ID, "the expiry note", func(c fake.Comment) bool { return !c.Public && strings.HasPrefix(c.Body, "The live chat expired") })
	if got := w.channel.WaitTexts(t, 1); got[0] != "Your livechat session expired." {
		t.Errorf("channel = %q", got)
	}
	if sess := w.session(id); sess["state"] != "expired" {
		t.Errorf("session = %v", sess)
	}
}

// A forged signature, an unsigned delivery and a stale timestamp are
// refused with 401, which Zendesk does not retry; what is signed right
// gets through once, in order.
func TestZendeskForgedSignatureRefused(t *testing.T) {
	w := newZDWorld(t, zdOptions{extra: `reconcile { enabled = false }`})
	_, tk := w.open("u1")
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "one"); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 1)

	refused := func(what string, c fake.Comment) {
		t.Helper()
		w.zd.WaitIdle(t)
		for _, d := range w.zd.Deliveries() {
			if d.CommentID == c.ID {
				if len(d.Attempts) != 1 || d.Attempts[0].Status != http.StatusUnauthorized {
					t.Errorf("%s: attempts %+v, want one answered 401 and no retry", what, d.Attempts)
				}
				return
			}
		}
		t.Errorf("%s: no delivery of comment %d", what, c.ID)
	}
	w.zd.SetSigningSecret("not-the-secret")
	c, _ := w.zd.AgentReply(tk.ID, "Ann", "forged")
	refused("forged signature", c)
	w.zd.SetSigningSecret("")
	c, _ = w.zd.AgentReply(tk.ID, "Ann", "unsigned")
	refused("unsigned", c)
	w.zd.SetSigningSecret(w.zd.Secret())
	w.clock.Shift(-10 * time.Minute)
	c, _ = w.zd.AgentReply(tk.ID, "Ann", "signed ten minutes ago")
	refused("stale timestamp", c)
	w.clock.Shift(0)

	// A delivery of "one" sent again, freshly signed: answered 200, applied
	// once.
	for _, d := range w.zd.Deliveries() {
		if d.Event == fake.EventCommentAdded && strings.Contains(string(d.Body), `"body":"one"`) {
			if st := w.zd.Redeliver(d.ID); st != http.StatusOK {
				t.Errorf("redelivery answered %d, want 200", st)
			}
		}
	}
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "two"); err != nil {
		t.Fatal(err)
	}
	if got := w.channel.WaitTexts(t, 2); !slices.Equal(got, []string{"one", "two"}) {
		t.Fatalf("channel = %q; refused and redelivered webhooks must deliver nothing", got)
	}
	w.zd.WaitIdle(t)
	if got := w.channel.Texts(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("channel = %q", got)
	}
}

// A storm of 429s (the account's budget spent, Retry-After: 1) while the
// user starts and talks: every message reaches the ticket once, in order,
// on one ticket, and nothing is dead-lettered.
func TestZendesk429StormLosesNothing(t *testing.T) {
	w := newZDWorld(t, zdOptions{})
	const storm = 8
	w.zd.Fail(fake.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: storm})
	w.event("u3", text("help"))
	r := w.event("u3", button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	var want []string
	for i := 1; i <= 5; i++ {
		msg := "message " + strconv.Itoa(i)
		want = append(want, msg)
		w.event("u3", text(msg))
	}
	tk := w.zd.WaitTicket(t, "livechat:shop:"+id)
	w.zd.Wait(t, "every message on the ticket", func() bool { return len(w.userTexts(tk)) >= len(want) })
	if got := w.userTexts(tk); !slices.Equal(got, want) {
		t.Errorf("requester comments = %q, want %q: each once, in order", got, want)
	}
	n := 0
	for _, x := range w.zd.Tickets() {
		if x.ExternalID == "livechat:shop:"+id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d tickets for the session, want one", n)
	}
	if got := w.zd.Count("", "", http.StatusTooManyRequests); got != storm {
		t.Errorf("%d answers 429, want the storm's %d", got, storm)
	}
	if sess := w.session(id); sess["state"] != "active" {
		t.Errorf("session = %v", sess)
	}
	w.noDeadLetters()
}

// Webhooks lost (livechatd down, Zendesk's retries over) are caught up by
// reading the ticket's comments back: every reply once, in order, and the
// ticket solved ends the session.
func TestZendeskDroppedWebhooksCaughtUp(t *testing.T) {
	w := newZDWorld(t, zdOptions{extra: `reconcile { interval = "1s" }`})
	id, tk := w.open("u1")
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "one"); err != nil {
		t.Fatal(err)
	}
	w.channel.WaitTexts(t, 1)
	w.zd.DropWebhooks(true)
	if _, err := w.zd.PrivateNote(tk.ID, "Ann", "a note the user must not see"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"two", "three", "four"} {
		if _, err := w.zd.AgentReply(tk.ID, "Ann", s); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"one", "two", "three", "four"}
	if got := w.channel.WaitTexts(t, 4); !slices.Equal(got, want) {
		t.Fatalf("channel = %q, want %q once each, in order", got, want)
	}
	if err := w.zd.Solve(tk.ID, "Ann"); err != nil {
		t.Fatal(err)
	}
	w.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if sess := w.session(id); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v (%v), want ended by the agent", sess["state"], sess["end_reason"])
	}
	got := w.channel.Texts()
	if !slices.Equal(got[:4], want) || slices.ContainsFunc(got[4:], func(s string) bool { return slices.Contains(want, s) || strings.Contains(s, "note") }) {
		t.Errorf("channel = %q, want the 4 replies once each and no note", got)
	}
	dropped := 0
	for _, d := range w.zd.Deliveries() {
		if d.Dropped {
			dropped++
		}
	}
	if dropped < 5 {
		t.Errorf("%d deliveries dropped; the test meant to drop the note's, the 3 replies' and the solve's", dropped)
	}
}

func TestZendeskWebhookURL(t *testing.T) {
	w := newZDWorld(t, zdOptions{})
	out, errOut, code := run(t, "webhook-url", "-config", w.env.config, "-bot", "shop")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	for _, want := range []string{"Zendesk events", "Comment created", fake.EventCommentAdded, "Status changed", fake.EventStatusChanged, "signing secret", "webhook_secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook-url output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, w.zd.Secret()) || strings.Contains(out, w.zd.Token()) {
		t.Errorf("webhook-url output shows a secret:\n%s", out)
	}
}

// A webhook held back until after the read-back delivered its reply is
// dropped by livechatd: the read and the webhook give the reply the same
// id, so the user sees it once.
func TestZendeskLateWebhookAfterReadBack(t *testing.T) {
	w := newZDWorld(t, zdOptions{extra: `reconcile { interval = "1s" }`})
	_, tk := w.open("u1")
	w.zd.HoldWebhooks()
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "late but once"); err != nil {
		t.Fatal(err)
	}
	if got := w.channel.WaitTexts(t, 1); !slices.Equal(got, []string{"late but once"}) {
		t.Fatalf("channel = %q", got)
	}
	w.zd.Release()
	w.zd.WaitIdle(t)
	for _, d := range w.zd.Deliveries() {
		if !d.Delivered() {
			t.Errorf("delivery %s (%s) was refused: %+v", d.ID, d.Event, d.Attempts)
		}
	}
	// Anything the late webhook delivered would come before this.
	if _, err := w.zd.AgentReply(tk.ID, "Ann", "next"); err != nil {
		t.Fatal(err)
	}
	if got := w.channel.WaitTexts(t, 2); !slices.Equal(got, []string{"late but once", "next"}) {
		t.Errorf("channel = %q, want each reply once", got)
	}
}

// `livechatd validate` reports a wrong Zendesk config at the attribute's
// line, from the plugin's schema rules and from its own checks, and shows
// no secret.
func TestZendeskValidate(t *testing.T) {
	w := newZDWorld(t, zdOptions{})
	out, errOut, code := run(t, "validate", "-config", w.env.config)
	if code != 0 {
		t.Fatalf("validate good config: %d\n%s%s", code, out, errOut)
	}
	good := readFile(t, w.env.config)
	for _, tc := range []struct{ from, to, want string }{
		{`plan           = "team"`, `plan           = "gold"`, `attribute "plan": "gold" is not one of "team"`},
		{fmt.Sprintf("email          = %q", w.zd.Email()), `email          = "ops@acme.test/token"`, "email"},
	} {
		bad := strings.Replace(good, tc.from, tc.to, 1)
		if bad == good {
			t.Fatalf("%s: the config did not change", tc.to)
		}
		if err := os.WriteFile(w.env.config, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errOut, code = run(t, "validate", "-config", w.env.config)
		at := ""
		for i, l := range strings.Split(bad, "\n") {
			if strings.TrimSpace(l) == strings.TrimSpace(tc.to) {
				at = fmt.Sprintf("%s:%d:", w.env.config, i+1)
			}
		}
		if code != 1 || !strings.Contains(errOut, at) || !strings.Contains(errOut, tc.want) ||
			strings.Contains(errOut, w.zd.Token()) || strings.Contains(errOut, w.zd.Secret()) {
			t.Errorf("%s: exit %d\n%s\nwant a diagnostic at %s", tc.to, code, errOut, at)
		}
	}
}
