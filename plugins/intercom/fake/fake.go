// Package fake is a fake Intercom for tests: the REST API calls the
// Intercom plugin makes (Intercom-Version 2.14 shapes), with Intercom's
// status codes and error bodies ({"type": "error.list", "errors": [{"code",
// "message"}]}), its rate limit in 10-second windows with the
// X-RateLimit-Limit/-Remaining/-Reset headers (and no Retry-After, as
// Intercom sends none), and an app's webhook subscription: notifications
// for every topic subscribed to — the plugin's own user replies included
// when conversation.user.replied is — signed with X-Hub-Signature
// (sha1=<hex HMAC-SHA1 of the body under the client secret>), sent once,
// one at a time, a notification answered 429 tried again after a throttle
// delay. A test plays the agents through its Go API (AgentReply,
// AgentNote, UseMacro, Close) and can fail calls, drop, hold and replay
// notifications.
package fake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

// Options configure a fake Intercom; the zero value is usable.
type Options struct {
	// AccessToken is the app's token (default DefaultToken).
	AccessToken string
	// ClientSecret signs notifications (default DefaultClientSecret).
	ClientSecret string
	// AppID is the workspace id in notifications (default DefaultAppID).
	AppID string
	// RateLimit is the calls allowed per Window for the token (default
	// 1666: a private app's 10,000 a minute in 10-second windows).
	RateLimit int
	// Window is the rate limit's window (default 10s).
	Window time.Duration
	// Topics the webhook subscription has (default: the plugin's two,
	// conversation.admin.replied and conversation.admin.closed). A main
	// topic ("conversation") subscribes to all its sub-topics.
	Topics []string
	// ThrottleDelay is how long a notification answered 429 waits before
	// it is sent again (default 1 minute, Intercom's first throttle
	// delay).
	ThrottleDelay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultToken        = "dG9rOmZha2UtaW50ZXJjb20tdG9rZW4="
	DefaultClientSecret = "fake-intercom-client-secret"
	DefaultAppID        = "fk3app1d"
	// DefaultAdminID is the admin the plugin closes with; AdminID names
	// more.
	DefaultAdminID = "814860"
)

// The sign-off macro: its text ends with the token livechatd turns into
// the "Quit livechat" button.
const (
	SignOffMacro = "Signing off"
	SignOffText  = "Thanks for chatting with us - we are here if you need anything else.\n\nLIVECHAT_SESSION_END"
)

// Contact is a contact.
type Contact struct {
	ID         string `json:"id"`
	ExternalID string `json:"external_id"`
	Role       string `json:"role"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	CreatedAt  int64  `json:"created_at"`
}

// Author wrote a part.
type Author struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Part is a conversation part.
type Part struct {
	ID        string `json:"id"`
	PartType  string `json:"part_type"`
	Body      string `json:"body"` // HTML
	CreatedAt int64  `json:"created_at"`
	Author    Author `json:"author"`
	// Attachments are the part's files; AssignedTo the admin or team an
	// assignment part assigned.
	Attachments []Attachment `json:"attachments"`
	AssignedTo  *Ref         `json:"assigned_to"`
}

// Attachment is a part's file (part_attachment).
type Attachment struct {
	Type        string `json:"type"` // upload
	Name        string `json:"name"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Filesize    int64  `json:"filesize"`
	Data        []byte `json:"-"`
}

// Ref is a reference: {type, id}.
type Ref struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Conversation is a conversation started by a contact.
type Conversation struct {
	ID        string
	ContactID string
	State     string // open, closed
	CreatedAt int64
	UpdatedAt int64
	SourceID  string
	Body      string // the first message, HTML
	Parts     []Part
	// Routing and assignment (issue 17).
	AdminAssigneeID string
	TeamAssigneeID  string
	Tags            []string
	// Read is the conversation's read flag, which PUT /conversations/{id}
	// {"read": true} sets (issue 17's read receipts).
	Read bool
}

// Request is one API call the fake answered.
type Request struct {
	Method, Path string
	Status       int
}

// Fault fails API calls.
type Fault struct {
	// Method and Path (a substring) select the calls; empty: all.
	Method, Path string
	// Status answered, with Intercom's error body for it.
	Status int
	// Header is added to the answer (e.g. Retry-After on a 503).
	Header http.Header
	// Times is how many calls fail; 0: until Heal.
	Times int
	// Lost: the call takes effect, then its answer is this fault's (an
	// answer lost on the way back, a timeout after the write).
	Lost bool
}

