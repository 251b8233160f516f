package zendesk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// StartSession finds or creates the requester, opens the session's ticket
// (or finds the one a lost first try opened, by its external_id) with the
// transcript and the metadata in a private first comment, and posts the
// user's messages already waiting as the requester's public comments.
func (p *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	ext := externalID(req.Bot, req.SessionID)
	found, err := b.ticketsByExternalID(ctx, ext)
	if err != nil {
		return sdk.StartResult{}, err
	}
	var t ticket
	if len(found) > 0 {
		t = found[0]
	} else {
		requester, err := b.upsertUser(ctx, b.requester(req.User))
		if err != nil {
			return sdk.StartResult{}, err
		}
		in := ticket{
			ExternalID:  ext,
			Subject:     "Live chat with " + displayName(req.User),
			RequesterID: requester.ID,
			Tags:        b.tags,
			Comment:     &comment{Body: summary(req), Public: ptr(false)},
		}
		b.route(&in, req.Routing)
		t, err = b.createTicket(ctx, in)
		if err != nil {
			return sdk.StartResult{}, err
		}
	}
	ref := strconv.FormatInt(t.ID, 10)
	b.rememberRequester(ref, t.RequesterID)
	for i, m := range req.Messages {
		if _, err := p.post(ctx, b, req.SessionID, t.ID, t.RequesterID, m, req.IdempotencyKey+"/"+strconv.Itoa(i)); err != nil {
			return sdk.StartResult{}, err
		}
	}
	return sdk.StartResult{Ref: ref}, nil
}

// requester is the Zendesk user for a livechat user. A user the channel
// vouches for, with an email, is the customer Zendesk knows by that email:
// create_or_update finds them by it (and leaves the external_id another
// integration may have given them alone). Anyone else is keyed by an
// external_id of the plugin's own and gets no email: typed-in metadata
// never attaches the session to, or changes, a customer found by email.
func (b *bot) requester(u sdk.User) user {
	out := user{Name: displayName(u)}
	if e, ok := u.Metadata["email"].(string); ok && u.Verified && strings.Contains(e, "@") {
		out.Email = strings.TrimSpace(e)
	} else {
		out.ExternalID = "livechat:" + b.name + ":" + u.ID
	}
	for key, field := range b.fields {
		if v, ok := u.Metadata[key]; ok && v != nil {
			if out.UserFields == nil {
				out.UserFields = map[string]string{}
			}
			out.UserFields[field] = fmt.Sprint(v)
		}
	}
	return out
}

func displayName(u sdk.User) string {
	first, _ := u.Metadata["firstname"].(string)
	last, _ := u.Metadata["lastname"].(string)
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	if n, ok := u.Metadata["name"].(string); ok && strings.TrimSpace(n) != "" {
		return strings.TrimSpace(n)
	}
	return "livechat user " + u.ID
}

