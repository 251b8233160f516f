//go:build faults

package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host/internal/pgtest"
)

// TestFaultsReplicas is issue 15's acceptance run: three livechatd
// replicas on one PostgreSQL behind a round-robin balancer (the channel's
// events and the platform's webhooks both go through it), the Gorgias
// plugin and sandbox as the platform; 200 sessions, 2,000 user messages
// and 2,000 agent replies; one replica SIGKILLed mid-run and restarted.
// Then every session idles out: each must expire once and its bot be told
// once. Counts are printed.
func TestFaultsReplicas(t *testing.T) {
	began := time.Now()
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatalf("pgtest: %v (install: %s)", err, pgtest.InstallHint)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	dsn := srv.DSN("postgres")

	w := newWorld(t, worldOptions{})
	lb := newBalancer(t, w.addr) // the world's address: public_url, the webhooks' target
	base := readConfig(t, w.config)
	const sqliteLine = `storage "sqlite" { path = "data/livechat.db" }`
	if !strings.Contains(base, sqliteLine) {
		t.Fatalf("the world's config has no %s", sqliteLine)
	}
	base = strings.Replace(base, `provider        = "gorgias"`, "provider        = \"gorgias\"\n  session_timeout = \"100s\"", 1)
	configs := make([]string, 3)
	for i := range configs {
		addr := freeAddr(t)
		cfg := strings.Replace(base, fmt.Sprintf("listen      = %q", w.addr), fmt.Sprintf("listen      = %q", addr), 1)
		cfg = strings.Replace(cfg, sqliteLine, fmt.Sprintf("storage \"postgres\" {\n  dsn     = %q\n  replica = \"r%d\"\n}", dsn, i+1), 1)
		configs[i] = fmt.Sprintf("%s/replica-%d.hcl", w.dir, i+1)
		if err := os.WriteFile(configs[i], []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	replicas := make([]*daemon, 3)
	for i := range replicas {
		d, err := w.startWith(configs[i])
		if err != nil {
			t.Fatalf("replica %d: %v", i+1, err)
		}
		replicas[i] = d
		lb.set(i, d.url)
	}
	fmt.Printf("replicas: 3 listening %.1fs after the start\n", time.Since(began).Seconds())

	l := load{users: 200, messages: 10, every: time.Second, replies: 10, replyEvery: time.Second,
		base: func(int) string { return lb.url() }}
	tr := w.run(l)
	loaded := time.Now()

	// The fault: replica 2 SIGKILLed 4 s into the load, restarted.
	time.Sleep(time.Until(loaded.Add(4 * time.Second)))
	victim := replicas[1]
	plugins := w.pluginPIDs(victim.pid())
	lb.set(1, "")
	victim.kill()
	killedAt := time.Since(loaded)
	restart := time.Now()
	d, err := w.startWith(configs[1])
	if err != nil {
		t.Fatalf("restart replica 2: %v", err)
	}
	replicas[1] = d
	lb.set(1, d.url)
	restarted := time.Since(restart)
	if !waitFor(5*time.Second, func() bool { return !anyAlive(plugins) }) {
		for _, pid := range plugins {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}

	<-tr.done
	sentAt := time.Since(loaded)
	toAgent, toUser := tr.sent()
	arrived := func() (tally, tally) {
		return count(toAgent, w.platformArrivals()), count(toUser, w.channel.stats().arrivals)
	}
	// Everything arrives, or the bound passes and what has not is lost.
	// The sandbox delivers its webhooks one at a time (4,400 here, the
	// customers' messages too): that queue, not livechatd, bounds how
	// soon everything arrives; on a busy machine it takes minutes.
	waitFor(4*time.Minute, func() bool {
		a, u := arrived()
		return a.Delivered == a.Sent && u.Delivered == u.Sent && w.platformIdle() && replicasPending(w, replicas) == 0
	})
	agent, user := arrived()
	settled := time.Since(loaded)
	if agent.Lost+user.Lost > 0 {
		fmt.Printf("replicas: pending per /metrics: %d, platform idle: %v\n", replicasPending(w, replicas), w.platformIdle())
		for _, line := range dbAccount(t, dsn) {
			fmt.Printf("replicas: database: %s\n", line)
		}
	}

	// Expiry: every session idles out; each expires once, its bot told once.
	var told map[string]int
	expiredBy := func() bool {
		told = map[string]int{}
		for _, ev := range w.bot.Events() {
			if ev.Value() == "LIVECHAT_SESSION_EXPIRED" {
				u, _ := ev.Client["user_id"].(string)
				told[u]++
			}
		}
		return len(told) >= len(tr.sessions) && replicasPending(w, replicas) == 0
	}
	waitFor(replicaTimeout+60*time.Second, expiredBy)
	expiredAt := time.Since(loaded)
	twice := 0
	for _, n := range told {
		if n > 1 {
			twice++
		}
	}
	expired := len(listSessions(t, replicas[0].url, "expired"))
	closedExpired := 0
	for _, d := range replicas {
		closedExpired += metricSum(d.url, `livechat_sessions_closed_total{bot="shop",reason="expired"}`)
	}

	fmt.Printf("replicas: 3 on one PostgreSQL, %d sessions; replica 2 SIGKILLed %.1fs into the load and listening again in %.1fs\n",
		len(tr.sessions), killedAt.Seconds(), restarted.Seconds())
	fmt.Printf("replicas: to agent: %d sent, %d delivered, %d duplicated, %d lost, %d out of order\n", agent.Sent, agent.Delivered, agent.Duplicated, agent.Lost, agent.OutOfOrder)
	fmt.Printf("replicas: to user:  %d sent, %d delivered, %d duplicated, %d lost, %d out of order\n", user.Sent, user.Delivered, user.Duplicated, user.Lost, user.OutOfOrder)
	fmt.Printf("replicas: expiry: %d sessions expired (admin API), %d counted by the replicas' metrics, %d bots told, %d told more than once\n",
		expired, closedExpired, len(told), twice)
	fmt.Printf("replicas: load sent in %.1fs, everything arrived %.1fs after the load began, expired %.1fs after; requests per replica %v; %.1fs in all\n",
		sentAt.Seconds(), settled.Seconds(), expiredAt.Seconds(), lb.counts(), time.Since(began).Seconds())
	for _, n := range summarize(tr.notes, 5) {
		fmt.Printf("replicas: note: %s\n", n)
	}

	if agent.Sent != 2000 || user.Sent != 2000 || len(tr.sessions) != 200 {
		t.Errorf("the load was not sent whole: %d sessions, %d user messages, %d agent replies", len(tr.sessions), agent.Sent, user.Sent)
	}
	for _, c := range []struct {
		dir string
		t   tally
	}{{"to agent", agent}, {"to user", user}} {
		if c.t.Lost+c.t.Duplicated+c.t.OutOfOrder > 0 {
			t.Errorf("%s: %d lost, %d duplicated, %d out of order", c.dir, c.t.Lost, c.t.Duplicated, c.t.OutOfOrder)
		}
	}
	if expired != len(tr.sessions) || closedExpired != len(tr.sessions) || len(told) != len(tr.sessions) || twice != 0 {
		t.Errorf("expiry: %d sessions expired, %d expiries counted, %d bots told, %d told more than once; want %d, %d, %d, 0",
			expired, closedExpired, len(told), twice, len(tr.sessions), len(tr.sessions), len(tr.sessions))
	}
	for _, c := range lb.counts() {
		if c == 0 {
			t.Errorf("a replica got no request: %v", lb.counts())
		}
	}
}

// replicaTimeout is the session_timeout of the replica run: longer than
// the load, so sessions expire only once it is over.
const replicaTimeout = 100 * time.Second

func readConfig(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replicasPending sums the outbox's pending items over the replicas: one
// of them exports the shared gauge. -1 when none does (yet).
func replicasPending(w *world, replicas []*daemon) int {
	sum, found := 0, false
	for _, d := range replicas {
		if n, ok := pendingOf(d.url); ok {
			sum += n
			found = true
		}
	}
	if !found {
		return -1
	}
	return sum
}

func pendingOf(base string) (int, bool) {
	b := scrape(base)
	m := pendingLine.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return int(f), true
}

func scrape(base string) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// metricSum is the value of one series on base's /metrics (0 when absent).
func metricSum(base, series string) int {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindSubmatch(scrape(base))
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int(f)
}

// listSessions lists the sessions in state through the admin API.
func listSessions(t *testing.T, base, state string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/sessions?limit=1000&state="+state, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("list sessions: %d %v", resp.StatusCode, err)
	}
	return out.Sessions
}

// balancer is the load balancer in front of the replicas: each request
// to the next replica in turn; one that refuses the connection is skipped.
type balancer struct {
	ln   net.Listener
	srv  *http.Server
	mu   sync.Mutex
	urls []string // "" while a replica is down
	next atomic.Uint64
	hits [3]atomic.Int64
}

func newBalancer(t *testing.T, addr string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, urls: make([]string, 3)}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve)}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

func (b *balancer) set(i int, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.urls[i] = url
}

func (b *balancer) counts() []int64 {
	out := make([]int64, len(b.hits))
	for i := range b.hits {
		out[i] = b.hits[i].Load()
	}
	return out
}

var forward = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}

