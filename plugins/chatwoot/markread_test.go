package chatwoot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// apiConversation reads conversation conv as Chatwoot's application API
// renders it: its contact_last_seen_at and its messages' statuses.
func apiConversation(t *testing.T, f *fake.Server, conv int64) (lastSeen int64, statuses map[string][]string) {
	t.Helper()
	get := func(path string, out any) {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/accounts/%d%s", f.URL, f.AccountID(), path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("api_access_token", f.Token())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, res.Status)
		}
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	var cv struct {
		ContactLastSeenAt *int64 `json:"contact_last_seen_at"`
		AgentLastSeenAt   *int64 `json:"agent_last_seen_at"`
	}
	get(fmt.Sprintf("/conversations/%d", conv), &cv)
	if cv.ContactLastSeenAt == nil || cv.AgentLastSeenAt == nil {
		t.Fatalf("conversation %d lacks contact_last_seen_at or agent_last_seen_at", conv)
	}
	var list struct {
		Payload []struct {
			MessageType int    `json:"message_type"`
			Status      string `json:"status"`
		} `json:"payload"`
	}
	get(fmt.Sprintf("/conversations/%d/messages?after=0", conv), &list)
	statuses = map[string][]string{}
	names := []string{"incoming", "outgoing", "activity", "template"}
	for _, m := range list.Payload {
		statuses[names[m.MessageType]] = append(statuses[names[m.MessageType]], m.Status)
	}
	return *cv.ContactLastSeenAt, statuses
}

// TestMarkRead: a read receipt is the public API's update_last_seen, as the
// contact: the conversation's contact_last_seen_at becomes the time it
// came, the agent's replies written until then become read, the contact's
// own messages stay as they were, and a reply written after it is read
// only with the next receipt. A plugin restarted (no cached source id)
// marks read too.
func TestMarkRead(t *testing.T) {
	clk := newClock()
	e := newEnv(t, fake.Options{Now: clk.Now})
	conv := e.start(t, "s", jane)
	msg := sdk.Message{ContentType: "text", Content: map[string]any{"text": "my parcel is late"}, Author: sdk.Author{Type: sdk.AuthorUser}}
	if _, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), User: jane, Message: msg, IdempotencyKey: "m1"}); err != nil {
		t.Fatal(err)
	}
	e.f.AgentReply(conv, "Ann Agent", "Hello Jane, how can I help?")
	if seen, st := apiConversation(t, e.f, conv); seen != 0 || slices.Contains(st["outgoing"], "read") {
		t.Fatalf("before any receipt: contact_last_seen_at %d, statuses %v", seen, st)
	}

	clk.Set(clk.Now().Add(time.Minute))
	read := sdk.ReadReceipt{Bot: "shop", SessionID: "s", Ref: itoa(conv), User: jane}
	if err := e.p.MarkRead(ctx, read); err != nil {
		t.Fatal(err)
	}
	cv, _ := e.f.Conversation(conv)
	if !cv.ContactLastSeenAt.Equal(clk.Now()) {
		t.Errorf("ContactLastSeenAt %v, want %v", cv.ContactLastSeenAt, clk.Now())
	}
	seen, st := apiConversation(t, e.f, conv)
	if seen != clk.Now().Unix() {
		t.Errorf("contact_last_seen_at %d, want %d", seen, clk.Now().Unix())
	}
	if len(st["outgoing"]) == 0 || slices.ContainsFunc(st["outgoing"], func(s string) bool { return s != "read" }) {
		t.Errorf("agent messages %v, want all read", st["outgoing"])
	}
	if len(st["incoming"]) == 0 || slices.Contains(st["incoming"], "read") {
		t.Errorf("the contact's messages %v: a contact's receipt reads none of them", st["incoming"])
	}

	// A reply after the receipt is not read until the next one, which a
	// restarted plugin sends.
	clk.Set(clk.Now().Add(time.Minute))
	e.f.AgentReply(conv, "Ann Agent", "Are you still there?")
	if _, st := apiConversation(t, e.f, conv); st["outgoing"][len(st["outgoing"])-1] != "sent" {
		t.Errorf("a reply after the receipt is %q, want sent", st["outgoing"][len(st["outgoing"])-1])
	}
	clk.Set(clk.Now().Add(time.Minute))
	fresh := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
	if err := fresh.Configure(ctx, "shop", config(t, e.f), nil); err != nil {
		t.Fatal(err)
	}
	if err := fresh.MarkRead(ctx, read); err != nil {
		t.Fatal(err)
	}
	if seen, st := apiConversation(t, e.f, conv); seen != clk.Now().Unix() || slices.Contains(st["outgoing"], "sent") {
		t.Errorf("after the second receipt: contact_last_seen_at %d (want %d), agent messages %v", seen, clk.Now().Unix(), st["outgoing"])
	}
	if n := e.f.Count(http.MethodPost, "/update_last_seen"); n != 2 {
		t.Errorf("%d update_last_seen calls, want 2", n)
	}
}

