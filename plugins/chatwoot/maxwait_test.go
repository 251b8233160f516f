package chatwoot_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestEndMaxWaitNote: a session ended because no agent answered within
// max_wait leaves a note saying so, not that the customer left.
func TestEndMaxWaitNote(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	if err := e.p.EndSession(ctx, sdk.EndRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Reason: sdk.EndMaxWait, IdempotencyKey: "end:s"}); err != nil {
		t.Fatal(err)
	}
	e.f.WaitStatus(t, conv, "resolved")
	notes := messagesOf(e.f, conv, "outgoing", true)
	if len(notes) != 2 || !strings.HasPrefix(notes[1].Content, "No agent answered in time") || strings.Contains(notes[1].Content, "customer left") {
		t.Errorf("notes = %+v, want the transcript and one saying no agent answered in time", notes)
	}
}
