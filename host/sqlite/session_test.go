package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)

	s := createSession(t, db, newSession("u1"))
	if s.ID == "" || s.State != host.SessionStarting || s.ExpiredNotice != host.ExpiredNoticeImmediate {
		t.Fatalf("CreateSession did not fill defaults: %+v", s)
	}
	if !s.CreatedAt.Equal(t0) || !s.UpdatedAt.Equal(t0) || !s.EndedAt.IsZero() {
		t.Fatalf("CreateSession times: created %v updated %v ended %v", s.CreatedAt, s.UpdatedAt, s.EndedAt)
	}
	read := func(what string, want *host.Session, got *host.Session, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", what, diff)
		}
	}
	got, err := db.Session(ctx, s.ID)
	read("Session", s, got, err)
	got, err = db.OpenSession(ctx, "shop", "u1")
	read("OpenSession", s, got, err)
	mustTx(t, db, func(tx host.Tx) error {
		got, err := tx.Session(s.ID)
		read("Tx.Session", s, got, err)
		got, err = tx.OpenSession("shop", "u1")
		read("Tx.OpenSession", s, got, err)
		return nil
	})

	// The provider answered: active, with the ticket id.
	clk.Add(time.Second)
	s.State, s.ProviderRef, s.ExpiresAt = host.SessionActive, "ticket-42", clk.Now().Add(30*time.Minute)
	s.Metadata["plan"] = "gold"
	mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
	if !s.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("UpdatedAt = %v, want %v", s.UpdatedAt, clk.Now())
	}
	got, err = db.FindSessionByRef(ctx, "shop", "ticket-42")
	read("FindSessionByRef", s, got, err)
	for _, c := range []struct{ bot, ref string }{{"shop", "nope"}, {"other", "ticket-42"}, {"shop", ""}} {
		_, err := db.FindSessionByRef(ctx, c.bot, c.ref)
		wantCode(t, err, host.ENOTFOUND)
	}

	// Expiry in next_message mode: closed, notice pending.
	clk.Add(time.Minute)
	s.State, s.EndReason, s.NoticePending = host.SessionExpired, host.EndExpired, true
	mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
	if !s.EndedAt.Equal(clk.Now()) {
		t.Errorf("EndedAt = %v, want the update time %v", s.EndedAt, clk.Now())
	}
	_, err = db.OpenSession(ctx, "shop", "u1")
	wantCode(t, err, host.ENOTFOUND)
	mustTx(t, db, func(tx host.Tx) error {
		got, err := tx.PendingNotice("shop", "u1")
		read("PendingNotice", s, got, err)
		return nil
	})

	// A closed session can be updated (the notice went out) but not change state.
	s.NoticePending = false
	mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
	mustTx(t, db, func(tx host.Tx) error {
		_, err := tx.PendingNotice("shop", "u1")
		wantCode(t, err, host.ENOTFOUND)
		return nil
	})
	reopened := *s
	reopened.State, reopened.EndReason = host.SessionActive, ""
	err = db.Tx(ctx, func(tx host.Tx) error { return tx.UpdateSession(&reopened) })
	wantCode(t, err, host.ECONFLICT)
	ended := *s
	ended.State, ended.EndReason = host.SessionEnded, host.EndAdmin
	err = db.Tx(ctx, func(tx host.Tx) error { return tx.UpdateSession(&ended) })
	wantCode(t, err, host.ECONFLICT)

	got, err = db.Session(ctx, s.ID)
	read("Session after refused updates", s, got, err)

	_, err = db.Session(ctx, "missing")
	wantCode(t, err, host.ENOTFOUND)
	missing := newSession("u9")
	missing.ID, missing.State, missing.ExpiredNotice = "missing", host.SessionActive, host.ExpiredNoticeImmediate
	err = db.Tx(ctx, func(tx host.Tx) error { return tx.UpdateSession(missing) })
	wantCode(t, err, host.ENOTFOUND)
}

