package sdktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// The checks that run through a real livechatd (Suite.Livechatd), in the
// order they run. They run only when Suite.Livechatd is set, the plugin
// lists the webhook capability and the adapter is a WebhookPlatform.
const (
	CheckRealStart        = "livechatd-start"
	CheckRealAgentReply   = "livechatd-agent-reply"
	CheckRealReplay       = "livechatd-webhook-replay"
	CheckRealToken        = "livechatd-webhook-token"
	CheckRealNotesIgnored = "livechatd-notes-ignored"
	CheckRealEchoes       = "livechatd-echoes-ignored"
	CheckRealAgentClose   = "livechatd-agent-close"
)

var realChecks = []string{CheckRealStart, CheckRealAgentReply, CheckRealReplay, CheckRealToken, CheckRealNotesIgnored, CheckRealEchoes, CheckRealAgentClose}

// realBot is the bot the real-host checks configure in livechatd.
const realBot = "realhost"

// realHost is a livechatd process run for the suite, with the bot and the
// channel it talks to and a transparent recorder in front of its webhook
// endpoint (so that the suite can deliver a platform's webhook again).
type realHost struct {
	r      *suiteRun
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
	logs   *lockedBuffer
	url    string // http://127.0.0.1:port
	admin  string // admin token
	secret string // channel_secret
	token  string // webhook_token

	bot, channel, proxy *httptest.Server
	changed             Signal

	mu         sync.Mutex
	botValues  []string // values of the events the bot received
	deliveries []realDelivery
	seenIDs    map[string]bool
	badSigs    int
	hooks      []capturedWebhook
	answers    map[int]int // livechatd's answers to the platform's webhooks: status → count
}

