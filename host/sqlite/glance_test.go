package sqlite_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/livechatd/livechatd/host"
)

// Glance answers in one read what the engine needs to know before an
// event: the request's record, a pending notice, the open session.
func TestGlance(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	glance := func(user, req string) host.Glance {
		t.Helper()
		g, err := db.Glance(ctx, "shop", user, req)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := glance("nobody", "r1"); g.Request != nil || g.NoticePending || g.OpenSession != "" {
		t.Errorf("a stranger: %+v, want nothing", g)
	}

	// An expired session whose notice is pending, then a new open one.
	old := createSession(t, db, newSession("u"))
	mustTx(t, db, func(tx host.Tx) error {
		old.State, old.EndReason, old.NoticePending = host.SessionExpired, host.EndExpired, true
		return tx.UpdateSession(old)
	})
	if g := glance("u", ""); !g.NoticePending || g.OpenSession != "" || g.Request != nil {
		t.Errorf("after the expiry: %+v, want the notice pending and no open session", g)
	}
	open := createSession(t, db, newSession("u"))
	mustTx(t, db, func(tx host.Tx) error {
		return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u", ID: "r1", BodyHash: "h1", Response: json.RawMessage(`{"messages": []}`)})
	})
	g := glance("u", "r1")
	if !g.NoticePending || g.OpenSession != open.ID {
		t.Errorf("with an open session: %+v, want the notice pending and session %s", g, open.ID)
	}
	if g.Request == nil || g.Request.BodyHash != "h1" || string(g.Request.Response) != `{"messages": []}` || g.Request.ID != "r1" {
		t.Errorf("the request's record: %+v", g.Request)
	}
	// Requests are per user and per bot; "" asks for none.
	if g := glance("v", "r1"); g.Request != nil {
		t.Errorf("another user's request r1 was found: %+v", g.Request)
	}
	if g, _ := db.Glance(ctx, "other", "u", "r1"); g.Request != nil || g.OpenSession != "" || g.NoticePending {
		t.Errorf("another bot: %+v, want nothing", g)
	}
	if g := glance("u", ""); g.Request != nil {
		t.Errorf("no request asked, one found: %+v", g.Request)
	}
	mustTx(t, db, func(tx host.Tx) error {
		old.NoticePending = false
		return tx.UpdateSession(old)
	})
	if g := glance("u", ""); g.NoticePending || g.OpenSession != open.ID {
		t.Errorf("once told: %+v, want no notice pending", g)
	}
}
