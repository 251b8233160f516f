// Package fake is a Chatwoot for tests: an httptest server speaking the
// parts of Chatwoot's application API that the chatwoot provider uses
// (inboxes, contacts, contact inboxes, conversations, messages,
// toggle_status), with Chatwoot's status codes and error bodies, and
// account webhooks POSTed to a configured URL for every message created
// (the API client's own incoming messages and private notes included) and
// every status change, signed the way recent Chatwoot signs them.
//
// Tests play the agents through its test API (AgentReply, PrivateNote,
// UseCannedResponse, Resolve), read its stores, inject failures (Fail),
// and control webhook delivery (DropWebhooks, HoldWebhooks, Release,
// WaitIdle, Redeliver, Replay) and the clock, so they never sleep.
//
// Like Chatwoot (app/jobs/webhook_job.rb, lib/webhooks/trigger.rb), it
// sends each account webhook once and never retries one that failed; it
// never webhooks activity messages; conversation_status_changed carries
// "changed_attributes": null. It answers 401 where Chatwoot does: a wrong
// token, an account the token's user is no member of, an action the
// user's role does not allow (Pundit). A blank contact search is a 422,
// and the search finds only contacts with an email, a phone number or an
// identifier. Inboxes may be locked to a single conversation.
package fake

import (
	"encoding/json"
	"fmt"
	"github.com/livechatd/livechatd/sdk/sdktest"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server.
type Options struct {
	// Token is the api_access_token the API accepts ("test-token").
	Token string
	// AccountID is the one account's id (1); AccountName its name ("Acme").
	AccountID   int64
	AccountName string
	// APIUser is the name of the user the token belongs to ("Livechat API").
	APIUser string
	// Secret signs webhooks (X-Chatwoot-Signature, X-Chatwoot-Timestamp);
	// empty sends them unsigned, as Chatwoot releases before signing did.
	Secret string
	// WebhookURL receives the account webhook; it may be set later with
	// SetWebhookURL. Deliveries wait until there is one.
	WebhookURL string
	// Events the webhook subscribes to; nil: all the fake emits
	// (conversation_created, conversation_status_changed, message_created).
	Events []string
	// Now is the clock (time.Now): created_at, and webhook timestamps.
	Now func() time.Time
	// AgentToken, when set, is the api_access_token of an agent (not an
	// administrator) of the account: Chatwoot answers 401 when it creates
	// an inbox.
	AgentToken string
	// ForeignAccounts exist on the instance, but the token's user is no
	// member of them: Chatwoot answers 401 there, not 404.
	ForeignAccounts []int64
}

// The canned response CSML Studio recommended for signing off: its content
// ends with the token that turns into the "Quit livechat" button.
const (
	SignOffShortCode = "signing_off"
	SignOffContent   = "Let us know if we can do anything else for you - we are here to help.\n\nLIVECHAT_SESSION_END"
)

// Server is a fake Chatwoot. The zero value is not usable; call New.
type Server struct {
	*httptest.Server
	t    testing.TB
	opts Options
	w    sdktest.Signal

	mu   sync.Mutex
	cond *sync.Cond // signals the webhook worker; uses mu

	ids            map[string]int64 // last id per table
	users          []*user
	inboxes        []*Inbox
	contacts       []*Contact
	contactInboxes []*ContactInbox
	conversations  []*Conversation
	messages       []*Message
	canned         map[string]string
	teams          []*Team
	typing         []Typing
	blobs          map[string]*Attachment
	faults         []*Fault
	requests       []Request

	// webhooks
	secret     string
	webhookURL string
	deliveries []*Delivery
	queue      []*Delivery
	failed     []*Delivery
	inflight   int
	rules      []*webhookRule
	held       []*Delivery
	closed     bool
	done       chan struct{}
	client     *http.Client
}

// Inbox is an inbox of the account.
type Inbox struct {
	ID          int64
	Name        string
	ChannelType string // "Channel::Api", "Channel::WebWidget"...
	// LockToSingleConversation: POST /conversations for a contact inbox
	// that has a conversation returns that one (the first), whatever its
	// status, instead of creating one (ConversationBuilder).
	LockToSingleConversation bool
	// Identifier is an API inbox's identifier, which names it in the
	// public API's URLs (Channel::Api#identifier).
	Identifier string
}

// Contact is a contact of the account.
type Contact struct {
	ID               int64
	Name             string
	Email            string
	PhoneNumber      string
	Identifier       string
	CustomAttributes map[string]any
	CreatedAt        time.Time
}

// ContactInbox links a contact to an inbox under a source id.
type ContactInbox struct {
	ID        int64
	ContactID int64
	InboxID   int64
	SourceID  string
}

// Conversation is a conversation; ID is its display id, the one in URLs
// and webhooks.
type Conversation struct {
	ID                   int64
	InboxID              int64
	ContactID            int64
	SourceID             string
	Status               string // open, resolved, pending, snoozed
	CustomAttributes     map[string]any
	AdditionalAttributes map[string]any
	CreatedAt            time.Time
	UpdatedAt            time.Time
	// Routing and presence (issue 17).
	TeamID     int64
	Priority   string // "", low, medium, high, urgent
	Labels     []string
	AssigneeID int64
	// ContactLastSeenAt is when the contact last saw the conversation
	// (the public API's update_last_seen); zero: never.
	ContactLastSeenAt time.Time
}

// Message is a message of a conversation.
type Message struct {
	ID                int64
	ConversationID    int64
	Content           string
	ContentType       string
	MessageType       string // incoming, outgoing, activity, template
	Private           bool
	ContentAttributes map[string]any
	Sender            Sender
	Attachments       []Attachment
	CreatedAt         time.Time
	// Status is Message#status: sent, or read once the contact has seen
	// the conversation after the message was created.
	Status string
}

// Attachment is a file of a message, as Attachment#push_event_data
// renders it (in the API and in webhooks alike).
type Attachment struct {
	FileType string // image, audio, video, file, location...
	DataURL  string
	// Name, MIME, Size and Data are an uploaded file's (multipart
	// attachments[]); Data is served at DataURL.
	Name string
	MIME string
	Size int64
	Data []byte
}

// Sender is who wrote a message: a contact, or a user (an agent, or the
// API token's owner).
type Sender struct {
	Type string // "contact", "user", or "" for activity messages
	ID   int64
	Name string
}

type user struct {
	ID          int64
	Name, Email string
	AvatarURL   string
}

// Request is one API request the fake answered.
type Request struct {
	Method string
	Path   string // after /api/v1/accounts/<id>, e.g. "/conversations/1/messages"
	Status int
}

var messageTypes = []string{"incoming", "outgoing", "activity", "template"}

// New starts a fake Chatwoot, stopped when the test ends.
func New(t testing.TB, opts Options) *Server {
	if opts.Token == "" {
		opts.Token = "test-token"
	}
	if opts.AccountID == 0 {
		opts.AccountID = 1
	}
	if opts.AccountName == "" {
		opts.AccountName = "Acme"
	}
	if opts.APIUser == "" {
		opts.APIUser = "Livechat API"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		t:          t,
		opts:       opts,
		ids:        map[string]int64{},
		canned:     map[string]string{SignOffShortCode: SignOffContent},
		blobs:      map[string]*Attachment{},
		secret:     opts.Secret,
		webhookURL: opts.WebhookURL,
		done:       make(chan struct{}),
		client:     &http.Client{Timeout: 5 * time.Second}, // Chatwoot's webhook timeout
	}
	s.cond = sync.NewCond(&s.mu)
	s.user(opts.APIUser)
	s.Server = httptest.NewServer(s.routes())
	go s.worker()
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		s.cond.Broadcast()
		s.mu.Unlock()
		<-s.done
		s.Server.Close()
	})
	return s
}

