package chatwoot

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// Custom attributes of a livechat conversation: they name the session in
// every webhook Chatwoot sends about it.
const (
	attrSession = "livechat_session_id"
	attrBot     = "livechat_bot"
	attrUser    = "livechat_user_id"
	attrChannel = "livechat_channel_id"
)

// keyAttr is the content attribute holding livechatd's idempotency key on
// every message the plugin posts, so that a retry finds what a first
// attempt posted before its answer was lost.
const keyAttr = "livechat_key"

// StartSession finds or creates the contact, finds the session's
// conversation or creates it in the bot's inbox, and posts the transcript
// as a private note, then any waiting user messages. Every step finds what
// an earlier attempt of the same start did, so a retry opens nothing twice.
//
// Only a verified user (sdk.User.Verified) is matched to an existing
// contact by email; an unverified one gets a contact of their own: see
// contactOf.
func (p *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	if req.SessionID == "" {
		return sdk.StartResult{}, sdk.Permanent(fmt.Errorf("a session id is required"))
	}
	inboxID, err := p.inbox(ctx, b)
	if err != nil {
		return sdk.StartResult{}, err
	}
	want, claimed := contactOf(req.Bot, req.User)
	ct, sourceID, err := p.contact(ctx, b, inboxID, want)
	if err != nil {
		return sdk.StartResult{}, err
	}
	conv, existed, err := p.conversation(ctx, b, inboxID, ct.ID, sourceID, req)
	if err != nil {
		return sdk.StartResult{}, err
	}
	b.sources.Store(conv.ID, sourceID)
	if err := p.route(ctx, b, conv.ID, req.Routing); err != nil {
		return sdk.StartResult{}, fmt.Errorf("routing: %w", err)
	}
	// The transcript is a private note: it is context, written by neither
	// the user nor an agent. As an incoming message it would put the bot's
	// words in the customer's mouth; as an outgoing one Chatwoot would show
	// it as an agent's reply (and echo it to us as one). A note is marked as
	// such, and agents read it before they answer.
	note := transcriptNote(req.Transcript)
	if len(claimed) > 0 {
		note = strings.TrimSpace(unverifiedNote(claimed) + "\n\n" + note)
	}
	if note != "" {
		m := newMessage{Content: note, MessageType: "outgoing", Private: true, ContentType: "text"}
		if _, err := p.post(ctx, b, conv.ID, "transcript:"+req.SessionID, m, existed); err != nil {
			return sdk.StartResult{}, fmt.Errorf("post the transcript: %w", err)
		}
	}
	for i, m := range req.Messages {
		key := m.ID
		if key == "" {
			key = fmt.Sprintf("start:%s:%d", req.SessionID, i)
		}
		if _, err := p.postUser(ctx, b, conv.ID, key, m, existed); err != nil {
			return sdk.StartResult{}, err
		}
	}
	ref := strconv.FormatInt(conv.ID, 10)
	p.log.Info("conversation open", "bot", req.Bot, "session", req.SessionID, "conversation", ref, "contact", ct.ID)
	return sdk.StartResult{Ref: ref}, nil
}

