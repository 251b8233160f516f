package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/host"
)

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

// Records that arrive while a batch commits are written together, in
// multi-row statements, and in the order they were queued among the
// batch's transactions: the transcript reads as the events came.
func TestRecordsShareTheBatchInOrder(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)

	release, running := make(chan struct{}), make(chan struct{})
	first := make(chan error)
	go func() {
		first <- db.Tx(ctx, func(tx host.Tx) error {
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	// 150 records (more than the largest statement) and, between them,
	// transactions appending to the same user's transcript.
	const n = 150
	var wg sync.WaitGroup
	errs := make([]error, n)
	recorded := make([]bool, n)
	for i := range n {
		wg.Add(1)
		if i%50 == 49 {
			go func() {
				defer wg.Done()
				errs[i] = db.Tx(ctx, func(tx host.Tx) error {
					return tx.AppendMessage(&host.Message{ID: fmt.Sprintf("tx-%03d", i), Bot: "shop", UserID: "u", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("tx")})
				})
				recorded[i] = true
			}()
		} else {
			go func() {
				defer wg.Done()
				recorded[i], errs[i] = db.Record(ctx, exchange("u", fmt.Sprintf("r%03d", i), "a"))
			}()
		}
		waitQueued(t, db, i+1)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !recorded[i] {
			t.Fatalf("item %d: recorded %v, %v", i, recorded[i], errs[i])
		}
	}
	msgs, err := db.Transcript(ctx, "shop", "u", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		if i%50 == 49 {
			want = append(want, fmt.Sprintf("tx-%03d", i))
		} else {
			want = append(want, fmt.Sprintf("in-u-r%03d", i), fmt.Sprintf("out-u-r%03d", i))
		}
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if m.ID != want[i] {
			t.Fatalf("message %d is %s, want %s: the transcript is out of order", i, m.ID, want[i])
		}
	}
	for i := range n {
		if i%50 == 49 {
			continue
		}
		id := fmt.Sprintf("r%03d", i)
		r, err := db.RecalledRequest(ctx, "shop", "u", id)
		if err != nil || r.BodyHash != "h-"+id {
			t.Fatalf("request %s: %+v, %v", id, r, err)
		}
	}
}

// A request recorded before keeps its first answer: a second record of it,
// alone or in the same batch, writes nothing (not even its messages) and
// says so.
func TestRecordOfARequestRecordedBefore(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	if ok, err := db.Record(ctx, exchange("u", "r1", "first")); !ok || err != nil {
		t.Fatalf("first record: %v, %v", ok, err)
	}
	again := exchange("u", "r1", "second")
	again.Messages = append(again.Messages, &host.Message{ID: "extra", Bot: "shop", UserID: "u", Direction: host.DirectionOut, Author: host.AuthorBot, Payload: payload("extra")})
	if ok, err := db.Record(ctx, again); ok || err != nil {
		t.Fatalf("second record: %v, %v; want false, nil", ok, err)
	}
	r, err := db.RecalledRequest(ctx, "shop", "u", "r1")
	if err != nil || string(r.Response) != `{"answer": "first"}` {
		t.Fatalf("recalled %s, %v; want the first answer", r.Response, err)
	}
	msgs, err := db.Transcript(ctx, "shop", "u", 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages, %v; want the first record's 2", len(msgs), err)
	}
	if string(msgs[1].Payload) != string(payload("first")) {
		t.Errorf("the bot's message is %s, want the first answer's", msgs[1].Payload)
	}

	// Two records of one new request in one batch: one wins.
	release, running := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.Tx(ctx, func(tx host.Tx) error { close(running); <-release; return nil })
	}()
	<-running
	oks := make(chan bool, 2)
	for i := range 2 {
		go func() {
			ok, err := db.Record(ctx, exchange("v", "r2", fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
			}
			oks <- ok
		}()
		waitQueued(t, db, i+1)
	}
	close(release)
	<-done
	if a, b := <-oks, <-oks; a == b {
		t.Errorf("both records of one request said %v: want one true, one false", a)
	}
	if msgs, _ := db.Transcript(ctx, "shop", "v", 10); len(msgs) != 2 {
		t.Errorf("%d messages for the request recorded twice, want 2", len(msgs))
	}
}

// Bad records are refused before they queue, naming the field; a record
// without a request is a plain transcript append.
func TestRecordRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	createSession(t, db, newSession("s"))
	for _, tc := range []struct {
		name, field string
		x           *host.Record
	}{
		{"a message without a bot", "bot", &host.Record{Messages: []*host.Message{{UserID: "u", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("x")}}}},
		{"a session's message", "session_id", &host.Record{Messages: []*host.Message{{Bot: "shop", UserID: "u", SessionID: "x", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("x")}}}},
		{"a request without an id", "request_id", &host.Record{Request: &host.Request{Bot: "shop", UserID: "u", Response: json.RawMessage(`{}`)}}},
		{"an answer that is not JSON", "response", &host.Record{Request: &host.Request{Bot: "shop", UserID: "u", ID: "r", Response: json.RawMessage(`{`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := db.Record(ctx, tc.x)
			wantCode(t, err, host.EINVALID)
			if ok || host.ErrorField(err) != tc.field {
				t.Errorf("got %v, %v; want EINVALID on %s", ok, err, tc.field)
			}
		})
	}
	if msgs, _ := db.Transcript(ctx, "shop", "u", 10); len(msgs) != 0 {
		t.Errorf("refused records wrote %d messages", len(msgs))
	}
	x := exchange("w", "", "plain")
	x.Messages[0].ID, x.Messages[1].ID = "", ""
	if ok, err := db.Record(ctx, x); !ok || err != nil {
		t.Fatalf("a record without a request: %v, %v", ok, err)
	}
	if msgs, _ := db.Transcript(ctx, "shop", "w", 10); len(msgs) != 2 || msgs[0].ID == "" || msgs[0].CreatedAt.IsZero() {
		t.Errorf("transcript %+v: want 2 messages with ids and times filled", msgs)
	}
}
