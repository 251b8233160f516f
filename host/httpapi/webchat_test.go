package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sse reads a Server-Sent Events stream.
type sse struct {
	t      testing.TB
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

type sseEvent struct {
	ID    string
	Entry map[string]any
}

func (s *stack) openStream(user, token, lastID string) *sse {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/v1/bots/shop/users/"+user+"/stream?token="+token, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		s.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	st := &sse{t: s.t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	s.t.Cleanup(st.close)
	return st
}

func (st *sse) close() {
	st.cancel()
	st.resp.Body.Close()
}

// next reads n entries; a blocked read is the wait, bounded by the
// stream's context.
func (st *sse) next(n int) []sseEvent {
	st.t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := st.r.ReadString('\n')
		if err != nil {
			st.t.Fatalf("stream ended after %d entries: %v (%v)", len(out), err, out)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.Entry); err != nil {
				st.t.Fatal(err)
			}
		case line == "" && cur.Entry != nil:
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

// describe renders entries as "author: text" or "state: x".
func describe(es []sseEvent) []string {
	var out []string
	for _, e := range es {
		if e.Entry["type"] == "state" {
			out = append(out, "state: "+e.Entry["state"].(string))
			continue
		}
		a := e.Entry["author"].(map[string]any)
		c := e.Entry["payload"].(map[string]any)["content"].(map[string]any)
		v, _ := c["text"].(string)
		if v == "" {
			v, _ = c["payload"].(string)
		}
		if v == "" {
			v, _ = c["title"].(string)
		}
		out = append(out, a["type"].(string)+": "+v)
	}
	return out
}

func (s *stack) identity() (user, token string) {
	s.t.Helper()
	r := s.do(http.MethodPost, "/chat/shop/identity", nil, nil)
	if r.Status != 200 {
		s.t.Fatalf("identity: %d %s", r.Status, r.Raw)
	}
	return r.Body["user_id"].(string), r.Body["token"].(string)
}

func (s *stack) chat(user, token string, payload map[string]any) response {
	s.t.Helper()
	b, _ := json.Marshal(map[string]any{"client": map[string]any{"user_id": user, "channel_id": "webchat"},
		"metadata": map[string]any{"firstname": "Jane", "email": "jane@example.com"}, "payload": payload})
	return s.do(http.MethodPost, "/v1/bots/shop/events", bytes.NewReader(b), map[string]string{"X-Livechat-User-Token": token})
}

func TestWebchat(t *testing.T) {
	s := newStack(t, stackOptions{webchat: true})
	if r := s.do(http.MethodGet, "/chat/shop", nil, nil); r.Status != 200 || !strings.Contains(r.Raw, `data-bot="shop"`) {
		t.Fatalf("page: %d", r.Status)
	}
	for _, asset := range []string{"/chat/assets/chat.js", "/chat/assets/chat.css"} {
		if r := s.do(http.MethodGet, asset, nil, nil); r.Status != 200 {
			t.Errorf("%s: %d", asset, r.Status)
		}
	}
	// Files only: no listing of the assets (the page's template is among
	// them), and what is not a file is the API's JSON 404.
	for _, path := range []string{"/chat/assets/", "/chat/assets/nope.js", "/chat/assets/chat.html/x"} {
		if r := s.do(http.MethodGet, path, nil, nil); r.Status != 404 || strings.Contains(r.Raw, "chat.html") && path == "/chat/assets/" {
			t.Errorf("%s: %d %s, want a JSON 404", path, r.Status, r.Raw)
		}
	}
	if r := s.do(http.MethodGet, "/chat/nobot", nil, nil); r.Status != 404 {
		t.Errorf("page of an unknown bot: %d", r.Status)
	}
	user, token := s.identity()
	other, otherToken := s.identity()

	// Events need the user's own token.
	if r := s.chat(user, "", text("hi")); r.Status != 401 {
		t.Errorf("event without token: %d %s", r.Status, r.Raw)
	}
	if r := s.chat(user, otherToken, text("hi")); r.Status != 401 {
		t.Errorf("event with another user's token: %d %s", r.Status, r.Raw)
	}
	// A stream is readable with its own user's token only.
	if r := s.do(http.MethodGet, "/v1/bots/shop/users/"+user+"/stream?token="+otherToken, nil, nil); r.Status != 401 {
		t.Errorf("stream with another user's token: %d", r.Status)
	}

	stream := s.openStream(user, token, "")
	if r := s.chat(user, token, text("hello")); r.Status != 200 {
		t.Fatalf("hello: %d %s", r.Status, r.Raw)
	}
	got := describe(stream.next(2))
	if diff := cmp.Diff([]string{"user: hello", "bot: bot: hello"}, got); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	s.chat(user, token, map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}})
	got = describe(stream.next(4))
	want := []string{"user: LIVECHAT_SESSION_START", "state: starting", "system: Connecting you to an agent…", "agent: Hello, I am Echo."}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	s.chat(user, token, text("sign off"))
	entries := stream.next(2)
	if diff := cmp.Diff([]string{"user: sign off", "agent: Glad I could help!"}, describe(entries)); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	if p := entries[1].Entry["payload"].(map[string]any); p["content_type"] != "question" {
		t.Errorf("sign-off = %v", p)
	}
	lastSeen := entries[1].ID

	// A reload: a new connection from the start replays everything once;
	// with Last-Event-ID, only what came after.
	all := describe(s.openStream(user, token, "").next(8))
	if len(all) != 8 || all[0] != "user: hello" || all[7] != "agent: Glad I could help!" {
		t.Errorf("replay = %q", all)
	}
	s.chat(user, token, map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_END"}})
	after := describe(s.openStream(user, token, lastSeen).next(3))
	if diff := cmp.Diff([]string{"user: LIVECHAT_SESSION_END", "state: ended", "bot: Thanks for chatting with us today!"}, after); diff != "" {
		t.Errorf("after Last-Event-ID (-want +got):\n%s", diff)
	}
	// The other user's stream holds nothing of this.
	s.chat(other, otherToken, text("me too"))
	if got := describe(s.openStream(other, otherToken, "").next(2)); got[0] != "user: me too" {
		t.Errorf("other stream = %q", got)
	}
}

func text(s string) map[string]any {
	return map[string]any{"content_type": "text", "content": map[string]any{"text": s}}
}
