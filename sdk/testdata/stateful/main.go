// Command stateful is a provider that keeps plugin state with the host
// (sdk.StateOf), for the tests of the host's state service. It posts user
// messages to a platform without idempotency keys (POST to the bot's
// platform_url, which answers the new message's id) and remembers each
// post under "sent:<idempotency key>", so that a retry after a restart of
// the plugin posts nothing. Texts starting with "state " drive the state
// directly; the result is the SendResult's PlatformMessageID:
//
//	"state get BOT SESSION KEY"        the value, or "<absent>"
//	"state set BOT SESSION KEY VALUE"  "ok"
//	"state del BOT SESSION KEY"        "ok"
//	"state fill BOT SESSION KEY N"     sets KEY to N bytes, "ok"
//
// whatever bot and session the call was for (a plugin reaching into
// another bot's or provider's state). DescribeWebhooks builds the webhook
// from the bot's shop_domain. The plugin is named for its file
// (livechat-provider-NAME), so that one binary installed twice is two
// providers.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:    "stateful",
	Version: "0.0.1",
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "platform_url", Type: sdk.String},
		{Name: "shop_domain", Type: sdk.String, Default: "example.test"},
	}},
	Webhooks: []sdk.WebhookSetup{{Name: "static", Method: "POST", Instructions: "The same for every bot."}},
}

type provider struct {
	mu    sync.Mutex
	state sdk.StateStore
	urls  map[string]string
}

func (p *provider) Configure(_ context.Context, bot string, cfg sdk.Config, host sdk.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = sdk.StateOf(host)
	url, _ := cfg["platform_url"].(string)
	p.urls[bot] = url
	return nil
}

func (p *provider) StartSession(_ context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	return sdk.StartResult{Ref: "t-" + req.SessionID}, nil
}

func (p *provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	p.mu.Lock()
	st, url := p.state, p.urls[req.Bot]
	p.mu.Unlock()
	text := req.Message.PlainText()
	if f := strings.Fields(text); len(f) >= 5 && f[0] == "state" {
		out, err := command(ctx, st, f[1:])
		return sdk.SendResult{PlatformMessageID: out}, err
	}
	// Posted already, by this process or an earlier one?
	k := sdk.StateKey{Bot: req.Bot, SessionID: req.SessionID, Key: "sent:" + req.IdempotencyKey}
	if id, ok, err := st.GetState(ctx, k); err != nil || ok {
		return sdk.SendResult{PlatformMessageID: string(id)}, err
	}
	res, err := http.Post(url, "text/plain", strings.NewReader(text))
	if err != nil {
		return sdk.SendResult{}, sdk.Retryable(err, 0)
	}
	defer res.Body.Close()
	id, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return sdk.SendResult{}, sdk.Retryable(fmt.Errorf("post: %d %v", res.StatusCode, err), 0)
	}
	if err := st.SetState(ctx, k, bytes.TrimSpace(id)); err != nil {
		return sdk.SendResult{}, err
	}
	return sdk.SendResult{PlatformMessageID: string(bytes.TrimSpace(id))}, nil
}

func command(ctx context.Context, st sdk.StateStore, f []string) (string, error) {
	k := sdk.StateKey{Bot: f[1], SessionID: f[2], Key: f[3]}
	switch f[0] {
	case "get":
		v, ok, err := st.GetState(ctx, k)
		if !ok && err == nil {
			return "<absent>", nil
		}
		return string(v), err
	case "set":
		if len(f) < 5 {
			return "", sdk.Permanent(fmt.Errorf("state set needs a value"))
		}
		return "ok", st.SetState(ctx, k, []byte(f[4]))
	case "del":
		return "ok", st.DeleteState(ctx, k)
	case "fill":
		n, err := strconv.Atoi(f[4])
		if err != nil {
			return "", sdk.Permanent(err)
		}
		return "ok", st.SetState(ctx, k, bytes.Repeat([]byte("x"), n))
	}
	return "", sdk.Permanent(fmt.Errorf("unknown state command %q", f[0]))
}

func (p *provider) EndSession(context.Context, sdk.EndRequest) error { return nil }

func (p *provider) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{}, nil
}

func (p *provider) DescribeWebhooks(_ context.Context, bot string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	domain, _ := cfg["shop_domain"].(string)
	return []sdk.WebhookSetup{{
		Name:         "messages",
		Method:       "POST",
		Query:        "ticket_id={{ticket.id}}",
		Instructions: fmt.Sprintf("In https://%s/app/settings/http-integration, add an integration for bot %s.", domain, bot),
	}}, nil
}

func main() {
	if name, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "livechat-provider-"); ok {
		info.Name = name
	}
	sdk.Serve(info, &provider{urls: map[string]string{}})
}