// contact finds the user's contact (by identifier, then by email when it
// has one) or creates it in the inbox, and returns it with its source id in
// the inbox, creating that contact inbox when needed.
//
// Chatwoot's search finds contacts only by email, phone number or
// identifier (and refuses a blank term with 422), so the contact is
// looked for by those, and a user with none of them is refused: its
// contact could never be found again, and a retried start would make a
// second one.
func (p *Provider) contact(ctx context.Context, b *bot, inboxID int64, want newContact) (contact, string, error) {
	if want.Identifier == "" && want.Email == "" && want.PhoneNumber == "" {
		return contact{}, "", sdk.Permanent(fmt.Errorf("user.id: required (the user has no id, and no email or phone number the channel vouches for): " +
			"the Chatwoot contact is found again by its identifier"))
	}
	find := func() (*contact, error) {
		c, err := b.api.searchContacts(ctx, want.Identifier, func(c contact) bool { return c.Identifier == want.Identifier })
		if err != nil || c != nil {
			return c, err
		}
		if c, err = b.api.searchContacts(ctx, want.Email, func(c contact) bool { return strings.EqualFold(c.Email, want.Email) }); err != nil || c != nil {
			return c, err
		}
		return b.api.searchContacts(ctx, want.PhoneNumber, func(c contact) bool { return c.PhoneNumber == want.PhoneNumber })
	}
	c, err := find()
	if err != nil {
		return contact{}, "", err
	}
	if c == nil {
		want.InboxID = inboxID
		created, ci, err := b.api.createContact(ctx, want)
		if platform.StatusOf(err) == http.StatusUnprocessableEntity {
			// Taken meanwhile (the identifier or the email), or an email or
			// phone number Chatwoot refuses: find it, else create the
			// contact with those only as custom attributes.
			if c, err = find(); err != nil {
				return contact{}, "", err
			}
			if c == nil {
				created, ci, err = b.api.createContact(ctx, withoutChecked(want))
			}
		}
		if err != nil {
			return contact{}, "", err
		}
		if c == nil {
			if ci != nil && ci.SourceID != "" && (ci.Inbox == nil || ci.Inbox.ID == inboxID) {
				return created, ci.SourceID, nil
			}
			c = &created
		}
	}
	for _, ci := range c.ContactInboxes {
		if ci.Inbox != nil && ci.Inbox.ID == inboxID && ci.SourceID != "" {
			return *c, ci.SourceID, nil
		}
	}
	ci, err := b.api.createContactInbox(ctx, c.ID, inboxID)
	if err != nil {
		return contact{}, "", err
	}
	return *c, ci.SourceID, nil
}

// conversation finds the contact's conversation for this session in the
// inbox, or creates it. existed says whether it was found.
func (p *Provider) conversation(ctx context.Context, b *bot, inboxID, contactID int64, sourceID string, req sdk.StartRequest) (conversation, bool, error) {
	convs, err := b.api.contactConversations(ctx, contactID)
	if err != nil {
		return conversation{}, false, err
	}
	for _, c := range convs {
		if c.InboxID == inboxID && attrString(c.CustomAttributes, attrSession) == req.SessionID {
			return c, true, nil
		}
	}
	attrs := map[string]any{attrSession: req.SessionID, attrBot: req.Bot, attrUser: req.User.ID}
	if req.User.ChannelID != "" {
		attrs[attrChannel] = req.User.ChannelID
	}
	in := newConversation{SourceID: sourceID, InboxID: inboxID, ContactID: contactID, Status: "open", CustomAttributes: attrs}
	b.routeNew(&in, req.Routing)
	c, err := b.api.createConversation(ctx, in)
	if err != nil {
		return c, false, err
	}
	if got := attrString(c.CustomAttributes, attrSession); got != req.SessionID {
		// Not the conversation asked for: the inbox was locked to a single
		// conversation after the bot was configured, and Chatwoot handed
		// back the contact's earlier one. Nothing is written into it.
		b.mu.Lock()
		b.inboxID = 0 // looked up again, and refused, at the next start
		b.mu.Unlock()
		p.log.Warn("chatwoot returned an earlier conversation", "bot", req.Bot, "session", req.SessionID, "conversation", c.ID)
		return conversation{}, false, fmt.Errorf("conversation %d of session %q returned for session %q: %w", c.ID, got, req.SessionID, errLocked(inboxID, b.cfg.InboxName))
	}
	return c, false, nil
}