// summary is the ticket's first, private comment: who the user says they
// are (marked unverified unless the channel vouches for it) and the
// conversation with the bot.
func summary(req sdk.StartRequest) string {
	var b strings.Builder
	b.WriteString("Live chat handed over by the bot (session " + req.SessionID + ").\n")
	if len(req.User.Metadata) > 0 {
		if req.User.Verified {
			b.WriteString("\nUser details:\n")
		} else {
			b.WriteString("\nUser details (typed by the user, unverified):\n")
		}
		keys := make([]string, 0, len(req.User.Metadata))
		for k := range req.User.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %v\n", k, req.User.Metadata[k])
		}
	}
	var lines []string
	for _, m := range req.Transcript {
		if text := describe(m); text != "" {
			lines = append(lines, "  "+speaker(m.Author)+": "+text)
		}
	}
	if len(lines) > 0 {
		b.WriteString("\nConversation with the bot before the handoff:\n")
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

func speaker(a sdk.Author) string {
	if a.Name != "" {
		return a.Name
	}
	switch a.Type {
	case sdk.AuthorUser:
		return "User"
	case sdk.AuthorBot:
		return "Bot"
	case sdk.AuthorAgent:
		return "Agent"
	}
	return "System"
}

// describe is a message as an agent should read it: a question with its
// buttons, a media URL, a clicked payload, or the text.
func describe(m sdk.Message) string {
	if m.ContentType == "question" {
		title, _ := m.Content["title"].(string)
		var buttons []string
		if bs, ok := m.Content["buttons"].([]any); ok {
			for _, bt := range bs {
				if bm, ok := bt.(map[string]any); ok {
					c, _ := bm["content"].(map[string]any)
					if t, ok := c["title"].(string); ok && t != "" {
						buttons = append(buttons, t)
					}
				}
			}
		}
		if len(buttons) > 0 {
			title = strings.TrimSpace(title + " [" + strings.Join(buttons, "] [") + "]")
		}
		return title
	}
	return m.PlainText()
}

// SendMessage posts one user message as the requester's public comment,
// once per IdempotencyKey.
func (p *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	id, err := ticketID(req.Ref)
	if err != nil {
		return sdk.SendResult{}, err
	}
	requester, err := p.requesterOf(ctx, b, id)
	if err != nil {
		return sdk.SendResult{}, err
	}
	cid, err := p.post(ctx, b, req.SessionID, id, requester, req.Message, req.IdempotencyKey)
	if err != nil {
		return sdk.SendResult{}, err
	}
	return sdk.SendResult{PlatformMessageID: strconv.FormatInt(cid, 10)}, nil
}

func (b *bot) rememberRequester(ref string, id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requesters[ref] = id
}

// requesterOf is the ticket's requester, read once per ticket and process.
func (p *Provider) requesterOf(ctx context.Context, b *bot, id int64) (int64, error) {
	ref := strconv.FormatInt(id, 10)
	b.mu.Lock()
	r, ok := b.requesters[ref]
	b.mu.Unlock()
	if ok {
		return r, nil
	}
	t, err := b.ticket(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("read ticket %d: %w", id, err)
	}
	b.rememberRequester(ref, t.RequesterID)
	return t.RequesterID, nil
}

// State keys of a session: sent:<key> is the comment id a send posted;
// pre:<key> says a send began, so a retry after a crash between the post
// and the record looks for its comment on the ticket.
const (
	stateSent = "sent:"
	statePre  = "pre:"
)

// metaKey is the custom audit metadata that carries a send's
// IdempotencyKey: Zendesk keeps up to 1 KB of it on the update's audit,
// which is how a retry finds the comment a lost try posted.
const metaKey = "livechat_key"

// post adds text as the requester's public comment, unless the send keyed
// key already did. With plugin state, a first try costs one call; without
// it (a host older than plugin state), every try first looks for the key
// among the ticket's newest audits.
func (p *Provider) post(ctx context.Context, b *bot, session string, id, requester int64, m sdk.Message, key string) (int64, error) {
	text := strings.TrimSpace(describe(m))
	if text == "" {
		return 0, sdk.Permanent(fmt.Errorf("message of type %q has no text, url or payload to post", m.ContentType))
	}
	st := p.stateStore()
	k := func(name string) sdk.StateKey { return sdk.StateKey{Bot: b.name, SessionID: session, Key: name} }
	look := true
	if st != nil {
		v, ok, err := st.GetState(ctx, k(stateSent+key))
		switch {
		case errors.Is(err, sdk.ErrNoState):
			st = nil
		case err != nil:
			return 0, err
		case ok:
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n, nil
		}
	}
	if st != nil {
		_, tried, err := st.GetState(ctx, k(statePre+key))
		if err != nil {
			return 0, err
		}
		look = tried
		if !tried {
			if err := st.SetState(ctx, k(statePre+key), []byte{'1'}); err != nil {
				return 0, err
			}
		}
	}
	if look {
		if cid, err := b.findPosted(ctx, id, key); err != nil {
			return 0, err
		} else if cid != 0 {
			return cid, p.record(ctx, st, k, key, cid)
		}
	}
	var uploads []string
	if m.Attachment != nil && m.Attachment.URL != "" && (m.ContentType == "image" || m.ContentType == "file") {
		text, uploads = p.fileComment(ctx, b, m)
	}
	cid, err := b.updateTicket(ctx, id, ticket{Comment: &comment{Body: text, AuthorID: requester, Public: ptr(true), Uploads: uploads},
		Metadata: map[string]string{metaKey: key}})
	if err != nil {
		return 0, fmt.Errorf("post the user's message to ticket %d: %w", id, err)
	}
	return cid, p.record(ctx, st, k, key, cid)
}

func (p *Provider) record(ctx context.Context, st sdk.StateStore, k func(string) sdk.StateKey, key string, cid int64) error {
	if st == nil {
		return nil
	}
	if err := st.SetState(ctx, k(stateSent+key), []byte(strconv.FormatInt(cid, 10))); err != nil {
		return err
	}
	return st.DeleteState(ctx, k(statePre+key))
}

// maxFindPages bounds the look for a comment an earlier try posted: the
// newest 300 updates of the ticket.
const maxFindPages = 3

// findPosted is the id of the comment posted by the update whose audit
// carries key, or 0.
func (b *bot) findPosted(ctx context.Context, id int64, key string) (int64, error) {
	cid, err := b.commentWithKey(ctx, id, key, maxFindPages)
	if err != nil {
		return 0, fmt.Errorf("look for an earlier try's comment on ticket %d: %w", id, err)
	}
	return cid, nil
}

// endNotes are the private comments that tell agents why the chat ended.
var endNotes = map[sdk.EndReason]string{
	sdk.EndUser:    "The user ended the live chat.",
	sdk.EndExpired: "The live chat expired: no message either way for the bot's session timeout.",
	sdk.EndAdmin:   "The live chat was ended by a livechatd administrator.",
	sdk.EndMaxWait: handoff.NoAgentNote,
}

// EndSession solves the ticket (solve_on_end) with a private note saying
// why. After the agent solved it (reason agent), or when it is already
// solved or closed, or gone, there is nothing to do.
func (p *Provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	id, err := ticketID(req.Ref)
	if err != nil {
		return err
	}
	if !b.cfg.SolveOnEnd {
		return nil
	}
	t, err := b.ticket(ctx, id)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ticket %d: %w", id, err)
	}
	if t.Status == "solved" || t.Status == "closed" {
		return nil
	}
	up := ticket{Status: "solved"}
	if note := endNotes[req.Reason]; note != "" {
		up.Comment = &comment{Body: note, Public: ptr(false)}
	}
	_, err = b.updateTicket(ctx, id, up)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("solve ticket %d: %w", id, err)
	}
	return nil
}