// Server is a fake Intercom.
type Server struct {
	*httptest.Server
	t    testing.TB
	opts Options
	sig  sdktest.Signal

	mu            sync.Mutex
	seq           int64
	admins        map[string]string // id → name
	contacts      []*Contact
	conversations []*Conversation
	requests      []Request
	faults        []*Fault
	windowStart   time.Time
	windowCalls   int
	macros        map[string]string
	tags          map[string]string // tag name → id
	avatars       map[string]string // admin id → avatar URL

	// webhooks (webhooks.go)
	hookURL    string
	secret     string
	queue      []*Delivery
	deliveries []*Delivery
	inFlight   int
	drop       bool
	hold       bool
	held       []*Delivery
	closed     bool
	wake       chan struct{}
}

// New starts a fake Intercom on 127.0.0.1, closed at the test's end.
func New(t testing.TB, o Options) *Server {
	if o.AccessToken == "" {
		o.AccessToken = DefaultToken
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.AppID == "" {
		o.AppID = DefaultAppID
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 1666
	}
	if o.Window <= 0 {
		o.Window = 10 * time.Second
	}
	if o.Topics == nil {
		o.Topics = []string{"conversation.admin.replied", "conversation.admin.closed"}
	}
	if o.ThrottleDelay <= 0 {
		o.ThrottleDelay = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{t: t, opts: o, seq: 4000, admins: map[string]string{DefaultAdminID: "Ann"},
		macros: map[string]string{SignOffMacro: SignOffText}, secret: o.ClientSecret, wake: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts/find_by_external_id/{external_id}", s.findContact)
	mux.HandleFunc("POST /contacts", s.createContact)
	mux.HandleFunc("POST /conversations", s.createConversation)
	mux.HandleFunc("POST /conversations/search", s.searchConversations)
	mux.HandleFunc("GET /conversations/{id}", s.getConversation)
	mux.HandleFunc("PUT /conversations/{id}", s.updateConversation)
	mux.HandleFunc("POST /conversations/{id}/reply", s.reply)
	mux.HandleFunc("POST /conversations/{id}/parts", s.manage)
	mux.HandleFunc("POST /conversations/{id}/tags", s.tagConversation)
	mux.HandleFunc("POST /tags", s.createTag)
	mux.HandleFunc("GET /admins/{id}", s.getAdmin)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "not_found", "Resource Not Found")
	})
	s.Server = httptest.NewUnstartedServer(s.middleware(mux))
	s.Server.Start()
	go s.worker()
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.poke()
		s.Server.Close()
	})
	return s
}

// Token is the app's access token.
func (s *Server) Token() string { return s.opts.AccessToken }

// ClientSecret is the app's client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// AppID is the workspace id.
func (s *Server) AppID() string { return s.opts.AppID }

func (s *Server) now() time.Time { return s.opts.Now() }

// nextID is the next number of the fake's single sequence; the lock is
// held. Part ids grow with time, as Intercom's do.
func (s *Server) nextID() int64 {
	s.seq++
	return s.seq
}

// errorBody is Intercom's error list.
func (s *Server) errorBody(code, msg string) map[string]any {
	s.seq++
	return map[string]any{"type": "error.list", "request_id": fmt.Sprintf("3f1c%04x-8d2e-4b6a-9c1f-%012x", s.seq%0xffff, s.seq),
		"errors": []map[string]any{{"code": code, "message": msg}}}
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error; the lock is not held.
func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	s.mu.Lock()
	body := s.errorBody(code, msg)
	s.mu.Unlock()
	answer(w, status, body)
}

// codeOf is Intercom's error code for a status.
func codeOf(status int) (string, string) {
	switch status {
	case http.StatusBadRequest:
		return "parameter_invalid", "Invalid parameters"
	case http.StatusUnauthorized:
		return "unauthorized", "Access Token Invalid"
	case http.StatusForbidden:
		return "api_plan_restricted", "Active subscription needed."
	case http.StatusNotFound:
		return "not_found", "Resource Not Found"
	case http.StatusConflict:
		return "conflict", "Conflict"
	case http.StatusUnprocessableEntity:
		return "parameter_invalid", "Unprocessable entity"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded", "Exceeded rate limit"
	case http.StatusServiceUnavailable:
		return "service_unavailable", "Sorry, the API service is temporarily unavailable"
	}
	return "server_error", http.StatusText(status)
}

