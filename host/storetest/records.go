package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

var _ = register([]testCase{
	{"Message/Transcript", testMessagesAndTranscript},
	{"Message/Invalid", testAppendMessageInvalid},
	{"Dedup/MarkProcessed", testMarkProcessed},
	{"Dedup/RememberRequest", testRememberRequest},
	{"Record/Replay", testRecordReplay},
	{"Record/ConcurrentReplay", testRecordConcurrentReplay},
	{"Record/OrderWithTx", testRecordOrderWithTx},
	{"Record/Invalid", testRecordInvalid},
	{"WebchatStream", testWebchatStream},
})

func testMessagesAndTranscript(t *testing.T, st *suite) {
	db, clk := st.store()
	appendMsg := func(user, session string, dir host.Direction, author host.Author, text string) *host.Message {
		t.Helper()
		m := &host.Message{Bot: "shop", UserID: user, SessionID: session, Direction: dir, Author: author, Payload: payload(text)}
		if author == host.AuthorAgent {
			m.AuthorName = "Alex"
		}
		db.mustTx(func(tx host.Tx) error { return tx.AppendMessage(m) })
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
	s := db.createSession(newSession("u1"))
	in := []*host.Message{
		appendMsg("u1", s.ID, host.DirectionOut, host.AuthorSystem, "Connecting you to an agent…"),
		appendMsg("u1", s.ID, host.DirectionOut, host.AuthorAgent, "Hi, I'm Alex"),
		appendMsg("u1", s.ID, host.DirectionIn, host.AuthorUser, "my order is late"),
	}
	if in[0].ID == "" || !in[0].CreatedAt.Equal(T0.Add(time.Second)) {
		t.Fatalf("AppendMessage did not fill ID and time: %+v", in[0])
	}
	// Several messages in one transaction keep their order too; a given
	// CreatedAt is kept.
	var batch []*host.Message
	db.mustTx(func(tx host.Tx) error {
		for i := range 3 {
			m := userMessage("u1", s.ID, fmt.Sprintf("part %d", i))
			m.CreatedAt = T0.Add(-time.Duration(i) * time.Hour)
			if err := tx.AppendMessage(m); err != nil {
				return err
			}
			batch = append(batch, m)
		}
		return nil
	})
	in = append(in, batch...)
	// An agent message after the session closed: kept, not in transcripts.
	late := &host.Message{Bot: "shop", UserID: "u1", SessionID: s.ID, Direction: host.DirectionOut, Author: host.AuthorAgent, Late: true, Payload: payload("too late")}
	db.mustTx(func(tx host.Tx) error { return tx.AppendMessage(late) })

	got, err := db.Messages(bg, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append(append([]*host.Message{}, in...), late), got); diff != "" {
		t.Errorf("Messages (-want +got):\n%s", diff)
	}
	all := append(append([]*host.Message{}, pre...), in...)
	for _, limit := range []int{1, 4, 6, 100} {
		got, err := db.Transcript(bg, "shop", "u1", limit)
		if err != nil {
			t.Fatal(err)
		}
		want := all[max(0, len(all)-limit):]
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Transcript(limit %d) (-want +got):\n%s", limit, diff)
		}
	}
	if got, err := db.Transcript(bg, "support", "u1", 10); err != nil || len(got) != 0 {
		t.Errorf("Transcript of another bot = %v, %v", got, err)
	}
	if got, err := db.Messages(bg, "no-such-session"); err != nil || len(got) != 0 {
		t.Errorf("Messages of an unknown session = %v, %v", got, err)
	}
}

