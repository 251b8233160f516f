package chatwoot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// Issue 10, point 6: an anonymous chat user who typed someone else's email
// got a conversation on that contact. These run the real plugin binary
// against the fake Chatwoot, so the user's Verified bit crosses the plugin
// boundary as the host sends it.

// impostor is an anonymous webchat user who typed Jane's email and phone.
func impostor(verified bool) sdk.User {
	return sdk.User{ID: "visitor-7", ChannelID: "webchat", Verified: verified, Metadata: map[string]any{
		"firstname": "Mallory", "email": "Jane@Example.com", "phone": "+33612345678", "plan": "free",
	}}
}

// realJane is the contact the company already has, verified by its own
// website widget (identifier) and with her email and phone.
var realJane = fake.Contact{Name: "Jane Doe", Email: "jane@example.com", PhoneNumber: "+33612345678", Identifier: "crm-991",
	CustomAttributes: map[string]any{"plan": "gold"}}

func launchChatwoot(t *testing.T, f *fake.Server) (*sdktest.Plugin, context.Context) {
	t.Helper()
	p := sdktest.Launch(t, binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if diags, err := p.Configure(ctx, "shop", config(t, f)); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	return p, ctx
}

func conversationOf(t *testing.T, f *fake.Server, ref string) fake.Conversation {
	t.Helper()
	for _, cv := range f.Conversations() {
		if itoa(cv.ID) == ref {
			return cv
		}
	}
	t.Fatalf("no conversation %s", ref)
	return fake.Conversation{}
}

func TestUnverifiedIdentityNeverReachesAnExistingContact(t *testing.T) {
	f := fake.New(t, fake.Options{})
	jane := f.AddContact(realJane)
	p, ctx := launchChatwoot(t, f)

	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: impostor(false), Transcript: transcript, IdempotencyKey: "start:s1"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	cv := conversationOf(t, f, res.Ref)
	if cv.ContactID == jane.ID {
		t.Fatalf("the unverified user's conversation is on the existing contact %d (Jane)", jane.ID)
	}
	contacts := f.Contacts()
	if diff := cmp.Diff(jane, contacts[0], ignoreTimes); diff != "" {
		t.Errorf("the existing contact changed (-before +after):\n%s", diff)
	}
	if len(contacts) != 2 {
		t.Fatalf("%d contacts, want Jane and the chat user's own", len(contacts))
	}
	own := contacts[1]
	if own.ID != cv.ContactID || own.Identifier != "livechat:shop:visitor-7" || own.Email != "" || own.PhoneNumber != "" {
		t.Errorf("the chat user's contact = %+v, want identifier livechat:shop:visitor-7 and no email or phone", own)
	}
	for _, v := range own.CustomAttributes {
		if s, _ := v.(string); strings.Contains(strings.ToLower(s), "jane@example.com") {
			t.Errorf("the claimed email is on the contact: %v", own.CustomAttributes)
		}
	}

	// The agent reads what the user claimed, in a private note marked unverified.
	notes := messagesOf(f, cv.ID, "outgoing", true)
	if len(notes) != 1 {
		t.Fatalf("%d private notes, want 1", len(notes))
	}
	for _, want := range []string{"unverified", "Jane@Example.com", "+33612345678", "Conversation with the bot before the handoff"} {
		if !strings.Contains(notes[0].Content, want) {
			t.Errorf("the note lacks %q:\n%s", want, notes[0].Content)
		}
	}

	// The next session of the same chat user finds their own contact again.
	res2, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s2", User: impostor(false), IdempotencyKey: "start:s2"})
	if err != nil {
		t.Fatalf("start s2: %v", err)
	}
	if cv2 := conversationOf(t, f, res2.Ref); cv2.ContactID != own.ID || len(f.Contacts()) != 2 {
		t.Errorf("second session on contact %d with %d contacts, want %d with 2", cv2.ContactID, len(f.Contacts()), own.ID)
	}
}

// A channel that vouches for the user (Verified) keeps the behaviour before
// issue 10: the contact with that email gets the conversation.
func TestVerifiedIdentityFindsTheContact(t *testing.T) {
	f := fake.New(t, fake.Options{})
	jane := f.AddContact(realJane)
	p, ctx := launchChatwoot(t, f)
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: impostor(true), Transcript: transcript, IdempotencyKey: "start:s1"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if cv := conversationOf(t, f, res.Ref); cv.ContactID != jane.ID || len(f.Contacts()) != 1 {
		t.Errorf("conversation on contact %d with %d contacts, want Jane's %d alone", cv.ContactID, len(f.Contacts()), jane.ID)
	}
	if notes := messagesOf(f, conversationOf(t, f, res.Ref).ID, "outgoing", true); len(notes) != 1 || strings.Contains(notes[0].Content, "unverified") {
		t.Errorf("notes of a verified user's conversation: %+v", notes)
	}
}

// Chatwoot's identifier is what a website's verified widget sets: an
// unverified chat user whose id happens to be one is still not that contact.
func TestUnverifiedUserIDIsNotAnIdentifier(t *testing.T) {
	e := newEnv(t, fake.Options{})
	widget := e.f.AddContact(fake.Contact{Name: "Jane Doe", Identifier: "u9"})
	conv := e.start(t, "s1", sdk.User{ID: "u9", Metadata: map[string]any{"name": "Mallory"}})
	cv, _ := e.f.Conversation(conv)
	cs := e.f.Contacts()
	if cv.ContactID == widget.ID || len(cs) != 2 || cs[1].Identifier != "livechat:shop:u9" || cs[1].Name != "Mallory" {
		t.Errorf("conversation on contact %d; contacts %+v", cv.ContactID, cs)
	}
	// Nothing claimed, nothing to mark: the note is the transcript alone.
	if notes := messagesOf(e.f, conv, "outgoing", true); len(notes) != 1 || strings.Contains(notes[0].Content, "unverified") {
		t.Errorf("notes: %+v", notes)
	}
}
