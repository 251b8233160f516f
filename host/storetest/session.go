package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

var _ = register([]testCase{
	{"Session/Lifecycle", testSessionLifecycle},
	{"Session/CreateInvalid", testCreateSessionInvalid},
	{"Session/CreateConcurrent", testCreateSessionConcurrent},
	{"Session/ConflictKeepsTxUsable", testCreateSessionConflictKeepsTxUsable},
	{"Session/ClosedAllowsNewOne", testClosedSessionAllowsNewOne},
	{"Session/UpdateRules", testUpdateSessionRules},
	{"Session/ExtendRacesExpiry", testExtendRacesExpiry},
	{"Session/PendingNotice", testPendingNotice},
	{"Session/Glance", testGlance},
	{"Session/DueExpiries", testDueExpiries},
	{"Session/DueSyncs", testDueSyncs},
	{"Session/List", testListSessions},
	{"Tx/Rollback", testTxRollback},
	{"Tx/ContextCanceled", testTxContextCanceled},
	{"Ping", func(t *testing.T, s *suite) {
		db, _ := s.store()
		if err := db.Ping(bg); err != nil {
			t.Fatal(err)
		}
	}},
})

func testSessionLifecycle(t *testing.T, st *suite) {
	db, clk := st.store()
	s := db.createSession(newSession("u1"))
	if s.ID == "" || s.State != host.SessionStarting || s.ExpiredNotice != host.ExpiredNoticeImmediate {
		t.Fatalf("CreateSession did not fill defaults: %+v", s)
	}
	if !s.CreatedAt.Equal(T0) || !s.UpdatedAt.Equal(T0) || !s.EndedAt.IsZero() {
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
	got, err := db.Session(bg, s.ID)
	read("Session", s, got, err)
	got, err = db.OpenSession(bg, "shop", "u1")
	read("OpenSession", s, got, err)
	db.mustTx(func(tx host.Tx) error {
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
	s.ChannelID = "web-2"
	db.updateSession(s)
	if !s.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("UpdatedAt = %v, want %v", s.UpdatedAt, clk.Now())
	}
	got, err = db.FindSessionByRef(bg, "shop", "ticket-42")
	read("FindSessionByRef", s, got, err)
	for _, c := range []struct{ bot, ref string }{{"shop", "nope"}, {"other", "ticket-42"}, {"shop", ""}} {
		_, err := db.FindSessionByRef(bg, c.bot, c.ref)
		wantCode(t, err, host.ENOTFOUND)
	}

	// Expiry in next_message mode: closed, notice pending.
	clk.Add(time.Minute)
	s.State, s.EndReason, s.NoticePending = host.SessionExpired, host.EndExpired, true
	db.updateSession(s)
	if !s.EndedAt.Equal(clk.Now()) {
		t.Errorf("EndedAt = %v, want the update time %v", s.EndedAt, clk.Now())
	}
	_, err = db.OpenSession(bg, "shop", "u1")
	wantCode(t, err, host.ENOTFOUND)
	db.mustTx(func(tx host.Tx) error {
		_, err := tx.OpenSession("shop", "u1")
		wantCode(t, err, host.ENOTFOUND)
		got, err := tx.PendingNotice("shop", "u1")
		read("PendingNotice", s, got, err)
		return nil
	})
	// The most recent session with the reference, closed or not.
	got, err = db.FindSessionByRef(bg, "shop", "ticket-42")
	read("FindSessionByRef of a closed session", s, got, err)

	// A closed session can be updated (the notice went out) but not change state.
	s.NoticePending = false
	db.updateSession(s)
	db.mustTx(func(tx host.Tx) error {
		_, err := tx.PendingNotice("shop", "u1")
		wantCode(t, err, host.ENOTFOUND)
		return nil
	})
	reopened := *s
	reopened.State, reopened.EndReason = host.SessionActive, ""
	err = db.Tx(bg, func(tx host.Tx) error { return tx.UpdateSession(&reopened) })
	wantField(t, err, host.ECONFLICT, "state")
	ended := *s
	ended.State, ended.EndReason = host.SessionEnded, host.EndAdmin
	err = db.Tx(bg, func(tx host.Tx) error { return tx.UpdateSession(&ended) })
	wantField(t, err, host.ECONFLICT, "state")

	got, err = db.Session(bg, s.ID)
	read("Session after refused updates", s, got, err)

	_, err = db.Session(bg, "missing")
	wantCode(t, err, host.ENOTFOUND)
	db.mustTx(func(tx host.Tx) error {
		_, err := tx.Session("missing")
		wantCode(t, err, host.ENOTFOUND)
		return nil
	})
	missing := newSession("u9")
	missing.ID, missing.State, missing.ExpiredNotice = "missing", host.SessionActive, host.ExpiredNoticeImmediate
	err = db.Tx(bg, func(tx host.Tx) error { return tx.UpdateSession(missing) })
	wantCode(t, err, host.ENOTFOUND)
}

func testCreateSessionInvalid(t *testing.T, st *suite) {
	db, _ := st.store()
	tests := []struct {
		name   string
		change func(*host.Session)
		field  string
	}{
		{"no bot", func(s *host.Session) { s.Bot = "" }, "bot"},
		{"no user", func(s *host.Session) { s.UserID = "" }, "user_id"},
		{"no provider", func(s *host.Session) { s.Provider = "" }, "provider"},
		{"unknown state", func(s *host.Session) { s.State = "paused" }, "state"},
		{"open with an end reason", func(s *host.Session) { s.EndReason = host.EndUser }, "end_reason"},
		{"closed without an end reason", func(s *host.Session) { s.State = host.SessionEnded }, "end_reason"},
		{"unknown notice", func(s *host.Session) { s.ExpiredNotice = "later" }, "expired_notice"},
		{"no expiry", func(s *host.Session) { s.ExpiresAt = time.Time{} }, "expires_at"},
		{"metadata not JSON", func(s *host.Session) { s.Metadata = map[string]any{"f": func() {}} }, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession("u1")
			tt.change(s)
			err := db.Tx(bg, func(tx host.Tx) error { return tx.CreateSession(s) })
			wantField(t, err, host.EINVALID, tt.field)
		})
	}
	if got, err := db.ListSessions(bg, host.SessionFilter{}); err != nil || len(got) != 0 {
		t.Errorf("refused sessions were stored: %d, %v", len(got), err)
	}
}

// testCreateSessionConcurrent races many requests to open a session for
// the same user: the store's uniqueness constraint lets exactly one win.
func testCreateSessionConcurrent(t *testing.T, st *suite) {
	db, _ := st.store()
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = db.Tx(bg, func(tx host.Tx) error {
				// Read first, as the engine does: every request may see
				// no open session and still only one may create one.
				switch _, err := tx.OpenSession("shop", "u1"); host.ErrorCode(err) {
				case "":
					return host.Errorf(host.ECONFLICT, "user u1 has an open session already")
				case host.ENOTFOUND:
				default:
					return err
				}
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
	stored, err := db.ListSessions(bg, host.SessionFilter{Bot: "shop", UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 {
		t.Errorf("%d sessions stored, want 1", len(stored))
	}
}

func testCreateSessionConflictKeepsTxUsable(t *testing.T, st *suite) {
	db, _ := st.store()
	first := db.createSession(newSession("u1"))
	// A second START: the engine meets ECONFLICT, reads the open session
	// and goes on in the same transaction.
	db.mustTx(func(tx host.Tx) error {
		err := tx.CreateSession(newSession("u1"))
		wantCode(t, err, host.ECONFLICT)
		open, err := tx.OpenSession("shop", "u1")
		if err != nil {
			return err
		}
		if open.ID != first.ID {
			t.Errorf("open session %s, want %s", open.ID, first.ID)
		}
		return tx.AppendMessage(userMessage("u1", open.ID, "LIVECHAT_SESSION_START"))
	})
	msgs, err := db.Messages(bg, first.ID)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Messages = %d, %v; want the message written after the conflict", len(msgs), err)
	}
	// The same ID twice is a conflict too, on the id.
	dup := newSession("u2")
	dup.ID = first.ID
	err = db.Tx(bg, func(tx host.Tx) error { return tx.CreateSession(dup) })
	wantField(t, err, host.ECONFLICT, "id")
	// Every other error of a Tx method leaves the transaction usable too.
	db.mustTx(func(tx host.Tx) error {
		wantCode(t, tx.AppendMessage(userMessage("u1", "no-such-session", "x")), host.EINVALID)
		_, err := tx.Session("no-such-session")
		wantCode(t, err, host.ENOTFOUND)
		bad := &host.Message{ID: msgs[0].ID, Bot: "shop", UserID: "u1", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("again")}
		wantCode(t, tx.AppendMessage(bad), host.ECONFLICT)
		wantCode(t, tx.SetPluginState(host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: "nope", Key: "k"}, []byte("v")), host.ENOTFOUND)
		return tx.AppendMessage(userMessage("u1", first.ID, "after the errors"))
	})
	if msgs, _ := db.Messages(bg, first.ID); len(msgs) != 2 {
		t.Errorf("%d messages, want 2: a write after errors in the same transaction was lost", len(msgs))
	}
}

func testClosedSessionAllowsNewOne(t *testing.T, st *suite) {
	for _, end := range []struct {
		state  host.SessionState
		reason host.EndReason
	}{
		{host.SessionEnded, host.EndUser},
		{host.SessionExpired, host.EndExpired},
		{host.SessionFailed, host.EndFailed},
	} {
		t.Run(string(end.state), func(t *testing.T) {
			db, _ := (&suite{t: t, open: st.open}).store()
			old := db.createSession(newSession("u1"))
			old.State, old.EndReason = end.state, end.reason
			db.updateSession(old)

			fresh := db.createSession(newSession("u1"))
			open, err := db.OpenSession(bg, "shop", "u1")
			if err != nil || open.ID != fresh.ID {
				t.Fatalf("OpenSession = %v, %v; want the new session %s", open, err, fresh.ID)
			}
			// Another user and another bot are independent.
			db.createSession(newSession("u2"))
			other := newSession("u1")
			other.Bot = "support"
			db.createSession(other)
		})
	}
}

// testUpdateSessionRules: UpdateSession stores every mutable field and
// only those; a closed session created closed gets its EndedAt; opening
// an old session beside the user's open one is ECONFLICT.
func testUpdateSessionRules(t *testing.T, st *suite) {
	db, clk := st.store()
	s := db.createSession(newSession("u1"))
	clk.Add(time.Second)
	changed := *s
	changed.Bot, changed.UserID, changed.Provider = "other-bot", "other-user", "other-provider"
	changed.CreatedAt = T0.Add(-time.Hour)
	changed.State = host.SessionActive
	changed.ProviderRef, changed.ChannelID = "T-1", "sms"
	changed.Metadata = nil
	changed.ExpiredNotice = host.ExpiredNoticeNextMessage
	changed.SyncCursor, changed.SyncedAt = "cursor-1", T0.Add(500*time.Millisecond)
	changed.ExpiresAt = T0.Add(time.Hour)
	db.updateSession(&changed)
	got, err := db.Session(bg, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *s
	want.State, want.ProviderRef, want.ChannelID, want.Metadata = host.SessionActive, "T-1", "sms", nil
	want.ExpiredNotice, want.SyncCursor, want.SyncedAt = host.ExpiredNoticeNextMessage, "cursor-1", T0.Add(500*time.Millisecond)
	want.ExpiresAt, want.UpdatedAt = T0.Add(time.Hour), clk.Now()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("stored after UpdateSession (-want +got): ID, Bot, UserID, Provider and CreatedAt must not change\n%s", diff)
	}

	// Times are kept to the millisecond.
	precise := *got
	precise.ExpiresAt = T0.Add(time.Hour + 1500*time.Microsecond)
	db.updateSession(&precise)
	if got, _ := db.Session(bg, s.ID); !got.ExpiresAt.Equal(T0.Add(time.Hour + time.Millisecond)) {
		t.Errorf("ExpiresAt %v, want it truncated to the millisecond", got.ExpiresAt)
	}

	// A session created closed is ended at its creation.
	closed := newSession("u2")
	closed.State, closed.EndReason = host.SessionFailed, host.EndFailed
	db.createSession(closed)
	if !closed.EndedAt.Equal(clk.Now()) {
		t.Errorf("a session created closed has EndedAt %v, want %v", closed.EndedAt, clk.Now())
	}
	if got, _ := db.Session(bg, closed.ID); !got.EndedAt.Equal(clk.Now()) {
		t.Errorf("stored EndedAt %v, want %v", got.EndedAt, clk.Now())
	}

	// Opening a starting session's twin: an update that would give the
	// user a second open session is ECONFLICT.
	a := db.createSession(newSession("u3"))
	a.State, a.EndReason = host.SessionEnded, host.EndUser
	db.updateSession(a)
	db.createSession(newSession("u3"))
	// The closed one stays closed whatever the update says.
	a.State, a.EndReason = host.SessionStarting, ""
	err = db.Tx(bg, func(tx host.Tx) error { return tx.UpdateSession(a) })
	wantCode(t, err, host.ECONFLICT)
	// An invalid update is EINVALID naming the field, and changes nothing.
	b := db.createSession(newSession("u4"))
	b.ExpiresAt = time.Time{}
	err = db.Tx(bg, func(tx host.Tx) error { return tx.UpdateSession(b) })
	wantField(t, err, host.EINVALID, "expires_at")
}

// testExtendRacesExpiry races, on every session, a message that extends
// the session against the expiry job, each as the engine writes them: read
// the session in the transaction, decide, update. Whatever the
// interleaving, a session is expired only if no extension committed
// before, and an extension that committed is never overwritten by an
// expiry decided on what it read before: each session ends up either
// extended (and open) or expired, never both.
func testExtendRacesExpiry(t *testing.T, st *suite) {
	db, clk := st.store()
	const n = 40
	ids := make([]string, n)
	for i := range n {
		s := newSession(fmt.Sprintf("u%02d", i))
		s.State = host.SessionActive
		s.ExpiresAt = T0 // due now
		ids[i] = db.createSession(s).ID
	}
	now := clk.Now()
	extended := make([]bool, n)
	expired := make([]bool, n)
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		wg.Go(func() { // a user message: the session lives 30 more minutes
			<-start
			err := db.Tx(bg, func(tx host.Tx) error {
				extended[i] = false // a store may run fn again (a retried deadlock)
				s, err := tx.Session(id)
				if err != nil {
					return err
				}
				if !s.State.IsOpen() {
					return nil // the session closed: the engine hands the event to the bot
				}
				s.ExpiresAt = now.Add(30 * time.Minute)
				if err := tx.UpdateSession(s); err != nil {
					return err
				}
				extended[i] = true
				return nil
			})
			if err != nil && host.ErrorCode(err) != host.ECONFLICT && host.ErrorCode(err) != host.EBUSY {
				errs <- fmt.Errorf("extend %s: %w", id, err)
			}
			if err != nil {
				extended[i] = false
			}
		})
		wg.Go(func() { // the expiry job
			<-start
			err := db.Tx(bg, func(tx host.Tx) error {
				expired[i] = false
				s, err := tx.Session(id)
				if err != nil {
					return err
				}
				if !s.State.IsOpen() || s.ExpiresAt.After(now) {
					return nil // touched meanwhile
				}
				s.State, s.EndReason = host.SessionExpired, host.EndExpired
				if err := tx.UpdateSession(s); err != nil {
					return err
				}
				expired[i] = true
				return nil
			})
			if err != nil && host.ErrorCode(err) != host.ECONFLICT && host.ErrorCode(err) != host.EBUSY {
				errs <- fmt.Errorf("expire %s: %w", id, err)
			}
			if err != nil {
				expired[i] = false
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, id := range ids {
		s, err := db.Session(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case extended[i] && expired[i]:
			t.Errorf("session %d was both extended and expired: the expiry overwrote a message it had not seen (state %s, expires %v)", i, s.State, s.ExpiresAt)
		case extended[i] && (s.State != host.SessionActive || !s.ExpiresAt.Equal(now.Add(30*time.Minute))):
			t.Errorf("session %d was extended but is %s, expiring %v", i, s.State, s.ExpiresAt)
		case expired[i] && s.State != host.SessionExpired:
			t.Errorf("session %d was expired but is %s", i, s.State)
		case !extended[i] && !expired[i]:
			t.Errorf("session %d was neither extended nor expired (%s)", i, s.State)
		}
	}
}

func testPendingNotice(t *testing.T, st *suite) {
	db, clk := st.store()
	_, err := db.PendingNotice(bg, "shop", "u1")
	wantCode(t, err, host.ENOTFOUND)
	old := newSession("u1")
	old.ExpiredNotice = host.ExpiredNoticeNextMessage
	db.createSession(old)
	old.State, old.EndReason, old.NoticePending = host.SessionExpired, host.EndExpired, true
	db.updateSession(old)
	clk.Add(time.Second)
	recent := newSession("u1")
	recent.ExpiredNotice = host.ExpiredNoticeNextMessage
	db.createSession(recent)
	recent.State, recent.EndReason, recent.NoticePending = host.SessionExpired, host.EndExpired, true
	db.updateSession(recent)
	other := newSession("u2")
	db.createSession(other)

	got, err := db.PendingNotice(bg, "shop", "u1")
	if err != nil || got.ID != recent.ID {
		t.Fatalf("PendingNotice = %v, %v; want the most recent session %s", got, err, recent.ID)
	}
	for _, c := range [][2]string{{"shop", "u2"}, {"support", "u1"}} {
		_, err := db.PendingNotice(bg, c[0], c[1])
		wantCode(t, err, host.ENOTFOUND)
	}
	recent.NoticePending = false
	db.updateSession(recent)
	got, err = db.PendingNotice(bg, "shop", "u1")
	if err != nil || got.ID != old.ID {
		t.Fatalf("PendingNotice after the recent one was told = %v, %v; want %s", got, err, old.ID)
	}
}

func testDueExpiries(t *testing.T, st *suite) {
	db, _ := st.store()
	at := func(user string, state host.SessionState, expires time.Duration) {
		s := newSession(user)
		s.ExpiresAt = T0.Add(expires)
		s = db.createSession(s)
		if state != host.SessionStarting {
			s.State = state
			if !state.IsOpen() {
				s.EndReason = host.EndUser
			}
			db.updateSession(s)
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
		{T0.Add(-2 * time.Hour), 0, []string{}},
		{T0, 0, []string{"early", "late", "exact"}},
		{T0, 2, []string{"early", "late"}},
		{T0.Add(time.Minute), 10, []string{"early", "late", "exact", "future"}},
	}
	for _, tt := range tests {
		due, err := db.DueExpiries(bg, tt.now, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, users(due)); diff != "" {
			t.Errorf("DueExpiries(T0%+v, %d) (-want +got):\n%s", tt.now.Sub(T0), tt.limit, diff)
		}
	}
}

// testDueSyncs lists a bot's active sessions with a ticket, least recently
// read back first, and UpdateSession keeps what the last read left.
func testDueSyncs(t *testing.T, st *suite) {
	db, _ := st.store()
	at := func(bot, user string, state host.SessionState, ref string, synced time.Duration) {
		s := newSession(user)
		s.Bot = bot
		s = db.createSession(s)
		s.State, s.ProviderRef = state, ref
		if !state.IsOpen() {
			s.EndReason = host.EndUser
		}
		if synced != 0 {
			s.SyncedAt, s.SyncCursor = T0.Add(synced), "c-"+user
		}
		db.updateSession(s)
	}
	at("shop", "never", host.SessionActive, "T1", 0)
	at("shop", "old", host.SessionActive, "T2", -time.Hour)
	at("shop", "recent", host.SessionActive, "T3", -time.Second)
	at("shop", "starting", host.SessionStarting, "", 0)
	at("shop", "no-ticket", host.SessionActive, "", 0)
	at("shop", "ended", host.SessionEnded, "T4", 0)
	at("other", "elsewhere", host.SessionActive, "T5", 0)

	tests := []struct {
		before time.Time
		limit  int
		want   []string // users, least recently read first
	}{
		{T0.Add(-2 * time.Hour), 0, []string{"never"}},
		{T0.Add(-time.Minute), 0, []string{"never", "old"}},
		{T0, 0, []string{"never", "old", "recent"}},
		{T0, 1, []string{"never"}},
	}
	for _, tt := range tests {
		due, err := db.DueSyncs(bg, "shop", tt.before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, users(due)); diff != "" {
			t.Errorf("DueSyncs(T0%+v, %d) (-want +got):\n%s", tt.before.Sub(T0), tt.limit, diff)
		}
	}
	s, err := db.OpenSession(bg, "shop", "old")
	if err != nil {
		t.Fatal(err)
	}
	if s.SyncCursor != "c-old" || !s.SyncedAt.Equal(T0.Add(-time.Hour)) {
		t.Errorf("read back cursor %q at %v, want c-old at T0-1h", s.SyncCursor, s.SyncedAt)
	}
}

func testListSessions(t *testing.T, st *suite) {
	db, clk := st.store()
	var all []*host.Session // oldest first
	for i := range 7 {
		s := newSession(fmt.Sprintf("u%d", i))
		if i%2 == 1 {
			s.Bot = "support"
		}
		all = append(all, db.createSession(s))
		if i%3 != 0 { // some share a creation time: the cursor must break ties
			clk.Add(time.Second)
		}
	}
	all[2].State, all[2].EndReason = host.SessionEnded, host.EndUser
	db.updateSession(all[2])

	// Everything, newest first, paged by 3.
	var pages [][]string
	f := host.SessionFilter{Limit: 3}
	for range 10 {
		page, err := db.ListSessions(bg, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, users(page))
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
	want := users(sorted)
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
			got, err := db.ListSessions(bg, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, users(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	_, err := db.ListSessions(bg, host.SessionFilter{Before: "unknown"})
	wantField(t, err, host.EINVALID, "before")
	_, err = db.ListSessions(bg, host.SessionFilter{State: "paused"})
	wantField(t, err, host.EINVALID, "state")
}

func testTxRollback(t *testing.T, st *suite) {
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
			db, _ := (&suite{t: t, open: st.open}).store()
			s := newSession("u1")
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = r.(error)
					}
				}()
				err = db.Tx(bg, func(tx host.Tx) error {
					if err := tx.CreateSession(s); err != nil {
						return err
					}
					if err := tx.AppendMessage(userMessage("u1", s.ID, "hi")); err != nil {
						return err
					}
					if err := tx.AppendMessage(userMessage("u1", "", "outside")); err != nil {
						return err
					}
					if err := tx.Enqueue(&host.OutboxItem{Key: "start-" + s.ID, Queue: host.ProviderQueue(s.ID), Kind: host.KindProviderStart}); err != nil {
						return err
					}
					if _, err := tx.MarkProcessed("events", "e1"); err != nil {
						return err
					}
					if err := tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u1", ID: "r1", Response: []byte(`{}`)}); err != nil {
						return err
					}
					if err := tx.SetPluginState(host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: "k"}, []byte("v")); err != nil {
						return err
					}
					return tt.fail()
				})
			}()
			if !errors.Is(err, errBoom) {
				t.Fatalf("Tx = %v, want fn's error", err)
			}

			if _, err := db.Session(bg, s.ID); host.ErrorCode(err) != host.ENOTFOUND {
				t.Errorf("session after rollback: %v, want ENOTFOUND", err)
			}
			if msgs, err := db.Transcript(bg, "shop", "u1", 10); err != nil || len(msgs) != 0 {
				t.Errorf("messages after rollback: %d, %v", len(msgs), err)
			}
			if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{}) {
				t.Errorf("outbox after rollback: %+v, %v", st, err)
			}
			if _, ok, err := db.NextDue(bg); ok || err != nil {
				t.Errorf("NextDue after rollback: ok=%v err=%v", ok, err)
			}
			if pending, err := db.Pending(bg, host.ProviderQueue(s.ID)); pending || err != nil {
				t.Errorf("Pending after rollback: %v, %v", pending, err)
			}
			if _, err := db.RecalledRequest(bg, "shop", "u1", "r1"); host.ErrorCode(err) != host.ENOTFOUND {
				t.Errorf("request after rollback: %v, want ENOTFOUND", err)
			}
			if _, err := db.PluginState(bg, host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: "k"}); host.ErrorCode(err) != host.ENOTFOUND {
				t.Errorf("plugin state after rollback: %v, want ENOTFOUND", err)
			}
			if db.woke() {
				t.Error("Wake fired after a rollback")
			}
			// The store is usable and the event id was not consumed.
			db.mustTx(func(tx host.Tx) error {
				first, err := tx.MarkProcessed("events", "e1")
				if !first {
					t.Error("event of the rolled back transaction counts as processed")
				}
				return err
			})
			db.createSession(newSession("u1"))
		})
	}
}