// TestMarkReadFailures: a receipt for a conversation Chatwoot does not
// have is a not-found error, and one the public API refuses is returned
// as it is: one call each, never retried inside the plugin (the host logs
// the error and drops the receipt).
func TestMarkReadFailures(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	err := e.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", SessionID: "s", Ref: "999"})
	kind(t, err, sdk.KindNotFound)
	if n := e.f.Count(http.MethodPost, "/update_last_seen"); n != 0 {
		t.Errorf("%d update_last_seen calls for an unknown conversation", n)
	}

	for _, tc := range []struct {
		status int
		want   sdk.ErrorKind
	}{{http.StatusNotFound, sdk.KindNotFound}, {http.StatusServiceUnavailable, sdk.KindUnavailable}} {
		before := e.f.Count(http.MethodPost, "/update_last_seen")
		e.f.Fail(fake.Fault{Method: http.MethodPost, Path: "/update_last_seen", Status: tc.status})
		err := e.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", SessionID: "s", Ref: itoa(conv)})
		kind(t, err, tc.want)
		if n := e.f.Count(http.MethodPost, "/update_last_seen") - before; n != 1 {
			t.Errorf("%d: %d calls, want 1", tc.status, n)
		}
		if cv, _ := e.f.Conversation(conv); !cv.ContactLastSeenAt.IsZero() {
			t.Errorf("%d: the conversation was marked seen", tc.status)
		}
	}
	kind(t, e.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", Ref: "not-a-number"}), sdk.KindInvalid)
	kind(t, e.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "nobody", Ref: itoa(conv)}), sdk.KindNotFound)
}

// TestMarkReadThroughPlugin: the built plugin lists read (in --describe
// and through go-plugin), and a read message sent through go-plugin, as
// the host sends it, marks the conversation seen on Chatwoot; one for an
// unknown conversation comes back as a not-found error.
func TestMarkReadThroughPlugin(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "--describe").Output()
	if err != nil {
		t.Fatalf("--describe: %v", err)
	}
	var info sdk.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("--describe: %v\n%s", err, out)
	}
	if !slices.Contains(info.Capabilities, sdk.CapRead) {
		t.Errorf("--describe capabilities %v lack read", info.Capabilities)
	}

	f := fake.New(t, fake.Options{})
	p, ctx := launchChatwoot(t, f)
	if !slices.Contains(p.Info.Capabilities, sdk.CapRead) {
		t.Errorf("capabilities through go-plugin %v lack read", p.Info.Capabilities)
	}
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: jane, Transcript: transcript, IdempotencyKey: "start:s1"})
	if err != nil {
		t.Fatal(err)
	}
	conv := conversationOf(t, f, res.Ref).ID
	f.AgentReply(conv, "Ann Agent", "Hello")
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: res.Ref, User: jane, Message: sdk.ReadMessage()}); err != nil {
		t.Fatal(err)
	}
	if cv := conversationOf(t, f, res.Ref); cv.ContactLastSeenAt.IsZero() {
		t.Error("the conversation was not marked seen")
	}
	if _, st := apiConversation(t, f, conv); slices.Contains(st["outgoing"], "sent") {
		t.Errorf("agent messages %v, want all read", st["outgoing"])
	}
	for _, m := range f.Messages(conv) {
		if m.MessageType == "incoming" && m.Content == "" {
			t.Errorf("the read receipt was posted as a message: %+v", m)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = p.SendMessage(cctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: "424242", User: jane, Message: sdk.ReadMessage()})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("read receipt for an unknown conversation: %v (%s), want not found", err, sdk.KindOf(err))
	}
}
