package pluginhost_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/sdk"
)

func statefulBinary(t *testing.T) string {
	return builds.Binary(t, "github.com/livechatd/livechatd/sdk/testdata/stateful")
}

func openStore(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func storedSession(t *testing.T, db *sqlite.DB, bot, provider, user string) string {
	t.Helper()
	s := &host.Session{Bot: bot, UserID: user, Provider: provider, ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.Tx(context.Background(), func(tx host.Tx) error { return tx.CreateSession(s) }); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// platform is a support platform without idempotency keys: every POST is
// a new message.
type platform struct {
	*httptest.Server
	posts atomic.Int64
}

func newPlatform(t *testing.T) *platform {
	p := &platform{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "msg-%d", p.posts.Add(1))
	}))
	t.Cleanup(p.Close)
	return p
}

// send runs one SendMessage through the plugin and returns the platform
// message id it answered.
func send(t *testing.T, p *pluginhost.Plugin, bot, session, key, text string) (string, error) {
	t.Helper()
	res, err := p.SendMessage(ctxT(t), sdk.SendRequest{Bot: bot, SessionID: session, IdempotencyKey: key, Message: sdk.Text(text)})
	return res.PlatformMessageID, err
}

// A plugin's state lives in the host's store, reached through the Host
// service: what a plugin process wrote is read back by the next process
// after a crash, and by a plugin of a new host on the same database. The
// stateful plugin remembers each post under its idempotency key, so a
// retry after either restart does not post twice on a platform without
// idempotency keys.
func TestPluginStateSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, statefulBinary(t), "stateful")
	path := filepath.Join(t.TempDir(), "livechat.db")
	db := openStore(t, path)
	session := storedSession(t, db, "shop", "stateful", "u1")
	plat := newPlatform(t)
	cfg := sdk.Config{"platform_url": plat.URL}

	m := start(t, pluginhost.Options{Dir: dir, HealthInterval: time.Hour})
	m.SetState(db)
	p, err := m.Plugin("stateful")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Configure(ctxT(t), "shop", cfg); err != nil {
		t.Fatal(err)
	}
	if id, err := send(t, p, "shop", session, "m1", "hello"); err != nil || id != "msg-1" {
		t.Fatalf("first send: %q, %v; want msg-1", id, err)
	}
	if id, err := send(t, p, "shop", session, "m1", "hello"); err != nil || id != "msg-1" || plat.posts.Load() != 1 {
		t.Fatalf("retry in the same process: %q, %v, %d posts; want msg-1 and one post", id, err, plat.posts.Load())
	}

	// The plugin process dies between the post and the host's retry.
	pid := p.Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctxT(t), func(s pluginhost.Status) bool {
		return s.State == pluginhost.StateReady && s.PID != 0 && s.PID != pid
	}); err != nil {
		t.Fatalf("no restart: %v (%+v)", err, p.Status())
	}
	if id, err := send(t, p, "shop", session, "m1", "hello"); err != nil || id != "msg-1" {
		t.Errorf("retry after the plugin restarted: %q, %v; want msg-1", id, err)
	}
	if n := plat.posts.Load(); n != 1 {
		t.Errorf("the platform got %d posts, want 1: the retry posted again", n)
	}

	// The host restarts: a new store on the same file, a new manager.
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.Close(closeCtx)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openStore(t, path)
	m2 := start(t, pluginhost.Options{Dir: dir, HealthInterval: time.Hour})
	m2.SetState(db2)
	p2, err := m2.Plugin("stateful")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Configure(ctxT(t), "shop", cfg); err != nil {
		t.Fatal(err)
	}
	if id, err := send(t, p2, "shop", session, "m1", "hello"); err != nil || id != "msg-1" {
		t.Errorf("retry after the host restarted: %q, %v; want msg-1", id, err)
	}
	if id, err := send(t, p2, "shop", session, "m2", "again"); err != nil || id != "msg-2" {
		t.Errorf("a new message: %q, %v; want msg-2", id, err)
	}
	if n := plat.posts.Load(); n != 2 {
		t.Errorf("the platform got %d posts, want 2", n)
	}
	if id, err := send(t, p2, "shop", session, "c", "state get shop "+session+" sent:m1"); err != nil || id != "msg-1" {
		t.Errorf("state get: %q, %v", id, err)
	}
}

