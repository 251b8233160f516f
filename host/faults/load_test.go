//go:build faults

package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Every message says who it is for and its place in its sequence, so that
// it can be counted wherever it arrives.
var (
	userText  = regexp.MustCompile(`^(u\d+) says (\d+)$`)
	agentText = regexp.MustCompile(`^agent to (u\d+): (\d+)$`)
)

func userMessage(user string, seq int) string  { return fmt.Sprintf("%s says %03d", user, seq) }
func agentMessage(user string, seq int) string { return fmt.Sprintf("agent to %s: %03d", user, seq) }

// arrival is one message seen at its destination.
type arrival struct {
	user string
	seq  int
}

func parse(re *regexp.Regexp, s string) (arrival, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return arrival{}, false
	}
	n, _ := strconv.Atoi(m[2])
	return arrival{user: m[1], seq: n}, true
}

func parseUserText(s string) (arrival, bool)  { return parse(userText, s) }
func parseAgentText(s string) (arrival, bool) { return parse(agentText, s) }

// load is the traffic of a scenario: users who open a livechat session and
// write, and an agent who answers each of them on the platform.
type load struct {
	users      int
	messages   int           // per user
	every      time.Duration // between a user's messages
	replies    int           // agent replies per user
	replyEvery time.Duration
	// copies posts each event that many times at once, with the same
	// request_id (1 when 0).
	copies int
	// base is the livechatd URL user i posts to, asked before each event;
	// the world's livechatd when nil.
	base func(i int) string
}

// traffic is a load in progress, then its account.
type traffic struct {
	done chan struct{}

	mu       sync.Mutex
	toAgent  map[string]int // user → messages posted
	toUser   map[string]int // user → replies written on the platform
	sessions map[string]string
	notes    []string
	// differed counts events whose copies were answered differently: a
	// concurrent duplicate must get the first answer (issue 9).
	differed int
}

func (tr *traffic) note(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.notes = append(tr.notes, fmt.Sprintf(format, args...))
}

// failed notes an event that was not answered as it should have been.
func (tr *traffic) failed(user, what string, err error) {
	if errors.Is(err, errDiffer) {
		tr.mu.Lock()
		tr.differed++
		tr.mu.Unlock()
	}
	tr.note("%s: %s: %v", user, what, err)
}

func (tr *traffic) count(m map[string]int, user string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	m[user]++
}

// running reports whether the load is still being sent.
func (tr *traffic) running() bool {
	select {
	case <-tr.done:
		return false
	default:
		return true
	}
}

// sent copies the counts.
func (tr *traffic) sent() (toAgent, toUser map[string]int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	toAgent, toUser = map[string]int{}, map[string]int{}
	for k, v := range tr.toAgent {
		toAgent[k] = v
	}
	for k, v := range tr.toUser {
		toUser[k] = v
	}
	return toAgent, toUser
}

// loadBudget bounds how long a load may take to send, faults included.
const loadBudget = 90 * time.Second

// run starts the load; it is sent when done is closed.
func (w *world) run(l load) *traffic {
	tr := &traffic{done: make(chan struct{}), toAgent: map[string]int{}, toUser: map[string]int{}, sessions: map[string]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), loadBudget)
	var wg sync.WaitGroup
	for i := range l.users {
		user := "u" + strconv.Itoa(i+1)
		base := func() string { return w.url() }
		if l.base != nil {
			base = func() string { return l.base(i) }
		}
		session := make(chan string, 1)
		wg.Add(2)
		go func() {
			defer wg.Done()
			w.userSide(ctx, tr, l, base, user, session)
		}()
		go func() {
			defer wg.Done()
			w.agentSide(ctx, tr, l, user, session)
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		close(tr.done)
	}()
	return tr
}

// userSide opens the user's session, then writes l.messages messages,
// one every l.every.
func (w *world) userSide(ctx context.Context, tr *traffic, l load, base func() string, user string, session chan<- string) {
	defer close(session)
	event := func(id string, payload map[string]any) map[string]any {
		return map[string]any{
			"request_id": user + "-" + id,
			"client":     map[string]any{"user_id": user, "channel_id": "faults"},
			"metadata":   map[string]any{"firstname": "User " + user, "email": user + "@faults.test"},
			"payload":    payload,
		}
	}
	r, err := w.sendCopies(ctx, base(), l.copies, event("start", buttonPayload("LIVECHAT_SESSION_START")))
	if err != nil {
		tr.failed(user, "START", err)
	}
	if lc, _ := r["livechat"].(map[string]any); lc == nil || lc["session_id"] == nil {
		tr.note("%s: START answered without a session: %s", user, clip(r))
	} else {
		id, _ := lc["session_id"].(string)
		tr.mu.Lock()
		tr.sessions[user] = id
		tr.mu.Unlock()
		session <- id
	}
	pace := time.NewTicker(max(l.every, time.Millisecond))
	defer pace.Stop()
	for seq := 1; seq <= l.messages; seq++ {
		tr.count(tr.toAgent, user)
		if _, err := w.sendCopies(ctx, base(), l.copies, event("m"+strconv.Itoa(seq), textPayload(userMessage(user, seq)))); err != nil {
			tr.failed(user, fmt.Sprintf("message %d", seq), err)
		}
		if l.every > 0 {
			select {
			case <-pace.C:
			case <-ctx.Done():
			}
		}
	}
}

