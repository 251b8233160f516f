//go:build faults

package faults_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// TestFaults runs each scenario of issue 9 as a subtest that fails when a
// message is lost, duplicated or reordered, then prints the table and
// writes it to artifacts/faults/faults.json.
func TestFaults(t *testing.T) {
	dir := artifacts(t)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rep := &report{started: time.Now()}
	// Build first, so that no scenario's time includes it.
	binary(t, "FAULTS_LIVECHATD", livechatdPkg)
	binary(t, "FAULTS_PLUGIN", pluginPkg)
	fmt.Printf("binaries ready in %.1fs\n", time.Since(rep.started).Seconds())
	s := &suite{
		rep:     rep,
		settle:  durationEnv(t, "FAULTS_SETTLE", 30*time.Second),
		downFor: durationEnv(t, "FAULTS_CHANNEL_DOWN", 20*time.Second),
	}
	scenarios := []struct {
		name string
		run  func(*testing.T)
	}{
		{"plugin-kill", s.pluginKill},
		{"livechatd-kill", s.livechatdKill},
		{"platform-429", s.platform429},
		{"platform-5xx", s.platform5xx},
		{"platform-slow", s.platformSlow},
		{"platform-reset", s.platformReset},
		{"channel-down", s.channelDown},
		{"request-id-5x", s.requestID},
		{"two-processes", s.twoProcesses},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, sc.run)
	}
	rep.print(os.Stdout)
	path := filepath.Join(dir, "faults.json")
	if err := rep.write(path); err != nil {
		t.Errorf("write the table: %v", err)
	}
	fmt.Printf("table: %s; logs: %s/*/\n", path, dir)
}

// suite holds what the scenarios share.
type suite struct {
	rep     *report
	settle  time.Duration // the longest wait for quiescence
	downFor time.Duration // how long the channel is down
}

// steady is the load of most scenarios: four users who each write every
// 250 ms for d, and an agent who answers each of them every 500 ms.
func steady(d time.Duration) load {
	return load{
		users: 4, messages: int(d / (250 * time.Millisecond)), every: 250 * time.Millisecond,
		replies: int(d / (500 * time.Millisecond)), replyEvery: 500 * time.Millisecond,
	}
}

// measure settles the world after the load and the faults, counts both
// directions and adds the rows; the subtest fails on a broken promise.
func (s *suite) measure(t *testing.T, w *world, title string, began time.Time, tr *traffic, notes ...string) {
	t.Helper()
	took, err := w.settle(tr, w.url(), s.settle)
	if err != nil {
		notes = append(notes, err.Error())
	} else {
		notes = append(notes, fmt.Sprintf("quiescent %.1fs after the load", took.Seconds()))
	}
	toAgent, toUser := tr.sent()
	ch := w.channel.stats()
	rows := []row{{Scenario: title, Direction: "to agent", tally: count(toAgent, w.platformArrivals())}}
	if len(toUser) > 0 {
		rows = append(rows, row{Scenario: title, Direction: "to user", tally: count(toUser, ch.arrivals)})
	}
	if n := w.deadLetters(w.url()); n != 0 {
		notes = append(notes, fmt.Sprintf("dead letters: %d", n))
	}
	if n := w.botHeard(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d livechat messages reached the bot instead of the agent", n))
	}
	if ch.misrouted+ch.rejected > 0 {
		notes = append(notes, fmt.Sprintf("channel: %d agent messages delivered to the wrong user, %d deliveries rejected", ch.misrouted, ch.rejected))
	}
	if ch.redeliver > 0 {
		notes = append(notes, fmt.Sprintf("channel: %d retried deliveries of an id already accepted (not duplicates)", ch.redeliver))
	}
	if tickets := len(w.sandbox.Tickets()); tickets != len(tr.sessions) {
		notes = append(notes, fmt.Sprintf("%d tickets for %d sessions", tickets, len(tr.sessions)))
	}
	notes = append(notes, summarize(tr.notes, 5)...)
	for i := range rows {
		rows[i].Seconds = time.Since(began).Round(100 * time.Millisecond).Seconds()
		rows[i].Notes = notes
		s.rep.add(rows[i])
		if r := rows[i]; r.bad() {
			t.Errorf("%s, %s: %d sent, %d delivered, %d duplicated, %d lost, %d out of order",
				r.Scenario, r.Direction, r.Sent, r.Delivered, r.Duplicated, r.Lost, r.OutOfOrder)
		}
	}
	t.Logf("%s: %s; logs in %s", title, strings.Join(notes, "; "), w.logs)
}