// statusWriter records the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// discard is an answer nobody reads.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// middleware logs the call, answers faults, checks the token and the
// rate limit, and sets the X-RateLimit headers on authenticated answers.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Status: sw.status})
			s.mu.Unlock()
			s.sig.Notify()
		}()
		if r.Header.Get("Authorization") != "Bearer "+s.opts.AccessToken {
			s.fail(sw, http.StatusUnauthorized, "unauthorized", "Access Token Invalid")
			return
		}
		s.mu.Lock()
		now := s.now()
		start := now.Truncate(s.opts.Window)
		if !start.Equal(s.windowStart) {
			s.windowStart, s.windowCalls = start, 0
		}
		reset := start.Add(s.opts.Window)
		f := s.fault(r)
		limited := false
		if f == nil {
			if s.windowCalls >= s.opts.RateLimit {
				limited = true
			} else {
				s.windowCalls++
			}
		}
		remaining := s.opts.RateLimit - s.windowCalls
		s.mu.Unlock()
		h := sw.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateLimit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		switch {
		case f != nil:
			if f.Lost {
				next.ServeHTTP(&discard{header: http.Header{}}, r)
			}
			for k, vs := range f.Header {
				h[k] = vs
			}
			code, msg := codeOf(f.Status)
			if f.Status == http.StatusTooManyRequests {
				h.Set("X-RateLimit-Remaining", "0")
				msg = s.limitMessage()
			}
			s.fail(sw, f.Status, code, msg)
		case limited:
			s.fail(sw, http.StatusTooManyRequests, "rate_limit_exceeded", s.limitMessage())
		default:
			next.ServeHTTP(sw, r)
		}
	})
}

// limitMessage is the message of Intercom's 429.
func (s *Server) limitMessage() string {
	return fmt.Sprintf("Exceeded rate limit of %d in %d_seconds", s.opts.RateLimit, int(s.opts.Window/time.Second))
}

// fault returns the fault that fails r, counting it; the lock is held.
func (s *Server) fault(r *http.Request) *Fault {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.Contains(r.URL.Path, f.Path) {
			out := *f
			if f.Times > 0 {
				f.Times--
				if f.Times == 0 {
					s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				}
			}
			return &out
		}
	}
	return nil
}

// contactJSON is a contact as the API shows it.
func contactJSON(c *Contact) map[string]any {
	return map[string]any{"type": "contact", "id": c.ID, "workspace_id": "", "external_id": nullable(c.ExternalID),
		"role": c.Role, "email": c.Email, "phone": nil, "name": nullable(c.Name), "created_at": c.CreatedAt,
		"updated_at": c.CreatedAt, "custom_attributes": map[string]any{}}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) findContact(w http.ResponseWriter, r *http.Request) {
	ext := r.PathValue("external_id")
	s.mu.Lock()
	for _, c := range s.contacts {
		if c.ExternalID == ext && c.Role == "user" {
			body := contactJSON(c)
			s.mu.Unlock()
			answer(w, http.StatusOK, body)
			return
		}
	}
	s.mu.Unlock()
	s.fail(w, http.StatusNotFound, "not_found", "User Not Found")
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role       string `json:"role"`
		ExternalID string `json:"external_id"`
		Email      string `json:"email"`
		Name       string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	if in.Role == "" {
		in.Role = "user"
	}
	if in.Role != "user" && in.Role != "lead" {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Role must be user or lead")
		return
	}
	if in.ExternalID == "" && in.Email == "" && in.Role == "user" {
		s.fail(w, http.StatusBadRequest, "parameter_not_found", "An external_id or email is required for a user")
		return
	}
	s.mu.Lock()
	for _, c := range s.contacts {
		if c.Role == "user" && ((in.ExternalID != "" && c.ExternalID == in.ExternalID) || (in.Email != "" && strings.EqualFold(c.Email, in.Email))) {
			body := s.errorBody("conflict", "A contact matching those details already exists with id="+c.ID)
			s.mu.Unlock()
			answer(w, http.StatusConflict, body)
			return
		}
	}
	c := &Contact{ID: fmt.Sprintf("6762f%019x", s.nextID()), ExternalID: in.ExternalID, Role: in.Role, Email: in.Email, Name: in.Name, CreatedAt: s.now().Unix()}
	s.contacts = append(s.contacts, c)
	body := contactJSON(c)
	s.mu.Unlock()
	answer(w, http.StatusOK, body)
}