func testAppendMessageInvalid(t *testing.T, st *suite) {
	db, _ := st.store()
	ok := func() *host.Message { return userMessage("u1", "", "x") }
	tests := []struct {
		name   string
		change func(*host.Message)
		code   string
		field  string
	}{
		{"unknown session", func(m *host.Message) { m.SessionID = "nope" }, host.EINVALID, "session_id"},
		{"no bot", func(m *host.Message) { m.Bot = "" }, host.EINVALID, "bot"},
		{"no user", func(m *host.Message) { m.UserID = "" }, host.EINVALID, "user_id"},
		{"no direction", func(m *host.Message) { m.Direction = "" }, host.EINVALID, "direction"},
		{"bad author", func(m *host.Message) { m.Author = "robot" }, host.EINVALID, "author"},
		{"payload not an object", func(m *host.Message) { m.Payload = json.RawMessage(`[1]`) }, host.EINVALID, "payload"},
		{"duplicate id", func(m *host.Message) { m.ID = "m1" }, host.ECONFLICT, "id"},
	}
	first := ok()
	first.ID = "m1"
	db.mustTx(func(tx host.Tx) error { return tx.AppendMessage(first) })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok()
			tt.change(m)
			err := db.Tx(bg, func(tx host.Tx) error { return tx.AppendMessage(m) })
			wantField(t, err, tt.code, tt.field)
		})
	}
	if ids := db.transcriptIDs("shop", "u1", 10); !cmp.Equal(ids, []string{"m1"}) {
		t.Errorf("transcript %v, want only m1", ids)
	}
}

func testMarkProcessed(t *testing.T, st *suite) {
	db, _ := st.store()
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
		db.mustTx(func(tx host.Tx) error {
			first, err := tx.MarkProcessed(tt.scope, tt.id)
			if first != tt.first {
				t.Errorf("#%d MarkProcessed(%s, %s) = %v, want %v", i, tt.scope, tt.id, first, tt.first)
			}
			return err
		})
	}
	for _, c := range [][2]string{{"scope", ""}, {"", "e1"}} {
		err := db.Tx(bg, func(tx host.Tx) error {
			_, err := tx.MarkProcessed(c[0], c[1])
			return err
		})
		wantField(t, err, host.EINVALID, "event_id")
	}
	// Concurrent deliveries of one event: one is first.
	const n = 20
	firsts := make(chan bool, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var first bool
			err := db.Tx(bg, func(tx host.Tx) (err error) {
				first, err = tx.MarkProcessed("webhook:race", "e")
				return err
			})
			if err != nil {
				t.Errorf("MarkProcessed: %v", err)
			}
			firsts <- first
		})
	}
	wg.Wait()
	close(firsts)
	count := 0
	for f := range firsts {
		if f {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d concurrent deliveries of one event were first, want 1", count)
	}
}

func testRememberRequest(t *testing.T, st *suite) {
	db, _ := st.store()
	recall := func(bot, user, id string) (*host.Request, error) {
		t.Helper()
		var r *host.Request
		err := db.Tx(bg, func(tx host.Tx) (err error) {
			r, err = tx.RecalledRequest(bot, user, id)
			return err
		})
		return r, err
	}
	if _, err := recall("shop", "u1", "r1"); host.ErrorCode(err) != host.ENOTFOUND {
		t.Fatalf("a request never seen: %v, want ENOTFOUND", err)
	}
	if _, err := db.RecalledRequest(bg, "shop", "u1", "r1"); host.ErrorCode(err) != host.ENOTFOUND {
		t.Fatalf("Store.RecalledRequest of a request never seen: %v, want ENOTFOUND", err)
	}
	first := `{"messages":[{"payload":{"content_type":"text","content":{"text":"hi"}}}]}`
	for i, resp := range []string{first, `{"messages":[]}`} {
		db.mustTx(func(tx host.Tx) error {
			return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u1", ID: "r1", BodyHash: fmt.Sprint(i), Response: json.RawMessage(resp)})
		})
		r, err := recall("shop", "u1", "r1")
		if err != nil || string(r.Response) != first || r.BodyHash != "0" {
			t.Errorf("after remember #%d: %+v %v, want the first record", i+1, r, err)
		}
		r, err = db.RecalledRequest(bg, "shop", "u1", "r1")
		if err != nil || string(r.Response) != first || r.BodyHash != "0" || r.Bot != "shop" || r.UserID != "u1" || r.ID != "r1" {
			t.Errorf("Store.RecalledRequest after remember #%d: %+v %v, want the first record", i+1, r, err)
		}
	}
	for _, other := range [][2]string{{"support", "u1"}, {"shop", "u2"}} {
		if _, err := recall(other[0], other[1], "r1"); host.ErrorCode(err) != host.ENOTFOUND {
			t.Errorf("request ids leak to bot %s user %s: %v", other[0], other[1], err)
		}
	}
	for _, bad := range []struct {
		r     *host.Request
		field string
	}{
		{&host.Request{Bot: "shop", UserID: "u1", ID: "r2", Response: json.RawMessage(`{`)}, "response"},
		{&host.Request{Bot: "shop", UserID: "u1", Response: json.RawMessage(`{}`)}, "request_id"},
		{&host.Request{Bot: "shop", ID: "r2", Response: json.RawMessage(`{}`)}, "request_id"},
	} {
		err := db.Tx(bg, func(tx host.Tx) error { return tx.RememberRequest(bad.r) })
		wantField(t, err, host.EINVALID, bad.field)
	}
}