func TestCreateSessionInvalid(t *testing.T) {
	db, _ := openDB(t)
	tests := []struct {
		name   string
		change func(*host.Session)
		field  string
	}{
		{"no bot", func(s *host.Session) { s.Bot = "" }, "bot"},
		{"no user", func(s *host.Session) { s.UserID = "" }, "user_id"},
		{"no provider", func(s *host.Session) { s.Provider = "" }, "provider"},
		{"unknown state", func(s *host.Session) { s.State = "paused" }, "state"},
		{"no expiry", func(s *host.Session) { s.ExpiresAt = time.Time{} }, "expires_at"},
		{"metadata not JSON", func(s *host.Session) { s.Metadata = map[string]any{"f": func() {}} }, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession("u1")
			tt.change(s)
			err := db.Tx(context.Background(), func(tx host.Tx) error { return tx.CreateSession(s) })
			wantCode(t, err, host.EINVALID)
			if host.ErrorField(err) != tt.field {
				t.Errorf("field = %q, want %q", host.ErrorField(err), tt.field)
			}
		})
	}
}

// TestCreateSessionConcurrent races many requests to open a session for the
// same user: the unique index lets exactly one win. (A second process on
// the same file is refused at Open: TestOneProcessPerFile.)
func TestCreateSessionConcurrent(t *testing.T) {
	for _, handles := range []int{1} {
		t.Run(fmt.Sprintf("%d handles", handles), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "livechat.db")
			dbs := make([]*sqlite.DB, handles)
			for i := range dbs {
				dbs[i], _ = openAt(t, path, sqlite.Options{BusyTimeout: time.Minute})
			}
			const n = 50
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = dbs[i%handles].Tx(context.Background(), func(tx host.Tx) error {
						return tx.CreateSession(newSession("u1"))
					})
				})
			}
			close(start)
			wg.Wait()

			won := 0
			for i, err := range errs {
				switch host.ErrorCode(err) {
				case "":
					won++
				case host.ECONFLICT:
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if won != 1 {
				t.Errorf("%d requests opened a session, want exactly 1", won)
			}
			open, err := dbs[0].ListSessions(context.Background(), host.SessionFilter{Bot: "shop", UserID: "u1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(open) != 1 {
				t.Errorf("%d sessions stored, want 1", len(open))
			}
		})
	}
}

func TestCreateSessionConflictKeepsTxUsable(t *testing.T) {
	db, _ := openDB(t)
	first := createSession(t, db, newSession("u1"))
	// A second START: the engine meets ECONFLICT, reads the open session
	// and goes on in the same transaction.
	mustTx(t, db, func(tx host.Tx) error {
		err := tx.CreateSession(newSession("u1"))
		wantCode(t, err, host.ECONFLICT)
		open, err := tx.OpenSession("shop", "u1")
		if err != nil {
			return err
		}
		if open.ID != first.ID {
			t.Errorf("open session %s, want %s", open.ID, first.ID)
		}
		return tx.AppendMessage(&host.Message{Bot: "shop", UserID: "u1", SessionID: open.ID,
			Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("LIVECHAT_SESSION_START")})
	})
	msgs, err := db.Messages(context.Background(), first.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages = %d, %v; want the message written after the conflict", len(msgs), err)
	}
	// The same ID twice is a conflict too, on the id.
	dup := newSession("u2")
	dup.ID = first.ID
	err = db.Tx(context.Background(), func(tx host.Tx) error { return tx.CreateSession(dup) })
	wantCode(t, err, host.ECONFLICT)
	if host.ErrorField(err) != "id" {
		t.Errorf("duplicate id: field %q, want id", host.ErrorField(err))
	}
}

func TestClosedSessionAllowsNewOne(t *testing.T) {
	ctx := context.Background()
	for _, end := range []struct {
		state  host.SessionState
		reason host.EndReason
	}{
		{host.SessionEnded, host.EndUser},
		{host.SessionExpired, host.EndExpired},
		{host.SessionFailed, host.EndFailed},
	} {
		t.Run(string(end.state), func(t *testing.T) {
			db, _ := openDB(t)
			old := createSession(t, db, newSession("u1"))
			old.State, old.EndReason = end.state, end.reason
			mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(old) })

			fresh := createSession(t, db, newSession("u1"))
			open, err := db.OpenSession(ctx, "shop", "u1")
			if err != nil || open.ID != fresh.ID {
				t.Fatalf("OpenSession = %v, %v; want the new session %s", open, err, fresh.ID)
			}
			// Another user and another bot are independent.
			createSession(t, db, newSession("u2"))
			other := newSession("u1")
			other.Bot = "support"
			createSession(t, db, other)
		})
	}
}

