package intercom

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/livechatd/livechatd/sdk"
)

// FuzzParseWebhook feeds arbitrary bodies to the webhook parser and the
// event maker: they never panic, and every event they make has an id, a
// known type and a conversation id as its Ref.
func FuzzParseWebhook(f *testing.F) {
	seed, err := os.ReadFile("testdata/conversation_admin_replied.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(strings.Replace(string(seed), "conversation.admin.replied", "conversation.admin.closed", 1)))
	f.Add([]byte(`{"type":"notification_event","topic":"ping","data":{"item":{}}}`))
	f.Add([]byte(`{"type":"notification_event","topic":"conversation.admin.replied","data":{"item":{"id":"1","conversation_parts":{"conversation_parts":[{"id":"2","part_type":"comment","body":"<p>a<br>b &amp; <li>c</p>","author":{"type":"admin"}}]}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, cv, err := ParseNotification(body)
		if err != nil || cv == nil {
			return
		}
		if n.Topic != TopicAdminReplied && n.Topic != TopicAdminClosed {
			t.Fatalf("topic %q parsed", n.Topic)
		}
		_ = sessionOf(*cv)
		for _, e := range conversationEvents(*cv) {
			if e.ID == "" || e.Type != sdk.EventAgentMessage || e.Ref != cv.ID || !numeric.MatchString(e.Ref) {
				t.Fatalf("event %+v", e)
			}
			text := e.Message.PlainText()
			if text == "" || (utf8.Valid(body) && !utf8.ValidString(text)) {
				t.Fatalf("text %q", text)
			}
		}
	})
}

func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                                        "plain",
		"<p>Hi</p><p>there</p>":                        "Hi\nthere",
		"<p>a<br>b<br/>c</p>":                          "a\nb\nc",
		"<p>x &amp; y &lt;z&gt; &#39;q&#39;</p>":       "x & y <z> 'q'",
		"<ul><li>one</li><li>two</li></ul>":            "- one\n- two",
		"<p>a</p><p></p><p></p><p></p><p>b</p>":        "a\n\nb",
		"<p>Thanks</p><p>LIVECHAT_SESSION_END</p>":     "Thanks\nLIVECHAT_SESSION_END",
		"<a href=\"https://x.example\">link</a>&nbsp;": "link",
		"": "",
	} {
		if got := htmlText(in); got != want {
			t.Errorf("htmlText(%q) = %q, want %q", in, got, want)
		}
	}
}
