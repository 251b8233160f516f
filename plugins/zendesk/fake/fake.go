// Package fake is a Zendesk Support account for tests: an httptest server
// speaking the parts of the Support (ticketing) API the zendesk provider
// uses — users/create_or_update, tickets (create, show, update, list by
// external_id), ticket comments (cursor pagination, sideloaded users) —
// with Zendesk's status codes, error bodies and rate-limit headers, and a
// webhook subscribed to ticket events (zen:event-type:ticket.comment_added
// and zen:event-type:ticket.status_changed) POSTed for every comment (the
// API client's own and private notes included) and every status change,
// signed as Zendesk signs them (X-Zendesk-Webhook-Signature: base64
// HMAC-SHA256 of the timestamp and the body).
//
// Tests play the agents through its Go API (AgentReply, PrivateNote,
// ApplyMacro with the sign-off macro, Solve), read its stores, inject
// failures (Fail) and rate limits, and control webhook delivery
// (DropWebhooks, HoldWebhooks, Release, SetSigningSecret, WaitIdle,
// Redeliver) and the clock, so they never sleep.
//
// Webhook retries follow Zendesk's documented policy as far as the plugin
// can tell (see README.md, "Verified against the real API"): an answer 409
// is retried up to three times, a 429 or 503 whose Retry-After is under 60
// seconds is retried after it (up to three times), a timeout (10 s) is
// retried; any other failure, a 401 included, is never retried.
package fake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

// WaitTimeout bounds every Wait of the fake.
var WaitTimeout = 30 * time.Second

// The sign-off macro: its comment ends with the token livechatd turns into
// the "Quit livechat" button.
const (
	SignOffMacro   = "Live chat: sign off"
	SignOffComment = "Thanks for chatting with us! Is there anything else we can do for you?\n\nLIVECHAT_SESSION_END"
)

// Options configure a Server.
type Options struct {
	// Email and Token are the API credentials accepted (Basic auth,
	// "<email>/token" and the token): "ops@acme.test", "zd-test-token".
	Email, Token string
	// Secret is the webhook's signing secret ("zd-signing-secret").
	Secret string
	// AccountID is the account's id in webhook payloads (9001).
	AccountID int64
	// RateLimit is the account's requests per minute (700, Enterprise);
	// TicketUpdates is how many updates one user may make to one ticket in
	// 10 minutes (30).
	RateLimit, TicketUpdates int
	// Now is the clock (time.Now): created_at, rate windows, and webhook
	// timestamps.
	Now func() time.Time
	// RetryWait is how long the webhook waits before a retry it was told
	// to make after d (default: d itself; tests shorten it).
	RetryWait func(d time.Duration) time.Duration
	// WebhookTimeout bounds one delivery attempt (10 s).
	WebhookTimeout time.Duration
}

// User is a Zendesk user.
type User struct {
	ID         int64             `json:"id"`
	Name       string            `json:"name"`
	Email      string            `json:"email,omitempty"`
	ExternalID string            `json:"external_id,omitempty"`
	Role       string            `json:"role"`
	UserFields map[string]string `json:"user_fields"`
}

// Ticket is a Zendesk ticket.
type Ticket struct {
	ID          int64    `json:"id"`
	ExternalID  string   `json:"external_id,omitempty"`
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Status      string   `json:"status"`
	RequesterID int64    `json:"requester_id"`
	SubmitterID int64    `json:"submitter_id"`
	AssigneeID  *int64   `json:"assignee_id"`
	Priority    string   `json:"priority,omitempty"`
	GroupID     int64    `json:"group_id,omitempty"`
	Tags        []string `json:"tags"`
	IsPublic    bool     `json:"is_public"`
	Via         Via      `json:"via"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

// Via says how a ticket or comment was created.
type Via struct {
	Channel string `json:"channel"`
}

// Comment is a ticket comment.
type Comment struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Body      string `json:"body"`
	HTMLBody  string `json:"html_body"`
	PlainBody string `json:"plain_body"`
	Public    bool   `json:"public"`
	AuthorID  int64  `json:"author_id"`
	Via       Via    `json:"via"`
	CreatedAt string `json:"created_at"`
	// Attachments are the comment's files (uploads attached by token).
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a comment's file as Zendesk renders it.
type Attachment struct {
	ID          int64  `json:"id"`
	FileName    string `json:"file_name"`
	ContentURL  string `json:"content_url"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// Data is the uploaded bytes (not rendered).
	Data []byte `json:"-"`
}

