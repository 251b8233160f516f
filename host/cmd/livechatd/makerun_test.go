package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
// ports given, and waits for its banner; run numbers it in the logs. The script is always stopped at
// the end of the test; when the test failed, what it printed is logged and
// saved with the screenshots.
func startDemo(t *testing.T, run int, root string, ports []int) *demoRun {
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
			name := filepath.Join(artifacts(t), fmt.Sprintf("failed-%s-make-run-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), run))
			_ = os.WriteFile(name, []byte(r.out.String()), 0o644)
			t.Logf("make run %d printed (also in %s):\n%s", run, name, r.out.String())
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

// TestBrowserMakeRunThreeTimes is the demo as a newcomer runs it: `make
// run` (examples/run-demo.sh, the built binaries, examples/livechatd.hcl as
// it is), a whole seed conversation in the chat and the agent desk, Ctrl-C,
// and again, three times on the same data/ and in the same browser. Each
// run's sandbox starts afresh, so its ticket, message and event ids are
// those of the run before: the agent's replies must reach the user all the
// same, and the chat must show what came before once, before the new
// conversation. The second run is stopped in the middle of a second
// handoff, as a newcomer may: the third ends that session (its ticket is
// gone), gives the user back to the bot, then carries a whole conversation
// again.
func TestBrowserMakeRunThreeTimes(t *testing.T) {
	root := demoTree(t)
	ports := freePorts(t, 3)
	chat := browser(t)
	desk := newTab(t, chat)

	// The chat keeps every earlier run's messages: a wait is for the next
	// message of a kind, counted before the action that brings it.
	next := func(xpath string) string { return nth(xpath, len(textsOf(t, chat, xpath))+1) }
	last := func(xpath string) string { return fmt.Sprintf("(%s)[last()]", xpath) }
	var before []string // the chat when the run starts
	for run := 1; run <= 3; run++ {
		demo := startDemo(t, run, root, ports)
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
			// The same browser, so the same webchat user: what came
			// before is shown again, each message once.
			do(t, chat, "the earlier runs are replayed",
				chromedp.WaitVisible(nth(`//li[@data-testid="message"]`, len(before))))
			if got := chatTexts(t, chat); !slices.Equal(got[:min(len(got), len(before))], before) {
				t.Errorf("run %d opens the chat on\n%q\nwant the earlier runs' messages once:\n%q", run, got, before)
			}
		}
		if run == 3 {
			// The handoff left open when the second run stopped: its
			// ticket is gone with that sandbox, so the session fails
			// (docs/provider-contract.md) and the bot has the user back.
			do(t, chat, "the handoff left open is over",
				chromedp.WaitVisible(`//li[@data-testid="message"][contains(., "Are you still there? (run 2)")]/following-sibling::li[@data-author="bot"]`),
				chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
			)
		}

		// say sends text and waits for it in the chat.
		say := func(text string) {
			t.Helper()
			do(t, chat, "say "+text,
				chromedp.SendKeys(chromedp.CSS(`#chat-input`), text),
				chromedp.Click(chromedp.CSS(`#chat-send`)),
				chromedp.WaitVisible(next(message("user", text))),
			)
		}
		hello := func() {
			t.Helper()
			greeting, offer := next(message("bot", "Hello Jane! I am the demo bot.")), next(chatButton("Yes, talk to a human!"))
			say("hello")
			do(t, chat, "the bot greets Jane", chromedp.WaitVisible(greeting), chromedp.WaitVisible(offer))
		}
		// askHuman clicks the bot's last offer and opens the new ticket
		// in the desk.
		askHuman := func() {
			t.Helper()
			connecting := next(message("system", "Connecting you to an agent"))
			do(t, chat, fmt.Sprintf("run %d: ask for a human", run),
				chromedp.Click(last(chatButton("Yes, talk to a human!"))),
				chromedp.WaitVisible(connecting),
			)
			open := `//ul[@id="ticket-list"]/li[@data-status="open"]`
			do(t, desk, fmt.Sprintf("run %d: open the ticket in the desk", run),
				chromedp.Navigate(demo.deskURL),
				chromedp.WaitVisible(open),
				chromedp.Click(open),
				chromedp.WaitVisible(`//*[@data-testid="customer-name"][contains(., "Jane Doe")]`),
			)
			if n := len(textsOf(t, desk, open)); n != 1 {
				t.Errorf("run %d: the desk lists %d open tickets, want 1", run, n)
			}
		}
		reply := func(text string) {
			t.Helper()
			do(t, desk, "reply "+text,
				chromedp.SendKeys(chromedp.CSS(`#reply-text`), text),
				chromedp.Click(chromedp.CSS(`#reply-send`)),
				chromedp.WaitVisible(fmt.Sprintf(`//*[@data-testid="message"][contains(., %q)]`, text)),
			)
			do(t, chat, "the agent's reply "+text, chromedp.WaitVisible(message("agent", text)),
				chromedp.WaitVisible(chromedp.CSS(`#agent-banner`)))
		}

		// The user talks to the bot and asks for a human; the agent
		// replies twice in the desk, the user answers.
		hello()
		askHuman()
		do(t, desk, "the user's greeting in the ticket",
			chromedp.WaitVisible(`//*[@data-testid="message"][contains(., "hello")]`))
		reply("Hi Jane, how can I help? " + tag)
		reply("Let me look at your order " + tag)
		say("my parcel is late " + tag)
		do(t, desk, "the user's message in the desk",
			chromedp.WaitVisible(fmt.Sprintf(`//*[@data-testid="message"][contains(., %q)]`, "my parcel is late "+tag)))
		if run == 1 {
			shot(t, desk, "make-run-desk")
		}

		// The sign-off macro; the user quits; back to the bot.
		quit, thanks := next(chatButton("Quit livechat")), next(message("bot", "Thanks for chatting with us today!"))
		do(t, desk, "sign off", chromedp.Click(chromedp.CSS(`#macro-signoff`)))
		do(t, chat, fmt.Sprintf("run %d: quit", run),
			chromedp.WaitVisible(quit),
			chromedp.Click(quit),
			chromedp.WaitVisible(thanks),
			chromedp.WaitNotVisible(chromedp.CSS(`#agent-banner`)),
		)
		do(t, desk, "the desk shows the ticket closed",
			chromedp.WaitVisible(`//*[@data-testid="ticket-status"][contains(., "closed")]`))
		hello()
		shot(t, chat, fmt.Sprintf("make-run-%d-chat", run))

		got := chatTexts(t, chat)
		checkRun(t, run, before, got)
		if run > 1 {
			// A reload shows the same, each message once.
			do(t, chat, "reload", chromedp.Reload(),
				chromedp.WaitVisible(nth(`//li[@data-testid="message"]`, len(got))))
			if after := chatTexts(t, chat); !slices.Equal(after, got) {
				t.Errorf("after a reload the chat shows\n%q\nwant\n%q", after, got)
			}
		}
		if run == 2 {
			// A second handoff, left open: Ctrl-C while the agent is
			// there.
			askHuman()
			reply("Are you still there? " + tag)
		}
		want := map[string]int{"ended": run}
		if run == 2 {
			want["active"] = 1
		}
		states := map[string]int{}
		for _, s := range demo.sessions() {
			states[fmt.Sprint(s["state"])]++
		}
		if run == 3 {
			// The session left open: the sandbox started afresh and
			// no longer has its ticket, so it failed.
			want["failed"] = 1
		}
		if !maps.Equal(states, want) {
			t.Errorf("run %d: the demo bot's sessions by state: %v, want %v", run, states, want)
		}
		before = chatTexts(t, chat)
		demo.stop(ports)
	}
}

// checkRun checks the chat after a run: what it showed before the run,
// once and in order, then the run's own messages, in which each agent
// reply of the run appears once and nothing of another run appears.
func checkRun(t *testing.T, run int, before, got []string) {
	t.Helper()
	if len(got) <= len(before) || !slices.Equal(got[:len(before)], before) {
		t.Fatalf("after run %d the chat shows\n%q\nwant the earlier runs' messages\n%q\nfollowed by this run's", run, got, before)
	}
	these := got[len(before):]
	for _, reply := range []string{"Hi Jane, how can I help? ", "Let me look at your order "} {
		reply += fmt.Sprintf("(run %d)", run)
		if n := countContaining(these, "agent: ", reply); n != 1 {
			t.Errorf("run %d's conversation shows %q %d times, want once:\n%q", run, reply, n, these)
		}
	}
	for other := 1; other <= 3; other++ {
		if n := countContaining(these, "", fmt.Sprintf("(run %d", other)); other != run && n != 0 {
			t.Errorf("run %d's conversation shows %d messages of run %d:\n%q", run, n, other, these)
		}
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

// textsOf returns the texts of the nodes matching xpath in the tab.
func textsOf(t *testing.T, ctx context.Context, xpath string) []string {
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
