// Package handoff holds what the five provider plugins share for the
// handoff capabilities of issue 17 (docs/handoff.md): the end note of a
// max_wait end, the note a rating becomes, the link text of a file a
// platform cannot take, and a bounded download of a user's file with the
// multipart body that uploads it.
package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// NoAgentNote is the internal note a plugin leaves when the host ended a
// session for max_wait (sdk.EndMaxWait): nobody answered, the user did not
// leave.
const NoAgentNote = "No agent answered in time: the live chat session ended after the bot's maximum wait, and the user is back with the bot. Replies here no longer reach them."

// RatingNote is the internal note of a user's satisfaction rating.
func RatingNote(r sdk.RatingRequest) string {
	s := fmt.Sprintf("The customer rated this live chat %d/%d", r.Score, r.Scale)
	if l := strings.TrimSpace(r.Label); l != "" && l != strconv.Itoa(r.Score) {
		s += " (" + l + ")"
	}
	return s + "."
}

// LinkText is a file as text, for a platform that cannot take it:
// "<name>: <url>", or the URL alone.
func LinkText(a *sdk.Attachment) string {
	if a == nil {
		return ""
	}
	if n := strings.TrimSpace(a.Name); n != "" {
		return n + ": " + a.URL
	}
	return a.URL
}

// Limits bound a download.
type Limits struct {
	// MaxBytes is the largest file taken (default 10 MiB).
	MaxBytes int64
	// Timeout bounds the whole download (default 20s).
	Timeout time.Duration
}

func (l Limits) orDefault() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 10 << 20
	}
	if l.Timeout <= 0 {
		l.Timeout = 20 * time.Second
	}
	return l
}

// File is a downloaded file.
type File struct {
	Name string
	MIME string
	Data []byte
}

// ErrTooLarge is a file over Limits.MaxBytes.
var ErrTooLarge = errors.New("file too large")

// Download fetches a user's file, bounded in size and time. Its errors
// never carry the URL's query (a signed URL's signature). A file over the
// limit, a 4xx or a URL that is not http(s) is sdk.Permanent; a network
// error, a timeout or a 5xx is retryable.
func Download(ctx context.Context, hc *http.Client, a *sdk.Attachment, lim Limits) (File, error) {
	lim = lim.orDefault()
	if a == nil {
		return File{}, sdk.Permanent(errors.New("attachment: none"))
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return File{}, sdk.Permanent(errors.New("attachment.url: not an absolute http(s) URL"))
	}
	shown := u.Scheme + "://" + u.Host + u.Path
	if u.User != nil {
		return File{}, sdk.Permanent(errors.New("attachment.url: credentials in the URL are not taken"))
	}
	if err := reachable(ctx, u.Hostname()); err != nil {
		return File{}, sdk.Permanent(fmt.Errorf("attachment.url %s: %w", shown, err))
	}
	if a.Size > lim.MaxBytes {
		return File{}, sdk.Permanent(fmt.Errorf("attachment %s: %d bytes: %w (at most %d)", shown, a.Size, ErrTooLarge, lim.MaxBytes))
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return File{}, sdk.Permanent(fmt.Errorf("attachment %s: %v", shown, err))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return File{}, sdk.Retryable(fmt.Errorf("download attachment %s: %s", shown, cause(err)), 0)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return File{}, sdk.Retryable(fmt.Errorf("download attachment %s: %s", shown, resp.Status), 0)
	case resp.StatusCode != http.StatusOK:
		return File{}, sdk.Permanent(fmt.Errorf("download attachment %s: %s", shown, resp.Status))
	}
	if resp.ContentLength > lim.MaxBytes {
		return File{}, sdk.Permanent(fmt.Errorf("attachment %s: %d bytes: %w (at most %d)", shown, resp.ContentLength, ErrTooLarge, lim.MaxBytes))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, lim.MaxBytes+1))
	if err != nil {
		return File{}, sdk.Retryable(fmt.Errorf("download attachment %s: %s", shown, cause(err)), 0)
	}
	if int64(len(data)) > lim.MaxBytes {
		return File{}, sdk.Permanent(fmt.Errorf("attachment %s: over %d bytes: %w", shown, lim.MaxBytes, ErrTooLarge))
	}
	f := File{Name: cleanName(a.Name), MIME: a.MIME, Data: data}
	if f.Name == "" {
		f.Name = cleanName(path.Base(u.Path))
	}
	if f.Name == "" || f.Name == "." || f.Name == "/" {
		f.Name = "attachment"
	}
	if f.MIME == "" {
		if ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
			f.MIME = ct
		}
	}
	if f.MIME == "" {
		f.MIME = http.DetectContentType(data)
		if ct, _, err := mime.ParseMediaType(f.MIME); err == nil {
			f.MIME = ct
		}
	}
	return f, nil
}

