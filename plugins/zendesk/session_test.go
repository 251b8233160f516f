package zendesk

import (
	"strconv"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

func zdUserTexts(e *zdEnv, ticket int64) []string {
	tk, _ := e.zd.Ticket(ticket)
	var out []string
	for _, c := range e.zd.Comments(ticket) {
		if c.AuthorID == tk.RequesterID && c.Public {
			out = append(out, c.Body)
		}
	}
	return out
}

func TestZendeskSendOnce(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1", "waiting")
	ref := strconv.FormatInt(id, 10)
	for range 2 {
		if _, err := e.p.SendMessage(e.ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: sdk.Text("hello"), IdempotencyKey: "k1"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(zdUserTexts(e, id), "|"); got != "waiting|hello" {
		t.Errorf("user comments = %q, want waiting|hello", got)
	}
}
