package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
)

// webchatConfigProc starts livechatd with the bot "shop" on the webchat,
// with botBlocks in the bot and extra at the top of the file. No event
// reaches the bot: these tests use the widget, the page and uploads.
func webchatConfigProc(t *testing.T, botBlocks, extra string) *proc {
	t.Helper()
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/unused", "http://127.0.0.1:9/unused", "30m", extra)
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, "channel = \"webchat\"\n"+botBlocks, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, e)
}

// getBody GETs url and returns its status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// webIdentity gets a webchat user of bot shop and its token.
func webIdentity(t *testing.T, p *proc) (user, token string) {
	t.Helper()
	resp, err := http.Post(p.url+"/chat/shop/identity", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var id struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&id); err != nil || resp.StatusCode != 200 || id.Token == "" {
		t.Fatalf("identity: %d %v %+v", resp.StatusCode, err, id)
	}
	return id.UserID, id.Token
}

// uploadAs posts content as the form part "file" named name, as user.
func uploadAs(t *testing.T, p *proc, user, token, name string, content []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/bots/shop/users/"+user+"/uploads", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Livechat-User-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// apiError is the code, field and message of an error answer.
func apiError(out map[string]any) (code, field, message string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	message, _ = e["message"].(string)
	return code, field, message
}

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWebchatConfig: a bot's webchat block and the limits block's upload
// keys reach a real livechatd: widget.js and the page carry the configured
// title, colour and position; an upload larger than upload_bytes is
// refused with 413 too_large, one of a type not in upload_types with 415
// invalid, both on the field file; one within both is taken.
func TestWebchatConfig(t *testing.T) {
	p := webchatConfigProc(t, `
  webchat {
    title    = "Acme help"
    color    = "#0b7a53"
    position = "left"
  }`, `
limits {
  upload_bytes       = 2048
  uploads_per_minute = 5
  upload_types       = ["text/plain", "application/pdf"]
}`)

	status, js := getBody(t, p.url+"/chat/shop/widget.js")
	for _, want := range []string{`"title":"Acme help"`, `"color":"#0b7a53"`, `"position":"left"`} {
		if status != 200 || !strings.Contains(js, want) {
			t.Errorf("widget.js (%d) does not carry %s:\n%.400s", status, want, js)
		}
	}
	status, page := getBody(t, p.url+"/chat/shop")
	for _, want := range []string{`<title>Acme help</title>`, `data-color="#0b7a53"`, `data-upload-max="2048"`, `id="attach-input"`, `accept="text/plain,application/pdf"`} {
		if status != 200 || !strings.Contains(page, want) {
			t.Errorf("the chat page (%d) does not carry %s", status, want)
		}
	}

	user, token := webIdentity(t, p)
	status, out := uploadAs(t, p, user, token, "big.txt", bytes.Repeat([]byte("a"), 2049))
	if code, field, msg := apiError(out); status != 413 || code != "too_large" || field != "file" || !strings.Contains(msg, "2048 bytes") {
		t.Errorf("an upload over upload_bytes: %d %v, want 413 too_large on file", status, out)
	}
	status, out = uploadAs(t, p, user, token, "photo.png", tinyPNG(t))
	if code, field, msg := apiError(out); status != 415 || code != "invalid" || field != "file" || !strings.Contains(msg, "image/png") {
		t.Errorf("a PNG outside upload_types: %d %v, want 415 invalid on file", status, out)
	}
	status, out = uploadAs(t, p, user, token, "notes.txt", bytes.Repeat([]byte("a"), 2048))
	if status != 200 || out["mime"] != "text/plain" || out["size"] != float64(2048) {
		t.Errorf("a text file of exactly upload_bytes: %d %v", status, out)
	}
}

// TestWebchatConfigUploadsOff: upload_bytes = 0 turns uploads off: the
// page offers no attach button and the upload route answers 404
// not_found. Without a webchat block the widget has the defaults.
func TestWebchatConfigUploadsOff(t *testing.T) {
	p := webchatConfigProc(t, "", "limits {\n  upload_bytes = 0\n}")
	_, js := getBody(t, p.url+"/chat/shop/widget.js")
	if !strings.Contains(js, `"title":"Chat with shop"`) || !strings.Contains(js, `"position":"right"`) {
		t.Errorf("widget.js without a webchat block:\n%.400s", js)
	}
	if _, page := getBody(t, p.url+"/chat/shop"); strings.Contains(page, "attach-input") {
		t.Error("the page offers uploads with upload_bytes = 0")
	}
	user, token := webIdentity(t, p)
	status, out := uploadAs(t, p, user, token, "notes.txt", []byte("hello"))
	if code, _, _ := apiError(out); status != 404 || code != "not_found" {
		t.Errorf("an upload with upload_bytes = 0: %d %v, want 404 not_found", status, out)
	}
}

// TestWebchatConfigValidate: validate reports a bad webchat block and bad
// upload keys at their file:line:col, before any plugin starts.
func TestWebchatConfigValidate(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/unused", "30m", `
limits {
  upload_types = ["image/svg+xml"]
}`)
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, "channel = \"webchat\"\n  webchat { color = \"green\" }", 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	line := func(prefix string) int {
		for i, l := range strings.Split(cfg, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return i + 1
			}
		}
		t.Fatalf("no line %q", prefix)
		return 0
	}
	_, errOut, code := run(t, "validate", "-config", e.config)
	want := []string{
		fmt.Sprintf(`%s:%d:21: color in bot "shop" webchat must be #rgb or #rrggbb, got "green"`, e.config, line("webchat {")),
		fmt.Sprintf(`%s:%d:18: upload_types in limits: "image/svg+xml" is not a type livechatd recognizes in a file's content; accepted: "application/pdf", "image/gif", "image/jpeg", "image/png", "image/webp", "text/plain"`, e.config, line("upload_types")),
	}
	if code != 1 || strings.TrimSpace(errOut) != strings.Join(want, "\n") {
		t.Errorf("validate: exit %d\n%s\nwant:\n%s", code, errOut, strings.Join(want, "\n"))
	}
}
