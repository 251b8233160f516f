package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/mux"

	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
)

// presence is the webchat of a bot "shop" served in the test, with a
// scripted events route in place of the engine: START opens a session,
// END ends it, every event is recorded. The test delivers to the webchat
// what the engine delivers (webchat.Channel.Deliver): the message kinds of
// issue 17 (typing, livechat events, attachments) before the engine sends
// them.
type presence struct {
	chat *webchat.Channel
	url  string

	mu     sync.Mutex
	events []engine.Event
	got    chan struct{} // a value per event
}

func newPresence(t *testing.T) *presence {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p := &presence{chat: webchat.New(db, map[string]string{"shop": "secret"}, nil), got: make(chan struct{}, 100)}
	r := mux.NewRouter()
	p.chat.Register(r)
	r.HandleFunc("/v1/bots/{bot}/events", p.event).Methods(http.MethodPost)
	r.HandleFunc("/avatar.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="20" fill="#c2185b"/></svg>`)
	})
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		p.chat.Shutdown()
		srv.CloseClientConnections()
		srv.Close()
	})
	p.url = srv.URL
	return p
}

// event is the events route as host/httpapi serves a webchat bot's, with
// the engine's answers scripted.
func (p *presence) event(w http.ResponseWriter, r *http.Request) {
	var ev engine.Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || !p.chat.Verify("shop", ev.Client.UserID, r.Header.Get("X-Livechat-User-Token")) {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	done := p.chat.BeginExchange("shop", ev.Client.UserID)
	defer done()
	reply := engine.Reply{}
	switch strings.TrimSpace(ev.Payload.Value()) {
	case engine.PayloadStart:
		reply.Livechat = &engine.Livechat{SessionID: "s1", State: "starting"}
		reply.Messages = []engine.OutMessage{{Payload: textPayload("Connecting you to an agent…"), Author: &engine.Author{Type: "system"}}}
	case engine.PayloadEnd:
		reply.Livechat = &engine.Livechat{SessionID: "s1", State: "ended"}
	}
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
	p.got <- struct{}{}
	if err := p.chat.RecordExchange(r.Context(), "shop", ev, reply); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// waitEvents waits until n events came, and returns them.
func (p *presence) waitEvents(t *testing.T, n int) []engine.Event {
	t.Helper()
	deadline := time.NewTimer(stepTimeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		evs := append([]engine.Event(nil), p.events...)
		p.mu.Unlock()
		if len(evs) >= n {
			return evs
		}
		select {
		case <-p.got:
		case <-deadline.C:
			t.Fatalf("%d events within %s, want %d: %v", len(evs), stepTimeout, n, evs)
		}
	}
}

func textPayload(s string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"content_type": "text", "content": map[string]any{"text": s}})
	return b
}

