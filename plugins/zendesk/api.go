package zendesk

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
	"github.com/livechatd/livechatd/sdk/platform"
)

// Zendesk's API objects, as much of them as the plugin reads or writes.

type user struct {
	Photo *struct {
		ContentURL string `json:"content_url"`
	} `json:"photo,omitempty"`
	ID         int64             `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Email      string            `json:"email,omitempty"`
	ExternalID string            `json:"external_id,omitempty"`
	Role       string            `json:"role,omitempty"` // end-user, agent, admin
	UserFields map[string]string `json:"user_fields,omitempty"`
}

type ticket struct {
	ID          int64    `json:"id,omitempty"`
	ExternalID  string   `json:"external_id,omitempty"`
	Subject     string   `json:"subject,omitempty"`
	Status      string   `json:"status,omitempty"` // new, open, pending, hold, solved, closed
	RequesterID int64    `json:"requester_id,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Priority    string   `json:"priority,omitempty"` // urgent, high, normal, low
	GroupID     int64    `json:"group_id,omitempty"`
	AssigneeID  int64    `json:"assignee_id,omitempty"`
	Comment     *comment `json:"comment,omitempty"` // on create and update only
	Via         *via     `json:"via,omitempty"`
	// Metadata is written only: custom metadata of the update's audit.
	Metadata map[string]string `json:"metadata,omitempty"`
}

type via struct {
	Channel string `json:"channel"`
}

type comment struct {
	ID       int64  `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Body     string `json:"body,omitempty"`
	AuthorID int64  `json:"author_id,omitempty"`
	// Public is a pointer: on a write, false must be sent.
	Public    *bool  `json:"public,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	// Uploads are upload tokens (POST /uploads.json) to attach, written
	// only; Attachments are read.
	Uploads     []string       `json:"uploads,omitempty"`
	Attachments []zdAttachment `json:"attachments,omitempty"`
}

// zdAttachment is a comment's file.
type zdAttachment struct {
	ContentURL  string `json:"content_url"`
	FileName    string `json:"file_name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

func (c comment) isPublic() bool { return c.Public == nil || *c.Public }

func ptr[T any](v T) *T { return &v }

// auditEvent is one event of a ticket update's audit; the Comment event
// carries the new comment's id.
type auditEvent struct {
	ID     int64  `json:"id"`
	Type   string `json:"type"`
	Body   string `json:"body"`
	Public bool   `json:"public"`
}

type ticketAnswer struct {
	Ticket ticket `json:"ticket"`
	Audit  struct {
		ID     int64        `json:"id"`
		Events []auditEvent `json:"events"`
	} `json:"audit"`
}

// conflictRetry is how long a write Zendesk answered 409 waits before it is
// tried again.
const conflictRetry = time.Second

// retryConflict makes Zendesk's 409 retryable: Zendesk answers it when two
// updates of one record collide (an agent saving the ticket as the user's
// message arrives, two create_or_update of one user), and the same request
// succeeds when tried again. The kit classifies a 409 as permanent, which
// would fail the session.
func retryConflict(err error) error {
	if platform.StatusOf(err) == http.StatusConflict {
		return sdk.Retryable(err, conflictRetry)
	}
	return err
}

// ticketID parses a Ref.
func ticketID(ref string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(ref), 10, 64)
	if err != nil || id <= 0 {
		return 0, errRef(ref)
	}
	return id, nil
}

// upsertUser finds or creates the user by external_id (and updates its
// name, email and user fields): POST /users/create_or_update.json.
func (b *bot) upsertUser(ctx context.Context, u user) (user, error) {
	var out struct {
		User user `json:"user"`
	}
	if err := b.api.Do(ctx, http.MethodPost, "users/create_or_update.json", nil, map[string]any{"user": u}, &out); err != nil {
		return user{}, fmt.Errorf("find or create the requester: %w", retryConflict(err))
	}
	if out.User.ID == 0 {
		return user{}, fmt.Errorf("find or create the requester: zendesk answered no user id")
	}
	return out.User, nil
}

// ticketsByExternalID lists the tickets with external_id: GET
// /tickets.json?external_id=.
func (b *bot) ticketsByExternalID(ctx context.Context, ext string) ([]ticket, error) {
	var out struct {
		Tickets []ticket `json:"tickets"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "tickets.json", url.Values{"external_id": {ext}}, nil, &out); err != nil {
		return nil, fmt.Errorf("look for the session's ticket: %w", err)
	}
	return out.Tickets, nil
}

func (b *bot) createTicket(ctx context.Context, t ticket) (ticket, error) {
	var out ticketAnswer
	if err := b.api.Do(ctx, http.MethodPost, "tickets.json", nil, map[string]any{"ticket": t}, &out); err != nil {
		return ticket{}, fmt.Errorf("create the ticket: %w", retryConflict(err))
	}
	return out.Ticket, nil
}

