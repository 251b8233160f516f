package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDemoFlow(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	for _, tc := range []struct {
		payload map[string]any
		want    []string
	}{
		{map[string]any{"content_type": "text", "content": map[string]any{"text": "hi"}},
			[]string{"text:Hello Jane! I am the demo bot.", "question:Do you need some help from a human agent?"}},
		{map[string]any{"content_type": "text", "content": map[string]any{"text": "what?"}},
			[]string{"text:Please click on the button to confirm you need human assistance.", "question:Do you need some help from a human agent?"}},
		{map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_END"}},
			[]string{"text:Thanks for chatting with us today!"}},
		{map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_EXPIRED"}},
			[]string{"text:Your livechat session expired."}},
		{map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_NO_AGENT"}},
			[]string{"text:Our agents are all busy. Leave your email here and we will write to you."}},
		{map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_CLOSED_HOURS"}},
			[]string{"text:Our team is away right now. Leave your email here and we will write to you when we are back."}},
	} {
		body, _ := json.Marshal(map[string]any{"client": map[string]any{"user_id": "u1"}, "metadata": map[string]any{"firstname": "Jane"}, "payload": tc.payload})
		resp, err := http.Post(srv.URL+"/events", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var reply struct {
			Messages []struct {
				Payload struct {
					ContentType string         `json:"content_type"`
					Content     map[string]any `json:"content"`
				} `json:"payload"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var got []string
		for _, m := range reply.Messages {
			v, _ := m.Payload.Content["text"].(string)
			if v == "" {
				v, _ = m.Payload.Content["title"].(string)
			}
			got = append(got, m.Payload.ContentType+":"+v)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.payload, diff)
		}
	}
	// The offer's button sends the START payload.
	q := offer()["content"].(map[string]any)["buttons"].([]any)[0].(map[string]any)["content"].(map[string]any)
	if q["payload"] != "LIVECHAT_SESSION_START" || q["title"] != "Yes, talk to a human!" {
		t.Errorf("button = %v", q)
	}
}
