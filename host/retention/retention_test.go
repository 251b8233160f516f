package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/retention"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	_ retention.Store = (*sqlite.DB)(nil)
	_ retention.Store = (*fakeStore)(nil)
)

const day = 24 * time.Hour

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var policy = retention.Policy{
	DoneWork: 7 * day, DeadLetters: 30 * day, ProcessedEvents: 30 * day, Requests: 7 * day,
	Transcripts: 90 * day, WebchatStreams: 30 * day, Interval: time.Minute, Batch: 3,
}

// clock is a settable clock: tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// call is one delete the job asked of the store.
type call struct {
	rule   string
	before time.Time
	limit  int
}

// fakeStore has rows[rule] rows older than any cutoff and deletes up to the
// limit of them per call; fail[rule] makes that rule's deletes fail.
type fakeStore struct {
	mu    sync.Mutex
	rows  map[string]int
	fail  map[string]error
	calls []call
}

func (f *fakeStore) delete(rule string, before time.Time, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{rule, before, limit})
	if err := f.fail[rule]; err != nil {
		return 0, err
	}
	n := min(f.rows[rule], limit)
	f.rows[rule] -= n
	return n, nil
}

func (f *fakeStore) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeStore) DeleteDoneWork(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("done_work", before, limit)
}

func (f *fakeStore) DeleteDeadLetters(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("dead_letters", before, limit)
}

func (f *fakeStore) DeleteProcessedEvents(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("processed_events", before, limit)
}

func (f *fakeStore) DeleteRequests(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("requests", before, limit)
}

func (f *fakeStore) DeleteTranscripts(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("transcripts", before, limit)
}

func (f *fakeStore) DeleteStreamEntries(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("webchat_streams", before, limit)
}

func (f *fakeStore) DeletePluginState(_ context.Context, before time.Time, limit int) (int, error) {
	return f.delete("plugin_state", before, limit)
}

// syncBuffer is a log destination safe to read while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newJob(t *testing.T, store retention.Store, opts retention.Options) (*retention.Job, *syncBuffer, *prometheus.Registry) {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info, DisableTime: true})
	opts.Registerer = reg
	if opts.Now == nil {
		opts.Now = (&clock{now: t0}).Now
	}
	j, err := retention.New(store, policy, opts)
	if err != nil {
		t.Fatal(err)
	}
	return j, logs, reg
}

func deletedMetric(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "livechat_retention_deleted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestPass checks one pass over a fake store: each rule's cutoff is its
// age before now, batches repeat until one comes back short, the rows are
// counted per table in the result, the metric and the log line.
func TestPass(t *testing.T) {
	store := &fakeStore{rows: map[string]int{"done_work": 7, "dead_letters": 1, "transcripts": 3}}
	j, logs, reg := newJob(t, store, retention.Options{})

	got, err := j.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"outbox": 8, "messages": 3}, got); diff != "" {
		t.Errorf("Pass (-want +got):\n%s", diff)
	}
	wantCalls := []call{
		{"done_work", t0.Add(-7 * day), 3}, {"done_work", t0.Add(-7 * day), 3}, {"done_work", t0.Add(-7 * day), 3}, // 3, 3, 1
		{"dead_letters", t0.Add(-30 * day), 3},
		{"processed_events", t0.Add(-30 * day), 3},
		{"requests", t0.Add(-7 * day), 3},
		{"transcripts", t0.Add(-90 * day), 3}, {"transcripts", t0.Add(-90 * day), 3}, // a full batch, then an empty one
		{"webchat_streams", t0.Add(-30 * day), 3},
		{"plugin_state", t0.Add(-90 * day), 3}, // the transcripts' age
	}
	if diff := cmp.Diff(wantCalls, store.Calls(), cmp.AllowUnexported(call{})); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	wantMetric := map[string]float64{"outbox": 8, "messages": 3, "processed_events": 0, "requests": 0, "webchat_stream": 0, "plugin_state": 0}
	if diff := cmp.Diff(wantMetric, deletedMetric(t, reg)); diff != "" {
		t.Errorf("livechat_retention_deleted_total (-want +got):\n%s", diff)
	}
	if want := "[INFO]  retention deleted rows: outbox=8 messages=3\n"; logs.String() != want {
		t.Errorf("log = %q, want %q", logs.String(), want)
	}

	// Nothing left: a quiet pass, one delete per rule, no log line.
	if got, err := j.Pass(context.Background()); err != nil || len(got) != 0 {
		t.Errorf("second pass = %v, %v; want nothing deleted", got, err)
	}
	if n := len(store.Calls()); n != len(wantCalls)+7 {
		t.Errorf("second pass made %d deletes, want 7", n-len(wantCalls))
	}
	if strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("a pass that deleted nothing logged:\n%s", logs)
	}
}

