package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// Plugin state keys, per session.
const (
	keyContact      = "contact"      // the contact's Intercom id
	keyConversation = "conversation" // the conversation's id
	keyLast         = "last"         // the id of the last part the plugin posted
	keySend         = "send:"        // + IdempotencyKey: a sendRecord
)

// sendRecord is what the plugin knows of one post: After, the last part
// it had posted before it (so a retry looks only past it), and Part once
// Intercom answered.
type sendRecord struct {
	After string `json:"after"`
	Part  string `json:"part,omitempty"`
}

// get reads a state value; "" when there is none.
func (b *bot) get(ctx context.Context, session, key string) (string, error) {
	return b.state.get(ctx, sdk.StateKey{Bot: b.name, SessionID: session, Key: key})
}

func (b *bot) set(ctx context.Context, session, key, value string) error {
	return b.state.set(ctx, sdk.StateKey{Bot: b.name, SessionID: session, Key: key}, value)
}

// externalID is the contact's external_id. A verified user is the site's
// own user: its id is theirs, and may be the one the site's Intercom
// Messenger uses. An unverified user's details are only what they typed,
// so they get a contact of their own that no one else's id can name.
func externalID(bot string, u sdk.User) string {
	if u.Verified {
		return u.ID
	}
	return "livechat:" + bot + ":" + u.ID
}

// StartSession finds or creates the user's contact, then the session's
// conversation — created from the contact with the transcript and the
// user's details — and posts the messages already waiting. Every step
// finds what an earlier attempt of the same start did.
func (p *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	if req.SessionID == "" {
		return sdk.StartResult{}, sdk.Permanent(errors.New("session_id: required"))
	}
	if strings.TrimSpace(req.User.ID) == "" {
		return sdk.StartResult{}, sdk.Permanent(errors.New("user.id: required: the Intercom contact is found again by it (external_id)"))
	}
	contact, err := b.contact(ctx, req)
	if err != nil {
		return sdk.StartResult{}, fmt.Errorf("contact: %w", err)
	}
	conv, err := b.startConversation(ctx, req, contact)
	if err != nil {
		return sdk.StartResult{}, fmt.Errorf("conversation: %w", err)
	}
	if err := b.route(ctx, req.SessionID, conv, req.Routing); err != nil {
		return sdk.StartResult{}, fmt.Errorf("routing: %w", err)
	}
	for i, m := range req.Messages {
		key := req.IdempotencyKey + "/" + strconv.Itoa(i)
		if _, err := b.send(ctx, req.SessionID, conv, contact, key, m); err != nil {
			return sdk.StartResult{}, err
		}
	}
	return sdk.StartResult{Ref: conv}, nil
}

// contact returns the id of the session's contact: the one kept in state,
// found by external_id, or created (role user).
func (b *bot) contact(ctx context.Context, req sdk.StartRequest) (string, error) {
	if id, err := b.get(ctx, req.SessionID, keyContact); err != nil || id != "" {
		return id, err
	}
	ext := externalID(b.name, req.User)
	c, err := b.findContact(ctx, ext)
	if err != nil {
		return "", err
	}
	if c == nil {
		want := Contact{Role: "user", ExternalID: ext, Name: displayName(req.User)}
		if req.User.Verified {
			want.Email, _ = req.User.Metadata["email"].(string)
		}
		created, err := b.createContact(ctx, want)
		switch {
		case platform.StatusOf(err) == http.StatusConflict:
			// Created meanwhile (a lost answer), or a verified email
			// taken by a contact of the site's: Intercom names it.
			if m := existingID.FindStringSubmatch(err.Error()); m != nil {
				created = Contact{ID: m[1]}
			} else if c, err = b.findContact(ctx, ext); err != nil {
				return "", err
			} else if c == nil {
				return "", sdk.Retryable(fmt.Errorf("external_id %q: Intercom says the contact exists and does not find it", ext), 0)
			} else {
				created = *c
			}
		case err != nil:
			return "", err
		}
		c = &created
	}
	return c.ID, b.set(ctx, req.SessionID, keyContact, c.ID)
}

func displayName(u sdk.User) string {
	first, _ := u.Metadata["firstname"].(string)
	last, _ := u.Metadata["lastname"].(string)
	name := strings.TrimSpace(first + " " + last)
	if name == "" {
		name, _ = u.Metadata["name"].(string)
	}
	return strings.TrimSpace(name)
}

