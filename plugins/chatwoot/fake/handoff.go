package fake

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Routing, files and presence (issue 17): teams, priorities and labels of
// conversations, files uploaded with a message (multipart attachments[])
// and served back, the public API's toggle_typing and update_last_seen
// (the contact's read receipt), and the webhooks of an
// agent assigned (conversation_updated) and an agent typing
// (conversation_typing_on/off).

// Team is a team of the account.
type Team struct {
	ID   int64
	Name string
}

// Typing is one typing event the fake saw: the contact's through the
// public API, or an agent's through AgentTyping.
type Typing struct {
	ConversationID int64
	By             string // "contact" or "user"
	On             bool
}

// priorities are Conversation#priority's enum values.
var priorities = map[string]bool{"low": true, "medium": true, "high": true, "urgent": true}

func (s *Server) team(id int64) *Team {
	for _, t := range s.teams {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// teamJSON is Team#push_event_data: {id, name}.
func (s *Server) teamJSON(id int64) any {
	if t := s.team(id); t != nil {
		return map[string]any{"id": t.ID, "name": t.Name}
	}
	return nil
}

// assigneeJSON is the assignee's User#push_event_data, or nil.
func (s *Server) assigneeJSON(id int64) any {
	for _, u := range s.users {
		if u.ID == id {
			return s.senderJSON(Sender{Type: "user", ID: u.ID, Name: u.Name})
		}
	}
	return nil
}

func (s *Server) avatarOf(id int64) string {
	for _, u := range s.users {
		if u.ID == id {
			return u.AvatarURL
		}
	}
	return ""
}

func labelsJSON(l []string) []any {
	out := []any{}
	for _, x := range l {
		out = append(out, x)
	}
	return out
}

// updated sends conversation_updated with the changed attributes, as
// Conversation#notify_conversation_updation does after an update of
// assignee, team, priority, labels...: [{attr: {previous_value,
// current_value}}].
func (s *Server) updated(cv *Conversation, attr string, prev, cur any) {
	ev := s.conversationEvent(cv, "conversation_updated")
	ev["changed_attributes"] = []any{map[string]any{attr: map[string]any{"previous_value": prev, "current_value": cur}}}
	s.emit("conversation_updated", ev, 0, cv.ID)
}

// togglePriority is POST /conversations/{id}/toggle_priority {priority}:
// one of low, medium, high, urgent, or none to clear it.
func (s *Server) togglePriority(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Priority *string `json:"priority"`
	}
	if !decode(w, r, &body) {
		return
	}
	pr := ""
	if body.Priority != nil {
		pr = *body.Priority
	}
	if pr != "" && !priorities[pr] {
		unprocessable(w, fmt.Sprintf("'%s' is not a valid priority", pr))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	if cv.Priority != pr {
		prev := cv.Priority
		cv.Priority, cv.UpdatedAt = pr, s.now()
		s.updated(cv, "priority", nullable(prev), nullable(pr))
	}
	w.WriteHeader(http.StatusOK)
}

// postLabels is POST /conversations/{id}/labels {labels}: the
// conversation's labels become the list (update_labels), answered as
// {"payload": [labels]}.
func (s *Server) postLabels(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Labels []string `json:"labels"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(pathID(r))
	if cv == nil {
		notFound(w)
		return
	}
	labels := []string{}
	for _, l := range body.Labels {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if !slices.Equal(cv.Labels, labels) {
		prev := cv.Labels
		cv.Labels, cv.UpdatedAt = labels, s.now()
		s.updated(cv, "label_list", labelsJSON(prev), labelsJSON(labels))
	}
	writeJSON(w, http.StatusOK, map[string]any{"payload": labelsJSON(labels)})
}

// publicToggleTyping is the public API's POST
// /public/api/v1/inboxes/{inbox identifier}/contacts/{source id}/conversations/{id}/toggle_typing
// {typing_status: on|off}: 404 for an unknown inbox, contact or
// conversation of that contact; Chatwoot then sends
// conversation_typing_on/off with the contact as the user.
func (s *Server) publicToggleTyping(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TypingStatus string `json:"typing_status"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.publicConversation(r)
	if cv == nil {
		notFound(w)
		return
	}
	switch body.TypingStatus {
	case "on", "off":
		s.typing = append(s.typing, Typing{ConversationID: cv.ID, By: "contact", On: body.TypingStatus == "on"})
		s.emit("conversation_typing_"+body.TypingStatus, map[string]any{
			"event": "conversation_typing_" + body.TypingStatus, "user": s.contactJSON(s.contact(cv.ContactID), false),
			"conversation": s.conversationJSON(cv), "is_private": false}, 0, cv.ID)
	}
	w.WriteHeader(http.StatusOK)
}

// publicConversation is the conversation a public API URL names, as
// Public::Api::V1::InboxesController finds it: the API inbox by its
// identifier, the contact inbox by the contact's source id in that inbox,
// then the conversation by its display id among that contact inbox's
// conversations; nil (Chatwoot's 404) when any is missing. The lock is
// held.
func (s *Server) publicConversation(r *http.Request) *Conversation {
	var in *Inbox
	for _, i := range s.inboxes {
		if i.Identifier != "" && i.Identifier == r.PathValue("inbox") {
			in = i
		}
	}
	if in == nil {
		return nil
	}
	cv := s.conversation(pathID(r))
	if cv == nil || cv.InboxID != in.ID || cv.SourceID != r.PathValue("contact") {
		return nil
	}
	return cv
}

// publicUpdateLastSeen is the public API's POST
// /public/api/v1/inboxes/{inbox identifier}/contacts/{source id}/conversations/{id}/update_last_seen
// (no body): the conversation's contact_last_seen_at becomes now, and
// every message not incoming, sent or delivered, created up to then is
// read (Conversations::UpdateMessageStatusJob, which Chatwoot runs within
// a minute and the fake at once). Answered 200 with no body (head :ok);
// 404 as toggle_typing. Chatwoot sends no webhook for it: the change
// dispatches conversation_read, which no account webhook carries, and
// contact_last_seen_at is not among the attributes that make a
// conversation_updated.
func (s *Server) publicUpdateLastSeen(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.publicConversation(r)
	if cv == nil {
		notFound(w)
		return
	}
	seen := s.now()
	cv.ContactLastSeenAt = seen
	for _, m := range s.messages {
		if m.ConversationID == cv.ID && m.MessageType != "incoming" && (m.Status == "sent" || m.Status == "delivered") && !m.CreatedAt.After(seen) {
			m.Status = "read"
		}
	}
	w.WriteHeader(http.StatusOK)
}

// unixOrZero is a time as Rails' to_i renders it: nil is 0.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// parseMultipart reads a multipart message's files (attachments[]),
// giving each Chatwoot's file_type by its content type and a URL the
// fake serves it at.
func (s *Server) parseMultipart(w http.ResponseWriter, r *http.Request) ([]Attachment, bool) {
	if err := r.ParseMultipartForm(40 << 20); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid multipart body: " + err.Error()})
		return nil, false
	}
	var out []Attachment
	for _, fh := range r.MultipartForm.File["attachments[]"] {
		data, err := readPart(fh)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return nil, false
		}
		ct := fh.Header.Get("Content-Type")
		kind := "file"
		for _, k := range []string{"image", "audio", "video"} {
			if strings.HasPrefix(ct, k+"/") {
				kind = k
			}
		}
		s.mu.Lock()
		blob := fmt.Sprintf("blob-%d", s.nextID("blobs"))
		a := &Attachment{FileType: kind, Name: fh.Filename, MIME: ct, Size: int64(len(data)), Data: data,
			DataURL: s.URL + "/rails/active_storage/blobs/redirect/" + blob + "/" + url.PathEscape(fh.Filename)}
		s.blobs[blob] = a
		s.mu.Unlock()
		out = append(out, *a)
	}
	return out, true
}

