package zendesk

import (
	"strconv"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// TestZendeskEndMaxWaitNote: an end for max_wait solves the ticket with a
// private comment saying no agent answered in time.
func TestZendeskEndMaxWaitNote(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: strconv.FormatInt(id, 10), Reason: sdk.EndMaxWait, IdempotencyKey: "end"}); err != nil {
		t.Fatal(err)
	}
	tk, _ := e.zd.Ticket(id)
	cs := e.zd.Comments(id)
	if last := cs[len(cs)-1]; tk.Status != "solved" || last.Public || !strings.HasPrefix(last.Body, "No agent answered in time") {
		t.Errorf("ticket %s, last comment %+v", tk.Status, last)
	}
}
