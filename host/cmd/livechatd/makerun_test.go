package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// demoTimeout bounds the wait for make run's banner (each of its three
// processes has READY_TIMEOUT, 30 s, to be ready) and for it to stop.
const demoTimeout = 100 * time.Second

// demoRun is one `make run`: examples/run-demo.sh started as make starts
// it, in a process group of its own as a shell's job would be.
type demoRun struct {
	t        *testing.T
	cmd      *exec.Cmd
	done     chan struct{} // closed when the script has exited
	out      *syncBuf      // its stdout and stderr, as the terminal shows them
	chatURL  string        // from the banner
	deskURL  string
	adminURL string // livechatd's address
}

// demoTree lays out, in a temporary directory, what `make run` uses in the
// repository: examples/run-demo.sh and examples/livechatd.hcl copied as they
// are, the binaries `make build` writes to bin/ and bin/plugins, and data/.
// The script and the config are unchanged, so their relative paths
// (../bin/plugins, ../data/livechat.db) point inside the tree.
func demoTree(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..", "..")
	root := t.TempDir()
	for _, dir := range []string{"examples", "bin/plugins", "data"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install := func(src, dst string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install(filepath.Join(repo, "examples", "run-demo.sh"), "examples/run-demo.sh")
	install(filepath.Join(repo, "examples", "livechatd.hcl"), "examples/livechatd.hcl")
	const mod = "github.com/livechatd/livechatd/"
	for pkg, dst := range map[string]string{
		"host/cmd/livechatd":                            "bin/livechatd",
		"examples/demobot":                              "bin/demobot",
		"plugins/gorgias/cmd/gorgias-sandbox":           "bin/gorgias-sandbox",
		"plugins/gorgias/cmd/livechat-provider-gorgias": "bin/plugins/livechat-provider-gorgias",
		"examples/echo-provider":                        "bin/plugins/livechat-provider-echo",
	} {
		install(builds.Binary(t, mod+pkg), dst)
	}
	return root
}

// freePorts returns n distinct loopback ports that nothing listens on.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// startDemo runs examples/run-demo.sh in root, as `make run` does, with the
// ports given, and waits for its banner. The script is always stopped at
// the end of the test; when the test failed, what it printed is logged and
// saved with the screenshots.
func startDemo(t *testing.T, root string, ports []int) *demoRun {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(root, "examples", "run-demo.sh"))
	// A clean environment: nothing from the test's own may change the
	// config's env() defaults (tokens, secrets, ports).
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"CONFIG=examples/livechatd.hcl",
		"LIVECHAT_PORT=" + strconv.Itoa(ports[0]),
		"DEMO_BOT_PORT=" + strconv.Itoa(ports[1]),
		"SANDBOX_PORT=" + strconv.Itoa(ports[2]),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &demoRun{t: t, cmd: cmd, done: make(chan struct{}), out: &syncBuf{}}
	cmd.Stderr = r.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			name := filepath.Join(artifacts(t), "failed-"+strings.ReplaceAll(t.Name(), "/", "_")+"-make-run.log")
			_ = os.WriteFile(name, []byte(r.out.String()), 0o644)
			t.Logf("make run printed (also in %s):\n%s", name, r.out.String())
		}
	})

	banner := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var chat string
		for sc.Scan() {
			line := sc.Text()
			_, _ = r.out.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "The user's chat:"); ok {
				chat = strings.TrimSpace(u)
			}
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "The agent's desk:"); ok {
				banner <- [2]string{chat, strings.TrimSpace(u)}
			}
		}
	}()
	select {
	case urls := <-banner:
		r.chatURL, r.deskURL = urls[0], urls[1]
	case <-r.done:
		t.Fatalf("make run exited before its banner:\n%s", r.out.String())
	case <-time.After(demoTimeout):
		t.Fatalf("no banner from make run after %s:\n%s", demoTimeout, r.out.String())
	}
	r.adminURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if want := r.adminURL + "/chat/demo"; r.chatURL != want {
		t.Errorf("the banner's chat is %q, want %q", r.chatURL, want)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/desk", ports[2]); r.deskURL != want {
		t.Errorf("the banner's desk is %q, want %q", r.deskURL, want)
	}
	return r
}

// stop is Ctrl-C: SIGINT to the whole process group, as a terminal sends
// it. The script must exit within demoTimeout and leave no process
// listening on the demo's ports.
func (r *demoRun) stop(ports []int) {
	r.t.Helper()
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(demoTimeout):
		r.t.Fatalf("make run still running %s after Ctrl-C", demoTimeout)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			r.t.Fatalf("after make run stopped, port %d is still taken: %v", p, err)
		}
		_ = l.Close()
	}
}

