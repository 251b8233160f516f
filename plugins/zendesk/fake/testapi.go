package fake

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

type testingTB = testing.TB

// The Go API: what agents and admins do in Zendesk's UI, and reads of the
// account for assertions.

// Agent returns the id of the agent called name, created on first use.
func (s *Server) Agent(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agent(name)
}

func (s *Server) agent(name string) int64 {
	if id, ok := s.agents[name]; ok {
		return id
	}
	u := s.newUser(User{Name: name, Email: strings.ToLower(name) + "@acme.test", Role: "agent"})
	s.agents[name] = u.ID
	return u.ID
}

func (s *Server) agentComment(ticket int64, agent, body string, public bool) (Comment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[ticket]
	if t == nil {
		return Comment{}, fmt.Errorf("no ticket %d", ticket)
	}
	if t.Status == "closed" {
		return Comment{}, fmt.Errorf("ticket %d is closed", ticket)
	}
	id := s.agent(agent)
	c := s.addComment(t, id, body, public, "web")
	if public && (t.Status == "new" || t.Status == "open") {
		s.setStatus(t, "pending") // "Submit as Pending", the UI's usual choice
	}
	if t.AssigneeID == nil {
		t.AssigneeID = &id
	}
	return *c, nil
}

// AgentReply is agent's public reply on ticket, as from the agent
// workspace.
func (s *Server) AgentReply(ticket int64, agent, text string) (Comment, error) {
	return s.agentComment(ticket, agent, text, true)
}

// PrivateNote is agent's internal note on ticket.
func (s *Server) PrivateNote(ticket int64, agent, text string) (Comment, error) {
	return s.agentComment(ticket, agent, text, false)
}

// ApplyMacro is agent applying the macro called name and submitting: the
// macro's comment, public.
func (s *Server) ApplyMacro(ticket int64, agent, name string) (Comment, error) {
	s.mu.Lock()
	body, ok := s.macros[name]
	s.mu.Unlock()
	if !ok {
		return Comment{}, fmt.Errorf("no macro %q", name)
	}
	return s.agentComment(ticket, agent, body, true)
}

// Solve is agent submitting ticket as Solved.
func (s *Server) Solve(ticket int64, agent string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[ticket]
	if t == nil {
		return fmt.Errorf("no ticket %d", ticket)
	}
	id := s.agent(agent)
	if t.AssigneeID == nil {
		t.AssigneeID = &id
	}
	s.setStatus(t, "solved")
	return nil
}

// AddUser adds a user as if created in Zendesk (an end user unless Role
// says otherwise) and returns it with its id.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Role == "" {
		u.Role = "end-user"
	}
	return *s.newUser(u)
}

// DefineUserField makes a user field key exist, so user_fields values for
// it are kept.
func (s *Server) DefineUserField(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fields[key] = true
}

// Ticket returns ticket id.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[id]
	if t == nil {
		return Ticket{}, false
	}
	c := *t
	c.Tags = slices.Clone(t.Tags)
	return c, true
}

// Tickets returns every ticket, oldest first.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, *s.tickets[id])
	}
	return out
}

// Comments returns ticket's comments, oldest first.
func (s *Server) Comments(ticket int64) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Comment{}
	for _, c := range s.comments[ticket] {
		out = append(out, *c)
	}
	return out
}

// User returns user id.
func (s *Server) User(id int64) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if u == nil {
		return User{}, false
	}
	c := *u
	return c, true
}

// Users returns every user, the API's own admin first.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	for _, id := range s.sortedUsers() {
		out = append(out, *s.users[id])
	}
	return out
}

// Requests returns the API calls answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count is how many calls of method ("": any) had a path containing part
// and were answered status (0: any).
func (s *Server) Count(method, part string, status int) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.Contains(r.Path, part) && (status == 0 || r.Status == status) {
			n++
		}
	}
	return n
}

// Email and Token are the API credentials the fake accepts; Secret is the
// webhook's signing secret it started with.
func (s *Server) Email() string  { return s.opts.Email }
func (s *Server) Token() string  { return s.opts.Token }
func (s *Server) Secret() string { return s.opts.Secret }

// Wait waits until cond holds, checking it again whenever the fake changes.
func (s *Server) Wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	s.sig.Wait(t, WaitTimeout, cond, func() string { return "waiting for " + what })
}

// WaitTicket waits for the ticket whose external_id is ext.
func (s *Server) WaitTicket(t testing.TB, ext string) Ticket {
	t.Helper()
	var found Ticket
	s.Wait(t, "the ticket of "+ext, func() bool {
		for _, tk := range s.Tickets() {
			if tk.ExternalID == ext {
				found = tk
				return true
			}
		}
		return false
	})
	return found
}

// WaitComment waits for a comment on ticket that match accepts.
func (s *Server) WaitComment(t testing.TB, ticket int64, what string, match func(Comment) bool) Comment {
	t.Helper()
	var found Comment
	s.Wait(t, what, func() bool {
		for _, c := range s.Comments(ticket) {
			if match(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// WaitStatus waits until ticket has status.
func (s *Server) WaitStatus(t testing.TB, ticket int64, status string) {
	t.Helper()
	s.Wait(t, fmt.Sprintf("ticket %d %s", ticket, status), func() bool {
		tk, ok := s.Ticket(ticket)
		return ok && tk.Status == status
	})
}
