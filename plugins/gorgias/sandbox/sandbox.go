// Package sandbox is a fake Gorgias: the REST API a provider plugin talks to
// (customers, tickets, messages, HTTP integrations), with Gorgias's basic
// auth, leaky-bucket rate limit, error bodies and webhook ("HTTP
// integration") behaviour, plus the agent's side — a Go API, HTTP endpoints
// under /sandbox/ and a small agent desk web page at /desk — so that tests
// and people can play the agent. The facts it follows are in
// shared/providers/gorgias.md; where Gorgias's behaviour is unknown the
// sandbox picks the stricter reading so a plugin that works here works there.
//
// Use it in tests with Start (an httptest server) or New + Handler:
//
//	sb := sandbox.Start(t, sandbox.Options{Now: clock.Now})
//	// plugin config: base_url = sb.BaseURL(), email/api_key = sandbox.DefaultEmail/DefaultAPIKey
//	ticket := sb.Tickets()[0]
//	sb.Reply(ticket.ID, "", "Hello, how can I help?")
//	sb.WaitIdle(ctx) // every webhook delivered
//
// HTTP integrations render their URL, headers and body with a small Jinja
// subset: {{ ticket.id }}, {{ ticket.external_id }}, {{ ticket.status }},
// {{ ticket.customer.email }}, {{ message.body_text }},
// {{ message.from_agent }} (True/False), {{ event.id }}, {{ event.type }},
// {{ event.object_id }} and every other field of the ticket, message and
// event objects by dotted path. Values are URL-escaped in the URL,
// JSON-escaped in a raw JSON body, and kept on one line in headers.
// Deliveries are asynchronous, in order per integration, retried with
// backoff; an integration is deactivated after MaxConsecutiveFailures
// failed requests in a row.
//
// Events: POST /api/tickets fires ticket-created, then
// ticket-message-created for each of its messages. Every message created
// later — through the API (so the plugin's own customer messages echo back
// with from_agent False), an agent's reply, an internal note, a macro —
// fires ticket-message-created. A status change fires ticket-status-updated
// then ticket-updated; other changes fire ticket-updated (and
// ticket-assignment-updated). A customer message on a closed ticket reopens
// it. Nothing is deduplicated: the same external_id twice makes two tickets
// or two messages, as in Gorgias.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Default credentials and agent.
const (
	DefaultEmail      = "ops@acme.com"
	DefaultAPIKey     = "sandbox-api-key"
	DefaultAgentName  = "Alex Agent"
	DefaultAgentEmail = "alex.agent@acme.com"
)

// Options configure a Sandbox. The zero value is a sandbox with the default
// account, Gorgias's API-key rate limit and the default macros.
type Options struct {
	// Accounts maps API user emails to API keys (HTTP Basic email:key).
	// Nil means {DefaultEmail: DefaultAPIKey}.
	Accounts map[string]string
	// Agents are the helpdesk users that reply from the desk. Nil means one
	// agent, DefaultAgentName <DefaultAgentEmail>. The first is the default.
	Agents []User
	// Macros the agents can apply. Nil means DefaultMacros().
	Macros []Macro

	// BucketCapacity and LeakPerSecond shape the leaky bucket (§1.2):
	// 40 and 2 by default (API-key integrations). A negative capacity turns
	// rate limiting off.
	BucketCapacity int
	LeakPerSecond  float64

	// Now is the clock of the rate limit and of every timestamp; time.Now
	// by default. Tests inject a fake clock so that they never sleep.
	Now func() time.Time

	// MaxConsecutiveFailures failed webhook requests in a row deactivate an
	// integration (Gorgias: 100, the default).
	MaxConsecutiveFailures int
	// Retries is how many times a failed delivery is retried (default 3;
	// negative: never). Each failed try counts as one failure.
	Retries int
	// Backoff is the wait before retry n (1, 2, …); by default
	// 500ms·2^(n-1), at most 10s. Tests pass NoBackoff.
	Backoff func(retry int) time.Duration
	// HTTPClient delivers webhooks; by default a client with a 10s timeout.
	HTTPClient *http.Client

	// TicketMessages is how many messages GET /api/tickets/{id} embeds,
	// oldest first (0: all). Gorgias does not document a bound; a plugin
	// must not count on having them all there, and tests set one to see it
	// page through GET /api/messages.
	TicketMessages int

	// MaxBodyBytes limits request bodies (413 beyond); 5 MiB by default.
	MaxBodyBytes int64
	// Logger receives what the sandbox does (deliveries, faults); discarded
	// when nil.
	Logger *slog.Logger
}

// NoBackoff retries at once.
func NoBackoff(int) time.Duration { return 0 }

func defaultBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 10)
	return min(d, 10*time.Second)
}