// post posts a message carrying key; with lookup it first looks for a
// message with that key among the conversation's latest, and returns it
// instead of posting a second.
func (p *Provider) post(ctx context.Context, b *bot, conv int64, key string, m newMessage, lookup bool) (message, error) {
	if lookup {
		msgs, err := b.api.messages(ctx, conv)
		if err != nil {
			return message{}, err
		}
		for _, old := range msgs {
			if attrString(old.ContentAttributes, keyAttr) == key {
				p.log.Debug("message already posted", "bot", b.name, "conversation", conv, "message", old.ID)
				return old, nil
			}
		}
	}
	m.ContentAttributes = map[string]any{keyAttr: key}
	m.EchoID = key
	return b.api.createMessage(ctx, conv, m)
}

// postUser posts a user's message as an incoming message.
func (p *Provider) postUser(ctx context.Context, b *bot, conv int64, key string, m sdk.Message, lookup bool) (message, error) {
	text := describe(m)
	if text == "" {
		return message{}, nil // nothing an agent could read (typing, wait...)
	}
	return p.post(ctx, b, conv, key, newMessage{Content: text, MessageType: "incoming", ContentType: "text"}, lookup)
}

// SendMessage posts a user message as an incoming message of the
// conversation. It always looks for the key first: the host retries a
// send whose answer it did not get, and Chatwoot has no idempotency key of
// its own.
func (p *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return sdk.SendResult{}, err
	}
	key := req.IdempotencyKey
	if key == "" {
		key = req.Message.ID
	}
	var m message
	if a := req.Message.Attachment; a != nil && a.URL != "" && (req.Message.ContentType == "image" || req.Message.ContentType == "file") {
		if key == "" {
			key = "file:" + a.URL
		}
		m, err = p.postFile(ctx, b, conv, key, req.Message)
	} else {
		m, err = p.postUser(ctx, b, conv, key, req.Message, key != "")
	}
	if err != nil || m.ID == 0 {
		return sdk.SendResult{}, err
	}
	return sdk.SendResult{PlatformMessageID: strconv.FormatInt(m.ID, 10)}, nil
}

// EndSession leaves a private note saying why the session ended (the
// customer left, it expired, an administrator ended it), then resolves
// the conversation (resolve_on_end), so an agent never types into a chat
// nobody reads. The note is keyed: a retried end finds it instead of
// posting a second. When an agent resolved it, there is nothing to do.
func (p *Provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	if req.Reason == sdk.EndAgent {
		return nil
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return err
	}
	key := req.IdempotencyKey
	if key == "" {
		key = "end:" + req.SessionID
	}
	var note string
	switch req.Reason {
	case sdk.EndExpired:
		note = "The livechat session expired: nobody wrote for a while, and the user is back with the bot."
	case sdk.EndAdmin:
		note = "An administrator ended the livechat session; the bot answers the user again."
	case sdk.EndMaxWait:
		note = handoff.NoAgentNote
	default:
		note = "The customer left the chat; the bot answers them again. Messages written here no longer reach them."
	}
	_, err = p.post(ctx, b, conv, key+":note", newMessage{Content: note, MessageType: "outgoing", Private: true, ContentType: "text"}, true)
	if err == nil && b.cfg.ResolveOnEnd {
		err = b.api.toggleStatus(ctx, conv, "resolved")
	}
	if platform.StatusOf(err) == http.StatusNotFound {
		// Deleted on Chatwoot: there is nothing left to close.
		p.log.Warn("conversation gone; nothing to close", "bot", req.Bot, "session", req.SessionID, "conversation", conv)
		return nil
	}
	return err
}

// contactOf builds the contact for a user from the channel's metadata:
// firstname and lastname (or name) make the name, email the email, an
// E.164 phone the phone number, the user id the identifier, and every
// other key a custom attribute.
//
// That is for a verified user. An unverified user's metadata is only what
// they typed, and anyone can type someone else's email: their contact has
// neither email nor phone number (so it is never found by, nor clashes
// with, an existing contact's), and its identifier is
// "livechat:<bot>:<user id>", which no contact made outside livechatd has
// (Chatwoot's identifier is what a website's verified widget sets). The
// email and phone they gave come back as claimed, "label: value", for the
// agent's note.
func contactOf(bot string, u sdk.User) (newContact, []string) {
	c := verifiedContactOf(u)
	if u.Verified {
		return c, nil
	}
	var claimed []string
	if c.Email != "" {
		claimed = append(claimed, "email: "+c.Email)
	}
	if c.PhoneNumber != "" {
		claimed = append(claimed, "phone: "+c.PhoneNumber)
	}
	c.Email, c.PhoneNumber = "", ""
	if u.ID != "" {
		c.Identifier = "livechat:" + bot + ":" + u.ID
	}
	return c, claimed
}

