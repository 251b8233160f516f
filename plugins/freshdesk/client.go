package freshdesk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// Ticket is a Freshdesk ticket as API v2 answers it (the fields the plugin
// reads).
type Ticket struct {
	ID              int64    `json:"id"`
	Subject         string   `json:"subject"`
	Description     string   `json:"description,omitempty"`
	DescriptionText string   `json:"description_text,omitempty"`
	Status          int      `json:"status"`
	Priority        int      `json:"priority"`
	Source          int      `json:"source"`
	RequesterID     int64    `json:"requester_id"`
	GroupID         *int64   `json:"group_id"`
	ResponderID     *int64   `json:"responder_id"`
	Tags            []string `json:"tags"`
}

// newTicket is the body of POST /api/v2/tickets.
type newTicket struct {
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Email       string   `json:"email"`
	Name        string   `json:"name,omitempty"`
	Status      int      `json:"status"`
	Priority    int      `json:"priority"`
	Source      int      `json:"source"`
	Tags        []string `json:"tags"`
	GroupID     int64    `json:"group_id,omitempty"`
}

// Conversation is a reply or a note on a ticket.
type Conversation struct {
	ID        int64     `json:"id"`
	Body      string    `json:"body"`
	BodyText  string    `json:"body_text"`
	Incoming  bool      `json:"incoming"`
	Private   bool      `json:"private"`
	Source    int       `json:"source"`
	UserID    int64     `json:"user_id"`
	TicketID  int64     `json:"ticket_id"`
	CreatedAt time.Time `json:"created_at"`
	// Attachments are the conversation's files.
	Attachments []fdAttachment `json:"attachments"`
}

// fdAttachment is a file of a conversation.
type fdAttachment struct {
	Name          string `json:"name"`
	ContentType   string `json:"content_type"`
	Size          int64  `json:"size"`
	AttachmentURL string `json:"attachment_url"`
}

// newNote is the body of POST /api/v2/tickets/{id}/notes.
type newNote struct {
	Body     string `json:"body"`
	Private  bool   `json:"private"`
	Incoming bool   `json:"incoming"`
	UserID   int64  `json:"user_id,omitempty"`
}

// perPage is the most conversations one page holds.
const perPage = 100

// maxPages bounds one scan of a ticket's conversations.
const maxPages = 10

func (b *bot) ticket(ctx context.Context, id int64) (Ticket, error) {
	var t Ticket
	err := b.api.Do(ctx, http.MethodGet, "tickets/"+strconv.FormatInt(id, 10), nil, nil, &t)
	return t, err
}

// ticketsOf lists the requester's tickets, newest first, with their
// descriptions.
func (b *bot) ticketsOf(ctx context.Context, email string) ([]Ticket, error) {
	var ts []Ticket
	q := url.Values{"email": {email}, "include": {"description"}, "order_by": {"created_at"}, "order_type": {"desc"}, "per_page": {"30"}}
	err := b.api.Do(ctx, http.MethodGet, "tickets", q, nil, &ts)
	return ts, err
}

func (b *bot) createTicket(ctx context.Context, in newTicket) (Ticket, error) {
	var t Ticket
	err := b.api.Do(ctx, http.MethodPost, "tickets", nil, in, &t)
	return t, err
}

func (b *bot) setStatus(ctx context.Context, id int64, status int) error {
	return b.api.Do(ctx, http.MethodPut, "tickets/"+strconv.FormatInt(id, 10), nil, map[string]int{"status": status}, nil)
}

func (b *bot) addNote(ctx context.Context, id int64, in newNote) (Conversation, error) {
	var c Conversation
	err := b.api.Do(ctx, http.MethodPost, "tickets/"+strconv.FormatInt(id, 10)+"/notes", nil, in, &c)
	return c, err
}

// conversations reads the ticket's conversations from page from on, oldest
// first, and returns the page the last of them is on. Freshdesk has no
// "since" for conversations: the caller remembers the page.
func (b *bot) conversations(ctx context.Context, id int64, from int) ([]Conversation, int, error) {
	if from < 1 {
		from = 1
	}
	var all []Conversation
	last := from
	for page := from; page < from+maxPages; page++ {
		var got []Conversation
		q := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(perPage)}}
		if err := b.api.Do(ctx, http.MethodGet, "tickets/"+strconv.FormatInt(id, 10)+"/conversations", q, nil, &got); err != nil {
			return nil, 0, err
		}
		all = append(all, got...)
		if len(got) > 0 {
			last = page
		}
		if len(got) < perPage {
			break
		}
	}
	return all, last, nil
}

// stateKey is a plugin state key of the session.
func stateKey(bot, session, key string) sdk.StateKey {
	return sdk.StateKey{Bot: bot, SessionID: session, Key: key}
}

