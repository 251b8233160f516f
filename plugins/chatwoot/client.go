package chatwoot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// client is a thin client of Chatwoot's application API, for one account.
// The token travels in the api_access_token header only, so it never shows
// in a URL, and so in no error.
type client struct {
	http  *http.Client
	base  string // .../api/v1/accounts/<id>
	token string
}

func newClient(hc *http.Client, baseURL string, account int64, token string) *client {
	return &client{
		http:  hc,
		base:  strings.TrimRight(baseURL, "/") + "/api/v1/accounts/" + strconv.FormatInt(account, 10),
		token: token,
	}
}

// apiError is a non-2xx answer of Chatwoot.
type apiError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("chatwoot: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// statusOf is the HTTP status of a Chatwoot error in err's chain, or 0.
func statusOf(err error) int {
	var e *apiError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// do sends one request and decodes a 2xx answer into out. Errors are
// classified for the host: 429 rate limited and 5xx retryable (both after
// Retry-After), 401/403 unauthorized, 404 not found, other 4xx permanent,
// transport failures retryable.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return sdk.Permanent(fmt.Errorf("chatwoot: encode %s %s: %w", method, path, err))
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return sdk.Permanent(fmt.Errorf("chatwoot: %s %s: %w", method, path, err))
	}
	req.Header.Set("api_access_token", c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("chatwoot: %s %s: %w", method, path, err), 0)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return sdk.Retryable(fmt.Errorf("chatwoot: %s %s: read answer: %w", method, path, err), 0)
	}
	if resp.StatusCode/100 != 2 {
		return classify(&apiError{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(raw)}, resp.Header.Get("Retry-After"))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return sdk.Retryable(fmt.Errorf("chatwoot: %s %s: unexpected answer: %w", method, path, err), 0)
	}
	return nil
}