// exchange is the bot path's record of one event of user: its message and
// the bot's answer, and the request's record when reqID is set.
func exchange(user, reqID, answer string) *host.Record {
	x := &host.Record{Messages: []*host.Message{
		{ID: "in-" + user + "-" + reqID, Bot: "shop", UserID: user, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("hi " + reqID)},
		{ID: "out-" + user + "-" + reqID, Bot: "shop", UserID: user, Direction: host.DirectionOut, Author: host.AuthorBot, Payload: payload(answer)},
	}}
	if reqID != "" {
		x.Request = &host.Request{Bot: "shop", UserID: user, ID: reqID, BodyHash: "h-" + reqID, Response: json.RawMessage(fmt.Sprintf(`{"answer": %q}`, answer))}
	}
	return x
}

// testRecordReplay: a request recorded before keeps its first answer: a
// second record of it writes nothing (not even its messages) and says so,
// whether the first came through Record or a Tx.
func testRecordReplay(t *testing.T, st *suite) {
	db, clk := st.store()
	if ok, err := db.Record(bg, exchange("u", "r1", "first")); !ok || err != nil {
		t.Fatalf("first record: %v, %v", ok, err)
	}
	clk.Add(time.Second)
	again := exchange("u", "r1", "second")
	again.Messages = append(again.Messages, &host.Message{ID: "extra", Bot: "shop", UserID: "u", Direction: host.DirectionOut, Author: host.AuthorBot, Payload: payload("extra")})
	if ok, err := db.Record(bg, again); ok || err != nil {
		t.Fatalf("second record: %v, %v; want false, nil", ok, err)
	}
	r, err := db.RecalledRequest(bg, "shop", "u", "r1")
	if err != nil || string(r.Response) != `{"answer": "first"}` || r.BodyHash != "h-r1" {
		t.Fatalf("recalled %+v, %v; want the first answer", r, err)
	}
	msgs, err := db.Transcript(bg, "shop", "u", 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages, %v; want the first record's 2", len(msgs), err)
	}
	if string(msgs[1].Payload) != string(payload("first")) || !msgs[1].CreatedAt.Equal(T0) {
		t.Errorf("the bot's message is %s at %v, want the first answer's at T0", msgs[1].Payload, msgs[1].CreatedAt)
	}
	// A request remembered in a Tx counts as recorded.
	db.mustTx(func(tx host.Tx) error {
		return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u", ID: "r2", Response: json.RawMessage(`{"answer":"tx"}`)})
	})
	if ok, err := db.Record(bg, exchange("u", "r2", "record")); ok || err != nil {
		t.Fatalf("record of a request a Tx remembered: %v, %v; want false, nil", ok, err)
	}
	// A repeated message id is kept as it was and does not fail the record.
	x := exchange("u", "r3", "third")
	x.Messages[0].ID = msgs[0].ID
	if ok, err := db.Record(bg, x); !ok || err != nil {
		t.Fatalf("record reusing a message id: %v, %v", ok, err)
	}
	want := []string{"in-u-r1", "out-u-r1", "out-u-r3"}
	if ids := db.transcriptIDs("shop", "u", 10); !cmp.Equal(ids, want) {
		t.Errorf("transcript %v, want %v", ids, want)
	}
	if got, _ := db.Transcript(bg, "shop", "u", 10); len(got) == 3 && string(got[0].Payload) != string(payload("hi r1")) {
		t.Errorf("the repeated message id changed the stored message: %s", got[0].Payload)
	}
}

