package sdk

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
)

func TestInfoRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
	}{
		{"zero", Info{}},
		{"full", Info{
			Name: "gorgias", Version: "1.2.3", Description: "Gorgias helpdesk",
			ProtocolVersions: []int{1, 2},
			Capabilities:     []Capability{CapWebhook, CapCloseTicket},
			RateLimit:        RateLimit{Calls: 40, Per: 20 * time.Second},
			Webhooks: []WebhookSetup{
				{Name: "messages", Method: "GET", Query: "ticket_id={{ticket.id}}", Triggers: []string{"ticket-message-created"}, Instructions: "Settings > HTTP"},
				{Name: "status", Method: "POST", Headers: map[string]string{"X-A": "b"}, Body: `{"id": "{{ticket.id}}"}`, Optional: true},
			},
			Schema: Schema{Attributes: []Attribute{
				{Name: "domain", Type: String, Description: "acme for acme.gorgias.com"},
				{Name: "api_key", Type: String, Required: true, Sensitive: true},
				{Name: "close_on_end", Type: Bool, Default: true},
				{Name: "tags", Type: ListOfString, Default: []any{"livechat"}},
				{Name: "headers", Type: MapOfString, Default: map[string]any{"X-A": "b"}},
				{Name: "timeout", Type: Duration, Default: "10s"},
				{Name: "max", Type: Number, Default: 3.5},
			}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := infoToProto(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := infoFromProto(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.in, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := infoFromProto(nil); err != nil {
		t.Errorf("nil info: %v", err)
	}
}

func TestInfoFromProtoUnknownType(t *testing.T) {
	_, err := infoFromProto(&livechatv1.InfoResponse{ConfigSchema: &livechatv1.ConfigSchema{
		Attributes: []*livechatv1.Attribute{{Name: "x", Type: livechatv1.AttributeType(42)}},
	}})
	if err == nil {
		t.Fatal("want an error for an unknown attribute type")
	}
}

func TestMessageRoundTrip(t *testing.T) {
	when := time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC)
	for _, tc := range []struct {
		name string
		in   Message
	}{
		{"zero", Message{}},
		{"text", Message{ID: "m1", ContentType: "text", Content: map[string]any{"text": "hi"},
			Author: Author{Type: AuthorUser}, Time: when}},
		{"question", Message{ContentType: "question", Content: map[string]any{
			"title": "Done?",
			"buttons": []any{map[string]any{"content_type": "button",
				"content": map[string]any{"title": "Quit livechat", "payload": "LIVECHAT_SESSION_END"}}},
		}, Author: Author{Type: AuthorAgent, Name: "Ann", ID: "42"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := messageToProto(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.in, messageFromProto(p)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(Message{}, messageFromProto(nil)); diff != "" {
		t.Errorf("nil message: %s", diff)
	}
}

func TestMessageToProtoRejectsNonJSON(t *testing.T) {
	_, err := messageToProto(Message{Content: map[string]any{"x": make(chan int)}})
	if err == nil {
		t.Fatal("want an error for content that is not JSON")
	}
}

func TestUserRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   User
		want User
	}{
		{"zero", User{}, User{}},
		{"full", User{ID: "u1", ChannelID: "web", Metadata: map[string]any{"email": "jane@example.com", "age": 42, "tags": []string{"vip"}}},
			User{ID: "u1", ChannelID: "web", Metadata: map[string]any{"email": "jane@example.com", "age": 42.0, "tags": []any{"vip"}}}},
		{"verified", User{ID: "u1", Verified: true, Metadata: map[string]any{"email": "jane@example.com"}},
			User{ID: "u1", Verified: true, Metadata: map[string]any{"email": "jane@example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := userToProto(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, userFromProto(p)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsRoundTrip(t *testing.T) {
	in := []Event{
		{ID: "e1", Type: EventAgentMessage, SessionID: "s1", Ref: "123", Message: Message{ContentType: "text", Content: map[string]any{"text": "hello"}, Author: Author{Type: AuthorAgent, Name: "Ann"}}},
		{ID: "e2", Type: EventSessionClosed, Ref: "123"},
	}
	p, err := eventsToProto(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, eventsFromProto(p)); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := eventsFromProto(nil); got != nil {
		t.Errorf("nil events = %v", got)
	}
}

func TestEventsToProtoRequiresID(t *testing.T) {
	in := []Event{
		{ID: "e1", Type: EventAgentMessage, SessionID: "s1", Message: Text("first")},
		{Type: EventAgentMessage, SessionID: "s1", Ref: "123", Message: Text("second")},
	}
	_, err := eventsToProto(in)
	if err == nil || !strings.Contains(err.Error(), "event 2 of 2") || !strings.Contains(err.Error(), "Event.ID is empty") {
		t.Errorf("err = %v, want event 2 refused for its empty Event.ID", err)
	}
	if p, err := eventsToProto(nil); err != nil || p != nil {
		t.Errorf("no events = %v, %v", p, err)
	}
}

func TestDiagnosticsRoundTrip(t *testing.T) {
	in := Diagnostics{
		{Severity: SeverityError, Summary: "bad", Detail: "very", Attribute: "api_key"},
		{Severity: SeverityWarning, Summary: "meh"},
	}
	if diff := cmp.Diff(in, diagnosticsFromProto(diagnosticsToProto(in))); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// An unknown severity from a newer peer is an error, never ignored.
	got := diagnosticsFromProto([]*livechatv1.Diagnostic{{Summary: "x"}})
	if !got.HasErrors() {
		t.Errorf("unspecified severity = %+v, want an error", got)
	}
}

func TestValuesAndEnums(t *testing.T) {
	in := map[string][]string{"a": {"1", "2"}, "b": nil}
	if diff := cmp.Diff(map[string][]string{"a": {"1", "2"}, "b": nil}, valuesFromProto(valuesToProto(in))); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if valuesToProto(nil) != nil || valuesFromProto(nil) != nil {
		t.Error("nil values must stay nil")
	}
	for _, r := range []EndReason{EndUser, EndAgent, EndExpired, EndAdmin} {
		if got := endReasonFromProto(endReasonToProto(r)); got != r {
			t.Errorf("end reason %q came back as %q", r, got)
		}
	}
	if len(attributeTypes) != len(attributeTypesFrom) || len(authorTypes) != len(authorTypesFrom) {
		t.Error("an enum map has two Go values for one wire value")
	}
}

func TestConfigJSON(t *testing.T) {
	b, err := configToJSON(nil)
	if err != nil || string(b) != "{}" {
		t.Errorf("nil config = %s, %v", b, err)
	}
	c, err := configFromJSON([]byte(`{"a": "b", "n": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Config{"a": "b", "n": 2.0}, c); diff != "" {
		t.Error(diff)
	}
	if _, err := configFromJSON([]byte(`[1]`)); err == nil {
		t.Error("a JSON array is not a config")
	}
}

func TestStateKeyRoundTrip(t *testing.T) {
	for _, k := range []StateKey{{}, {Bot: "shop", SessionID: "s1", Key: "sent:m1"}} {
		if got := stateKeyFromProto(stateKeyToProto(k)); got != k {
			t.Errorf("round trip of %+v = %+v", k, got)
		}
	}
	if got := stateKeyFromProto(nil); got != (StateKey{}) {
		t.Errorf("nil key = %+v", got)
	}
	if got := webhooksFromProto(webhooksToProto(nil)); got != nil {
		t.Errorf("nil webhooks = %+v", got)
	}
}
