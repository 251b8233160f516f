package gorgias

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

const (
	// maxTicketMessages is how many messages POST /api/tickets takes.
	maxTicketMessages = 500
	maxSubject        = 998
)

// StartSession finds or creates the customer, then finds or creates the
// ticket whose external_id is the session id, with the transcript and the
// waiting messages. A retried start finds the ticket of the first.
//
// The customer is found by the user's email only when the channel vouches
// for it (sdk.User.Verified); an unverified user gets a customer of their
// own, keyed by the chat user id: see userOf.
func (p *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	if req.SessionID == "" {
		return sdk.StartResult{}, sdk.Permanent(errorf("start: no session id"))
	}
	u := b.userOf(req.User, req.SessionID)
	cust, err := b.customer(ctx, u)
	if err != nil {
		return sdk.StartResult{}, fmt.Errorf("start: customer: %w", err)
	}
	b.updateCustomerData(ctx, cust, u.extra)
	sender := party{ID: int64(cust.ID), Email: string(cust.Email)}

	first := transcript(req.Transcript)
	if len(u.claimed) > 0 {
		first = unverifiedNote(u.claimed).then(first)
	}
	msgs := []newMessage{customerMessage(sender, "livechat-transcript-"+req.SessionID, first)}
	var later []newMessage
	for i, m := range req.Messages {
		body := messageBodies(m)
		if body.text == "" {
			continue
		}
		nm := customerMessage(sender, messageExternalID(m, "livechat-"+req.SessionID+"-"+strconv.Itoa(i)), body)
		if len(msgs) < maxTicketMessages {
			msgs = append(msgs, nm)
		} else {
			later = append(later, nm)
		}
	}
	tags := make([]tag, 0, len(b.cfg.Tags))
	for _, t := range b.cfg.Tags {
		tags = append(tags, tag{Name: strings.TrimSpace(t)})
	}
	in := newTicket{
		Customer:   party{ID: int64(cust.ID)},
		ExternalID: req.SessionID,
		Subject:    b.subject(u, req),
		Channel:    "api",
		Via:        "api",
		FromAgent:  false,
		Tags:       tags,
		Meta:       map[string]string{"livechat_session": req.SessionID, "bot": req.Bot},
		Messages:   msgs,
	}
	b.route(&in, req.Routing)
	t, err := findOrCreate(ctx, b.client,
		func(ctx context.Context) (ticket, bool, error) {
			t, ok, err := b.findTicket(ctx, req.SessionID)
			if err == nil && !ok {
				// Should the API's external_id filter miss a ticket, this
				// process at least remembers the ones it opened.
				if tid, seen := b.ticketOf(req.SessionID); seen {
					return ticket{ID: id(tid), ExternalID: text(req.SessionID)}, true, nil
				}
			}
			return t, ok, err
		},
		func(ctx context.Context) (ticket, error) {
			t, err := b.client.createTicket(ctx, in)
			if err == nil && t.ID == 0 {
				err = sdk.Retryable(errorf("POST tickets: the answer has no ticket id"), 0)
			}
			if err == nil {
				b.opened(req.SessionID, int64(t.ID))
			}
			return t, err
		})
	if err != nil {
		return sdk.StartResult{}, fmt.Errorf("start: ticket: %w", err)
	}
	ticketID := int64(t.ID)
	b.remember(ticketID, sender)
	for _, m := range later {
		if _, err := b.post(ctx, ticketID, m); err != nil {
			return sdk.StartResult{}, fmt.Errorf("start: message %s: %w", m.ExternalID, err)
		}
	}
	return sdk.StartResult{Ref: t.ID.String()}, nil
}

// SendMessage adds the user's message to the ticket, once: see post.
func (p *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	ticketID, err := parseRef(req.Ref)
	if err != nil {
		return sdk.SendResult{}, err
	}
	if a := req.Message.Attachment; a != nil && a.URL != "" && (req.Message.ContentType == "image" || req.Message.ContentType == "file") {
		m, err := p.sendFile(ctx, b, ticketID, req)
		if err != nil {
			return sdk.SendResult{}, fmt.Errorf("send: %w", err)
		}
		return sdk.SendResult{PlatformMessageID: m.ID.String()}, nil
	}
	body := messageBodies(req.Message)
	if body.text == "" {
		return sdk.SendResult{}, nil // a typing indicator or the like: nothing for an agent to read
	}
	m, err := b.post(ctx, ticketID, customerMessage(party{}, messageExternalID(req.Message, req.IdempotencyKey), body))
	if err != nil {
		return sdk.SendResult{}, fmt.Errorf("send: %w", err)
	}
	return sdk.SendResult{PlatformMessageID: m.ID.String()}, nil
}