// kill stops whatever is left of the script's process group.
func (r *demoRun) kill() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
}

// sessions lists the demo bot's sessions through the admin API, with the
// example config's development token.
func (r *demoRun) sessions() []map[string]any {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.adminURL+"/v1/sessions?bot=demo", nil)
	req.Header.Set("Authorization", "Bearer dev-admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET /v1/sessions?bot=demo: %d %v", resp.StatusCode, err)
	}
	return out.Sessions
}

// nth is the XPath of the n-th (1-based) node matching xpath in the page.
func nth(xpath string, n int) string { return fmt.Sprintf("(%s)[%d]", xpath, n) }

// button is the XPath of a chat button by its title.
func chatButton(title string) string {
	return fmt.Sprintf(`//button[@data-testid="button"][contains(., %q)]`, title)
}

// TestBrowserMakeRunTwice is the demo as a newcomer runs it: `make run`
// (examples/run-demo.sh, the built binaries, examples/livechatd.hcl as it
// is), a whole seed conversation in the chat and the agent desk, Ctrl-C,
// then `make run` again on the same data/ and the same browser, and a
// whole seed conversation again. The second run's sandbox starts afresh,
// so its ticket, message and event ids are those of the first run: the
// agent's replies must reach the user all the same, and the chat must show
// the first conversation once, before the second.
func TestBrowserMakeRunTwice(t *testing.T) {
	root := demoTree(t)
	ports := freePorts(t, 3)
	chat := browser(t)
	desk := newTab(t, chat)

	var first []string // the chat after the first run
	for run := 1; run <= 2; run++ {
		demo := startDemo(t, root, ports)
		tag := fmt.Sprintf("(run %d)", run)

		do(t, chat, fmt.Sprintf("run %d: open the chat", run),
			chromedp.Navigate(demo.chatURL),
			chromedp.WaitVisible(chromedp.CSS(`body[data-user] #chat-input`)),
		)
		if run == 1 {
			do(t, chat, "fill in the user's details",
				chromedp.Click(chromedp.CSS(`#profile summary`)),
				chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
				chromedp.SendKeys(chromedp.CSS(`#profile-lastname`), "Doe"),
				chromedp.SendKeys(chromedp.CSS(`#profile-email`), "jane@example.com"),
				chromedp.Click(chromedp.CSS(`#profile-save`)),
			)
		} else {
			// The same browser, so the same webchat user: the first
			// conversation is shown again, each message once.
			do(t, chat, "the first conversation is replayed",
				chromedp.WaitVisible(nth(`//li[@data-testid="message"]`, len(first))))
			if got := chatTexts(t, chat); !slices.Equal(got, first) {
				t.Errorf("run 2 opens the chat on\n%q\nwant the first run's conversation once:\n%q", got, first)
			}
		}
		// say sends text, the n-th message of the user with it.
		say := func(text string, n int) {
			t.Helper()
			do(t, chat, "say "+text,
				chromedp.SendKeys(chromedp.CSS(`#chat-input`), text),
				chromedp.Click(chromedp.CSS(`#chat-send`)),
				chromedp.WaitVisible(nth(message("user", text), n)),
			)
		}
		// Each run greets the bot twice: before and after the agent.
		hello := nth(message("bot", "Hello Jane! I am the demo bot."), 2*run-1)
		offer := nth(chatButton("Yes, talk to a human!"), 2*run-1)

		// The user talks to the bot and asks for a human.
		say("hello", run)
		do(t, chat, fmt.Sprintf("run %d: ask for a human", run),
			chromedp.WaitVisible(hello),
			chromedp.WaitVisible(offer),
			chromedp.Click(offer),
			chromedp.WaitVisible(nth(message("system", "Connecting you to an agent"), run)),
		)

		// The agent opens the ticket in the desk: this run's sandbox has
		// only this one.
		do(t, desk, fmt.Sprintf("run %d: open the ticket in the desk", run),
			chromedp.Navigate(demo.deskURL),
			chromedp.WaitVisible(`//ul[@id="ticket-list"]/li[1]`),
			chromedp.Click(`//ul[@id="ticket-list"]/li[1]`),
			chromedp.WaitVisible(`//*[@data-testid="customer-name"][contains(., "Jane Doe")]`),
			chromedp.WaitVisible(fmt.Sprintf(`//*[@data-testid="message"][contains(., %q)]`, "hello")),
		)
		if n := len(chatTextsOf(t, desk, `//ul[@id="ticket-list"]/li`)); n != 1 {
			t.Errorf("run %d: the desk lists %d tickets, want 1", run, n)
		}

		// The agent replies twice; both replies reach the chat.
		for _, reply := range []string{"Hi Jane, how can I help? " + tag, "Let me look at your order " + tag} {
			do(t, desk, "reply "+reply,
				chromedp.SendKeys(chromedp.CSS(`#reply-text`), reply),
				chromedp.Click(chromedp.CSS(`#reply-send`)),
				chromedp.WaitVisible(fmt.Sprintf(`//*[@data-testid="message"][contains(., %q)]`, reply)),
			)
			do(t, chat, "the agent's reply "+reply, chromedp.WaitVisible(message("agent", reply)),
				chromedp.WaitVisible(chromedp.CSS(`#agent-banner`)))
		}
		say("my parcel is late "+tag, 1)
		do(t, desk, "the user's message in the desk",
			chromedp.WaitVisible(fmt.Sprintf(`//*[@data-testid="message"][contains(., %q)]`, "my parcel is late "+tag)))
		if run == 1 {
			shot(t, desk, "make-run-desk")
		}

		// The sign-off macro; the user quits; back to the bot.
		do(t, desk, "sign off", chromedp.Click(chromedp.CSS(`#macro-signoff`)))
		do(t, chat, fmt.Sprintf("run %d: quit", run),
			chromedp.WaitVisible(nth(chatButton("Quit livechat"), run)),
			chromedp.Click(nth(chatButton("Quit livechat"), run)),
			chromedp.WaitVisible(nth(message("bot", "Thanks for chatting with us today!"), run)),
			chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
		)
		do(t, desk, "the desk shows the ticket closed",
			chromedp.WaitVisible(`//*[@data-testid="ticket-status"][contains(., "closed")]`))
		say("hi", run)
		do(t, chat, "back to the bot", chromedp.WaitVisible(nth(message("bot", "Hello Jane! I am the demo bot."), 2*run)))
		shot(t, chat, fmt.Sprintf("make-run-%d-chat", run))

		got := chatTexts(t, chat)
		if run == 1 {
			first = got
		} else {
			checkSecondRun(t, first, got)
			// A reload shows the same, each message once.
			do(t, chat, "reload", chromedp.Reload(),
				chromedp.WaitVisible(nth(`//li[@data-testid="message"]`, len(got))))
			if after := chatTexts(t, chat); !slices.Equal(after, got) {
				t.Errorf("after a reload the chat shows\n%q\nwant\n%q", after, got)
			}
		}
		var states []string
		for _, s := range demo.sessions() {
			states = append(states, fmt.Sprint(s["state"]))
		}
		if want := slices.Repeat([]string{"ended"}, run); !slices.Equal(states, want) {
			t.Errorf("run %d: the demo bot's sessions are %q, want %q", run, states, want)
		}
		demo.stop(ports)
	}
}

