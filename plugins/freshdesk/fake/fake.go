// Package fake is a Freshdesk helpdesk for tests: API v2's tickets,
// contacts, notes, replies and conversations as the real API answers them
// (HTTP Basic "<api key>:X", its status codes and error bodies, its
// X-RateLimit-* headers and 429 with Retry-After), and an Automation rule
// whose "Trigger webhook" action calls a URL with a rendered body, the way
// Freshdesk does: unsigned, with the custom headers the rule sets, retried
// 5, 30 and 60 minutes after a failed call (shortened by Options), and
// counted against the account's API rate limit.
//
// A Go API plays the agents (replies, notes, the sign-off canned response,
// resolving and closing), injects faults and drops or holds webhooks.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ticket statuses, priorities and sources of API v2.
const (
	StatusOpen     = 2
	StatusPending  = 3
	StatusResolved = 4
	StatusClosed   = 5

	SourceChat = 7

	ConvReply = 0
	ConvNote  = 2
)

var statusNames = map[int]string{StatusOpen: "Open", StatusPending: "Pending", StatusResolved: "Resolved", StatusClosed: "Closed"}

var validSources = []int{1, 2, 3, 5, 6, 7, 9, 10}

// SignOffTitle is the canned response an agent ends a live chat with.
const SignOffTitle = "Livechat sign-off"

// SignOffText is its text: LIVECHAT_SESSION_END makes it a question with a
// "Quit livechat" button for the user.
const SignOffText = "Thanks for chatting with us! Anything else, just write again. LIVECHAT_SESSION_END"

// Ticket is a ticket as the API answers it.
type Ticket struct {
	ID              int64          `json:"id"`
	Subject         string         `json:"subject"`
	Description     string         `json:"description,omitempty"`
	DescriptionText string         `json:"description_text,omitempty"`
	Status          int            `json:"status"`
	Priority        int            `json:"priority"`
	Source          int            `json:"source"`
	RequesterID     int64          `json:"requester_id"`
	ResponderID     *int64         `json:"responder_id"`
	GroupID         *int64         `json:"group_id"`
	Tags            []string       `json:"tags"`
	CustomFields    map[string]any `json:"custom_fields"`
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
}

