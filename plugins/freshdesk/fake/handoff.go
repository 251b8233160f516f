package fake

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
)

// Files and assignments (issue 17): notes created as multipart with
// attachments[] (Freshdesk's way to attach files, 20 MB in all), files
// listed on conversations, agents' avatars, and tickets assigned to an
// agent (responder_id).

// maxAttachments is Freshdesk's limit on a conversation's files in all.
const maxAttachments = 20 << 20

// multipartNote reads a note sent as multipart/form-data: body, private,
// incoming, user_id fields, files in attachments[]. Unknown fields are
// refused as the JSON API refuses them.
func (s *Server) multipartNote(w http.ResponseWriter, r *http.Request) (noteIn, []Attachment, bool) {
	var in noteIn
	if err := r.ParseMultipartForm(maxAttachments + 1<<20); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_json", "message": "Request body has invalid format"})
		return in, nil, false
	}
	for k := range r.MultipartForm.Value {
		switch k {
		case "body", "private", "incoming", "user_id":
		default:
			validation(w, FieldError{Field: k, Message: "Unexpected/invalid field in request", Code: "invalid_field"})
			return in, nil, false
		}
	}
	val := func(k string) (string, bool) {
		v := r.MultipartForm.Value[k]
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if b, ok := val("body"); ok {
		in.Body = &b
	}
	for _, k := range []string{"private", "incoming"} {
		if v, ok := val(k); ok {
			bv := v == "true"
			if k == "private" {
				in.Private = &bv
			} else {
				in.Incoming = &bv
			}
		}
	}
	if v, ok := val("user_id"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			validation(w, FieldError{Field: "user_id", Message: "It should be a/an Positive Integer", Code: "datatype_mismatch"})
			return in, nil, false
		}
		in.UserID = &n
	}
	var files []Attachment
	var total int64
	for _, fh := range r.MultipartForm.File["attachments[]"] {
		f, err := fh.Open()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_value", "message": err.Error()})
			return in, nil, false
		}
		data, _ := io.ReadAll(f)
		f.Close()
		total += int64(len(data))
		s.mu.Lock()
		s.nextFile++
		id := s.nextFile
		s.mu.Unlock()
		files = append(files, Attachment{ID: id, Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Size: int64(len(data)), Data: data,
			AttachmentURL: fmt.Sprintf("https://s3.amazonaws.com/cdn.freshdesk.com/data/helpdesk/attachments/production/%d/original/%s", id, fh.Filename)})
	}
	if total > maxAttachments {
		validation(w, FieldError{Field: "attachments", Message: "The cumulative size of all attachments is above 20 MB", Code: "invalid_size"})
		return in, nil, false
	}
	return in, files, true
}

func avatarJSON(u string) any {
	if u == "" {
		return nil
	}
	return map[string]any{"attachment_url": u, "content_type": "image/png", "name": "avatar.png"}
}

// SetAvatar gives agent an avatar URL.
func (s *Server) SetAvatar(agent, avatarURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agent(agent).Avatar = avatarURL
}

// Assign makes agent the ticket's responder, as "Assign to agent" does;
// the rule's "Agent is updated" event fires.
func (s *Server) Assign(id int64, agent string) error {
	return s.do(id, func(t *ticket) {
		a := s.agent(agent).ID
		t.ResponderID = &a
		s.hooks.fire(t, "Agent is updated", true)
	})
}

// AgentReplyWith makes agent reply with files attached.
func (s *Server) AgentReplyWith(id int64, agent, text string, files ...Attachment) (Conversation, error) {
	var c Conversation
	err := s.do(id, func(t *ticket) {
		for i := range files {
			s.nextFile++
			files[i].ID = s.nextFile
		}
		c = s.addWith(t, ConvReply, "<div>"+html.EscapeString(text)+"</div>", s.agent(agent).ID, false, false, files)
	})
	return c, err
}

// Files are every file attached to the ticket's conversations.
func (s *Server) Files(id int64) []Attachment {
	var out []Attachment
	for _, c := range s.Conversations(id) {
		out = append(out, c.Attachments...)
	}
	return out
}
