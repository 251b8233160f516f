package main_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on this machine: the browser tests need it (apt-get install chromium; .ci/run installs it)")
	return ""
}

// browser starts a headless Chromium for the test and returns a context for
// chromedp actions on its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The chat and the desk are two tabs: neither may be throttled or
		// left without frames (screenshots) for being in the background.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1100, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newTab opens a second tab in the browser of ctx. Its first action runs
// here, without a timeout: a tab lives as long as the context of its first
// action.
func newTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}

// artifacts is where the browser tests write screenshots: $ARTIFACTS_DIR,
// or artifacts/browser at the top of the repository.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "artifacts")
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a screenshot of the tab as <name>.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	// A tab in the background draws no frames: bring it to the front first.
	if _, err := chromedp.Call(sctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatalf("screenshot %s: bring the tab to the front: %v", name, err)
	}
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = 30 * time.Second

// do runs chromedp actions within stepTimeout; when they fail it saves a
// screenshot and the page's text, and fails the test with what it was doing.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		text, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.innerText`))
		_, _ = chromedp.Call(dctx, page.BringToFront, cdp.Empty{})
		if png, err := chromedp.Run(dctx, chromedp.FullScreenshot(100)); err == nil {
			name := filepath.Join(artifacts(t), "failed-"+strings.ReplaceAll(t.Name(), "/", "_")+".png")
			_ = os.WriteFile(name, png, 0o644)
			t.Logf("screenshot of the failure: %s", name)
		}
		t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, text)
	}
}

// message is the XPath of a chat message by its author showing text.
func message(author, text string) string {
	return fmt.Sprintf(`//li[@data-testid="message"][@data-author=%q][contains(., %q)]`, author, text)
}

// chatTexts returns the texts of the chat window's messages, in order.
func chatTexts(t *testing.T, ctx context.Context) []string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	texts, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('li[data-testid="message"]')).map(li => li.dataset.author + ": " + li.innerText.trim())`))
	if err != nil {
		t.Fatalf("read the chat: %v", err)
	}
	return texts
}

// demobot starts examples/demobot and returns its events URL.
func demobot(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(builds.Binary(t, "github.com/livechatd/livechatd/examples/demobot"), "-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), "demobot listening on "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return url
		}
	}
	t.Fatal("demobot did not start")
	return ""
}

func TestBrowserWebchatWithEcho(t *testing.T) {
	botURL := demobot(t)
	e := newEnv(t)
	e.writeConfig(t, botURL, "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, `channel = "webchat"`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, e)
	ctx := browser(t)

	do(t, ctx, "open the chat",
		chromedp.Navigate(p.url+"/chat/shop"),
		chromedp.WaitVisible(chromedp.CSS(`#chat-input`)),
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.SendKeys(chromedp.CSS(`#profile-email`), "jane@example.com"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	say := func(text string) {
		t.Helper()
		do(t, ctx, "say "+text,
			chromedp.SendKeys(chromedp.CSS(`#chat-input`), text),
			chromedp.Click(chromedp.CSS(`#chat-send`)),
			chromedp.WaitVisible(message("user", text)),
		)
	}
	say("hi")
	do(t, ctx, "the bot offers a human",
		chromedp.WaitVisible(message("bot", "Hello Jane! I am the demo bot.")),
		chromedp.WaitVisible(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
	)
	shot(t, ctx, "echo-1-bot")
	do(t, ctx, "ask for a human",
		chromedp.Click(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
		chromedp.WaitVisible(message("system", "Connecting you to an agent")),
		chromedp.WaitVisible(message("agent", "Hello from Echo.")),
		chromedp.WaitVisible(chromedp.CSS(`#agent-banner`)),
	)
	say("where is my parcel?")
	do(t, ctx, "the agent answers", chromedp.WaitVisible(message("agent", "echo: where is my parcel?")))
	shot(t, ctx, "echo-2-agent")

	before := chatTexts(t, ctx)
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(message("agent", "echo: where is my parcel?")))
	if after := chatTexts(t, ctx); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("after a reload the chat shows\n%q\nwant every earlier message once:\n%q", after, before)
	}

	say("sign off")
	quit := `//button[@data-testid="button"][contains(., "Quit livechat")]`
	do(t, ctx, "the sign-off question; Quit clicked twice",
		chromedp.WaitVisible(message("agent", "Glad I could help!")),
		chromedp.Click(quit),
		chromedp.Click(quit), // used: disabled, so this does nothing
		chromedp.WaitVisible(message("bot", "Thanks for chatting with us today!")),
		chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
		chromedp.WaitVisible(chromedp.CSS(`li[data-testid="ended-marker"]`)),
	)
	shot(t, ctx, "echo-3-ended")
	if got := p.admin("/v1/sessions?bot=shop")["sessions"].([]any); len(got) != 1 || got[0].(map[string]any)["state"] != "ended" {
		t.Errorf("sessions = %v", got)
	}
	// Every button used, and the session's "Quit livechat", stay disabled,
	// also after a reload; the end is marked once; every message has its
	// time.
	checkEnded := func(when string) {
		t.Helper()
		if n := len(textsOf(t, ctx, message("user", "Quit livechat"))); n != 1 {
			t.Errorf("%s: the user sent Quit livechat %d times, want once", when, n)
		}
		if n := len(textsOf(t, ctx, `//li[@data-testid="ended-marker"][@data-reason="user"][contains(., "You ended the conversation")]`)); n != 1 {
			t.Errorf("%s: %d end markers (the user's), want 1", when, n)
		}
		enabled := evalIn[[]string](t, ctx, "buttons", `Array.from(document.querySelectorAll('button[data-testid="button"]:enabled')).map(b => b.textContent)`)
		if len(enabled) != 0 {
			t.Errorf("%s: buttons still enabled: %q", when, enabled)
		}
		if n := evalIn[int](t, ctx, "times", `document.querySelectorAll('li[data-testid="message"]:not(:has(time[data-testid="time"]))').length`); n != 0 {
			t.Errorf("%s: %d messages without their time", when, n)
		}
	}
	checkEnded("after Quit")
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`li[data-testid="ended-marker"]`)),
		chromedp.WaitVisible(message("bot", "Thanks for chatting with us today!")))
	checkEnded("after a reload")
}

