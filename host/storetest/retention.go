package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
)

var _ = register([]testCase{
	{"PluginState/RoundTrip", testPluginStateRoundTrip},
	{"PluginState/NeedsTheSession", testPluginStateNeedsTheSession},
	{"PluginState/Limits", testPluginStateLimits},
	{"Retention/PluginState", testDeletePluginState},
	{"Retention/Deletes", testRetentionDeletes},
	{"Retention/BadLimit", testRetentionBadLimit},
})

func (f *fixture) setState(k host.PluginStateKey, v []byte) error {
	return f.Tx(bg, func(tx host.Tx) error { return tx.SetPluginState(k, v) })
}

func (f *fixture) deleteState(k host.PluginStateKey) error {
	return f.Tx(bg, func(tx host.Tx) error { return tx.DeletePluginState(k) })
}

// wantState fails unless k holds want (nil: holds nothing, ENOTFOUND).
func (f *fixture) wantState(k host.PluginStateKey, want []byte) {
	f.t.Helper()
	got, err := f.PluginState(bg, k)
	if want == nil {
		if host.ErrorCode(err) != host.ENOTFOUND {
			f.t.Errorf("PluginState(%+v) = %q, %v; want ENOTFOUND", k, got, err)
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) || got == nil {
		f.t.Errorf("PluginState(%+v) = %q, %v; want %q", k, got, err, want)
	}
}

// A plugin's state is per (provider, bot, session, key), replaced by a
// set, removed by a delete; bytes are kept as they are.
func testPluginStateRoundTrip(t *testing.T, st *suite) {
	db, _ := st.store()
	s := db.createSession(newSession("u1"))
	k := host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: "sent:m1"}
	db.wantState(k, nil)
	if err := db.setState(k, []byte("message 1")); err != nil {
		t.Fatal(err)
	}
	if err := db.setState(k, []byte("message 2")); err != nil {
		t.Fatal(err)
	}
	db.wantState(k, []byte("message 2"))
	binary := k
	binary.Key = "binary ✓"
	if err := db.setState(binary, []byte{0, 0xff, 0xfe, '\n'}); err != nil {
		t.Fatal(err)
	}
	db.wantState(binary, []byte{0, 0xff, 0xfe, '\n'})
	empty := k
	empty.Key = "empty"
	if err := db.setState(empty, nil); err != nil {
		t.Fatal(err)
	}
	db.wantState(empty, []byte{})
	gone := k
	gone.Key = "gone"
	if err := db.setState(gone, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := db.deleteState(gone); err != nil {
		t.Fatal(err)
	}
	db.wantState(gone, nil)
	if err := db.deleteState(gone); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	// The same key of another provider, bot or session is another value.
	for _, other := range []host.PluginStateKey{
		{Provider: "chatwoot", Bot: k.Bot, SessionID: k.SessionID, Key: k.Key},
		{Provider: k.Provider, Bot: "other", SessionID: k.SessionID, Key: k.Key},
		{Provider: k.Provider, Bot: k.Bot, SessionID: "nope", Key: k.Key},
	} {
		db.wantState(other, nil)
	}
	// A closed session's state stays readable and writable: the plugin
	// may still be ending its ticket.
	db.closeSession(s)
	db.wantState(k, []byte("message 2"))
	if err := db.setState(k, []byte("message 3")); err != nil {
		t.Errorf("set on a closed session: %v", err)
	}
}

// State is written only for a stored session of the key's bot and
// provider: a plugin cannot leave rows no session's retention would remove.
func testPluginStateNeedsTheSession(t *testing.T, st *suite) {
	db, _ := st.store()
	s := db.createSession(newSession("u1")) // bot shop, provider gorgias
	for _, k := range []host.PluginStateKey{
		{Provider: "gorgias", Bot: "shop", SessionID: "no-such-session", Key: "k"},
		{Provider: "chatwoot", Bot: "shop", SessionID: s.ID, Key: "k"},
		{Provider: "gorgias", Bot: "other", SessionID: s.ID, Key: "k"},
	} {
		err := db.setState(k, []byte("v"))
		var he *host.Error
		if !errors.As(err, &he) || he.Code != host.ENOTFOUND || he.Field != "session_id" {
			t.Errorf("SetPluginState(%+v) = %v, want ENOTFOUND on session_id", k, err)
		}
		db.wantState(k, nil)
	}
}

// Bad keys and oversized values are EINVALID naming the field, and store
// nothing; a session's state is bounded in all.
func testPluginStateLimits(t *testing.T, st *suite) {
	db, _ := st.store()
	s := db.createSession(newSession("u1"))
	k := host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: "k"}
	with := func(f func(*host.PluginStateKey)) host.PluginStateKey { c := k; f(&c); return c }
	for _, tc := range []struct {
		name  string
		key   host.PluginStateKey
		value []byte
		field string
	}{
		{"no key", with(func(k *host.PluginStateKey) { k.Key = "" }), nil, "key"},
		{"no session", with(func(k *host.PluginStateKey) { k.SessionID = "" }), nil, "session_id"},
		{"no bot", with(func(k *host.PluginStateKey) { k.Bot = "" }), nil, "bot_id"},
		{"no provider", with(func(k *host.PluginStateKey) { k.Provider = "" }), nil, "provider"},
		{"long key", with(func(k *host.PluginStateKey) { k.Key = strings.Repeat("k", host.MaxPluginStateKey+1) }), nil, "key"},
		{"not UTF-8", with(func(k *host.PluginStateKey) { k.Key = "\xff" }), nil, "key"},
		{"big value", k, make([]byte, host.MaxPluginStateValue+1), "value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantField(t, db.setState(tc.key, tc.value), host.EINVALID, tc.field)
			if tc.name != "big value" {
				_, err := db.PluginState(bg, tc.key)
				wantField(t, err, host.EINVALID, tc.field)
				wantField(t, db.deleteState(tc.key), host.EINVALID, tc.field)
			}
		})
	}
	db.wantState(k, nil)
	if err := db.setState(k, make([]byte, host.MaxPluginStateValue)); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}

	// A session's state is bounded in all; replacing a key counts it once,
	// and deleting keys makes room.
	s2 := db.createSession(newSession("u2"))
	k2 := host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s2.ID}
	v := make([]byte, host.MaxPluginStateValue-2)
	n := host.MaxPluginStateSession / host.MaxPluginStateValue // keys of 2 bytes: each row exactly MaxPluginStateValue
	for i := range n {
		k2.Key = string(rune('A'+i/26)) + string(rune('a'+i%26))
		if err := db.setState(k2, v); err != nil {
			t.Fatalf("key %d of %d: %v", i+1, n, err)
		}
	}
	if err := db.setState(k2, v); err != nil {
		t.Errorf("replacing a key of a full session: %v", err)
	}
	// Another provider's state of the same session has a bound of its own.
	other := host.PluginStateKey{Provider: "chatwoot", Bot: "shop", SessionID: s2.ID, Key: "x"}
	if err := db.setState(other, []byte("x")); host.ErrorCode(err) != host.ENOTFOUND {
		t.Errorf("another provider's state: %v (the session is gorgias's: ENOTFOUND)", err)
	}
	k2.Key = "zz"
	err := db.setState(k2, []byte("x"))
	var he *host.Error
	if !errors.As(err, &he) || he.Code != host.EINVALID || he.Field != "value" || !strings.Contains(he.Message, fmt.Sprint(host.MaxPluginStateSession)) {
		t.Fatalf("one byte more than the session's bound: %v, want EINVALID on value saying the bound", err)
	}
	k2.Key = "Aa"
	if err := db.deleteState(k2); err != nil {
		t.Fatal(err)
	}
	k2.Key = "zz"
	if err := db.setState(k2, []byte("x")); err != nil {
		t.Errorf("after a delete made room: %v", err)
	}
}

