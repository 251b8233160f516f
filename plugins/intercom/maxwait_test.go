package intercom_test

import (
	"context"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestIntercomEndMaxWaitNote: an end for max_wait notes that no agent
// answered in time, then closes.
func TestIntercomEndMaxWaitNote(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	if err := w.p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndMaxWait, IdempotencyKey: "e"}); err != nil {
		t.Fatal(err)
	}
	cv, _ := w.ic.Conversation(ref)
	if len(cv.Parts) != 2 || cv.Parts[0].PartType != "note" || !strings.HasPrefix(fake.Text(cv.Parts[0].Body), "No agent answered in time") || cv.State != "closed" {
		t.Errorf("conversation %+v, want a note that no agent answered in time, then the close", cv)
	}
}
