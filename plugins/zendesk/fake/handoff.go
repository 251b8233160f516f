package fake

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Files, users and assignments (issue 17): POST /api/v2/uploads.json takes
// a file as the request body (?filename=) and answers an upload token a
// comment attaches once; GET /api/v2/users/{id}.json shows a user with
// their photo; an agent taking a ticket sends
// zen:event-type:ticket.agent_assignment_changed.

// postUpload is POST /api/v2/uploads.json?filename=<name>: the body is the
// file; 201 with {"upload": {"token", "attachment", "attachments"}}. No
// filename is a 400.
func (s *Server) postUpload(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("filename")
	if name == "" {
		badRequest(w, "filename parameter is missing")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 50<<20))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id()
	a := Attachment{ID: id, FileName: name, ContentType: r.Header.Get("Content-Type"), Size: int64(len(data)), Data: data,
		ContentURL: fmt.Sprintf("https://acme.zendesk.com/attachments/token/%d/?name=%s", id, name)}
	token := "upload-" + randomHex(8)
	s.uploads[token] = a
	writeJSON(w, http.StatusCreated, map[string]any{"upload": map[string]any{"token": token, "attachment": a, "attachments": []Attachment{a}}})
}

// showUser is GET /api/v2/users/{id}.json.
func (s *Server) showUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(strings.TrimSuffix(r.PathValue("id"), ".json"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[id]
	if err != nil || u == nil {
		notFound(w)
		return
	}
	out := map[string]any{"id": u.ID, "name": u.Name, "email": u.Email, "role": u.Role, "photo": nil}
	if p := s.photos[id]; p != "" {
		out["photo"] = map[string]any{"content_url": p}
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": out})
}

// SetPhoto gives agent a photo URL.
func (s *Server) SetPhoto(agent, photoURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.photos[s.agent(agent)] = photoURL
}

// Assign makes agent the ticket's assignee: agent_assignment_changed
// with event.current the agent's id.
func (s *Server) Assign(ticket int64, agent string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[ticket]
	if t == nil {
		return fmt.Errorf("no ticket %d", ticket)
	}
	id := s.agent(agent)
	var prev any
	if t.AssigneeID != nil {
		prev = strconv.FormatInt(*t.AssigneeID, 10)
	}
	t.AssigneeID = &id
	s.emit(t, EventAgentAssignmentChanged, map[string]any{"current": strconv.FormatInt(id, 10), "previous": prev})
	s.sig.Notify()
	return nil
}

// AgentReplyWith is agent's public reply with files.
func (s *Server) AgentReplyWith(ticket int64, agent, text string, files ...Attachment) (Comment, error) {
	c, err := s.agentComment(ticket, agent, text, true)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range files {
		files[i].ID = s.id()
	}
	for _, cc := range s.comments[ticket] {
		if cc.ID == c.ID {
			cc.Attachments = files
		}
	}
	c.Attachments = files
	return c, nil
}

// Uploads are the files uploaded and not yet attached.
func (s *Server) Uploads() []Attachment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Attachment
	for _, a := range s.uploads {
		out = append(out, a)
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullableID(id int64) any {
	if id == 0 {
		return nil
	}
	return strconv.FormatInt(id, 10)
}