// The retention job's rule for plugin state: the state of sessions closed
// before the cutoff goes, whether written before or after the close; open
// sessions' and recently closed ones' stays.
func testDeletePluginState(t *testing.T, st *suite) {
	db, c := st.store()
	open := db.createSession(newSession("open"))
	old := db.createSession(newSession("old"))
	recent := db.createSession(newSession("recent"))
	key := func(s *host.Session, key string) host.PluginStateKey {
		return host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: key}
	}
	for _, s := range []*host.Session{open, old, recent} {
		if err := db.setState(key(s, "before close"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	db.closeSession(old)
	if err := db.setState(key(old, "after close"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	c.Add(10 * 24 * time.Hour)
	db.closeSession(recent)
	if err := db.setState(key(recent, "after close"), []byte("v")); err != nil {
		t.Fatal(err)
	}

	cutoff := c.Now().Add(-24 * time.Hour)
	n, err := db.DeletePluginState(bg, cutoff, 1)
	if err != nil || n != 1 {
		t.Fatalf("first batch of 1: %d, %v", n, err)
	}
	n, err = db.DeletePluginState(bg, cutoff, 100)
	if err != nil || n != 1 {
		t.Fatalf("second batch: %d, %v; want the other value of the old session", n, err)
	}
	db.wantState(key(old, "before close"), nil)
	db.wantState(key(old, "after close"), nil)
	db.wantState(key(open, "before close"), []byte("v"))
	db.wantState(key(recent, "before close"), []byte("v"))
	db.wantState(key(recent, "after close"), []byte("v"))
	if n, err := db.DeletePluginState(bg, cutoff, 100); err != nil || n != 0 {
		t.Errorf("third batch: %d, %v; want nothing left to delete", n, err)
	}
	if _, err := db.DeletePluginState(bg, cutoff, 0); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("batch 0: %v, want EINVALID", err)
	}
}

const day = 24 * time.Hour

// testRetentionDeletes fills a store over 100 days and runs each delete
// with the default ages at day 100, in batches of 2: only what is old
// enough goes, pending work and open sessions' messages stay, and no batch
// deletes more than its limit.
func testRetentionDeletes(t *testing.T, st *suite) {
	db, clk := st.store()
	now := T0.Add(100 * day)

	// item enqueues an item at T0 and, unless pending, finishes it at
	// finished (the clock's time then).
	item := func(key string, state host.OutboxState, finished time.Time) {
		t.Helper()
		clk.Set(T0)
		o := &host.OutboxItem{Key: key, Queue: "q:" + key, Kind: host.KindProviderSend, Payload: json.RawMessage(`{"transcript":[]}`)}
		db.mustTx(func(tx host.Tx) error { return tx.Enqueue(o) })
		if state == host.OutboxPending {
			return
		}
		clk.Set(finished)
		it := db.claimOne(finished, key)
		var err error
		if state == host.OutboxDone {
			err = db.Complete(bg, it)
		} else {
			err = db.Dead(bg, it, "given up")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		item(fmt.Sprintf("done-old-%d", i), host.OutboxDone, T0)
	}
	item("dead-old", host.OutboxDead, T0)
	item("done-young", host.OutboxDone, T0.Add(95*day))
	item("dead-young", host.OutboxDead, T0.Add(95*day))
	item("pending-old", host.OutboxPending, time.Time{}) // stuck for 100 days: kept

	event := func(id string) {
		db.mustTx(func(tx host.Tx) error { _, err := tx.MarkProcessed("webhook:echo/shop", id); return err })
	}
	request := func(id string) {
		db.mustTx(func(tx host.Tx) error {
			return tx.RememberRequest(&host.Request{Bot: "shop", UserID: "u", ID: id, Response: json.RawMessage(`{}`)})
		})
	}
	stream := func(user string, n int) {
		for i := range n {
			if _, err := db.AppendStream(bg, "shop", user, "", json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	messages := func(user, sessionID string, n int) {
		db.mustTx(func(tx host.Tx) error {
			for i := range n {
				if err := tx.AppendMessage(userMessage(user, sessionID, fmt.Sprint(i))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// Dedup records, stream entries and messages outside sessions at day
	// 0 and day 95.
	clk.Set(T0)
	event("e-old-1")
	event("e-old-2")
	event("e-old-3")
	request("r-old-1")
	request("r-old-2")
	request("r-old-3")
	stream("u-stream", 5)
	messages("u-bot", "", 5)
	if ok, err := db.Record(bg, exchange("u-rec", "", "recorded")); !ok || err != nil {
		t.Fatalf("Record: %v, %v", ok, err)
	}
	clk.Set(T0.Add(95 * day))
	event("e-young")
	request("r-young")
	stream("u-stream", 1)
	messages("u-bot", "", 1)

	// Sessions, all with messages written at day 0: one closed at day 0
	// (its messages go), one closed at day 20 (closed for 80 days: kept),
	// one still open at day 100 (kept whatever their age).
	clk.Set(T0)
	closedOld, closedRecently, open := db.createSession(newSession("u-closed-old")), db.createSession(newSession("u-closed-recently")), db.createSession(newSession("u-open"))
	messages("u-closed-old", closedOld.ID, 3)
	messages("u-closed-recently", closedRecently.ID, 3)
	messages("u-open", open.ID, 3)
	db.closeSession(closedOld)
	clk.Set(T0.Add(20 * day))
	db.closeSession(closedRecently)
	clk.Set(T0.Add(99 * day))
	open.ExpiresAt = now.Add(time.Hour)
	db.updateSession(open)
	clk.Set(now)

	const batch = 2
	rules := []struct {
		name   string
		delete func(ctx contextT, before time.Time, limit int) (int, error)
		age    time.Duration
		want   int // rows deleted in all
	}{
		{"done work", db.DeleteDoneWork, 7 * day, 5},
		{"dead letters", db.DeleteDeadLetters, 30 * day, 1},
		{"processed events", db.DeleteProcessedEvents, 30 * day, 3},
		{"requests", db.DeleteRequests, 7 * day, 3},
		{"transcripts", db.DeleteTranscripts, 90 * day, 5 + 2 + 3},
		{"webchat streams", db.DeleteStreamEntries, 30 * day, 5},
	}
	for _, r := range rules {
		total, batches := 0, 0
		for {
			n, err := r.delete(bg, now.Add(-r.age), batch)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if n > batch {
				t.Errorf("%s: one batch deleted %d rows, limit %d", r.name, n, batch)
			}
			total += n
			if batches++; n == 0 || batches > 20 {
				break
			}
		}
		if total != r.want {
			t.Errorf("%s deleted %d rows, want %d", r.name, total, r.want)
		}
	}

	// The survivors are the right ones.
	if st, err := db.OutboxStats(bg); err != nil || st != (host.OutboxStats{Pending: 1, Done: 1, Dead: 1}) {
		t.Errorf("outbox after retention: %+v, %v; want the pending item and the young done and dead ones", st, err)
	}
	if dead, _ := db.DeadLetters(bg, 10); len(dead) != 1 || dead[0].Key != "dead-young" {
		t.Errorf("dead letters after retention: %v, want dead-young", keysOf(dead))
	}
	_ = db.Tx(bg, func(tx host.Tx) error {
		for id, wantFirst := range map[string]bool{"e-old-1": true, "e-old-2": true, "e-old-3": true, "e-young": false} {
			first, err := tx.MarkProcessed("webhook:echo/shop", id)
			if err != nil {
				return err
			}
			if first != wantFirst {
				t.Errorf("event %s: first = %v after retention, want %v", id, first, wantFirst)
			}
		}
		return host.Errorf(host.EINVALID, "roll back the probes")
	})
	for id, kept := range map[string]bool{"r-old-1": false, "r-old-3": false, "r-young": true} {
		_, err := db.RecalledRequest(bg, "shop", "u", id)
		if got := err == nil; got != kept {
			t.Errorf("request %s kept = %v (%v), want %v", id, got, err, kept)
		}
	}
	if msgs, _ := db.Transcript(bg, "shop", "u-bot", 10); len(msgs) != 1 {
		t.Errorf("u-bot has %d messages, want the young one", len(msgs))
	}
	if msgs, _ := db.Transcript(bg, "shop", "u-rec", 10); len(msgs) != 0 {
		t.Errorf("the old record's messages are kept: %d", len(msgs))
	}
	if entries, _ := db.Stream(bg, "shop", "u-stream", 0, 0); len(entries) != 1 {
		t.Errorf("stream has %d entries, want the young one", len(entries))
	}
	for _, id := range []string{open.ID, closedRecently.ID} {
		if ms, err := db.Messages(bg, id); err != nil || len(ms) != 3 {
			t.Errorf("session %s has %d messages (%v), want its 3", id, len(ms), err)
		}
	}
	if ms, err := db.Messages(bg, closedOld.ID); err != nil || len(ms) != 0 {
		t.Errorf("session closed 100 days ago has %d messages (%v), want none", len(ms), err)
	}
	if _, err := db.Session(bg, closedOld.ID); err != nil {
		t.Errorf("the session itself is kept: %v", err)
	}
	if got := db.claimKeys(now); !cmp.Equal(got, []string{"pending-old"}) {
		t.Errorf("claimable after retention: %v, want pending-old", got)
	}
}

func testRetentionBadLimit(t *testing.T, st *suite) {
	db, _ := st.store()
	for name, del := range map[string]func(contextT, time.Time, int) (int, error){
		"done work": db.DeleteDoneWork, "dead letters": db.DeleteDeadLetters, "processed events": db.DeleteProcessedEvents,
		"requests": db.DeleteRequests, "transcripts": db.DeleteTranscripts, "stream": db.DeleteStreamEntries, "plugin state": db.DeletePluginState,
	} {
		if _, err := del(bg, T0, 0); host.ErrorCode(err) != host.EINVALID {
			t.Errorf("%s, limit 0: %v, want EINVALID", name, err)
		}
	}
}