func testTxContextCanceled(t *testing.T, st *suite) {
	db, _ := st.store()
	ctx, cancel := context.WithCancel(bg)
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
	if _, err := db.Session(bg, s.ID); host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("session of a canceled transaction: %v, want ENOTFOUND", err)
	}
	// The store is usable again.
	db.createSession(newSession("u1"))
}

// testGlance: one read answers what the engine needs to know before an
// event: the request's record, a pending notice, the open session.
func testGlance(t *testing.T, st *suite) {
	db, _ := st.store()
	glance := func(bot, user, req string) host.Glance {
		t.Helper()
		g, err := db.Glance(bg, bot, user, req)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	if g := glance("shop", "nobody", "r1"); g.Request != nil || g.NoticePending || g.OpenSession != "" {
		t.Errorf("a stranger: %+v, want nothing", g)
	}
	// An expired session whose notice is pending, then a new open one.
	old := db.createSession(newSession("u"))
	old.State, old.EndReason, old.NoticePending = host.SessionExpired, host.EndExpired, true
	db.updateSession(old)
	if g := glance("shop", "u", ""); !g.NoticePending || g.OpenSession != "" || g.Request != nil {
		t.Errorf("after the expiry: %+v, want the notice pending and no open session", g)
	}
	open := db.createSession(newSession("u"))
	db.mustTx(func(tx host.Tx) error {
		return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u", ID: "r1", BodyHash: "h1", Response: []byte(`{"messages": []}`)})
	})
	g := glance("shop", "u", "r1")
	if !g.NoticePending || g.OpenSession != open.ID {
		t.Errorf("with an open session: %+v, want the notice pending and session %s", g, open.ID)
	}
	if g.Request == nil || g.Request.BodyHash != "h1" || string(g.Request.Response) != `{"messages": []}` ||
		g.Request.ID != "r1" || g.Request.Bot != "shop" || g.Request.UserID != "u" {
		t.Errorf("the request's record: %+v", g.Request)
	}
	// Requests are per user and per bot; "" asks for none.
	if g := glance("shop", "v", "r1"); g.Request != nil {
		t.Errorf("another user's request r1 was found: %+v", g.Request)
	}
	if g := glance("other", "u", "r1"); g.Request != nil || g.OpenSession != "" || g.NoticePending {
		t.Errorf("another bot: %+v, want nothing", g)
	}
	if g := glance("shop", "u", ""); g.Request != nil {
		t.Errorf("no request asked, one found: %+v", g.Request)
	}
	old.NoticePending = false
	db.updateSession(old)
	if g := glance("shop", "u", ""); g.NoticePending || g.OpenSession != open.ID {
		t.Errorf("once told: %+v, want no notice pending", g)
	}
	// A request recorded through Record is found too.
	if ok, err := db.Record(bg, exchange("w", "r2", "a")); !ok || err != nil {
		t.Fatalf("Record: %v, %v", ok, err)
	}
	if g := glance("shop", "w", "r2"); g.Request == nil || g.Request.BodyHash != "h-r2" {
		t.Errorf("a recorded request: %+v", g.Request)
	}
}