func readPart(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// getBlob serves an uploaded file at its data_url.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.blobs[r.PathValue("blob")]
	s.mu.Unlock()
	if a == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.MIME)
	_, _ = w.Write(a.Data)
}

// --- test API ---

// AddTeam adds a team to the account and returns it.
func (s *Server) AddTeam(name string) Team {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &Team{ID: s.nextID("teams"), Name: name}
	s.teams = append(s.teams, t)
	return *t
}

// SetAvatar gives agent (a user, created when new) an avatar URL.
func (s *Server) SetAvatar(agent, avatarURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user(agent).AvatarURL = avatarURL
}

// Assign assigns conversation conv to agent: conversation_updated with
// the assignee in meta.assignee and assignee_id in changed_attributes,
// and the activity message Chatwoot writes.
func (s *Server) Assign(conv int64, agent string) {
	s.t.Helper()
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake chatwoot: no conversation %d", conv)
	}
	u := s.user(agent)
	prev := cv.AssigneeID
	cv.AssigneeID, cv.UpdatedAt = u.ID, s.now()
	s.updated(cv, "assignee_id", nullableID(prev), u.ID)
	s.addMessage(cv, &Message{Content: "Assigned to " + u.Name + " by " + s.opts.APIUser, ContentType: "text", MessageType: "activity"})
	s.mu.Unlock()
	s.w.Notify()
}

// AgentTyping is agent typing (on) or stopping (off) in conversation
// conv; private is typing a private note. Chatwoot sends
// conversation_typing_on/off with the agent's User#webhook_data.
func (s *Server) AgentTyping(conv int64, agent string, on, private bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(conv)
	if cv == nil {
		s.t.Fatalf("fake chatwoot: no conversation %d", conv)
	}
	u := s.user(agent)
	state := "off"
	if on {
		state = "on"
	}
	s.typing = append(s.typing, Typing{ConversationID: conv, By: "user", On: on})
	s.emit("conversation_typing_"+state, map[string]any{"event": "conversation_typing_" + state,
		"user": s.webhookSenderJSON(Sender{Type: "user", ID: u.ID, Name: u.Name}), "conversation": s.conversationJSON(cv),
		"is_private": private}, 0, conv)
}

// TypingEvents are the typing events seen so far, oldest first.
func (s *Server) TypingEvents() []Typing {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.typing)
}

// WaitTyping waits until a typing event matches.
func (s *Server) WaitTyping(t testing.TB, what string, match func(Typing) bool) Typing {
	t.Helper()
	var got Typing
	s.Wait(t, what, func() bool {
		for _, ty := range s.TypingEvents() {
			if match(ty) {
				got = ty
				return true
			}
		}
		return false
	})
	return got
}

func nullableID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