// EndSession closes the ticket (close_on_end); on expiry it first adds the
// expiry note (once, keyed like a message) and closes when close_on_expiry;
// when the user left, it first adds the user-left note (issue 11), so that
// an agent does not type into a chat nobody reads.
// When the agent ended it, the ticket is closed already and nothing is
// done. A ticket that is gone is closed enough.
func (p *Provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	ticketID, err := parseRef(req.Ref)
	if err != nil {
		return err
	}
	closeIt := b.cfg.CloseOnEnd
	// The note tells the agent why the chat went quiet; it is keyed like a
	// message so that a retried end finds it instead of writing it again.
	var note, noteKey string
	switch req.Reason {
	case sdk.EndAgent:
		closeIt = false
	case sdk.EndExpired:
		closeIt = b.cfg.CloseOnExpiry
		note, noteKey = b.cfg.ExpiryNote, "livechat-expired-"+req.SessionID
	case sdk.EndUser:
		note, noteKey = b.cfg.UserLeftNote, "livechat-user-left-"+req.SessionID
	case sdk.EndMaxWait:
		// Nobody answered: the user did not leave (issue 17).
		note, noteKey = handoff.NoAgentNote, "livechat-no-agent-"+req.SessionID
	}
	if note = strings.TrimSpace(note); note != "" {
		f := false
		_, err := b.post(ctx, ticketID, newMessage{
			Channel: "internal-note", Via: "api", FromAgent: true, Public: &f,
			Sender:   &party{Email: b.client.email},
			BodyText: note, BodyHTML: htmlText(note),
			ExternalID: noteKey,
		})
		if sdk.KindOf(err) == sdk.KindNotFound {
			b.forget(req.SessionID, ticketID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("end: %s note: %w", req.Reason, err)
		}
	}
	if closeIt {
		err := b.client.setTicketStatus(ctx, ticketID, "closed")
		if err != nil && sdk.KindOf(err) != sdk.KindNotFound {
			return fmt.Errorf("end: close ticket: %w", err)
		}
	}
	b.forget(req.SessionID, ticketID)
	return nil
}

// findOrCreate finds a thing, or creates it when it is not there. Creating
// is a POST, which the client never repeats by itself: when it fails in a way
// that may have taken effect anyway (a timeout, a 5xx), this looks again
// before creating again, so retries never make a second one.
func findOrCreate[T any](ctx context.Context, c *client,
	find func(context.Context) (T, bool, error), create func(context.Context) (T, error)) (T, error) {
	var zero T
	for try := 1; ; try++ {
		found, ok, err := find(ctx)
		if err != nil {
			return zero, err
		}
		if ok {
			return found, nil
		}
		made, err := create(ctx)
		if err == nil {
			return made, nil
		}
		if err := c.Retry(ctx, try, err); err != nil {
			return zero, err
		}
	}
}

// post adds a message to a ticket once. Gorgias has no idempotency key, so
// before posting it always lists the ticket's messages for one with the
// same external_id (our message id): one GET per message, and the only check
// that also holds after the plugin restarted between a post and the host's
// retry. The listing also tells the customer to write as when the ticket is
// not in the cache.
func (b *bot) post(ctx context.Context, ticketID int64, in newMessage) (message, error) {
	if !in.FromAgent && in.Sender == nil {
		if s, ok := b.sender(ticketID); ok {
			in.Sender = &s
		}
	}
	find := func(ctx context.Context) (message, bool, error) {
		if in.ExternalID == "" && in.Sender != nil {
			return message{}, false, nil
		}
		msgs, err := b.client.messages(ctx, ticketID)
		if err != nil {
			return message{}, false, err
		}
		if in.ExternalID != "" {
			for _, m := range msgs {
				if string(m.ExternalID) == in.ExternalID {
					return m, true, nil
				}
			}
		}
		if in.Sender == nil {
			if s, ok := customerOf(msgs); ok {
				in.Sender = &s
				b.remember(ticketID, s)
			}
		}
		return message{}, false, nil
	}
	create := func(ctx context.Context) (message, error) {
		if in.Sender == nil {
			t, err := b.client.ticket(ctx, ticketID)
			if err != nil {
				return message{}, err
			}
			if t.Customer == nil || t.Customer.ID == 0 {
				return message{}, sdk.Permanent(errorf("ticket %d has no customer to write as", ticketID))
			}
			s := party{ID: int64(t.Customer.ID), Email: string(t.Customer.Email)}
			in.Sender = &s
			b.remember(ticketID, s)
		}
		return b.client.addMessage(ctx, ticketID, in)
	}
	return findOrCreate(ctx, b.client, find, create)
}

// customerOf is the customer who wrote the ticket's first incoming message.
func customerOf(msgs []message) (party, bool) {
	for _, m := range msgs {
		if m.FromAgent == no && m.Sender != nil && m.Sender.ID != 0 {
			return party{ID: int64(m.Sender.ID), Email: string(m.Sender.Email)}, true
		}
	}
	return party{}, false
}

func (b *bot) findTicket(ctx context.Context, session string) (ticket, bool, error) {
	ts, err := b.client.findTickets(ctx, session)
	if err != nil {
		return ticket{}, false, err
	}
	var best ticket
	found := false
	for _, t := range ts {
		// The filter is the server's; the check is ours, and the oldest
		// ticket wins should there ever be two.
		if string(t.ExternalID) == session && t.ID != 0 && (!found || t.ID < best.ID) {
			best, found = t, true
		}
	}
	return best, found, nil
}

// user is what the provider makes of the chat user's metadata.
type user struct {
	id                string // the customer's external_id
	verified          bool   // the channel vouches for the metadata
	email             string // the user's own (or, unverified, claimed), or ""
	address           string // email, or the synthetic no-reply address
	name, first, last string
	extra             map[string]any // the other metadata, for the customer's data
	// claimed are the contact details an unverified user typed (email,
	// phone), as "label: value": shown to the agent, never matched.
	claimed []string
}

// userOf reads the chat user's metadata. A verified user (the channel
// vouches for the metadata) is the customer with their email, else with
// their user id as external_id. An unverified user's metadata is only what
// they typed, and anyone can type someone else's email: their customer is
// their own, with the external_id "livechat:<bot>:<user id>" and a
// synthetic no-reply address, so that no existing customer is ever found
// by what they claim, written as, or has their data changed; the email
// and phone they gave go into the ticket, marked unverified.
func (b *bot) userOf(u sdk.User, session string) user {
	out := user{id: u.ID, verified: u.Verified, extra: map[string]any{}}
	str := func(v any) string {
		s, _ := v.(string)
		return strings.TrimSpace(s)
	}
	for k, v := range u.Metadata {
		switch strings.ToLower(k) {
		case "email":
			out.email = str(v)
		case "firstname", "first_name":
			out.first = str(v)
		case "lastname", "last_name":
			out.last = str(v)
		case "name":
			out.name = str(v)
		default:
			out.extra[k] = v
		}
	}
	if out.name == "" {
		out.name = strings.TrimSpace(out.first + " " + out.last)
	}
	if !u.Verified {
		if out.email != "" {
			out.claimed = append(out.claimed, "email: "+out.email)
		}
		for _, k := range []string{"phone", "phone_number"} {
			if s := str(u.Metadata[k]); s != "" {
				out.claimed = append(out.claimed, "phone: "+s)
			}
		}
		if u.ID != "" {
			out.id = "livechat:" + b.name + ":" + u.ID
		}
	}
	if u.Verified {
		out.address = out.email
	}
	if out.address == "" {
		// Unverified users are keyed by the namespaced id, so their address
		// is not a verified no-email user's of the same id.
		out.address = "no-reply-" + stableID(out.id, session) + "@" + b.cfg.NoEmailDomain
	}
	return out
}

// unverifiedNote heads an unverified user's ticket: what they claimed, and
// that nobody checked it.
func unverifiedNote(claimed []string) bodies {
	t := "Contact details the user typed in the chat (unverified: the chat channel does not vouch for them, " +
		"so this ticket is not linked to any existing customer with them): " + strings.Join(claimed, ", ") + "."
	return bodies{text: t, html: htmlText(t)}
}

// then is b followed by next, as two paragraphs.
func (b bodies) then(next bodies) bodies {
	return bodies{text: b.text + "\n\n" + next.text, html: b.html + "\n" + next.html}
}

// stableID names a user in a synthetic email address: the same user id
// gives the same address, so a user's sessions find their customer again.
func stableID(userID, session string) string {
	key := userID
	if key == "" {
		key = "session:" + session
	}
	sum := sha256.Sum256([]byte("livechat-user:" + key))
	return hex.EncodeToString(sum[:10])
}

// customer finds the user's customer by email (theirs or the synthetic
// one), then by external_id (the user id), or creates it.
func (b *bot) customer(ctx context.Context, u user) (customer, error) {
	find := func(ctx context.Context) (customer, bool, error) {
		cs, err := b.client.findCustomers(ctx, "email", u.address)
		if err != nil {
			return customer{}, false, err
		}
		for _, c := range cs {
			if c.ID != 0 && c.has(u.address) {
				return c, true, nil
			}
		}
		if u.id == "" {
			return customer{}, false, nil
		}
		cs, err = b.client.findCustomers(ctx, "external_id", u.id)
		if err != nil {
			return customer{}, false, err
		}
		for _, c := range cs {
			if c.ID != 0 && string(c.ExternalID) == u.id {
				return c, true, nil
			}
		}
		return customer{}, false, nil
	}
	create := func(ctx context.Context) (customer, error) {
		c, err := b.client.createCustomer(ctx, newCustomer{
			Name: u.name, Firstname: u.first, Lastname: u.last, Email: u.address, ExternalID: u.id,
		})
		if platform.StatusOf(err) == http.StatusConflict {
			// The email is taken: by a customer our lookup missed (another
			// spelling, a race). It is this user's.
			cs, ferr := b.client.findCustomers(ctx, "email", u.address)
			if ferr == nil && len(cs) > 0 && cs[0].ID != 0 {
				return cs[0], nil
			}
		}
		if err == nil && c.ID == 0 {
			err = sdk.Retryable(errorf("POST customers: the answer has no customer id"), 0)
		}
		return c, err
	}
	return findOrCreate(ctx, b.client, find, create)
}

// updateCustomerData merges the user's other metadata into the customer's
// data. It is a courtesy to the agent, not part of the handoff: a failure is
// logged and the start goes on.
func (b *bot) updateCustomerData(ctx context.Context, c customer, extra map[string]any) {
	if len(extra) == 0 {
		return
	}
	var data map[string]any
	if json.Unmarshal(c.Data, &data) != nil || data == nil {
		data = map[string]any{} // null, or not an object: start afresh
	}
	before, _ := json.Marshal(data)
	for k, v := range extra {
		data[k] = v
	}
	after, err := json.Marshal(data)
	if err != nil || bytes.Equal(before, after) {
		return
	}
	if err := b.client.setCustomerData(ctx, c.ID, data); err != nil && ctx.Err() == nil {
		b.log.Warn("could not set the customer's data", "bot", b.name, "customer", c.ID.String(), "error", err.Error())
	}
}

// subject renders the subject template.
func (b *bot) subject(u user, req sdk.StartRequest) string {
	email := u.email
	if email != "" && !u.verified {
		email += " (unverified)"
	}
	name := u.name
	if name == "" {
		name = email
	}
	if name == "" {
		name = u.id
	}
	s := strings.NewReplacer(
		"{name}", name, "{firstname}", u.first, "{lastname}", u.last, "{email}", email,
		"{user_id}", u.id, "{session_id}", req.SessionID, "{bot}", req.Bot,
	).Replace(b.cfg.Subject)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxSubject {
		s = string([]rune(s)[:maxSubject])
	}
	return s
}

func parseRef(ref string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(ref), 10, 64)
	if err != nil || n <= 0 {
		return 0, sdk.Permanent(errorf("%q is not a Gorgias ticket id", ref))
	}
	return n, nil
}

