package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/httpapi"
)

// deep returns a JSON object nested n levels deep under key "a", with a text
// at the bottom: {"a":{"a":...{"text":"hi"}}}.
func deep(n int) string {
	return strings.Repeat(`{"a":`, n) + `{"text":"hi"}` + strings.Repeat(`}`, n)
}

// The event of issue 10, point 4: 12 KB of content nested 6,000 deep was
// accepted, and the plugin call it caused blocked the session's queue for
// 90 minutes. It is refused at the door, naming the field.
func TestDeeplyNestedEventIsRefusedWithItsField(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) { b.InsecureEvents = true }))
	srv := httptest.NewServer((&httpapi.Server{Engine: h.eng, Store: h.db}).Handler())
	t.Cleanup(srv.Close)

	body := `{"client":{"user_id":"u1"},"payload":{"content_type":"text","content":{"text":"hi","x":` +
		strings.Repeat("[", 6000) + strings.Repeat("]", 6000) + `}}}`
	if len(body) < 12000 || len(body) > 12200 {
		t.Fatalf("the event is %d bytes; issue 10 used about 12 KB", len(body))
	}
	res, err := http.Post(srv.URL+"/v1/bots/shop/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		Error struct{ Code, Message, Field string }
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest || got.Error.Code != host.EINVALID {
		t.Fatalf("got %d %+v, want 400 invalid", res.StatusCode, got.Error)
	}
	if !strings.HasPrefix(got.Error.Field, "payload.content.x[0][0]") || len(got.Error.Field) > 200 {
		t.Errorf("field %q: want the path into the content, truncated", got.Error.Field)
	}
	if !strings.Contains(got.Error.Message, "32") {
		t.Errorf("message %q does not say the limit", got.Error.Message)
	}
	if n := len(h.provider.sent("u1")) + len(h.provider.startsOf("u1")); n != 0 {
		t.Errorf("the provider was called %d times", n)
	}
}

func TestEventBounds(t *testing.T) {
	h := newHarness(t)
	ev := func(f func(*engine.Event)) engine.Event {
		e := textEvent("u1", "", "hello")
		f(&e)
		return e
	}
	manyKeys := func(n int) map[string]any {
		m := map[string]any{"text": "hi"}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = i
		}
		return m
	}
	var nested any = "x"
	for range engine.MaxDepth {
		nested = map[string]any{"a": nested}
	}
	atLimit := map[string]any{"text": "hi"}
	// content is level 1: MaxDepth-1 more objects fit below it.
	var fits any = "x"
	for range engine.MaxDepth - 1 {
		fits = map[string]any{"a": fits}
	}
	atLimit["deep"] = fits
	tests := []struct {
		name  string
		ev    engine.Event
		field string // "" = accepted
	}{
		{"plain", ev(func(*engine.Event) {}), ""},
		{"nesting at the limit", ev(func(e *engine.Event) { e.Payload.Content = atLimit }), ""},
		{"nesting over the limit", ev(func(e *engine.Event) { e.Payload.Content = map[string]any{"text": "hi", "b": nested} }), "payload.content.b.a.a"},
		{"nested arrays", ev(func(e *engine.Event) {
			var v any = "x"
			for range engine.MaxDepth + 1 {
				v = []any{v}
			}
			e.Payload.Content["list"] = v
		}), "payload.content.list[0][0]"},
		{"text at the limit", ev(func(e *engine.Event) { e.Payload.Content["text"] = strings.Repeat("é", engine.MaxTextBytes/2) }), ""},
		{"text too long", ev(func(e *engine.Event) { e.Payload.Content["text"] = strings.Repeat("a", engine.MaxTextBytes+1) }), "payload.content.text"},
		{"other string too long", ev(func(e *engine.Event) { e.Payload.Content["title"] = strings.Repeat("a", engine.MaxTextBytes+1) }), "payload.content.title"},
		{"url too long", ev(func(e *engine.Event) {
			e.Payload = engine.Payload{ContentType: "image", Content: map[string]any{"url": "https://x/" + strings.Repeat("a", engine.MaxURLBytes)}}
		}), "payload.content.url"},
		{"too many content keys", ev(func(e *engine.Event) { e.Payload.Content = manyKeys(engine.MaxKeys) }), "payload.content"},
		{"long key", ev(func(e *engine.Event) { e.Payload.Content[strings.Repeat("k", engine.MaxKeyBytes+1)] = 1 }), "payload.content." + strings.Repeat("k", 32) + "…"},
		{"too many metadata keys", ev(func(e *engine.Event) { e.Metadata = manyKeys(engine.MaxKeys) }), "metadata"},
		{"metadata too large", ev(func(e *engine.Event) {
			e.Metadata = map[string]any{"a": strings.Repeat("a", engine.MaxMetadataBytes/2), "b": strings.Repeat("b", engine.MaxMetadataBytes/2)}
		}), "metadata"},
		{"metadata nested", ev(func(e *engine.Event) { e.Metadata = map[string]any{"m": nested} }), "metadata.m.a.a"},
		{"channel id too long", ev(func(e *engine.Event) { e.Client.ChannelID = strings.Repeat("c", 257) }), "client.channel_id"},
		{"bot id too long", ev(func(e *engine.Event) { e.Client.BotID = strings.Repeat("c", 257) }), "client.bot_id"},
		{"too many array items", ev(func(e *engine.Event) { e.Payload.Content["list"] = make([]any, engine.MaxKeys+1) }), "payload.content.list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.eng.HandleEvent(context.Background(), "shop", tt.ev)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if host.ErrorCode(err) != host.EINVALID {
				t.Fatalf("got %v, want invalid", err)
			}
			if f := host.ErrorField(err); !strings.HasPrefix(f, tt.field) || len(f) > 200 {
				t.Errorf("field %q, want %q…", f, tt.field)
			}
		})
	}
}

// Validation costs one pass over the event: a body of the largest size
// allowed, all of it in the content, is refused quickly without recursion
// beyond the limit.
func BenchmarkValidateDeep(b *testing.B) {
	var ev engine.Event
	body := `{"client":{"user_id":"u1"},"payload":{"content_type":"text","content":{"text":"hi","x":` + deep(9000) + `}}}`
	if err := json.NewDecoder(bytes.NewReader([]byte(body))).Decode(&ev); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := ev.Validate(); err == nil {
			b.Fatal("accepted")
		}
	}
}