// deliver delivers messages to the user as the engine does.
func (p *presence) deliver(t *testing.T, user string, author *engine.Author, payloads ...string) {
	t.Helper()
	var msgs []engine.OutMessage
	for _, pl := range payloads {
		msgs = append(msgs, engine.OutMessage{Payload: json.RawMessage(pl), Author: author})
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := p.chat.Deliver(ctx, "shop", "", engine.Delivery{Client: engine.Client{UserID: user}, SessionID: "s1", Messages: msgs}); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserWebchatPresence: the waiting feedback, the agent joining, the
// agent's typing (shown, stopped, ended by their message), the agent's
// image and file, the agent leaving (the end marker, the banner gone, the
// unused "Quit livechat" disabled) — all as the engine delivers them — and
// the user's typing sent to the events API, throttled, with a stop.
func TestBrowserWebchatPresence(t *testing.T) {
	p := newPresence(t)
	ctx := browser(t)
	do(t, ctx, "open the chat",
		chromedp.Navigate(p.url+"/chat/shop"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user] #chat-input`)),
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	user := evalIn[string](t, ctx, "user", `document.body.dataset.user`)
	bot := &engine.Author{Type: "bot"}
	ann := &engine.Author{Type: "agent", Name: "Ann"}
	system := &engine.Author{Type: "system"}

	p.deliver(t, user, bot, `{"content_type":"question","content":{"title":"Do you need a human?","buttons":[{"content_type":"button","content":{"title":"Talk to a human","payload":"LIVECHAT_SESSION_START"}}]}}`)
	do(t, ctx, "ask for a human",
		chromedp.Click(`//button[@data-testid="button"][contains(., "Talk to a human")]`),
		chromedp.WaitVisible(chromedp.CSS(`#connecting-banner`)),
		chromedp.WaitVisible(message("system", "Connecting you to an agent")),
	)

	// Waiting: the position and the expected wait in the banner; the text
	// beside the event is a message like any.
	p.deliver(t, user, system, `{"content_type":"livechat","content":{"event":"waiting","position":3,"expected_wait":120}}`,
		string(textPayload("You are number 3 in the queue.")))
	do(t, ctx, "the waiting feedback",
		chromedp.WaitVisible(`//*[@data-testid="waiting-info"][contains(., "number 3 in the queue")][contains(., "about 2 minutes")]`),
		chromedp.WaitVisible(message("system", "You are number 3 in the queue.")),
	)
	shot(t, ctx, "presence-1-waiting")

	// The agent joins: the banner names them.
	p.deliver(t, user, ann, `{"content_type":"livechat","content":{"event":"agent_joined"}}`)
	p.deliver(t, user, system, string(textPayload("Ann joined the conversation.")))
	do(t, ctx, "the agent joined",
		chromedp.WaitVisible(`//*[@id="agent-banner"][contains(., "Ann")]`),
		chromedp.WaitNotVisible(chromedp.CSS(`#connecting-banner`)),
	)

	// Typing: shown with the agent's name, stopped by duration 0, and by
	// the agent's message.
	p.deliver(t, user, ann, `{"content_type":"typing","content":{"duration":20000}}`)
	do(t, ctx, "the agent types", chromedp.WaitVisible(`//*[@data-testid="typing-indicator"][contains(., "Ann is typing")]`))
	shot(t, ctx, "presence-2-typing")
	p.deliver(t, user, ann, `{"content_type":"typing","content":{"duration":0}}`)
	do(t, ctx, "the agent stops typing", chromedp.WaitNotVisible(chromedp.CSS(`#typing`)))
	p.deliver(t, user, ann, `{"content_type":"typing","content":{"duration":20000}}`)
	do(t, ctx, "the agent types again", chromedp.WaitVisible(chromedp.CSS(`#typing`)))
	p.deliver(t, user, ann, string(textPayload("Hi Jane, I am Ann.")))
	do(t, ctx, "the agent's message ends the typing",
		chromedp.WaitVisible(message("agent", "Hi Jane, I am Ann.")),
		chromedp.WaitNotVisible(chromedp.CSS(`#typing`)),
	)
	if n := evalIn[int](t, ctx, "typing messages", `document.querySelectorAll('li[data-testid="message"]').length`); n != 6 {
		t.Errorf("the chat shows %d messages, want 6 (typing is never a message): %q", n, chatTexts(t, ctx))
	}

	// The agent's attachments: an image, and a file as a download link.
	p.deliver(t, user, ann, fmt.Sprintf(`{"content_type":"image","content":{"url":%q,"name":"label.svg"}}`, p.url+"/avatar.png"),
		fmt.Sprintf(`{"content_type":"file","content":{"url":%q,"name":"invoice.pdf","size":48213}}`, p.url+"/files/invoice.pdf"))
	do(t, ctx, "the agent's image and file",
		chromedp.WaitVisible(`//li[@data-author="agent"]//img[@data-testid="image"]`),
		chromedp.WaitVisible(`//li[@data-author="agent"]//a[@data-testid="file-link"][contains(., "invoice.pdf")]`),
	)
	if href := evalIn[string](t, ctx, "file link", `document.querySelector('a[data-testid="file-link"]').href`); href != p.url+"/files/invoice.pdf" {
		t.Errorf("the file links to %q", href)
	}

	// The user's typing: one event while they type (throttled), a stop
	// when they send.
	before := len(p.waitEvents(t, 1))
	do(t, ctx, "the user types", chromedp.SendKeys(chromedp.CSS(`#chat-input`), "thank you so much"))
	typing := p.waitEvents(t, before+1)[before]
	if typing.Payload.ContentType != "typing" || typing.Payload.Content["duration"] != float64(5000) || typing.RequestID != "" {
		t.Errorf("the user's typing event: %+v", typing)
	}
	do(t, ctx, "send", chromedp.Click(chromedp.CSS(`#chat-send`)), chromedp.WaitVisible(message("user", "thank you so much")))
	evs := p.waitEvents(t, before+3)
	var kinds []string
	for _, e := range evs[before:] {
		kinds = append(kinds, fmt.Sprintf("%s %v", e.Payload.ContentType, e.Payload.Content["duration"]))
	}
	// The stop and the text are sent together: either may come first.
	rest := map[string]bool{kinds[1]: true, kinds[2]: true}
	if len(evs) != before+3 || !rest["typing 0"] || !rest["text <nil>"] || evs[len(evs)-1].Payload.Value() != "thank you so much" && evs[len(evs)-2].Payload.Value() != "thank you so much" {
		t.Errorf("after typing 17 characters and sending: %q, want one typing (5000), then a stop (0) and the text", kinds)
	}

	// The agent leaves: the marker, the banner gone, the sign-off's
	// "Quit livechat" (never clicked) disabled.
	p.deliver(t, user, ann, `{"content_type":"question","content":{"title":"Anything else?","buttons":[{"content_type":"button","content":{"title":"Quit livechat","payload":"LIVECHAT_SESSION_END"}}]}}`)
	do(t, ctx, "the sign-off", chromedp.WaitVisible(`//button[contains(., "Quit livechat")][not(@disabled)]`))
	p.deliver(t, user, system, `{"content_type":"livechat","content":{"event":"session_ended","reason":"agent"}}`,
		string(textPayload("Ann has left the conversation.")))
	ended := func(when string) {
		t.Helper()
		do(t, ctx, when+": the end is marked",
			chromedp.WaitVisible(`//li[@data-testid="ended-marker"][@data-reason="agent"][contains(., "The agent has left")]`),
			chromedp.WaitVisible(message("system", "Ann has left the conversation.")),
			chromedp.WaitVisible(`//button[contains(., "Quit livechat")][@disabled]`),
			chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
		)
		if n := len(textsOf(t, ctx, `//li[@data-testid="ended-marker"]`)); n != 1 {
			t.Errorf("%s: %d end markers, want 1", when, n)
		}
	}
	ended("at once")
	shot(t, ctx, "presence-3-ended")
	// A click on the old Quit sends nothing: the next message is the
	// next event (the page sends in order).
	do(t, ctx, "a click on the old Quit", chromedp.Click(`//button[contains(., "Quit livechat")]`))
	n := len(p.waitEvents(t, 0))
	do(t, ctx, "say something", chromedp.SendKeys(chromedp.CSS(`#chat-input`), "bye"), chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(message("user", "bye")))
	if evs := p.waitEvents(t, 0); len(evs) < n+1 || evs[len(evs)-1].Payload.Value() != "bye" {
		t.Errorf("after the click on the old Quit, the events are %v", evs[n:])
	}
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(message("user", "bye")))
	ended("after a reload")
	if typingShown := evalIn[bool](t, ctx, "typing", `!document.getElementById("typing").hidden`); typingShown {
		t.Error("after a reload the typing indicator is on")
	}
	for _, e := range p.waitEvents(t, 0) {
		if e.Payload.Value() == engine.PayloadEnd {
			t.Errorf("the disabled Quit livechat sent %+v", e)
		}
	}
}
