package freshdesk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// sessionMarker starts the line of a ticket's description that names its
// livechat session: how a webhook, a read and a retried start tell the
// session's ticket.
const sessionMarker = "Livechat session: "

// noReplyDomain is where unverified users' requester addresses point: a
// reserved name (RFC 2606) nobody receives mail at.
const noReplyDomain = "livechat.invalid"

// clockSkew is how far Freshdesk's clock and a note's created_at may be
// from the plugin's when a retried send looks for what an earlier try
// posted.
const clockSkew = 2 * time.Minute

// requester is who the ticket is from.
type requester struct {
	email, name string
	claimed     map[string]any // unverified metadata, shown to the agent only
}

// requesterOf picks the ticket's requester. Only a user the channel
// vouches for is matched to a Freshdesk contact by their email; anyone
// else gets a contact of their own, keyed by the chat user id through a
// synthetic address at a reserved domain.
func requesterOf(bot string, u sdk.User) requester {
	name := displayName(u)
	if email, _ := u.Metadata["email"].(string); u.Verified && strings.Contains(email, "@") {
		return requester{email: strings.TrimSpace(email), name: name}
	}
	sum := sha256.Sum256([]byte(bot + "\x00" + u.ChannelID + "\x00" + u.ID))
	r := requester{email: "livechat-" + hex.EncodeToString(sum[:12]) + "@" + noReplyDomain, name: name}
	if len(u.Metadata) > 0 {
		r.claimed = u.Metadata
	}
	return r
}

func displayName(u sdk.User) string {
	first, _ := u.Metadata["firstname"].(string)
	last, _ := u.Metadata["lastname"].(string)
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	if n, _ := u.Metadata["name"].(string); strings.TrimSpace(n) != "" {
		return strings.TrimSpace(n)
	}
	return "Chat user " + u.ID
}

// description is the ticket's first text, what the agent reads first: who
// the user is (marked unverified unless the channel vouched), the
// conversation with the bot, and the session marker.
func description(req sdk.StartRequest) string {
	var b strings.Builder
	keys := make([]string, 0, len(req.User.Metadata))
	for k := range req.User.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		if req.User.Verified {
			b.WriteString("<p><b>About the user</b></p>\n<ul>\n")
		} else {
			b.WriteString("<p><b>About the user (unverified: typed by the user)</b></p>\n<ul>\n")
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "<li>%s: %s</li>\n", html.EscapeString(k), html.EscapeString(fmt.Sprint(req.User.Metadata[k])))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("<p><b>Conversation with the bot before the handoff</b></p>\n")
	if len(req.Transcript) == 0 {
		b.WriteString("<p>(none)</p>\n")
	}
	for _, m := range req.Transcript {
		who := "User"
		switch m.Author.Type {
		case sdk.AuthorBot:
			who = "Bot"
		case sdk.AuthorAgent:
			who = "Agent"
		}
		fmt.Fprintf(&b, "<p>%s: %s</p>\n", who, htmlText(messageText(m)))
	}
	fmt.Fprintf(&b, "<p>%s%s</p>", sessionMarker, html.EscapeString(req.SessionID))
	return b.String()
}

// messageText is a chat message as text: its text, or a question's title
// and buttons, or a link to what it carries.
func messageText(m sdk.Message) string {
	text := m.PlainText()
	if bs, ok := m.Content["buttons"].([]any); ok {
		var titles []string
		for _, b := range bs {
			bm, _ := b.(map[string]any)
			c, _ := bm["content"].(map[string]any)
			if t, _ := c["title"].(string); t != "" {
				titles = append(titles, t)
			}
		}
		if len(titles) > 0 {
			text += " [" + strings.Join(titles, "] [") + "]"
		}
	}
	if text == "" {
		text = "(" + m.ContentType + " message)"
	}
	return text
}

// htmlText is text as HTML: escaped, its line breaks kept.
func htmlText(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>")
}

