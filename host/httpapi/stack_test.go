package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
	"github.com/prometheus/client_golang/prometheus"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// clock is the real time plus an offset tests move forward: expiry is
// tested without waiting, and retries still come due on their own.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

const (
	adminToken    = "admin-secret-token"
	webhookToken  = "shop-webhook-token"
	channelSecret = "shop-channel-secret"
)

// stack is livechatd in process: the HTTP API, the engine, SQLite, and the
// real plugin binaries; with a fake bot and a fake channel.
type stack struct {
	t       testing.TB
	url     string
	store   *sqlite.DB
	engine  *engine.Engine
	plugins *pluginhost.Manager
	clock   *clock
	bot     *fakes.Bot
	channel *fakes.Channel
	records string
	reg     *prometheus.Registry
	// client checks each exchange against docs/openapi.yaml.
	client *http.Client

	workMu   sync.Mutex
	done     map[string]int // outbox keys completed, and how often
	attempts map[string]int // outbox keys attempted, and how often
	workSig  chan struct{}
}

// onWork records outbox items done, for waitDone.
func (s *stack) onWork(it *host.OutboxItem, err error) {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	s.attempts[it.Key]++
	if err == nil {
		s.done[it.Key]++
	}
	close(s.workSig)
	s.workSig = make(chan struct{})
}

// waitDone waits until the outbox item with key has been done.
func (s *stack) waitDone(key string) {
	s.t.Helper()
	s.waitWork(key, s.done)
}

// waitAttempt waits until the outbox item with key has been tried.
func (s *stack) waitAttempt(key string) {
	s.t.Helper()
	s.waitWork(key, s.attempts)
}

func (s *stack) waitWork(key string, counts map[string]int) {
	s.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		s.workMu.Lock()
		n, sig := counts[key], s.workSig
		s.workMu.Unlock()
		if n > 0 {
			return
		}
		select {
		case <-sig:
		case <-deadline.C:
			s.t.Fatalf("outbox item %s not done within 30s; done: %v", key, s.done)
		}
	}
}

type stackOptions struct {
	provider string // echo (default) or recorder
	webchat  bool   // the bot "shop" uses the built-in webchat
	bots     func(b *engine.Bot)
	config   sdk.Config // overrides of the provider config
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	if o.provider == "" {
		o.provider = "echo"
	}
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.Mkdir(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/examples/echo-provider"), pluginDir, "echo")
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/host/internal/testplugin/recorder"), pluginDir, "recorder")

	s := &stack{t: t, clock: &clock{}, records: filepath.Join(dir, "records.jsonl"), done: map[string]int{}, attempts: map[string]int{}, workSig: make(chan struct{})}
	s.bot = fakes.NewBot(t)
	s.channel = fakes.NewChannel(t, channelSecret)
	log := hclog.New(&hclog.LoggerOptions{Name: "livechatd", Level: benchLogLevel, Output: testLog{t}})

	db, err := sqlite.Open(filepath.Join(dir, "livechat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Now = s.clock.Now
	s.store = db

	s.plugins = pluginhost.New(pluginhost.Options{Dir: pluginDir, Logger: log.Named("plugin")})
	ctx := context.Background()
	if err := s.plugins.Load(ctx); err != nil {
		t.Fatal(err)
	}
	bot := &engine.Bot{
		Name: "shop", Provider: o.provider, SessionTimeout: 30 * time.Minute, StartTimeout: 2 * time.Minute,
		ExpiredNotice: host.ExpiredNoticeImmediate, TranscriptSize: 20,
		BotURL: s.bot.URL(), ChannelURL: s.channel.URL(), ChannelSecret: channelSecret, WebhookToken: webhookToken,
		Messages: engine.Messages{Start: "Connecting you to an agent…", EndPrompt: "Thanks for chatting with us today! You can exit the livechat session by clicking the button below:",
			EndButton: "Quit livechat", Unavailable: "No agent is available right now."},
	}
	other := *bot
	other.Name, other.WebhookToken = "other", "other-webhook-token"
	if o.bots != nil {
		o.bots(bot)
	}
	var chat *webchat.Channel
	if o.webchat {
		bot.Webchat, bot.ChannelURL = true, ""
		chat = webchat.New(db, map[string]string{bot.Name: channelSecret}, log.Named("webchat"))
	}
	cfg := sdk.Config{"greeting": "Hello, I am Echo."}
	if o.provider == "recorder" {
		cfg = sdk.Config{"record_file": s.records}
	}
	for k, v := range o.config {
		cfg[k] = v
	}
	p, err := s.plugins.Plugin(o.provider)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{bot.Name, other.Name} {
		if diags, err := p.Configure(ctx, name, cfg); err != nil || diags.HasErrors() {
			t.Fatalf("configure %s: %v %v", name, diags, err)
		}
	}
	s.reg = prometheus.NewRegistry()
	s.engine = engine.New(db, engine.ProvidersFunc(func(name string) (engine.Provider, error) { return s.plugins.Plugin(name) }),
		[]*engine.Bot{bot, &other}, engine.Options{Logger: log.Named("engine"), Now: s.clock.Now, RetryBase: 5 * time.Millisecond,
			RetryMax: 50 * time.Millisecond, ExpiryInterval: time.Hour, Metrics: engine.NewMetrics(s.reg), OnWork: s.onWork, Webchat: chatChannel(chat),
			HTTPClient: outgoingClient(t)})
	engine.RegisterOutboxGauges(s.reg, db)
	s.plugins.SetHost(s.engine)
	s.engine.Run()
	srv := &httpapi.Server{Engine: s.engine, Store: db, Plugins: s.plugins, AdminToken: adminToken, Gatherer: s.reg, Logger: log.Named("http")}
	if chat != nil {
		srv.Webchat = chat
	}
	ts := httptest.NewServer(srv.Handler())
	s.url = ts.URL
	s.client = validatingClient(t, nil)
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.engine.Close(ctx)
		s.plugins.Close(ctx)
		db.Close()
	})
	return s
}

// benchLogLevel is the stack's log level: debug in tests, quieter in
// benchmarks.
var benchLogLevel = hclog.Debug

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// response is a decoded API answer.
type response struct {
	Status int
	Body   map[string]any
	Raw    string
}

func (r response) errorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) messages() []map[string]any {
	raw, _ := r.Body["messages"].([]any)
	var out []map[string]any
	for _, m := range raw {
		out = append(out, m.(map[string]any))
	}
	return out
}