// toHTML is how Intercom stores a plain-text message: a paragraph a line.
func toHTML(text string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		b.WriteString("<p>" + html.EscapeString(l) + "</p>")
	}
	return b.String()
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		From struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"from"`
		Body string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	switch {
	case in.From.Type != "user" && in.From.Type != "lead" && in.From.Type != "contact":
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "from.type must be one of user, lead, contact")
		return
	case strings.TrimSpace(in.Body) == "":
		s.fail(w, http.StatusBadRequest, "parameter_not_found", "body must be present")
		return
	}
	s.mu.Lock()
	ct := s.contact(in.From.ID)
	if ct == nil {
		body := s.errorBody("not_found", "User Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	}
	now := s.now().Unix()
	cv := &Conversation{ID: strconv.FormatInt(s.nextID(), 10), ContactID: ct.ID, State: "open", CreatedAt: now, UpdatedAt: now,
		SourceID: strconv.FormatInt(s.nextID(), 10), Body: toHTML(in.Body)}
	s.conversations = append(s.conversations, cv)
	s.emit("conversation.user.created", cv, nil)
	out := map[string]any{"type": "user_message", "id": cv.SourceID, "created_at": now, "body": in.Body, "message_type": "inapp", "conversation_id": cv.ID}
	s.mu.Unlock()
	answer(w, http.StatusOK, out)
}

func (s *Server) contact(id string) *Contact {
	for _, c := range s.contacts {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (s *Server) conversation(id string) *Conversation {
	for _, c := range s.conversations {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// partsLimit is the most parts Intercom returns with a conversation.
const partsLimit = 500

// conversationJSON is the conversation as the API shows it, with parts
// (nil: none listed); the lock is held.
func (s *Server) conversationJSON(cv *Conversation, parts []Part) map[string]any {
	ct := s.contact(cv.ContactID)
	author := map[string]any{"type": "user", "id": ct.ID, "name": nullable(ct.Name), "email": ct.Email}
	out := map[string]any{
		"type": "conversation", "id": cv.ID, "created_at": cv.CreatedAt, "updated_at": cv.UpdatedAt,
		"waiting_since": nil, "snoozed_until": nil,
		"source": map[string]any{"type": "conversation", "id": cv.SourceID, "delivered_as": "customer_initiated", "subject": "",
			"body": cv.Body, "author": author, "attachments": []any{}, "url": nil, "redacted": false},
		"contacts":            map[string]any{"type": "contact.list", "contacts": []any{map[string]any{"type": "contact", "id": ct.ID, "external_id": nullable(ct.ExternalID)}}},
		"first_contact_reply": nil, "admin_assignee_id": idOrNil(cv.AdminAssigneeID), "team_assignee_id": idOrNil(cv.TeamAssigneeID),
		"tags": s.tagsJSON(cv),
		"open": cv.State == "open", "state": cv.State, "read": cv.Read, "priority": "not_priority",
		"custom_attributes": map[string]any{}, "ai_agent_participated": false,
	}
	if parts != nil {
		list := []any{}
		for i, p := range parts {
			if i == partsLimit {
				break
			}
			list = append(list, map[string]any{"type": "conversation_part", "id": p.ID, "part_type": p.PartType, "body": nullable(p.Body),
				"created_at": p.CreatedAt, "updated_at": p.CreatedAt, "notified_at": p.CreatedAt, "assigned_to": p.AssignedTo,
				"author": p.Author, "attachments": attachmentsJSON(p.Attachments), "external_id": nil, "redacted": false})
		}
		out["conversation_parts"] = map[string]any{"type": "conversation_part.list", "conversation_parts": list, "total_count": len(parts)}
	}
	return out
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cv := s.conversation(r.PathValue("id"))
	if cv == nil {
		body := s.errorBody("not_found", "Resource Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	}
	body := s.conversationJSON(cv, append([]Part{}, cv.Parts...))
	s.mu.Unlock()
	answer(w, http.StatusOK, body)
}

// updateConversation is PUT /conversations/{id} (updateConversation),
// of which the fake knows read: a boolean that sets the conversation's
// read flag. It answers the whole conversation, with its parts, as
// retrieving it does; 404 not_found for an unknown conversation, 400
// parameter_invalid for a body that is not an object or a read that is
// not a boolean. Intercom documents no other effect of read (no part, no
// notification), and none for when the flag turns false again: the fake
// keeps what was set.
func (s *Server) updateConversation(w http.ResponseWriter, r *http.Request) {
	var in map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	var read *bool
	if raw, ok := in["read"]; ok {
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			s.fail(w, http.StatusBadRequest, "parameter_invalid", "read must be a boolean")
			return
		}
		read = &v
	}
	s.mu.Lock()
	cv := s.conversation(r.PathValue("id"))
	if cv == nil {
		body := s.errorBody("not_found", "Resource Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	}
	if read != nil {
		cv.Read = *read
	}
	body := s.conversationJSON(cv, append([]Part{}, cv.Parts...))
	s.mu.Unlock()
	answer(w, http.StatusOK, body)
}

// searchConversations knows the filters the plugin uses: contact_ids
// (=) and source.body (~, contains), alone or under AND.
func (s *Server) searchConversations(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Query json.RawMessage `json:"query"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.Query) == 0 {
		s.fail(w, http.StatusBadRequest, "parameter_not_found", "query is required")
		return
	}
	match, err := filter(in.Query)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "query_invalid", err.Error())
		return
	}
	s.mu.Lock()
	list := []any{}
	for _, cv := range s.conversations {
		if match(cv) {
			list = append(list, s.conversationJSON(cv, nil))
		}
	}
	s.mu.Unlock()
	answer(w, http.StatusOK, map[string]any{"type": "conversation.list", "pages": map[string]any{"type": "pages", "page": 1, "per_page": 150, "total_pages": 1},
		"total_count": len(list), "conversations": list})
}

