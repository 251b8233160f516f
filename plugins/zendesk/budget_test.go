package zendesk

import (
	"strconv"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// The API calls of one session's life, counted on the fake: what the
// plan's budget is spent on.
func TestZendeskCallBudget(t *testing.T) {
	e := newZDEnv(t, nil)
	calls := func() int { return len(e.zd.Requests()) }
	spent := func(what string, want int, f func()) {
		t.Helper()
		before := calls()
		f()
		got := calls() - before
		var paths []string
		for _, r := range e.zd.Requests()[before:] {
			paths = append(paths, r.Method+" "+r.Path)
		}
		t.Logf("%-32s %d calls: %s", what, got, strings.Join(paths, ", "))
		if got != want {
			t.Errorf("%s: %d calls, want %d", what, got, want)
		}
	}
	var id int64
	spent("start (no waiting message)", 3, func() { id = e.start(t, "s1") })
	ref := strconv.FormatInt(id, 10)
	spent("send", 1, func() {
		if _, err := e.send(t, "s1", id, "hello", "k1"); err != nil {
			t.Fatal(err)
		}
	})
	spent("send retried after success", 0, func() {
		if _, err := e.send(t, "s1", id, "hello", "k1"); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := e.zd.AgentReply(id, "Ann", "hi"); err != nil {
		t.Fatal(err)
	}
	spent("read back", 2, func() {
		if _, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref}); err != nil {
			t.Fatal(err)
		}
	})
	spent("end", 2, func() {
		if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndUser}); err != nil {
			t.Fatal(err)
		}
	})
	spent("end again (already solved)", 1, func() {
		if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndUser}); err != nil {
			t.Fatal(err)
		}
	})
}
