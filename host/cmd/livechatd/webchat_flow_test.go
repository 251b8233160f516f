package main_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// webchatProcWith starts livechatd with the bot "shop" on the webchat, the
// demo bot and the echo provider, with more lines in the echo's config
// block and more blocks in the bot.
func webchatProcWith(t *testing.T, echoConfig, botBlocks string) *proc {
	t.Helper()
	e := newEnv(t)
	e.writeConfig(t, demobot(t), "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, "channel = \"webchat\"\n"+botBlocks, 1)
	cfg = strings.Replace(cfg, `greeting = "Hello from Echo."`, `greeting = "Hello from Echo."`+"\n    "+echoConfig, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, e)
}

// avatarServer serves a round avatar on 127.0.0.1 and returns its URL.
func avatarServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="32" fill="#6a1b9a"/></svg>`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/avatar.svg"
}

// TestBrowserWebchatHandoffFlow: presence through a real livechatd and the
// echo provider (which pushes what a platform would): the agent joins with
// a name and avatar, types, tells the queue position, sends an image, and
// closes the session; the chat shows each, and the agent's leaving is
// marked, with the sign-off's Quit livechat disabled.
func TestBrowserWebchatHandoffFlow(t *testing.T) {
	avatar := avatarServer(t)
	p := webchatProcWith(t, fmt.Sprintf("avatar_url = %q", avatar), "")
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"))
	chatWithAgent(t, ctx)
	do(t, ctx, "the agent joined, with the avatar",
		chromedp.WaitVisible(`//*[@id="agent-banner"][contains(., "Echo")]`),
		chromedp.WaitVisible(chromedp.CSS(`#agent-banner img[data-testid="banner-avatar"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li[data-author="agent"] img[data-testid="agent-avatar"]`)),
	)
	if src := evalIn[string](t, ctx, "avatar", `document.querySelector('li[data-author="agent"] img[data-testid="agent-avatar"]').src`); src != avatar {
		t.Errorf("the agent's avatar is %q, want %q", src, avatar)
	}

	sayIn(t, ctx, "typing")
	do(t, ctx, "the agent types", chromedp.WaitVisible(`//*[@data-testid="typing-indicator"][contains(., "Echo is typing")]`))
	shot(t, ctx, "flow-1-typing")
	do(t, ctx, "the typing stops by itself", chromedp.WaitNotVisible(chromedp.CSS(`#typing`)))

	sayIn(t, ctx, "queue")
	do(t, ctx, "the queue position",
		chromedp.WaitVisible(`//*[@data-testid="waiting-info"][contains(., "number 2 in the queue")]`),
		chromedp.WaitVisible(message("system", "You are number 2 in the queue.")),
	)

	sayIn(t, ctx, "file")
	do(t, ctx, "the agent's image", chromedp.WaitReady(`//li[@data-author="agent"]//img[@data-testid="image"][@src="https://example.com/echo.png"]`))

	sayIn(t, ctx, "sign off")
	do(t, ctx, "the sign-off", chromedp.WaitVisible(`//button[contains(., "Quit livechat")][not(@disabled)]`))
	sayIn(t, ctx, "close")
	do(t, ctx, "the agent closed the session",
		chromedp.WaitVisible(`//li[@data-testid="ended-marker"][@data-reason="agent"][contains(., "The agent has left")]`),
		chromedp.WaitVisible(`//button[contains(., "Quit livechat")][@disabled]`),
		chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
	)
	shot(t, ctx, "flow-2-agent-left")
	do(t, ctx, "reload", chromedp.Reload(),
		chromedp.WaitVisible(`//li[@data-testid="ended-marker"][@data-reason="agent"]`),
		chromedp.WaitVisible(`//button[contains(., "Quit livechat")][@disabled]`))
	if n := len(textsOf(t, ctx, `//li[@data-testid="ended-marker"]`)); n != 1 {
		t.Errorf("%d end markers, want 1", n)
	}
}

// TestBrowserWebchatNoAgent: with the echo agent silent, the user who asks
// for a human sees that they wait, then, at max_wait, that no agent could
// answer, and is back with the bot.
func TestBrowserWebchatNoAgent(t *testing.T) {
	p := webchatProcWith(t, "silent = true", `  waiting {
    still_waiting_every = "1s"
    max_wait            = "4s"
  }
`)
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user] #chat-input`)),
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	sayIn(t, ctx, "hi")
	do(t, ctx, "ask for a human",
		chromedp.WaitVisible(message("bot", "Hello Jane! I am the demo bot.")),
		chromedp.Click(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
		chromedp.WaitVisible(chromedp.CSS(`#connecting-banner`)),
	)
	shot(t, ctx, "no-agent-1-waiting")
	do(t, ctx, "no agent answers in time",
		chromedp.WaitVisible(`//li[@data-testid="ended-marker"][@data-reason="max_wait"][contains(., "No agent could answer in time")]`),
		chromedp.WaitNotVisible(chromedp.CSS(`#connecting-banner`)),
	)
	shot(t, ctx, "no-agent-2-ended")
	got := chatTexts(t, ctx)
	if countContaining(got, "system: ", "") < 2 {
		t.Errorf("the chat shows no waiting messages: %q", got)
	}
}
