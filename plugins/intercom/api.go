package intercom

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"

	"github.com/livechatd/livechatd/sdk/platform"
)

// Intercom's objects, as far as the plugin reads them (Intercom-Version
// 2.14).

// Contact is a contact (role user or lead).
type Contact struct {
	Type       string `json:"type,omitempty"`
	ID         string `json:"id,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	Role       string `json:"role,omitempty"`
	Email      string `json:"email,omitempty"`
	Name       string `json:"name,omitempty"`
}

// Author is who wrote a conversation part: type admin, user, lead, bot or
// team.
type Author struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Part is a conversation part: a message, a note, or an action (close,
// open, assignment…), its body HTML.
type Part struct {
	Type      string `json:"type"` // conversation_part
	ID        string `json:"id"`
	PartType  string `json:"part_type"`
	Body      string `json:"body"`
	CreatedAt int64  `json:"created_at"`
	Author    Author `json:"author"`
	// Attachments are the part's files (part_attachment).
	Attachments []PartAttachment `json:"attachments"`
}

// PartAttachment is a file of a conversation part.
type PartAttachment struct {
	Type        string `json:"type"` // upload
	Name        string `json:"name"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Filesize    int64  `json:"filesize"`
}

// Parts is a conversation's part list (at most 500 parts).
type Parts struct {
	Type       string `json:"type"` // conversation_part.list
	Parts      []Part `json:"conversation_parts"`
	TotalCount int    `json:"total_count"`
}

// Source is a conversation's first message.
type Source struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Body   string `json:"body"`
	Author Author `json:"author"`
}

// ContactRef names a contact of a conversation.
type ContactRef struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	ExternalID string `json:"external_id,omitempty"`
}

// ContactList is a conversation's contacts.
type ContactList struct {
	Type     string       `json:"type"` // contact.list
	Contacts []ContactRef `json:"contacts"`
}

// Conversation is a conversation; Parts is filled when one conversation is
// retrieved, and in webhooks with the parts that triggered them.
type Conversation struct {
	Type      string      `json:"type"`
	ID        string      `json:"id"`
	CreatedAt int64       `json:"created_at"`
	UpdatedAt int64       `json:"updated_at"`
	State     string      `json:"state"` // open, closed, snoozed
	Open      bool        `json:"open"`
	Source    Source      `json:"source"`
	Contacts  ContactList `json:"contacts"`
	Parts     *Parts      `json:"conversation_parts,omitempty"`
	// AdminAssigneeID is the assigned admin's id (a number, or null).
	AdminAssigneeID json.RawMessage `json:"admin_assignee_id,omitempty"`
}

// Message is what POST /conversations answers.
type Message struct {
	Type           string `json:"type"` // user_message
	ID             string `json:"id"`
	CreatedAt      int64  `json:"created_at"`
	Body           string `json:"body"`
	MessageType    string `json:"message_type"`
	ConversationID string `json:"conversation_id"`
}

// conversationList is what POST /conversations/search answers.
type conversationList struct {
	Type          string         `json:"type"`
	TotalCount    int            `json:"total_count"`
	Conversations []Conversation `json:"conversations"`
}

func (b *bot) findContact(ctx context.Context, externalID string) (*Contact, error) {
	var c Contact
	err := b.api.Do(ctx, http.MethodGet, "contacts/find_by_external_id/"+url.PathEscape(externalID), nil, nil, &c)
	if platform.StatusOf(err) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func (b *bot) createContact(ctx context.Context, c Contact) (Contact, error) {
	var out Contact
	err := b.api.Do(ctx, http.MethodPost, "contacts", nil, c, &out)
	return out, err
}

func (b *bot) conversation(ctx context.Context, id string) (Conversation, error) {
	var cv Conversation
	err := b.api.Do(ctx, http.MethodGet, "conversations/"+id, nil, nil, &cv)
	return cv, err
}

// conversationsOf finds the contact's conversations (without their parts).
func (b *bot) conversationsOf(ctx context.Context, contactID string) ([]Conversation, error) {
	q := map[string]any{
		"query":      map[string]any{"field": "contact_ids", "operator": "=", "value": contactID},
		"pagination": map[string]any{"per_page": 150},
	}
	var out conversationList
	err := b.api.Do(ctx, http.MethodPost, "conversations/search", nil, q, &out)
	return out.Conversations, err
}

func (b *bot) createConversation(ctx context.Context, contactID, body string) (Message, error) {
	in := map[string]any{"from": map[string]string{"type": "user", "id": contactID}, "body": body}
	var out Message
	err := b.api.Do(ctx, http.MethodPost, "conversations", nil, in, &out)
	return out, err
}

// reply posts body as the contact's reply and returns the conversation
// with the new part.
func (b *bot) reply(ctx context.Context, conv, contactID, body string) (Conversation, error) {
	in := map[string]string{"message_type": "comment", "type": "user", "intercom_user_id": contactID, "body": body}
	var out Conversation
	err := b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/reply", nil, in, &out)
	return out, err
}

// note adds an admin's note, which only teammates see.
func (b *bot) note(ctx context.Context, conv, text string) error {
	in := map[string]string{"message_type": "note", "type": "admin", "admin_id": b.cfg.AdminID, "body": text}
	return b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/reply", nil, in, nil)
}

func (b *bot) close(ctx context.Context, conv string) error {
	in := map[string]string{"message_type": "close", "type": "admin", "admin_id": b.cfg.AdminID}
	return b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/parts", nil, in, nil)
}

// existingID reads the id out of a 409 "A contact matching those details
// already exists with id=…".
var existingID = regexp.MustCompile(`id=([0-9a-f]{24})\b`)
