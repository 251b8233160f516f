package intercom_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/intercom"
	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// readFlag is the conversation's read field as the API answers it.
func readFlag(t *testing.T, f *fake.Server, conv string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+"/conversations/"+conv, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.Token())
	req.Header.Set("Intercom-Version", intercom.APIVersion)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var cv struct {
		Read *bool `json:"read"`
	}
	if err := json.NewDecoder(res.Body).Decode(&cv); err != nil || res.StatusCode != http.StatusOK || cv.Read == nil {
		t.Fatalf("GET conversation %s: %s %v (read %v)", conv, res.Status, err, cv.Read)
	}
	return *cv.Read
}

// TestIntercomMarkRead: a read receipt is PUT /conversations/{id}
// {"read": true}, once: the conversation's read flag becomes true, and
// nothing is posted in it.
func TestIntercomMarkRead(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	w.ic.AgentReply(ref, "Ann", "Hello Jane")
	if readFlag(t, w.ic, ref) {
		t.Fatal("read before any receipt")
	}
	before, _ := w.ic.Conversation(ref)
	if err := w.p.MarkRead(context.Background(), sdk.ReadReceipt{Bot: "shop", SessionID: "s1", Ref: ref, User: icUser}); err != nil {
		t.Fatal(err)
	}
	cv, _ := w.ic.Conversation(ref)
	if !cv.Read || !readFlag(t, w.ic, ref) {
		t.Error("the conversation is not read")
	}
	if len(cv.Parts) != len(before.Parts) || cv.State != before.State {
		t.Errorf("the receipt changed the conversation: %d parts (was %d), state %s", len(cv.Parts), len(before.Parts), cv.State)
	}
	if n := w.ic.Count(http.MethodPut, "/conversations/"+ref, http.StatusOK); n != 1 {
		t.Errorf("%d PUT calls, want 1", n)
	}
}

// TestIntercomMarkReadFailures: a receipt for a conversation Intercom does
// not have is a not-found error, one Intercom cannot take now is
// unavailable: one call each, never retried inside the plugin (the host
// logs and drops it); a ref that is no conversation id is refused before
// any call.
func TestIntercomMarkReadFailures(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	ctx := context.Background()
	err := w.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", SessionID: "s1", Ref: "999999"})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("unknown conversation: %v (%s)", err, sdk.KindOf(err))
	}
	if n := w.ic.Count(http.MethodPut, "/conversations/999999", 0); n != 1 {
		t.Errorf("%d calls for an unknown conversation, want 1", n)
	}
	w.ic.Fail(fake.Fault{Method: http.MethodPut, Path: "/conversations/", Status: http.StatusServiceUnavailable, Times: 1})
	err = w.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", SessionID: "s1", Ref: ref})
	if sdk.KindOf(err) != sdk.KindUnavailable {
		t.Errorf("503: %v (%s)", err, sdk.KindOf(err))
	}
	if n := w.ic.Count(http.MethodPut, "/conversations/"+ref, 0); n != 1 {
		t.Errorf("%d calls after a 503, want 1", n)
	}
	if cv, _ := w.ic.Conversation(ref); cv.Read {
		t.Error("read after a refused call")
	}
	calls := len(w.ic.Requests())
	if err := w.p.MarkRead(ctx, sdk.ReadReceipt{Bot: "shop", Ref: "../admins"}); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("bad ref: %v (%s)", err, sdk.KindOf(err))
	}
	if n := len(w.ic.Requests()) - calls; n != 0 {
		t.Errorf("%d calls for a bad ref", n)
	}
}

// TestIntercomMarkReadThroughPlugin: the built plugin lists read (in
// --describe and through go-plugin), and a read message sent through
// go-plugin, as the host sends it, marks the conversation read; one for
// an unknown conversation comes back as a not-found error.
func TestIntercomMarkReadThroughPlugin(t *testing.T) {
	bin := icBinary(t)
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
	p := sdktest.Launch(t, bin)
	if !slices.Contains(p.Info.Capabilities, sdk.CapRead) {
		t.Errorf("capabilities through go-plugin %v lack read", p.Info.Capabilities)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := sdk.Config{"base_url": f.URL, "access_token": f.Token(), "client_secret": f.ClientSecret(),
		"admin_id": fake.DefaultAdminID, "app_id": f.AppID(), "state_dir": t.TempDir()}
	if diags, err := p.Configure(ctx, "shop", cfg); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	p.Host.AddSession("shop", "s1")
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: icUser,
		Transcript: []sdk.Message{sdk.Text("help")}, IdempotencyKey: "start-s1"})
	if err != nil {
		t.Fatal(err)
	}
	f.AgentReply(res.Ref, "Ann", "Hello")
	texts := f.UserTexts(res.Ref)
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: res.Ref, User: icUser, Message: sdk.ReadMessage()}); err != nil {
		t.Fatal(err)
	}
	if !readFlag(t, f, res.Ref) {
		t.Error("the conversation is not read")
	}
	if got := f.UserTexts(res.Ref); !slices.Equal(got, texts) {
		t.Errorf("the read receipt was posted: %q, was %q", got, texts)
	}
	_, err = p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: "424242", User: icUser, Message: sdk.ReadMessage()})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("read receipt for an unknown conversation: %v (%s), want not found", err, sdk.KindOf(err))
	}
}