func (b *bot) ticket(ctx context.Context, id int64) (ticket, error) {
	var out ticketAnswer
	if err := b.api.Do(ctx, http.MethodGet, "tickets/"+strconv.FormatInt(id, 10)+".json", nil, nil, &out); err != nil {
		return ticket{}, err
	}
	return out.Ticket, nil
}

// updateTicket is PUT /tickets/{id}.json: how comments are added and
// statuses changed. It returns the id of the comment it added, if any.
func (b *bot) updateTicket(ctx context.Context, id int64, t ticket) (int64, error) {
	var out ticketAnswer
	if err := b.api.Do(ctx, http.MethodPut, "tickets/"+strconv.FormatInt(id, 10)+".json", nil, map[string]any{"ticket": t}, &out); err != nil {
		return 0, retryConflict(err)
	}
	for _, e := range out.Audit.Events {
		if e.Type == "Comment" {
			return e.ID, nil
		}
	}
	return 0, nil
}

// commentPage is one page of GET /tickets/{id}/comments.json with cursor
// pagination and the comments' authors sideloaded.
type commentPage struct {
	Comments []comment `json:"comments"`
	Users    []user    `json:"users"`
	Meta     struct {
		HasMore     bool   `json:"has_more"`
		AfterCursor string `json:"after_cursor"`
	} `json:"meta"`
}

// pageSize is the most comments one page holds (cursor pagination's limit).
const pageSize = 100

// newestComments returns the ticket's comments newer than after (a comment
// id), newest first, reading at most pages pages, and the users who wrote
// them; complete says every comment newer than after was read.
func (b *bot) newestComments(ctx context.Context, id, after int64, pages int) (cs []comment, users map[int64]user, complete bool, err error) {
	users = map[int64]user{}
	q := url.Values{"sort_order": {"desc"}, "page[size]": {strconv.Itoa(pageSize)}, "include": {"users"}}
	for range pages {
		var pg commentPage
		if err := b.api.Do(ctx, http.MethodGet, "tickets/"+strconv.FormatInt(id, 10)+"/comments.json", q, nil, &pg); err != nil {
			return nil, nil, false, err
		}
		for _, u := range pg.Users {
			users[u.ID] = u
		}
		for _, c := range pg.Comments {
			if c.ID <= after {
				return cs, users, true, nil
			}
			cs = append(cs, c)
		}
		if !pg.Meta.HasMore || pg.Meta.AfterCursor == "" {
			return cs, users, true, nil
		}
		q.Set("page[after]", pg.Meta.AfterCursor)
	}
	return cs, users, false, nil
}

// auditPage is one page of GET /tickets/{id}/audits.json.
type auditPage struct {
	Audits []struct {
		ID       int64 `json:"id"`
		Metadata struct {
			Custom map[string]any `json:"custom"`
		} `json:"metadata"`
		Events []auditEvent `json:"events"`
	} `json:"audits"`
	Meta struct {
		HasMore     bool   `json:"has_more"`
		AfterCursor string `json:"after_cursor"`
	} `json:"meta"`
}

// commentWithKey looks through the ticket's newest audits (at most pages
// pages of 100) for the one whose custom metadata carries key, and
// returns the id of the comment it added, or 0.
func (b *bot) commentWithKey(ctx context.Context, id int64, key string, pages int) (int64, error) {
	q := url.Values{"sort_order": {"desc"}, "page[size]": {strconv.Itoa(pageSize)}}
	for range pages {
		var pg auditPage
		if err := b.api.Do(ctx, http.MethodGet, "tickets/"+strconv.FormatInt(id, 10)+"/audits.json", q, nil, &pg); err != nil {
			return 0, err
		}
		for _, a := range pg.Audits {
			if v, _ := a.Metadata.Custom[metaKey].(string); v != key {
				continue
			}
			for _, e := range a.Events {
				if e.Type == "Comment" {
					return e.ID, nil
				}
			}
		}
		if !pg.Meta.HasMore || pg.Meta.AfterCursor == "" {
			return 0, nil
		}
		q.Set("page[after]", pg.Meta.AfterCursor)
	}
	return 0, nil
}

// flexID is an id Zendesk writes as a number or a string (event payloads
// write ids as strings).
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("id %s: %w", b, err)
	}
	*f = flexID(n)
	return nil
}

// flexBool is a boolean Zendesk may write as a string ("true").
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true":
		*f = true
	case "false", "null", "":
		*f = false
	default:
		return fmt.Errorf("not a boolean: %s", b)
	}
	return nil
}

var _ json.Unmarshaler = (*flexID)(nil)
