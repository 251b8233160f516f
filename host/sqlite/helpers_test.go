package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// t0 is where every test clock starts: a whole millisecond, as stored.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source; tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// openDB opens a database in a fresh directory with a clock at t0.
func openDB(t testing.TB) (*sqlite.DB, *clock) {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "livechat.db"), sqlite.Options{})
}

func openAt(t testing.TB, path string, opts sqlite.Options) (*sqlite.DB, *clock) {
	t.Helper()
	db, err := sqlite.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c := &clock{now: t0}
	db.Now = c.Now
	return db, c
}

// newSession returns an open session of user with the bot "shop".
func newSession(user string) *host.Session {
	return &host.Session{
		Bot:       "shop",
		UserID:    user,
		ChannelID: "web",
		Provider:  "gorgias",
		Metadata:  map[string]any{"firstname": "Jane", "email": "jane@example.com"},
		ExpiresAt: t0.Add(30 * time.Minute),
	}
}

// mustTx runs fn in a transaction and fails the test on error.
func mustTx(t testing.TB, db *sqlite.DB, fn func(host.Tx) error) {
	t.Helper()
	if err := db.Tx(context.Background(), fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

func createSession(t testing.TB, db *sqlite.DB, s *host.Session) *host.Session {
	t.Helper()
	mustTx(t, db, func(tx host.Tx) error { return tx.CreateSession(s) })
	return s
}

// enqueue stores an item with key in queue and returns its ID.
func enqueue(t testing.TB, db *sqlite.DB, queue, key string) int64 {
	t.Helper()
	o := &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindProviderSend,
		Payload: json.RawMessage(fmt.Sprintf(`{"key":%q}`, key))}
	mustTx(t, db, func(tx host.Tx) error { return tx.Enqueue(o) })
	return o.ID
}

// claimKeys claims at now and returns the keys claimed, in order.
func claimKeys(t testing.TB, db *sqlite.DB, now time.Time) []string {
	t.Helper()
	keys := []string{}
	for _, it := range claimAll(t, db, now) {
		keys = append(keys, it.Key)
	}
	return keys
}

// claimAll claims at now and returns the items claimed, in order.
func claimAll(t testing.TB, db *sqlite.DB, now time.Time) []*host.OutboxItem {
	t.Helper()
	items, err := db.ClaimDue(context.Background(), now, 0)
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	return items
}

// claimOne claims at now and returns the one item claimed, with key.
func claimOne(t testing.TB, db *sqlite.DB, now time.Time, key string) *host.OutboxItem {
	t.Helper()
	items := claimAll(t, db, now)
	if len(items) != 1 || items[0].Key != key {
		t.Fatalf("claimed %v, want only %s", items, key)
	}
	return items[0]
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := host.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// woke reports whether a wake signal is pending, consuming it.
func woke(db *sqlite.DB) bool {
	select {
	case <-db.Wake():
		return true
	default:
		return false
	}
}

func payload(text string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"content_type":"text","content":{"text":%q}}`, text))
}