// TestBrowserDemo drives the demo of `make run` through both pages: the
// user's chat (livechatd's webchat) and the agent's desk (the Gorgias
// sandbox), with the demo bot and the real Gorgias plugin between them.
func TestBrowserDemo(t *testing.T) {
	w := newGorgiasWorld(t, worldOptions{botURL: demobot(t), webchat: true})
	chat := browser(t)
	desk := newTab(t, chat)

	// The user chats with the bot and asks for a human.
	do(t, chat, "open the chat",
		chromedp.Navigate(w.p.url+"/chat/shop"),
		chromedp.WaitVisible(chromedp.CSS(`#chat-input`)),
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.SendKeys(chromedp.CSS(`#profile-lastname`), "Doe"),
		chromedp.SendKeys(chromedp.CSS(`#profile-email`), "jane@example.com"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	say := func(text string) {
		t.Helper()
		do(t, chat, "say "+text,
			chromedp.SendKeys(chromedp.CSS(`#chat-input`), text),
			chromedp.Click(chromedp.CSS(`#chat-send`)),
			chromedp.WaitVisible(message("user", text)),
		)
	}
	say("hello")
	do(t, chat, "ask for a human",
		chromedp.WaitVisible(message("bot", "Hello Jane! I am the demo bot.")),
		chromedp.Click(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
		chromedp.WaitVisible(message("system", "Connecting you to an agent")),
	)
	w.wait("a ticket", func() bool { return len(w.sandbox.Tickets()) == 1 })
	ticket := w.sandbox.Tickets()[0]
	shot(t, chat, "demo-1-chat-asks-for-a-human")

	// The agent desk shows the ticket with the user's name; the webchat's
	// users are anonymous, so the email they typed is shown as unverified
	// in the ticket, never used to find an existing customer.
	do(t, desk, "open the ticket in the desk",
		chromedp.Navigate(w.sandbox.DeskURL()),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid="ticket-%d"]`, ticket.ID))),
		chromedp.WaitVisible(`//*[@data-testid="customer-name"][contains(., "Jane Doe")]`),
		chromedp.WaitVisible(`//*[@data-testid="message"][contains(., "jane@example.com")][contains(., "unverified")]`),
		chromedp.WaitVisible(`//*[@data-testid="message"][contains(., "hello")]`),
	)
	shot(t, desk, "demo-2-desk-ticket")

	// The agent replies; the reply appears in the chat.
	do(t, desk, "reply",
		chromedp.SendKeys(chromedp.CSS(`#reply-text`), "Hi Jane, how can I help?"),
		chromedp.Click(chromedp.CSS(`#reply-send`)),
	)
	do(t, chat, "the agent's reply", chromedp.WaitVisible(message("agent", "Hi Jane, how can I help?")),
		chromedp.WaitVisible(chromedp.CSS(`#agent-banner`)))
	say("my parcel is late")
	do(t, desk, "the user's message in the desk", chromedp.WaitVisible(`//*[@data-testid="message"][contains(., "my parcel is late")]`))

	// A reload in the middle of the session shows every earlier message once.
	before := chatTexts(t, chat)
	do(t, chat, "reload", chromedp.Reload(), chromedp.WaitVisible(message("user", "my parcel is late")))
	if after := chatTexts(t, chat); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("after a reload the chat shows\n%q\nwant every earlier message once:\n%q", after, before)
	}
	shot(t, chat, "demo-3-chat-with-the-agent")

	// The sign-off macro; the user quits; the bot thanks them.
	do(t, desk, "sign off", chromedp.Click(chromedp.CSS(`#macro-signoff`)))
	do(t, chat, "quit",
		chromedp.WaitVisible(`//button[@data-testid="button"][contains(., "Quit livechat")]`),
		chromedp.Click(`//button[@data-testid="button"][contains(., "Quit livechat")]`),
		chromedp.WaitVisible(message("bot", "Thanks for chatting with us today!")),
	)
	shot(t, chat, "demo-4-chat-ended")
	w.wait("the ticket closed", func() bool { tk, _ := w.sandbox.Ticket(ticket.ID); return tk.Status == "closed" })
	do(t, desk, "the desk shows it closed", chromedp.WaitVisible(`//*[@data-testid="ticket-status"][contains(., "closed")]`))
	shot(t, desk, "demo-5-desk-closed")
}