// Server is a fake Zendesk account. Call New.
type Server struct {
	*httptest.Server
	t    testing.TB
	opts Options
	sig  sdktest.Signal

	mu       sync.Mutex
	nextID   int64
	apiUser  int64 // the token's user, an admin
	users    map[int64]*User
	tickets  map[int64]*Ticket
	comments map[int64][]*Comment
	audits   map[int64][]map[string]any
	order    []int64 // ticket ids, oldest first
	requests []Request
	window   []time.Time            // this account's API calls in the last minute
	updates  map[string][]time.Time // "<user>:<ticket>" → updates in the last 10 minutes
	faults   []*Fault
	fields   map[string]bool // user field keys that exist

	hookURL  string
	secret   string
	drop     bool
	hold     bool
	queue    []*Delivery
	sending  bool
	all      []*Delivery
	macros   map[string]string
	agents   map[string]int64      // agent name → user id
	uploads  map[string]Attachment // upload token → file
	photos   map[int64]string      // user id → photo URL
	hookID   string
	stopping bool
}

// Request is one API call the fake answered.
type Request struct {
	Method, Path string
	Status       int
}

// New starts a fake Zendesk, stopped when the test ends.
func New(t testing.TB, o Options) *Server {
	if o.Email == "" {
		o.Email = "ops@acme.test"
	}
	if o.Token == "" {
		o.Token = "zd-test-token"
	}
	if o.Secret == "" {
		o.Secret = "zd-signing-secret"
	}
	if o.AccountID == 0 {
		o.AccountID = 9001
	}
	if o.RateLimit == 0 {
		o.RateLimit = 700
	}
	if o.TicketUpdates == 0 {
		o.TicketUpdates = 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RetryWait == nil {
		o.RetryWait = func(d time.Duration) time.Duration { return d }
	}
	if o.WebhookTimeout == 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	s := &Server{t: t, opts: o, nextID: 360000000000, users: map[int64]*User{}, tickets: map[int64]*Ticket{},
		comments: map[int64][]*Comment{}, audits: map[int64][]map[string]any{}, updates: map[string][]time.Time{}, fields: map[string]bool{},
		secret: o.Secret, macros: map[string]string{SignOffMacro: SignOffComment}, agents: map[string]int64{},
		uploads: map[string]Attachment{}, photos: map[int64]string{},
		hookID: "01GZ" + randomHex(10)}
	api := s.newUser(User{Name: "Ops", Email: o.Email, Role: "admin"})
	s.apiUser = api.ID
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/users/create_or_update.json", s.createOrUpdateUser)
	mux.HandleFunc("GET /api/v2/tickets.json", s.listTickets)
	mux.HandleFunc("POST /api/v2/tickets.json", s.createTicket)
	mux.HandleFunc("GET /api/v2/tickets/{id}", s.showTicket)
	mux.HandleFunc("PUT /api/v2/tickets/{id}", s.updateTicket)
	mux.HandleFunc("POST /api/v2/uploads.json", s.postUpload)
	mux.HandleFunc("GET /api/v2/users/{id}", s.showUser)
	mux.HandleFunc("GET /api/v2/tickets/{id}/comments.json", s.listComments)
	mux.HandleFunc("GET /api/v2/tickets/{id}/audits.json", s.listAudits)
	s.Server = httptest.NewServer(s.middleware(mux))
	t.Cleanup(func() {
		s.mu.Lock()
		s.stopping = true
		s.mu.Unlock()
		s.Server.Close()
	})
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// id hands out the next id; the lock is held. Zendesk's ids grow.
func (s *Server) id() int64 {
	s.nextID += 1 + s.nextID%7
	return s.nextID
}

func (s *Server) now() string { return s.opts.Now().UTC().Format(time.RFC3339) }

// newUser adds u; the lock is held or not needed yet.
func (s *Server) newUser(u User) *User {
	u.ID = s.id()
	if u.UserFields == nil {
		u.UserFields = map[string]string{}
	}
	s.users[u.ID] = &u
	return &u
}

// --- HTTP ---

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Zendesk's error bodies.
func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "RecordNotFound", "description": "Not found"})
}

