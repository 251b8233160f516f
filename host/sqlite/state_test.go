package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

func setState(db *sqlite.DB, k host.PluginStateKey, v []byte) error {
	return db.Tx(context.Background(), func(tx host.Tx) error { return tx.SetPluginState(k, v) })
}

func deleteState(db *sqlite.DB, k host.PluginStateKey) error {
	return db.Tx(context.Background(), func(tx host.Tx) error { return tx.DeletePluginState(k) })
}

// wantState fails unless k holds want (nil: holds nothing, ENOTFOUND).
func wantState(t *testing.T, db *sqlite.DB, k host.PluginStateKey, want []byte) {
	t.Helper()
	got, err := db.PluginState(context.Background(), k)
	if want == nil {
		if host.ErrorCode(err) != host.ENOTFOUND {
			t.Errorf("PluginState(%+v) = %q, %v; want ENOTFOUND", k, got, err)
		}
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("PluginState(%+v) = %q, %v; want %q", k, got, err, want)
	}
}

// A plugin's state is per (provider, bot, session, key), replaced by a set,
// removed by a delete, and kept across a close and reopen of the store.
func TestPluginStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := createSession(t, db, newSession("u1"))
	k := host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: "sent:m1"}
	wantState(t, db, k, nil)
	if err := setState(db, k, []byte("message 1")); err != nil {
		t.Fatal(err)
	}
	if err := setState(db, k, []byte("message 2")); err != nil {
		t.Fatal(err)
	}
	wantState(t, db, k, []byte("message 2"))
	empty := k
	empty.Key = "empty"
	if err := setState(db, empty, nil); err != nil {
		t.Fatal(err)
	}
	wantState(t, db, empty, []byte{})
	gone := k
	gone.Key = "gone"
	if err := setState(db, gone, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := deleteState(db, gone); err != nil {
		t.Fatal(err)
	}
	wantState(t, db, gone, nil)
	if err := deleteState(db, gone); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	// The same key of another provider, bot or session is another value.
	for _, other := range []host.PluginStateKey{
		{Provider: "chatwoot", Bot: k.Bot, SessionID: k.SessionID, Key: k.Key},
		{Provider: k.Provider, Bot: "other", SessionID: k.SessionID, Key: k.Key},
		{Provider: k.Provider, Bot: k.Bot, SessionID: "nope", Key: k.Key},
	} {
		wantState(t, db, other, nil)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, _ = openAt(t, path, sqlite.Options{})
	wantState(t, db, k, []byte("message 2"))
	wantState(t, db, empty, []byte{})
}

// State is written only for a stored session of the key's bot and provider:
// a plugin cannot leave rows no session's retention would remove.
func TestPluginStateNeedsTheSession(t *testing.T) {
	db, _ := openDB(t)
	s := createSession(t, db, newSession("u1")) // bot shop, provider gorgias
	for _, k := range []host.PluginStateKey{
		{Provider: "gorgias", Bot: "shop", SessionID: "no-such-session", Key: "k"},
		{Provider: "chatwoot", Bot: "shop", SessionID: s.ID, Key: "k"},
		{Provider: "gorgias", Bot: "other", SessionID: s.ID, Key: "k"},
	} {
		err := setState(db, k, []byte("v"))
		var he *host.Error
		if !errors.As(err, &he) || he.Code != host.ENOTFOUND || he.Field != "session_id" {
			t.Errorf("SetPluginState(%+v) = %v, want ENOTFOUND on session_id", k, err)
		}
		wantState(t, db, k, nil)
	}
}

// Bad keys and oversized values are EINVALID naming the field, and store
// nothing.
func TestPluginStateLimits(t *testing.T) {
	db, _ := openDB(t)
	s := createSession(t, db, newSession("u1"))
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
			err := setState(db, tc.key, tc.value)
			var he *host.Error
			if !errors.As(err, &he) || he.Code != host.EINVALID || he.Field != tc.field {
				t.Fatalf("SetPluginState = %v, want EINVALID on %s", err, tc.field)
			}
			if tc.name != "big value" {
				if _, err := db.PluginState(context.Background(), tc.key); host.ErrorCode(err) != host.EINVALID {
					t.Errorf("PluginState = %v, want EINVALID", err)
				}
			}
		})
	}
	if err := setState(db, k, make([]byte, host.MaxPluginStateValue)); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}

	// A session's state is bounded in all; replacing a key counts it once,
	// and deleting keys makes room.
	db2, _ := openDB(t)
	s2 := createSession(t, db2, newSession("u2"))
	k2 := host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s2.ID}
	v := make([]byte, host.MaxPluginStateValue-2)
	n := host.MaxPluginStateSession / host.MaxPluginStateValue // keys of 2 bytes: each row exactly MaxPluginStateValue
	for i := range n {
		k2.Key = string(rune('A'+i/26)) + string(rune('a'+i%26))
		if err := setState(db2, k2, v); err != nil {
			t.Fatalf("key %d of %d: %v", i+1, n, err)
		}
	}
	if err := setState(db2, k2, v); err != nil {
		t.Errorf("replacing a key of a full session: %v", err)
	}
	k2.Key = "zz"
	err := setState(db2, k2, []byte("x"))
	var he *host.Error
	if !errors.As(err, &he) || he.Code != host.EINVALID || he.Field != "value" || !strings.Contains(he.Message, "at most 262144") {
		t.Fatalf("one byte more than the session's bound: %v, want EINVALID on value saying the bound", err)
	}
	k2.Key = "Aa"
	if err := deleteState(db2, k2); err != nil {
		t.Fatal(err)
	}
	k2.Key = "zz"
	if err := setState(db2, k2, []byte("x")); err != nil {
		t.Errorf("after a delete made room: %v", err)
	}
}