// refused says Freshdesk answered a call with an error that shows it did
// not act on it: a 4xx other than 408 (a 429 included).
func refused(err error) bool {
	st := platform.StatusOf(err)
	return st >= 400 && st < 500 && st != http.StatusRequestTimeout
}

// noState says the host keeps no plugin state.
func noState(err error) bool { return errors.Is(err, sdk.ErrNoState) }

// once does a write that Freshdesk cannot key: done:<key> in plugin state
// holds what a try finished; pending:<key> says a try began, whose effect
// find looks for before write is tried again. Without plugin state, find is
// asked every time.
func (b *bot) once(ctx context.Context, session, key string, find func(since time.Time) (int64, bool, error), write func() (int64, error)) (int64, error) {
	done, pending := stateKey(b.name, session, "done:"+key), stateKey(b.name, session, "pending:"+key)
	stateless := false
	if v, ok, err := b.state.GetState(ctx, done); err != nil {
		if !noState(err) {
			return 0, err
		}
		stateless = true
	} else if ok {
		if id, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return id, nil
		}
	}
	if stateless {
		if id, ok := b.remembered(session, key); ok {
			return id, nil
		}
	}
	var since time.Time
	look := stateless
	if !stateless {
		v, ok, err := b.state.GetState(ctx, pending)
		if err != nil {
			return 0, err
		}
		if ok {
			look = true
			since, _ = time.Parse(time.RFC3339Nano, string(v))
		}
	}
	if look {
		id, found, err := find(since)
		if err != nil {
			return 0, err
		}
		if found {
			if stateless {
				b.remember(session, key, id)
			} else {
				if err := b.state.SetState(ctx, done, []byte(strconv.FormatInt(id, 10))); err != nil {
					return 0, err
				}
			}
			return id, nil
		}
	}
	if !stateless {
		if err := b.state.SetState(ctx, pending, []byte(b.now().UTC().Format(time.RFC3339Nano))); err != nil {
			return 0, err
		}
	}
	id, err := write()
	if err != nil {
		if !stateless && refused(err) {
			// Freshdesk refused the call before doing anything: the
			// next try need not look for its effect.
			if derr := b.state.DeleteState(ctx, pending); derr != nil {
				return 0, errors.Join(err, derr)
			}
		}
		return 0, err
	}
	if stateless {
		b.remember(session, key, id)
	} else if err := b.state.SetState(ctx, done, []byte(strconv.FormatInt(id, 10))); err != nil {
		return 0, fmt.Errorf("record %s: %w", key, err)
	}
	return id, nil
}

// remember and remembered keep what once did in the process's memory when
// the host keeps no plugin state.
func (b *bot) remember(session, key string, id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done[session+"\x00"+key] = id
	if strings.HasPrefix(key, "note:") {
		b.claims[id] = key
	}
}

func (b *bot) remembered(session, key string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.done[session+"\x00"+key]
	return id, ok
}

// claimedElsewhere says this process posted note id for another key.
func (b *bot) claimedElsewhere(id int64, key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.claims[id]
	return ok && k != key
}

// agent is what the plugin reads of GET /api/v2/agents/{id}.
type agent struct {
	ID      int64 `json:"id"`
	Contact struct {
		Name   string `json:"name"`
		Avatar *struct {
			AttachmentURL string `json:"attachment_url"`
		} `json:"avatar"`
	} `json:"contact"`
}

// agentNames are the names of the agents whose replies are among convs
// after after, read once per agent and process. An agent the key may not
// view (the Agents API may need admin rights) or that Freshdesk no longer
// knows stays nameless; being down or rate limited only leaves this call's
// events without names.
func (b *bot) agentNames(ctx context.Context, convs []Conversation, after int64) map[int64]string {
	names := map[int64]string{}
	for _, c := range convs {
		if c.ID <= after || !agentReply(c) {
			continue
		}
		if _, done := names[c.UserID]; done {
			continue
		}
		b.mu.Lock()
		name, known := b.agents[c.UserID]
		b.mu.Unlock()
		if !known {
			var a agent
			err := b.api.Do(ctx, http.MethodGet, "agents/"+strconv.FormatInt(c.UserID, 10), nil, nil, &a)
			switch k := sdk.KindOf(err); {
			case err == nil:
				name = strings.TrimSpace(a.Contact.Name)
			case k == sdk.KindUnauthorized || k == sdk.KindNotFound || k == sdk.KindInvalid:
				name = ""
			default:
				names[c.UserID] = ""
				continue // try again on the next read
			}
			b.mu.Lock()
			b.agents[c.UserID] = name
			b.mu.Unlock()
		}
		names[c.UserID] = name
	}
	return names
}