// Conversation is a reply or a note.
type Conversation struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	BodyText  string    `json:"body_text"`
	Incoming  bool      `json:"incoming"`
	Private   bool      `json:"private"`
	Source    int       `json:"source"`
	UserID    int64     `json:"user_id"`
	TicketID  int64     `json:"ticket_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Attachments are the conversation's files ([] when none).
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a conversation's file as Freshdesk renders it.
type Attachment struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	ContentType   string `json:"content_type"`
	Size          int64  `json:"size"`
	AttachmentURL string `json:"attachment_url"`
	// Data is the uploaded bytes (not rendered).
	Data []byte `json:"-"`
}

// Contact is a requester.
type Contact struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Agent is a helpdesk agent.
type Agent struct {
	ID     int64
	Name   string
	Avatar string // the avatar's URL, "" for none
}

// Options configure a Server.
type Options struct {
	// APIKey is the only key the helpdesk accepts (default "fake-api-key").
	APIKey string
	// RateLimit is the account's calls per minute (default 200, Growth),
	// EndpointLimits the per-endpoint caps within it (default Growth's:
	// ticket create 80, ticket update 80, tickets list 20).
	RateLimit      int
	EndpointLimits map[string]int
	// Now is the clock of the rate windows and of timestamps (default
	// time.Now).
	Now func() time.Time
	// Retries are the waits before each retry of a failed webhook call
	// (default Freshdesk's 5m, 30m, 60m).
	Retries []time.Duration
	// WebhookTimeout bounds one webhook call (default 10s).
	WebhookTimeout time.Duration
	// AgentsForbidden answers the Agents API 403, as for a key whose
	// agent may not view agents.
	AgentsForbidden bool
}

// Endpoints with caps of their own.
const (
	EndpointTicketCreate = "ticket_create"
	EndpointTicketUpdate = "ticket_update"
	EndpointTicketsList  = "tickets_list"
)

// Fault makes calls fail: those whose method is Method (any when empty)
// and whose path contains Path, Times times (forever when 0, until Heal).
// With After, the call is carried out and only its answer replaced: an
// answer lost on the way (a gateway timeout after the write).
type Fault struct {
	Method, Path string
	Status       int
	RetryAfter   time.Duration
	Times        int
	After        bool
}

// Server is a fake Freshdesk helpdesk.
type Server struct {
	URL string

	o   Options
	srv *httptest.Server

	mu          sync.Mutex
	changed     *sync.Cond
	nextID      int64 // tickets
	nextContact int64
	nextFile    int64
	nextConv    int64
	tickets     map[int64]*ticket
	contacts    []*Contact
	agents      []*Agent
	apiAgent    *Agent
	canned      map[string]string
	faults      []*Fault
	calls       []Call

	window   time.Time
	used     int
	endpoint map[string]int

	hooks hooks
}

type ticket struct {
	Ticket
	convs []Conversation
}

// Call is one API request the fake answered.
type Call struct {
	Method, Path string
	Status       int
}

// New starts a fake helpdesk on 127.0.0.1, stopped when the test ends.
func New(t testing.TB, o Options) *Server {
	if o.APIKey == "" {
		o.APIKey = "fake-api-key"
	}
	if o.RateLimit == 0 {
		o.RateLimit = 200
	}
	if o.EndpointLimits == nil {
		o.EndpointLimits = map[string]int{EndpointTicketCreate: 80, EndpointTicketUpdate: 80, EndpointTicketsList: 20}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retries == nil {
		o.Retries = []time.Duration{5 * time.Minute, 30 * time.Minute, 60 * time.Minute}
	}
	if o.WebhookTimeout == 0 {
		o.WebhookTimeout = 10 * time.Second
	}
	s := &Server{o: o, tickets: map[int64]*ticket{}, nextConv: 43000000000, endpoint: map[string]int{},
		canned: map[string]string{SignOffTitle: SignOffText}}
	s.changed = sync.NewCond(&s.mu)
	s.apiAgent = &Agent{ID: 43000000001, Name: "API agent"}
	s.agents = []*Agent{s.apiAgent}
	s.hooks.s = s
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/tickets", s.listTickets)
	mux.HandleFunc("POST /api/v2/tickets", s.createTicket)
	mux.HandleFunc("GET /api/v2/tickets/{id}", s.viewTicket)
	mux.HandleFunc("PUT /api/v2/tickets/{id}", s.updateTicket)
	mux.HandleFunc("POST /api/v2/tickets/{id}/notes", s.createNote)
	mux.HandleFunc("POST /api/v2/tickets/{id}/reply", s.createReply)
	mux.HandleFunc("GET /api/v2/tickets/{id}/conversations", s.listConversations)
	mux.HandleFunc("GET /api/v2/agents/{id}", s.viewAgent)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Freshdesk answers an unknown path or a method a path lacks so.
		writeJSON(w, http.StatusNotFound, nil)
	})
	s.srv = httptest.NewUnstartedServer(s.front(mux))
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.hooks.stop()
		s.srv.Close()
	})
	return s
}

// APIKey is the key the helpdesk accepts.
func (s *Server) APIKey() string { return s.o.APIKey }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// FieldError is one entry of a validation error's "errors".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

func validation(w http.ResponseWriter, errs ...FieldError) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"description": "Validation failed", "errors": errs})
}

// cost is what a request uses of the rate limit: one credit, two more per
// embedded resource (include=...).
func cost(r *http.Request) int {
	n := 1
	if inc := r.URL.Query().Get("include"); inc != "" {
		n += 2 * len(strings.Split(inc, ","))
	}
	return n
}

func endpointOf(r *http.Request) string {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tickets":
		return EndpointTicketCreate
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v2/tickets/"):
		return EndpointTicketUpdate
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/tickets":
		return EndpointTicketsList
	}
	return ""
}

// front authenticates, applies the rate limit and faults, sets the rate
// headers and records the call.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Status: rec.status})
			s.changed.Broadcast()
			s.mu.Unlock()
		}()
		key, pass, ok := r.BasicAuth()
		if !ok || key != s.o.APIKey || pass == "" {
			writeJSON(rec, http.StatusUnauthorized, map[string]string{"code": "invalid_credentials", "message": "You have to be logged in to perform this action."})
			return
		}
		s.mu.Lock()
		now := s.o.Now()
		if w0 := now.Truncate(time.Minute); !w0.Equal(s.window) {
			s.window, s.used, s.endpoint = w0, 0, map[string]int{}
		}
		c, ep := cost(r), endpointOf(r)
		retry := s.window.Add(time.Minute).Sub(now)
		over := s.used+c > s.o.RateLimit || (ep != "" && s.o.EndpointLimits[ep] > 0 && s.endpoint[ep]+1 > s.o.EndpointLimits[ep])
		if !over {
			s.used += c
			if ep != "" {
				s.endpoint[ep]++
			}
		}
		remaining := max(s.o.RateLimit-s.used, 0)
		var fault *Fault
		for _, f := range s.faults {
			if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
				fault = f
				if f.Times > 0 {
					if f.Times--; f.Times == 0 {
						s.faults = slices.DeleteFunc(s.faults, func(x *Fault) bool { return x == f })
					}
				}
				break
			}
		}
		s.mu.Unlock()
		h := rec.Header()
		h.Set("X-RateLimit-Total", strconv.Itoa(s.o.RateLimit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Used-CurrentRequest", strconv.Itoa(c))
		switch {
		case over:
			h.Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
			writeJSON(rec, http.StatusTooManyRequests, map[string]string{"message": "You have exceeded the limit of requests per minute"})
			return
		case fault != nil:
			if fault.After {
				next.ServeHTTP(httptest.NewRecorder(), r)
			}
			if fault.RetryAfter > 0 {
				h.Set("Retry-After", strconv.Itoa(int(fault.RetryAfter/time.Second)))
			}
			writeFault(rec, fault.Status)
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			// Files go as multipart/form-data, which Freshdesk takes where
			// attachments are: tickets, replies, notes.
			multipartOK := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/notes")
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !(multipartOK && strings.HasPrefix(ct, "multipart/form-data")) {
				writeJSON(rec, http.StatusUnsupportedMediaType, map[string]string{"code": "invalid_content_type",
					"message": "Content-Type header is set to " + ct + ". It should be set to application/json"})
				return
			}
		}
		next.ServeHTTP(rec, r)
	})
}

// writeFault answers an injected status with Freshdesk's body for it.
func writeFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusBadRequest:
		validation(w, FieldError{Field: "body", Message: "It should not be blank as this is a mandatory field", Code: "missing_field"})
	case http.StatusUnauthorized:
		writeJSON(w, status, map[string]string{"code": "invalid_credentials", "message": "You have to be logged in to perform this action."})
	case http.StatusForbidden:
		writeJSON(w, status, map[string]string{"code": "access_denied", "message": "You are not authorized to perform this action."})
	case http.StatusNotFound:
		writeJSON(w, status, nil)
	case http.StatusTooManyRequests:
		writeJSON(w, status, map[string]string{"message": "You have exceeded the limit of requests per minute"})
	default:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "<html><body><h1>"+http.StatusText(status)+"</h1></body></html>")
	}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// decode reads a JSON object body, refusing unknown fields as Freshdesk
// does; false when it has answered.
func decode(w http.ResponseWriter, r *http.Request, v any, fields ...string) bool {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_json", "message": "Request body has invalid json format"})
		return false
	}
	var errs []FieldError
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(fields, k) {
			errs = append(errs, FieldError{Field: k, Message: "Unexpected/invalid field in request", Code: "invalid_field"})
		}
	}
	if len(errs) > 0 {
		validation(w, errs...)
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		field := ""
		if errors.As(err, &te) {
			field = te.Field
		}
		validation(w, FieldError{Field: field, Message: "Value set is of type " + fmt.Sprint(err), Code: "datatype_mismatch"})
		return false
	}
	return true
}

var tagsRE = regexp.MustCompile(`<[^>]*>`)

// textOf is an HTML body as Freshdesk's body_text gives it.
func textOf(body string) string {
	body = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "\n", "</li>", "\n", "</div>", "\n").Replace(body)
	body = html.UnescapeString(tagsRE.ReplaceAllString(body, ""))
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), "\n"))
}

// id reads the ticket of the path; nil after answering 404. The lock is
// held.
func (s *Server) ticketOf(w http.ResponseWriter, r *http.Request) *ticket {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if t := s.tickets[id]; err == nil && t != nil {
		return t
	}
	writeJSON(w, http.StatusNotFound, nil)
	return nil
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, page := 30, 1
	var errs []FieldError
	if v := q.Get("per_page"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			errs = append(errs, FieldError{Field: "per_page", Message: "It should be a Positive Integer less than or equal to 100", Code: "invalid_value"})
		} else {
			perPage = n
		}
	}
	if v := q.Get("page"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			errs = append(errs, FieldError{Field: "page", Message: "It should be a Positive Integer", Code: "invalid_value"})
		} else {
			page = n
		}
	}
	include := q.Get("include")
	if include != "" && include != "description" && include != "requester" && include != "stats" {
		errs = append(errs, FieldError{Field: "include", Message: "It should be one of these values: 'requester,stats,description'", Code: "invalid_value"})
	}
	if len(errs) > 0 {
		validation(w, errs...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var requester int64 = -1
	if e := q.Get("email"); e != "" {
		requester = 0
		for _, c := range s.contacts {
			if strings.EqualFold(c.Email, e) {
				requester = c.ID
			}
		}
	}
	if v := q.Get("requester_id"); v != "" {
		requester, _ = strconv.ParseInt(v, 10, 64)
	}
	since := s.o.Now().Add(-30 * 24 * time.Hour)
	var out []Ticket
	for _, t := range s.tickets {
		if (requester >= 0 && t.RequesterID != requester) || t.CreatedAt.Before(since) {
			continue
		}
		v := t.Ticket
		if include != "description" {
			v.Description, v.DescriptionText = "", ""
		}
		out = append(out, v)
	}
	desc := q.Get("order_type") != "asc"
	sort.Slice(out, func(i, j int) bool {
		if desc {
			return out[i].ID > out[j].ID
		}
		return out[i].ID < out[j].ID
	})
	lo := min((page-1)*perPage, len(out))
	hi := min(lo+perPage, len(out))
	if out == nil {
		out = []Ticket{}
	}
	writeJSON(w, http.StatusOK, out[lo:hi])
}

type ticketIn struct {
	Subject      *string        `json:"subject"`
	Description  *string        `json:"description"`
	Email        *string        `json:"email"`
	RequesterID  *int64         `json:"requester_id"`
	Phone        *string        `json:"phone"`
	Name         *string        `json:"name"`
	Status       *int           `json:"status"`
	Priority     *int           `json:"priority"`
	Source       *int           `json:"source"`
	Tags         []string       `json:"tags"`
	GroupID      *int64         `json:"group_id"`
	ResponderID  *int64         `json:"responder_id"`
	Type         *string        `json:"type"`
	CustomFields map[string]any `json:"custom_fields"`
}

var ticketFields = []string{"subject", "description", "email", "requester_id", "phone", "name", "status", "priority", "source", "tags", "group_id", "responder_id", "type", "custom_fields", "unique_external_id", "cc_emails"}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	var in ticketIn
	if !decode(w, r, &in, ticketFields...) {
		return
	}
	var errs []FieldError
	if in.Email == nil && in.RequesterID == nil && in.Phone == nil {
		errs = append(errs, FieldError{Field: "requester_id", Message: "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields", Code: "missing_field"})
	}
	if in.Email != nil {
		if a, err := mail.ParseAddress(*in.Email); err != nil || a.Address != *in.Email {
			errs = append(errs, FieldError{Field: "email", Message: "It should be in the 'valid email address' format", Code: "invalid_value"})
		}
	}
	if in.Subject == nil || strings.TrimSpace(*in.Subject) == "" {
		errs = append(errs, FieldError{Field: "subject", Message: "It should not be blank as this is a mandatory field", Code: "missing_field"})
	}
	if in.Description == nil || strings.TrimSpace(*in.Description) == "" {
		errs = append(errs, FieldError{Field: "description", Message: "It should not be blank as this is a mandatory field", Code: "missing_field"})
	}
	status, priority, source := StatusOpen, 1, 2
	if in.Status != nil {
		status = *in.Status
		if statusNames[status] == "" {
			errs = append(errs, FieldError{Field: "status", Message: "It should be one of these values: '2,3,4,5'", Code: "invalid_value"})
		}
	}
	if in.Priority != nil {
		priority = *in.Priority
		if priority < 1 || priority > 4 {
			errs = append(errs, FieldError{Field: "priority", Message: "It should be one of these values: '1,2,3,4'", Code: "invalid_value"})
		}
	}
	if in.Source != nil {
		source = *in.Source
		if !slices.Contains(validSources, source) {
			errs = append(errs, FieldError{Field: "source", Message: "It should be one of these values: '1,2,3,5,6,7,9,10'", Code: "invalid_value"})
		}
	}
	for _, t := range in.Tags {
		if len(t) > 32 || strings.Contains(t, ",") {
			errs = append(errs, FieldError{Field: "tags", Message: "It should only contain elements that have maximum of 32 characters", Code: "invalid_value"})
		}
	}
	if len(errs) > 0 {
		validation(w, errs...)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var requester *Contact
	if in.RequesterID != nil {
		for _, c := range s.contacts {
			if c.ID == *in.RequesterID {
				requester = c
			}
		}
		if requester == nil {
			validation(w, FieldError{Field: "requester_id", Message: "There is no contact matching the given requester_id", Code: "invalid_value"})
			return
		}
	} else if in.Email != nil {
		for _, c := range s.contacts {
			if strings.EqualFold(c.Email, *in.Email) {
				requester = c
			}
		}
		if requester == nil {
			s.nextContact++
			name := ""
			if in.Name != nil {
				name = *in.Name
			}
			if name == "" {
				name, _, _ = strings.Cut(*in.Email, "@")
			}
			requester = &Contact{ID: 43000000100 + s.nextContact, Name: name, Email: *in.Email}
			s.contacts = append(s.contacts, requester)
		}
	} else {
		validation(w, FieldError{Field: "phone", Message: "Phone requesters are not supported by this fake", Code: "invalid_value"})
		return
	}
	s.nextID++
	now := s.o.Now().UTC().Truncate(time.Second)
	t := &ticket{Ticket: Ticket{ID: s.nextID, Subject: *in.Subject, Description: *in.Description, DescriptionText: textOf(*in.Description),
		Status: status, Priority: priority, Source: source, RequesterID: requester.ID, GroupID: in.GroupID, ResponderID: in.ResponderID,
		Tags: append([]string{}, in.Tags...), CustomFields: map[string]any{}, CreatedAt: now, UpdatedAt: now}}
	s.tickets[t.ID] = t
	s.changed.Broadcast()
	writeJSON(w, http.StatusCreated, t.Ticket)
}

func (s *Server) viewTicket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.ticketOf(w, r); t != nil {
		writeJSON(w, http.StatusOK, t.Ticket)
	}
}

func (s *Server) updateTicket(w http.ResponseWriter, r *http.Request) {
	var in ticketIn
	if !decode(w, r, &in, ticketFields...) {
		return
	}
	if in.Status != nil && statusNames[*in.Status] == "" {
		validation(w, FieldError{Field: "status", Message: "It should be one of these values: '2,3,4,5'", Code: "invalid_value"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOf(w, r)
	if t == nil {
		return
	}
	if in.Priority != nil {
		t.Priority = *in.Priority
	}
	if in.Tags != nil {
		t.Tags = append([]string{}, in.Tags...)
	}
	if in.Status != nil {
		s.setStatus(t, s.apiAgent, *in.Status)
	}
	t.UpdatedAt = s.o.Now().UTC().Truncate(time.Second)
	writeJSON(w, http.StatusOK, t.Ticket)
}

// setStatus changes t's status and runs the rules; the lock is held.
func (s *Server) setStatus(t *ticket, by *Agent, status int) {
	if t.Status == status {
		return
	}
	t.Status = status
	s.changed.Broadcast()
	s.hooks.fire(t, "Status is changed to "+statusNames[status], by != nil)
}

type noteIn struct {
	Body         *string  `json:"body"`
	Private      *bool    `json:"private"`
	Incoming     *bool    `json:"incoming"`
	UserID       *int64   `json:"user_id"`
	NotifyEmails []string `json:"notify_emails"`
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	var in noteIn
	var files []Attachment
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		var ok bool
		if in, files, ok = s.multipartNote(w, r); !ok {
			return
		}
	} else if !decode(w, r, &in, "body", "private", "incoming", "user_id", "notify_emails") {
		return
	}
	if in.Body == nil || strings.TrimSpace(*in.Body) == "" {
		validation(w, FieldError{Field: "body", Message: "It should not be blank as this is a mandatory field", Code: "missing_field"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOf(w, r)
	if t == nil {
		return
	}
	user := s.apiAgent.ID
	if in.UserID != nil {
		if !s.userExists(*in.UserID) {
			validation(w, FieldError{Field: "user_id", Message: "There is no contact or agent matching the given user_id", Code: "invalid_value"})
			return
		}
		user = *in.UserID
	}
	private := in.Private == nil || *in.Private // notes are private by default
	incoming := in.Incoming != nil && *in.Incoming
	c := s.addWith(t, ConvNote, *in.Body, user, private, incoming, files)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) createReply(w http.ResponseWriter, r *http.Request) {
	var in noteIn
	if !decode(w, r, &in, "body", "user_id") {
		return
	}
	if in.Body == nil || strings.TrimSpace(*in.Body) == "" {
		validation(w, FieldError{Field: "body", Message: "It should not be blank as this is a mandatory field", Code: "missing_field"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.ticketOf(w, r); t != nil {
		writeJSON(w, http.StatusCreated, s.add(t, ConvReply, *in.Body, s.apiAgent.ID, false, false))
	}
}

func (s *Server) userExists(id int64) bool {
	for _, c := range s.contacts {
		if c.ID == id {
			return true
		}
	}
	for _, a := range s.agents {
		if a.ID == id {
			return true
		}
	}
	return false
}

// add adds a conversation and runs the rules; the lock is held.
func (s *Server) add(t *ticket, source int, body string, user int64, private, incoming bool) Conversation {
	return s.addWith(t, source, body, user, private, incoming, nil)
}

// addWith is add with files; the lock is held.
func (s *Server) addWith(t *ticket, source int, body string, user int64, private, incoming bool, files []Attachment) Conversation {
	s.nextConv++
	now := s.o.Now().UTC().Truncate(time.Second)
	if files == nil {
		files = []Attachment{}
	}
	c := Conversation{ID: s.nextConv, Body: body, BodyText: textOf(body), Incoming: incoming, Private: private, Source: source,
		UserID: user, TicketID: t.ID, CreatedAt: now, UpdatedAt: now, Attachments: files}
	t.convs = append(t.convs, c)
	t.UpdatedAt = now
	s.changed.Broadcast()
	byAgent := !incoming
	for _, c := range s.contacts {
		if c.ID == user {
			byAgent = false
		}
	}
	if source == ConvReply {
		s.hooks.fire(t, "Reply is sent", byAgent)
	} else {
		s.hooks.fire(t, "Note is added", byAgent)
	}
	return c
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, page := 30, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			validation(w, FieldError{Field: "per_page", Message: "It should be a Positive Integer less than or equal to 100", Code: "invalid_value"})
			return
		}
		perPage = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			validation(w, FieldError{Field: "page", Message: "It should be a Positive Integer", Code: "invalid_value"})
			return
		}
		page = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOf(w, r)
	if t == nil {
		return
	}
	lo := min((page-1)*perPage, len(t.convs))
	hi := min(lo+perPage, len(t.convs))
	if hi < len(t.convs) {
		next := *r.URL
		nq := next.Query()
		nq.Set("page", strconv.Itoa(page+1))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s%s>; rel=\"next\"", s.URL, next.RequestURI()))
	}
	writeJSON(w, http.StatusOK, append([]Conversation{}, t.convs[lo:hi]...))
}

func (s *Server) viewAgent(w http.ResponseWriter, r *http.Request) {
	if s.o.AgentsForbidden {
		writeFault(w, http.StatusForbidden)
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.agents {
		if a.ID == id {
			email := strings.ToLower(strings.ReplaceAll(a.Name, " ", ".")) + "@helpdesk.example"
			writeJSON(w, http.StatusOK, map[string]any{"id": a.ID, "available": true, "occasional": false, "ticket_scope": 1,
				"type": "support_agent", "contact": map[string]any{"name": a.Name, "email": email, "active": true, "avatar": avatarJSON(a.Avatar)}})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, nil)
}

// ---- The Go API: what tests read and what agents do.

// Tickets are every ticket, oldest first.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ticket
	for _, t := range s.tickets {
		out = append(out, t.Ticket)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Ticket is ticket id.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	return t.Ticket, true
}

// Conversations are ticket id's replies and notes, oldest first.
func (s *Server) Conversations(id int64) []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tickets[id]; ok {
		return append([]Conversation{}, t.convs...)
	}
	return nil
}

// Contacts are the helpdesk's contacts.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, c := range s.contacts {
		out = append(out, *c)
	}
	return out
}

// Contact is contact id.
func (s *Server) Contact(id int64) (Contact, bool) {
	for _, c := range s.Contacts() {
		if c.ID == id {
			return c, true
		}
	}
	return Contact{}, false
}

// Calls are the API calls answered so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call{}, s.calls...)
}

// WaitUntil waits for cond, checked after every change, or ctx's end.
func (s *Server) WaitUntil(ctx context.Context, cond func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for !cond() {
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			return ctx.Err()
		}
		s.changed.Wait()
		s.mu.Unlock()
	}
	return nil
}

// Wait is WaitUntil with a 30-second deadline, failing t.
func (s *Server) Wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitUntil(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (s *Server) agent(name string) *Agent {
	for _, a := range s.agents {
		if a.Name == name {
			return a
		}
	}
	a := &Agent{ID: 43000000001 + int64(len(s.agents)), Name: name}
	s.agents = append(s.agents, a)
	return a
}

func (s *Server) do(id int64, f func(t *ticket)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return fmt.Errorf("fake freshdesk: no ticket %d", id)
	}
	f(t)
	return nil
}

// AgentReply makes agent reply to the ticket from Freshdesk's editor (an
// HTML body), as the requester sees it.
func (s *Server) AgentReply(id int64, agent, text string) (Conversation, error) {
	var c Conversation
	err := s.do(id, func(t *ticket) {
		c = s.add(t, ConvReply, "<div>"+strings.ReplaceAll(html.EscapeString(text), "\n", "<br>")+"</div>", s.agent(agent).ID, false, false)
	})
	return c, err
}

// AgentNote makes agent add a note: private ones only agents see.
func (s *Server) AgentNote(id int64, agent, text string, private bool) (Conversation, error) {
	var c Conversation
	err := s.do(id, func(t *ticket) {
		c = s.add(t, ConvNote, "<div>"+html.EscapeString(text)+"</div>", s.agent(agent).ID, private, false)
	})
	return c, err
}

// UseCannedResponse makes agent reply with the canned response title.
func (s *Server) UseCannedResponse(id int64, agent, title string) (Conversation, error) {
	s.mu.Lock()
	text, ok := s.canned[title]
	s.mu.Unlock()
	if !ok {
		return Conversation{}, fmt.Errorf("fake freshdesk: no canned response %q", title)
	}
	return s.AgentReply(id, agent, text)
}

// SetStatus makes agent change the ticket's status (Resolve: 4, Close: 5).
func (s *Server) SetStatus(id int64, agent string, status int) error {
	return s.do(id, func(t *ticket) { s.setStatus(t, s.agent(agent), status) })
}

// Fail injects a fault.
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
