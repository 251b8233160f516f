package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// longEmail is a customer address longer than the desk's customer column.
const longEmail = "jane.doe.7df131efc4ac74639105.7df131efc4ac@livechat.invalid"

// geometry evaluates a JS expression about the page's layout.
func geometry[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestBrowserDeskFirstSight checks the desk as a newcomer first sees it:
// with no ticket selected the placeholder has the page (the hidden ticket
// view takes no room), it has an icon, a long customer email is not
// clipped, and on a phone's width nothing runs off the screen.
func TestBrowserDeskFirstSight(t *testing.T) {
	sb := sandbox.Start(t, sandbox.Options{Accounts: map[string]string{sandbox.DefaultEmail: sandbox.DefaultAPIKey}})
	ctx := browser(t)

	do(t, ctx, "open the empty desk",
		chromedp.Navigate(sb.DeskURL()),
		chromedp.WaitVisible(chromedp.CSS(`#no-tickets`)),
	)
	if d := geometry[string](t, ctx, "ticket view", `getComputedStyle(document.getElementById("ticket-view")).display`); d != "none" {
		t.Errorf("with no ticket selected, the hidden ticket view is displayed (%s) and squeezes the placeholder", d)
	}
	checkIcon(t, ctx, "the desk")
	if share := geometry[float64](t, ctx, "placeholder", `document.getElementById("placeholder").getBoundingClientRect().width / document.querySelector("main").getBoundingClientRect().width`); share < 0.5 {
		t.Errorf("the placeholder has %.0f%% of the desk's width, want the room beside the list", share*100)
	}

	body, _ := json.Marshal(map[string]any{
		"customer": map[string]any{"email": longEmail, "name": "Jane Doe"},
		"subject":  "Live chat with Jane Doe", "channel": "api", "via": "api", "from_agent": false,
		"messages": []any{map[string]any{"channel": "api", "via": "api", "from_agent": false,
			"sender": map[string]any{"email": longEmail}, "body_text": "hello"}},
	})
	req, _ := http.NewRequest(http.MethodPost, sb.BaseURL()+"tickets", bytes.NewReader(body))
	req.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create a ticket: %d", resp.StatusCode)
	}

	open := `//ul[@id="ticket-list"]/li[1]`
	do(t, ctx, "open the ticket",
		chromedp.WaitVisible(open),
		chromedp.Click(open),
		chromedp.WaitVisible(`//*[@data-testid="customer-email"][contains(., "@livechat.invalid")]`),
	)
	// Clipped: the text is wider than its box, or its box runs out of the
	// page.
	const clipped = `(sel => Array.from(document.querySelectorAll(sel)).filter(e =>
		e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length)`
	for _, sel := range []string{"#customer-email", "#ticket-list .who", "aside.customer"} {
		if n := geometry[int](t, ctx, sel, clipped+`(`+jsString(sel)+`)`); n != 0 {
			t.Errorf("%s: the long email is clipped", sel)
		}
	}
	shot(t, ctx, "desk-long-email")

	// A phone: 390 CSS pixels wide.
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(sctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatalf("emulate a phone: %v", err)
	}
	do(t, ctx, "the desk on a phone", chromedp.Reload(), chromedp.WaitVisible(open), chromedp.Click(open),
		chromedp.WaitVisible(chromedp.CSS(`#reply-text`)))
	if w := geometry[float64](t, ctx, "page width", `document.documentElement.scrollWidth / window.innerWidth`); w > 1.01 {
		t.Errorf("on a phone the desk is %.0f%% of the screen's width: it runs off the screen", w*100)
	}
	for _, sel := range []string{"#reply-text", "#reply-send", "#macro-signoff", "#messages", "#customer-email"} {
		if n := geometry[int](t, ctx, sel, clipped+`(`+jsString(sel)+`)`); n != 0 {
			t.Errorf("on a phone %s runs off the screen", sel)
		}
	}
	shot(t, ctx, "desk-phone")
}

// TestBrowserChatFirstSight: the chat page has a title and an icon, and a
// user who asks for a human without having given any details is asked for
// them first; saving them hands off, with the details.
func TestBrowserChatFirstSight(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, demobot(t), "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, `channel = "webchat"`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, e)
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"), chromedp.WaitVisible(chromedp.CSS(`#chat-input`)))
	if title := geometry[string](t, ctx, "title", `document.title`); title == "" {
		t.Error("the chat page has no title")
	}
	checkIcon(t, ctx, "the chat page")

	human := `//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`
	do(t, ctx, "ask for a human without details",
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), "hi"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(human),
		chromedp.Click(human),
		chromedp.WaitVisible(chromedp.CSS(`#profile[open] #profile-ask`)),
	)
	// The click did not hand off: the only user messages are "hi". (It
	// would have shown at once: the page sends before anything else.)
	if got := chatTexts(t, ctx); countContaining(got, "user: ", "Yes, talk to a human!") != 0 {
		t.Errorf("the chat handed off without asking for details: %q", got)
	}
	do(t, ctx, "give the details, which hands off",
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
		chromedp.WaitVisible(message("system", "Connecting you to an agent")),
		chromedp.WaitVisible(message("agent", "Hello from Echo.")),
		chromedp.WaitNotVisible(chromedp.CSS(`#profile-ask`)),
	)
	shot(t, ctx, "chat-asks-details")
}

// checkIcon checks that the page has an icon that loads: without one the
// browser asks for /favicon.ico and gets 404.
func checkIcon(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	icon := geometry[string](t, ctx, "icon", `(document.querySelector('link[rel~="icon"]') || {}).href || ""`)
	if icon == "" {
		t.Errorf("%s has no icon", page)
		return
	}
	resp, err := http.Get(icon)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s's icon %s: %d", page, icon, resp.StatusCode)
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }
