package fake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Routing, files and assignments (issue 17): tags (POST /tags creates or
// finds one by name; POST /conversations/{id}/tags attaches it),
// assignment parts (POST /conversations/{id}/parts, message_type
// assignment, type admin or team), contacts' files (attachment_files on a
// reply), admins with avatars (GET /admins/{id}), and the
// conversation.admin.assigned webhook.

func idOrNil(id string) any {
	if id == "" {
		return nil
	}
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return n
	}
	return id
}

func attachmentsJSON(as []Attachment) []any {
	out := []any{}
	for _, a := range as {
		out = append(out, map[string]any{"type": "upload", "name": a.Name, "url": a.URL, "content_type": a.ContentType, "filesize": a.Filesize,
			"width": nil, "height": nil})
	}
	return out
}

func (s *Server) tagsJSON(cv *Conversation) map[string]any {
	list := []any{}
	for _, name := range cv.Tags {
		list = append(list, map[string]any{"type": "tag", "id": s.tagID(name), "name": name})
	}
	return map[string]any{"type": "tag.list", "tags": list}
}

// tagID is a tag's id by name, created when new; the lock is held.
func (s *Server) tagID(name string) string {
	if s.tags == nil {
		s.tags = map[string]string{}
	}
	if id, ok := s.tags[name]; ok {
		return id
	}
	id := strconv.FormatInt(s.nextID()+7000000, 10)
	s.tags[name] = id
	return id
}

// createTag is POST /tags {name}: creates or finds the tag.
func (s *Server) createTag(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || strings.TrimSpace(in.Name) == "" {
		s.fail(w, http.StatusBadRequest, "parameter_not_found", "name is required")
		return
	}
	s.mu.Lock()
	id := s.tagID(in.Name)
	s.mu.Unlock()
	answer(w, http.StatusOK, map[string]any{"type": "tag", "id": id, "name": in.Name})
}

// tagConversation is POST /conversations/{id}/tags {id, admin_id}.
func (s *Server) tagConversation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID      string `json:"id"`
		AdminID string `json:"admin_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "Invalid JSON: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(r.PathValue("id"))
	if cv == nil {
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Conversation not found"))
		return
	}
	if _, ok := s.admins[in.AdminID]; !ok {
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Admin not found"))
		return
	}
	name := ""
	for n, id := range s.tags {
		if id == in.ID {
			name = n
		}
	}
	if name == "" {
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Tag not found"))
		return
	}
	found := false
	for _, t := range cv.Tags {
		found = found || t == name
	}
	if !found {
		cv.Tags = append(cv.Tags, name)
	}
	answer(w, http.StatusOK, map[string]any{"type": "tag", "id": in.ID, "name": name, "applied_at": s.now().Unix(),
		"applied_by": map[string]any{"type": "admin", "id": in.AdminID}})
}

// assign is an assignment part: to an admin or a team (assignee_id "0"
// unassigns); an admin's sends conversation.admin.assigned.
func (s *Server) assign(w http.ResponseWriter, r *http.Request, typ, adminID, assignee string) {
	if typ != "admin" && typ != "team" {
		s.fail(w, http.StatusBadRequest, "parameter_invalid", "type must be admin or team")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.conversation(r.PathValue("id"))
	name, ok := s.admins[adminID]
	switch {
	case cv == nil:
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Resource Not Found"))
		return
	case !ok:
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Admin Not Found"))
		return
	}
	p := s.assignPart(cv, adminID, name, typ, assignee)
	answer(w, http.StatusOK, s.conversationJSON(cv, []Part{p}))
}

// assignPart adds an assignment part; the lock is held.
func (s *Server) assignPart(cv *Conversation, byID, byName, typ, assignee string) Part {
	if assignee == "0" {
		assignee = ""
	}
	if typ == "team" {
		cv.TeamAssigneeID = assignee
	} else {
		cv.AdminAssigneeID = assignee
	}
	p := s.add(cv, Part{PartType: "assignment", Author: Author{Type: "admin", ID: byID, Name: byName, Email: strings.ToLower(byName) + "@acme.example"},
		AssignedTo: &Ref{Type: typ, ID: assignee}})
	if typ == "admin" && assignee != "" {
		s.emit("conversation.admin.assigned", cv, []Part{p})
	}
	return p
}

// getAdmin is GET /admins/{id}.
func (s *Server) getAdmin(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	name, ok := s.admins[id]
	if !ok {
		answer(w, http.StatusNotFound, s.errorBody("not_found", "Admin not found"))
		return
	}
	answer(w, http.StatusOK, map[string]any{"type": "admin", "id": id, "name": name, "email": strings.ToLower(name) + "@acme.example",
		"away_mode_enabled": false, "has_inbox_seat": true, "team_ids": []any{}, "avatar": nullable(s.avatars[id])})
}

// --- test API ---

// SetAvatar gives admin name an avatar URL.
func (s *Server) SetAvatar(name, url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.avatars == nil {
		s.avatars = map[string]string{}
	}
	s.avatars[s.adminID(name)] = url
}

// Assign makes admin name take the conversation (assigned to themselves).
func (s *Server) Assign(conv, name string) {
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake intercom: no conversation %s", conv)
	}
	id := s.adminID(name)
	s.assignPart(cv, id, name, "admin", id)
	s.mu.Unlock()
	s.sig.Notify()
}

// AgentReplyWith makes admin name reply with files.
func (s *Server) AgentReplyWith(conv, name, text string, files ...Attachment) Part {
	s.mu.Lock()
	cv := s.conversation(conv)
	if cv == nil {
		s.mu.Unlock()
		s.t.Fatalf("fake intercom: no conversation %s", conv)
	}
	id := s.adminID(name)
	for i := range files {
		files[i].Type = "upload"
	}
	p := s.add(cv, Part{PartType: "comment", Body: toHTML(text), Author: Author{Type: "admin", ID: id, Name: name, Email: strings.ToLower(name) + "@acme.example"},
		Attachments: files})
	s.emit("conversation.admin.replied", cv, []Part{p})
	s.mu.Unlock()
	s.sig.Notify()
	return p
}

// Files are the files of the contact's parts of a conversation.
func (s *Server) Files(conv string) []Attachment {
	cv, _ := s.Conversation(conv)
	var out []Attachment
	for _, p := range cv.Parts {
		if p.Author.Type == "user" || p.Author.Type == "lead" {
			out = append(out, p.Attachments...)
		}
	}
	return out
}