// Token is the api_access_token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// AccountID is the account's id.
func (s *Server) AccountID() int64 { return s.opts.AccountID }

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

func (s *Server) nextID(table string) int64 {
	s.ids[table]++
	return s.ids[table]
}

// routes is the API. Every route is under /api/v1/accounts/{account}.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	const a = "/api/v1/accounts/{account}"
	mux.HandleFunc("GET "+a+"/inboxes", s.listInboxes)
	mux.HandleFunc("POST "+a+"/inboxes", s.postInbox)
	mux.HandleFunc("GET "+a+"/inboxes/{id}", s.getInbox)
	mux.HandleFunc("GET "+a+"/contacts/search", s.searchContacts)
	mux.HandleFunc("POST "+a+"/contacts", s.postContact)
	mux.HandleFunc("GET "+a+"/contacts/{id}", s.getContact)
	mux.HandleFunc("POST "+a+"/contacts/{id}/contact_inboxes", s.postContactInbox)
	mux.HandleFunc("GET "+a+"/contacts/{id}/conversations", s.contactConversations)
	mux.HandleFunc("POST "+a+"/conversations", s.postConversation)
	mux.HandleFunc("GET "+a+"/conversations/{id}", s.getConversation)
	mux.HandleFunc("GET "+a+"/conversations/{id}/messages", s.listMessages)
	mux.HandleFunc("POST "+a+"/conversations/{id}/messages", s.postMessage)
	mux.HandleFunc("POST "+a+"/conversations/{id}/toggle_status", s.toggleStatus)
	mux.HandleFunc("POST "+a+"/conversations/{id}/toggle_priority", s.togglePriority)
	mux.HandleFunc("POST "+a+"/conversations/{id}/labels", s.postLabels)
	mux.HandleFunc("POST /public/api/v1/inboxes/{inbox}/contacts/{contact}/conversations/{id}/toggle_typing", s.publicToggleTyping)
	mux.HandleFunc("POST /public/api/v1/inboxes/{inbox}/contacts/{contact}/conversations/{id}/update_last_seen", s.publicUpdateLastSeen)
	mux.HandleFunc("GET /rails/active_storage/blobs/redirect/{blob}/{name}", s.getBlob)
	mux.HandleFunc("GET "+a+"/canned_responses", s.listCanned)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Resource could not be found"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		s.serve(rec, r, mux)
		path := r.URL.Path
		if rest, ok := strings.CutPrefix(path, "/api/v1/accounts/"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				path = rest[i:]
			}
		}
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: path, Status: rec.status})
		s.mu.Unlock()
		s.w.Notify()
	})
}