// The retention job's rule: the state of sessions closed before the cutoff
// goes, whether written before or after the close; open sessions' and
// recently closed ones' stays.
func TestDeletePluginState(t *testing.T) {
	db, c := openDB(t)
	ctx := context.Background()
	open := createSession(t, db, newSession("open"))
	old := createSession(t, db, newSession("old"))
	recent := createSession(t, db, newSession("recent"))
	key := func(s *host.Session, key string) host.PluginStateKey {
		return host.PluginStateKey{Provider: "gorgias", Bot: "shop", SessionID: s.ID, Key: key}
	}
	for _, s := range []*host.Session{open, old, recent} {
		if err := setState(db, key(s, "before close"), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	closeSession := func(s *host.Session) {
		t.Helper()
		s.State = host.SessionEnded
		s.EndReason = host.EndUser
		mustTx(t, db, func(tx host.Tx) error { return tx.UpdateSession(s) })
	}
	closeSession(old)
	if err := setState(db, key(old, "after close"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	c.Add(10 * 24 * time.Hour)
	closeSession(recent)
	if err := setState(db, key(recent, "after close"), []byte("v")); err != nil {
		t.Fatal(err)
	}

	cutoff := c.Now().Add(-24 * time.Hour)
	n, err := db.DeletePluginState(ctx, cutoff, 1)
	if err != nil || n != 1 {
		t.Fatalf("first batch of 1: %d, %v", n, err)
	}
	n, err = db.DeletePluginState(ctx, cutoff, 100)
	if err != nil || n != 1 {
		t.Fatalf("second batch: %d, %v; want the other value of the old session", n, err)
	}
	wantState(t, db, key(old, "before close"), nil)
	wantState(t, db, key(old, "after close"), nil)
	wantState(t, db, key(open, "before close"), []byte("v"))
	wantState(t, db, key(recent, "before close"), []byte("v"))
	wantState(t, db, key(recent, "after close"), []byte("v"))
	if n, err := db.DeletePluginState(ctx, cutoff, 100); err != nil || n != 0 {
		t.Errorf("third batch: %d, %v; want nothing left to delete", n, err)
	}
	if _, err := db.DeletePluginState(ctx, cutoff, 0); host.ErrorCode(err) != host.EINVALID {
		t.Errorf("batch 0: %v, want EINVALID", err)
	}
}