func invalid(w http.ResponseWriter, field, description string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "RecordInvalid", "description": "Record validation errors",
		"details": map[string]any{field: []map[string]string{{"description": description, "error": "InvalidValue"}}}})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Unprocessable Entity", "description": msg})
}

// statusWriter records the answer's status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// middleware answers injected faults and the rate limits, checks the
// credentials, sets the rate-limit headers, and records the call.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: sw.status})
			s.mu.Unlock()
			s.sig.Notify()
		}()
		user, pass, ok := r.BasicAuth()
		if !ok || user != s.opts.Email+"/token" || pass != s.opts.Token {
			writeJSON(sw, http.StatusUnauthorized, map[string]string{"error": "Couldn't authenticate you"})
			return
		}
		s.mu.Lock()
		if f := s.fault(r); f != nil {
			s.mu.Unlock()
			if f.ApplyFirst {
				next.ServeHTTP(httptest.NewRecorder(), r)
			}
			f.answer(sw)
			return
		}
		now := s.opts.Now()
		s.window = slices.DeleteFunc(s.window, func(t time.Time) bool { return now.Sub(t) >= time.Minute })
		remaining := s.opts.RateLimit - len(s.window)
		sw.Header().Set("X-Rate-Limit", strconv.Itoa(s.opts.RateLimit))
		if remaining <= 0 {
			wait := time.Minute - now.Sub(s.window[0])
			s.mu.Unlock()
			sw.Header().Set("X-Rate-Limit-Remaining", "0")
			tooMany(sw, wait, "Too Many Requests")
			return
		}
		s.window = append(s.window, now)
		sw.Header().Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining-1))
		s.mu.Unlock()
		next.ServeHTTP(sw, r)
	})
}

// tooMany is Zendesk's 429: text/plain, Retry-After in whole seconds.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, msg)
}

// Fault makes matching API calls fail.
type Fault struct {
	// Method and PathContains select calls ("" matches any).
	Method, PathContains string
	// Status is answered, with Zendesk's body for it.
	Status int
	// RetryAfter, when not zero, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration
	// Times is how many calls fail; 0 fails every call until Heal.
	Times int
	// ApplyFirst makes Zendesk do what the call asks before the fault is
	// answered: an answer lost on the way back.
	ApplyFirst bool
}

func (f *Fault) answer(w http.ResponseWriter) {
	switch {
	case f.Status == http.StatusTooManyRequests:
		tooMany(w, f.RetryAfter, "Too Many Requests")
		return
	case f.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
	}
	switch {
	case f.Status == http.StatusNotFound:
		notFound(w)
	case f.Status == http.StatusUnprocessableEntity:
		invalid(w, "base", "Record validation errors")
	case f.Status >= 500:
		// Zendesk's outages answer with a plain page.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, http.StatusText(f.Status))
	default:
		writeJSON(w, f.Status, map[string]string{"error": http.StatusText(f.Status), "description": http.StatusText(f.Status)})
	}
}

// Fail adds a fault.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Heal removes every fault.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// fault is the first fault matching r, used once; the lock is held.
func (s *Server) fault(r *http.Request) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.PathContains) {
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					s.faults = slices.Delete(s.faults, i, i+1)
				}
			}
			return f
		}
	}
	return nil
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		badRequest(w, "Invalid JSON: "+err.Error())
		return false
	}
	return true
}