func (b *balancer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := b.next.Add(1)
	for k := range uint64(3) {
		i := int((start + k) % 3)
		b.mu.Lock()
		target := b.urls[i]
		b.mu.Unlock()
		if target == "" {
			continue
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := forward.Do(req)
		if err != nil {
			continue // down: the next one
		}
		b.hits[i].Add(1)
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica answers", http.StatusBadGateway)
}

// dbAccount says where the messages are in the database: outbox items by
// kind and state, messages by author.
func dbAccount(t *testing.T, dsn string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return []string{err.Error()}
	}
	defer conn.Close(context.Background())
	var out []string
	for _, q := range []string{
		`SELECT kind || ' ' || state || CASE WHEN claimed_until IS NOT NULL THEN ' claimed' ELSE '' END, count(*) FROM outbox GROUP BY 1 ORDER BY 1`,
		`SELECT 'messages by ' || author, count(*) FROM messages GROUP BY 1 ORDER BY 1`,
		`SELECT 'pending head of ' || q.queue || ' attempts ' || o.attempts || ' next ' || o.next_attempt_at || ' err ' || coalesce(o.last_error, ''), 1 FROM outbox_queues q JOIN outbox o ON o.id = q.head_id WHERE o.state = 'pending' LIMIT 5`,
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err == nil {
				out = append(out, fmt.Sprintf("%s: %d", k, n))
			}
		}
		rows.Close()
	}
	return out
}
