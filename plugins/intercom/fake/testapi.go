package fake

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitFor bounds every Wait.
const waitFor = 30 * time.Second

// AdminID is the id of the admin called name, added when new.
func (s *Server) AdminID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminID(name)
}

func (s *Server) adminID(name string) string {
	for id, n := range s.admins {
		if n == name {
			return id
		}
	}
	id := strconv.FormatInt(s.nextID()+900000, 10)
	s.admins[id] = name
	return id
}

func (s *Server) agent(conv, name, kind, body string) Part {
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake intercom: no conversation %s", conv)
	}
	p := s.adminPart(cv, s.adminID(name), name, kind, body)
	s.mu.Unlock()
	s.sig.Notify()
	return p
}

// AgentReply makes admin name reply text in the Inbox, as HTML.
func (s *Server) AgentReply(conv, name, text string) Part {
	return s.agent(conv, name, "comment", toHTML(text))
}

// AgentReplyHTML replies with an HTML body as the Inbox's editor writes it.
func (s *Server) AgentReplyHTML(conv, name, body string) Part {
	return s.agent(conv, name, "comment", body)
}

// AgentNote makes admin name write a note, which the user never sees.
func (s *Server) AgentNote(conv, name, text string) Part {
	return s.agent(conv, name, "note", toHTML(text))
}

// UseMacro makes admin name reply with a macro's text.
func (s *Server) UseMacro(conv, name, macro string) Part {
	s.mu.Lock()
	text, ok := s.macros[macro]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("fake intercom: no macro %q", macro)
	}
	return s.AgentReply(conv, name, text)
}

// Close makes admin name close the conversation.
func (s *Server) Close(conv, name string) {
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake intercom: no conversation %s", conv)
	}
	if cv.State != "closed" {
		cv.State = "closed"
		s.adminPart(cv, s.adminID(name), name, "close", "")
	}
	s.mu.Unlock()
	s.sig.Notify()
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

// Contacts are copies of the contacts.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, c := range s.contacts {
		out = append(out, *c)
	}
	return out
}

// Conversations are copies of the conversations.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Conversation
	for _, c := range s.conversations {
		out = append(out, copyConv(c))
	}
	return out
}

func copyConv(c *Conversation) Conversation {
	out := *c
	out.Parts = slices.Clone(c.Parts)
	return out
}

// Conversation is a copy of conversation id.
func (s *Server) Conversation(id string) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conversation(id); c != nil {
		return copyConv(c), true
	}
	return Conversation{}, false
}

// UserTexts are the texts of the contact's replies in conversation id,
// oldest first.
func (s *Server) UserTexts(id string) []string {
	cv, _ := s.Conversation(id)
	var out []string
	for _, p := range cv.Parts {
		if p.Author.Type == "user" {
			out = append(out, Text(p.Body))
		}
	}
	return out
}

// Text is a part's HTML body as plain text: paragraphs as lines.
func Text(body string) string {
	body = strings.ReplaceAll(body, "</p><p>", "\n")
	body = strings.TrimSuffix(strings.TrimPrefix(body, "<p>"), "</p>")
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'").Replace(body)
}

// Requests are the calls answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count is how many calls of method to a path containing path were
// answered status (0: any).
func (s *Server) Count(method, path string, status int) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.Contains(r.Path, path) && (status == 0 || r.Status == status) {
			n++
		}
	}
	return n
}

// Wait waits until cond holds, checking it at every change of the fake.
func (s *Server) Wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	s.sig.Wait(t, waitFor, cond, func() string { return "waiting for " + what + "; " + s.dump() })
}

// WaitConversation waits for the n-th conversation (1-based).
func (s *Server) WaitConversation(t testing.TB, n int) Conversation {
	t.Helper()
	var cv Conversation
	s.Wait(t, fmt.Sprintf("conversation %d", n), func() bool {
		all := s.Conversations()
		if len(all) >= n {
			cv = all[n-1]
			return true
		}
		return false
	})
	return cv
}

// WaitUserTexts waits until conversation id has at least n replies of the
// contact's and returns their texts.
func (s *Server) WaitUserTexts(t testing.TB, id string, n int) []string {
	t.Helper()
	var got []string
	s.Wait(t, fmt.Sprintf("%d user replies in conversation %s", n, id), func() bool {
		got = s.UserTexts(id)
		return len(got) >= n
	})
	return got
}

// WaitState waits until conversation id is in state.
func (s *Server) WaitState(t testing.TB, id, state string) {
	t.Helper()
	s.Wait(t, "conversation "+id+" "+state, func() bool {
		cv, ok := s.Conversation(id)
		return ok && cv.State == state
	})
}

func (s *Server) dump() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, cv := range s.conversations {
		fmt.Fprintf(&b, "conversation %s (%s): %d parts; ", cv.ID, cv.State, len(cv.Parts))
	}
	fmt.Fprintf(&b, "%d notifications, %d queued, %d in flight, %d held; %d requests", len(s.deliveries), len(s.queue), s.inFlight, len(s.held), len(s.requests))
	return b.String()
}

// StatusOf is the status of the last call of method to a path containing
// path, or 0.
func (s *Server) StatusOf(method, path string) int {
	st := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.Contains(r.Path, path) {
			st = r.Status
		}
	}
	return st
}