// unverifiedNote heads an unverified user's first note: what they claimed,
// and that nobody checked it.
func unverifiedNote(claimed []string) string {
	return "Contact details the user typed in the chat (unverified: the chat channel does not vouch for them, " +
		"so this conversation is not linked to any existing contact with them): " + strings.Join(claimed, ", ") + "."
}

func verifiedContactOf(u sdk.User) newContact {
	md := u.Metadata
	used := map[string]bool{}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := md[k].(string); ok && strings.TrimSpace(s) != "" {
				used[k] = true
				return strings.TrimSpace(s)
			}
		}
		return ""
	}
	c := newContact{Identifier: u.ID}
	c.Name = strings.TrimSpace(str("firstname", "first_name") + " " + str("lastname", "last_name"))
	if c.Name == "" {
		c.Name = str("name", "username")
	}
	if c.Name == "" {
		c.Name = u.ID
	}
	c.Email = str("email")
	if phone, ok := md["phone_number"].(string); ok && e164.MatchString(phone) {
		c.PhoneNumber, used["phone_number"] = phone, true
	} else if phone, ok := md["phone"].(string); ok && e164.MatchString(phone) {
		c.PhoneNumber, used["phone"] = phone, true
	}
	for k, v := range md {
		if used[k] || v == nil {
			continue
		}
		if c.CustomAttributes == nil {
			c.CustomAttributes = map[string]any{}
		}
		c.CustomAttributes[k] = v
	}
	return c
}

// e164 is what Chatwoot accepts as a phone number.
var e164 = regexp.MustCompile(`^\+[1-9]\d{1,14}$`)

// withoutChecked moves the fields Chatwoot validates (email, phone) into
// custom attributes.
func withoutChecked(c newContact) newContact {
	attrs := map[string]any{}
	for k, v := range c.CustomAttributes {
		attrs[k] = v
	}
	if c.Email != "" {
		attrs["email"] = c.Email
	}
	if c.PhoneNumber != "" {
		attrs["phone_number"] = c.PhoneNumber
	}
	c.Email, c.PhoneNumber, c.CustomAttributes = "", "", attrs
	return c
}

func attrString(attrs map[string]any, key string) string {
	switch v := attrs[key].(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// transcriptNote is the transcript as an agent reads it: one line per
// message, "User: ..." or "Bot: ...".
func transcriptNote(ms []sdk.Message) string {
	var lines []string
	for _, m := range ms {
		text := describe(m)
		if text == "" {
			continue
		}
		lines = append(lines, speaker(m.Author)+": "+text)
	}
	if len(lines) == 0 {
		return ""
	}
	return "Conversation with the bot before the handoff:\n\n" + strings.Join(lines, "\n")
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

// describe is a message as text: a question with its buttons, a media URL,
// a clicked payload, or the text.
func describe(m sdk.Message) string {
	if m.ContentType == "question" {
		title, _ := m.Content["title"].(string)
		var buttons []string
		if bs, ok := m.Content["buttons"].([]any); ok {
			for _, b := range bs {
				if bm, ok := b.(map[string]any); ok {
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
	if text := m.PlainText(); text != "" {
		return text
	}
	// Anything else: its string fields, so the agent sees something.
	keys := make([]string, 0, len(m.Content))
	for k := range m.Content {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if s, ok := m.Content[k].(string); ok && s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}