// marker names the session in its conversation's first message, so that a
// retried start finds the conversation a lost answer created.
func marker(session string) string { return "livechat session " + session }

// startConversation returns the session's conversation: kept in state, or
// one of the contact's whose first message carries the session's marker,
// or a new one.
func (b *bot) startConversation(ctx context.Context, req sdk.StartRequest, contact string) (string, error) {
	if id, err := b.get(ctx, req.SessionID, keyConversation); err != nil || id != "" {
		return id, err
	}
	convs, err := b.conversationsOf(ctx, contact)
	if err != nil {
		return "", err
	}
	id := ""
	for _, cv := range convs {
		if strings.Contains(htmlText(cv.Source.Body), marker(req.SessionID)) {
			id = cv.ID
			break
		}
	}
	if id == "" {
		msg, err := b.createConversation(ctx, contact, summary(req))
		if err != nil {
			return "", err
		}
		id = msg.ConversationID
		if !numeric.MatchString(id) {
			return "", sdk.Retryable(fmt.Errorf("POST /conversations answered conversation_id %q", id), 0)
		}
	}
	return id, b.set(ctx, req.SessionID, keyConversation, id)
}

// summary is the conversation's first message, which agents read first:
// who the user says they are (marked unverified unless the channel vouches
// for it) and their conversation with the bot. Intercom takes plain text
// here.
func summary(req sdk.StartRequest) string {
	var s strings.Builder
	name := displayName(req.User)
	if name == "" {
		name = "user " + req.User.ID
	}
	fmt.Fprintf(&s, "Live chat with %s (%s)\n", name, marker(req.SessionID))
	if len(req.User.Metadata) > 0 {
		if req.User.Verified {
			s.WriteString("\nDetails (verified by the site):\n")
		} else {
			s.WriteString("\nUnverified details (typed by the user):\n")
		}
		keys := make([]string, 0, len(req.User.Metadata))
		for k := range req.User.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&s, "%s: %v\n", k, req.User.Metadata[k])
		}
	}
	if len(req.Transcript) > 0 {
		s.WriteString("\nConversation with the bot before the handoff:\n")
		for _, m := range req.Transcript {
			fmt.Fprintf(&s, "%s: %s\n", speaker(m.Author.Type), transcriptLine(m))
		}
	}
	return strings.TrimSpace(s.String())
}

func speaker(t sdk.AuthorType) string {
	switch t {
	case sdk.AuthorUser:
		return "User"
	case sdk.AuthorAgent:
		return "Agent"
	case sdk.AuthorSystem:
		return "System"
	}
	return "Bot"
}

// transcriptLine is a transcript message as text, a question with its
// buttons' titles.
func transcriptLine(m sdk.Message) string {
	text := m.PlainText()
	buttons, _ := m.Content["buttons"].([]any)
	var titles []string
	for _, b := range buttons {
		bm, _ := b.(map[string]any)
		c, _ := bm["content"].(map[string]any)
		if t, _ := c["title"].(string); t != "" {
			titles = append(titles, t)
		}
	}
	if len(titles) > 0 {
		text += " [" + strings.Join(titles, "] [") + "]"
	}
	return text
}

// SendMessage posts one user message as the contact's reply, once per
// IdempotencyKey.
func (p *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return sdk.SendResult{}, err
	}
	contact, err := b.get(ctx, req.SessionID, keyContact)
	if err != nil {
		return sdk.SendResult{}, err
	}
	id, err := b.send(ctx, req.SessionID, conv, contact, req.IdempotencyKey, req.Message)
	return sdk.SendResult{PlatformMessageID: id}, err
}

