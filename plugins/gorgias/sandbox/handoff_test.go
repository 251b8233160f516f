package sandbox_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// TestUploadAndServe: POST /api/upload takes a multipart file and answers
// its URL, name, size and type; the URL serves the file; no file is a 400;
// the call needs the API's credentials.
func TestUploadAndServe(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "receipt.txt")
	_, _ = fw.Write([]byte("the receipt"))
	_ = mw.Close()
	upload := func(auth bool, body []byte, ctype string) response {
		return e.do(t, http.MethodPost, "/api/upload?type=attachment", string(body), func(r *http.Request) {
			r.Header.Set("Content-Type", ctype)
			if auth {
				r.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
			}
		})
	}
	mustStatus(t, upload(false, buf.Bytes(), mw.FormDataContentType()), http.StatusUnauthorized)
	r := upload(true, buf.Bytes(), mw.FormDataContentType())
	mustStatus(t, r, http.StatusOK)
	var got []sandbox.Attachment
	r.Decode(t, &got)
	if len(got) != 1 || got[0].Name != "receipt.txt" || got[0].Size != 11 || got[0].URL == "" {
		t.Fatalf("upload answer %+v", got)
	}
	resp, err := http.Get(got[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != "the receipt" {
		t.Errorf("served %q", data)
	}
	var empty bytes.Buffer
	ew := multipart.NewWriter(&empty)
	_ = ew.WriteField("type", "attachment")
	_ = ew.Close()
	mustStatus(t, upload(true, empty.Bytes(), ew.FormDataContentType()), http.StatusBadRequest)
	if n := len(e.Files()); n != 1 {
		t.Errorf("%d files", n)
	}
}

// TestAssign: an agent assigning a ticket fires ticket-assignment-updated
// then ticket-updated, and the ticket shows the assignee.
func TestAssign(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tk := e.createTicket(t, "jane@example.com", "s1", "help")
	before := len(e.Events())
	got, err := e.Assign(tk.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.AssigneeUser == nil || string(got.AssigneeUser.Name) != sandbox.DefaultAgentName {
		t.Errorf("assignee %+v", got.AssigneeUser)
	}
	evs := e.Events()[before:]
	if len(evs) != 2 || evs[0].Type != "ticket-assignment-updated" || evs[1].Type != "ticket-updated" {
		t.Errorf("events %+v", evs)
	}
	if _, err := e.ReplyWith(tk.ID, "", "", sandbox.Attachment{URL: "https://x/y.png", Name: "y.png", ContentType: "image/png", Size: 3}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := e.Messages(tk.ID)
	if last := msgs[len(msgs)-1]; len(last.Attachments) != 1 {
		t.Errorf("reply attachments %+v", last.Attachments)
	}
}
