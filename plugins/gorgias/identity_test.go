package gorgias

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// Issue 10, point 6: an anonymous chat user who typed someone else's email
// got a ticket attached to that customer and wrote into their data. These
// tests run the real plugin binary against the Gorgias sandbox: the
// user's Verified bit crosses the plugin boundary as the host sends it.

// realCustomer is a customer the shop already had before any chat: the one
// an impostor claims to be.
var realCustomer = map[string]any{
	"email": "jane@example.com", "name": "Jane Doe", "firstname": "Jane", "lastname": "Doe", "external_id": "shopify-991",
}

var realCustomerData = map[string]any{"plan": "gold", "address": "1 Main St"}

// seedCustomer creates c with data through the sandbox's API, as the
// shop's other integrations would have.
func seedCustomer(t *testing.T, sb *sandbox.Sandbox, c, data map[string]any) int64 {
	t.Helper()
	var created struct {
		ID int64 `json:"id"`
	}
	sandboxCall(t, sb, http.MethodPost, "customers", c, &created)
	sandboxCall(t, sb, http.MethodPut, "customers/"+itoa(created.ID)+"/data",
		map[string]any{"data": data, "version": time.Now().UTC().Format(time.RFC3339)}, nil)
	return created.ID
}

func itoa(n int64) string { return id(n).String() }

func sandboxCall(t *testing.T, sb *sandbox.Sandbox, method, path string, body, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, sb.BaseURL()+path, bytes.NewReader(raw))
	req.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func customerByID(t *testing.T, sb *sandbox.Sandbox, id int64) sandbox.Customer {
	t.Helper()
	for _, c := range sb.Customers() {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("customer %d is gone", id)
	return sandbox.Customer{}
}

func launchGorgias(t *testing.T, sb *sandbox.Sandbox) (*sdktest.Plugin, context.Context) {
	t.Helper()
	p := sdktest.Launch(t, builds.Binary(t, "./cmd/livechat-provider-gorgias"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	diags, err := p.Configure(ctx, "shop", sdk.Config{"base_url": sb.BaseURL(), "email": sandbox.DefaultEmail, "api_key": sandbox.DefaultAPIKey})
	if err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	return p, ctx
}

// impostor is an anonymous webchat user who typed Jane's email.
func impostor(verified bool) sdk.User {
	return sdk.User{ID: "visitor-7", ChannelID: "webchat", Verified: verified, Metadata: map[string]any{
		"email": "Jane@Example.com", "firstname": "Mallory", "phone": "+15550100", "plan": "free", "address": "666 Evil Rd",
	}}
}

func TestUnverifiedIdentityNeverReachesAnExistingCustomer(t *testing.T) {
	sb := sandbox.Start(t, sandbox.Options{BucketCapacity: -1})
	janeID := seedCustomer(t, sb, realCustomer, realCustomerData)
	before := customerByID(t, sb, janeID)
	p, ctx := launchGorgias(t, sb)

	res, err := p.StartSession(ctx, sdk.StartRequest{
		Bot: "shop", SessionID: "s1", User: impostor(false), IdempotencyKey: "start-s1",
		Transcript: []sdk.Message{said("I am Jane, change my delivery address", sdk.AuthorUser)},
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ticket, err := sb.Ticket(mustRef(t, res.Ref))
	if err != nil {
		t.Fatal(err)
	}

	// Jane is untouched: no ticket of hers, her data and name as they were.
	if ticket.Customer == nil || ticket.Customer.ID == janeID {
		t.Fatalf("the unverified user's ticket is attached to the existing customer %d (Jane)", janeID)
	}
	after := customerByID(t, sb, janeID)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the existing customer changed (-before +after):\n%s", diff)
	}
	for _, m := range ticket.Messages {
		if m.Sender != nil && m.Sender.ID == janeID {
			t.Errorf("message %d written as the existing customer", m.ID)
		}
	}

	// The ticket's customer is the chat user's own, keyed by the channel's
	// user id, with an address nobody can receive mail at.
	own := customerByID(t, sb, ticket.Customer.ID)
	if got, want := string(own.ExternalID), "livechat:shop:visitor-7"; got != want {
		t.Errorf("the chat user's customer has external_id %q, want %q", got, want)
	}
	if email := string(own.Email); !strings.HasPrefix(email, "no-reply-") || !strings.HasSuffix(email, "@livechat.invalid") {
		t.Errorf("the chat user's customer has email %q, want a synthetic no-reply address", email)
	}

	// The agent still reads what the user claimed, marked unverified.
	if len(ticket.Messages) == 0 {
		t.Fatal("the ticket has no messages")
	}
	first := ticket.Messages[0].BodyText
	for _, want := range []string{"unverified", "Jane@Example.com", "+15550100"} {
		if !strings.Contains(string(first), want) {
			t.Errorf("the first message lacks %q:\n%s", want, first)
		}
	}

	// A second session of the same chat user finds the same own customer.
	res2, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s2", User: impostor(false), IdempotencyKey: "start-s2"})
	if err != nil {
		t.Fatalf("start s2: %v", err)
	}
	t2, _ := sb.Ticket(mustRef(t, res2.Ref))
	if t2.Customer == nil || t2.Customer.ID != ticket.Customer.ID {
		t.Errorf("the second session's customer is %v, want the first's %d", t2.Customer, ticket.Customer.ID)
	}
	if n := len(sb.Customers()); n != 2 {
		t.Errorf("%d customers, want 2 (Jane and the chat user's own)", n)
	}
}

// A channel that vouches for the user (Verified) keeps the behaviour before
// issue 10: the customer found by email gets the ticket and the metadata.
func TestVerifiedIdentityAttachesToTheCustomer(t *testing.T) {
	sb := sandbox.Start(t, sandbox.Options{BucketCapacity: -1})
	janeID := seedCustomer(t, sb, realCustomer, realCustomerData)
	p, ctx := launchGorgias(t, sb)

	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: impostor(true), IdempotencyKey: "start-s1"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	ticket, _ := sb.Ticket(mustRef(t, res.Ref))
	if ticket.Customer == nil || ticket.Customer.ID != janeID {
		t.Fatalf("the verified user's ticket is for customer %v, want the existing %d", ticket.Customer, janeID)
	}
	data, _ := customerByID(t, sb, janeID).Data.(map[string]any)
	if data["plan"] != "free" || data["address"] != "666 Evil Rd" {
		t.Errorf("the verified user's metadata did not reach the customer's data: %v", data)
	}
	if n := len(sb.Customers()); n != 1 {
		t.Errorf("%d customers, want only the existing one", n)
	}
	if first := ticket.Messages[0].BodyText; strings.Contains(string(first), "unverified") {
		t.Errorf("a verified user's ticket says unverified:\n%s", first)
	}
}
