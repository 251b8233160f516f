package zendesk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

func zdFuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"zen:event-type:ticket.comment_added","subject":"zen:ticket:-1","detail":{"external_id":"livechat:shop:s:t"},"event":{"comment":{"id":1e3}}}`))
	f.Add([]byte(`{"type":"zen:event-type:ticket.status_changed","detail":{"id":"9223372036854775807","external_id":"livechat::x"},"event":{"current":"Solved"}}`))
	f.Add([]byte(`null`))
}

// FuzzParseWebhook: whatever reaches the webhook URL, the parser does not
// panic, and every event it finds is a known type naming the bot's session
// and a ticket, with an id of Zendesk's.
func FuzzParseWebhook(f *testing.F) {
	zdFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseWebhook("shop", body)
		if err != nil {
			return
		}
		for _, ev := range events {
			if ev.SessionID == "" || strings.Contains(ev.SessionID, ":") || ev.Ref == "" || ev.Ref[0] == '-' || ev.Ref == "0" {
				t.Errorf("event without a proper session or ref: %+v", ev)
			}
			switch ev.Type {
			case sdk.EventAgentMessage:
				if !strings.HasPrefix(ev.ID, "comment:") || ev.ID == "comment:0" || ev.Message.Author.Type != sdk.AuthorAgent {
					t.Errorf("agent message %+v", ev)
				}
			case sdk.EventSessionClosed:
				if ev.ID != "solved:"+ev.Ref {
					t.Errorf("close %+v", ev)
				}
			default:
				t.Errorf("event type %q", ev.Type)
			}
		}
	})
}

// FuzzHandleWebhook: a body signed with the bot's secret gives what the
// parser gives; the same body with a forged signature is refused and gives
// nothing.
func FuzzHandleWebhook(f *testing.F) {
	zdFuzzSeeds(f)
	now := time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC)
	p := New(Options{Now: func() time.Time { return now }})
	cfg := sdk.Config{"subdomain": "acme", "email": "ops@acme.com", "api_token": "tok", "webhook_secret": "whsec-fuzz", "solve_on_end": true}
	if err := p.Configure(context.Background(), "shop", cfg, nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, perr := parseWebhook("shop", body)
		res, err := p.HandleWebhook(context.Background(), zdSigned("whsec-fuzz", now, body))
		if (perr == nil) != (err == nil) || len(res.Events) != len(want) {
			t.Errorf("signed: %d events, %v; the parser: %d, %v", len(res.Events), err, len(want), perr)
		}
		res, err = p.HandleWebhook(context.Background(), zdSigned("forged", now, body))
		if sdk.KindOf(err) != sdk.KindUnauthorized || len(res.Events) != 0 {
			t.Errorf("forged: %+v, %v", res, err)
		}
	})
}