// testRecordConcurrentReplay: records of one request racing each other:
// exactly one writes, the others write nothing and say so.
func testRecordConcurrentReplay(t *testing.T, st *suite) {
	db, _ := st.store()
	const n = 8
	oks := make(chan bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			x := exchange("v", "r", fmt.Sprint(i))
			for _, m := range x.Messages {
				m.ID += fmt.Sprintf("-%d", i) // each run derives ids of its own
			}
			ok, err := db.Record(bg, x)
			if err != nil {
				t.Errorf("Record: %v", err)
			}
			oks <- ok
		})
	}
	wg.Wait()
	close(oks)
	won := 0
	for ok := range oks {
		if ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d records of one request said they wrote, want 1", won)
	}
	if msgs, _ := db.Transcript(bg, "shop", "v", 100); len(msgs) != 2 {
		t.Errorf("%d messages for the request recorded %d times, want 2", len(msgs), n)
	}
}

// testRecordOrderWithTx: many users at once, each sending events one after
// the other, some recorded by Record and some written by a Tx: each user's
// transcript reads in the order the calls returned.
func testRecordOrderWithTx(t *testing.T, st *suite) {
	db, _ := st.store()
	const (
		nUsers  = 8
		perUser = 30
	)
	var wg sync.WaitGroup
	want := make([][]string, nUsers)
	for u := range nUsers {
		user := fmt.Sprintf("u%d", u)
		wg.Go(func() {
			for i := range perUser {
				id := fmt.Sprintf("%03d", i)
				if i%7 == 3 {
					err := db.Tx(bg, func(tx host.Tx) error {
						return tx.AppendMessage(&host.Message{ID: "tx-" + user + "-" + id, Bot: "shop", UserID: user, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("tx")})
					})
					if err != nil {
						t.Errorf("Tx: %v", err)
						return
					}
					want[u] = append(want[u], "tx-"+user+"-"+id)
					continue
				}
				reqID := id
				if i%2 == 0 {
					reqID = "" // not every event carries a request_id
				}
				x := exchange(user, reqID, "a")
				x.Messages[0].ID, x.Messages[1].ID = "in-"+user+"-"+id, "out-"+user+"-"+id
				ok, err := db.Record(bg, x)
				if err != nil || !ok {
					t.Errorf("Record: %v, %v", ok, err)
					return
				}
				want[u] = append(want[u], x.Messages[0].ID, x.Messages[1].ID)
			}
		})
	}
	wg.Wait()
	for u := range nUsers {
		got := db.transcriptIDs("shop", fmt.Sprintf("u%d", u), 1000)
		if diff := cmp.Diff(want[u], got); diff != "" {
			t.Errorf("user u%d's transcript is out of order (-want +got):\n%s", u, diff)
		}
	}
}

