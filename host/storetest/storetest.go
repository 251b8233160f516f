// Package storetest is the conformance suite of host.Store: every store
// (host/sqlite, host/postgres) runs Run against itself, so that the
// engine may rely on the contract's doc comments whichever store it runs
// on. The cases come from the contract (host/store.go) and from the bugs
// the stores met; a store that fails one has a finding to fix, not a case
// to weaken.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
)

// Store is what the suite tests: the host.Store contract, the built-in
// webchat channel's stream log (host/webchat.Log), the retention job's
// deletes (host/retention.Store) and the metrics' cheap outbox count.
type Store interface {
	host.Store

	AppendStream(ctx context.Context, bot, user, key string, entries ...json.RawMessage) ([]int64, error)
	Stream(ctx context.Context, bot, user string, after int64, limit int) ([]host.StreamEntry, error)

	DeleteDoneWork(ctx context.Context, before time.Time, limit int) (int, error)
	DeleteDeadLetters(ctx context.Context, before time.Time, limit int) (int, error)
	DeleteProcessedEvents(ctx context.Context, before time.Time, limit int) (int, error)
	DeleteRequests(ctx context.Context, before time.Time, limit int) (int, error)
	DeleteTranscripts(ctx context.Context, before time.Time, limit int) (int, error)
	DeleteStreamEntries(ctx context.Context, before time.Time, limit int) (int, error)
	DeletePluginState(ctx context.Context, before time.Time, limit int) (int, error)

	// OutboxCounts counts pending and dead items (Done is left 0).
	OutboxCounts(ctx context.Context) (host.OutboxStats, error)
}

// Options are what a case asks of the store it opens.
type Options struct {
	// Now is the store's clock for every time it sets itself. The suite
	// owns it and moves it instead of sleeping: the opener must make the
	// store read it (host/sqlite: db.Now = o.Now).
	Now func() time.Time
	// Lease is the outbox lease; zero asks for the store's default.
	Lease time.Duration
}

// Opener opens an empty store for one case, with the clock and lease of
// o, and closes it when t ends (t.Cleanup). Each call must give a store of
// its own: cases never see each other's rows or wake-ups.
type Opener func(t *testing.T, o Options) Store

// T0 is where every case's clock starts: a whole millisecond, as stored.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Clock is a settable time source: cases move it instead of sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d and returns the new time.
func (c *Clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Run runs every case of the suite as a subtest of t, each on a store of
// its own from open.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, &suite{t: t, open: open})
		})
	}
}

type testCase struct {
	name string
	fn   func(*testing.T, *suite)
}

// cases are registered by the files of the package, grouped by area.
var cases []testCase

func register(group []testCase) bool {
	cases = append(cases, group...)
	return true
}

// suite opens stores for a case.
type suite struct {
	t    *testing.T
	open Opener
}

// store opens a store with a clock at T0.
func (s *suite) store() (*fixture, *Clock) {
	return s.storeWith(Options{})
}

// storeWith opens a store with o; o.Now is set to a fresh clock at T0.
func (s *suite) storeWith(o Options) (*fixture, *Clock) {
	s.t.Helper()
	clk := NewClock(T0)
	o.Now = clk.Now
	db := s.open(s.t, o)
	if db == nil {
		s.t.Fatal("storetest: the opener returned no store")
	}
	return &fixture{Store: db, t: s.t}, clk
}

// fixture is a store with the helpers the cases share.
type fixture struct {
	Store
	t *testing.T
}

var bg = context.Background()

// contextT shortens the signatures of the retention deletes in tables.
type contextT = context.Context

func (f *fixture) mustTx(fn func(host.Tx) error) {
	f.t.Helper()
	if err := f.Tx(bg, fn); err != nil {
		f.t.Fatalf("Tx: %v", err)
	}
}

func (f *fixture) createSession(s *host.Session) *host.Session {
	f.t.Helper()
	f.mustTx(func(tx host.Tx) error { return tx.CreateSession(s) })
	return s
}

func (f *fixture) updateSession(s *host.Session) {
	f.t.Helper()
	f.mustTx(func(tx host.Tx) error { return tx.UpdateSession(s) })
}

// closeSession ends s (by the user).
func (f *fixture) closeSession(s *host.Session) {
	f.t.Helper()
	s.State, s.EndReason = host.SessionEnded, host.EndUser
	f.updateSession(s)
}

// enqueue stores an item with key in queue and returns its ID.
func (f *fixture) enqueue(queue, key string) int64 {
	f.t.Helper()
	o := &host.OutboxItem{Key: key, Queue: queue, Kind: host.KindProviderSend,
		Payload: json.RawMessage(fmt.Sprintf(`{"key":%q}`, key))}
	f.mustTx(func(tx host.Tx) error { return tx.Enqueue(o) })
	return o.ID
}

// claimAll claims at now and returns the items claimed, in order.
func (f *fixture) claimAll(now time.Time) []*host.OutboxItem {
	f.t.Helper()
	items, err := f.ClaimDue(bg, now, 0)
	if err != nil {
		f.t.Fatalf("ClaimDue: %v", err)
	}
	return items
}

// claimKeys claims at now and returns the keys claimed, in order.
func (f *fixture) claimKeys(now time.Time) []string {
	f.t.Helper()
	keys := []string{}
	for _, it := range f.claimAll(now) {
		keys = append(keys, it.Key)
	}
	return keys
}

// claimOne claims at now and returns the one item claimed, with key.
func (f *fixture) claimOne(now time.Time, key string) *host.OutboxItem {
	f.t.Helper()
	items := f.claimAll(now)
	if len(items) != 1 || items[0].Key != key {
		f.t.Fatalf("claimed %s, want only %s", keysOf(items), key)
	}
	return items[0]
}

// woke reports whether a wake signal is pending, consuming it.
func (f *fixture) woke() bool {
	select {
	case <-f.Wake():
		return true
	default:
		return false
	}
}

// transcriptIDs returns the ids of the last limit messages of user.
func (f *fixture) transcriptIDs(bot, user string, limit int) []string {
	f.t.Helper()
	msgs, err := f.Transcript(bg, bot, user, limit)
	if err != nil {
		f.t.Fatalf("Transcript: %v", err)
	}
	return messageIDs(msgs)
}

func keysOf(items []*host.OutboxItem) []string {
	keys := []string{}
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

func messageIDs(msgs []*host.Message) []string {
	ids := []string{}
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

func users(ss []*host.Session) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.UserID)
	}
	return out
}

// newSession returns an open session of user with the bot "shop",
// expiring 30 minutes after T0.
func newSession(user string) *host.Session {
	return &host.Session{
		Bot:       "shop",
		UserID:    user,
		ChannelID: "web",
		Provider:  "gorgias",
		Metadata:  map[string]any{"firstname": "Jane", "email": "jane@example.com"},
		ExpiresAt: T0.Add(30 * time.Minute),
	}
}

func payload(text string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"content_type":"text","content":{"text":%q}}`, text))
}

func userMessage(user, sessionID, text string) *host.Message {
	return &host.Message{Bot: "shop", UserID: user, SessionID: sessionID,
		Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload(text)}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := host.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// wantField fails unless err is an *Error with code and field.
func wantField(t testing.TB, err error, code, field string) {
	t.Helper()
	if got := host.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
	if got := host.ErrorField(err); got != field {
		t.Fatalf("error %v names field %q, want %q", err, got, field)
	}
}
