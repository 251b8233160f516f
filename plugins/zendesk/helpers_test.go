package zendesk

import (
	"context"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/zendesk/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// zdEnv is a Provider configured for bot "shop" on a fake Zendesk, with a
// recording host that keeps plugin state.
type zdEnv struct {
	p    *Provider
	zd   *fake.Server
	host *sdktest.Host
	ctx  context.Context
}

func newZDEnv(t *testing.T, extra sdk.Config) *zdEnv {
	t.Helper()
	zd := fake.New(t, fake.Options{RetryWait: func(time.Duration) time.Duration { return time.Millisecond }})
	e := &zdEnv{p: New(Options{}), zd: zd, host: sdktest.NewHost(), ctx: context.Background()}
	cfg := sdk.Config{"base_url": zd.URL, "email": zd.Email(), "api_token": zd.Token(), "webhook_secret": zd.Secret(),
		"plan": "enterprise", "solve_on_end": true, "timestamp_tolerance": "5m"}
	for k, v := range extra {
		cfg[k] = v
	}
	if err := e.p.Configure(e.ctx, "shop", cfg, e.host); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return e
}

var zdJane = sdk.User{ID: "u1", Verified: true, Metadata: map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}}

// start opens a session with one waiting message.
func (e *zdEnv) start(t *testing.T, session string, waiting ...string) int64 {
	t.Helper()
	e.host.AddSession("shop", session)
	var msgs []sdk.Message
	for _, w := range waiting {
		m := sdk.Text(w)
		m.Author = sdk.Author{Type: sdk.AuthorUser}
		msgs = append(msgs, m)
	}
	hi := sdk.Text("help")
	hi.Author = sdk.Author{Type: sdk.AuthorUser}
	bot := sdk.Text("Do you want to talk to a human?")
	bot.Author = sdk.Author{Type: sdk.AuthorBot}
	res, err := e.p.StartSession(e.ctx, sdk.StartRequest{Bot: "shop", SessionID: session, User: zdJane,
		Transcript: []sdk.Message{hi, bot}, Messages: msgs, IdempotencyKey: "start-" + session})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	id, err := ticketID(res.Ref)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
