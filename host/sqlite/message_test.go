package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

func TestMessagesAndTranscript(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)
	appendMsg := func(user, session string, dir host.Direction, author host.Author, text string) *host.Message {
		t.Helper()
		m := &host.Message{Bot: "shop", UserID: user, SessionID: session, Direction: dir, Author: author, Payload: payload(text)}
		if author == host.AuthorAgent {
			m.AuthorName = "Alex"
		}
		mustTx(t, db, func(tx host.Tx) error { return tx.AppendMessage(m) })
		return m
	}
	// Before the handoff: bot exchanges, no session. Same millisecond on
	// purpose: order is insertion order, not time.
	pre := []*host.Message{
		appendMsg("u1", "", host.DirectionIn, host.AuthorUser, "hi"),
		appendMsg("u1", "", host.DirectionOut, host.AuthorBot, "hello, how can I help?"),
		appendMsg("u1", "", host.DirectionIn, host.AuthorUser, "a human please"),
	}
	appendMsg("u2", "", host.DirectionIn, host.AuthorUser, "another user")
	clk.Add(time.Second)
	s := createSession(t, db, newSession("u1"))
	in := []*host.Message{
		appendMsg("u1", s.ID, host.DirectionOut, host.AuthorSystem, "Connecting you to an agent…"),
		appendMsg("u1", s.ID, host.DirectionOut, host.AuthorAgent, "Hi, I'm Alex"),
		appendMsg("u1", s.ID, host.DirectionIn, host.AuthorUser, "my order is late"),
	}
	if in[0].ID == "" || !in[0].CreatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("AppendMessage did not fill ID and time: %+v", in[0])
	}

	got, err := db.Messages(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("Messages (-want +got):\n%s", diff)
	}
	all := append(append([]*host.Message{}, pre...), in...)
	for _, limit := range []int{1, 4, 6, 100} {
		got, err := db.Transcript(ctx, "shop", "u1", limit)
		if err != nil {
			t.Fatal(err)
		}
		want := all[max(0, len(all)-limit):]
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Transcript(limit %d) (-want +got):\n%s", limit, diff)
		}
	}
	if got, err := db.Transcript(ctx, "support", "u1", 10); err != nil || len(got) != 0 {
		t.Errorf("Transcript of another bot = %v, %v", got, err)
	}
}

func TestAppendMessageInvalid(t *testing.T) {
	db, _ := openDB(t)
	ok := func() *host.Message {
		return &host.Message{Bot: "shop", UserID: "u1", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("x")}
	}
	tests := []struct {
		name   string
		change func(*host.Message)
		code   string
		field  string
	}{
		{"unknown session", func(m *host.Message) { m.SessionID = "nope" }, host.EINVALID, "session_id"},
		{"no direction", func(m *host.Message) { m.Direction = "" }, host.EINVALID, "direction"},
		{"bad author", func(m *host.Message) { m.Author = "robot" }, host.EINVALID, "author"},
		{"payload not an object", func(m *host.Message) { m.Payload = json.RawMessage(`[1]`) }, host.EINVALID, "payload"},
		{"duplicate id", func(m *host.Message) { m.ID = "m1" }, host.ECONFLICT, "id"},
	}
	first := ok()
	first.ID = "m1"
	mustTx(t, db, func(tx host.Tx) error { return tx.AppendMessage(first) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok()
			tt.change(m)
			err := db.Tx(context.Background(), func(tx host.Tx) error { return tx.AppendMessage(m) })
			wantCode(t, err, tt.code)
			if host.ErrorField(err) != tt.field {
				t.Errorf("field = %q, want %q", host.ErrorField(err), tt.field)
			}
		})
	}
}

func TestMarkProcessed(t *testing.T) {
	db, _ := openDB(t)
	tests := []struct {
		scope, id string
		first     bool
	}{
		{"webhook:gorgias/shop", "e1", true},
		{"webhook:gorgias/shop", "e1", false},
		{"webhook:gorgias/shop", "e2", true},
		{"webhook:gorgias/support", "e1", true},
		{"webhook:gorgias/support", "e1", false},
	}
	for i, tt := range tests {
		mustTx(t, db, func(tx host.Tx) error {
			first, err := tx.MarkProcessed(tt.scope, tt.id)
			if first != tt.first {
				t.Errorf("#%d MarkProcessed(%s, %s) = %v, want %v", i, tt.scope, tt.id, first, tt.first)
			}
			return err
		})
	}
	err := db.Tx(context.Background(), func(tx host.Tx) error {
		_, err := tx.MarkProcessed("scope", "")
		return err
	})
	wantCode(t, err, host.EINVALID)
}