// TestPassFailure checks that a failing rule is reported and does not stop
// the others.
func TestPassFailure(t *testing.T) {
	boom := errors.New("disk I/O error")
	store := &fakeStore{rows: map[string]int{"requests": 2, "webchat_streams": 1}, fail: map[string]error{"processed_events": boom}}
	j, _, _ := newJob(t, store, retention.Options{})
	got, err := j.Pass(context.Background())
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "processed_events") {
		t.Errorf("error = %v, want the rule's failure", err)
	}
	if diff := cmp.Diff(map[string]int{"requests": 2, "webchat_stream": 1}, got); diff != "" {
		t.Errorf("Pass (-want +got):\n%s", diff)
	}
}

// TestPassCancelled checks that a pass stops between batches when its
// context ends.
func TestPassCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store := &fakeStore{rows: map[string]int{"done_work": 100}}
	j, _, _ := newJob(t, store, retention.Options{})
	if _, err := j.Pass(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if n := len(store.Calls()); n != 0 {
		t.Errorf("%d deletes after the context ended", n)
	}
}

func TestNewRefusesBadPolicy(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*retention.Policy)
	}{
		{"done_work", func(p *retention.Policy) { p.DoneWork = 0 }},
		{"transcripts", func(p *retention.Policy) { p.Transcripts = -time.Hour }},
		{"interval", func(p *retention.Policy) { p.Interval = 0 }},
		{"batch", func(p *retention.Policy) { p.Batch = 0 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			tt.change(&p)
			if _, err := retention.New(&fakeStore{}, p, retention.Options{}); err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("New = %v, want an error naming %s", err, tt.name)
			}
		})
	}
}

// TestRun drives Run with a hand-fired timer: a pass at once, then one per
// tick, each aged against the clock of its own start, until the context
// ends.
func TestRun(t *testing.T) {
	store := &fakeStore{rows: map[string]int{"done_work": 2}}
	clk := &clock{now: t0}
	waits := make(chan time.Duration)
	tick := make(chan time.Time)
	j, _, reg := newJob(t, store, retention.Options{
		Now: clk.Now,
		// After is called when a pass is over: the test hears it, then
		// fires the tick.
		After: func(d time.Duration) <-chan time.Time { waits <- d; return tick },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); j.Run(ctx) }()

	if d := <-waits; d != time.Minute {
		t.Errorf("waits %s between passes, want the interval", d)
	}
	if got := deletedMetric(t, reg)["outbox"]; got != 2 {
		t.Errorf("after the first pass, outbox deleted = %v, want 2", got)
	}
	store.mu.Lock()
	store.rows["done_work"] = 1
	store.mu.Unlock()
	clk.Set(t0.Add(time.Hour))
	tick <- t0.Add(time.Hour)
	<-waits
	if got := deletedMetric(t, reg)["outbox"]; got != 3 {
		t.Errorf("after the second pass, outbox deleted = %v, want 3", got)
	}
	calls := store.Calls()
	if last := calls[len(calls)-7]; last.rule != "done_work" || !last.before.Equal(t0.Add(time.Hour-7*day)) {
		t.Errorf("second pass's done_work delete = %+v, want the cutoff from the moved clock", last)
	}

	cancel()
	<-done
	if n := len(store.Calls()); n != len(calls) {
		t.Errorf("%d deletes after Run was cancelled", n-len(calls))
	}
}