// reachable refuses a host that is, or resolves to, a link-local,
// multicast or unspecified address: a user's file URL must not make the
// plugin fetch a cloud metadata service (169.254.169.254) and hand its
// answer to the platform. Loopback and private addresses stay allowed (a
// livechatd on the same host or network serves the webchat's uploads).
func reachable(ctx context.Context, host string) error {
	bad := func(ip net.IP) bool {
		return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
	}
	if ip := net.ParseIP(host); ip != nil {
		if bad(ip) {
			return errors.New("a link-local, multicast or unspecified address is not fetched")
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil // the download reports it
	}
	for _, a := range addrs {
		if bad(a.IP) {
			return errors.New("the host resolves to a link-local, multicast or unspecified address, which is not fetched")
		}
	}
	return nil
}

// cause is a transport error without the URL (url.Error repeats it, query
// included).
func cause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// cleanName keeps a file name safe for a form: no directory, no quote, no
// control character.
func cleanName(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	s = path.Base(strings.ReplaceAll(strings.TrimSpace(s), "\\", "/"))
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, s)
}

// Form is a multipart/form-data body under construction.
type Form struct {
	buf bytes.Buffer
	w   *multipart.Writer
	err error
}

// NewForm starts a form.
func NewForm() *Form {
	f := &Form{}
	f.w = multipart.NewWriter(&f.buf)
	return f
}

// Field adds a text field.
func (f *Form) Field(name, value string) *Form {
	if f.err == nil {
		f.err = f.w.WriteField(name, value)
	}
	return f
}

// File adds a file field.
func (f *Form) File(field string, file File) *Form {
	if f.err != nil {
		return f
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, file.Name))
	ct := file.MIME
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	pw, err := f.w.CreatePart(h)
	if err == nil {
		_, err = pw.Write(file.Data)
	}
	f.err = err
	return f
}

// Body closes the form and returns it with its Content-Type.
func (f *Form) Body() ([]byte, string, error) {
	if f.err != nil {
		return nil, "", f.err
	}
	if err := f.w.Close(); err != nil {
		return nil, "", err
	}
	return f.buf.Bytes(), f.w.FormDataContentType(), nil
}

// Post sends a multipart body to a platform and decodes a 2xx answer into
// out (when not nil), classifying failures as platform.Client does: 429
// rate limited after its Retry-After, 5xx and transport failures
// retryable, 401/403 unauthorized, 404 not found, other 4xx permanent
// with the platform's message. auth sets the credentials; name prefixes
// errors; the query and the credentials never appear in one.
func Post(ctx context.Context, hc *http.Client, name, rawURL string, auth func(*http.Request), body []byte, contentType string, out any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return sdk.Permanent(fmt.Errorf("%s: bad URL", name))
	}
	where := fmt.Sprintf("%s: POST %s", name, u.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return sdk.Permanent(fmt.Errorf("%s: %v", where, err))
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	if auth != nil {
		auth(req)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("%s: %s", where, cause(err)), 0)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return sdk.Retryable(fmt.Errorf("%s: read the answer: %s", where, cause(err)), 0)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return sdk.Retryable(fmt.Errorf("%s: decode the answer: %v", where, err), 0)
		}
		return nil
	}
	msg := strings.TrimSpace(platform.ErrorMessage(b))
	apiErr := fmt.Errorf("%s: %s", where, resp.Status)
	if msg != "" {
		apiErr = fmt.Errorf("%s: %s: %s", where, resp.Status, oneLine(msg))
	}
	after, _ := platform.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return sdk.RateLimited(apiErr, after)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return sdk.Retryable(apiErr, after)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &sdk.Error{Kind: sdk.KindUnauthorized, Err: apiErr}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return &sdk.Error{Kind: sdk.KindNotFound, Err: apiErr}
	}
	return sdk.Permanent(apiErr)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
