package chatwoot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// FuzzParseWebhook: whatever Chatwoot (or anyone holding the URL) sends,
// the parser does not panic, and every event it finds names a session and
// its conversation and is of a known type.
func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event":"message_created","id":"1","message_type":1,"private":"false","content":"x","conversation":{"id":"2","custom_attributes":"{\"livechat_session_id\":\"s\"}"}}`))
	f.Add([]byte(`{"event":"conversation_status_changed","id":1e300,"status":"resolved","custom_attributes":{"livechat_session_id":7}}`))
	f.Add([]byte(`{"event":"message_created","attachments":[{"file_type":null,"data_url":"x"}],"message_type":"outgoing","conversation":{"id":3,"custom_attributes":{"livechat_session_id":"s"}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := parseWebhook(body, scope{bot: "shop", account: 1, inbox: 1, delivery: "d"})
		if err != nil {
			return
		}
		for _, ev := range events {
			if ev.SessionID == "" || ev.Ref == "" || ev.ID == "" {
				t.Errorf("event without a session, ref or id: %+v", ev)
			}
			switch ev.Type {
			case sdk.EventAgentMessage:
				if ev.Message.ContentType == "" || ev.Message.Author.Type != sdk.AuthorAgent {
					t.Errorf("agent message %+v", ev.Message)
				}
			case sdk.EventSessionClosed:
			default:
				t.Errorf("event type %q", ev.Type)
			}
		}
	})
}

// FuzzVerify: the signature check never panics and never accepts a
// signature made with another secret.
func FuzzVerify(f *testing.F) {
	f.Add("sha256=00", "1741083330", []byte(`{}`))
	f.Add("", "", []byte(nil))
	f.Add("sha256=,,", "-9223372036854775808", []byte(`x`))
	now := time.Unix(1741083330, 0)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		h := map[string][]string{headerSignature: {sig}, headerTimestamp: {ts}}
		if verify(h, body, "the secret", now, 5*time.Minute) == nil {
			t.Errorf("accepted signature %q at %q without the secret", sig, ts)
		}
	})
}

// FuzzReadMessages: whatever a messages page of the API holds, reading it
// never panics, and every event it gives names the session and has an id
// (unique among one message's events), content and an agent author.
func FuzzReadMessages(f *testing.F) {
	f.Add([]byte(`{"payload":[{"id":5,"content":"hi","message_type":1,"private":false,"created_at":1768817730,"sender":{"id":3,"name":"Ann Agent","available_name":"Ann","type":"user"}}]}`))
	f.Add([]byte(`{"payload":[{"id":"6","content":"","message_type":"outgoing","attachments":[{"file_type":"image","data_url":"https://x/y.png"}]},{"id":7,"message_type":3,"content":"survey"}]}`))
	f.Add([]byte(`{"payload":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var page struct {
			Payload []chatMessage `json:"payload"`
		}
		if json.Unmarshal(body, &page) != nil {
			return
		}
		for _, m := range page.Payload {
			seen := map[string]bool{}
			for _, ev := range messageEvents(m, "s1", "7", "") {
				if ev.ID == "" || seen[ev.ID] || ev.SessionID != "s1" || ev.Ref != "7" || ev.Type != sdk.EventAgentMessage ||
					ev.Message.ContentType == "" || ev.Message.Author.Type != sdk.AuthorAgent {
					t.Errorf("event %+v", ev)
				}
				seen[ev.ID] = true
			}
		}
	})
}
