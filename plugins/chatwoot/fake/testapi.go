package fake

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The test API: what agents do in Chatwoot's dashboard, seeds, and reads of
// the stores. Methods taking no testing.TB fail the test given to New.

// AgentReply is agent's public reply in conversation conv (an outgoing
// message, sent to the contact, and so to the webhook).
func (s *Server) AgentReply(conv int64, agent, text string) Message {
	s.t.Helper()
	return s.agentMessage(conv, agent, text, false)
}

// PrivateNote is agent's private note in conversation conv: an outgoing
// private message, which Chatwoot also sends to the webhook.
func (s *Server) PrivateNote(conv int64, agent, text string) Message {
	s.t.Helper()
	return s.agentMessage(conv, agent, text, true)
}

// UseCannedResponse is agent sending the canned response shortCode
// (SignOffShortCode is there from the start) as a reply.
func (s *Server) UseCannedResponse(conv int64, agent, shortCode string) Message {
	s.t.Helper()
	s.mu.Lock()
	text, ok := s.canned[shortCode]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("fake chatwoot: no canned response %q", shortCode)
	}
	return s.agentMessage(conv, agent, text, false)
}

// AddCannedResponse adds (or changes) a canned response.
func (s *Server) AddCannedResponse(shortCode, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canned[shortCode] = content
}

// AgentReplyWith is agent's public reply with attachments.
func (s *Server) AgentReplyWith(conv int64, agent, text string, attachments ...Attachment) Message {
	s.t.Helper()
	return s.agentMessage(conv, agent, text, false, attachments...)
}

func (s *Server) agentMessage(conv int64, agent, text string, private bool, attachments ...Attachment) Message {
	s.t.Helper()
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake chatwoot: no conversation %d", conv)
	}
	u := s.user(agent)
	m := &Message{Content: text, ContentType: "text", MessageType: "outgoing", Private: private,
		Sender: Sender{Type: "user", ID: u.ID, Name: u.Name}, Attachments: attachments}
	s.addMessage(cv, m)
	out := copyMessage(m)
	s.mu.Unlock()
	s.w.Notify()
	return out
}

// Resolve is agent resolving conversation conv.
func (s *Server) Resolve(conv int64, agent string) {
	s.t.Helper()
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake chatwoot: no conversation %d", conv)
	}
	s.setStatus(cv, "resolved", agent)
	s.mu.Unlock()
	s.w.Notify()
}

// SetLockToSingleConversation turns an inbox's "Lock to single
// conversation" setting on or off.
func (s *Server) SetLockToSingleConversation(inbox int64, on bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.inbox(inbox)
	if in == nil {
		s.t.Fatalf("fake chatwoot: no inbox %d", inbox)
	}
	in.LockToSingleConversation = on
}

// AddInbox adds an inbox, e.g. a website inbox ("Channel::WebWidget").
func (s *Server) AddInbox(name, channelType string) Inbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.addInbox(name, channelType)
}

// AddContact adds a contact as if created in the dashboard; its ID and
// CreatedAt are set.
func (s *Server) AddContact(c Contact) Contact {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg, _ := s.validateContact(&c); msg != "" {
		s.t.Fatalf("fake chatwoot: add contact: %s", msg)
	}
	c.ID, c.CreatedAt = s.nextID("contacts"), s.now()
	s.contacts = append(s.contacts, &c)
	return c
}

// Inboxes returns the inboxes.
func (s *Server) Inboxes() []Inbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Inbox, 0, len(s.inboxes))
	for _, in := range s.inboxes {
		out = append(out, *in)
	}
	return out
}

// Contacts returns the contacts.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Contact, 0, len(s.contacts))
	for _, c := range s.contacts {
		cc := *c
		cc.CustomAttributes = maps.Clone(c.CustomAttributes)
		out = append(out, cc)
	}
	return out
}

// ContactInboxes returns the contact inboxes.
func (s *Server) ContactInboxes() []ContactInbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ContactInbox, 0, len(s.contactInboxes))
	for _, ci := range s.contactInboxes {
		out = append(out, *ci)
	}
	return out
}

// Conversations returns the conversations.
func (s *Server) Conversations() []Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Conversation, 0, len(s.conversations))
	for _, cv := range s.conversations {
		out = append(out, copyConversation(cv))
	}
	return out
}

// Conversation returns conversation id.
func (s *Server) Conversation(id int64) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(id)
	if cv == nil {
		return Conversation{}, false
	}
	return copyConversation(cv), true
}

// Messages returns the messages of conversation conv, oldest first.
func (s *Server) Messages(conv int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.ConversationID == conv {
			out = append(out, copyMessage(m))
		}
	}
	return out
}

// Requests returns the API requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is how many requests of method had a path ending in suffix.
func (s *Server) Count(method, suffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && hasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// Wait waits until cond holds, re-checking whenever the fake changes.
func (s *Server) Wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	s.w.Wait(t, WaitTimeout, cond, func() string { return "waiting for " + what })
}

// WaitConversation waits for the n-th conversation (1-based) and returns it.
func (s *Server) WaitConversation(t testing.TB, n int) Conversation {
	t.Helper()
	var cv Conversation
	s.w.Wait(t, WaitTimeout, func() bool {
		all := s.Conversations()
		if len(all) >= n {
			cv = all[n-1]
			return true
		}
		return false
	}, func() string { return fmt.Sprintf("%d conversations, want %d", len(s.Conversations()), n) })
	return cv
}

// WaitMessage waits for a message of conversation conv that match accepts.
func (s *Server) WaitMessage(t testing.TB, conv int64, what string, match func(Message) bool) Message {
	t.Helper()
	var found Message
	s.w.Wait(t, WaitTimeout, func() bool {
		for _, m := range s.Messages(conv) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	}, func() string { return "no message " + what + "; messages:\n" + s.dump(conv) })
	return found
}

// WaitStatus waits until conversation conv has status.
func (s *Server) WaitStatus(t testing.TB, conv int64, status string) {
	t.Helper()
	s.w.Wait(t, WaitTimeout, func() bool {
		cv, ok := s.Conversation(conv)
		return ok && cv.Status == status
	}, func() string {
		cv, _ := s.Conversation(conv)
		return fmt.Sprintf("conversation %d is %q, want %q", conv, cv.Status, status)
	})
}

// dump lists a conversation's messages, for failure messages.
func (s *Server) dump(conv int64) string {
	var b strings.Builder
	for _, m := range s.Messages(conv) {
		fmt.Fprintf(&b, "  #%d %s private=%v %s: %q\n", m.ID, m.MessageType, m.Private, m.Sender.Name, m.Content)
	}
	return b.String()
}

func copyConversation(cv *Conversation) Conversation {
	c := *cv
	c.CustomAttributes = maps.Clone(cv.CustomAttributes)
	c.AdditionalAttributes = maps.Clone(cv.AdditionalAttributes)
	return c
}

func copyMessage(m *Message) Message {
	c := *m
	c.ContentAttributes = maps.Clone(m.ContentAttributes)
	c.Attachments = slices.Clone(m.Attachments)
	return c
}
