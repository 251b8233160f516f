package engine

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseBotReply reads whatever a bot answers at bot_url. It never
// panics; the host's own "livechat" key never comes from a bot; and an
// accepted reply is written out as it was read: parsed again, it writes
// the same bytes.
func FuzzParseBotReply(f *testing.F) {
	f.Add([]byte(`{"messages": [{"payload": {"content_type": "text", "content": {"text": "hi"}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseBotReply(body)
		if err != nil {
			return
		}
		if r.Livechat != nil || r.Extra["livechat"] != nil || r.Extra["messages"] != nil {
			t.Fatalf("reply %q keeps livechat or messages out of place: %+v", body, r)
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted %q, but it does not marshal: %v", body, err)
		}
		r2, err := parseBotReply(out)
		if err != nil {
			t.Fatalf("accepted %q, but not its own output %q: %v", body, out, err)
		}
		out2, err := json.Marshal(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("the reply changed in a round trip:\n%s\n%s", out, out2)
		}
	})
}