func TestTxRollback(t *testing.T) {
	ctx := context.Background()
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fail func() error // returns fn's error, or panics
	}{
		{"error", func() error { return errBoom }},
		{"panic", func() error { panic(errBoom) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openDB(t)
			s := newSession("u1")
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = r.(error)
					}
				}()
				err = db.Tx(ctx, func(tx host.Tx) error {
					if err := tx.CreateSession(s); err != nil {
						return err
					}
					if err := tx.AppendMessage(&host.Message{Bot: "shop", UserID: "u1", SessionID: s.ID,
						Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("hi")}); err != nil {
						return err
					}
					if err := tx.Enqueue(&host.OutboxItem{Key: "start-" + s.ID, Queue: host.ProviderQueue(s.ID), Kind: host.KindProviderStart}); err != nil {
						return err
					}
					if _, err := tx.MarkProcessed("events", "e1"); err != nil {
						return err
					}
					return tt.fail()
				})
			}()
			if !errors.Is(err, errBoom) {
				t.Fatalf("Tx = %v, want fn's error", err)
			}

			if _, err := db.Session(ctx, s.ID); host.ErrorCode(err) != host.ENOTFOUND {
				t.Errorf("session after rollback: %v, want ENOTFOUND", err)
			}
			if msgs, err := db.Transcript(ctx, "shop", "u1", 10); err != nil || len(msgs) != 0 {
				t.Errorf("messages after rollback: %d, %v", len(msgs), err)
			}
			if st, err := db.OutboxStats(ctx); err != nil || st != (host.OutboxStats{}) {
				t.Errorf("outbox after rollback: %+v, %v", st, err)
			}
			if _, ok, err := db.NextDue(ctx); ok || err != nil {
				t.Errorf("NextDue after rollback: ok=%v err=%v", ok, err)
			}
			if woke(db) {
				t.Error("Wake fired after a rollback")
			}
			// The store is usable and the event id was not consumed.
			mustTx(t, db, func(tx host.Tx) error {
				first, err := tx.MarkProcessed("events", "e1")
				if !first {
					t.Error("event of the rolled back transaction counts as processed")
				}
				return err
			})
		})
	}
}

