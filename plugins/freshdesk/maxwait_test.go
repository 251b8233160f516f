package freshdesk_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// TestFreshdeskEndMaxWaitNote: an end for max_wait closes the ticket with a
// private note saying no agent answered in time.
func TestFreshdeskEndMaxWaitNote(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: fdBot, SessionID: "s1", Ref: strconv.FormatInt(id, 10), Reason: sdk.EndMaxWait, IdempotencyKey: "end-s1"}); err != nil {
		t.Fatal(err)
	}
	notes := 0
	for _, c := range f.Conversations(id) {
		if c.Private && strings.HasPrefix(c.BodyText, "No agent answered in time") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("%d max_wait notes, want 1: %+v", notes, f.Conversations(id))
	}
}