// checkSecondRun checks the chat after the second run: the first run's
// messages, once and in order, then the second run's, in which every
// agent reply of the second run appears once and none of the first.
func checkSecondRun(t *testing.T, first, got []string) {
	t.Helper()
	if len(got) <= len(first) || !slices.Equal(got[:len(first)], first) {
		t.Fatalf("after the second run the chat shows\n%q\nwant the first run's conversation\n%q\nfollowed by the second's", got, first)
	}
	second := got[len(first):]
	for _, reply := range []string{"Hi Jane, how can I help? (run 2)", "Let me look at your order (run 2)"} {
		if n := countContaining(second, "agent: ", reply); n != 1 {
			t.Errorf("the second conversation shows %q %d times, want once:\n%q", reply, n, second)
		}
	}
	if n := countContaining(second, "", "(run 1)"); n != 0 {
		t.Errorf("the second conversation shows %d messages of the first:\n%q", n, second)
	}
}

func countContaining(texts []string, prefix, s string) int {
	n := 0
	for _, x := range texts {
		if strings.HasPrefix(x, prefix) && strings.Contains(x, s) {
			n++
		}
	}
	return n
}

// chatTextsOf returns the texts of the nodes matching xpath in the tab.
func chatTextsOf(t *testing.T, ctx context.Context, xpath string) []string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	texts, err := chromedp.Run(sctx, chromedp.Evaluate[[]string](fmt.Sprintf(
		`(() => { const r = document.evaluate(%q, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		  const out = []; for (let i = 0; i < r.snapshotLength; i++) out.push(r.snapshotItem(i).innerText.trim()); return out; })()`, xpath)))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("read %s: %v", xpath, err)
	}
	return texts
}