// serve authenticates, applies injected faults, and routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, mux http.Handler) {
	if strings.HasPrefix(r.URL.Path, "/public/api/v1/") || strings.HasPrefix(r.URL.Path, "/rails/active_storage/") {
		// The public (client) API and file URLs take no token: the
		// inbox identifier and the contact's source id, or the blob's
		// signed id, are the credentials.
		if f := s.fault(r); f != nil {
			writeJSON(w, f.Status, map[string]any{"error": http.StatusText(f.Status)})
			return
		}
		mux.ServeHTTP(w, r)
		return
	}
	token := r.Header.Get("api_access_token")
	switch {
	case token == "":
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": []string{"You need to sign in or sign up before continuing."}})
		return
	case token != s.opts.Token && (s.opts.AgentToken == "" || token != s.opts.AgentToken):
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Invalid Access Token"})
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/accounts/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		n, _ := strconv.ParseInt(id, 10, 64)
		switch {
		case slices.Contains(s.opts.ForeignAccounts, n):
			// EnsureCurrentAccountHelper: the account exists, the user is
			// no member of it.
			unauthorized(w, "You are not authorized to access this account")
			return
		case id != strconv.FormatInt(s.opts.AccountID, 10):
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "Resource could not be found"})
			return
		}
	}
	if token == s.opts.AgentToken && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/inboxes") {
		// InboxPolicy#create? is for administrators; Pundit's refusal is a 401.
		unauthorized(w, "You are not authorized to do this action")
		return
	}
	if f := s.fault(r); f != nil {
		if f.Apply {
			mux.ServeHTTP(httptest.NewRecorder(), r)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		switch {
		case f.Status == http.StatusTooManyRequests:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte("Retry later\n")) // Rack::Attack's answer
		case f.Status >= 500:
			writeJSON(w, f.Status, map[string]any{"status": f.Status, "error": http.StatusText(f.Status)})
		default:
			writeJSON(w, f.Status, map[string]any{"error": http.StatusText(f.Status)})
		}
		return
	}
	mux.ServeHTTP(w, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Chatwoot's error bodies.

// unauthorized is render_unauthorized: Pundit's refusals and foreign
// accounts are 401s, never 403s.
func unauthorized(w http.ResponseWriter, message string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": message})
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]any{"error": "Resource could not be found"})
}

// invalid is a failed model validation (ActiveRecord::RecordInvalid).
func invalid(w http.ResponseWriter, message string, attributes ...string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": message, "attributes": attributes})
}

func unprocessable(w http.ResponseWriter, message string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": message})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON: " + err.Error()})
		return false
	}
	return true
}

func pathID(r *http.Request) int64 {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id
}

// --- inboxes ---

func (s *Server) listInboxes(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, in := range s.inboxes {
		out = append(out, s.inboxJSON(in))
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": out})
}

func (s *Server) getInbox(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inbox(pathID(r))
	if in == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.inboxJSON(in))
}

var channelTypes = map[string]string{
	"api":        "Channel::Api",
	"web_widget": "Channel::WebWidget",
	"email":      "Channel::Email",
}

func (s *Server) postInbox(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name                     string `json:"name"`
		LockToSingleConversation bool   `json:"lock_to_single_conversation"`
		Channel                  struct {
			Type string `json:"type"`
		} `json:"channel"`
	}
	if !decode(w, r, &body) {
		return
	}
	ct, ok := channelTypes[body.Channel.Type]
	if !ok {
		unprocessable(w, "Invalid channel type")
		return
	}
	if strings.TrimSpace(body.Name) == "" {
		invalid(w, "Name can't be blank", "name")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.addInbox(body.Name, ct)
	in.LockToSingleConversation = body.LockToSingleConversation
	writeJSON(w, http.StatusOK, s.inboxJSON(in))
}

func (s *Server) addInbox(name, channelType string) *Inbox {
	in := &Inbox{ID: s.nextID("inboxes"), Name: name, ChannelType: channelType}
	if channelType == "Channel::Api" {
		in.Identifier = fmt.Sprintf("inbox-identifier-%d", in.ID)
	}
	s.inboxes = append(s.inboxes, in)
	return in
}

