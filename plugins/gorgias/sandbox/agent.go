package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// This file is the agent's side and the tests' view: what a person does in
// the helpdesk, as Go methods and as /sandbox/ endpoints.

// Tickets lists every ticket with its messages, oldest first.
func (s *Sandbox) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Ticket{}
	for _, t := range s.tickets {
		out = append(out, s.ticketView(t, true))
	}
	return out
}

// Ticket returns one ticket with its messages.
func (s *Sandbox) Ticket(id int64) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketByID(id)
	if t == nil {
		return Ticket{}, ErrNotFound
	}
	return s.ticketView(t, true), nil
}

// TicketsByExternalID lists the tickets with that external_id; more than
// one means a plugin created its ticket twice.
func (s *Sandbox) TicketsByExternalID(externalID string) []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Ticket{}
	for _, t := range s.tickets {
		if string(t.ExternalID) == externalID {
			out = append(out, s.ticketView(t, true))
		}
	}
	return out
}

// Messages lists a ticket's messages, oldest first.
func (s *Sandbox) Messages(ticketID int64) ([]Message, error) {
	t, err := s.Ticket(ticketID)
	return t.Messages, err
}

// Customers lists the customers, oldest first.
func (s *Sandbox) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Customer{}
	for _, c := range s.customers {
		out = append(out, *s.customerView(c))
	}
	return out
}

// CustomerByEmail finds a customer by email, ignoring case.
func (s *Sandbox) CustomerByEmail(email string) (Customer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customerByEmail(email)
	if c == nil {
		return Customer{}, ErrNotFound
	}
	return *s.customerView(c), nil
}

// Users lists the helpdesk users: agents first, then API users.
func (s *Sandbox) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []User{}
	for _, u := range s.users {
		out = append(out, *u)
	}
	return out
}

// Agents lists the users who are not API users.
func (s *Sandbox) Agents() []User {
	out := []User{}
	for _, u := range s.Users() {
		if _, api := s.opts.Accounts[u.Email]; !api {
			out = append(out, u)
		}
	}
	return out
}

// Macros lists the macros agents can apply.
func (s *Sandbox) Macros() []Macro {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Macro{}, s.macros...)
}

// Requests lists the REST calls received, in order, refused ones included.
func (s *Sandbox) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request{}, s.requests...)
}

// RateLimit is the bucket's level and capacity now, as the
// X-Gorgias-Account-Api-Call-Limit header would say.
// LimitRate turns the rate limit off (false) or back on with the
// configured bucket (true), emptied: for a test whose setup should not
// wait on the limit its measurement is about.
func (s *Sandbox) LimitRate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket.level, s.bucket.last = 0, time.Time{}
	s.bucket.capacity = -1
	if on {
		s.bucket.capacity = float64(s.opts.BucketCapacity)
	}
}

func (s *Sandbox) RateLimit() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bucket.leak(s.now())
	return s.bucket.header()
}

// agentMessage stores a message written in the helpdesk by user.
func (s *Sandbox) agentMessage(t *ticket, user *User, text string, note bool, macro *Macro) *Message {
	in := messageInput{channel: t.Channel, via: "helpdesk", fromAgent: true, bodyText: text, hasText: true,
		sender: ref{id: user.ID, hasID: true}, hasSender: true}
	if note {
		pub := false
		in.channel, in.public = "internal-note", &pub
	}
	if macro != nil {
		in.macros = []any{map[string]any{"id": macro.ID, "name": macro.Name}}
	}
	m := s.newMessage(t, in, user)
	s.emit(TriggerTicketMessageCreated, t, m, user)
	return m
}

func (s *Sandbox) agentTicket(id int64) (*ticket, error) {
	t := s.ticketByID(id)
	if t == nil {
		return nil, ErrNotFound
	}
	return t, nil
}

