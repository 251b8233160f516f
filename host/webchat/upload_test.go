package webchat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/webchat"
)

// uploader is a webchat with uploads on, served, and its upload dir.
func uploader(t *testing.T, opts ...webchat.Option) (*webchat.Channel, *httptest.Server, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "uploads")
	c := webchat.New(nil, map[string]string{"shop": "secret"}, nil, append([]webchat.Option{webchat.WithUploads(dir)}, opts...)...)
	return c, serve(t, c), dir
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postFile uploads content as the form part "file" named name.
func postFile(t *testing.T, srv *httptest.Server, user, token, name string, content []byte) (*http.Response, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/bots/shop/users/"+user+"/uploads", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("X-Livechat-User-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func errorOf(out map[string]any) (code, field string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// An image round trip: uploaded with the user's token, answered with an
// unguessable URL under the public URL, served back as the same bytes with
// a type that cannot run in livechatd's origin.
func TestUploadRoundTrip(t *testing.T) {
	c, srv, dir := uploader(t, webchat.WithPublicURL("https://chat.example.com/"))
	img := pngBytes(t)
	resp, out := postFile(t, srv, "u1", c.Token("shop", "u1"), "../../etc/receipt.png", img)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %v", resp.StatusCode, out)
	}
	u, _ := out["url"].(string)
	if !strings.HasPrefix(u, "https://chat.example.com/chat/files/") || !strings.HasSuffix(u, "/receipt.png") {
		t.Fatalf("url = %q, want one under the public URL ending in the file's own name", u)
	}
	id := strings.Split(strings.TrimPrefix(u, "https://chat.example.com/chat/files/"), "/")[0]
	if len(id) != 43 {
		t.Errorf("file id %q: want 43 base64url characters (256 random bits)", id)
	}
	if out["name"] != "receipt.png" || out["mime"] != "image/png" || out["size"] != float64(len(img)) {
		t.Errorf("answer = %v", out)
	}
	if _, err := os.Stat(filepath.Join(dir, id)); err != nil {
		t.Errorf("the file is not under the upload dir: %v", err)
	}

	get, err := http.Get(srv.URL + strings.TrimPrefix(u, "https://chat.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != http.StatusOK || !bytes.Equal(got, img) {
		t.Fatalf("GET the file: %d, %d bytes (want %d)", get.StatusCode, len(got), len(img))
	}
	for k, want := range map[string]string{
		"Content-Type":            "image/png",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Content-Disposition":     `inline; filename=receipt.png`,
	} {
		if got := get.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Another id, or a malformed one, is not found.
	for _, path := range []string{"/chat/files/" + strings.Repeat("A", 43) + "/x.png", "/chat/files/..%2f..%2fetc/x", "/chat/files/" + id + "x/receipt.png"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, r.StatusCode)
		}
	}
}

// Without a public URL, the URL is the address the page reached.
func TestUploadURLWithoutPublicURL(t *testing.T) {
	c, srv, _ := uploader(t, webchat.WithPublicURL("http://127.0.0.1:0")) // listen's any port: no address
	_, out := postFile(t, srv, "u1", c.Token("shop", "u1"), "notes.txt", []byte("my order number is 42\n"))
	if u, _ := out["url"].(string); !strings.HasPrefix(u, srv.URL+"/chat/files/") || out["mime"] != "text/plain" {
		t.Fatalf("answer = %v, want a URL under %s", out, srv.URL)
	}
	r, err := http.Get(out["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if cd := r.Header.Get("Content-Disposition"); cd != "attachment; filename=notes.txt" || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("a text file is served as %q, %q: want a download", r.Header.Get("Content-Type"), cd)
	}
}

// The limits: the token, the size, the types (sniffed, not claimed), the
// form, the rate; each refusal with its code and field.
func TestUploadLimits(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c, srv, dir := uploader(t, webchat.WithLimits(webchat.Limits{UploadBytes: 1000, UploadsPerMinute: 3}), webchat.WithClock(clock.Now))
	tok := c.Token("shop", "u1")
	cases := []struct {
		name, user, token, file string
		content                 []byte
		status                  int
		code, field             string
	}{
		{"no token", "u1", "", "a.txt", []byte("hi"), 401, "unauthorized", "X-Livechat-User-Token"},
		{"another user's token", "u2", tok, "a.txt", []byte("hi"), 401, "unauthorized", "X-Livechat-User-Token"},
		{"too large", "u1", tok, "big.txt", bytes.Repeat([]byte("a"), 1001), 413, "too_large", "file"},
		{"svg", "u1", tok, "x.png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 415, "invalid", "file"},
		{"html named .txt", "u1", tok, "x.txt", []byte("<html><script>alert(1)</script></html>"), 415, "invalid", "file"},
		{"empty", "u1", tok, "x.txt", nil, 400, "invalid", "file"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, token := tc.user, tc.token
			if token == tok { // each case its own user, under the rate
				user = fmt.Sprintf("case%d", i)
				token = c.Token("shop", user)
				if tc.user != "u1" {
					token = tok
				}
			}
			resp, out := postFile(t, srv, user, token, tc.file, tc.content)
			if code, field := errorOf(out); resp.StatusCode != tc.status || code != tc.code || field != tc.field {
				t.Errorf("%d %v, want %d %s (field %s)", resp.StatusCode, out, tc.status, tc.code, tc.field)
			}
		})
	}
	// Not a form.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/bots/shop/users/form/uploads", strings.NewReader("hi"))
	req.Header.Set("X-Livechat-User-Token", c.Token("shop", "form"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if code, field := errorOf(out); resp.StatusCode != 400 || code != "invalid" || field != "Content-Type" {
		t.Errorf("a body that is not a form: %d %v", resp.StatusCode, out)
	}
	// Exactly the limit is taken; nothing refused was kept.
	if resp, out := postFile(t, srv, "u2", c.Token("shop", "u2"), "ok.txt", bytes.Repeat([]byte("a"), 1000)); resp.StatusCode != 200 {
		t.Errorf("a file of exactly UploadBytes: %d %v", resp.StatusCode, out)
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 2 { // the file and its description
		t.Errorf("the upload dir holds %d files, want 2 (refused uploads leave nothing)", len(files))
	}
	// The rate: 3 a minute per user.
	u3 := c.Token("shop", "u3")
	for i := range 3 {
		if resp, out := postFile(t, srv, "u3", u3, "a.txt", []byte("hello")); resp.StatusCode != 200 {
			t.Fatalf("upload %d: %d %v", i+1, resp.StatusCode, out)
		}
	}
	resp, out = postFile(t, srv, "u3", u3, "a.txt", []byte("hello"))
	if code, field := errorOf(out); resp.StatusCode != 429 || code != "rate_limited" || field != "file" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a 4th upload in a minute: %d %v", resp.StatusCode, out)
	}
	clock.Advance(time.Minute)
	if resp, out := postFile(t, srv, "u3", u3, "a.txt", []byte("hello")); resp.StatusCode != 200 {
		t.Errorf("a minute later: %d %v", resp.StatusCode, out)
	}
}

// Without WithUploads the route is not found (and the page offers none).
func TestUploadsOff(t *testing.T) {
	c := webchat.New(nil, map[string]string{"shop": "secret"}, nil)
	srv := serve(t, c)
	resp, out := postFile(t, srv, "u1", c.Token("shop", "u1"), "a.txt", []byte("hi"))
	if code, _ := errorOf(out); resp.StatusCode != 404 || code != "not_found" {
		t.Errorf("upload without WithUploads: %d %v", resp.StatusCode, out)
	}
	page, err := http.Get(srv.URL + "/chat/shop")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if strings.Contains(string(b), "attach-input") {
		t.Error("the page offers uploads the webchat does not take")
	}
}

// PruneUploads removes the uploads older than its time, and their URLs
// are then not found; newer ones stay.
func TestPruneUploads(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c, srv, dir := uploader(t, webchat.WithClock(clock.Now))
	_, old := postFile(t, srv, "u1", c.Token("shop", "u1"), "old.txt", []byte("old"))
	clock.Advance(48 * time.Hour)
	_, recent := postFile(t, srv, "u1", c.Token("shop", "u1"), "new.txt", []byte("new"))
	n, err := c.PruneUploads(clock.Now().Add(-24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneUploads = %d, %v; want 1", n, err)
	}
	for url, want := range map[string]int{old["url"].(string): 404, recent["url"].(string): 200} {
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("GET %s after pruning: %d, want %d", url, r.StatusCode, want)
		}
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Errorf("the upload dir holds %d files, want 2 (the recent upload and its description)", len(files))
	}
	if n, err := webchat.New(nil, map[string]string{"shop": "s"}, nil).PruneUploads(clock.Now()); n != 0 || err != nil {
		t.Errorf("without uploads: %d, %v", n, err)
	}
}

// Limits.UploadTypes narrows the types taken: a PNG is refused with 415
// when only PDFs are, and the refusal names what is taken; a PDF goes in.
func TestUploadTypesLimit(t *testing.T) {
	c, srv, _ := uploader(t, webchat.WithLimits(webchat.Limits{UploadTypes: []string{"application/pdf"}}))
	resp, out := postFile(t, srv, "u1", c.Token("shop", "u1"), "a.png", pngBytes(t))
	code, field := errorOf(out)
	msg, _ := out["error"].(map[string]any)["message"].(string)
	if resp.StatusCode != 415 || code != "invalid" || field != "file" || !strings.Contains(msg, "image/png") || !strings.Contains(msg, "send a PDF") {
		t.Errorf("a PNG where only PDFs are taken: %d %v", resp.StatusCode, out)
	}
	if resp, out := postFile(t, srv, "u1", c.Token("shop", "u1"), "a.pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")); resp.StatusCode != 200 || out["mime"] != "application/pdf" {
		t.Errorf("a PDF: %d %v", resp.StatusCode, out)
	}
}

// PruneUploadDir prunes a directory no channel takes uploads into (uploads
// turned off since), and a missing one holds nothing.
func TestPruneUploadDir(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c, srv, dir := uploader(t, webchat.WithClock(clock.Now))
	postFile(t, srv, "u1", c.Token("shop", "u1"), "old.txt", []byte("old"))
	clock.Advance(48 * time.Hour)
	if n, err := webchat.PruneUploadDir(dir, clock.Now().Add(-24*time.Hour)); n != 1 || err != nil {
		t.Fatalf("PruneUploadDir = %d, %v; want 1", n, err)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("the upload dir still holds %d files", len(files))
	}
	if n, err := webchat.PruneUploadDir(filepath.Join(dir, "missing"), clock.Now()); n != 0 || err != nil {
		t.Errorf("a missing dir: %d, %v", n, err)
	}
}