// TestJobOnSQLite runs the job on a real database: a year-old transcript
// outside sessions and a closed session's go, an open session's messages
// and a pending item stay, however old.
func TestJobOnSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "livechat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: t0}
	db.Now = clk.Now
	tx := func(fn func(host.Tx) error) {
		t.Helper()
		if err := db.Tx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	messages := func(user, session string, n int) {
		t.Helper()
		tx(func(tx host.Tx) error {
			for i := range n {
				if err := tx.AppendMessage(&host.Message{Bot: "shop", UserID: user, SessionID: session,
					Direction: host.DirectionIn, Author: host.AuthorUser, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	session := func(user string) *host.Session {
		s := &host.Session{Bot: "shop", UserID: user, Provider: "echo", ExpiresAt: clk.Now().Add(time.Hour)}
		tx(func(tx host.Tx) error { return tx.CreateSession(s) })
		return s
	}

	open, closed := session("u-open"), session("u-closed")
	messages("u-open", open.ID, 4)
	messages("u-closed", closed.ID, 5)
	messages("u-bot", "", 6)
	tx(func(tx host.Tx) error {
		return tx.Enqueue(&host.OutboxItem{Key: "stuck", Queue: "q", Kind: host.KindProviderSend, Payload: json.RawMessage(`{}`)})
	})
	if _, err := db.AppendStream(ctx, "shop", "u-bot", "", json.RawMessage(`{"a":1}`), json.RawMessage(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*host.Session{open, closed} {
		tx(func(tx host.Tx) error {
			return tx.SetPluginState(host.PluginStateKey{Provider: "echo", Bot: "shop", SessionID: s.ID, Key: "k"}, []byte("v"))
		})
	}
	closed.State, closed.EndReason = host.SessionEnded, host.EndUser
	tx(func(tx host.Tx) error { return tx.UpdateSession(closed) })
	// A year on, the open session is still open (it was kept alive).
	clk.Set(t0.Add(365 * day))
	open.ExpiresAt = clk.Now().Add(time.Hour)
	tx(func(tx host.Tx) error { return tx.UpdateSession(open) })

	reg := prometheus.NewRegistry()
	j, err := retention.New(db, policy, retention.Options{Now: clk.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	got, err := j.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"messages": 5 + 6, "webchat_stream": 2, "plugin_state": 1}, got); diff != "" {
		t.Errorf("Pass (-want +got):\n%s", diff)
	}
	if _, err := db.PluginState(ctx, host.PluginStateKey{Provider: "echo", Bot: "shop", SessionID: open.ID, Key: "k"}); err != nil {
		t.Errorf("the open session's plugin state: %v, want kept", err)
	}
	if n := len(deletedMetric(t, reg)); n != 6 {
		t.Errorf("%d series, want one per table", n)
	}
	if ms, err := db.Messages(ctx, open.ID); err != nil || len(ms) != 4 {
		t.Errorf("open session has %d messages (%v), want its 4", len(ms), err)
	}
	if ms, err := db.Messages(ctx, closed.ID); err != nil || len(ms) != 0 {
		t.Errorf("closed session has %d messages (%v), want none", len(ms), err)
	}
	if ms, err := db.Transcript(ctx, "shop", "u-bot", 100); err != nil || len(ms) != 0 {
		t.Errorf("bot transcript has %d messages (%v), want none", len(ms), err)
	}
	if st, err := db.OutboxCounts(ctx); err != nil || st.Pending != 1 {
		t.Errorf("OutboxCounts = %+v, %v; want the pending item kept", st, err)
	}
}

// TestSweep: a sweep runs after the store's rules with its own age before
// now, its count joins the pass's result, the metric (shown at 0 before
// its first removal) and the log line; a failing sweep is reported and the
// store's rules still ran.
func TestSweep(t *testing.T) {
	store := &fakeStore{rows: map[string]int{"done_work": 2}}
	var befores []time.Time
	var fail error
	sweep := retention.Sweep{Name: "uploads", Age: 30 * day, Delete: func(_ context.Context, before time.Time) (int, error) {
		befores = append(befores, before)
		return 4, fail
	}}
	j, logs, reg := newJob(t, store, retention.Options{Sweeps: []retention.Sweep{sweep}})
	if got := deletedMetric(t, reg)["uploads"]; got != 0 {
		t.Errorf("uploads before a pass = %v", got)
	}
	got, err := j.Pass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"outbox": 2, "uploads": 4}, got); diff != "" {
		t.Errorf("Pass (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Time{t0.Add(-30 * day)}, befores); diff != "" {
		t.Errorf("the sweep's cutoffs (-want +got):\n%s", diff)
	}
	if got := deletedMetric(t, reg)["uploads"]; got != 4 {
		t.Errorf("livechat_retention_deleted_total{table=uploads} = %v, want 4", got)
	}
	if want := "[INFO]  retention deleted rows: outbox=2 uploads=4\n"; logs.String() != want {
		t.Errorf("log = %q, want %q", logs.String(), want)
	}

	fail = errors.New("disk gone")
	got, err = j.Pass(context.Background())
	if err == nil || err.Error() != "uploads: disk gone" {
		t.Errorf("a failing sweep: %v", err)
	}
	if got["uploads"] != 4 || len(store.Calls()) != 7+7 {
		t.Errorf("a failing sweep's pass: %v, %d deletes", got, len(store.Calls()))
	}
}

func TestNewRefusesBadSweep(t *testing.T) {
	del := func(context.Context, time.Time) (int, error) { return 0, nil }
	for _, tc := range []struct {
		sweep retention.Sweep
		want  string
	}{
		{retention.Sweep{Name: "uploads", Age: 0, Delete: del}, "retention: uploads must be positive, got 0s"},
		{retention.Sweep{Name: "uploads", Age: day}, "retention: sweep uploads has no Delete"},
		{retention.Sweep{Name: "outbox", Age: day, Delete: del}, `retention: sweep name "outbox" must be made of a-z and _, and not be a table's or another sweep's`},
		{retention.Sweep{Name: "Up loads", Age: day, Delete: del}, `retention: sweep name "Up loads" must be made of a-z and _, and not be a table's or another sweep's`},
	} {
		if _, err := retention.New(&fakeStore{}, policy, retention.Options{Sweeps: []retention.Sweep{tc.sweep}}); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: %v, want %s", tc.sweep.Name, err, tc.want)
		}
	}
	_, err := retention.New(&fakeStore{}, policy, retention.Options{Sweeps: []retention.Sweep{
		{Name: "uploads", Age: day, Delete: del}, {Name: "uploads", Age: day, Delete: del}}})
	if err == nil {
		t.Error("two sweeps of one name are accepted")
	}
}

// TestSweepWebchatUploads: the webchat's uploads as a sweep, as serve runs
// it: a pass removes an upload older than the age and keeps a newer one.
// The clock is the job's and the webchat's, moved by the test.
func TestSweepWebchatUploads(t *testing.T) {
	clk := &clock{now: t0}
	dir := filepath.Join(t.TempDir(), "uploads")
	chat := webchat.New(nil, map[string]string{"shop": "secret"}, nil, webchat.WithUploads(dir), webchat.WithClock(clk.Now))
	r := mux.NewRouter()
	chat.Register(r)
	srv := httptest.NewServer(r)
	t.Cleanup(func() { chat.Shutdown(); srv.Close() })

	upload := func(name, content string) string {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", name)
		_, _ = io.WriteString(fw, content)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/bots/shop/users/u1/uploads", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-Livechat-User-Token", chat.Token("shop", "u1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ URL string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("upload %s: %d %v", name, resp.StatusCode, err)
		}
		return out.URL
	}
	status := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	old := upload("old.txt", "uploaded first")
	clk.Set(t0.Add(31 * day))
	recent := upload("new.txt", "uploaded a month later")
	j, logs, _ := newJob(t, &fakeStore{rows: map[string]int{}}, retention.Options{Now: clk.Now, Sweeps: []retention.Sweep{{
		Name: "uploads", Age: 30 * day,
		Delete: func(_ context.Context, before time.Time) (int, error) { return chat.PruneUploads(before) },
	}}})
	got, err := j.Pass(context.Background())
	if err != nil || got["uploads"] != 1 {
		t.Fatalf("Pass = %v, %v; want 1 upload removed", got, err)
	}
	if s := status(old); s != 404 {
		t.Errorf("the 31-day-old upload: %d, want 404", s)
	}
	if s := status(recent); s != 200 {
		t.Errorf("the new upload: %d, want 200", s)
	}
	if !strings.Contains(logs.String(), "uploads=1") {
		t.Errorf("log = %q", logs.String())
	}
}
