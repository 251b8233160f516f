package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
)

// Files and assignments (issue 17): POST /api/upload takes files and
// answers their URLs, which messages then carry in "attachments"; the
// files are served at those URLs. An agent assigning a ticket fires
// ticket-assignment-updated then ticket-updated; an agent's reply may
// carry files.

// File is an uploaded file.
type File struct {
	ID          int64
	Name        string
	ContentType string
	Data        []byte
	URL         string
}

// Attachment is a message's file as Gorgias renders it.
type Attachment struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
}

func (s *Sandbox) registerUploads(r *mux.Router) {
	r.HandleFunc("/api/upload", s.postUpload).Methods(http.MethodPost)
}

// postUpload is POST /api/upload?type=attachment: multipart files (any
// field name), answered 200 with a list of {url, name, size,
// content_type}; no file is a 400.
func (s *Sandbox) postUpload(w http.ResponseWriter, r *http.Request) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		writeJSON(w, http.StatusBadRequest, errorBody("Failed to upload files.", map[string][]string{"file": {"Missing data for required field."}}))
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var out []Attachment
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody("Failed to upload files.", nil))
			return
		}
		if part.FileName() == "" {
			continue
		}
		data, err := io.ReadAll(part)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody("Failed to upload files.", nil))
			return
		}
		ct := part.Header.Get("Content-Type")
		if ct == "" {
			ct = http.DetectContentType(data)
		}
		s.mu.Lock()
		f := &File{ID: s.id("upload"), Name: part.FileName(), ContentType: ct, Data: data}
		f.URL = fmt.Sprintf("%s/uploads/%d/%s", s.url, f.ID, url.PathEscape(f.Name))
		s.files = append(s.files, f)
		s.mu.Unlock()
		out = append(out, Attachment{URL: f.URL, Name: f.Name, Size: int64(len(data)), ContentType: ct})
	}
	if len(out) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody("Failed to upload files.", map[string][]string{"file": {"Missing data for required field."}}))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) getUpload(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "id")
	s.mu.Lock()
	var f *File
	for _, x := range s.files {
		if x.ID == id {
			f = x
		}
	}
	s.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.ContentType)
	http.ServeContent(w, r, f.Name, s.now(), bytes.NewReader(f.Data))
}

// Files are the files uploaded so far.
func (s *Sandbox) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, *f)
	}
	return out
}

// Assign assigns the ticket to agent (a name or an email; "" is the
// default agent), as an agent does in the helpdesk: ticket-assignment-updated,
// then ticket-updated.
func (s *Sandbox) Assign(ticketID int64, agent string) (Ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Ticket{}, err
	}
	u := s.agent(agent)
	id := u.ID
	t.AssigneeUser, t.AssigneeUserID = userPerson(u), &id
	t.UpdatedDatetime = Time{s.now().UTC()}
	s.emit(TriggerTicketAssignmentUpdated, t, nil, u)
	s.emit(TriggerTicketUpdated, t, nil, u)
	s.touch()
	return s.ticketView(t, false), nil
}

// ReplyWith sends a public reply as agent with files attached.
func (s *Sandbox) ReplyWith(ticketID int64, agent, text string, files ...Attachment) (Message, error) {
	if strings.TrimSpace(text) == "" && len(files) == 0 {
		return Message{}, invalid("Failed to create message", "body_text", "Shorter than minimum length 1.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.agentTicket(ticketID)
	if err != nil {
		return Message{}, err
	}
	user := s.agent(agent)
	in := messageInput{channel: t.Channel, via: "helpdesk", fromAgent: true, bodyText: text, hasText: true,
		sender: ref{id: user.ID, hasID: true}, hasSender: true}
	for _, f := range files {
		in.attachments = append(in.attachments, map[string]any{"url": f.URL, "name": f.Name, "size": f.Size, "content_type": f.ContentType})
	}
	m := s.newMessage(t, in, user)
	s.emit(TriggerTicketMessageCreated, t, m, user)
	s.touch()
	return messageView(m), nil
}