// realDelivery is one message livechatd delivered to the channel.
type realDelivery struct {
	session, author, text string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// realHostChecks runs the webhook checks through a real livechatd.
func (r *suiteRun) realHostChecks() {
	if r.s.Livechatd == "" || r.s.Platform == nil {
		return
	}
	wp, ok := r.s.Platform.(WebhookPlatform)
	na := missing(!r.has(sdk.CapWebhook), "the plugin does not list the webhook capability") +
		missing(r.has(sdk.CapWebhook) && !ok, "the adapter is no WebhookPlatform (PointWebhooks, WaitDelivered)")
	if na != "" {
		for _, n := range realChecks {
			r.run(n, na, nil)
		}
		return
	}
	h := &realHost{r: r, seenIDs: map[string]bool{}, answers: map[int]int{}, done: make(chan struct{}), logs: &lockedBuffer{}}
	defer h.stop()
	var t Ticket
	r.run(CheckRealStart, "", func(c *check) {
		if err := h.start(wp); err != nil {
			c.fix("livechatd (%s) could not run the plugin: %v", r.s.Livechatd, err)
			return
		}
		var err error
		if t, err = h.openSession(); err != nil {
			c.fix("a session opened through livechatd's events API did not become active: %v; StartSession must return the ticket's reference%s", err, h.logTail())
		}
	})
	if t.Ref == "" {
		r.blocked(CheckRealStart, realChecks...)
		return
	}
	pf := r.s.Platform
	// reply makes the agent answer and waits until livechatd delivers it.
	reply := func(c *check, text string) (string, bool) {
		want, err := pf.AgentReply(t, text)
		if err != nil {
			c.fix("the adapter could not reply: %v", err)
			return "", false
		}
		if !h.wait(func() bool { return h.count(t.SessionID, sdk.AuthorAgent, want) > 0 }) {
			c.fix("the agent replied %q and livechatd delivered nothing with that text to the user of session %s (ticket %s): turn the platform's agent message into sdk.EventAgentMessage naming the session%s%s", want, t.SessionID, t.Ref, h.answered(), h.logTail())
			return "", false
		}
		return want, true
	}
	// marker is an agent reply after everything before it: deliveries to a
	// user are in order, so once it arrives, the earlier ones have too.
	seq := 0
	marker := func(c *check) bool {
		if err := wp.WaitDelivered(); err != nil {
			c.fix("the adapter could not wait for its webhooks: %v", err)
			return false
		}
		seq++
		_, ok := reply(c, fmt.Sprintf("Marker %d from the agent (livechatd).", seq))
		return ok
	}
	first := "Hello from the agent, through livechatd."
	r.run(CheckRealAgentReply, "", func(c *check) {
		want, ok := reply(c, first)
		if !ok || !marker(c) {
			return
		}
		if n := h.count(t.SessionID, sdk.AuthorAgent, want); n != 1 {
			c.fix("the agent replied %q once and livechatd delivered it %d times: give each platform message one Event.ID", want, n)
		}
		if bad := h.badSignatures(); bad > 0 {
			c.fix("%d deliveries came without a valid X-Livechat-Signature (a livechatd fault, not the plugin's)", bad)
		}
	})
	r.run(CheckRealReplay, "", func(c *check) {
		hooks := h.captured()
		if len(hooks) == 0 {
			c.fix("the platform sent livechatd no webhook: list the webhooks in Info.Webhooks and point them at the URL in the adapter's PointWebhooks")
			return
		}
		for _, hk := range hooks {
			status, err := h.resend(hk, nil)
			if err != nil || status >= 300 {
				c.fix("a webhook delivered again was answered %d by livechatd (%v): answer a redelivery as the first delivery", status, err)
				return
			}
		}
		if !marker(c) {
			return
		}
		if n := h.count(t.SessionID, sdk.AuthorAgent, first); n != 1 {
			c.fix("%d webhooks delivered again made livechatd deliver %q %d times: give an event the same Event.ID every time the platform delivers it", len(hooks), first, n)
		}
	})
	r.run(CheckRealToken, "", func(c *check) {
		hooks := h.captured()
		if len(hooks) == 0 {
			c.fix("no webhook arrived to try with a wrong token: see %s", CheckRealReplay)
			return
		}
		before := h.total()
		for _, tok := range []string{"wrong-token", ""} {
			if status, err := h.resend(hooks[len(hooks)-1], &tok); err != nil || status != http.StatusUnauthorized {
				c.fix("livechatd answered a webhook with token %q %d (%v), not 401", tok, status, err)
			}
		}
		if !marker(c) {
			return
		}
		if after := h.total(); after != before+1 {
			c.fix("webhooks with a wrong token made livechatd deliver %d messages besides the marker", after-before-1)
		}
	})
	np, _ := pf.(NotePlatform)
	r.run(CheckRealNotesIgnored, missing(np == nil, "the adapter is no NotePlatform (AgentNote)"), func(c *check) {
		note := "internal note the user must not see (livechatd)"
		if err := np.AgentNote(t, note); err != nil {
			c.fix("the adapter could not write a note: %v", err)
			return
		}
		if !marker(c) {
			return
		}
		if h.countAny(t.SessionID, note) > 0 {
			c.fix("livechatd delivered an agent's internal note to the user: leave private notes out of the events")
		}
	})
	r.run(CheckRealEchoes, "", func(c *check) {
		text := "a user message that must not come back (livechatd)"
		if err := h.event(map[string]any{"request_id": "realhost-echo", "client": map[string]any{"user_id": "realhost-user", "channel_id": "conformance"},
			"payload": map[string]any{"content_type": "text", "content": map[string]any{"text": text}}}, nil); err != nil {
			c.fix("livechatd refused the user's message: %v", err)
			return
		}
		if !h.poll(func() bool { got, err := pf.Received(t); return err == nil && slices.Contains(got.Messages, text) }) {
			c.fix("the user's message %q sent through livechatd never reached the platform: post each user message to the ticket%s", text, h.logTail())
			return
		}
		if !marker(c) {
			return
		}
		if n := h.countAny(t.SessionID, text); n > 0 {
			c.fix("livechatd delivered the user's own message %q back to the user %d time(s): ignore the platform's echo of what the plugin posted", text, n)
		}
	})
	r.run(CheckRealAgentClose, "", func(c *check) {
		if err := pf.AgentClose(t); err != nil {
			c.fix("the adapter could not close the ticket: %v", err)
			return
		}
		state, reason := "", ""
		if !h.poll(func() bool { state, reason = h.sessionState(t.SessionID); return state == "ended" }) {
			c.fix("an agent closed the ticket and livechatd still has session %s %s: turn the platform's close into sdk.EventSessionClosed naming the session%s", t.SessionID, state, h.logTail())
			return
		}
		if reason != string(sdk.EndAgent) {
			c.fix("an agent closed the ticket and livechatd ended session %s for %q, not %q", t.SessionID, reason, sdk.EndAgent)
		}
		if !h.wait(func() bool { return h.botGot("LIVECHAT_SESSION_END") }) {
			c.fix("livechatd ended session %s but never told the bot (LIVECHAT_SESSION_END)%s", t.SessionID, h.logTail())
		}
	})
}

// start writes a config with the plugin in plugin_dir, starts livechatd
// and points the platform's webhooks at it.
func (h *realHost) start(wp WebhookPlatform) error {
	r := h.r
	dir, err := os.MkdirTemp("", "sdktest-livechatd-")
	if err != nil {
		return err
	}
	h.dir = dir
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		return err
	}
	bin, err := os.ReadFile(r.s.Binary)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(plugins, filepath.Base(r.s.Binary)), bin, 0o755); err != nil {
		return err
	}
	h.admin, h.secret, h.token = randomHex(), randomHex(), randomHex()
	h.bot = httptest.NewServer(http.HandlerFunc(h.serveBot))
	h.channel = httptest.NewServer(http.HandlerFunc(h.serveChannel))
	h.proxy = httptest.NewServer(http.HandlerFunc(h.serveProxy))
	cfgBlock, err := hclBody(r.config(realBot))
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot %q {
  provider        = %q
  session_timeout = "30m"
  bot_url         = %q
  channel_url     = %q
  channel_secret  = %q
  webhook_token   = %q
  config {
%s  }
}
`, h.admin, realBot, r.name, h.bot.URL+"/events", h.channel.URL+"/deliver", h.secret, h.token, cfgBlock)
	config := filepath.Join(dir, "livechatd.hcl")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return err
	}
	h.cmd = exec.Command(r.s.Livechatd, "serve", "-config", config)
	h.cmd.Dir = dir
	h.cmd.Stderr = h.logs
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := h.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.done)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "livechatd listening on "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case h.url = <-addr:
	case <-h.done:
		return fmt.Errorf("livechatd exited before listening%s", h.logTail())
	case <-time.After(r.o.Timeout + 40*time.Second):
		return fmt.Errorf("livechatd did not listen%s", h.logTail())
	}
	// The platform's webhooks go through the recorder, which passes them
	// on to livechatd as they are.
	hook := h.proxy.URL + "/v1/livechat/" + r.name + "/receive?token=" + h.token
	if err := wp.PointWebhooks(realBot, hook); err != nil {
		return fmt.Errorf("the adapter could not point webhooks at livechatd: %v", err)
	}
	return nil
}

// stop stops livechatd (which stops its plugin) and its fakes.
func (h *realHost) stop() {
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.done:
		case <-time.After(30 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	}
	for _, s := range []*httptest.Server{h.proxy, h.channel, h.bot} {
		if s != nil {
			s.Close()
		}
	}
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}

func randomHex() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// hclBody writes a config block's attributes in HCL.
func hclBody(cfg sdk.Config) (string, error) {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, err := hclValue(cfg[k])
		if err != nil {
			return "", fmt.Errorf("config attribute %q: %v", k, err)
		}
		fmt.Fprintf(&b, "    %s = %s\n", k, v)
	}
	return b.String(), nil
}

func hclValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		// Go's quoting is HCL's, but for templates.
		return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(strconv.Quote(v)), nil
	case bool, int, int64, float64:
		return fmt.Sprint(v), nil
	case []string:
		var parts []string
		for _, s := range v {
			q, _ := hclValue(s)
			parts = append(parts, q)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []any:
		var parts []string
		for _, e := range v {
			q, err := hclValue(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, q)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	return "", fmt.Errorf("a %T cannot be written in the generated config", v)
}

// sign is X-Livechat-Signature for body at now (docs/events.md).
func sign(secret string, body []byte, now time.Time) string {
	t := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks a delivery's X-Livechat-Signature.
func verify(secret, header string, body []byte) bool {
	var t string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	want := sign(secret, body, time.Unix(ts, 0))
	_, wantV1, _ := strings.Cut(want, ",v1=")
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(wantV1)) {
			return true
		}
	}
	return false
}

// event posts a signed event for the bot; out, when not nil, gets the
// answer.
func (h *realHost) event(v any, out any) error {
	body, _ := json.Marshal(v)
	ctx, cancel := h.r.callCtx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/v1/bots/"+realBot+"/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Livechat-Signature", sign(h.secret, body, time.Now()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/bots/%s/events: %d %s", realBot, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// openSession starts a session as a channel does and waits until
// livechatd has its ticket.
func (h *realHost) openSession() (Ticket, error) {
	var ans struct {
		Livechat struct {
			SessionID string `json:"session_id"`
		} `json:"livechat"`
	}
	err := h.event(map[string]any{"request_id": "realhost-start",
		"client":   map[string]any{"user_id": "realhost-user", "channel_id": "conformance"},
		"metadata": map[string]any{"firstname": "Conformance", "lastname": "Tester", "email": "conformance@example.com", "plan": "conformance-gold"},
		"payload":  map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}}}, &ans)
	if err != nil {
		return Ticket{}, err
	}
	id := ans.Livechat.SessionID
	if id == "" {
		return Ticket{}, fmt.Errorf("livechatd's answer to LIVECHAT_SESSION_START names no session")
	}
	var s adminSession
	if !h.poll(func() bool { s = h.session(id); return s.State != "starting" && s.State != "" }) || s.State != "active" || s.ProviderRef == "" {
		return Ticket{}, fmt.Errorf("session %s is %q with ticket %q", id, s.State, s.ProviderRef)
	}
	return Ticket{Bot: realBot, SessionID: id, Ref: s.ProviderRef, h: h.r.host, s: h.r}, nil
}

type adminSession struct {
	State       string `json:"state"`
	EndReason   string `json:"end_reason"`
	ProviderRef string `json:"provider_ref"`
}

// session is the session as livechatd's admin API shows it.
func (h *realHost) session(id string) adminSession {
	var s adminSession
	req, err := http.NewRequest(http.MethodGet, h.url+"/v1/sessions/"+url.PathEscape(id), nil)
	if err != nil {
		return s
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return s
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&s)
	return s
}

func (h *realHost) sessionState(id string) (string, string) {
	s := h.session(id)
	return s.State, s.EndReason
}

// wait waits until cond holds, re-checking at every delivery, bot event
// or webhook.
func (h *realHost) wait(cond func() bool) bool {
	deadline := time.NewTimer(h.r.o.Timeout)
	defer deadline.Stop()
	for {
		next := h.changed.Changed()
		if cond() {
			return true
		}
		select {
		case <-next:
		case <-deadline.C:
			return cond()
		case <-h.done:
			return cond()
		}
	}
}

// poll waits until cond holds for state the suite is not told about (the
// admin API, the platform): re-checked at every change it sees and every
// 20 ms.
func (h *realHost) poll(cond func() bool) bool {
	deadline := time.NewTimer(h.r.o.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		next := h.changed.Changed()
		if cond() {
			return true
		}
		select {
		case <-next:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		case <-h.done:
			return cond()
		}
	}
}

func (h *realHost) serveBot(w http.ResponseWriter, req *http.Request) {
	var ev struct {
		RequestID string         `json:"request_id"`
		Client    map[string]any `json:"client"`
		Payload   struct {
			Content map[string]any `json:"content"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(req.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	value := ""
	for _, k := range []string{"text", "payload", "url"} {
		if s, ok := ev.Payload.Content[k].(string); ok {
			value = s
			break
		}
	}
	h.mu.Lock()
	h.botValues = append(h.botValues, value)
	h.mu.Unlock()
	h.changed.Notify()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"request_id": ev.RequestID, "client": ev.Client, "conversation_end": false,
		"messages": []any{map[string]any{"direction": "SEND", "interaction_order": 0,
			"payload": map[string]any{"content_type": "text", "content": map[string]any{"text": "bot: " + value}}}}})
}