// send posts m unless the try before this one did. Intercom has no
// idempotency key: before posting, the plugin notes the last part it had
// posted; a retry that finds the note without Intercom's answer looks
// past that part for the contact's reply with this text.
func (b *bot) send(ctx context.Context, session, conv, contact, key string, m sdk.Message) (string, error) {
	text := strings.TrimSpace(m.PlainText())
	file := m.Attachment != nil && m.Attachment.URL != "" && (m.ContentType == "image" || m.ContentType == "file")
	if file {
		text = fileText(m)
	}
	if text == "" {
		return "", sdk.Permanent(fmt.Errorf("message: nothing to post (content type %q has no text or URL)", m.ContentType))
	}
	raw, err := b.get(ctx, session, keySend+key)
	if err != nil {
		return "", err
	}
	var rec sendRecord
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &rec)
		if rec.Part != "" {
			return rec.Part, nil
		}
	}
	if raw != "" || contact == "" {
		cv, err := b.conversation(ctx, conv)
		if err != nil {
			return "", err
		}
		if contact == "" && len(cv.Contacts.Contacts) > 0 {
			contact = cv.Contacts.Contacts[0].ID
		}
		if raw != "" && cv.Parts != nil {
			for _, pt := range cv.Parts.Parts {
				if isContact(pt.Author.Type) && partAfter(pt.ID, rec.After) && sameText(htmlText(pt.Body), text) {
					return pt.ID, b.sent(ctx, session, key, rec.After, pt.ID)
				}
			}
		}
		if contact == "" {
			return "", sdk.Permanent(fmt.Errorf("conversation %s has no contact to reply as", conv))
		}
	}
	if raw == "" {
		last, err := b.get(ctx, session, keyLast)
		if err != nil {
			return "", err
		}
		rec = sendRecord{After: last}
		note, _ := json.Marshal(rec)
		if err := b.set(ctx, session, keySend+key, string(note)); err != nil {
			return "", err
		}
	}
	var files []attachmentFile
	if file {
		if files, err = b.attachmentFiles(ctx, m.Attachment); err != nil {
			text, files = handoff.LinkText(m.Attachment), nil
		}
	}
	out, err := b.replyWith(ctx, conv, contact, text, files)
	if err != nil {
		return "", err
	}
	id := ""
	if out.Parts != nil {
		for _, pt := range out.Parts.Parts {
			if isContact(pt.Author.Type) {
				id = pt.ID
			}
		}
	}
	if id == "" {
		return "", sdk.Retryable(fmt.Errorf("POST /conversations/%s/reply answered no part of the contact's", conv), 0)
	}
	return id, b.sent(ctx, session, key, rec.After, id)
}

// sameText compares a text with what Intercom made of it, whose blank
// lines and spacing may differ.
func sameText(a, b string) bool {
	return strings.Join(strings.Fields(a), " ") == strings.Join(strings.Fields(b), " ")
}

// sent records a post Intercom answered.
func (b *bot) sent(ctx context.Context, session, key, after, part string) error {
	done, _ := json.Marshal(sendRecord{After: after, Part: part})
	if err := b.set(ctx, session, keySend+key, string(done)); err != nil {
		return err
	}
	return b.set(ctx, session, keyLast, part)
}

// partAfter compares Intercom's part ids, which are increasing numbers.
func partAfter(id, after string) bool {
	if after == "" {
		return true
	}
	a, err1 := strconv.ParseUint(id, 10, 64)
	b, err2 := strconv.ParseUint(after, 10, 64)
	if err1 != nil || err2 != nil {
		return id != after
	}
	return a > b
}

func isContact(authorType string) bool {
	return authorType == "user" || authorType == "lead" || authorType == "contact"
}

// endNotes tell the agents why the session ended, in a note before the
// close (a note reaches no customer; a close's own body would).
var endNotes = map[sdk.EndReason]string{
	sdk.EndUser:    "The user left the live chat: the bot answers them again, and replies here no longer reach them.",
	sdk.EndExpired: "The live chat expired (no message for too long): replies here no longer reach the user.",
	sdk.EndAdmin:   "An administrator of livechatd ended the live chat: replies here no longer reach the user.",
	sdk.EndMaxWait: handoff.NoAgentNote,
}

// EndSession leaves a note saying why, then closes the conversation as the
// configured admin. The host also calls it after an agent closed it:
// closing a closed conversation succeeds, and one Intercom no longer has
// counts as closed.
func (p *Provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return err
	}
	if req.Reason == sdk.EndAgent {
		// The agent closed it: look before closing again, which would
		// add a second close part to the conversation.
		cv, err := b.conversation(ctx, conv)
		if sdk.KindOf(err) == sdk.KindNotFound || (err == nil && cv.State == "closed") {
			return nil
		}
	}
	if text := endNotes[req.Reason]; text != "" {
		key := "end:" + req.IdempotencyKey
		done, err := b.get(ctx, req.SessionID, key)
		if err != nil {
			return err
		}
		if done == "" {
			err := b.note(ctx, conv, text)
			if sdk.KindOf(err) == sdk.KindNotFound {
				return nil
			}
			if err != nil {
				return err
			}
			if err := b.set(ctx, req.SessionID, key, "noted"); err != nil {
				return err
			}
		}
	}
	err = b.close(ctx, conv)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	return err
}