// texts are the texts (or question titles) of the answer's messages.
func (r response) texts() []string {
	var out []string
	for _, m := range r.messages() {
		p, _ := m["payload"].(map[string]any)
		c, _ := p["content"].(map[string]any)
		for _, k := range []string{"text", "title"} {
			if s, ok := c[k].(string); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func (r response) livechat() (id, state string) {
	l, _ := r.Body["livechat"].(map[string]any)
	id, _ = l["session_id"].(string)
	state, _ = l["state"].(string)
	return id, state
}

// do sends a request as a well-behaved client: a POST of an event is
// signed as the bot's channel signs it (X-Livechat-Signature, with the
// stack's clock) unless header sets the signature itself. raw sends the
// request as it is.
func (s *stack) do(method, path string, body io.Reader, header map[string]string) response {
	s.t.Helper()
	if _, signed := header["X-Livechat-Signature"]; method == http.MethodPost && isEventsPath(path) && !signed {
		var b []byte
		if body != nil {
			var err error
			if b, err = io.ReadAll(body); err != nil {
				s.t.Fatal(err)
			}
		}
		h := map[string]string{"X-Livechat-Signature": engine.Signature(channelSecret, b, s.clock.Now())}
		for k, v := range header {
			h[k] = v
		}
		header, body = h, bytes.NewReader(b)
	}
	return s.raw(method, path, body, header)
}

// isEventsPath reports whether path is POST /v1/bots/{bot}/events's.
func isEventsPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1/bots/")
	bot, tail, _ := strings.Cut(rest, "/")
	return ok && bot != "" && tail == "events"
}

// raw sends a request with exactly the given body and headers.
func (s *stack) raw(method, path string, body io.Reader, header map[string]string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

func (s *stack) postJSON(path string, v any) response {
	s.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(http.MethodPost, path, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"})
}

// say sends a text event from user u.
func (s *stack) say(user, text string) response {
	s.t.Helper()
	return s.event(user, map[string]any{"content_type": "text", "content": map[string]any{"text": text}}, nil)
}

// click sends a payload event (a button click) from user u.
func (s *stack) click(user, payload string) response {
	s.t.Helper()
	return s.event(user, map[string]any{"content_type": "payload", "content": map[string]any{"payload": payload}}, nil)
}

func (s *stack) event(user string, payload map[string]any, metadata map[string]any) response {
	s.t.Helper()
	ev := map[string]any{"client": map[string]any{"user_id": user, "channel_id": "web"}, "payload": payload}
	if metadata != nil {
		ev["metadata"] = metadata
	}
	return s.postJSON("/v1/bots/shop/events", ev)
}

func (s *stack) admin(method, path string) response {
	s.t.Helper()
	return s.do(method, path, nil, map[string]string{"Authorization": "Bearer " + adminToken})
}

// records reads what the recorder plugin was called with.
func (s *stack) readRecords() []map[string]any {
	s.t.Helper()
	f, err := os.Open(s.records)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func (s *stack) recordsOf(call string) []map[string]any {
	var out []map[string]any
	for _, r := range s.readRecords() {
		if r["call"] == call {
			out = append(out, r)
		}
	}
	return out
}

func (s *stack) session(id string) map[string]any {
	s.t.Helper()
	r := s.admin(http.MethodGet, "/v1/sessions/"+id)
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET session %s: %d %s", id, r.Status, r.Raw)
	}
	return r.Body
}

func chatChannel(c *webchat.Channel) engine.Channel {
	if c == nil {
		return nil
	}
	return c
}
