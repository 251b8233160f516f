package main_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// webchatProc starts livechatd with the bot "shop" on the built-in webchat,
// the demo bot and the echo provider.
func webchatProc(t *testing.T) *proc {
	t.Helper()
	e := newEnv(t)
	e.writeConfig(t, demobot(t), "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, `channel = "webchat"`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, e)
}

// chatWithAgent opens the chat in ctx (a tab, or the widget's frame) as
// Jane and hands her over to the echo agent.
func chatWithAgent(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "the chat is ready", chromedp.WaitVisible(chromedp.CSS(`body[data-user] #chat-input`)))
	do(t, ctx, "fill in the details",
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	sayIn(t, ctx, "hi")
	do(t, ctx, "ask for a human",
		chromedp.WaitVisible(message("bot", "Hello Jane! I am the demo bot.")),
		chromedp.Click(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
		chromedp.WaitVisible(message("system", "Connecting you to an agent")),
		chromedp.WaitVisible(message("agent", "Hello from Echo.")),
	)
}

// sayIn types text in the chat of ctx, sends it and waits until the chat
// shows it.
func sayIn(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	do(t, ctx, "say "+text,
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), text),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(message("user", text)),
	)
}

// evalIn evaluates a JS expression in ctx.
func evalIn[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// hostPage serves html at / on 127.0.0.1, as a site of its own: its URL
// names the host localhost, another site than livechatd's 127.0.0.1.
func hostPage(t *testing.T, html string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, html)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)
}

// hostileCSS is a site's stylesheet that would wreck any widget it
// reached: every element monospace, red on yellow, dashed borders, and the
// widget's own elements hidden.
const hostileCSS = `
* { font-family: "Courier New", monospace !important; color: rgb(255, 0, 0) !important;
    background: rgb(255, 255, 0) !important; border: 5px dashed green !important; }
button, iframe, livechatd-widget { display: none !important; }
`

// frameOf waits for the widget's chat frame (a target of its own: another
// site) and returns a context that acts in it.
func frameOf(t *testing.T, ctx context.Context, urlPrefix string) context.Context {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatalf("list targets: %v", err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, urlPrefix) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				if err := chromedp.Do(fctx); err != nil {
					t.Fatalf("attach to the chat frame: %v", err)
				}
				return fctx
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no chat frame %s* within %s", urlPrefix, stepTimeout)
		}
		<-tick.C
	}
}

// widgetRoot returns the widget's (closed) shadow root, as the DevTools
// protocol sees it.
func widgetRoot(t *testing.T, ctx context.Context) *chromedp.Node {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	nodes, err := chromedp.Run(sctx, chromedp.Nodes(chromedp.CSS(`livechatd-widget`), chromedp.Populate(-1, true)))
	if err != nil || len(nodes) != 1 {
		t.Fatalf("the widget's element: %d nodes, %v", len(nodes), err)
	}
	if len(nodes[0].ShadowRoots) != 1 {
		t.Fatalf("the widget has %d shadow roots, want 1", len(nodes[0].ShadowRoots))
	}
	return nodes[0].ShadowRoots[0]
}

func computed(t *testing.T, ctx context.Context, sel string, root *chromedp.Node) map[string]string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	props, err := chromedp.Run(sctx, chromedp.ComputedStyle(chromedp.CSS(sel), chromedp.FromNode(root)))
	if err != nil {
		t.Fatalf("computed style of %s: %v", sel, err)
	}
	out := map[string]string{}
	for _, p := range props {
		out[p.Name] = p.Value
	}
	return out
}