func TestRememberRequest(t *testing.T) {
	db, _ := openDB(t)
	recall := func(bot, user, id string) (*host.Request, error) {
		t.Helper()
		var r *host.Request
		err := db.Tx(context.Background(), func(tx host.Tx) (err error) {
			r, err = tx.RecalledRequest(bot, user, id)
			return err
		})
		return r, err
	}
	if _, err := recall("shop", "u1", "r1"); host.ErrorCode(err) != host.ENOTFOUND {
		t.Fatalf("a request never seen: %v, want ENOTFOUND", err)
	}
	first := `{"messages":[{"payload":{"content_type":"text","content":{"text":"hi"}}}]}`
	for i, resp := range []string{first, `{"messages":[]}`} {
		mustTx(t, db, func(tx host.Tx) error {
			return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u1", ID: "r1", BodyHash: fmt.Sprint(i), Response: json.RawMessage(resp)})
		})
		r, err := recall("shop", "u1", "r1")
		if err != nil || string(r.Response) != first || r.BodyHash != "0" {
			t.Errorf("after remember #%d: %+v %v, want the first record", i+1, r, err)
		}
	}
	for _, other := range [][2]string{{"support", "u1"}, {"shop", "u2"}} {
		if _, err := recall(other[0], other[1], "r1"); host.ErrorCode(err) != host.ENOTFOUND {
			t.Errorf("request ids leak to bot %s user %s: %v", other[0], other[1], err)
		}
	}
	err := db.Tx(context.Background(), func(tx host.Tx) error {
		return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u1", ID: "r2", Response: json.RawMessage(`{`)})
	})
	wantCode(t, err, host.EINVALID)
}

func BenchmarkCreateSession(b *testing.B) {
	db, _ := openDB(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		s := newSession(fmt.Sprintf("u%d", i))
		if err := db.Tx(ctx, func(tx host.Tx) error { return tx.CreateSession(s) }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueueClaimComplete(b *testing.B) {
	db, _ := openDB(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		o := &host.OutboxItem{Key: fmt.Sprintf("k%d", i), Queue: fmt.Sprintf("session:%d", i%16), Kind: host.KindProviderSend,
			Payload: payload("hello")}
		if err := db.Tx(ctx, func(tx host.Tx) error { return tx.Enqueue(o) }); err != nil {
			b.Fatal(err)
		}
		items, err := db.ClaimDue(ctx, t0, 1)
		if err != nil || len(items) != 1 {
			b.Fatalf("ClaimDue = %d items, %v", len(items), err)
		}
		if err := db.Complete(ctx, items[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWebchatStream(t *testing.T) {
	db, _ := openDB(t)
	ctx := context.Background()
	e := func(s string) json.RawMessage { return json.RawMessage(`{"text":"` + s + `"}`) }
	first, err := db.AppendStream(ctx, "shop", "u1", "", e("a"), e("b"))
	if err != nil || len(first) != 2 || first[1] <= first[0] {
		t.Fatalf("append = %v, %v", first, err)
	}
	if _, err := db.AppendStream(ctx, "shop", "u2", "", e("other user")); err != nil {
		t.Fatal(err)
	}
	keyed, err := db.AppendStream(ctx, "shop", "u1", "delivery-1", e("c"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := db.AppendStream(ctx, "shop", "u1", "delivery-1", e("c"))
	if err != nil || again[0] != keyed[0] {
		t.Errorf("a retried delivery was stored again: %v vs %v (%v)", again, keyed, err)
	}
	got, err := db.Stream(ctx, "shop", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, g := range got {
		texts = append(texts, string(g.Entry))
	}
	if want := []string{`{"text":"a"}`, `{"text":"b"}`, `{"text":"c"}`}; strings.Join(texts, ",") != strings.Join(want, ",") {
		t.Errorf("stream = %v, want %v", texts, want)
	}
	rest, err := db.Stream(ctx, "shop", "u1", first[1], 0)
	if err != nil || len(rest) != 1 || rest[0].Seq != keyed[0] {
		t.Errorf("after %d: %v %v", first[1], rest, err)
	}
	if _, err := db.AppendStream(ctx, "shop", "u1", "", json.RawMessage(`{`)); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("bad JSON: %v", err)
	}
}
