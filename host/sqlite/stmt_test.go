package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// The store's queries are prepared once and reused: after the first
// transaction and read of a kind, the next ones add no statement (a
// statement compiled on every run was a sixth of the bot path's CPU).
func TestStatementsArePreparedOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	work := func(i int) {
		s := createSession(t, db, newSession(fmt.Sprintf("u%d", i)))
		mustTx(t, db, func(tx host.Tx) error {
			return tx.AppendMessage(&host.Message{Bot: "shop", UserID: s.UserID, SessionID: s.ID, Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("hi")})
		})
		if _, err := db.Session(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.OpenSession(ctx, "shop", s.UserID); err != nil {
			t.Fatal(err)
		}
	}
	work(0)
	w0, r0 := sqlite.PreparedStatements(db)
	if w0 == 0 || r0 == 0 {
		t.Fatalf("after the first round, %d writer and %d reader statements prepared; want some of each", w0, r0)
	}
	for i := 1; i <= 20; i++ {
		work(i)
	}
	if w, r := sqlite.PreparedStatements(db); w != w0 || r != r0 {
		t.Errorf("20 more rounds of the same queries prepared %d writer and %d reader statements more; want none", w-w0, r-r0)
	}
}
