package chatwoot

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// client is Chatwoot's application API for one account, on the SDK's
// platform client: statuses classified for the host (429 rate limited and
// 5xx retryable, both after Retry-After; 401/403 unauthorized; 404 not
// found; other 4xx permanent with Chatwoot's message), transport failures
// retryable, nothing retried inside a call. The token travels in the
// api_access_token header only and is redacted from every error, as is
// any query (a contact search carries the user's email or phone).
type client struct {
	*platform.Client
}

func newClient(hc *http.Client, baseURL string, account int64, token string) (*client, error) {
	api, err := platform.New(platform.Options{
		Name:       "chatwoot",
		BaseURL:    strings.TrimRight(baseURL, "/") + "/api/v1/accounts/" + strconv.FormatInt(account, 10),
		Auth:       platform.HeaderAuth("api_access_token", token),
		HTTPClient: hc,
		MaxBody:    4 << 20,
		// Chatwoot's 429 (Rack::Attack) has no Retry-After: the host's
		// backoff decides, and pauses the bot's reads.
		DefaultRetryAfter: platform.NoRetryAfter,
	})
	return &client{Client: api}, err
}

// The resources, with the fields the plugin reads.

type inbox struct {
	ID                       int64  `json:"id"`
	Name                     string `json:"name"`
	ChannelType              string `json:"channel_type"`
	LockToSingleConversation bool   `json:"lock_to_single_conversation"`
	// InboxIdentifier is an API inbox's identifier in the public
	// (client) API's URLs.
	InboxIdentifier string `json:"inbox_identifier"`
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
	ContactInbox     *struct {
		SourceID string `json:"source_id"`
	} `json:"contact_inbox"`
	Meta struct {
		Assignee *agent `json:"assignee"`
	} `json:"meta"`
}

// agent is a user's push_event_data: the conversation's meta.assignee.
type agent struct {
	ID            flexInt    `json:"id"`
	Name          flexString `json:"name"`
	AvailableName flexString `json:"available_name"`
	AvatarURL     flexString `json:"avatar_url"`
	Type          flexString `json:"type"`
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
	err := c.Do(ctx, http.MethodGet, "/inboxes", nil, nil, &out)
	return out.Payload, err
}

func (c *client) inbox(ctx context.Context, id int64) (inbox, error) {
	var out inbox
	err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/inboxes/%d", id), nil, nil, &out)
	return out, err
}

func (c *client) createInbox(ctx context.Context, name string) (inbox, error) {
	var out inbox
	in := map[string]any{"name": name, "channel": map[string]any{"type": "api"}}
	err := c.Do(ctx, http.MethodPost, "/inboxes", nil, in, &out)
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
		query := url.Values{"q": {q}, "page": {strconv.Itoa(page)}, "include_contact_inboxes": {"true"}}
		if err := c.Do(ctx, http.MethodGet, "/contacts/search", query, nil, &out); err != nil {
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
	if err := c.Do(ctx, http.MethodPost, "/contacts", nil, in, &out); err != nil {
		return contact{}, nil, fmt.Errorf("create contact: %w", err)
	}
	return out.Payload.Contact, out.Payload.ContactInbox, nil
}

func (c *client) createContactInbox(ctx context.Context, contactID, inboxID int64) (contactInbox, error) {
	var out contactInbox
	err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/contacts/%d/contact_inboxes", contactID), nil, map[string]any{"inbox_id": inboxID}, &out)
	if err != nil {
		return out, fmt.Errorf("create contact inbox: %w", err)
	}
	return out, nil
}

func (c *client) contactConversations(ctx context.Context, contactID int64) ([]conversation, error) {
	var out struct {
		Payload []conversation `json:"payload"`
	}
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/contacts/%d/conversations", contactID), nil, nil, &out); err != nil {
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
	// TeamID is ConversationBuilder's team_id: routing.
	TeamID int64 `json:"team_id,omitempty"`
}

func (c *client) createConversation(ctx context.Context, in newConversation) (conversation, error) {
	var out conversation
	if err := c.Do(ctx, http.MethodPost, "/conversations", nil, in, &out); err != nil {
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
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/conversations/%d/messages", conv), nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out.Payload, nil
}

func (c *client) conversation(ctx context.Context, id int64) (conversation, error) {
	var out conversation
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/conversations/%d", id), nil, nil, &out); err != nil {
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
	query := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/conversations/%d/messages", conv), query, nil, &out); err != nil {
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
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/messages", conv), nil, in, &out); err != nil {
		return out, fmt.Errorf("post message: %w", err)
	}
	return out, nil
}

func (c *client) toggleStatus(ctx context.Context, conv int64, status string) error {
	// Always with a status: without one, toggle_status flips open/resolved,
	// and a retried call would reopen what the first one resolved.
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/toggle_status", conv), nil, map[string]any{"status": status}, nil); err != nil {
		return fmt.Errorf("set the conversation %s: %w", status, err)
	}
	return nil
}