// Reply sends a public reply as agent (a name or an email; "" is the
// default agent): from_agent true, via "helpdesk", on the ticket's channel.
func (s *Sandbox) Reply(ticketID int64, agent, text string) (Message, error) {
	if strings.TrimSpace(text) == "" {
		return Message{}, invalid("Failed to create message", "body_text", "Shorter than minimum length 1.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Message{}, err
	}
	m := s.agentMessage(t, s.agent(agent), text, false, nil)
	s.touch()
	return messageView(m), nil
}

// Note adds an internal note: channel "internal-note", public false,
// from_agent true. It fires ticket-message-created like any message.
func (s *Sandbox) Note(ticketID int64, agent, text string) (Message, error) {
	if strings.TrimSpace(text) == "" {
		return Message{}, invalid("Failed to create message", "body_text", "Shorter than minimum length 1.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Message{}, err
	}
	m := s.agentMessage(t, s.agent(agent), text, true, nil)
	s.touch()
	return messageView(m), nil
}

// ApplyMacro applies a macro (by name, ignoring case) as agent: its
// response text is sent as a reply, then its tags and status are set.
func (s *Sandbox) ApplyMacro(ticketID int64, agent, name string) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Ticket{}, err
	}
	var macro *Macro
	for i := range s.macros {
		if strings.EqualFold(s.macros[i].Name, name) {
			macro = &s.macros[i]
		}
	}
	if macro == nil {
		return Ticket{}, fmt.Errorf("macro %q: %w", name, ErrNotFound)
	}
	user := s.agent(agent)
	var text, status string
	var tags []string
	for _, a := range macro.Actions {
		switch a.Name {
		case "setResponseText":
			if v, ok := a.Arguments["body_text"].(string); ok {
				text = v
			} else if v, ok := a.Arguments["body_html"].(string); ok {
				text = htmlToText(v)
			}
		case "setStatus":
			status, _ = a.Arguments["status"].(string)
		case "addTags":
			if v, ok := a.Arguments["tags"].(string); ok {
				for _, tag := range strings.Split(v, ",") {
					if tag = strings.TrimSpace(tag); tag != "" {
						tags = append(tags, tag)
					}
				}
			}
		}
	}
	if text != "" {
		s.agentMessage(t, user, text, false, macro)
	}
	if len(tags) > 0 && s.setTags(t, append(tagList(t.Tags), tags...)) {
		s.emit(TriggerTicketUpdated, t, nil, user)
	}
	if status == "open" || status == "closed" {
		s.setStatus(t, status, user)
	}
	s.touch()
	return s.ticketView(t, true), nil
}

// SetStatus opens or closes a ticket as agent, firing ticket-status-updated
// and ticket-updated when the status changes.
func (s *Sandbox) SetStatus(ticketID int64, agent, status string) (Ticket, error) {
	if status != "open" && status != "closed" {
		return Ticket{}, invalid("Failed to update ticket", "status", msgOneOf("open", "closed"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Ticket{}, err
	}
	s.setStatus(t, status, s.agent(agent))
	s.touch()
	return s.ticketView(t, true), nil
}

// CloseTicket closes a ticket as agent.
func (s *Sandbox) CloseTicket(ticketID int64, agent string) (Ticket, error) {
	return s.SetStatus(ticketID, agent, "closed")
}

// OpenTicket reopens a ticket as agent.
func (s *Sandbox) OpenTicket(ticketID int64, agent string) (Ticket, error) {
	return s.SetStatus(ticketID, agent, "open")
}

// ---- /sandbox/ endpoints

func (s *Sandbox) registerSandbox(r *mux.Router) {
	r.HandleFunc("/sandbox/state", s.getState).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/tickets", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Tickets())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/tickets/{id:[0-9]+}", func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Ticket(pathID(r, "id"))
		answer(w, t, err)
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/tickets/{id:[0-9]+}/{action:reply|note|macro|close|open}", s.ticketAction).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/customers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Customers())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/macros", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Macros())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/integrations", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Integrations())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/events", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Events())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/deliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Deliveries())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/requests", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Requests())
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/redeliver", s.postRedeliver).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/wait-idle", s.postWaitIdle).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/faults", s.postFault).Methods(http.MethodPost)
	s.registerWebhookFaults(r)
	s.registerCalls(r)
	r.HandleFunc("/sandbox/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	}).Methods(http.MethodDelete)
}