// Sandbox is a fake Gorgias account. Its methods are safe for concurrent use.
type Sandbox struct {
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	client  *http.Client
	ctx     context.Context // canceled by Close: stops deliveries and backoffs
	cancel  context.CancelFunc
	handler http.Handler

	mu           sync.Mutex
	version      int64
	changed      chan struct{} // closed and replaced on every change
	idle         chan struct{} // closed and replaced when pending drops to 0
	pending      int           // queued or in-flight deliveries
	nextID       map[string]int64
	accounts     map[string]string
	users        []*User
	customers    []*Customer
	customerData map[int64]time.Time // version of the data last set through /data
	tickets      []*ticket
	tags         []*Tag
	macros       []Macro
	integrations []*integration
	files        []*File // uploaded (POST /api/upload)
	events       []Event
	dispatches   []dispatch
	deliveries   []Delivery
	requests     []Request
	faults       []Fault
	bucket       bucket
	// webhookFaults drop or delay deliveries; dropped lists what they
	// kept from integrations.
	webhookFaults []WebhookFault
	dropped       []DroppedWebhook
	calls         map[string]*callCounter // by lower-case account email

	srv *http.Server
	ln  net.Listener
	url string
}

// ticket is a stored ticket; its messages live beside it.
type ticket struct {
	Ticket
	customerID int64
	messages   []*Message
}

// New returns a sandbox. Close it to stop its deliveries.
func New(opts Options) *Sandbox {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Accounts == nil {
		opts.Accounts = map[string]string{DefaultEmail: DefaultAPIKey}
	}
	if opts.Agents == nil {
		opts.Agents = []User{{Email: DefaultAgentEmail, Name: DefaultAgentName, Firstname: "Alex", Lastname: "Agent"}}
	}
	if opts.Macros == nil {
		opts.Macros = DefaultMacros()
	}
	if opts.BucketCapacity == 0 {
		opts.BucketCapacity = 40
	}
	if opts.LeakPerSecond <= 0 {
		opts.LeakPerSecond = 2
	}
	if opts.MaxConsecutiveFailures <= 0 {
		opts.MaxConsecutiveFailures = 100
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.Backoff == nil {
		opts.Backoff = defaultBackoff
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 5 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		opts: opts, now: opts.Now, log: log, client: opts.HTTPClient, ctx: ctx, cancel: cancel,
		changed: make(chan struct{}), idle: make(chan struct{}),
		// Each kind of object has its own id range, so that a plugin mixing
		// up a ticket id and a message id gets a 404 instead of luck.
		nextID: map[string]int64{
			"user": 1001, "customer": 100001, "channel": 150001, "ticket": 200001,
			"message": 300001, "integration": 401, "http": 901, "tag": 501,
			"event": 700001, "macro": 11,
		},
		accounts:     map[string]string{},
		customerData: map[int64]time.Time{},
		bucket:       bucket{capacity: float64(opts.BucketCapacity), rate: opts.LeakPerSecond},
	}
	for email, key := range opts.Accounts {
		s.accounts[strings.ToLower(email)] = key
	}
	for _, a := range opts.Agents {
		s.addUser(a)
	}
	for email := range opts.Accounts {
		if s.userByEmail(email) == nil {
			s.addUser(User{Email: email, Name: "API (" + email + ")"})
		}
	}
	for _, m := range opts.Macros {
		m.ID = s.id("macro")
		s.macros = append(s.macros, m)
	}
	s.handler = s.routes()
	return s
}

func contextWithAccount(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, accountKey{}, u)
}

// accountFrom is the API user who made the call.
func accountFrom(ctx context.Context) *User {
	u, _ := ctx.Value(accountKey{}).(*User)
	return u
}

// TB is the part of testing.TB that Start needs.
type TB interface {
	Helper()
	Cleanup(func())
}

// Start runs a sandbox on an httptest server until the test ends.
func Start(t TB, opts Options) *Sandbox {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s.Handler())
	s.url = ts.URL
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s
}

// Open listens on addr (":0" picks a port) and serves in the background.
func (s *Sandbox) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "error", err)
		}
	}()
	return nil
}

// Shutdown stops the server opened by Open, waiting for requests in flight
// until ctx is done, then closes the sandbox.
func (s *Sandbox) Shutdown(ctx context.Context) error {
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	s.Close()
	return err
}

// Close cancels deliveries in flight and drops queued ones.
func (s *Sandbox) Close() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.integrations {
		s.dropQueueLocked(in)
	}
}

// URL is the server's root, e.g. http://127.0.0.1:7000 (after Start or Open).
func (s *Sandbox) URL() string { return s.url }

// BaseURL is the REST API's base URL, e.g. http://127.0.0.1:7000/api/, what
// the plugin's base_url is set to.
func (s *Sandbox) BaseURL() string { return s.url + "/api/" }

// DeskURL is the agent desk page.
func (s *Sandbox) DeskURL() string { return s.url + "/desk" }

// Handler serves the REST API (/api/), the test endpoints (/sandbox/) and
// the desk (/, /desk).
func (s *Sandbox) Handler() http.Handler { return s.handler }

// id allocates the next id of a kind. Callers hold mu (or own s alone).
func (s *Sandbox) id(kind string) int64 {
	n := s.nextID[kind]
	s.nextID[kind] = n + 1
	return n
}

// touch records a change: the desk's version moves and waiters wake up.
// Callers hold mu.
func (s *Sandbox) touch() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