func (s *Server) inbox(id int64) *Inbox {
	for _, in := range s.inboxes {
		if in.ID == id {
			return in
		}
	}
	return nil
}

func (s *Server) inboxJSON(in *Inbox) map[string]any {
	return map[string]any{
		"id": in.ID, "name": in.Name, "channel_id": in.ID, "channel_type": in.ChannelType,
		"avatar_url": "", "webhook_url": nil, "greeting_enabled": false, "greeting_message": nil,
		"enable_auto_assignment": true, "working_hours_enabled": false, "allow_messages_after_resolved": true,
		"lock_to_single_conversation": in.LockToSingleConversation, "inbox_identifier": nullable(in.Identifier),
	}
}

// --- contacts ---

const perPage = 15

func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		// contacts_controller.rb#search: a blank term is refused.
		unprocessable(w, "Specify search string with parameter q")
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*Contact
	lower := strings.ToLower(q)
	for _, c := range s.contacts {
		if c.Email == "" && c.PhoneNumber == "" && c.Identifier == "" {
			continue // only "resolved" contacts are searched
		}
		// name, email and phone ILIKE %q%; identifier LIKE %q%, case-sensitive.
		if strings.Contains(strings.ToLower(c.Name), lower) || strings.Contains(strings.ToLower(c.Email), lower) ||
			strings.Contains(c.PhoneNumber, q) || strings.Contains(c.Identifier, q) {
			found = append(found, c)
		}
	}
	out := []any{}
	for i := (page - 1) * perPage; i < len(found) && i < page*perPage; i++ {
		out = append(out, s.contactJSON(found[i], true))
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{"count": len(found), "current_page": page}, "payload": out})
}

var (
	emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
	phoneRE = regexp.MustCompile(`^\+[1-9]\d{1,14}$`)
)

