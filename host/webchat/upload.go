package webchat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/webchat/rules"
)

// Uploads: a webchat user attaches an image or a file with
// POST /v1/bots/{bot}/users/{user}/uploads (multipart/form-data, one part
// named "file", the user's token in X-Livechat-User-Token as for their
// events). livechatd keeps it under the upload directory and answers its
// URL, /chat/files/{id}/{name}, where id is 256 random bits: anyone with
// the URL can read the file (the agent's platform fetches it), no one can
// guess it. The page then sends an image or file event with content.url.
const (
	// DefaultUploadBytes is the largest upload (Limits.UploadBytes).
	DefaultUploadBytes = 10 << 20
	// DefaultUploadsPerMinute is how many uploads one user may make per
	// minute (Limits.UploadsPerMinute).
	DefaultUploadsPerMinute = 10
	// maxUploadName bounds a kept file name, in bytes.
	maxUploadName = 200
)

// UploadTypes are the types an upload may have, as livechatd sniffs them
// from the file's first bytes (the type the browser claims is not
// trusted): images, PDF and plain text. SVG is not an image here: it can
// carry scripts. Limits.UploadTypes narrows them.
var UploadTypes = rules.UploadTypes

// Upload is what POST …/uploads answers, and what is kept beside the file.
type Upload struct {
	// URL is where the file is served: under the public URL when
	// livechatd has one (WithPublicURL), otherwise under the address the
	// page reached.
	URL  string `json:"url"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	MIME string `json:"mime"`
}

// meta is what is kept beside an uploaded file.
type meta struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	MIME    string    `json:"mime"`
	Bot     string    `json:"bot"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
}

type uploads struct {
	dir   string
	limit *rateLimiter
}

// WithUploads lets the webchat's users upload files, kept in dir (created
// when missing, mode 0700). Without it the upload route answers 404.
func WithUploads(dir string) Option {
	return func(c *Channel) { c.uploads = &uploads{dir: dir} }
}

// WithPublicURL is the base URL the platforms reach livechatd at: the URLs
// of uploads are made with it, so that an agent's platform can fetch them.
// One with port 0 (listen's "any port", which config makes the default
// public URL of) is no address: the page's own is used instead.
func WithPublicURL(u string) Option {
	return func(c *Channel) {
		if p, err := url.Parse(u); err != nil || p.Host == "" || p.Port() == "0" {
			return
		}
		c.publicURL = strings.TrimRight(u, "/")
	}
}

var fileID = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// upload: POST /v1/bots/{bot}/users/{user}/uploads.
func (c *Channel) upload(w http.ResponseWriter, r *http.Request) {
	bot, user := mux.Vars(r)["bot"], mux.Vars(r)["user"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	if c.uploads == nil {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, "this webchat takes no uploads")
		return
	}
	if !c.Verify(bot, user, r.Header.Get("X-Livechat-User-Token")) {
		writeFieldError(w, http.StatusUnauthorized, host.EUNAUTHORIZED, "X-Livechat-User-Token", "an upload needs its user's token (X-Livechat-User-Token)")
		return
	}
	if ok, wait := c.uploads.limit.allow(streamKey(bot, user)); !ok {
		c.metrics.refused.WithLabelValues("uploads").Inc()
		tooMany(w, wait, "file", "too many uploads: retry later")
		return
	}
	max := int64(c.limits.UploadBytes)
	if r.ContentLength > max+64<<10 {
		writeFieldError(w, http.StatusRequestEntityTooLarge, host.ETOOLARGE, "file", fmt.Sprintf("the file is larger than %d bytes", max))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, max+64<<10) // the file and the form around it
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		writeFieldError(w, http.StatusBadRequest, host.EINVALID, "Content-Type", "an upload is multipart/form-data with a part named file")
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			if errors.Is(err, io.EOF) {
				writeFieldError(w, http.StatusBadRequest, host.EINVALID, "file", "the form has no part named file")
			} else {
				c.bodyError(w, err)
			}
			return
		}
		if part.FormName() != "file" {
			_ = part.Close()
			continue
		}
		up, err := c.keep(bot, user, part, max, baseURL(c.publicURL, r))
		_ = part.Close()
		if err != nil {
			c.bodyError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, up)
		return
	}
}

// uploadError is a refusal of the file itself.
type uploadError struct {
	status     int
	code, text string
}

func (e *uploadError) Error() string { return e.text }

// bodyError answers a failure to read or keep an upload.
func (c *Channel) bodyError(w http.ResponseWriter, err error) {
	var ue *uploadError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ue):
		writeFieldError(w, ue.status, ue.code, "file", ue.text)
	case errors.As(err, &mbe):
		writeFieldError(w, http.StatusRequestEntityTooLarge, host.ETOOLARGE, "file", fmt.Sprintf("the file is larger than %d bytes", c.limits.UploadBytes))
	default:
		c.lg.Error("webchat upload", "error", err)
		writeError(w, http.StatusInternalServerError, host.EINTERNAL, "the upload could not be kept")
	}
}