// sessionOf is the session id in a ticket's description, or "".
func sessionOf(t Ticket) string {
	text := t.DescriptionText
	if text == "" {
		text = html.UnescapeString(t.Description)
	}
	i := strings.LastIndex(text, sessionMarker)
	if i < 0 {
		return ""
	}
	rest := text[i+len(sessionMarker):]
	if j := strings.IndexAny(rest, "<\r\n \t"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// StartSession opens the session's ticket (source Chat, tagged livechat)
// and adds the messages already waiting as the user's notes. A retried
// start finds the ticket of an earlier try: in plugin state, or among the
// requester's tickets by the session marker.
func (p *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	if req.SessionID == "" {
		return sdk.StartResult{}, sdk.Permanent(fmt.Errorf("start: no session id"))
	}
	r := requesterOf(req.Bot, req.User)
	var requesterID int64
	id, err := b.once(ctx, req.SessionID, "ticket", func(time.Time) (int64, bool, error) {
		ts, err := b.ticketsOf(ctx, r.email)
		if err != nil {
			return 0, false, fmt.Errorf("start: find the ticket of an earlier try: %w", err)
		}
		for _, t := range ts {
			if sessionOf(t) == req.SessionID {
				requesterID = t.RequesterID
				return t.ID, true, nil
			}
		}
		return 0, false, nil
	}, func() (int64, error) {
		in := newTicket{
			Subject:     "Live chat with " + r.name,
			Description: description(req),
			Email:       r.email,
			Name:        r.name,
			Status:      statusOpen,
			Priority:    int(b.cfg.Priority),
			Source:      sourceChat,
			Tags:        b.tags(),
			GroupID:     int64(b.cfg.GroupID),
		}
		b.route(&in, req.Routing)
		t, err := b.createTicket(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("start: create ticket: %w", err)
		}
		requesterID = t.RequesterID
		return t.ID, nil
	})
	if err != nil {
		return sdk.StartResult{}, err
	}
	if len(req.Messages) > 0 && requesterID == 0 {
		t, err := b.ticket(ctx, id)
		if err != nil {
			return sdk.StartResult{}, fmt.Errorf("start: read ticket %d: %w", id, err)
		}
		requesterID = t.RequesterID
	}
	for i, m := range req.Messages {
		if _, err := b.userNote(ctx, req.SessionID, id, requesterID, m, req.IdempotencyKey+"/"+strconv.Itoa(i)); err != nil {
			return sdk.StartResult{}, fmt.Errorf("start: waiting message %d: %w", i+1, err)
		}
	}
	return sdk.StartResult{Ref: strconv.FormatInt(id, 10)}, nil
}

func (b *bot) tags() []string {
	tags := []string{"livechat"}
	for _, t := range b.cfg.Tags {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// SendMessage adds the user's message to the ticket as a public incoming
// note authored by the requester, once per IdempotencyKey.
func (p *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	id, err := ticketRef(req.Ref)
	if err != nil {
		return sdk.SendResult{}, err
	}
	// The requester is the ticket's; read it once per session.
	requesterID, err := b.requesterID(ctx, req.SessionID, id)
	if err != nil {
		return sdk.SendResult{}, err
	}
	nid, err := b.userNote(ctx, req.SessionID, id, requesterID, req.Message, req.IdempotencyKey)
	if err != nil {
		return sdk.SendResult{}, fmt.Errorf("send: %w", err)
	}
	return sdk.SendResult{PlatformMessageID: strconv.FormatInt(nid, 10)}, nil
}

// requesterID is the ticket's requester, remembered in plugin state.
func (b *bot) requesterID(ctx context.Context, session string, ticket int64) (int64, error) {
	k := stateKey(b.name, session, "requester")
	v, ok, err := b.state.GetState(ctx, k)
	stateless := noState(err)
	if err != nil && !stateless {
		return 0, err
	}
	if ok {
		if id, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return id, nil
		}
	}
	t, err := b.ticket(ctx, ticket)
	if err != nil {
		return 0, fmt.Errorf("send: read ticket %d: %w", ticket, err)
	}
	if !stateless {
		if err := b.state.SetState(ctx, k, []byte(strconv.FormatInt(t.RequesterID, 10))); err != nil {
			return 0, err
		}
	}
	return t.RequesterID, nil
}

// userNote adds m as the requester's public incoming note, once per key:
// a try whose answer was lost is found among the ticket's notes by its
// text, author and time, skipping notes claimed by other keys.
func (b *bot) userNote(ctx context.Context, session string, ticket, requesterID int64, m sdk.Message, key string) (int64, error) {
	text := messageText(m)
	file := m.Attachment != nil && m.Attachment.URL != "" && (m.ContentType == "image" || m.ContentType == "file")
	if file {
		text = fileText(m)
	}
	id, err := b.once(ctx, session, "note:"+key, func(since time.Time) (int64, bool, error) {
		convs, _, err := b.conversations(ctx, ticket, 1)
		if err != nil {
			return 0, false, fmt.Errorf("find the note of an earlier try: %w", err)
		}
		if since.IsZero() {
			// No plugin state: nothing tells a retry from a first try.
			// The host sends a session's messages one at a time, in
			// order, so an earlier try of this one is the user's last
			// note, unless this process posted that note for another
			// key (the user wrote "ok" twice).
			for _, c := range slices.Backward(convs) {
				if c.Source != convNote || !c.Incoming || c.Private || (requesterID != 0 && c.UserID != requesterID) {
					continue
				}
				if normalize(c.BodyText) == normalize(text) && !b.claimedElsewhere(c.ID, "note:"+key) {
					return c.ID, true, nil
				}
				break
			}
			return 0, false, nil
		}
		for _, c := range convs {
			if c.Source != convNote || !c.Incoming || c.Private || (requesterID != 0 && c.UserID != requesterID) ||
				normalize(c.BodyText) != normalize(text) || c.CreatedAt.Before(since.Add(-clockSkew)) {
				continue
			}
			claim, ok, err := b.state.GetState(ctx, stateKey(b.name, session, "claim:"+strconv.FormatInt(c.ID, 10)))
			if err != nil && !noState(err) {
				return 0, false, err
			}
			if ok && string(claim) != key {
				continue
			}
			return c.ID, true, nil
		}
		return 0, false, nil
	}, func() (int64, error) {
		if file {
			return b.fileNote(ctx, ticket, requesterID, m, text)
		}
		c, err := b.addNote(ctx, ticket, newNote{Body: htmlText(text), Private: false, Incoming: true, UserID: requesterID})
		return c.ID, err
	})
	if err != nil {
		return 0, err
	}
	if err := b.state.SetState(ctx, stateKey(b.name, session, "claim:"+strconv.FormatInt(id, 10)), []byte(key)); err != nil && !noState(err) {
		return 0, err
	}
	return id, nil
}

// normalize folds whitespace, as Freshdesk's body_text does to a body's
// line breaks.
func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// endReasons are the private notes an ended session leaves on its ticket.
var endReasons = map[sdk.EndReason]string{
	sdk.EndUser:    "The user ended the live chat.",
	sdk.EndExpired: "The live chat expired: no message either way for the bot's session timeout.",
	sdk.EndAdmin:   "An administrator ended the live chat.",
	sdk.EndMaxWait: handoff.NoAgentNote,
}

// EndSession closes (or resolves, per close_status) the ticket with a
// private note saying why. A ticket already resolved or closed, by an
// agent or an earlier try, is left as it is; one Freshdesk no longer
// knows counts as closed.
func (p *Provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	id, err := ticketRef(req.Ref)
	if err != nil {
		return err
	}
	t, err := b.ticket(ctx, id)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end: read ticket %d: %w", id, err)
	}
	if t.Status == statusResolved || t.Status == statusClosed {
		return nil
	}
	if why, ok := endReasons[req.Reason]; ok {
		_, err := b.once(ctx, req.SessionID, "end-note:"+req.IdempotencyKey, func(time.Time) (int64, bool, error) {
			return 0, false, nil // a second note saying why is harmless
		}, func() (int64, error) {
			c, err := b.addNote(ctx, id, newNote{Body: htmlText(why), Private: true})
			return c.ID, err
		})
		if err != nil {
			return fmt.Errorf("end: note: %w", err)
		}
	}
	status := statusClosed
	if b.cfg.CloseStatus == "resolved" {
		status = statusResolved
	}
	err = b.setStatus(ctx, id, status)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end: close ticket %d: %w", id, err)
	}
	return nil
}