// WaitUntil waits until cond (called without the sandbox's lock held)
// returns true, re-checking it after every change of the sandbox's state:
// tickets, messages, deliveries, requests.
func (s *Sandbox) WaitUntil(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitIdle waits until no delivery is queued or in flight.
func (s *Sandbox) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.pending == 0 {
			s.mu.Unlock()
			return nil
		}
		ch := s.idle
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush waits, at most a minute, until every queued delivery is done.
func (s *Sandbox) Flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.WaitIdle(ctx)
}

// ---- errors

// ErrNotFound is returned for an unknown ticket, customer, message,
// integration or macro.
var ErrNotFound = errors.New("resource not found")

// ValidationError is a refused input: Gorgias's 400 body
// {"error": {"msg": Msg, "data": Fields}}.
type ValidationError struct {
	Msg    string
	Fields map[string][]string
}

func (e *ValidationError) Error() string {
	var parts []string
	for _, k := range sortedKeys(e.Fields) {
		parts = append(parts, k+": "+strings.Join(e.Fields[k], " "))
	}
	if len(parts) == 0 {
		return e.Msg
	}
	return e.Msg + ": " + strings.Join(parts, "; ")
}

// ErrConflict is a 409: the resource (a customer's email) already exists.
var ErrConflict = errors.New("the resource already exists")

func invalid(msg, field, text string) *ValidationError {
	return &ValidationError{Msg: msg, Fields: map[string][]string{field: {text}}}
}

// ---- the leaky bucket (§1.2)

type bucket struct {
	capacity float64 // < 0: no limit
	rate     float64 // leak per second
	level    float64
	last     time.Time
}

// leak empties the bucket for the time since the last call.
func (b *bucket) leak(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.level = math.Max(0, b.level-now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) || b.last.IsZero() {
		b.last = now
	}
}

// take puts one call in the bucket; when it is full it says how long until
// a slot frees.
func (b *bucket) take(now time.Time) (ok bool, retryAfter time.Duration) {
	if b.capacity < 0 {
		return true, 0
	}
	b.leak(now)
	if b.level+1 > b.capacity+1e-9 {
		wait := (b.level + 1 - b.capacity) / b.rate
		return false, time.Duration(wait * float64(time.Second))
	}
	b.level++
	return true, 0
}

// header is the X-Gorgias-Account-Api-Call-Limit value: used/limit.
func (b *bucket) header() string {
	if b.capacity < 0 {
		return "0/0"
	}
	used := int(math.Ceil(b.level - 1e-9))
	return fmt.Sprintf("%d/%d", max(used, 0), int(b.capacity))
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return fmt.Sprint(max(int(math.Ceil(d.Seconds())), 1))
}

// ---- fault injection

// Fault makes the next Count API calls (those matching Method and Path, when
// set) answer Status. 429 and 503 answer with Gorgias's bodies; a Retry-After
// header is set when RetryAfter > 0 (always for 429). With AfterApply the
// call is carried out first and only its answer is replaced: the client sees
// a failure although the ticket or message was created — the case that makes
// retries create duplicates.
//
// Delay makes the answer slow, and Reset replaces it with a reset
// connection; with either, Status may be 0 (no status of its own). Without
// AfterApply a delayed call waits Delay before it is carried out and is
// dropped, unanswered, when its client has given up by then: a client that
// timed out knows nothing happened. With AfterApply the call is carried out
// at once and only its answer waits: a client that timed out cannot know
// that it happened — the other case that makes retries create duplicates. A
// Reset before the call means it never happened; after it, that it did.
type Fault struct {
	Status     int           `json:"status"`
	Count      int           `json:"count"`
	RetryAfter time.Duration `json:"-"`
	Method     string        `json:"method,omitempty"`
	Path       string        `json:"path,omitempty"` // a prefix of the path, e.g. /api/tickets
	AfterApply bool          `json:"after_apply,omitempty"`
	Delay      time.Duration `json:"-"`
	Reset      bool          `json:"reset,omitempty"`
}

// InjectFault makes the next count API calls answer status, e.g.
// InjectFault(429, 5, time.Second) or InjectFault(503, 1, 0).
func (s *Sandbox) InjectFault(status, count int, retryAfter time.Duration) {
	s.AddFault(Fault{Status: status, Count: count, RetryAfter: retryAfter})
}

// AddFault queues a fault; faults apply in the order they were added.
func (s *Sandbox) AddFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	f.Method = strings.ToUpper(f.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Faults lists the faults not yet used up, each with the count it has left.
func (s *Sandbox) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fault{}, s.faults...)
}

// ClearFaults drops the faults not yet used.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault uses up one matching fault of the kind (before or after the
// call is carried out). Callers hold mu.
func (s *Sandbox) takeFault(method, path string, afterApply bool) (Fault, bool) {
	for i := range s.faults {
		f := &s.faults[i]
		if f.AfterApply != afterApply {
			continue
		}
		if f.Method != "" && f.Method != method {
			continue
		}
		if f.Path != "" && !strings.HasPrefix(path, strings.TrimSuffix(f.Path, "/")) {
			continue
		}
		out := *f
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		return out, true
	}
	return Fault{}, false
}