func filter(raw json.RawMessage) (func(*Conversation) bool, error) {
	var q struct {
		Field    string          `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &q); err != nil {
		return nil, fmt.Errorf("query: %v", err)
	}
	if q.Operator == "AND" || q.Operator == "OR" {
		var subs []json.RawMessage
		if err := json.Unmarshal(q.Value, &subs); err != nil {
			return nil, fmt.Errorf("value of %s must be a list of filters", q.Operator)
		}
		var fs []func(*Conversation) bool
		for _, sub := range subs {
			f, err := filter(sub)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		return func(cv *Conversation) bool {
			for _, f := range fs {
				if f(cv) != (q.Operator == "AND") {
					return q.Operator != "AND"
				}
			}
			return q.Operator == "AND"
		}, nil
	}
	var v string
	if err := json.Unmarshal(q.Value, &v); err != nil {
		return nil, fmt.Errorf("value of %s must be a string", q.Field)
	}
	switch {
	case q.Field == "contact_ids" && q.Operator == "=":
		return func(cv *Conversation) bool { return cv.ContactID == v }, nil
	case q.Field == "source.body" && q.Operator == "~":
		return func(cv *Conversation) bool { return strings.Contains(cv.Body, v) }, nil
	}
	return nil, fmt.Errorf("the fake does not search %s %s", q.Field, q.Operator)
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MessageType    string `json:"message_type"`
		Type           string `json:"type"`
		IntercomUserID string `json:"intercom_user_id"`
		AdminID        string `json:"admin_id"`
		Body           string `json:"body"`
		Files          []struct {
			ContentType string `json:"content_type"`
			Data        string `json:"data"`
			Name        string `json:"name"`
		} `json:"attachment_files"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	if strings.TrimSpace(in.Body) == "" {
		s.fail(w, http.StatusBadRequest, "parameter_not_found", "Body is required")
		return
	}
	s.mu.Lock()
	cv := s.conversation(r.PathValue("id"))
	if cv == nil {
		body := s.errorBody("not_found", "Resource Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	}
	var p Part
	switch {
	case in.Type == "user" && in.MessageType == "comment":
		ct := s.contact(in.IntercomUserID)
		if ct == nil {
			body := s.errorBody("not_found", "User Not Found")
			s.mu.Unlock()
			answer(w, http.StatusNotFound, body)
			return
		}
		var files []Attachment
		for _, f := range in.Files {
			data, err := base64.StdEncoding.DecodeString(f.Data)
			if err != nil || f.Name == "" {
				body := s.errorBody("parameter_invalid", "attachment_files: data must be base64 and name present")
				s.mu.Unlock()
				answer(w, http.StatusBadRequest, body)
				return
			}
			files = append(files, Attachment{Type: "upload", Name: f.Name, ContentType: f.ContentType, Filesize: int64(len(data)), Data: data,
				URL: fmt.Sprintf("https://downloads.intercomcdn.com/i/o/%d/%s", s.nextID(), f.Name)})
		}
		if len(files) > 10 {
			body := s.errorBody("parameter_invalid", "attachment_files: at most 10 files")
			s.mu.Unlock()
			answer(w, http.StatusBadRequest, body)
			return
		}
		p = s.userReplyWith(cv, ct, in.Body, files)
	case in.Type == "admin" && (in.MessageType == "comment" || in.MessageType == "note"):
		name, ok := s.admins[in.AdminID]
		if !ok {
			body := s.errorBody("not_found", "Admin Not Found")
			s.mu.Unlock()
			answer(w, http.StatusNotFound, body)
			return
		}
		p = s.adminPart(cv, in.AdminID, name, in.MessageType, toHTML(in.Body))
	default:
		body := s.errorBody("parameter_invalid", "Message type and type are not a valid combination")
		s.mu.Unlock()
		answer(w, http.StatusBadRequest, body)
		return
	}
	body := s.conversationJSON(cv, []Part{p})
	s.mu.Unlock()
	answer(w, http.StatusOK, body)
}

// userReplyWith adds the contact's reply with its files; a closed
// conversation reopens, the part an "open" (as Intercom's own example
// shows); the lock is held.
func (s *Server) userReplyWith(cv *Conversation, ct *Contact, text string, files []Attachment) Part {
	kind := "comment"
	if cv.State == "closed" {
		cv.State, kind = "open", "open"
	}
	p := s.add(cv, Part{PartType: kind, Body: toHTML(text), Author: Author{Type: "user", ID: ct.ID, Name: ct.Name, Email: ct.Email}, Attachments: files})
	s.emit("conversation.user.replied", cv, []Part{p})
	return p
}

// adminPart adds an admin's comment, note or close; the lock is held.
func (s *Server) adminPart(cv *Conversation, id, name, kind, body string) Part {
	p := s.add(cv, Part{PartType: kind, Body: body, Author: Author{Type: "admin", ID: id, Name: name, Email: strings.ToLower(name) + "@acme.example"}})
	switch kind {
	case "comment":
		s.emit("conversation.admin.replied", cv, []Part{p})
	case "note":
		s.emit("conversation.admin.noted", cv, []Part{p})
	case "close":
		s.emit("conversation.admin.closed", cv, []Part{p})
	}
	return p
}

func (s *Server) add(cv *Conversation, p Part) Part {
	p.ID = strconv.FormatInt(s.nextID(), 10)
	p.CreatedAt = s.now().Unix()
	cv.UpdatedAt = p.CreatedAt
	cv.Parts = append(cv.Parts, p)
	return p
}

// manage closes a conversation (the only action the plugin takes).
func (s *Server) manage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		MessageType string `json:"message_type"`
		Type        string `json:"type"`
		AdminID     string `json:"admin_id"`
		AssigneeID  string `json:"assignee_id"`
		Body        string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	if in.MessageType == "assignment" {
		s.assign(w, r, in.Type, in.AdminID, in.AssigneeID)
		return
	}
	if in.MessageType != "close" || in.Type != "admin" {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "the fake manages close and assignment only")
		return
	}
	s.mu.Lock()
	cv := s.conversation(r.PathValue("id"))
	name, ok := s.admins[in.AdminID]
	switch {
	case cv == nil:
		body := s.errorBody("not_found", "Resource Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	case !ok:
		body := s.errorBody("not_found", "Admin Not Found")
		s.mu.Unlock()
		answer(w, http.StatusNotFound, body)
		return
	}
	var parts []Part
	if cv.State != "closed" {
		cv.State = "closed"
		parts = append(parts, s.adminPart(cv, in.AdminID, name, "close", toHTML(in.Body)))
	}
	body := s.conversationJSON(cv, parts)
	s.mu.Unlock()
	answer(w, http.StatusOK, body)
}
