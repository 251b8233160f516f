package zendesk

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

func TestZendeskValidateConfig(t *testing.T) {
	good := sdk.Config{"subdomain": "acme", "email": "ops@acme.com", "api_token": "t", "webhook_secret": "s", "plan": "growth"}
	if d := (&Provider{}).ValidateConfig(context.Background(), "shop", good); len(d) != 0 {
		t.Errorf("good config: %v", d)
	}
	for _, tc := range []struct {
		change sdk.Config
		attr   string
	}{
		{sdk.Config{"subdomain": "Acme.zendesk.com"}, "subdomain"},
		{sdk.Config{"base_url": "https://support.acme.com"}, "base_url"},
		{sdk.Config{"subdomain": nil}, "subdomain"},
		{sdk.Config{"subdomain": nil, "base_url": "https://ops:pw@acme.example"}, "base_url"},
		{sdk.Config{"email": "ops@acme.com/token"}, "email"},
		{sdk.Config{"email": "ops"}, "email"},
		{sdk.Config{"api_token": " "}, "api_token"},
		{sdk.Config{"webhook_secret": ""}, "webhook_secret"},
		{sdk.Config{"plan": "gold"}, "plan"},
		{sdk.Config{"timestamp_tolerance": "-1m"}, "timestamp_tolerance"},
		{sdk.Config{"user_fields": map[string]any{"plan": ""}}, "user_fields"},
	} {
		cfg := sdk.Config{}
		for k, v := range good {
			cfg[k] = v
		}
		for k, v := range tc.change {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		d := New(Options{}).ValidateConfig(context.Background(), "shop", cfg)
		if len(d) == 0 || d[0].Attribute != tc.attr {
			t.Errorf("%v: diagnostics %v, want one on %s", tc.change, d, tc.attr)
		}
		if err := New(Options{}).Configure(context.Background(), "shop", cfg, nil); err == nil || sdk.KindOf(err) != sdk.KindInvalid {
			t.Errorf("%v: Configure %v, want a permanent refusal", tc.change, err)
		}
	}
}

func TestZendeskInfo(t *testing.T) {
	if Info.Name != "zendesk" || Info.RateLimit.Calls != planLimits["team"] || len(Info.Schema.ExactlyOneOf) != 1 {
		t.Errorf("info = %+v", Info)
	}
	for _, a := range Info.Schema.Attributes {
		if (a.Name == "api_token" || a.Name == "webhook_secret") != a.Sensitive {
			t.Errorf("%s: sensitive %v", a.Name, a.Sensitive)
		}
	}
	setup, err := New(Options{}).DescribeWebhooks(context.Background(), "shop", sdk.Config{"subdomain": "acme"})
	if err != nil || len(setup) != 1 || setup[0].Method != http.MethodPost ||
		strings.Join(setup[0].Triggers, ",") != EventCommentAdded+","+EventStatusChanged ||
		!strings.Contains(setup[0].Instructions, EventAgentAssignmentChanged) ||
		!strings.Contains(setup[0].Instructions, "https://acme.zendesk.com/admin/apps-integrations/webhooks") {
		t.Errorf("webhooks = %+v, %v", setup, err)
	}
}

func TestZendeskExternalID(t *testing.T) {
	for _, tc := range []struct{ in, bot, session string }{
		{externalID("shop", "S1"), "shop", "S1"},
		{externalID("a:b", "S1"), "a:b", "S1"},
		{"livechat:shop:", "", ""},
		{"livechat::S", "", ""},
		{"order-123", "", ""},
		{"", "", ""},
	} {
		bot, session, ok := parseExternalID(tc.in)
		if bot != tc.bot || session != tc.session || ok != (tc.bot != "") {
			t.Errorf("%q: %q %q %v", tc.in, bot, session, ok)
		}
	}
}