// A plugin names the bot and session of each state key: it reaches only
// its own bots' sessions. Another provider's bot, a session of another bot
// (its own or not) and another provider's session are refused for good and
// logged with the plugin's name; an unknown session is NotFound; an
// oversized value is refused naming the field. Nothing of another plugin's
// state is read or changed.
func TestPluginStateConfined(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, statefulBinary(t), "stateful")
	install(t, dir, statefulBinary(t), "other")
	db := openStore(t, filepath.Join(t.TempDir(), "livechat.db"))
	shop := storedSession(t, db, "shop", "stateful", "u1")
	shop2 := storedSession(t, db, "shop2", "stateful", "u2")
	theirs := storedSession(t, db, "their-bot", "other", "u3")

	lg, logger := newLogs(t)
	m := start(t, pluginhost.Options{Dir: dir, Logger: logger, HealthInterval: time.Hour})
	m.SetState(db)
	mine, _ := m.Plugin("stateful")
	other, _ := m.Plugin("other")
	for _, c := range []struct {
		p   *pluginhost.Plugin
		bot string
	}{{mine, "shop"}, {mine, "shop2"}, {other, "their-bot"}} {
		if _, err := c.p.Configure(ctxT(t), c.bot, sdk.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := func(p *pluginhost.Plugin, bot, text string) (string, error) {
		t.Helper()
		return send(t, p, bot, "any", "k-"+text, text)
	}
	if out, err := cmd(other, "their-bot", "state set their-bot "+theirs+" k secret"); err != nil || out != "ok" {
		t.Fatalf("other setting its own state: %q, %v", out, err)
	}
	if out, err := cmd(mine, "shop", "state set shop "+shop+" k mine"); err != nil || out != "ok" {
		t.Fatalf("stateful setting its own state: %q, %v", out, err)
	}

	for _, tc := range []struct {
		name, text, want string
		kind             sdk.ErrorKind
	}{
		{"another provider's bot", "state get their-bot " + theirs + " k", `not configured for bot "their-bot"`, sdk.KindInvalid},
		{"another provider's bot, write", "state set their-bot " + theirs + " k stolen", `not configured for bot "their-bot"`, sdk.KindInvalid},
		{"another provider's session under its own bot", "state get shop " + theirs + " k", "is not a session of bot", sdk.KindInvalid},
		{"another provider's session, delete", "state del shop " + theirs + " k", "is not a session of bot", sdk.KindInvalid},
		{"its other bot's session", "state get shop " + shop2 + " k", "is not a session of bot", sdk.KindInvalid},
		{"a bot nobody configured", "state get nobody " + shop + " k", `not configured for bot "nobody"`, sdk.KindInvalid},
		{"an unknown session", "state set shop no-such-session k v", "no-such-session", sdk.KindNotFound},
		{"a value over the limit", fmt.Sprintf("state fill shop %s big %d", shop, sdk.MaxStateValue+1), "value: a plugin state value is at most 16384 bytes", sdk.KindInvalid},
		{"a key over the limit", "state set shop " + shop + " " + strings.Repeat("k", sdk.MaxStateKey+1) + " v", "key: a plugin state key is at most 256 bytes", sdk.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cmd(mine, "shop", tc.text)
			if err == nil || sdk.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q = %q, %v (kind %v); want a %v error saying %q", tc.text, out, err, sdk.KindOf(err), tc.kind, tc.want)
			}
		})
	}
	lg.waitFor(t, "plugin asked for the state of a session of another bot or provider; refused")
	lg.mu.Lock()
	for _, l := range lg.lines {
		if strings.Contains(l, "; refused") && strings.Contains(l, "state") && !strings.Contains(l, "plugin=stateful") {
			t.Errorf("the refusal does not name the plugin: %s", l)
		}
	}
	lg.mu.Unlock()

	// Nothing changed: each plugin reads its own value.
	if out, err := cmd(other, "their-bot", "state get their-bot "+theirs+" k"); err != nil || out != "secret" {
		t.Errorf("other's state after stateful's attempts: %q, %v; want secret", out, err)
	}
	if out, err := cmd(mine, "shop", "state get shop "+shop+" k"); err != nil || out != "mine" {
		t.Errorf("stateful's own state: %q, %v; want mine", out, err)
	}
	if out, err := cmd(mine, "shop", "state del shop "+shop+" k"); err != nil || out != "ok" {
		t.Errorf("delete: %q, %v", out, err)
	}
	if out, err := cmd(mine, "shop", "state get shop "+shop+" k"); err != nil || out != "<absent>" {
		t.Errorf("after delete: %q, %v; want <absent>", out, err)
	}
}

// Until the host sets its store, state calls are retryable: the plugin's
// call is retried once livechatd is up.
func TestPluginStateBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, statefulBinary(t), "stateful")
	m := start(t, pluginhost.Options{Dir: dir, HealthInterval: time.Hour})
	p, _ := m.Plugin("stateful")
	if _, err := p.Configure(ctxT(t), "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	_, err := send(t, p, "shop", "s", "k", "state get shop s k")
	if ok, _ := sdk.IsRetryable(err); err == nil || !ok {
		t.Errorf("state before SetState: %v (kind %v), want retryable", err, sdk.KindOf(err))
	}
}

// DescribeWebhooks builds the setup from the bot's config; a plugin that
// does not describe webhooks per bot gets its static Info.Webhooks.
func TestDescribeWebhooks(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, statefulBinary(t), "stateful")
	sdkInstall(t, dir)
	m := start(t, pluginhost.Options{Dir: dir, HealthInterval: time.Hour})
	p, _ := m.Plugin("stateful")
	hooks, err := p.DescribeWebhooks(ctxT(t), "shop", sdk.Config{"shop_domain": "acme.gorgias.com"})
	if err != nil || len(hooks) != 1 || !strings.Contains(hooks[0].Instructions, "https://acme.gorgias.com/app/settings") || !strings.Contains(hooks[0].Instructions, "bot shop") {
		t.Errorf("stateful's webhooks = %+v, %v; want built from shop_domain", hooks, err)
	}
	// The schema's default applies, as in Configure.
	hooks, err = p.DescribeWebhooks(ctxT(t), "shop", sdk.Config{})
	if err != nil || len(hooks) != 1 || !strings.Contains(hooks[0].Instructions, "https://example.test/") {
		t.Errorf("with the default: %+v, %v", hooks, err)
	}
	// A config the schema refuses is refused, naming the attribute.
	if _, err := p.DescribeWebhooks(ctxT(t), "shop", sdk.Config{"shop_domain": 3.0}); err == nil || !strings.Contains(err.Error(), "shop_domain") || sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("a bad config: %v, want a permanent error naming shop_domain", err)
	}
	echo, _ := m.Plugin("echo")
	hooks, err = echo.DescribeWebhooks(ctxT(t), "shop", echoConfig)
	if err != nil || len(hooks) != len(echo.Info().Webhooks) {
		t.Errorf("echo's webhooks = %+v, %v; want its Info.Webhooks %+v", hooks, err, echo.Info().Webhooks)
	}
}
