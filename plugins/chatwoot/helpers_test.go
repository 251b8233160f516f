package chatwoot_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// binary builds the plugin and installs it, named as livechatd wants it.
func binary(t *testing.T) string {
	return sdktest.Install(t, builds.Binary(t, "./cmd/livechat-provider-chatwoot"), t.TempDir(), "chatwoot")
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 4, 10, 15, 30, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}

var ctx = context.Background()

// config is a valid config for f, with the schema's defaults, changed by
// kv pairs (a nil value removes the key).
func config(t *testing.T, f *fake.Server, kv ...any) sdk.Config {
	t.Helper()
	cfg := sdk.Config{"base_url": f.URL, "account_id": "1", "api_access_token": f.Token()}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(cfg, kv[i].(string))
			continue
		}
		cfg[kv[i].(string)] = kv[i+1]
	}
	cfg = chatwoot.Info.Schema.WithDefaults(cfg)
	if diags := chatwoot.Info.Schema.Validate(cfg); diags.HasErrors() {
		t.Fatalf("config %v: %v", cfg, diags.Err())
	}
	return cfg
}

// env is a provider in this process, configured for bot "shop" against a
// fake Chatwoot.
type env struct {
	f   *fake.Server
	p   *chatwoot.Provider
	clk *clock
}

func newEnv(t *testing.T, fopts fake.Options, kv ...any) *env {
	t.Helper()
	e := &env{f: fake.New(t, fopts), clk: newClock()}
	e.p = chatwoot.New(chatwoot.Options{Now: e.clk.Now, Logger: nopLogger{}})
	if err := e.p.Configure(ctx, "shop", config(t, e.f, kv...), nil); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return e
}

// jane is a user the channel vouches for (Verified): her email and phone
// are matched against Chatwoot's contacts.
var jane = sdk.User{ID: "u1", ChannelID: "web", Verified: true, Metadata: map[string]any{
	"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold", "phone": "+33612345678",
}}

var transcript = []sdk.Message{
	{ContentType: "text", Content: map[string]any{"text": "help"}, Author: sdk.Author{Type: sdk.AuthorUser}},
	{ContentType: "question", Content: map[string]any{"title": "Do you need some help from a human agent?", "buttons": []any{
		map[string]any{"content_type": "button", "content": map[string]any{"title": "Yes, talk to a human!", "payload": "LIVECHAT_SESSION_START"}},
	}}, Author: sdk.Author{Type: sdk.AuthorBot}},
}

// start opens a session for user and returns its conversation id.
func (e *env) start(t *testing.T, session string, user sdk.User) int64 {
	t.Helper()
	res, err := e.p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: session, User: user, Transcript: transcript, IdempotencyKey: "start:" + session})
	if err != nil {
		t.Fatalf("start %s: %v", session, err)
	}
	for _, cv := range e.f.Conversations() {
		if cv.CustomAttributes["livechat_session_id"] == session {
			if res.Ref != itoa(cv.ID) {
				t.Fatalf("ref = %q, want conversation %d", res.Ref, cv.ID)
			}
			return cv.ID
		}
	}
	t.Fatalf("no conversation for session %s", session)
	return 0
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// messagesOf are a conversation's messages of type mt.
func messagesOf(f *fake.Server, conv int64, mt string, private bool) []fake.Message {
	var out []fake.Message
	for _, m := range f.Messages(conv) {
		if m.MessageType == mt && m.Private == private {
			out = append(out, m)
		}
	}
	return out
}

// kind checks an error's classification.
func kind(t *testing.T, err error, want sdk.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", want)
	}
	if got := sdk.KindOf(err); got != want {
		t.Fatalf("error %q is %s, want %s", err, got, want)
	}
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q is not an *sdk.Error", err)
	}
}
