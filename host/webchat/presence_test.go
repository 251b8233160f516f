package webchat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// sse reads a stream's events: (event, data) pairs.
type sse struct {
	t  *testing.T
	br *bufio.Reader
}

func openSSE(t *testing.T, url string) *sse {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	return &sse{t: t, br: bufio.NewReader(resp.Body)}
}

// next returns the next event and its data, skipping comments and retry.
func (s *sse) next() (event, data string) {
	s.t.Helper()
	type ev struct{ event, data string }
	ch := make(chan ev, 1)
	go func() {
		var e ev
		for {
			line, err := s.br.ReadString('\n')
			if err != nil {
				ch <- ev{event: "error: " + err.Error()}
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && e.event != "":
				ch <- e
				return
			case strings.HasPrefix(line, "event: "):
				e.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				e.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case e := <-ch:
		return e.event, e.data
	case <-time.After(5 * time.Second):
		s.t.Fatal("no event within 5s")
		return "", ""
	}
}

// The agent's typing reaches the open chat windows as typing events, with
// the agent and the time left; it is never kept in the stream. A stop, or
// the agent's message, ends it.
func TestTypingIsShownNotKept(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c := webchat.New(db, map[string]string{"shop": "secret"}, nil, webchat.WithClock(clock.Now))
	srv := serve(t, c)
	ctx := context.Background()
	ann := &engine.Author{Type: "agent", Name: "Ann"}
	deliver := func(payload string) {
		t.Helper()
		if err := c.Deliver(ctx, "shop", "", engine.Delivery{Client: engine.Client{UserID: "u1"},
			Messages: []engine.OutMessage{{Payload: raw(payload), Author: ann}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Typing before the stream opens is sent when it opens, with the time left.
	deliver(`{"content_type":"typing","content":{"duration":3000}}`)
	clock.Advance(time.Second)
	s := openSSE(t, srv.URL+"/v1/bots/shop/users/u1/stream?token="+c.Token("shop", "u1"))
	event, data := s.next()
	if event != "typing" || !strings.Contains(data, `"name":"Ann"`) || !strings.Contains(data, `"duration":2000`) {
		t.Fatalf("first event = %s %s, want typing by Ann with 2000 ms left", event, data)
	}
	deliver(`{"content_type":"typing","content":{"duration":0}}`)
	if event, data := s.next(); event != "typing" || data != `{"duration":0}` {
		t.Fatalf("after a stop: %s %s", event, data)
	}
	deliver(`{"content_type":"typing","content":{"duration":600000}}`)
	if event, data := s.next(); event != "typing" || !strings.Contains(data, `"duration":30000`) {
		t.Fatalf("a long typing is cut to MaxTyping: %s %s", event, data)
	}
	deliver(`{"content_type":"text","content":{"text":"Here is your answer"}}`)
	var got []string
	for range 2 {
		event, data := s.next()
		got = append(got, event+" "+data)
	}
	if !strings.HasPrefix(got[0], "entry ") || !strings.Contains(got[0], "Here is your answer") || got[1] != `typing {"duration":0}` {
		t.Errorf("the agent's message, then the end of the typing; got %q", got)
	}
	entries, err := db.Stream(ctx, "shop", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || strings.Contains(string(entries[0].Entry), "typing") {
		t.Errorf("the stream keeps %d entries, want the message alone", len(entries))
	}
}

// Entries carry their time (the clock's) and the user's entries their
// request_id; the agent's carry their avatar_url; a user's typing event and
// read receipt are not kept; livechat events are.
func TestEntriesCarryTimeAndRequestID(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Date(2026, 11, 29, 16, 5, 0, 0, time.UTC)
	c := webchat.New(db, map[string]string{"shop": "secret"}, nil, webchat.WithClock(func() time.Time { return at }))
	ctx := context.Background()
	ev := engine.Event{RequestID: "r-1", Client: engine.Client{UserID: "u1"}, Payload: engine.Payload{ContentType: "text", Content: map[string]any{"text": "hi"}}}
	if err := c.RecordExchange(ctx, "shop", ev, engine.Reply{}); err != nil {
		t.Fatal(err)
	}
	typing := engine.Event{Client: engine.Client{UserID: "u1"}, Payload: engine.Payload{ContentType: "typing", Content: map[string]any{"duration": 5000}}}
	read := engine.Event{Client: engine.Client{UserID: "u1"}, Payload: engine.Payload{ContentType: "read", Content: map[string]any{}}}
	for _, ev := range []engine.Event{typing, read} {
		if err := c.RecordExchange(ctx, "shop", ev, engine.Reply{Messages: []engine.OutMessage{}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Deliver(ctx, "shop", "k1", engine.Delivery{Client: engine.Client{UserID: "u1"}, Messages: []engine.OutMessage{
		{Payload: raw(`{"content_type":"text","content":{"text":"Hi, I am Ann"}}`), Author: &engine.Author{Type: "agent", Name: "Ann", AvatarURL: "https://cdn.example.com/ann.png"}},
		{Payload: raw(`{"content_type":"livechat","content":{"event":"session_ended","reason":"agent"}}`), Author: &engine.Author{Type: "system"}},
	}}); err != nil {
		t.Fatal(err)
	}
	entries, err := db.Stream(ctx, "shop", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("stream has %d entries, want the user's text, the agent's and the livechat event", len(entries))
	}
	var user, agent, end webchat.Entry
	_ = json.Unmarshal(entries[0].Entry, &user)
	_ = json.Unmarshal(entries[1].Entry, &agent)
	_ = json.Unmarshal(entries[2].Entry, &end)
	if agent.Author == nil || agent.Author.Name != "Ann" || agent.Author.AvatarURL != "https://cdn.example.com/ann.png" {
		t.Errorf("agent entry = %s, want Ann with her avatar_url", entries[1].Entry)
	}
	if user.RequestID != "r-1" || !user.At.Equal(at) || user.Author.Type != "user" {
		t.Errorf("user entry = %s", entries[0].Entry)
	}
	if end.RequestID != "" || !end.At.Equal(at) || !strings.Contains(string(end.Payload), "session_ended") {
		t.Errorf("livechat entry = %s", entries[2].Entry)
	}
	if !strings.Contains(string(entries[0].Entry), `"at":"2026-11-29T16:05:00Z"`) {
		t.Errorf("at is not RFC 3339 in UTC: %s", entries[0].Entry)
	}
}