func (h *realHost) botGot(value string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.botValues, value)
}

func (h *realHost) serveChannel(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("X-Livechat-Delivery")
	if id == "" || !verify(h.secret, req.Header.Get("X-Livechat-Signature"), body) {
		h.mu.Lock()
		h.badSigs++
		h.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var d struct {
		SessionID string `json:"session_id"`
		Messages  []struct {
			Payload struct {
				Content map[string]any `json:"content"`
			} `json:"payload"`
			Author struct {
				Type string `json:"type"`
			} `json:"author"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	if !h.seenIDs[id] {
		h.seenIDs[id] = true
		for _, m := range d.Messages {
			text, _ := m.Payload.Content["text"].(string)
			if text == "" {
				text, _ = m.Payload.Content["title"].(string)
			}
			h.deliveries = append(h.deliveries, realDelivery{session: d.SessionID, author: m.Author.Type, text: text})
		}
	}
	h.mu.Unlock()
	h.changed.Notify()
}

func (h *realHost) badSignatures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.badSigs
}

// count is how many messages by author with text reached the session's user.
func (h *realHost) count(session string, author sdk.AuthorType, text string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.deliveries {
		if d.session == session && d.author == string(author) && d.text == text {
			n++
		}
	}
	return n
}

// countAny is how many delivered messages of the session contain text.
func (h *realHost) countAny(session, text string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, d := range h.deliveries {
		if d.session == session && strings.Contains(d.text, text) {
			n++
		}
	}
	return n
}

func (h *realHost) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.deliveries)
}

// serveProxy passes a platform's webhook on to livechatd as it is, and
// keeps it.
func (h *realHost) serveProxy(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, sdk.MaxMessageSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := capturedWebhook{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, header: req.Header.Clone(), body: body}
	h.mu.Lock()
	h.hooks = append(h.hooks, c)
	h.mu.Unlock()
	defer h.changed.Notify()
	res, err := h.forward(req.Context(), c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	h.mu.Lock()
	h.answers[res.StatusCode]++
	h.mu.Unlock()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

func (h *realHost) forward(ctx context.Context, c capturedWebhook) (*http.Response, error) {
	u := h.url + c.path
	if c.query != "" {
		u += "?" + c.query
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, bytes.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	req.Header = c.header.Clone()
	return http.DefaultClient.Do(req)
}

func (h *realHost) captured() []capturedWebhook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedWebhook(nil), h.hooks...)
}

// resend delivers a captured webhook to livechatd again, its token
// replaced by tok when tok is not nil ("" removes it).
func (h *realHost) resend(c capturedWebhook, tok *string) (int, error) {
	if tok != nil {
		q, _ := url.ParseQuery(c.query)
		q.Del("token")
		if *tok != "" {
			q.Set("token", *tok)
		}
		c.query = q.Encode()
		c.header = c.header.Clone()
		c.header.Del("X-Livechat-Token")
	}
	ctx, cancel := h.r.callCtx()
	defer cancel()
	res, err := h.forward(ctx, c)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// answered says how livechatd answered the platform's webhooks.
func (h *realHost) answered() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.answers) == 0 {
		return "; the platform sent livechatd no webhook"
	}
	var parts []string
	for status, n := range h.answers {
		parts = append(parts, fmt.Sprintf("%d ×%d", status, n))
	}
	sort.Strings(parts)
	return "; livechatd answered the platform's webhooks " + strings.Join(parts, ", ")
}

// logTail is the end of livechatd's log for failure messages, the
// generated secrets masked.
func (h *realHost) logTail() string {
	out := h.logs.String()
	if out == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	s := strings.Join(lines, "\n  ")
	secrets := []string{h.admin, h.secret, h.token}
	cfg := h.r.config(realBot)
	for _, a := range h.r.current.Info.Schema.Attributes {
		if v, ok := cfg[a.Name].(string); ok && a.Sensitive {
			secrets = append(secrets, v)
		}
	}
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return "\n  livechatd's log ends:\n  " + s
}