// messageExternalID is the message's id, or fallback when it has none.
func messageExternalID(m sdk.Message, fallback string) string {
	if m.ID != "" {
		return m.ID
	}
	return fallback
}

// bodies are a message's text and HTML.
type bodies struct{ text, html string }

func customerMessage(sender party, externalID string, b bodies) newMessage {
	m := newMessage{Channel: "api", Via: "api", FromAgent: false, BodyText: b.text, BodyHTML: b.html, ExternalID: externalID}
	if sender != (party{}) {
		m.Sender = &sender
	}
	return m
}

func messageBodies(m sdk.Message) bodies {
	t := messageText(m)
	return bodies{text: t, html: htmlText(t)}
}

// messageText is a chat message as an agent should read it: the text of a
// text, the URL of a media message, the title and buttons of a question.
func messageText(m sdk.Message) string {
	str := func(k string) string {
		s, _ := m.Content[k].(string)
		return strings.TrimSpace(s)
	}
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p != "" {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	}
	switch m.ContentType {
	case "", "text":
		if t := str("text"); t != "" {
			return t
		}
	case "image", "video", "audio", "file":
		if u := str("url"); u != "" {
			return join("["+m.ContentType+"]", first(str("title"), str("name")), u)
		}
	case "url":
		if u := str("url"); u != "" {
			return join(first(str("title"), str("text")), u)
		}
	case "question", "button":
		var titles []string
		buttons, _ := m.Content["buttons"].([]any)
		for _, b := range buttons {
			bm, _ := b.(map[string]any)
			content, _ := bm["content"].(map[string]any)
			if content == nil {
				content = bm
			}
			if t, _ := content["title"].(string); strings.TrimSpace(t) != "" {
				titles = append(titles, strings.TrimSpace(t))
			}
		}
		t := first(str("title"), str("text"), str("payload"))
		if len(titles) > 0 {
			t = join(t, "["+strings.Join(titles, " | ")+"]")
		}
		if t != "" {
			return t
		}
	case "payload":
		if t := first(str("title"), str("text")); t != "" {
			return t
		}
		if p := str("payload"); p != "" {
			return "[payload] " + p
		}
	case "typing", "wait":
		return ""
	}
	return strings.TrimSpace(m.PlainText())
}