// keep writes the part under the upload directory, within max bytes and
// the accepted types, and returns its URL.
func (c *Channel) keep(bot, user string, part *multipart.Part, max int64, base string) (*Upload, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = head[:n]
	if n == 0 {
		return nil, &uploadError{http.StatusBadRequest, host.EINVALID, "the file is empty"}
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	ext, ok := UploadTypes[sniffed]
	ok = ok && slices.Contains(c.takenTypes(), sniffed)
	if !ok {
		return nil, &uploadError{http.StatusUnsupportedMediaType, host.EINVALID,
			fmt.Sprintf("files of type %s are not taken: send %s", sniffed, c.acceptedTypes())}
	}
	if err := os.MkdirAll(c.uploads.dir, 0o700); err != nil {
		return nil, err
	}
	id := newFileID()
	tmp, err := os.CreateTemp(c.uploads.dir, ".upload-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	size, err := io.Copy(tmp, io.LimitReader(io.MultiReader(bytes.NewReader(head), part), max+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if size > max {
		return nil, &uploadError{http.StatusRequestEntityTooLarge, host.ETOOLARGE, fmt.Sprintf("the file is larger than %d bytes", max)}
	}
	name := cleanName(part.FileName(), ext)
	m := meta{Name: name, Size: size, MIME: sniffed, Bot: bot, User: user, Created: c.now().UTC()}
	metaPath := filepath.Join(c.uploads.dir, id+".json")
	if err := os.WriteFile(metaPath, mustJSON(m), 0o600); err != nil {
		return nil, err
	}
	// The description's mtime is the upload's time, which lets pruning
	// pass over newer uploads without reading them.
	if err := os.Chtimes(metaPath, m.Created, m.Created); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(c.uploads.dir, id)); err != nil {
		return nil, err
	}
	return &Upload{URL: base + "/chat/files/" + id + "/" + url.PathEscape(name), Name: name, Size: size, MIME: sniffed}, nil
}

// takenTypes are the types an upload may have here, in the order given:
// Limits.UploadTypes, or every one of UploadTypes.
func (c *Channel) takenTypes() []string {
	if len(c.limits.UploadTypes) > 0 {
		return c.limits.UploadTypes
	}
	return rules.UploadTypeNames()
}

// acceptedTypes names the types the webchat takes, for a refusal.
func (c *Channel) acceptedTypes() string {
	names := map[string]string{"image/png": "a PNG", "image/jpeg": "a JPEG", "image/gif": "a GIF",
		"image/webp": "a WebP image", "application/pdf": "a PDF", "text/plain": "plain text"}
	var out []string
	for _, t := range c.takenTypes() {
		if n, ok := names[t]; ok {
			out = append(out, n)
		} else {
			out = append(out, t)
		}
	}
	switch len(out) {
	case 0:
		return "nothing"
	case 1:
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " or " + out[len(out)-1]
}

func newFileID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cleanName is the file's own name without any directory, control
// characters or quotes, at most maxUploadName bytes; "file" plus the
// type's extension when nothing is left.
func cleanName(name, ext string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > maxUploadName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "file" + ext
	}
	return name
}

// baseURL is where livechatd's URLs start: the public URL, or the scheme
// and host the request reached.
func baseURL(public string, r *http.Request) string {
	if public != "" {
		return public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// file: GET /chat/files/{id}/{name}: an upload, by its unguessable id.
// Images are shown inline; anything else is a download. Nothing served
// here can run a script in livechatd's origin.
func (c *Channel) file(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if c.uploads == nil || !fileID.MatchString(id) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, "no such file")
		return
	}
	b, err := os.ReadFile(filepath.Join(c.uploads.dir, id+".json"))
	var m meta
	if err != nil || json.Unmarshal(b, &m) != nil {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, "no such file")
		return
	}
	f, err := os.Open(filepath.Join(c.uploads.dir, id))
	if err != nil {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, "no such file")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", m.MIME)
	if m.MIME == "text/plain" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	disposition := "attachment"
	if strings.HasPrefix(m.MIME, "image/") {
		disposition = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": m.Name}))
	http.ServeContent(w, r, "", m.Created, f)
}

func writeFieldError(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
}

// PruneUploads removes the uploads made before before, with what is kept
// beside them, and returns how many it removed: the retention of uploads
// (a retention job calls it; nothing does by itself). An upload being
// written is never touched.
func (c *Channel) PruneUploads(before time.Time) (int, error) {
	if c.uploads == nil {
		return 0, nil
	}
	return PruneUploadDir(c.uploads.dir, before)
}

// PruneUploadDir is PruneUploads for the upload directory dir, whether a
// channel takes uploads into it now or not: files uploaded before uploads
// were turned off still age out. A missing dir holds nothing.
func PruneUploadDir(dir string, before time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("webchat uploads: %w", err)
	}
	n := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !fileID.MatchString(id) {
			continue
		}
		// keep sets a description's mtime to the upload's time: a newer
		// one is not read (a copy that reset mtimes only keeps files
		// longer; an older mtime is checked against what the file says).
		if info, err := e.Info(); err == nil && !info.ModTime().Before(before) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		var m meta
		if err != nil || json.Unmarshal(b, &m) != nil || !m.Created.Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("webchat uploads: %w", err)
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("webchat uploads: %w", err)
		}
		n++
	}
	return n, nil
}
