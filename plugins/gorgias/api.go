package gorgias

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// The Gorgias objects, as much of them as the provider reads. Decoding is
// lenient (ids as numbers or strings, booleans as true or "True") because
// sandboxes and template-rendered payloads are.

// id is a Gorgias object id.
type id int64

func (i *id) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	if s == "" || s == "null" {
		*i = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("gorgias id %.40s: %w", b, err)
	}
	*i = id(n)
	return nil
}

func (i id) String() string { return strconv.FormatInt(int64(i), 10) }

// text is a string that may arrive as null, a number or a boolean.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		*t = "" // not a scalar: nothing we can use
	default:
		*t = text(b)
	}
	return nil
}

// tri is a boolean that may be unknown.
type tri int8

const (
	unknown tri = iota
	yes
	no
)

// parseTri reads the ways a boolean arrives: true/false, Python's
// True/False from Gorgias templates, 1/0, yes/no.
func parseTri(s string) tri {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "t", "y", "on":
		return yes
	case "false", "0", "no", "f", "n", "off":
		return no
	}
	return unknown
}

func (t *tri) UnmarshalJSON(b []byte) error {
	*t = parseTri(strings.Trim(string(b), `"`))
	return nil
}

// party references a customer (or user) in a request: by id, by email.
type party struct {
	ID    int64  `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
}

type customer struct {
	ID         id              `json:"id"`
	Email      text            `json:"email"`
	ExternalID text            `json:"external_id"`
	Name       text            `json:"name"`
	Firstname  text            `json:"firstname"`
	Lastname   text            `json:"lastname"`
	Data       json.RawMessage `json:"data"`
	Channels   []struct {
		Type    text `json:"type"`
		Address text `json:"address"`
	} `json:"channels"`
}

// has reports whether the customer's email, or one of its email channels,
// is email.
func (c customer) has(email string) bool {
	if strings.EqualFold(string(c.Email), email) {
		return true
	}
	for _, ch := range c.Channels {
		if (ch.Type == "" || ch.Type == "email") && strings.EqualFold(string(ch.Address), email) {
			return true
		}
	}
	return false
}

type newCustomer struct {
	Name       string `json:"name,omitempty"`
	Firstname  string `json:"firstname,omitempty"`
	Lastname   string `json:"lastname,omitempty"`
	Email      string `json:"email,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

type ticket struct {
	ID         id        `json:"id"`
	ExternalID text      `json:"external_id"`
	Status     text      `json:"status"`
	Customer   *customer `json:"customer"`
	// Messages are those GET /api/tickets/{id} embeds, oldest first.
	Messages            []message `json:"messages"`
	LastMessageDatetime text      `json:"last_message_datetime"`
	AssigneeUser        *person   `json:"assignee_user"`
}

type newTicket struct {
	Customer   party             `json:"customer"`
	ExternalID string            `json:"external_id"`
	Subject    string            `json:"subject,omitempty"`
	Channel    string            `json:"channel"`
	Via        string            `json:"via"`
	FromAgent  bool              `json:"from_agent"`
	Tags       []tag             `json:"tags,omitempty"`
	Meta       map[string]string `json:"meta,omitempty"`
	Messages   []newMessage      `json:"messages"`
	// Routing (issue 17).
	Priority     string    `json:"priority,omitempty"`
	AssigneeTeam *idObject `json:"assignee_team,omitempty"`
	Language     string    `json:"language,omitempty"`
}

// idObject is a reference by id: {"id": 12}.
type idObject struct {
	ID int64 `json:"id"`
}

type tag struct {
	Name string `json:"name"`
}

type newMessage struct {
	Channel    string `json:"channel"`
	Via        string `json:"via"`
	FromAgent  bool   `json:"from_agent"`
	Public     *bool  `json:"public,omitempty"`
	Sender     *party `json:"sender,omitempty"`
	BodyText   string `json:"body_text"`
	BodyHTML   string `json:"body_html"`
	ExternalID string `json:"external_id,omitempty"`
	// Attachments are files uploaded first (POST /api/upload).
	Attachments []newAttachment `json:"attachments,omitempty"`
}

// newAttachment is a message's file, as /api/upload answers it.
type newAttachment struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	Size        int64  `json:"size,omitempty"`
	ContentType string `json:"content_type"`
}

type message struct {
	ID              id           `json:"id"`
	TicketID        id           `json:"ticket_id"`
	ExternalID      text         `json:"external_id"`
	Public          tri          `json:"public"`
	Channel         text         `json:"channel"`
	Via             text         `json:"via"`
	FromAgent       tri          `json:"from_agent"`
	Sender          *person      `json:"sender"`
	BodyText        text         `json:"body_text"`
	BodyHTML        text         `json:"body_html"`
	StrippedText    text         `json:"stripped_text"`
	Attachments     []attachment `json:"attachments"`
	CreatedDatetime text         `json:"created_datetime"`
}