func (s *Server) postContact(w http.ResponseWriter, r *http.Request) {
	var body struct {
		InboxID          int64          `json:"inbox_id"`
		Name             string         `json:"name"`
		Email            string         `json:"email"`
		PhoneNumber      string         `json:"phone_number"`
		Identifier       string         `json:"identifier"`
		CustomAttributes map[string]any `json:"custom_attributes"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var in *Inbox
	if body.InboxID != 0 {
		if in = s.inbox(body.InboxID); in == nil {
			notFound(w)
			return
		}
	}
	c := &Contact{Name: body.Name, Email: strings.ToLower(body.Email), PhoneNumber: body.PhoneNumber,
		Identifier: body.Identifier, CustomAttributes: body.CustomAttributes}
	if msg, attrs := s.validateContact(c); msg != "" {
		invalid(w, msg, attrs...)
		return
	}
	c.ID, c.CreatedAt = s.nextID("contacts"), s.now()
	s.contacts = append(s.contacts, c)
	ci := map[string]any{"inbox": nil, "source_id": nil}
	if in != nil {
		link := s.addContactInbox(c.ID, in.ID, "")
		ci = map[string]any{"inbox": s.inboxJSON(in), "source_id": link.SourceID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{"contact": s.contactJSON(c, true), "contact_inbox": ci}})
}

// validateContact is the Contact model's validations: the full message and
// the attributes at fault, or "".
func (s *Server) validateContact(c *Contact) (string, []string) {
	var msgs, attrs []string
	if c.Email != "" {
		if !emailRE.MatchString(c.Email) {
			msgs, attrs = append(msgs, "Email Invalid email"), append(attrs, "email")
		} else if s.contactWhere(func(o *Contact) bool { return strings.EqualFold(o.Email, c.Email) }) != nil {
			msgs, attrs = append(msgs, "Email has already been taken"), append(attrs, "email")
		}
	}
	if c.PhoneNumber != "" {
		if !phoneRE.MatchString(c.PhoneNumber) {
			msgs, attrs = append(msgs, "Phone number should be in e164 format"), append(attrs, "phone_number")
		} else if s.contactWhere(func(o *Contact) bool { return o.PhoneNumber == c.PhoneNumber }) != nil {
			msgs, attrs = append(msgs, "Phone number has already been taken"), append(attrs, "phone_number")
		}
	}
	if c.Identifier != "" && s.contactWhere(func(o *Contact) bool { return o.Identifier == c.Identifier }) != nil {
		msgs, attrs = append(msgs, "Identifier has already been taken"), append(attrs, "identifier")
	}
	return strings.Join(msgs, ", "), attrs
}

func (s *Server) contactWhere(match func(*Contact) bool) *Contact {
	for _, c := range s.contacts {
		if match(c) {
			return c
		}
	}
	return nil
}

func (s *Server) contact(id int64) *Contact {
	return s.contactWhere(func(c *Contact) bool { return c.ID == id })
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contact(pathID(r))
	if c == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": s.contactJSON(c, true)})
}

func (s *Server) postContactInbox(w http.ResponseWriter, r *http.Request) {
	var body struct {
		InboxID  int64  `json:"inbox_id"`
		SourceID string `json:"source_id"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, in := s.contact(pathID(r)), s.inbox(body.InboxID)
	if c == nil || in == nil {
		notFound(w)
		return
	}
	if body.SourceID != "" {
		for _, ci := range s.contactInboxes {
			if ci.InboxID == in.ID && ci.SourceID == body.SourceID && ci.ContactID != c.ID {
				unprocessable(w, "source_id should be unique")
				return
			}
		}
	}
	// As Chatwoot's ContactInboxBuilder: without a source id an API inbox
	// gets a new random one, so every call adds a contact inbox.
	ci := s.addContactInbox(c.ID, in.ID, body.SourceID)
	writeJSON(w, http.StatusOK, map[string]any{"id": ci.ID, "contact_id": c.ID, "inbox": s.inboxJSON(in), "source_id": ci.SourceID, "hmac_verified": false})
}

func (s *Server) addContactInbox(contactID, inboxID int64, sourceID string) *ContactInbox {
	for _, ci := range s.contactInboxes {
		if sourceID != "" && ci.ContactID == contactID && ci.InboxID == inboxID && ci.SourceID == sourceID {
			return ci
		}
	}
	if sourceID == "" {
		sourceID = newUUID()
	}
	ci := &ContactInbox{ID: s.nextID("contact_inboxes"), ContactID: contactID, InboxID: inboxID, SourceID: sourceID}
	s.contactInboxes = append(s.contactInboxes, ci)
	return ci
}

func (s *Server) contactConversations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.contact(pathID(r))
	if c == nil {
		notFound(w)
		return
	}
	out := []any{}
	for _, cv := range s.conversations {
		if cv.ContactID == c.ID {
			out = append(out, s.conversationJSON(cv))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": out})
}

func (s *Server) contactJSON(c *Contact, withInboxes bool) map[string]any {
	m := map[string]any{
		"id": c.ID, "name": c.Name, "email": nullable(c.Email), "phone_number": nullable(c.PhoneNumber),
		"identifier": nullable(c.Identifier), "thumbnail": "", "custom_attributes": object(c.CustomAttributes),
		"additional_attributes": map[string]any{}, "availability_status": "offline",
		"created_at": c.CreatedAt.Unix(), "last_activity_at": nil,
	}
	if withInboxes {
		list := []any{}
		for _, ci := range s.contactInboxes {
			if ci.ContactID == c.ID {
				list = append(list, map[string]any{"source_id": ci.SourceID, "inbox": s.inboxJSON(s.inbox(ci.InboxID))})
			}
		}
		m["contact_inboxes"] = list
	}
	return m
}

// --- conversations ---

var statuses = map[string]bool{"open": true, "resolved": true, "pending": true, "snoozed": true}

func (s *Server) postConversation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SourceID             string         `json:"source_id"`
		InboxID              int64          `json:"inbox_id"`
		ContactID            int64          `json:"contact_id"`
		Status               string         `json:"status"`
		CustomAttributes     map[string]any `json:"custom_attributes"`
		AdditionalAttributes map[string]any `json:"additional_attributes"`
		TeamID               int64          `json:"team_id"`
		Message              *struct {
			Content string `json:"content"`
		} `json:"message"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.SourceID == "" {
		invalid(w, "Source can't be blank", "source_id")
		return
	}
	if body.Status == "" {
		body.Status = "open"
	}
	if !statuses[body.Status] {
		unprocessable(w, fmt.Sprintf("'%s' is not a valid status", body.Status))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var link *ContactInbox
	for _, ci := range s.contactInboxes {
		if ci.SourceID == body.SourceID && (body.InboxID == 0 || ci.InboxID == body.InboxID) {
			link = ci
			break
		}
	}
	if link == nil || (body.ContactID != 0 && body.ContactID != link.ContactID) {
		notFound(w)
		return
	}
	if in := s.inbox(link.InboxID); in != nil && in.LockToSingleConversation {
		// ConversationBuilder#look_up_exising_conversation: the contact
		// inbox's first conversation, whatever its status and attributes.
		for _, old := range s.conversations {
			if old.SourceID == link.SourceID && old.InboxID == link.InboxID {
				writeJSON(w, http.StatusOK, s.conversationJSON(old))
				return
			}
		}
	}
	if body.TeamID != 0 && s.team(body.TeamID) == nil {
		// Conversation belongs_to :team: an unknown team fails validation.
		invalid(w, "Team must exist", "team")
		return
	}
	now := s.now()
	cv := &Conversation{ID: s.nextID("conversations"), InboxID: link.InboxID, ContactID: link.ContactID, SourceID: link.SourceID,
		Status: body.Status, CustomAttributes: body.CustomAttributes, AdditionalAttributes: body.AdditionalAttributes,
		CreatedAt: now, UpdatedAt: now, TeamID: body.TeamID}
	s.conversations = append(s.conversations, cv)
	s.emit("conversation_created", s.conversationEvent(cv, "conversation_created"), 0, cv.ID)
	if body.Message != nil && body.Message.Content != "" {
		// Chatwoot's MessageBuilder: the initial message is outgoing.
		s.addMessage(cv, &Message{Content: body.Message.Content, ContentType: "text", MessageType: "outgoing", Sender: s.apiSender()})
	}
	writeJSON(w, http.StatusOK, s.conversationJSON(cv))
}

func (s *Server) conversation(id int64) *Conversation {
	for _, cv := range s.conversations {
		if cv.ID == id {
			return cv
		}
	}
	return nil
}

func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.conversationJSON(cv))
}

func (s *Server) toggleStatus(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status string `json:"status"`
	}
	if r.ContentLength != 0 && !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	status := body.Status
	switch {
	case status == "":
		// Without a status, toggle_status toggles.
		status = "resolved"
		if cv.Status != "open" {
			status = "open"
		}
	case !statuses[status]:
		unprocessable(w, fmt.Sprintf("'%s' is not a valid status", status))
		return
	}
	s.setStatus(cv, status, s.opts.APIUser)
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{},
		"payload": map[string]any{"success": true, "current_status": cv.Status, "conversation_id": cv.ID}})
}

// setStatus changes a conversation's status, with Chatwoot's webhook and
// activity message.
func (s *Server) setStatus(cv *Conversation, status, by string) {
	if cv.Status == status {
		return
	}
	cv.Status, cv.UpdatedAt = status, s.now()
	// Conversation#notify_status_change passes status_change, nil after
	// the save: Chatwoot sends "changed_attributes": null.
	ev := s.conversationEvent(cv, "conversation_status_changed")
	ev["changed_attributes"] = nil
	s.emit("conversation_status_changed", ev, 0, cv.ID)
	var text string
	switch status {
	case "resolved":
		text = "Conversation was marked resolved by " + by
	case "open":
		text = "Conversation was reopened by " + by
	default:
		return
	}
	s.addMessage(cv, &Message{Content: text, ContentType: "text", MessageType: "activity"})
}

func (s *Server) conversationJSON(cv *Conversation) map[string]any {
	in := s.inbox(cv.InboxID)
	contact := s.contactJSON(s.contact(cv.ContactID), false)
	contact["type"] = "contact"
	last := cv.CreatedAt
	for _, m := range s.messages {
		if m.ConversationID == cv.ID {
			last = m.CreatedAt
		}
	}
	return map[string]any{
		"id": cv.ID, "account_id": s.opts.AccountID, "inbox_id": cv.InboxID, "status": cv.Status,
		"custom_attributes": object(cv.CustomAttributes), "additional_attributes": object(cv.AdditionalAttributes),
		"contact_inbox": map[string]any{"source_id": cv.SourceID},
		"meta": map[string]any{"sender": contact, "channel": in.ChannelType, "assignee": s.assigneeJSON(cv.AssigneeID),
			"team": s.teamJSON(cv.TeamID), "hmac_verified": false},
		"channel": in.ChannelType, "messages": []any{}, "labels": labelsJSON(cv.Labels), "unread_count": 0, "can_reply": true,
		"priority": nullable(cv.Priority), "snoozed_until": nil, "agent_last_seen_at": 0, "contact_last_seen_at": unixOrZero(cv.ContactLastSeenAt),
		"created_at": cv.CreatedAt.Unix(), "timestamp": last.Unix(), "updated_at": float64(cv.UpdatedAt.UnixMilli()) / 1000,
	}
}

// conversationEvent is a conversation webhook: the conversation's push
// data with the event (and the changed attributes).
func (s *Server) conversationEvent(cv *Conversation, event string) map[string]any {
	m := s.conversationJSON(cv)
	m["event"] = event
	return m
}

// --- messages ---

// listMessages is MessageFinder: after and before are message ids.
// after alone: the messages with a greater id, oldest first, 100 at most;
// before alone: the 20 before it; both: ids in [after, before), 1000 at
// most; neither: the latest 20. Always oldest first, ordered by
// created_at (then id, for messages of the same instant).
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, hasAfter := idParam(q.Get("after"))
	before, hasBefore := idParam(q.Get("before"))
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	var all []*Message
	for _, m := range s.messages {
		if m.ConversationID == cv.ID {
			all = append(all, m)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.Before(all[j].CreatedAt)
		}
		return all[i].ID < all[j].ID
	})
	where := func(keep func(*Message) bool) []*Message {
		var out []*Message
		for _, m := range all {
			if keep(m) {
				out = append(out, m)
			}
		}
		return out
	}
	first := func(l []*Message, n int) []*Message { return l[:min(n, len(l))] }
	last := func(l []*Message, n int) []*Message { return l[max(0, len(l)-n):] }
	var list []*Message
	switch {
	case hasAfter && hasBefore:
		list = first(where(func(m *Message) bool { return m.ID >= after && m.ID < before }), 1000)
	case hasBefore:
		list = last(where(func(m *Message) bool { return m.ID < before }), 20)
	case hasAfter:
		list = first(where(func(m *Message) bool { return m.ID > after }), 100)
	default:
		list = last(all, 20)
	}
	out := []any{}
	for _, m := range list {
		out = append(out, s.messageJSON(m))
	}
	contact := s.contactJSON(s.contact(cv.ContactID), false)
	contact["type"] = "contact"
	writeJSON(w, http.StatusOK, map[string]any{
		"meta":    map[string]any{"labels": []any{}, "additional_attributes": object(cv.AdditionalAttributes), "contact": contact, "agent_last_seen_at": 0},
		"payload": out,
	})
}

// idParam is a paging parameter as Rails reads it: present when not
// blank, then to_i (a leading number, else 0).
func idParam(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(v[:end], 10, 64)
	return n, true
}

var contentTypes = map[string]bool{
	"text": true, "input_text": true, "input_textarea": true, "input_email": true, "input_select": true,
	"cards": true, "form": true, "article": true,
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content           string          `json:"content"`
		MessageType       json.RawMessage `json:"message_type"`
		Private           bool            `json:"private"`
		ContentType       string          `json:"content_type"`
		ContentAttributes json.RawMessage `json:"content_attributes"`
		EchoID            string          `json:"echo_id"`
	}
	var files []Attachment
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// The dashboard's (and an API client's) way to attach files:
		// multipart fields, the files as attachments[].
		var ok bool
		if files, ok = s.parseMultipart(w, r); !ok {
			return
		}
		f := r.MultipartForm.Value
		val := func(k string) string {
			if v := f[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		body.Content, body.ContentType, body.EchoID = val("content"), val("content_type"), val("echo_id")
		body.Private = val("private") == "true"
		if mt := val("message_type"); mt != "" {
			body.MessageType, _ = json.Marshal(mt)
		}
		if ca := val("content_attributes"); ca != "" {
			body.ContentAttributes, _ = json.Marshal(ca)
		}
	} else if !decode(w, r, &body) {
		return
	}
	mt, ok := parseMessageType(body.MessageType)
	if !ok || (mt != "incoming" && mt != "outgoing") {
		unprocessable(w, fmt.Sprintf("%s is not a valid message_type", body.MessageType))
		return
	}
	if body.ContentType == "" {
		body.ContentType = "text"
	}
	if !contentTypes[body.ContentType] {
		invalid(w, "Content type is not included in the list", "content_type")
		return
	}
	attrs, ok := parseAttributes(body.ContentAttributes)
	if !ok {
		unprocessable(w, "content_attributes must be an object")
		return
	}
	if strings.TrimSpace(body.Content) == "" && len(files) == 0 {
		invalid(w, "Content can't be blank", "content")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	if mt == "incoming" && s.inbox(cv.InboxID).ChannelType != "Channel::Api" {
		unprocessable(w, "Incoming messages are only allowed in Api inboxes")
		return
	}
	m := &Message{Content: body.Content, ContentType: body.ContentType, MessageType: mt, Private: body.Private, ContentAttributes: attrs,
		Attachments: files}
	if mt == "incoming" {
		c := s.contact(cv.ContactID)
		m.Sender = Sender{Type: "contact", ID: c.ID, Name: c.Name}
	} else {
		m.Sender = s.apiSender()
	}
	s.addMessage(cv, m)
	writeJSON(w, http.StatusOK, s.messageJSON(m))
}

func parseMessageType(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "outgoing", true // MessageBuilder's default
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		for _, t := range messageTypes {
			if t == name {
				return t, true
			}
		}
		return "", false
	}
	var n int
	if json.Unmarshal(raw, &n) == nil && n >= 0 && n < len(messageTypes) {
		return messageTypes[n], true
	}
	return "", false
}

// parseAttributes takes content_attributes as an object or a JSON string
// of one, as Chatwoot's MessageBuilder does.
func parseAttributes(raw json.RawMessage) (map[string]any, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil {
		return m, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && json.Unmarshal([]byte(s), &m) == nil {
		return m, true
	}
	return nil, false
}

// addMessage stores a message and sends its message_created webhook. An
// incoming message reopens a resolved conversation, as in Chatwoot.
func (s *Server) addMessage(cv *Conversation, m *Message) {
	m.ID, m.ConversationID, m.CreatedAt = s.nextID("messages"), cv.ID, s.now()
	if m.Status == "" {
		m.Status = "sent"
	}
	s.messages = append(s.messages, m)
	cv.UpdatedAt = m.CreatedAt
	if m.MessageType != "activity" {
		// webhook_sendable?: activity messages are never webhooked.
		s.emit("message_created", s.messageEvent(m), m.ID, cv.ID)
	}
	if m.MessageType == "incoming" && cv.Status == "resolved" {
		s.setStatus(cv, "open", s.contact(cv.ContactID).Name)
	}
}

func (s *Server) apiSender() Sender {
	u := s.user(s.opts.APIUser)
	return Sender{Type: "user", ID: u.ID, Name: u.Name}
}

func (s *Server) user(name string) *user {
	for _, u := range s.users {
		if u.Name == name {
			return u
		}
	}
	u := &user{ID: s.nextID("users"), Name: name, Email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@agents.example"}
	s.users = append(s.users, u)
	return u
}

// senderJSON is a sender's push_event_data, as the API renders it (a
// user has an available_name there); webhookSenderJSON is its
// webhook_data.
func (s *Server) senderJSON(sd Sender) any {
	switch sd.Type {
	case "contact":
		m := s.contactJSON(s.contact(sd.ID), false)
		m["type"] = "contact"
		return m
	case "user":
		var email string
		for _, u := range s.users {
			if u.ID == sd.ID {
				email = u.Email
			}
		}
		avatar := s.avatarOf(sd.ID)
		return map[string]any{"id": sd.ID, "name": sd.Name, "available_name": s.availableName(sd.ID), "avatar_url": avatar,
			"type": "user", "availability_status": "online", "thumbnail": avatar, "email": email}
	}
	return nil
}

// webhookSenderJSON is User#webhook_data ({id, name, email, type}: no
// available_name) or Contact#webhook_data (no type).
func (s *Server) webhookSenderJSON(sd Sender) any {
	switch sd.Type {
	case "contact":
		return s.contactJSON(s.contact(sd.ID), false)
	case "user":
		var email string
		for _, u := range s.users {
			if u.ID == sd.ID {
				email = u.Email
			}
		}
		return map[string]any{"id": sd.ID, "name": sd.Name, "email": email, "type": "user"}
	}
	return nil
}

// availableName is a user's display name, which agents often set shorter
// than their name: their first name.
func (s *Server) availableName(id int64) string {
	for _, u := range s.users {
		if u.ID == id {
			first, _, _ := strings.Cut(u.Name, " ")
			return first
		}
	}
	return ""
}

// messageJSON is a message as the API renders it: message_type a number,
// created_at unix seconds.
func (s *Server) messageJSON(m *Message) map[string]any {
	mt := 0
	for i, t := range messageTypes {
		if t == m.MessageType {
			mt = i
		}
	}
	cv := s.conversation(m.ConversationID)
	return map[string]any{
		"id": m.ID, "content": m.Content, "inbox_id": cv.InboxID, "conversation_id": cv.ID,
		"message_type": mt, "content_type": m.ContentType, "status": m.Status,
		"content_attributes": object(m.ContentAttributes), "created_at": m.CreatedAt.Unix(),
		"private": m.Private, "source_id": nil, "sender": s.senderJSON(m.Sender), "attachments": attachmentsJSON(m),
	}
}

func attachmentsJSON(m *Message) any {
	if len(m.Attachments) == 0 {
		return nil
	}
	out := make([]any, 0, len(m.Attachments))
	for i, a := range m.Attachments {
		size := a.Size
		if size == 0 {
			size = 1024
		}
		out = append(out, map[string]any{"id": m.ID*10 + int64(i), "message_id": m.ID, "file_type": a.FileType,
			"data_url": a.DataURL, "thumb_url": "", "file_size": size})
	}
	return out
}

// messageEvent is a message_created webhook as Chatwoot's
// Message#webhook_data renders it: message_type by name, created_at an ISO
// time, the conversation's push data nested.
func (s *Server) messageEvent(m *Message) map[string]any {
	cv := s.conversation(m.ConversationID)
	in := s.inbox(cv.InboxID)
	return map[string]any{
		"event": "message_created", "id": m.ID, "content": m.Content, "content_type": m.ContentType,
		"content_attributes": object(m.ContentAttributes), "message_type": m.MessageType, "private": m.Private,
		"created_at": m.CreatedAt.Format("2006-01-02T15:04:05.000Z"), "source_id": nil, "additional_attributes": map[string]any{},
		"sender":       s.webhookSenderJSON(m.Sender),
		"attachments":  attachmentsJSON(m),
		"conversation": s.conversationJSON(cv),
		"account":      map[string]any{"id": s.opts.AccountID, "name": s.opts.AccountName},
		"inbox":        map[string]any{"id": in.ID, "name": in.Name},
	}
}

func (s *Server) listCanned(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	codes := make([]string, 0, len(s.canned))
	for c := range s.canned {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	out := []any{}
	for i, c := range codes {
		out = append(out, map[string]any{"id": i + 1, "account_id": s.opts.AccountID, "short_code": c, "content": s.canned[c]})
	}
	writeJSON(w, http.StatusOK, out)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func object(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
