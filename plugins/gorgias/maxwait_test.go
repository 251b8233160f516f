package gorgias

import (
	"context"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// TestEndMaxWaitNote: an end for max_wait adds an internal note saying no
// agent answered in time (once, however often retried), then closes.
func TestEndMaxWaitNote(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, nil)
	ref := start(t, p, "s1", sdk.User{ID: "u1"})
	for range 2 {
		if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndMaxWait}); err != nil {
			t.Fatal(err)
		}
	}
	tid := mustRef(t, ref)
	var notes []string
	for _, m := range f.messagesOf(tid) {
		if m["channel"] == "internal-note" {
			notes = append(notes, str(m["body_text"]))
		}
	}
	if f.ticketStatus(tid) != "closed" || len(notes) != 1 || !strings.HasPrefix(notes[0], "No agent answered in time") {
		t.Errorf("status %q, notes %q", f.ticketStatus(tid), notes)
	}
}
