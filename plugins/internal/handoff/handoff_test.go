package handoff

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

func TestDownloadBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nabc"))
		case "/big":
			_, _ = w.Write(make([]byte, 2048))
		case "/slow":
			<-release
		case "/gone":
			http.Error(w, "gone", http.StatusNotFound)
		default:
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx := context.Background()

	f, err := Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/a.png?sig=secret"}, Limits{MaxBytes: 1024})
	if err != nil || f.Name != "a.png" || f.MIME != "image/png" || len(f.Data) != 11 {
		t.Fatalf("download: %+v %v", f, err)
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/big"}, Limits{MaxBytes: 1024})
	if !errors.Is(err, ErrTooLarge) || sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("too large: %v (kind %v)", err, sdk.KindOf(err))
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/a.png", Size: 5000}, Limits{MaxBytes: 1024})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("declared too large: %v", err)
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/slow?sig=secret"}, Limits{Timeout: 50 * time.Millisecond})
	if err == nil || sdk.KindOf(err) != sdk.KindUnavailable || strings.Contains(err.Error(), "secret") {
		t.Errorf("slow: %v", err)
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/gone"}, Limits{})
	if sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("404: %v", err)
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: srv.URL + "/x"}, Limits{})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("502: %v", err)
	}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/x", "http://0.0.0.0/x", "http://user:pw@files.example/x"} {
		if _, err := Download(ctx, srv.Client(), &sdk.Attachment{URL: u}, Limits{}); sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), "attachment.url") {
			t.Errorf("%s: %v", u, err)
		}
	}
	_, err = Download(ctx, srv.Client(), &sdk.Attachment{URL: "file:///etc/passwd"}, Limits{})
	if sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), "attachment.url") {
		t.Errorf("file URL: %v", err)
	}
}

func TestFormAndPost(t *testing.T) {
	var got struct{ content, name, ctype, data string }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "k" {
			http.Error(w, `{"error":"Invalid Access Token"}`, http.StatusUnauthorized)
			return
		}
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "content" {
				got.content = string(b)
			} else {
				got.name, got.ctype, got.data = p.FileName(), p.Header.Get("Content-Type"), string(b)
			}
		}
		_, _ = w.Write([]byte(`{"id": 7}`))
	}))
	defer srv.Close()
	body, ct, err := NewForm().Field("content", "hi").File("attachments[]", File{Name: "a\".png", MIME: "image/png", Data: []byte("xyz")}).Body()
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ ID int }
	auth := func(r *http.Request) { r.Header.Set("X-Key", "k") }
	if err := Post(context.Background(), srv.Client(), "acme", srv.URL+"/m", auth, body, ct, &out); err != nil || out.ID != 7 {
		t.Fatalf("post: %v %+v", err, out)
	}
	if got.content != "hi" || got.ctype != "image/png" || got.data != "xyz" {
		t.Errorf("server got %+v", got)
	}
	err = Post(context.Background(), srv.Client(), "acme", srv.URL+"/m", nil, body, ct, nil)
	if sdk.KindOf(err) != sdk.KindUnauthorized || !strings.Contains(err.Error(), "Invalid Access Token") {
		t.Errorf("401: %v", err)
	}
}

func TestNotes(t *testing.T) {
	if got := RatingNote(sdk.RatingRequest{Score: 4, Scale: 5, Label: "Good"}); got != "The customer rated this live chat 4/5 (Good)." {
		t.Errorf("rating note %q", got)
	}
	if got := RatingNote(sdk.RatingRequest{Score: 2, Scale: 5, Label: "2"}); got != "The customer rated this live chat 2/5." {
		t.Errorf("rating note %q", got)
	}
	if got := LinkText(&sdk.Attachment{URL: "https://x/y.pdf", Name: "y.pdf"}); got != "y.pdf: https://x/y.pdf" {
		t.Errorf("link %q", got)
	}
	if !strings.HasPrefix(NoAgentNote, "No agent answered in time") {
		t.Error(NoAgentNote)
	}
}