// sendCopies sends copies of an event at once and returns the first
// answered; copies answered differently make an error (the answer is
// still returned).
func (w *world) sendCopies(ctx context.Context, base string, copies int, event map[string]any) (map[string]any, error) {
	if copies <= 1 {
		return w.send(ctx, base, event)
	}
	answers := make([]map[string]any, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = w.send(ctx, base, event)
		}()
	}
	wg.Wait()
	var first map[string]any
	for _, a := range answers {
		if a != nil {
			first = a
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return first, err
	}
	differ := 0
	for _, a := range answers {
		if clip(a) != clip(first) {
			differ++
		}
	}
	if differ > 0 {
		return first, fmt.Errorf("%w: %d of %d otherwise than %s", errDiffer, differ, copies, clip(first))
	}
	return first, nil
}

// errDiffer: copies of one request were answered differently.
var errDiffer = errors.New("copies answered differently")

// clip is v as JSON, cut short for a note.
func clip(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 160 {
		return string(b[:160]) + "…"
	}
	return string(b)
}

// agentSide waits for the user's ticket, then answers l.replies times on
// the platform, one every l.replyEvery.
func (w *world) agentSide(ctx context.Context, tr *traffic, l load, user string, session <-chan string) {
	if l.replies == 0 {
		return
	}
	id, ok := <-session
	if !ok {
		return // no session: noted by the user's side
	}
	var ticket int64
	err := w.sandbox.WaitUntil(ctx, func() bool {
		if ts := w.sandbox.TicketsByExternalID(id); len(ts) > 0 {
			ticket = ts[0].ID
			return true
		}
		return false
	})
	if err != nil {
		tr.note("%s: no ticket for session %s: the agent never answered", user, id)
		return
	}
	pace := time.NewTicker(max(l.replyEvery, time.Millisecond))
	defer pace.Stop()
	for seq := 1; seq <= l.replies; seq++ {
		if _, err := w.sandbox.Reply(ticket, "Ann", agentMessage(user, seq)); err != nil {
			tr.note("%s: reply %d: %v", user, seq, err)
		} else {
			tr.count(tr.toUser, user)
		}
		select {
		case <-pace.C:
		case <-ctx.Done():
			return
		}
	}
}

// ---- counting

// tally is one direction's account.
type tally struct {
	Sent       int `json:"sent"`
	Delivered  int `json:"delivered"`
	Duplicated int `json:"duplicated"`
	Lost       int `json:"lost"`
	OutOfOrder int `json:"out_of_order"`
}

// count checks arrivals (in arrival order) against what was sent: each
// message once, in its user's order. A message that arrives after a later
// one of its user is out of order; an arrival of a message already seen is
// a duplicate.
func count(sent map[string]int, arrivals []arrival) tally {
	var t tally
	seen := map[arrival]bool{}
	latest := map[string]int{}
	for _, a := range arrivals {
		if a.seq < 1 || a.seq > sent[a.user] {
			continue // never sent: not ours
		}
		if seen[a] {
			t.Duplicated++
			continue
		}
		seen[a] = true
		t.Delivered++
		if a.seq < latest[a.user] {
			t.OutOfOrder++
		}
		latest[a.user] = max(latest[a.user], a.seq)
	}
	for _, n := range sent {
		t.Sent += n
	}
	t.Lost = t.Sent - t.Delivered
	return t
}

// platformArrivals are the users' messages on the platform's tickets, in
// the order the platform created them.
func (w *world) platformArrivals() []arrival {
	type msg struct {
		id int64
		a  arrival
	}
	var msgs []msg
	for _, t := range w.sandbox.Tickets() {
		for _, m := range t.Messages {
			if m.FromAgent {
				continue
			}
			if a, ok := parseUserText(string(m.BodyText)); ok {
				msgs = append(msgs, msg{m.ID, a})
			}
		}
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].id < msgs[j].id })
	out := make([]arrival, len(msgs))
	for i, m := range msgs {
		out[i] = m.a
	}
	return out
}

// botHeard counts the users' livechat messages that reached the bot
// instead of the agent.
func (w *world) botHeard() int {
	n := 0
	for _, v := range w.bot.Values() {
		if _, ok := parseUserText(v); ok {
			n++
		}
	}
	return n
}

// settle waits, after the load and the faults, until nothing more can
// arrive: livechatd's outbox has nothing pending and the platform no
// webhook to deliver, twice in a row. It gives up after limit.
func (w *world) settle(tr *traffic, base string, limit time.Duration) (time.Duration, error) {
	<-tr.done
	start := time.Now()
	calm := 0
	var last string
	ok := waitFor(limit, func() bool {
		// The platform first: a webhook it has delivered is in the outbox.
		idle := w.platformIdle()
		pending, up := w.outboxPending(base)
		if idle && up && pending == 0 {
			calm++
			return calm >= 2
		}
		calm = 0
		var why []string
		if !idle {
			why = append(why, "the platform still has webhooks to deliver")
		}
		if !up {
			why = append(why, "livechatd does not answer /metrics")
		} else if pending > 0 {
			why = append(why, fmt.Sprintf("%d outbox items still pending", pending))
		}
		last = strings.Join(why, ", ")
		return false
	})
	if !ok {
		return time.Since(start), fmt.Errorf("not quiescent after %s: %s", limit, last)
	}
	return time.Since(start), nil
}