// newPublicClient is Chatwoot's public (client) API, which takes no token:
// an API inbox's identifier and a contact's source id name the
// conversation.
func newPublicClient(hc *http.Client, baseURL string) (*client, error) {
	api, err := platform.New(platform.Options{
		Name:              "chatwoot public API",
		BaseURL:           strings.TrimRight(baseURL, "/") + "/public/api/v1",
		HTTPClient:        hc,
		MaxBody:           1 << 20,
		DefaultRetryAfter: platform.NoRetryAfter,
	})
	return &client{Client: api}, err
}

// chatwootPriorities are Conversation#priority's values, for livechat's
// low, normal, high and urgent.
var chatwootPriorities = map[string]string{
	sdk.PriorityLow: "low", sdk.PriorityNormal: "medium", sdk.PriorityHigh: "high", sdk.PriorityUrgent: "urgent",
}

// setPriority is POST /conversations/{id}/toggle_priority.
func (c *client) setPriority(ctx context.Context, conv int64, priority string) error {
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/toggle_priority", conv), nil, map[string]any{"priority": priority}, nil); err != nil {
		return fmt.Errorf("set the priority: %w", err)
	}
	return nil
}

// setLabels is POST /conversations/{id}/labels, which sets the
// conversation's labels to the list given.
func (c *client) setLabels(ctx context.Context, conv int64, labels []string) error {
	if err := c.Do(ctx, http.MethodPost, fmt.Sprintf("/conversations/%d/labels", conv), nil, map[string]any{"labels": labels}, nil); err != nil {
		return fmt.Errorf("set the labels: %w", err)
	}
	return nil
}

// toggleTyping is the public API's toggle_typing: the contact typing
// (on) or not (off), which Chatwoot shows the agents.
func (c *client) toggleTyping(ctx context.Context, inboxIdentifier, sourceID string, conv int64, on bool) error {
	status := "off"
	if on {
		status = "on"
	}
	path := fmt.Sprintf("/inboxes/%s/contacts/%s/conversations/%d/toggle_typing", url.PathEscape(inboxIdentifier), url.PathEscape(sourceID), conv)
	if err := c.Do(ctx, http.MethodPost, path, nil, map[string]any{"typing_status": status}, nil); err != nil {
		return fmt.Errorf("toggle typing: %w", err)
	}
	return nil
}

// updateLastSeen is the public API's update_last_seen: the contact has
// seen the conversation now. Chatwoot sets its contact_last_seen_at and
// marks the agents' messages created until then read (the ticks agents
// see), as it does when its own web widget shows a conversation.
func (c *client) updateLastSeen(ctx context.Context, inboxIdentifier, sourceID string, conv int64) error {
	path := fmt.Sprintf("/inboxes/%s/contacts/%s/conversations/%d/update_last_seen", url.PathEscape(inboxIdentifier), url.PathEscape(sourceID), conv)
	if err := c.Do(ctx, http.MethodPost, path, nil, nil, nil); err != nil {
		return fmt.Errorf("update last seen: %w", err)
	}
	return nil
}