// TestBrowserWebchatWidget: one script tag on a page of another site gives
// a launcher that opens the chat; the site's hostile CSS reaches neither
// the launcher nor the chat, the site's scripts cannot see into it, the
// tag's data- attributes set its title, colour and side, and a message
// goes to the agent and back.
func TestBrowserWebchatWidget(t *testing.T) {
	p := webchatProc(t)
	page := hostPage(t, `<!doctype html><html><head><title>Acme shop</title><style>`+hostileCSS+`</style></head>
<body><h1>Acme shop</h1><p>Our products.</p>
<script>window.siteScriptRan = true;</script>
<script src="`+p.url+`/chat/shop/widget.js" data-title="Acme help" data-color="#0b7a53" data-position="left" async></script>
</body></html>`)
	ctx := browser(t)
	do(t, ctx, "open the site", chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="false"]`)))
	if got := evalIn[string](t, ctx, "what the site's scripts see",
		`[window.siteScriptRan, document.querySelector("livechatd-widget").shadowRoot === null, document.querySelectorAll("iframe, button").length].join(",")`); got != "true,true,0" {
		t.Errorf("the site sees %q (its script ran, the shadow root is closed, no iframe or button of the widget): want true,true,0", got)
	}

	root := widgetRoot(t, ctx)
	launcher := computed(t, ctx, `button.launcher`, root)
	if launcher["background-color"] != "rgb(11, 122, 83)" || launcher["border-top-style"] != "none" || launcher["display"] == "none" {
		t.Errorf("the launcher's style: background %s, border %s, display %s: the site's CSS reached it, or data-color was not used",
			launcher["background-color"], launcher["border-top-style"], launcher["display"])
	}
	width := evalIn[float64](t, ctx, "width", `window.innerWidth`)
	box := func() (x, w float64) {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		m, err := chromedp.Run(sctx, chromedp.Dimensions(chromedp.CSS(`button.launcher`), chromedp.FromNode(root)))
		if err != nil {
			t.Fatalf("launcher box: %v", err)
		}
		return m.Border[0], float64(m.Width)
	}
	if x, w := box(); w < 40 || x > width/2 {
		t.Errorf("launcher at x=%.0f, %.0f wide: want a bubble on the left (data-position=left) of a %.0f-wide window", x, w, width)
	}
	shot(t, ctx, "widget-1-closed")

	do(t, ctx, "open the panel", chromedp.Click(chromedp.CSS(`button.launcher`), chromedp.FromNode(root)),
		chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="true"]`)))
	chat := frameOf(t, ctx, p.url+"/chat/shop?embed=1")
	do(t, chat, "the chat in the panel", chromedp.WaitVisible(chromedp.CSS(`body[data-embed="1"] #chat-input`)))
	if title := evalIn[string](t, chat, "title", `document.querySelector('[data-testid="chat-title"]').textContent`); title != "Acme help" {
		t.Errorf("the panel's title is %q, want the tag's data-title", title)
	}
	if font := evalIn[string](t, chat, "font", `getComputedStyle(document.body).fontFamily`); strings.Contains(font, "Courier") {
		t.Errorf("the site's CSS reached the chat: its font is %s", font)
	}
	chatWithAgent(t, chat)
	sayIn(t, chat, "where is my parcel?")
	do(t, chat, "the agent answers", chromedp.WaitVisible(message("agent", "echo: where is my parcel?")))
	if bg := evalIn[string](t, chat, "accent", `getComputedStyle(document.querySelector('li.msg.user')).backgroundColor`); bg != "rgb(11, 122, 83)" {
		t.Errorf("the user's messages are %s, want the tag's data-color", bg)
	}
	shot(t, ctx, "widget-2-open")

	do(t, chat, "close from the panel", chromedp.Click(chromedp.CSS(`#widget-close`)))
	do(t, ctx, "the panel is closed", chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="false"]`)))
	if got := computed(t, ctx, `.panel`, root)["display"]; got != "none" {
		t.Errorf("the closed panel is displayed (%s)", got)
	}
	// Opened again, the same conversation: the frame was kept.
	do(t, ctx, "open again", chromedp.Click(chromedp.CSS(`button.launcher`), chromedp.FromNode(root)),
		chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="true"]`)))
	do(t, chat, "the conversation is still there", chromedp.WaitVisible(message("agent", "echo: where is my parcel?")))
	// Escape in the chat closes the panel too.
	do(t, chat, "Escape", chromedp.Click(chromedp.CSS(`#chat-input`)), chromedp.KeyEvent(kb.Escape))
	do(t, ctx, "closed by Escape", chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="false"]`)))
}

// TestBrowserWebchatOffline: what the user sends while offline is kept,
// shown as not sent yet, and sent once when they are back: no loss, no
// duplicate, also after a reload.
func TestBrowserWebchatOffline(t *testing.T) {
	p := webchatProc(t)
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"))
	chatWithAgent(t, ctx)

	offline := func(off bool) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			// The deprecated emulateNetworkConditions cuts the network and
			// sets navigator.onLine (with its online and offline events).
			params := map[string]any{"offline": off, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
			if err := tg.Call(ctx, "Network.emulateNetworkConditions", params, nil); err != nil {
				return err
			}
			return tg.Call(ctx, network.CommandOverrideNetworkState, params, nil)
		}))
		if err != nil {
			t.Fatalf("set offline=%v: %v", off, err)
		}
	}
	do(t, ctx, "network events on", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		return tg.Call(ctx, network.CommandEnable, map[string]any{}, nil)
	}))
	offline(true)
	do(t, ctx, "write while offline",
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), "are you still there?"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(`//li[@data-testid="pending"][contains(., "are you still there?")][contains(., "not sent yet")]`),
		chromedp.WaitVisible(chromedp.CSS(`#offline-banner`)),
	)
	shot(t, ctx, "webchat-offline")
	offline(false)
	do(t, ctx, "back online, the message is sent",
		chromedp.WaitVisible(message("agent", "echo: are you still there?")),
		chromedp.WaitNotPresent(chromedp.CSS(`li[data-testid="pending"]`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#offline-banner`)),
	)
	count := func() int {
		return len(textsOf(t, ctx, message("user", "are you still there?")))
	}
	if n := count(); n != 1 {
		t.Errorf("the message written offline shows %d times, want once", n)
	}
	do(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(message("agent", "echo: are you still there?")))
	if n := count(); n != 1 {
		t.Errorf("after a reload the message written offline shows %d times, want once", n)
	}
	if n := len(textsOf(t, ctx, message("agent", "echo: are you still there?"))); n != 1 {
		t.Errorf("the agent got the message %d times, want once", n)
	}
	shot(t, ctx, "webchat-back-online")
}

// TestBrowserWebchatUpload: the user attaches an image and a text file;
// each is uploaded, shown, sent to the agent as its URL (the echo agent
// says it back) and served back as the same bytes; a file of a type not
// taken is refused with a clear message.
func TestBrowserWebchatUpload(t *testing.T) {
	p := webchatProc(t)
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"))
	chatWithAgent(t, ctx)

	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			img.Set(x, y, color.RGBA{R: uint8(x * 6), G: 120, B: uint8(y * 8), A: 255})
		}
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, img); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"receipt.png": pngData.Bytes(),
		"order.txt":   []byte("Order 42: one teapot\n"),
		"page.html":   []byte("<!doctype html><html><script>alert(1)</script></html>"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	attach := func(name string) {
		t.Helper()
		do(t, ctx, "attach "+name, chromedp.SetUploadFiles(chromedp.CSS(`#attach-input`), []string{filepath.Join(dir, name)}, chromedp.NodeReady))
	}

	attach("receipt.png")
	do(t, ctx, "the image is shown and reaches the agent",
		chromedp.WaitVisible(`//li[@data-testid="message"][@data-author="user"]//img[@data-testid="image"]`),
		chromedp.WaitVisible(message("agent", "/chat/files/")),
	)
	{
		// The image loads from its URL: its real size comes with it.
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		_, err := chromedp.Run(sctx, chromedp.Poll[bool](`(() => { const i = document.querySelector('li.msg.user img[data-testid="image"]'); return i.complete && i.naturalWidth === 40; })()`))
		cancel()
		if err != nil {
			t.Fatalf("the uploaded image does not load: %v", err)
		}
	}
	imgURL := evalIn[string](t, ctx, "image URL", `document.querySelector('li.msg.user img[data-testid="image"]').src`)
	if !strings.HasPrefix(imgURL, p.url+"/chat/files/") || !strings.HasSuffix(imgURL, "/receipt.png") {
		t.Errorf("image URL %q: want one under %s/chat/files/", imgURL, p.url)
	}
	if got := textsOf(t, ctx, message("agent", imgURL)); len(got) != 1 {
		t.Errorf("the agent got the image's URL %d times, want once: %q", len(got), got)
	}
	checkServed(t, imgURL, files["receipt.png"])

	attach("order.txt")
	do(t, ctx, "the text file is a link",
		chromedp.WaitVisible(`//li[@data-author="user"]//a[@data-testid="file-link"][contains(., "order.txt")]`),
		chromedp.WaitVisible(message("agent", "/order.txt")),
	)
	fileURL := evalIn[string](t, ctx, "file URL", `Array.from(document.querySelectorAll('a[data-testid="file-link"]')).pop().href`)
	checkServed(t, fileURL, files["order.txt"])
	shot(t, ctx, "webchat-uploads")

	attach("page.html")
	do(t, ctx, "a type not taken is refused",
		chromedp.WaitVisible(`//*[@data-testid="chat-status"][contains(., "are not taken")]`))
	if n := len(textsOf(t, ctx, `//li[@data-author="user"][.//a[@data-testid="file-link"] or .//img]`)); n != 2 {
		t.Errorf("the chat shows %d attachments of the user, want 2 (the refused one is not sent)", n)
	}
}