func (s *Server) createOrUpdateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User *struct {
			Name       string            `json:"name"`
			Email      string            `json:"email"`
			ExternalID string            `json:"external_id"`
			UserFields map[string]string `json:"user_fields"`
		} `json:"user"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.User == nil {
		badRequest(w, "user parameter is missing")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *User
	for _, id := range s.sortedUsers() {
		c := s.users[id]
		if (in.User.ExternalID != "" && c.ExternalID == in.User.ExternalID) || (in.User.Email != "" && strings.EqualFold(c.Email, in.User.Email)) {
			u = c
			break
		}
	}
	status := http.StatusOK
	if u == nil {
		if strings.TrimSpace(in.User.Name) == "" {
			invalid(w, "name", "Name:  is too short (minimum one character)")
			return
		}
		u = s.newUser(User{Role: "end-user"})
		status = http.StatusCreated
	}
	if in.User.Name != "" {
		u.Name = in.User.Name
	}
	if in.User.Email != "" {
		u.Email = in.User.Email
	}
	if in.User.ExternalID != "" {
		u.ExternalID = in.User.ExternalID
	}
	for k, v := range in.User.UserFields {
		if s.fields[k] { // Zendesk keeps values of fields that exist only
			u.UserFields[k] = v
		}
	}
	writeJSON(w, status, map[string]any{"user": u})
	s.sig.Notify()
}

func (s *Server) sortedUsers() []int64 {
	ids := make([]int64, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ext := r.URL.Query().Get("external_id")
	out := []Ticket{}
	for _, id := range s.order {
		if t := s.tickets[id]; ext == "" || t.ExternalID == ext {
			out = append(out, *t)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tickets": out, "next_page": nil, "previous_page": nil, "count": len(out)})
}

type ticketIn struct {
	Ticket *struct {
		Metadata    map[string]any `json:"metadata"`
		Subject     string         `json:"subject"`
		ExternalID  *string        `json:"external_id"`
		RequesterID int64          `json:"requester_id"`
		Status      string         `json:"status"`
		Tags        []string       `json:"tags"`
		AssigneeID  *int64         `json:"assignee_id"`
		Priority    string         `json:"priority"`
		GroupID     int64          `json:"group_id"`
		Comment     *struct {
			Body     string   `json:"body"`
			HTMLBody string   `json:"html_body"`
			Public   *bool    `json:"public"`
			AuthorID int64    `json:"author_id"`
			Uploads  []string `json:"uploads"`
		} `json:"comment"`
	} `json:"ticket"`
}

var statuses = []string{"new", "open", "pending", "hold", "solved", "closed"}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	var in ticketIn
	if !decode(w, r, &in) {
		return
	}
	if in.Ticket == nil {
		badRequest(w, "ticket parameter is missing")
		return
	}
	ti := in.Ticket
	if ti.Comment == nil || strings.TrimSpace(ti.Comment.Body+ti.Comment.HTMLBody) == "" {
		invalid(w, "description", "Description: cannot be blank")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	requester := ti.RequesterID
	if requester == 0 {
		requester = s.apiUser
	}
	if s.users[requester] == nil {
		invalid(w, "requester", "Requester: is invalid")
		return
	}
	status := ti.Status
	if status == "" {
		status = "new"
	}
	if ti.Priority != "" && !slices.Contains([]string{"urgent", "high", "normal", "low"}, ti.Priority) {
		invalid(w, "priority", "Priority: is not valid")
		return
	}
	if !slices.Contains(statuses[:5], status) {
		invalid(w, "status", "Status: is not valid")
		return
	}
	now := s.now()
	t := &Ticket{ID: s.ticketID(), Subject: ti.Subject, Status: status, RequesterID: requester, SubmitterID: s.apiUser,
		AssigneeID: ti.AssigneeID, Tags: ti.Tags, Via: Via{Channel: "api"}, CreatedAt: now, UpdatedAt: now,
		Priority: ti.Priority, GroupID: ti.GroupID}
	if t.Tags == nil {
		t.Tags = []string{}
	}
	if ti.ExternalID != nil {
		t.ExternalID = *ti.ExternalID
	}
	s.tickets[t.ID] = t
	s.order = append(s.order, t.ID)
	author := ti.Comment.AuthorID
	if author == 0 {
		author = s.apiUser
	}
	public := ti.Comment.Public == nil || *ti.Comment.Public
	c := s.addComment(t, author, ti.Comment.Body, public, "api")
	t.Description = c.Body
	t.IsPublic = public
	writeJSON(w, http.StatusCreated, map[string]any{"ticket": t, "audit": s.audit(t, c, "", ti.Metadata)})
}

// ticketID is the next ticket number: tickets count up from 1.
func (s *Server) ticketID() int64 { return int64(len(s.order) + 1) }

// audit stores and returns the audit of an update: the caller's custom
// metadata, its Comment event, and its Change of status.
func (s *Server) audit(t *Ticket, c *Comment, prevStatus string, custom map[string]any) map[string]any {
	var events []map[string]any
	if c != nil {
		events = append(events, map[string]any{"id": c.ID, "type": "Comment", "author_id": c.AuthorID, "body": c.Body, "public": c.Public})
	}
	if prevStatus != "" && prevStatus != t.Status {
		events = append(events, map[string]any{"id": s.id(), "type": "Change", "field_name": "status", "value": t.Status, "previous_value": prevStatus})
	}
	if events == nil {
		events = []map[string]any{}
	}
	if custom == nil {
		custom = map[string]any{}
	}
	a := map[string]any{"id": s.id(), "ticket_id": t.ID, "author_id": s.apiUser, "created_at": s.now(), "events": events,
		"via":      map[string]any{"channel": "api"},
		"metadata": map[string]any{"custom": custom, "system": map[string]any{"client": "livechat-provider-zendesk", "ip_address": "127.0.0.1"}}}
	s.audits[t.ID] = append(s.audits[t.ID], a)
	return a
}

// listAudits is GET /tickets/{id}/audits.json, cursor paginated.
func (s *Server) listAudits(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticket(w, r)
	if t == nil {
		return
	}
	as := slices.Clone(s.audits[t.ID])
	page, meta, ok := paginate(w, r, as, func(a map[string]any) int64 { return a["id"].(int64) })
	if ok {
		writeJSON(w, http.StatusOK, map[string]any{"audits": page, "meta": meta})
	}
}

// paginate pages items (oldest first) the way Zendesk's cursor pagination
// does: sort_order, page[size] (at most 100), page[after].
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T, id func(T) int64) ([]T, map[string]any, bool) {
	q := r.URL.Query()
	switch q.Get("sort_order") {
	case "", "asc":
	case "desc":
		slices.Reverse(items)
	default:
		badRequest(w, "sort_order must be asc or desc")
		return nil, nil, false
	}
	size := 100
	if v := q.Get("page[size]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			badRequest(w, "page[size] must be between 1 and 100")
			return nil, nil, false
		}
		size = n
	}
	start := 0
	if a := q.Get("page[after]"); a != "" {
		after, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			badRequest(w, "Invalid cursor")
			return nil, nil, false
		}
		start = slices.IndexFunc(items, func(x T) bool { return id(x) == after }) + 1
	}
	end := min(start+size, len(items))
	page := slices.Clone(items[start:end])
	meta := map[string]any{"has_more": end < len(items), "after_cursor": nil, "before_cursor": nil}
	if len(page) > 0 {
		// Zendesk's cursors are opaque; the fake's are ids.
		meta["after_cursor"] = strconv.FormatInt(id(page[len(page)-1]), 10)
		meta["before_cursor"] = strconv.FormatInt(id(page[0]), 10)
	}
	return page, meta, true
}

// ticket is the ticket named in the path ("12.json"), or nil after a 404;
// the lock is held.
func (s *Server) ticket(w http.ResponseWriter, r *http.Request) *Ticket {
	id, err := strconv.ParseInt(strings.TrimSuffix(r.PathValue("id"), ".json"), 10, 64)
	if err == nil {
		if t := s.tickets[id]; t != nil {
			return t
		}
	}
	notFound(w)
	return nil
}

func (s *Server) showTicket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.ticket(w, r); t != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ticket": t})
	}
}

// maxComments is the most comments a ticket holds.
const maxComments = 5000

func (s *Server) updateTicket(w http.ResponseWriter, r *http.Request) {
	var in ticketIn
	if !decode(w, r, &in) {
		return
	}
	if in.Ticket == nil {
		badRequest(w, "ticket parameter is missing")
		return
	}
	ti := in.Ticket
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticket(w, r)
	if t == nil {
		return
	}
	if t.Status == "closed" {
		invalid(w, "status", "Status: closed prevents ticket update")
		return
	}
	// 30 updates per ticket per user per 10 minutes.
	key := strconv.FormatInt(s.apiUser, 10) + ":" + strconv.FormatInt(t.ID, 10)
	now := s.opts.Now()
	s.updates[key] = slices.DeleteFunc(s.updates[key], func(at time.Time) bool { return now.Sub(at) >= 10*time.Minute })
	if len(s.updates[key]) >= s.opts.TicketUpdates {
		tooMany(w, 10*time.Minute-now.Sub(s.updates[key][0]), "Rate limit for ticket updates exceeded, please wait before updating this ticket again")
		return
	}
	if ti.Status != "" && !slices.Contains(statuses, ti.Status) {
		invalid(w, "status", "Status: is not valid")
		return
	}
	if ti.Comment != nil && len(s.comments[t.ID]) >= maxComments {
		invalid(w, "base", "Ticket has reached the maximum number of comments")
		return
	}
	s.updates[key] = append(s.updates[key], now)
	prev := t.Status
	var c *Comment
	if ti.Comment != nil && strings.TrimSpace(ti.Comment.Body+ti.Comment.HTMLBody) != "" {
		author := ti.Comment.AuthorID
		if author == 0 {
			author = s.apiUser
		}
		if s.users[author] == nil {
			invalid(w, "author", "Author: is invalid")
			return
		}
		public := ti.Comment.Public == nil || *ti.Comment.Public
		var files []Attachment
		for _, tok := range ti.Comment.Uploads {
			a, ok := s.uploads[tok]
			if !ok {
				invalid(w, "uploads", "Uploads: token "+tok+" is invalid")
				return
			}
			files = append(files, a)
			delete(s.uploads, tok) // a token attaches once
		}
		c = s.addComment(t, author, ti.Comment.Body, public, "api")
		c.Attachments = files
		// A public comment by the requester on a solved ticket reopens it.
		if public && author == t.RequesterID && t.Status == "solved" && ti.Status == "" {
			s.setStatus(t, "open")
		}
	}
	if ti.AssigneeID != nil {
		t.AssigneeID = ti.AssigneeID
	}
	if ti.Status != "" {
		if ti.Status == "solved" && t.AssigneeID == nil {
			// Solved through the API by an agent without an assignee: the
			// agent becomes the assignee.
			a := s.apiUser
			t.AssigneeID = &a
		}
		s.setStatus(t, ti.Status)
	}
	if ti.Tags != nil {
		t.Tags = ti.Tags
	}
	t.UpdatedAt = s.now()
	writeJSON(w, http.StatusOK, map[string]any{"ticket": t, "audit": s.audit(t, c, prev, ti.Metadata)})
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticket(w, r)
	if t == nil {
		return
	}
	q := r.URL.Query()
	var cs []Comment
	for _, c := range s.comments[t.ID] {
		cs = append(cs, *c)
	}
	page, meta, ok := paginate(w, r, cs, func(c Comment) int64 { return c.ID })
	if !ok {
		return
	}
	if page == nil {
		page = []Comment{}
	}
	authors := map[int64]bool{}
	for _, c := range page {
		authors[c.AuthorID] = true
	}
	out := map[string]any{"comments": page, "meta": meta}
	if slices.Contains(strings.Split(q.Get("include"), ","), "users") {
		users := []User{}
		for _, id := range s.sortedUsers() {
			if authors[id] {
				users = append(users, *s.users[id])
			}
		}
		out["users"] = users
	}
	writeJSON(w, http.StatusOK, out)
}

// addComment adds a comment and sends its webhook; the lock is held.
func (s *Server) addComment(t *Ticket, author int64, body string, public bool, channel string) *Comment {
	c := &Comment{ID: s.id(), Type: "Comment", Body: body, PlainBody: body, HTMLBody: "<div class=\"zd-comment\"><p>" + body + "</p></div>",
		Public: public, AuthorID: author, Via: Via{Channel: channel}, CreatedAt: s.now()}
	s.comments[t.ID] = append(s.comments[t.ID], c)
	if public {
		t.IsPublic = true
	}
	a := s.users[author]
	s.emit(t, EventCommentAdded, map[string]any{"comment": map[string]any{
		"id": strconv.FormatInt(c.ID, 10), "body": body, "is_public": public,
		"author": map[string]any{"id": strconv.FormatInt(author, 10), "is_staff": a.Role != "end-user", "name": a.Name},
	}})
	s.sig.Notify()
	return c
}

// setStatus changes t's status and sends its webhook; the lock is held.
func (s *Server) setStatus(t *Ticket, status string) {
	if t.Status == status {
		return
	}
	prev := t.Status
	t.Status = status
	s.emit(t, EventStatusChanged, map[string]any{"current": strings.ToUpper(status), "previous": strings.ToUpper(prev)})
	s.sig.Notify()
}