type person struct {
	ID        id   `json:"id"`
	Email     text `json:"email"`
	Name      text `json:"name"`
	Firstname text `json:"firstname"`
	Lastname  text `json:"lastname"`
}

// displayName is the name to show for an agent.
func (p *person) displayName() string {
	if p == nil {
		return ""
	}
	if n := strings.TrimSpace(string(p.Name)); n != "" {
		return n
	}
	return strings.TrimSpace(string(p.Firstname) + " " + string(p.Lastname))
}

type attachment struct {
	URL         text `json:"url"`
	Name        text `json:"name"`
	ContentType text `json:"content_type"`
	Size        id   `json:"size"`
}

type list[T any] struct {
	Data []T `json:"data"`
}

func (c *client) findCustomers(ctx context.Context, field, value string) ([]customer, error) {
	var page list[customer]
	err := c.Do(ctx, http.MethodGet, "customers", url.Values{field: {value}}, nil, &page)
	return page.Data, err
}

func (c *client) createCustomer(ctx context.Context, in newCustomer) (customer, error) {
	var out customer
	err := c.Do(ctx, http.MethodPost, "customers", nil, in, &out)
	return out, err
}

// setCustomerData replaces the customer's data, the free-form JSON shown in
// the helpdesk's sidebar.
func (c *client) setCustomerData(ctx context.Context, customer id, data map[string]any) error {
	body := map[string]any{"data": data, "version": c.now().UTC().Format(time.RFC3339Nano)}
	return c.Do(ctx, http.MethodPut, "customers/"+customer.String()+"/data", nil, body, nil)
}

func (c *client) findTickets(ctx context.Context, externalID string) ([]ticket, error) {
	var page list[ticket]
	err := c.Do(ctx, http.MethodGet, "tickets", url.Values{"external_id": {externalID}}, nil, &page)
	return page.Data, err
}

func (c *client) createTicket(ctx context.Context, in newTicket) (ticket, error) {
	var out ticket
	err := c.Do(ctx, http.MethodPost, "tickets", nil, in, &out)
	return out, err
}

func (c *client) ticket(ctx context.Context, ticketID int64) (ticket, error) {
	var out ticket
	err := c.Do(ctx, http.MethodGet, "tickets/"+id(ticketID).String(), nil, nil, &out)
	return out, err
}

func (c *client) setTicketStatus(ctx context.Context, ticketID int64, status string) error {
	return c.Do(ctx, http.MethodPut, "tickets/"+id(ticketID).String(), nil, map[string]string{"status": status}, nil)
}

// messages lists a ticket's messages (the legacy, unpaginated listing; a
// bare array is accepted too).
func (c *client) messages(ctx context.Context, ticketID int64) ([]message, error) {
	var raw json.RawMessage
	if err := c.Do(ctx, http.MethodGet, "tickets/"+id(ticketID).String()+"/messages", nil, nil, &raw); err != nil {
		return nil, err
	}
	trimmed := strings.TrimSpace(string(raw))
	var err error
	var msgs []message
	if strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(raw, &msgs)
	} else if trimmed != "" {
		var page list[message]
		err = json.Unmarshal(raw, &page)
		msgs = page.Data
	}
	if err != nil {
		return nil, sdk.Retryable(errorf("GET tickets/%d/messages: decode the answer: %v", ticketID, err), 0)
	}
	return msgs, nil
}

// messagePage is one page of GET /api/messages?ticket_id=…, oldest first,
// and the cursor of the next page ("" on the last).
func (c *client) messagePage(ctx context.Context, ticketID int64, cursor string) ([]message, string, error) {
	q := url.Values{"ticket_id": {id(ticketID).String()}, "order_by": {"created_datetime:asc"}, "limit": {"100"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page struct {
		Data []message `json:"data"`
		Meta struct {
			NextCursor text `json:"next_cursor"`
		} `json:"meta"`
	}
	err := c.Do(ctx, http.MethodGet, "messages", q, nil, &page)
	return page.Data, string(page.Meta.NextCursor), err
}

func (c *client) message(ctx context.Context, ticketID, messageID int64) (message, error) {
	var out message
	err := c.Do(ctx, http.MethodGet, "tickets/"+id(ticketID).String()+"/messages/"+id(messageID).String(), nil, nil, &out)
	return out, err
}

func (c *client) addMessage(ctx context.Context, ticketID int64, in newMessage) (message, error) {
	var out message
	err := c.Do(ctx, http.MethodPost, "tickets/"+id(ticketID).String()+"/messages", nil, in, &out)
	return out, err
}