func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// state is what the desk polls: the version moves on every change.
type state struct {
	Version int64    `json:"version"`
	Tickets []Ticket `json:"tickets"`
	Macros  []Macro  `json:"macros"`
	Agents  []User   `json:"agents"`
}

func (s *Sandbox) getState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	if r.URL.Query().Get("since") == fmt.Sprint(v) {
		writeJSON(w, http.StatusOK, map[string]any{"version": v})
		return
	}
	st := state{Version: v, Tickets: s.Tickets(), Macros: s.Macros(), Agents: s.Agents()}
	writeJSON(w, http.StatusOK, st)
}

// ticketAction: reply {"text", "agent"}, note {"text", "agent"}, macro
// {"name", "agent"}, close and open {"agent"} (body optional).
func (s *Sandbox) ticketAction(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Text  string `json:"text"`
		Agent string `json:"agent"`
		Name  string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
			writeError(w, errBadJSON)
			return
		}
	}
	id := pathID(r, "id")
	switch mux.Vars(r)["action"] {
	case "reply":
		m, err := s.Reply(id, in.Agent, in.Text)
		answerCreated(w, m, err)
	case "note":
		m, err := s.Note(id, in.Agent, in.Text)
		answerCreated(w, m, err)
	case "macro":
		name := in.Name
		if name == "" {
			name = MacroSignOff
		}
		t, err := s.ApplyMacro(id, in.Agent, name)
		answer(w, t, err)
	case "close":
		t, err := s.CloseTicket(id, in.Agent)
		answer(w, t, err)
	case "open":
		t, err := s.OpenTicket(id, in.Agent)
		answer(w, t, err)
	}
}

func answerCreated(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// postRedeliver delivers an event again: {"event_id": N}, {"type": "…"}
// (the last of that type) or nothing (the last event).
func (s *Sandbox) postRedeliver(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EventID int64  `json:"event_id"`
		Type    string `json:"type"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
			writeError(w, errBadJSON)
			return
		}
	}
	var e Event
	var err error
	switch {
	case in.EventID != 0:
		_, err = s.Redeliver(in.EventID)
		e.ID = in.EventID
	case in.Type != "":
		e, err = s.RedeliverLastOf(in.Type)
	default:
		e, err = s.RedeliverLast()
	}
	answer(w, map[string]any{"event_id": e.ID}, err)
}

// postWaitIdle answers once every delivery is done (at most 30s).
func (s *Sandbox) postWaitIdle(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		writeJSON(w, http.StatusGatewayTimeout, errorBody("Deliveries still pending.", nil))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"idle": true})
}

// postFault: {"status": 503, "count": 2, "retry_after": 1.5, "method":
// "POST", "path": "/api/tickets", "after_apply": false, "delay": 3,
// "reset": false}; retry_after and delay in seconds. The status may be left
// out of a delay or a reset.
func (s *Sandbox) postFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Fault
		RetryAfter float64 `json:"retry_after"`
		Delay      float64 `json:"delay"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
		writeError(w, errBadJSON)
		return
	}
	noStatus := in.Status == 0 && (in.Delay > 0 || in.Reset)
	if !noStatus && (in.Status < 100 || in.Status > 599) {
		writeError(w, invalid("Invalid fault", "status", "Must be an HTTP status code."))
		return
	}
	f := in.Fault
	f.RetryAfter = time.Duration(in.RetryAfter * float64(time.Second))
	f.Delay = time.Duration(in.Delay * float64(time.Second))
	s.AddFault(f)
	writeJSON(w, http.StatusCreated, map[string]any{"status": f.Status, "count": max(f.Count, 1)})
}