func classify(e *apiError, retryAfter string) error {
	wait := parseRetryAfter(retryAfter, time.Now())
	switch {
	case e.Status == http.StatusTooManyRequests:
		return sdk.RateLimited(e, wait)
	case e.Status >= 500, e.Status == http.StatusRequestTimeout:
		return sdk.Retryable(e, wait)
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return &sdk.Error{Kind: sdk.KindUnauthorized, Err: e}
	case e.Status == http.StatusNotFound:
		return &sdk.Error{Kind: sdk.KindNotFound, Err: e}
	}
	return sdk.Permanent(e)
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when
// absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// errorMessage reads Chatwoot's error bodies: {"error": "..."},
// {"message": "...", "attributes": [...]}, {"errors": [...]}.
func errorMessage(raw []byte) string {
	var b struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
		Errors  []any  `json:"errors"`
	}
	if json.Unmarshal(raw, &b) != nil {
		s := strings.TrimSpace(string(raw))
		if len(s) > 200 || strings.HasPrefix(s, "<") {
			return ""
		}
		return s
	}
	switch {
	case b.Message != "":
		return b.Message
	case b.Error != nil:
		if s, ok := b.Error.(string); ok {
			return s
		}
		j, _ := json.Marshal(b.Error)
		return string(j)
	case len(b.Errors) > 0:
		parts := make([]string, 0, len(b.Errors))
		for _, e := range b.Errors {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// The resources, with the fields the plugin reads.

type inbox struct {
	ID                       int64  `json:"id"`
	Name                     string `json:"name"`
	ChannelType              string `json:"channel_type"`
	LockToSingleConversation bool   `json:"lock_to_single_conversation"`
}

type contactInbox struct {
	SourceID string `json:"source_id"`
	Inbox    *inbox `json:"inbox"`
}

type contact struct {
	ID             int64          `json:"id"`
	Name           string         `json:"name"`
	Email          string         `json:"email"`
	PhoneNumber    string         `json:"phone_number"`
	Identifier     string         `json:"identifier"`
	ContactInboxes []contactInbox `json:"contact_inboxes"`
}

type conversation struct {
	ID               int64          `json:"id"`
	InboxID          int64          `json:"inbox_id"`
	Status           string         `json:"status"`
	CustomAttributes map[string]any `json:"custom_attributes"`
}

type message struct {
	ID                int64          `json:"id"`
	Content           string         `json:"content"`
	MessageType       messageType    `json:"message_type"`
	Private           bool           `json:"private"`
	ContentAttributes map[string]any `json:"content_attributes"`
}

func (c *client) inboxes(ctx context.Context) ([]inbox, error) {
	var out struct {
		Payload []inbox `json:"payload"`
	}
	err := c.do(ctx, http.MethodGet, "/inboxes", nil, &out)
	return out.Payload, err
}

func (c *client) inbox(ctx context.Context, id int64) (inbox, error) {
	var out inbox
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/inboxes/%d", id), nil, &out)
	return out, err
}

func (c *client) createInbox(ctx context.Context, name string) (inbox, error) {
	var out inbox
	in := map[string]any{"name": name, "channel": map[string]any{"type": "api"}}
	err := c.do(ctx, http.MethodPost, "/inboxes", in, &out)
	return out, err
}

// searchContacts pages through GET /contacts/search?q= and returns the
// first contact that match accepts; Chatwoot's search matches substrings
// of names, emails, phone numbers and identifiers, so results are only
// candidates.
//
// A blank q is never sent: Chatwoot answers it 422.
func (c *client) searchContacts(ctx context.Context, q string, match func(contact) bool) (*contact, error) {
	if strings.TrimSpace(q) == "" {
		return nil, nil
	}
	const maxPages = 10
	for page := 1; page <= maxPages; page++ {
		var out struct {
			Meta struct {
				Count int `json:"count"`
			} `json:"meta"`
			Payload []contact `json:"payload"`
		}
		path := "/contacts/search?" + url.Values{"q": {q}, "page": {strconv.Itoa(page)}, "include_contact_inboxes": {"true"}}.Encode()
		if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
			return nil, fmt.Errorf("search contacts: %w", err)
		}
		for i := range out.Payload {
			if match(out.Payload[i]) {
				return &out.Payload[i], nil
			}
		}
		if len(out.Payload) == 0 {
			break
		}
	}
	return nil, nil
}

type newContact struct {
	InboxID          int64          `json:"inbox_id,omitempty"`
	Name             string         `json:"name,omitempty"`
	Email            string         `json:"email,omitempty"`
	PhoneNumber      string         `json:"phone_number,omitempty"`
	Identifier       string         `json:"identifier,omitempty"`
	CustomAttributes map[string]any `json:"custom_attributes,omitempty"`
}

func (c *client) createContact(ctx context.Context, in newContact) (contact, *contactInbox, error) {
	var out struct {
		Payload struct {
			Contact      contact       `json:"contact"`
			ContactInbox *contactInbox `json:"contact_inbox"`
		} `json:"payload"`
	}
	if err := c.do(ctx, http.MethodPost, "/contacts", in, &out); err != nil {
		return contact{}, nil, fmt.Errorf("create contact: %w", err)
	}
	return out.Payload.Contact, out.Payload.ContactInbox, nil
}

func (c *client) createContactInbox(ctx context.Context, contactID, inboxID int64) (contactInbox, error) {
	var out contactInbox
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/contacts/%d/contact_inboxes", contactID), map[string]any{"inbox_id": inboxID}, &out)
	if err != nil {
		return out, fmt.Errorf("create contact inbox: %w", err)
	}
	return out, nil
}

func (c *client) contactConversations(ctx context.Context, contactID int64) ([]conversation, error) {
	var out struct {
		Payload []conversation `json:"payload"`
	}
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/contacts/%d/conversations", contactID), nil, &out); err != nil {
		return nil, fmt.Errorf("list the contact's conversations: %w", err)
	}
	return out.Payload, nil
}

type newConversation struct {
	SourceID             string         `json:"source_id"`
	InboxID              int64          `json:"inbox_id"`
	ContactID            int64          `json:"contact_id"`
	Status               string         `json:"status"`
	CustomAttributes     map[string]any `json:"custom_attributes,omitempty"`
	AdditionalAttributes map[string]any `json:"additional_attributes,omitempty"`
}

func (c *client) createConversation(ctx context.Context, in newConversation) (conversation, error) {
	var out conversation
	if err := c.do(ctx, http.MethodPost, "/conversations", in, &out); err != nil {
		return out, fmt.Errorf("create conversation: %w", err)
	}
	return out, nil
}

// messages returns the latest page of a conversation's messages (Chatwoot
// answers the last 20).
func (c *client) messages(ctx context.Context, conv int64) ([]message, error) {
	var out struct {
		Payload []message `json:"payload"`
	}
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/conversations/%d/messages", conv), nil, &out); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out.Payload, nil
}

func (c *client) conversation(ctx context.Context, id int64) (conversation, error) {
	var out conversation
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/conversations/%d", id), nil, &out); err != nil {
		return out, fmt.Errorf("read the conversation: %w", err)
	}
	return out, nil
}

// pageAfter is how many messages Chatwoot answers at most for ?after=
// (MessageFinder#messages_after: limit 100).
const pageAfter = 100

// messagesAfter returns the conversation's messages with an id above
// after, oldest first, at most pageAfter of them: MessageFinder's
// messages_after (`after` alone; with `before` too it is another query,
// and with neither the latest 20).
func (c *client) messagesAfter(ctx context.Context, conv, after int64) ([]chatMessage, error) {
	var out struct {
		Payload []chatMessage `json:"payload"`
	}
	path := fmt.Sprintf("/conversations/%d/messages?after=%d", conv, after)
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out.Payload, nil
}

type newMessage struct {
	Content           string         `json:"content"`
	MessageType       string         `json:"message_type"`
	Private           bool           `json:"private"`
	ContentType       string         `json:"content_type"`
	ContentAttributes map[string]any `json:"content_attributes,omitempty"`
	EchoID            string         `json:"echo_id,omitempty"`
}

func (c *client) createMessage(ctx context.Context, conv int64, in newMessage) (message, error) {
	var out message
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/messages", conv), in, &out); err != nil {
		return out, fmt.Errorf("post message: %w", err)
	}
	return out, nil
}

func (c *client) toggleStatus(ctx context.Context, conv int64, status string) error {
	// Always with a status: without one, toggle_status flips open/resolved,
	// and a retried call would reopen what the first one resolved.
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/toggle_status", conv), map[string]any{"status": status}, nil); err != nil {
		return fmt.Errorf("set the conversation %s: %w", status, err)
	}
	return nil
}