// 1. The plugin SIGKILLed every 2 s under load.
func (s *suite) pluginKill(t *testing.T) {
	began := time.Now()
	w := newWorld(t, worldOptions{})
	d := w.mustStart()
	tr := w.run(steady(12 * time.Second))
	kills, none := 0, 0
	every := time.NewTicker(2 * time.Second) // the fault schedule
	defer every.Stop()
	for tr.running() {
		select {
		case <-tr.done:
		case <-every.C:
			pids := w.pluginPIDs(d.pid())
			if len(pids) == 0 {
				none++
			}
			for _, pid := range pids {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					kills++
				}
			}
		}
	}
	notes := []string{fmt.Sprintf("plugin SIGKILLed %d times", kills)}
	if none > 0 {
		notes = append(notes, fmt.Sprintf("no plugin process was running to kill at %d of the ticks", none))
	}
	s.measure(t, w, "plugin SIGKILL every 2s", began, tr, notes...)
}

// 2. livechatd SIGKILLed and restarted twice under load, on the same data.
func (s *suite) livechatdKill(t *testing.T) {
	began := time.Now()
	w := newWorld(t, worldOptions{})
	d := w.mustStart()
	tr := w.run(steady(12 * time.Second))
	loaded := time.Now()
	var notes []string
	for i, at := range []time.Duration{3 * time.Second, 7 * time.Second} { // the fault schedule
		time.Sleep(time.Until(loaded.Add(at)))
		plugins := w.pluginPIDs(d.pid())
		d.kill()
		restart := time.Now()
		next, err := w.start()
		if err != nil {
			t.Errorf("restart %d: %v", i+1, err)
			notes = append(notes, fmt.Sprintf("restart %d failed: %v", i+1, err))
			break
		}
		notes = append(notes, fmt.Sprintf("killed at %s, listening again in %.1fs", at, time.Since(restart).Seconds()))
		d = next
		// A plugin dies with its host (README); one that does not is noted
		// and killed, so that it cannot serve anyone.
		if !waitFor(5*time.Second, func() bool { return !anyAlive(plugins) }) {
			notes = append(notes, fmt.Sprintf("the plugin outlived its killed host by 5s (pids %v)", plugins))
			for _, pid := range plugins {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	s.measure(t, w, "livechatd SIGKILL+restart x2", began, tr, notes...)
}

// anyAlive reports whether one of pids is still running (and not a zombie).
func anyAlive(pids []int) bool {
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		st := string(b)
		if f := strings.Fields(st[strings.LastIndexByte(st, ')')+1:]); len(f) > 0 && f[0] != "Z" {
			return true
		}
	}
	return false
}

// platformFaults runs the steady load while the platform answers with the
// faults next makes, one more every `every` (one fault, once, when 0) for
// window, starting a second into the load.
func (s *suite) platformFaults(t *testing.T, title string, o worldOptions, window, every time.Duration, next func(i int) sandbox.Fault) {
	began := time.Now()
	w := newWorld(t, o)
	w.mustStart()
	tr := w.run(steady(10 * time.Second))
	time.Sleep(time.Second) // the fault schedule: sessions open first
	end := time.Now().Add(window)
	injected := 0
	add := func(f sandbox.Fault) {
		w.sandbox.AddFault(f)
		injected += max(f.Count, 1)
	}
	if every == 0 {
		add(next(0))
		time.Sleep(time.Until(end))
	} else {
		tick := time.NewTicker(every)
		for i := 0; time.Now().Before(end); i++ {
			add(next(i))
			<-tick.C
		}
		tick.Stop()
	}
	left := 0
	for _, f := range w.sandbox.Faults() {
		left += f.Count
	}
	w.sandbox.ClearFaults()
	s.measure(t, w, title, began, tr, fmt.Sprintf("%d API calls faulted over %s", injected-left, window))
}

// 3a. A 429 storm: every call refused for 6 s, Retry-After 1 s.
func (s *suite) platform429(t *testing.T) {
	s.platformFaults(t, "platform 429 storm", worldOptions{}, 6*time.Second, 0, func(int) sandbox.Fault {
		return sandbox.Fault{Status: http.StatusTooManyRequests, Count: 1 << 30, RetryAfter: time.Second}
	})
}

// Faults after the call is carried out aim at writes (POST): a failed
// answer to a write that happened is what tempts a client to write twice.

// 3b. 5xx: 503 and 502 before any call, 500 and 504 after a write was
// carried out, ten a second for 6 s.
func (s *suite) platform5xx(t *testing.T) {
	kinds := []sandbox.Fault{
		{Status: http.StatusServiceUnavailable},
		{Status: http.StatusInternalServerError, AfterApply: true, Method: http.MethodPost},
		{Status: http.StatusBadGateway},
		{Status: http.StatusGatewayTimeout, AfterApply: true, Method: http.MethodPost},
	}
	s.platformFaults(t, "platform 5xx", worldOptions{}, 6*time.Second, 100*time.Millisecond, func(i int) sandbox.Fault {
		return kinds[i%len(kinds)]
	})
}

// 3c. Answers slower than the plugin's call timeout (1 s here): 2.5 s,
// before any call or after a write was carried out, four a second for 6 s.
func (s *suite) platformSlow(t *testing.T) {
	kinds := []sandbox.Fault{
		{Delay: 2500 * time.Millisecond, AfterApply: true, Method: http.MethodPost},
		{Delay: 2500 * time.Millisecond},
	}
	s.platformFaults(t, "platform slower than timeout", worldOptions{pluginTimeout: "1s"}, 6*time.Second, 250*time.Millisecond, func(i int) sandbox.Fault {
		return kinds[i%len(kinds)]
	})
}

// 3d. Reset connections, before any call or after a write was carried
// out, ten a second for 6 s.
func (s *suite) platformReset(t *testing.T) {
	kinds := []sandbox.Fault{{Reset: true}, {Reset: true, AfterApply: true, Method: http.MethodPost}}
	s.platformFaults(t, "platform resets connections", worldOptions{}, 6*time.Second, 100*time.Millisecond, func(i int) sandbox.Fault {
		return kinds[i%len(kinds)]
	})
}

// 4. The channel down: 503 for the first half, connections refused for
// the second, while users write and the agent answers once a second.
func (s *suite) channelDown(t *testing.T) {
	began := time.Now()
	w := newWorld(t, worldOptions{})
	w.mustStart()
	down := s.downFor
	if err := w.channel.set(channelFailing); err != nil {
		t.Fatal(err)
	}
	n := int(down / time.Second)
	tr := w.run(load{users: 4, messages: n, every: time.Second, replies: n, replyEvery: time.Second})
	loaded := time.Now()
	time.Sleep(time.Until(loaded.Add(down / 2))) // the fault schedule
	if err := w.channel.set(channelRefusing); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(loaded.Add(down)))
	if err := w.channel.set(channelUp); err != nil {
		t.Fatal(err)
	}
	s.measure(t, w, fmt.Sprintf("channel down %s", down), began, tr,
		fmt.Sprintf("channel answered 503 for %s, then refused connections for %s", down/2, down-down/2))
}

// 5. The same request_id posted 5 times at once, for 100 messages.
func (s *suite) requestID(t *testing.T) {
	began := time.Now()
	w := newWorld(t, worldOptions{})
	w.mustStart()
	tr := w.run(load{users: 4, messages: 25, copies: 5})
	s.measure(t, w, "same request_id 5x at once", began, tr, "4 users × (START + 25 messages), each posted 5 times at once")
	if tr.differed > 0 {
		t.Errorf("%d of 104 events: the copies of one request_id got different answers (a duplicate must get the first answer)", tr.differed)
	}
}

// 6. Two livechatd processes on one database file, the second started
// under load, as in a rolling restart: it must refuse to start, naming the
// file. If it starts, it takes half of the users.
func (s *suite) twoProcesses(t *testing.T) {
	began := time.Now()
	w := newWorld(t, worldOptions{})
	first := w.mustStart()
	second := &secondBase{url: first.url}
	l := steady(10 * time.Second)
	l.base = func(i int) string {
		if i%2 == 1 {
			return second.get()
		}
		return first.url
	}
	tr := w.run(l)
	time.Sleep(2 * time.Second) // the fault schedule: work in flight first
	d, err := w.startWith(w.writeConfig("second.hcl", freeAddr(t), worldOptions{}))
	var notes []string
	switch {
	case err == nil:
		t.Errorf("a second livechatd started on %s while the first was running on it", w.dbPath())
		notes = append(notes, "the second livechatd started on the same database file; users u2 and u4 moved to it")
		second.set(d.url)
	case !errors.Is(err, errNotListening):
		t.Errorf("the second livechatd: %v", err)
	case !strings.Contains(d.stderr.String(), "livechat.db"):
		t.Errorf("the second livechatd exited without naming the database file: %v", err)
		notes = append(notes, "refused without naming the file: "+errorLine(d.stderr.String()))
	default:
		notes = append(notes, "the second livechatd refused to start: "+errorLine(d.stderr.String()))
	}
	s.measure(t, w, "two livechatd on one db", began, tr, notes...)
}

// secondBase is where the users of the second process post: the first
// process until the second listens.
type secondBase struct {
	mu  sync.Mutex
	url string
}

func (b *secondBase) get() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.url
}

func (b *secondBase) set(url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.url = url
}

// errorLine is the last non-empty line of a process's stderr: its error.
func errorLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