func TestDueExpiries(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	at := func(user string, state host.SessionState, expires time.Duration) {
		s := newSession(user)
		s.ExpiresAt = t0.Add(expires)
		s = createSession(t, db, s)
		if !state.IsOpen() {
			s.State, s.EndReason = state, host.EndUser
			mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
		}
	}
	at("late", host.SessionActive, -time.Minute)
	at("early", host.SessionStarting, -time.Hour)
	at("exact", host.SessionActive, 0)
	at("future", host.SessionActive, time.Minute)
	at("ended", host.SessionEnded, -2*time.Hour)

	tests := []struct {
		now   time.Time
		limit int
		want  []string // users, earliest expiry first
	}{
		{t0.Add(-2 * time.Hour), 0, []string{}},
		{t0, 0, []string{"early", "late", "exact"}},
		{t0, 2, []string{"early", "late"}},
		{t0.Add(time.Minute), 10, []string{"early", "late", "exact", "future"}},
	}
	for _, tt := range tests {
		due, err := db.DueExpiries(ctx, tt.now, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, s := range due {
			got = append(got, s.UserID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DueExpiries(t0%+v, %d) (-want +got):\n%s", tt.now.Sub(t0), tt.limit, diff)
		}
	}
}

// DueSyncs lists a bot's active sessions with a ticket, least recently
// read back first, and UpdateSession keeps what the last read left.
func TestDueSyncs(t *testing.T) {
	ctx := context.Background()
	db, _ := openDB(t)
	at := func(bot, user string, state host.SessionState, ref string, synced time.Duration) {
		s := newSession(user)
		s.Bot = bot
		s = createSession(t, db, s)
		s.State, s.ProviderRef = state, ref
		if !state.IsOpen() {
			s.EndReason = host.EndUser
		}
		if synced != 0 {
			s.SyncedAt, s.SyncCursor = t0.Add(synced), "c-"+user
		}
		mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
	}
	at("shop", "never", host.SessionActive, "T1", 0)
	at("shop", "old", host.SessionActive, "T2", -time.Hour)
	at("shop", "recent", host.SessionActive, "T3", -time.Second)
	at("shop", "starting", host.SessionStarting, "", 0)
	at("shop", "ended", host.SessionEnded, "T4", 0)
	at("other", "elsewhere", host.SessionActive, "T5", 0)

	tests := []struct {
		before time.Time
		limit  int
		want   []string // users, least recently read first
	}{
		{t0.Add(-2 * time.Hour), 0, []string{"never"}},
		{t0.Add(-time.Minute), 0, []string{"never", "old"}},
		{t0, 0, []string{"never", "old", "recent"}},
		{t0, 1, []string{"never"}},
	}
	for _, tt := range tests {
		due, err := db.DueSyncs(ctx, "shop", tt.before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, s := range due {
			got = append(got, s.UserID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DueSyncs(t0%+v, %d) (-want +got):\n%s", tt.before.Sub(t0), tt.limit, diff)
		}
	}
	s, err := db.OpenSession(ctx, "shop", "old")
	if err != nil {
		t.Fatal(err)
	}
	if s.SyncCursor != "c-old" || !s.SyncedAt.Equal(t0.Add(-time.Hour)) {
		t.Errorf("read back cursor %q at %v, want c-old at t0-1h", s.SyncCursor, s.SyncedAt)
	}
}

func TestListSessions(t *testing.T) {
	ctx := context.Background()
	db, clk := openDB(t)
	var all []*host.Session // oldest first
	for i := range 7 {
		s := newSession(fmt.Sprintf("u%d", i))
		if i%2 == 1 {
			s.Bot = "support"
		}
		all = append(all, createSession(t, db, s))
		if i%3 != 0 { // some share a creation time: the cursor must break ties
			clk.Add(time.Second)
		}
	}
	all[2].State, all[2].EndReason = host.SessionEnded, host.EndUser
	mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(all[2]) })

	ids := func(ss []*host.Session) []string {
		out := []string{}
		for _, s := range ss {
			out = append(out, s.UserID)
		}
		return out
	}
	// Everything, newest first, paged by 3.
	var pages [][]string
	f := host.SessionFilter{Limit: 3}
	for {
		page, err := db.ListSessions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, ids(page))
		f.Before = page[len(page)-1].ID
	}
	// Newest first; u0/u1 and u3/u4 share a creation time and IDs are
	// random, so ties go by ID, descending.
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *host.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	want := ids(sorted)
	if diff := cmp.Diff([][]string{want[:3], want[3:6], want[6:]}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		f    host.SessionFilter
		want []string
	}{
		{"bot", host.SessionFilter{Bot: "support"}, []string{"u5", "u3", "u1"}},
		{"state", host.SessionFilter{State: host.SessionEnded}, []string{"u2"}},
		{"bot and state", host.SessionFilter{Bot: "shop", State: host.SessionStarting}, []string{"u6", "u4", "u0"}},
		{"user", host.SessionFilter{UserID: "u1"}, []string{"u1"}},
		{"none", host.SessionFilter{Bot: "nobody"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ListSessions(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := db.ListSessions(ctx, host.SessionFilter{Before: "unknown"})
	wantCode(t, err, host.EINVALID)
	_, err = db.ListSessions(ctx, host.SessionFilter{State: "paused"})
	wantCode(t, err, host.EINVALID)
}

func TestTxContextCanceled(t *testing.T) {
	db, _ := openDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := newSession("u1")
	err := db.Tx(ctx, func(tx host.Tx) error {
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		cancel() // the request went away before the commit
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Tx = %v, want context.Canceled", err)
	}
	if _, err := db.Session(context.Background(), s.ID); host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("session of a canceled transaction: %v, want ENOTFOUND", err)
	}
	// The writer connection is free again.
	createSession(t, db, newSession("u1"))
}
