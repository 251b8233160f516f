package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
)

// The handoff fields (issue 17) cross the wire whole: agent presence and
// queue events, avatars, attachments, routing and the max_wait end.
func TestHandoffFieldsRoundTrip(t *testing.T) {
	agent := Author{Type: AuthorAgent, Name: "Sam", ID: "42", AvatarURL: "https://cdn.example.com/sam.png"}
	events := []Event{
		{ID: "j1", Type: EventAgentJoined, Ref: "T1", Message: Message{Author: agent, Content: map[string]any{}}},
		{ID: "t1", Type: EventAgentTyping, Ref: "T1", Typing: true, Message: Message{Author: agent, Content: map[string]any{}}},
		{ID: "q1", Type: EventQueuePosition, SessionID: "s1", QueuePosition: 3, ExpectedWait: 90 * time.Second},
		{ID: "m1", Type: EventAgentMessage, Ref: "T1", Message: Message{ContentType: "image", Author: agent,
			Content:    map[string]any{"url": "https://cdn.example.com/a.png"},
			Attachment: &Attachment{URL: "https://cdn.example.com/a.png", Name: "a.png", MIME: "image/png", Size: 1234}}},
	}
	ps, err := eventsToProto(events)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(events, eventsFromProto(ps)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	r := Routing{Team: "billing", Priority: PriorityHigh, Tags: []string{"vip", "refund"}, Language: "fr"}
	if diff := cmp.Diff(r, routingFromProto(routingToProto(r))); diff != "" {
		t.Errorf("routing (-want +got):\n%s", diff)
	}
	if routingToProto(Routing{}) != nil {
		t.Error("an empty routing is sent as nothing")
	}
	if got := endReasonFromProto(endReasonToProto(EndMaxWait)); got != EndMaxWait {
		t.Errorf("end reason %q, want max_wait", got)
	}
	if endReasonToProto(EndMaxWait) != livechatv1.EndReason_END_REASON_MAX_WAIT {
		t.Error("max_wait has its own enum value")
	}
}

type typingRater struct {
	nopProvider
	typing []TypingRequest
	rated  []RatingRequest
	read   []ReadReceipt
	sent   []SendRequest
}

func (p *typingRater) MarkRead(_ context.Context, r ReadReceipt) error {
	p.read = append(p.read, r)
	return nil
}

func (p *typingRater) SendTyping(_ context.Context, r TypingRequest) error {
	p.typing = append(p.typing, r)
	return nil
}

func (p *typingRater) RecordRating(_ context.Context, r RatingRequest) error {
	p.rated = append(p.rated, r)
	return nil
}

func (p *typingRater) SendMessage(_ context.Context, r SendRequest) (SendResult, error) {
	p.sent = append(p.sent, r)
	return SendResult{}, nil
}

// Typing, read receipts and ratings travel as SendMessage with reserved
// content types; the SDK's server hands them to TypingSender, ReadMarker
// and RatingRecorder, and other
// messages to SendMessage.
func TestTypingAndRatingDispatch(t *testing.T) {
	p := &typingRater{}
	s := &providerServer{provider: p}
	ctx := context.Background()
	send := func(m Message, key string) error {
		pm, err := messageToProto(m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.SendMessage(ctx, &livechatv1.SendMessageRequest{BotId: "shop", SessionId: "s1", Ref: "T1", Message: pm, IdempotencyKey: key})
		return err
	}
	for _, m := range []Message{TypingMessage(true), TypingMessage(false), RatingMessage(4, 5, "Good"), ReadMessage(), Text("hi")} {
		if err := send(m, "k"); err != nil {
			t.Fatalf("%s: %v", m.ContentType, err)
		}
	}
	if len(p.typing) != 2 || !p.typing[0].Typing || p.typing[1].Typing || p.typing[0].Ref != "T1" {
		t.Errorf("typing calls %+v, want started then stopped for T1", p.typing)
	}
	if len(p.rated) != 1 || p.rated[0].Score != 4 || p.rated[0].Scale != 5 || p.rated[0].Label != "Good" || p.rated[0].IdempotencyKey != "k" {
		t.Errorf("ratings %+v, want 4/5 Good with its key", p.rated)
	}
	if len(p.read) != 1 || p.read[0].Ref != "T1" || p.read[0].SessionID != "s1" || p.read[0].Bot != "shop" {
		t.Errorf("read receipts %+v, want one for T1", p.read)
	}
	if len(p.sent) != 1 || p.sent[0].Message.PlainText() != "hi" {
		t.Errorf("SendMessage got %+v, want the text only", p.sent)
	}
	if err := send(Message{ContentType: ContentRating, Content: map[string]any{"score": 9, "scale": 5}}, "k2"); err == nil {
		t.Error("a score above the scale is refused")
	}
	// A provider without the interfaces gets the messages in SendMessage.
	plain := &typingRaterless{}
	if handled, err := dispatchSend(ctx, plain, SendRequest{Message: TypingMessage(true)}); handled || err != nil {
		t.Errorf("dispatch to a provider without TypingSender: handled %v, %v", handled, err)
	}
}

type typingRaterless struct{ nopProvider }

func TestServeImpliesTypingReadAndCSAT(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := serve(nopInfo, &typingRater{}, []string{"p", "--describe"}, noEnv, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	var got Info
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Capability{CapUserTyping, CapCSAT, CapRead} {
		if !slices.Contains(got.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", got.Capabilities, c)
		}
	}
}

// FileMessage: an image/* attachment is an image message, anything else a
// file, with the known keys in content; a URL the user could not open is
// refused.
func TestFileMessage(t *testing.T) {
	m, ok := FileMessage(Attachment{URL: "https://cdn.example.com/a.png", Name: "a.png", MIME: "Image/PNG", Size: 2048})
	if !ok || m.ContentType != "image" || m.Content["url"] != "https://cdn.example.com/a.png" || m.Content["name"] != "a.png" ||
		m.Content["mime"] != "Image/PNG" || m.Content["size"] != int64(2048) || m.Attachment == nil || m.Attachment.Size != 2048 {
		t.Errorf("image: %+v %v", m, ok)
	}
	m, ok = FileMessage(Attachment{URL: "http://files.example.com/label", Size: -1})
	if _, named := m.Content["name"]; !ok || m.ContentType != "file" || named || m.Content["size"] != nil || m.Content["mime"] != nil || m.Attachment.Size != 0 {
		t.Errorf("file without name, type or size: %+v %v", m, ok)
	}
	for _, bad := range []string{"", "ftp://example.com/a", "javascript:alert(1)", "/relative/a.png", "https://"} {
		if _, ok := FileMessage(Attachment{URL: bad}); ok {
			t.Errorf("%q taken", bad)
		}
	}
}