func checkServed(t *testing.T, url string, want []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET %s: %d, %d bytes (want %d), nosniff %q", url, resp.StatusCode, len(got), len(want), resp.Header.Get("X-Content-Type-Options"))
	}
}

// TestBrowserWebchatUnreadAndRead: while the widget's panel is closed, the
// launcher counts the agent's new messages and no read receipt goes out;
// opened, the badge goes and the platform hears that the user read them
// (the echo plugin counts the receipts it gets).
func TestBrowserWebchatUnreadAndRead(t *testing.T) {
	p := webchatProc(t)
	page := hostPage(t, `<!doctype html><html><head><title>Acme shop</title></head>
<body><h1>Acme shop</h1>
<script src="`+p.url+`/chat/shop/widget.js" async></script>
</body></html>`)
	ctx := browser(t)
	do(t, ctx, "open the site", chromedp.Navigate(page), chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="false"]`)))
	root := widgetRoot(t, ctx)
	do(t, ctx, "open the panel", chromedp.Click(chromedp.CSS(`button.launcher`), chromedp.FromNode(root)),
		chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="true"]`)))
	chat := frameOf(t, ctx, p.url+"/chat/shop?embed=1")
	chatWithAgent(t, chat)
	sayIn(t, chat, "hello")
	do(t, chat, "the agent answers", chromedp.WaitVisible(message("agent", "echo: hello")))
	const read = `livechat_events_total{bot="shop",outcome="user_read"}`
	before := waitCounter(t, p, read, func(n float64) bool { return n >= 1 })

	do(t, chat, "close the panel", chromedp.Click(chromedp.CSS(`#widget-close`)))
	do(t, ctx, "closed", chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="false"]`)))
	// The agent writes while the panel is closed (the user's message goes
	// through the events API, as from another tab; echo answers it).
	for _, text := range []string{"one", "two"} {
		sctx, cancel := context.WithTimeout(chat, stepTimeout)
		status, err := chromedp.Run(sctx, chromedp.Evaluate[int](`(() => {
			const me = JSON.parse(localStorage.getItem("livechatd:shop"));
			return fetch("/v1/bots/shop/events", {method: "POST",
				headers: {"Content-Type": "application/json", "X-Livechat-User-Token": me.token},
				body: JSON.stringify({client: {user_id: me.user_id}, payload: {content_type: "text", content: {text: `+fmt.Sprintf("%q", text)+`}}})}).then(r => r.status);
		})()`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || status != 200 {
			t.Fatalf("say %s from elsewhere: %d %v", text, status, err)
		}
		do(t, chat, "the answer came", chromedp.WaitReady(message("agent", "echo: "+text)))
	}
	do(t, ctx, "the launcher counts two new messages", chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-unread="2"]`)))
	if label := evalIn[string](t, ctx, "badge", `document.querySelector("livechatd-widget").getAttribute("data-unread")`); label != "2" {
		t.Errorf("unread %q, want 2", label)
	}
	shot(t, ctx, "widget-3-unread")
	if n := counter(t, p, read); n != before {
		t.Errorf("%v read receipts after the panel closed, want still %v: the user saw nothing", n, before)
	}

	do(t, ctx, "open again", chromedp.Click(chromedp.CSS(`button.launcher`), chromedp.FromNode(root)),
		chromedp.WaitReady(chromedp.CSS(`livechatd-widget[data-open="true"][data-unread="0"]`)))
	if got := computed(t, ctx, `.badge`, root)["display"]; got != "none" {
		t.Errorf("the badge is still shown (%s) with the panel open", got)
	}
	waitCounter(t, p, read, func(n float64) bool { return n == before+1 })
	// Receipts are never shown (the stream never keeps them).
	if got := chatTexts(t, chat); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "user: {}") }) {
		t.Errorf("the chat shows a read receipt: %q", got)
	}
}

// counter is the value of a metric line of livechatd's /metrics (0 when
// it has none).
func counter(t *testing.T, p *proc, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(p.metrics(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// waitCounter waits until the metric meets ok, and returns its value.
func waitCounter(t *testing.T, p *proc, series string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if n := counter(t, p, series); ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after %s", series, counter(t, p, series), stepTimeout)
		}
		<-tick.C
	}
}