// testRecordInvalid: bad records are refused naming the field, and write
// nothing; a record without a request is a plain transcript append with
// ids and times filled.
func testRecordInvalid(t *testing.T, st *suite) {
	db, clk := st.store()
	s := db.createSession(newSession("s"))
	for _, tc := range []struct {
		name, field string
		x           *host.Record
	}{
		{"a message without a bot", "bot", &host.Record{Messages: []*host.Message{{UserID: "u", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("x")}}}},
		{"a message with a bad payload", "payload", &host.Record{Messages: []*host.Message{{Bot: "shop", UserID: "u", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: json.RawMessage(`"x"`)}}}},
		{"a session's message", "session_id", &host.Record{Messages: []*host.Message{{Bot: "shop", UserID: "u", SessionID: s.ID, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("x")}}}},
		{"a request without an id", "request_id", &host.Record{Request: &host.Request{Bot: "shop", UserID: "u", Response: json.RawMessage(`{}`)}}},
		{"an answer that is not JSON", "response", &host.Record{Request: &host.Request{Bot: "shop", UserID: "u", ID: "r", Response: json.RawMessage(`{`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := db.Record(bg, tc.x)
			if ok {
				t.Error("Record said it wrote")
			}
			wantField(t, err, host.EINVALID, tc.field)
		})
	}
	if msgs, _ := db.Transcript(bg, "shop", "u", 10); len(msgs) != 0 {
		t.Errorf("refused records wrote %d messages", len(msgs))
	}
	if _, err := db.RecalledRequest(bg, "shop", "u", "r"); host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("a refused record's request was stored: %v", err)
	}
	clk.Add(time.Second)
	x := exchange("w", "", "plain")
	x.Messages[0].ID, x.Messages[1].ID = "", ""
	if ok, err := db.Record(bg, x); !ok || err != nil {
		t.Fatalf("a record without a request: %v, %v", ok, err)
	}
	msgs, _ := db.Transcript(bg, "shop", "w", 10)
	if len(msgs) != 2 || msgs[0].ID == "" || msgs[0].ID == msgs[1].ID || !msgs[0].CreatedAt.Equal(clk.Now()) {
		t.Errorf("transcript %+v: want 2 messages with ids and the store's time filled", msgs)
	}
	if x.Messages[0].ID != msgs[0].ID {
		t.Errorf("Record filled id %q in the store, %q in the caller's message", msgs[0].ID, x.Messages[0].ID)
	}
}

func testWebchatStream(t *testing.T, st *suite) {
	db, _ := st.store()
	e := func(s string) json.RawMessage { return json.RawMessage(`{"text":"` + s + `"}`) }
	first, err := db.AppendStream(bg, "shop", "u1", "", e("a"), e("b"))
	if err != nil || len(first) != 2 || first[1] <= first[0] {
		t.Fatalf("append = %v, %v", first, err)
	}
	if _, err := db.AppendStream(bg, "shop", "u2", "", e("other user")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendStream(bg, "support", "u1", "", e("other bot")); err != nil {
		t.Fatal(err)
	}
	keyed, err := db.AppendStream(bg, "shop", "u1", "delivery-1", e("c"), e("d"))
	if err != nil || len(keyed) != 2 {
		t.Fatal(err)
	}
	again, err := db.AppendStream(bg, "shop", "u1", "delivery-1", e("c"), e("d"))
	if err != nil || !cmp.Equal(again, keyed) {
		t.Errorf("a retried delivery was stored again: %v vs %v (%v)", again, keyed, err)
	}
	got, err := db.Stream(bg, "shop", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, g := range got {
		texts = append(texts, string(g.Entry))
	}
	if want := []string{`{"text":"a"}`, `{"text":"b"}`, `{"text":"c"}`, `{"text":"d"}`}; strings.Join(texts, ",") != strings.Join(want, ",") {
		t.Errorf("stream = %v, want %v", texts, want)
	}
	rest, err := db.Stream(bg, "shop", "u1", first[1], 0)
	if err != nil || len(rest) != 2 || rest[0].Seq != keyed[0] || rest[1].Seq != keyed[1] {
		t.Errorf("after %d: %v %v", first[1], rest, err)
	}
	if page, err := db.Stream(bg, "shop", "u1", 0, 1); err != nil || len(page) != 1 || page[0].Seq != first[0] {
		t.Errorf("limit 1: %v %v", page, err)
	}
	if _, err := db.AppendStream(bg, "shop", "u1", "", json.RawMessage(`{`)); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("bad JSON: %v", err)
	}
	// Concurrent appends to one stream: every entry gets a number of its
	// own, and the stream reads them in number order.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := db.AppendStream(bg, "shop", "race", "", e(fmt.Sprint(i))); err != nil {
				t.Errorf("append: %v", err)
			}
		})
	}
	wg.Wait()
	race, err := db.Stream(bg, "shop", "race", 0, 0)
	if err != nil || len(race) != 10 {
		t.Fatalf("race stream: %d entries, %v", len(race), err)
	}
	for i := 1; i < len(race); i++ {
		if race[i].Seq <= race[i-1].Seq {
			t.Errorf("stream not in number order: %v", race)
		}
	}
}
