package sdk_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/livechatd/livechatd/sdk"
)

// acme is a provider for an imaginary platform.
type acme struct {
	hosts map[string]sdk.Host
}

func (a *acme) Configure(_ context.Context, bot string, cfg sdk.Config, host sdk.Host) error {
	var c struct {
		APIKey string `json:"api_key"`
	}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Permanent(err)
	}
	a.hosts[bot] = host
	return nil
}

func (a *acme) StartSession(_ context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	// Open a ticket keyed by req.IdempotencyKey, so a retry finds it again.
	return sdk.StartResult{Ref: "ticket-" + req.SessionID}, nil
}

func (a *acme) SendMessage(_ context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	status := http.StatusTooManyRequests // what the platform answered
	if status == http.StatusTooManyRequests {
		return sdk.SendResult{}, sdk.RateLimited(fmt.Errorf("acme: 429"), 0)
	}
	return sdk.SendResult{}, nil
}

func (a *acme) EndSession(context.Context, sdk.EndRequest) error { return nil }

func (a *acme) HandleWebhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	msg := sdk.Text(req.QueryValue("text"))
	msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: req.QueryValue("agent")}
	return sdk.WebhookResult{Events: []sdk.Event{{
		ID:        req.QueryValue("event_id"),
		Type:      sdk.EventAgentMessage,
		SessionID: req.QueryValue("external_id"),
		Message:   msg,
	}}}, nil
}

// A complete provider plugin: an Info with the config schema, a Provider,
// and Serve in main.
func Example() {
	info := sdk.Info{
		Name:         "acme",
		Version:      "1.0.0",
		Capabilities: []sdk.Capability{sdk.CapWebhook},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "api_key", Type: sdk.String, Required: true, Sensitive: true},
			{Name: "close_on_end", Type: sdk.Bool, Default: true},
		}},
	}
	provider := &acme{hosts: map[string]sdk.Host{}}
	if false { // in a real plugin's main, unconditionally:
		sdk.Serve(info, provider)
	}
	fmt.Println(info.Name, len(info.Schema.Attributes))
	// Output: acme 2
}