func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// transcriptHeader starts the transcript message.
const transcriptHeader = "Conversation with the bot before the handoff:"

// transcript renders the exchanges before the handoff as one message, one
// "User: …" / "Bot: …" line each.
func transcript(ms []sdk.Message) bodies {
	type line struct{ who, text string }
	var lines []line
	for _, m := range ms {
		if t := messageText(m); t != "" {
			lines = append(lines, line{authorLabel(m.Author.Type), t})
		}
	}
	if len(lines) == 0 {
		t := "The user asked for a human agent; there was no conversation with the bot before."
		return bodies{text: t, html: htmlText(t)}
	}
	var tb, hb strings.Builder
	tb.WriteString(transcriptHeader + "\n")
	hb.WriteString("<p>" + html.EscapeString(transcriptHeader) + "</p>\n")
	for _, l := range lines {
		tb.WriteString("\n" + l.who + ": " + strings.ReplaceAll(l.text, "\n", "\n  "))
		hb.WriteString("<p><strong>" + html.EscapeString(l.who) + ":</strong> " + htmlLines(l.text) + "</p>\n")
	}
	return bodies{text: tb.String(), html: strings.TrimSuffix(hb.String(), "\n")}
}

func authorLabel(t sdk.AuthorType) string {
	switch t {
	case sdk.AuthorUser, "":
		return "User"
	case sdk.AuthorBot:
		return "Bot"
	case sdk.AuthorAgent:
		return "Agent"
	case sdk.AuthorSystem:
		return "System"
	}
	s := string(t)
	return strings.ToUpper(s[:1]) + s[1:]
}

// htmlText is text as one HTML paragraph.
func htmlText(s string) string {
	return "<p>" + htmlLines(s) + "</p>"
}

// htmlLines escapes s, keeps its line breaks and links its http(s) URLs.
func htmlLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		words := strings.Split(l, " ")
		for j, w := range words {
			if u, err := url.Parse(w); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				e := html.EscapeString(w)
				words[j] = `<a href="` + e + `">` + e + `</a>`
			} else {
				words[j] = html.EscapeString(w)
			}
		}
		lines[i] = strings.Join(words, " ")
	}
	return strings.Join(lines, "<br>")
}
