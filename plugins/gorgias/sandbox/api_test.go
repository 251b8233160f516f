package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, sandbox.Options{Accounts: map[string]string{"ops@acme.com": "k1", "bot@acme.com": "k2"}})
	tests := []struct {
		name   string
		prep   func(*http.Request)
		status int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong key", func(r *http.Request) { r.SetBasicAuth("ops@acme.com", "k2") }, 401},
		{"unknown email", func(r *http.Request) { r.SetBasicAuth("eve@acme.com", "k1") }, 401},
		{"empty key", func(r *http.Request) { r.SetBasicAuth("ops@acme.com", "") }, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer k1") }, 401},
		{"first account", func(r *http.Request) { r.SetBasicAuth("ops@acme.com", "k1") }, 200},
		{"second account, email case", func(r *http.Request) { r.SetBasicAuth("BOT@acme.com", "k2") }, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/api/tickets", nil, tt.prep)
			mustStatus(t, r, tt.status)
			if r.Header.Get("X-Gorgias-Account-Api-Call-Limit") == "" {
				t.Error("no X-Gorgias-Account-Api-Call-Limit header")
			}
			if tt.status == 401 {
				wantJSON(t, r, `{"error": {"msg": "Unauthorized"}}`)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hello")
	tests := []struct {
		name, method, path string
		body               any
		ctype              string
		status             int
		want               string
	}{
		{"trailing slash", "GET", "/api/tickets/", nil, "", 200, ""},
		{"no trailing slash", "GET", "/api/tickets", nil, "", 200, ""},
		{"item with slash", "GET", fmt.Sprintf("/api/tickets/%d/", tk.ID), nil, "", 200, ""},
		{"form body", "POST", "/api/customers", "email=a@b.c", "application/x-www-form-urlencoded", 415, ""},
		{"xml body", "POST", "/api/customers", "<customer/>", "application/xml", 415, ""},
		{"json with charset", "POST", "/api/customers", `{"email": "x@y.z"}`, "application/json; charset=utf-8", 201, ""},
		{"broken json", "POST", "/api/customers", `{"email": `, "application/json", 400, `{"error": {"msg": "Request body must be a valid JSON object."}}`},
		{"json array", "POST", "/api/tickets", `[]`, "application/json", 400, ""},
		{"empty body", "POST", "/api/tickets", nil, "", 400, ""},
		{"unknown route", "GET", "/api/nope", nil, "", 404, `{"error": {"msg": "Resource not found."}}`},
		{"unknown ticket", "GET", "/api/tickets/999", nil, "", 404, `{"error": {"msg": "Resource not found."}}`},
		{"method", "PATCH", "/api/tickets", nil, "", 405, `{"error": {"msg": "The specified HTTP method is not allowed."}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.body, func(r *http.Request) {
				r.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
				if tt.ctype != "" {
					r.Header.Set("Content-Type", tt.ctype)
				}
			})
			mustStatus(t, r, tt.status)
			if tt.want != "" {
				wantJSON(t, r, tt.want)
			}
		})
	}
}

func TestCreateTicketValidation(t *testing.T) {
	msg := func(drop ...string) map[string]any {
		m := customerMessage("jane@example.com", "hi", "")
		for _, k := range drop {
			delete(m, k)
		}
		return m
	}
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	many := make([]any, 501)
	for i := range many {
		many[i] = msg()
	}
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"no messages", map[string]any{"customer": map[string]any{"email": "jane@example.com"}},
			`{"messages": ["Missing data for required field."]}`},
		{"empty messages", map[string]any{"messages": []any{}},
			`{"messages": ["Length must be between 1 and 500."]}`},
		{"501 messages", map[string]any{"messages": many},
			`{"messages": ["Length must be between 1 and 500."]}`},
		{"messages not a list", map[string]any{"messages": "hi"},
			`{"messages": ["Not a valid list."]}`},
		{"the documented example", map[string]any{"messages": []any{msg("sender", "channel")}},
			`{"sender": ["Missing data for required field."], "channel": ["Missing data for required field."]}`},
		{"no channel", map[string]any{"messages": []any{msg("channel")}},
			`{"channel": ["Missing data for required field."]}`},
		{"no via", map[string]any{"messages": []any{msg("via")}},
			`{"via": ["Missing data for required field."]}`},
		{"no from_agent", map[string]any{"messages": []any{msg("from_agent")}},
			`{"from_agent": ["Missing data for required field."]}`},
		{"from_agent a string", map[string]any{"messages": []any{with(msg(), "from_agent", "false")}},
			`{"from_agent": ["Not a valid boolean."]}`},
		{"incoming without sender", map[string]any{"messages": []any{msg("sender")}},
			`{"sender": ["Missing data for required field."]}`},
		{"incoming with empty sender", map[string]any{"messages": []any{with(msg(), "sender", map[string]any{})}},
			`{"sender": ["Missing data for required field."]}`},
		{"unknown via", map[string]any{"messages": []any{with(msg(), "via", "carrier-pigeon")}},
			`{"via": ["Must be one of: ` + strings.Join(viaList(), ", ") + `."]}`},
		{"sender id not a customer", map[string]any{"messages": []any{with(msg(), "sender", map[string]any{"id": 42})}},
			`{"sender": ["Object does not exist."]}`},
		{"unknown customer id", map[string]any{"customer": map[string]any{"id": 42}, "messages": []any{msg()}},
			`{"customer": ["Object does not exist."]}`},
		{"external_id too long", map[string]any{"external_id": strings.Repeat("x", 256), "messages": []any{msg()}},
			`{"external_id": ["Longer than maximum length 255."]}`},
		{"bad status", map[string]any{"status": "pending", "messages": []any{msg()}},
			`{"status": ["Must be one of: open, closed."]}`},
		{"errors of two messages merge", map[string]any{"messages": []any{msg("channel"), msg("channel", "via")}},
			`{"channel": ["Missing data for required field."], "via": ["Missing data for required field."]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, sandbox.Options{})
			r := e.call(t, "POST", "/api/tickets", tt.body)
			mustStatus(t, r, 400)
			wantJSON(t, r, `{"error": {"msg": "Failed to create ticket", "data": `+tt.want+`}}`)
			if n := len(e.Customers()) + len(e.Tickets()); n != 0 {
				t.Errorf("a refused ticket left %d customers and tickets", n)
			}
		})
	}
}

func viaList() []string {
	return strings.Split("aircall, api, chat, contact_form, email, facebook, facebook-mention, "+
		"facebook-messenger, facebook-recommendations, form, gorgias_chat, help-center, helpdesk, "+
		"instagram, instagram-ad-comment, instagram-comment, instagram-direct-message, instagram-mention, "+
		"internal-note, offline_capture, phone, rule, self_service, shopify, sms, twilio, twitter, "+
		"twitter-direct-message, whatsapp, yotpo, yotpo-review, zendesk", ", ")
}

func TestCreateTicket(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	r := e.call(t, "POST", "/api/tickets", ticketBody("jane@example.com", "lc-1", "Hi, I need a human"))
	mustStatus(t, r, http.StatusCreated)
	var got map[string]any
	r.Decode(t, &got)
	for _, k := range []string{"id", "uri", "external_id", "status", "priority", "channel", "via", "from_agent", "spam",
		"subject", "language", "meta", "customer", "assignee_user", "assignee_user_id", "assignee_team", "assignee_team_id",
		"tags", "messages", "reply_options", "created_datetime", "opened_datetime", "last_message_datetime",
		"last_received_message_datetime", "updated_datetime", "closed_datetime", "snooze_datetime", "trashed_datetime"} {
		if _, ok := got[k]; !ok {
			t.Errorf("ticket has no %q", k)
		}
	}
	var tk sandbox.Ticket
	r.Decode(t, &tk)
	if tk.URI != fmt.Sprintf("/api/tickets/%d/", tk.ID) || tk.Status != "open" || tk.ExternalID != "lc-1" ||
		tk.Channel != "api" || tk.Via != "api" || tk.FromAgent || tk.Subject != "Live chat: Jane Doe" {
		t.Errorf("ticket %+v", tk)
	}
	if got["created_datetime"] != "2026-03-01T12:00:00.000000+00:00" {
		t.Errorf("created_datetime %v, want Gorgias's format from the injected clock", got["created_datetime"])
	}
	if len(tk.Tags) != 1 || tk.Tags[0].Name != "livechat" {
		t.Errorf("tags %+v", tk.Tags)
	}
	// The unknown email created the customer, with the name given.
	c, err := e.CustomerByEmail("jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Customer == nil || tk.Customer.ID != c.ID || c.Name != "Jane Doe" {
		t.Errorf("customer %+v, ticket's %+v", c, tk.Customer)
	}
	if len(tk.Messages) != 1 {
		t.Fatalf("messages %+v", tk.Messages)
	}
	m := tk.Messages[0]
	if m.TicketID != tk.ID || m.FromAgent || !m.Public || m.Channel != "api" || m.Via != "api" || m.ExternalID != "lc-msg-1" ||
		m.BodyText != "Hi, I need a human" || m.Sender == nil || m.Sender.ID != c.ID || m.Receiver != nil {
		t.Errorf("message %+v", m)
	}

	// A second ticket for the same email reuses the customer; by id too.
	tk2 := e.createTicket(t, "JANE@example.com", "lc-2", "again")
	body := ticketBody("", "lc-3", "by id")
	body["customer"] = map[string]any{"id": c.ID}
	body["messages"] = []any{map[string]any{"channel": "api", "via": "api", "from_agent": false,
		"sender": map[string]any{"id": c.ID}, "body_text": "by id"}}
	r = e.call(t, "POST", "/api/tickets", body)
	mustStatus(t, r, http.StatusCreated)
	var tk3 sandbox.Ticket
	r.Decode(t, &tk3)
	if tk2.Customer.ID != c.ID || tk3.Customer.ID != c.ID || len(e.Customers()) != 1 {
		t.Errorf("customers %d; ticket customers %d %d, want %d", len(e.Customers()), tk2.Customer.ID, tk3.Customer.ID, c.ID)
	}

	// Without a customer, the first incoming message's sender is the customer.
	body = ticketBody("bob@example.com", "lc-4", "no customer field")
	delete(body, "customer")
	r = e.call(t, "POST", "/api/tickets", body)
	mustStatus(t, r, http.StatusCreated)
	r.Decode(t, &tk)
	if tk.Customer == nil || tk.Customer.Email != "bob@example.com" {
		t.Errorf("customer %+v", tk.Customer)
	}
}

func TestTicketsExternalIDFilter(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	a := e.createTicket(t, "jane@example.com", "lc-1", "first")
	b := e.createTicket(t, "jane@example.com", "lc-1", "again: Gorgias does not dedupe")
	e.createTicket(t, "jane@example.com", "lc-2", "other")

	r := e.call(t, "GET", "/api/tickets?external_id=lc-1", nil)
	mustStatus(t, r, 200)
	var list struct {
		Data   []sandbox.Ticket `json:"data"`
		Object string           `json:"object"`
		URI    string           `json:"uri"`
		Meta   map[string]any   `json:"meta"`
	}
	r.Decode(t, &list)
	var ids []int64
	for _, tk := range list.Data {
		ids = append(ids, tk.ID)
		if tk.Messages != nil {
			t.Error("a list item carries its messages")
		}
	}
	if diff := cmp.Diff([]int64{b.ID, a.ID}, ids); diff != "" {
		t.Errorf("ids, newest first (-want +got):\n%s", diff)
	}
	if list.Object != "list" || list.URI != "/api/tickets?external_id=lc-1" ||
		list.Meta["next_cursor"] != nil || list.Meta["prev_cursor"] != nil {
		t.Errorf("envelope %+v", list)
	}
	if got := e.TicketsByExternalID("lc-1"); len(got) != 2 {
		t.Errorf("TicketsByExternalID: %d tickets", len(got))
	}
	r = e.call(t, "GET", "/api/tickets?externalId=lc-1", nil)
	mustStatus(t, r, 400)
	wantJSON(t, r, `{"error": {"msg": "Invalid query parameters.", "data": {"externalId": ["Unknown field."]}}}`)
}

func TestCustomers(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	r := e.call(t, "POST", "/api/customers", map[string]any{"email": "jane@example.com", "name": "Jane Doe", "external_id": "u1"})
	mustStatus(t, r, http.StatusCreated)
	var c sandbox.Customer
	r.Decode(t, &c)
	if c.Email != "jane@example.com" || c.Name != "Jane Doe" || c.ExternalID != "u1" || len(c.Channels) != 1 {
		t.Errorf("created %+v", c)
	}

	r = e.call(t, "POST", "/api/customers", map[string]any{"email": "Jane@Example.com"})
	mustStatus(t, r, http.StatusConflict)
	wantJSON(t, r, `{"error": {"msg": "The resource already exists."}}`)

	find := func(query string) []sandbox.Customer {
		t.Helper()
		r := e.call(t, "GET", "/api/customers?"+query, nil)
		mustStatus(t, r, 200)
		var list struct {
			Data []sandbox.Customer `json:"data"`
		}
		r.Decode(t, &list)
		return list.Data
	}
	for _, q := range []string{"email=jane%40example.com", "email=JANE@example.com", "external_id=u1"} {
		if got := find(q); len(got) != 1 || got[0].ID != c.ID {
			t.Errorf("%s: %+v", q, got)
		}
	}
	if got := find("email=nobody@example.com"); len(got) != 0 {
		t.Errorf("unknown email found %+v", got)
	}

	r = e.call(t, "PUT", fmt.Sprintf("/api/customers/%d", c.ID), map[string]any{"name": "Jane D.", "language": "fr"})
	mustStatus(t, r, 200)
	r.Decode(t, &c)
	if c.Name != "Jane D." || c.Language != "fr" || c.Email != "jane@example.com" {
		t.Errorf("updated %+v", c)
	}

	// data: set, then a stale version is ignored, a newer one wins.
	putData := func(data map[string]any, version string) sandbox.Customer {
		t.Helper()
		body := map[string]any{"data": data}
		if version != "" {
			body["version"] = version
		}
		r := e.call(t, "PUT", fmt.Sprintf("/api/customers/%d/data/", c.ID), body)
		mustStatus(t, r, 200)
		var out sandbox.Customer
		r.Decode(t, &out)
		return out
	}
	putData(map[string]any{"plan": "gold", "firstname": "Jane"}, "2026-03-01T12:00:00")
	putData(map[string]any{"plan": "stale"}, "2026-03-01T11:00:00")
	got := putData(map[string]any{"plan": "platinum"}, "")
	if diff := cmp.Diff(map[string]any{"plan": "platinum"}, got.Data); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	got = putData(map[string]any{"plan": "stale again"}, "2026-02-01T00:00:00")
	if diff := cmp.Diff(map[string]any{"plan": "platinum"}, got.Data); diff != "" {
		t.Errorf("stale version applied (-want +got):\n%s", diff)
	}

	r = e.call(t, "GET", fmt.Sprintf("/api/customers/%d", c.ID), nil)
	mustStatus(t, r, 200)
	mustStatus(t, e.call(t, "GET", "/api/customers/1", nil), 404)
	mustStatus(t, e.call(t, "PUT", "/api/customers/1/data", map[string]any{"data": map[string]any{}}), 404)
	r = e.call(t, "PUT", fmt.Sprintf("/api/customers/%d/data", c.ID), map[string]any{"version": "x"})
	mustStatus(t, r, 400)
	wantJSON(t, r, `{"error": {"msg": "Failed to update customer data", "data": {"data": ["Missing data for required field."], "version": ["Not a valid datetime."]}}}`)

	// An email taken by another customer cannot be taken over.
	r = e.call(t, "POST", "/api/customers", map[string]any{"email": "bob@example.com"})
	mustStatus(t, r, http.StatusCreated)
	var bob sandbox.Customer
	r.Decode(t, &bob)
	mustStatus(t, e.call(t, "PUT", fmt.Sprintf("/api/customers/%d", bob.ID), map[string]any{"email": "jane@example.com"}), 409)
}

func TestPagination(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	var want []int64
	for i := range 7 {
		r := e.call(t, "POST", "/api/customers", map[string]any{"email": fmt.Sprintf("c%d@example.com", i)})
		mustStatus(t, r, http.StatusCreated)
		var c sandbox.Customer
		r.Decode(t, &c)
		want = append(want, c.ID)
	}
	type page struct {
		Data []sandbox.Customer `json:"data"`
		Meta struct {
			Prev *string `json:"prev_cursor"`
			Next *string `json:"next_cursor"`
		} `json:"meta"`
	}
	var got []int64
	var pages []page
	path := "/api/customers?limit=3&order_by=created_datetime:asc"
	for range 10 {
		r := e.call(t, "GET", path, nil)
		mustStatus(t, r, 200)
		var p page
		r.Decode(t, &p)
		pages = append(pages, p)
		for _, c := range p.Data {
			got = append(got, c.ID)
		}
		if p.Meta.Next == nil {
			break
		}
		path = "/api/customers?limit=3&order_by=created_datetime:asc&cursor=" + *p.Meta.Next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ids over the pages (-want +got):\n%s", diff)
	}
	if len(pages) != 3 || pages[0].Meta.Prev != nil || pages[1].Meta.Prev == nil {
		t.Errorf("%d pages; first prev %v", len(pages), pages[0].Meta.Prev)
	}
	// The previous page of page 2 is page 1.
	r := e.call(t, "GET", "/api/customers?limit=3&order_by=created_datetime:asc&cursor="+*pages[1].Meta.Prev, nil)
	var p page
	r.Decode(t, &p)
	if len(p.Data) != 3 || p.Data[0].ID != want[0] {
		t.Errorf("prev page %+v", p.Data)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=nope", "order_by=color:asc"} {
		mustStatus(t, e.call(t, "GET", "/api/customers?"+q, nil), 400)
	}
}

func TestMessages(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "first")

	r := e.call(t, "POST", "/api/tickets/999999/messages", customerMessage("jane@example.com", "lost", "lc-msg-2"))
	mustStatus(t, r, 404)
	wantJSON(t, r, `{"error": {"msg": "Resource not found."}}`)

	path := fmt.Sprintf("/api/tickets/%d/messages", tk.ID)
	var ids []int64
	for range 2 { // the same external_id twice: Gorgias keeps both
		r = e.call(t, "POST", path, customerMessage("jane@example.com", "second", "lc-msg-2"))
		mustStatus(t, r, http.StatusCreated)
		var m sandbox.Message
		r.Decode(t, &m)
		if m.TicketID != tk.ID || m.ExternalID != "lc-msg-2" || m.URI != fmt.Sprintf("/api/tickets/%d/messages/%d/", tk.ID, m.ID) {
			t.Errorf("message %+v", m)
		}
		ids = append(ids, m.ID)
	}
	r = e.call(t, "POST", path, map[string]any{"channel": "api", "via": "api", "from_agent": false, "body_text": "who?"})
	mustStatus(t, r, 400)
	wantJSON(t, r, `{"error": {"msg": "Failed to create message", "data": {"sender": ["Missing data for required field."]}}}`)

	msgs, err := e.Messages(tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	var dup int
	for _, m := range msgs {
		if m.ExternalID == "lc-msg-2" {
			dup++
		}
	}
	if len(msgs) != 3 || dup != 2 {
		t.Errorf("%d messages, %d with lc-msg-2; want 3 and 2", len(msgs), dup)
	}

	r = e.call(t, "GET", path+"/", nil)
	mustStatus(t, r, 200)
	var list struct {
		Data   []sandbox.Message `json:"data"`
		Object string            `json:"object"`
	}
	r.Decode(t, &list)
	if len(list.Data) != 3 || list.Object != "list" || list.Data[0].BodyText != "first" {
		t.Errorf("list %+v", list)
	}
	r = e.call(t, "GET", fmt.Sprintf("%s/%d", path, ids[0]), nil)
	mustStatus(t, r, 200)
	mustStatus(t, e.call(t, "GET", fmt.Sprintf("/api/tickets/%d/messages/%d", tk.ID+1, ids[0]), nil), 404)
	mustStatus(t, e.call(t, "GET", fmt.Sprintf("%s/%d", path, tk.ID), nil), 404) // a ticket id is no message id

	r = e.call(t, "GET", fmt.Sprintf("/api/messages?ticket_id=%d&limit=2", tk.ID), nil)
	mustStatus(t, r, 200)
	var page struct {
		Data []sandbox.Message `json:"data"`
		Meta struct {
			Next *string `json:"next_cursor"`
		} `json:"meta"`
	}
	r.Decode(t, &page)
	if len(page.Data) != 2 || page.Data[0].BodyText != "first" || page.Meta.Next == nil {
		t.Errorf("page %+v", page)
	}
}

func TestUpdateTicket(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	path := fmt.Sprintf("/api/tickets/%d", tk.ID)
	agent := e.Users()[0]

	r := e.call(t, "PUT", path, map[string]any{"status": "closed", "tags": []any{map[string]any{"name": "ended"}},
		"assignee_user": map[string]any{"id": agent.ID}})
	mustStatus(t, r, 200)
	r.Decode(t, &tk)
	if tk.Status != "closed" || tk.ClosedDatetime == nil || len(tk.Tags) != 1 || tk.Tags[0].Name != "ended" ||
		tk.AssigneeUserID == nil || *tk.AssigneeUserID != agent.ID {
		t.Errorf("after PUT %+v", tk)
	}
	r = e.call(t, "PUT", path, map[string]any{"status": "open", "assignee_user": map[string]any{"id": nil}})
	mustStatus(t, r, 200)
	r.Decode(t, &tk)
	if tk.Status != "open" || tk.ClosedDatetime != nil || tk.AssigneeUser != nil {
		t.Errorf("after reopen %+v", tk)
	}
	r = e.call(t, "PUT", path, map[string]any{"status": "done"})
	mustStatus(t, r, 400)
	wantJSON(t, r, `{"error": {"msg": "Failed to update ticket", "data": {"status": ["Must be one of: open, closed."]}}}`)
	mustStatus(t, e.call(t, "PUT", "/api/tickets/1", map[string]any{"status": "closed"}), 404)

	// Tag endpoints: add, replace, remove.
	tags := path + "/tags"
	mustStatus(t, e.call(t, "POST", tags, map[string]any{"names": []string{"vip"}}), 201)
	mustStatus(t, e.call(t, "DELETE", tags, map[string]any{"names": []string{"ended"}}), 204)
	got, _ := e.Ticket(tk.ID)
	if len(got.Tags) != 1 || got.Tags[0].Name != "vip" {
		t.Errorf("tags %+v", got.Tags)
	}
	mustStatus(t, e.call(t, "PUT", tags, map[string]any{"names": []string{"a", "b"}}), 202)
	got, _ = e.Ticket(tk.ID)
	if len(got.Tags) != 2 {
		t.Errorf("tags %+v", got.Tags)
	}

	// A customer writing again reopens a closed ticket.
	mustStatus(t, e.call(t, "PUT", path, map[string]any{"status": "closed"}), 200)
	mustStatus(t, e.call(t, "POST", path+"/messages", customerMessage("jane@example.com", "me again", "")), 201)
	got, _ = e.Ticket(tk.ID)
	if got.Status != "open" {
		t.Errorf("status %q after a customer message on a closed ticket", got.Status)
	}
}

func TestLeakyBucket(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	limit := func(r response) string { return r.Header.Get("X-Gorgias-Account-Api-Call-Limit") }
	for i := 1; i <= 40; i++ {
		r := e.call(t, "GET", "/api/tickets", nil)
		mustStatus(t, r, 200)
		if want := fmt.Sprintf("%d/40", i); limit(r) != want {
			t.Fatalf("call %d: limit %q, want %q", i, limit(r), want)
		}
	}
	r := e.call(t, "GET", "/api/tickets", nil)
	mustStatus(t, r, 429)
	wantJSON(t, r, `{"error": {"msg": "Too many requests"}}`)
	if r.Header.Get("Retry-After") != "1" || limit(r) != "40/40" {
		t.Errorf("429: Retry-After %q, limit %q", r.Header.Get("Retry-After"), limit(r))
	}
	e.clock.Advance(500 * time.Millisecond) // one slot leaked
	r = e.call(t, "GET", "/api/tickets", nil)
	mustStatus(t, r, 200)
	if limit(r) != "40/40" {
		t.Errorf("limit %q", limit(r))
	}
	e.clock.Advance(10 * time.Second) // 20 leaked
	r = e.call(t, "GET", "/api/tickets", nil)
	mustStatus(t, r, 200)
	if limit(r) != "21/40" {
		t.Errorf("limit %q after 10s, want 21/40", limit(r))
	}
	e.clock.Advance(time.Minute)
	if got := e.RateLimit(); got != "0/40" {
		t.Errorf("RateLimit %q after a minute", got)
	}

	// A slower leak makes Retry-After longer; /sandbox/ and the desk are free.
	slow := newEnv(t, sandbox.Options{BucketCapacity: 2, LeakPerSecond: 0.25})
	for range 2 {
		mustStatus(t, slow.call(t, "GET", "/api/tickets", nil), 200)
	}
	r = slow.call(t, "GET", "/api/tickets", nil)
	mustStatus(t, r, 429)
	if r.Header.Get("Retry-After") != "4" {
		t.Errorf("Retry-After %q, want 4", r.Header.Get("Retry-After"))
	}
	mustStatus(t, slow.do(t, "GET", "/sandbox/tickets", nil, nil), 200)
}

func TestFaults(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	e.InjectFault(429, 2, 1500*time.Millisecond)
	for range 2 {
		r := e.call(t, "GET", "/api/tickets", nil)
		mustStatus(t, r, 429)
		if r.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2", r.Header.Get("Retry-After"))
		}
	}
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)

	e.InjectFault(503, 1, 0)
	r := e.call(t, "GET", "/api/tickets", nil)
	mustStatus(t, r, 503)
	wantJSON(t, r, `{"error": {"msg": "An external service had an issue."}}`)

	// Over HTTP, limited to one method and path.
	r = e.do(t, "POST", "/sandbox/faults", map[string]any{"status": 502, "count": 1, "method": "POST", "path": "/api/tickets", "retry_after": 3}, nil)
	mustStatus(t, r, 201)
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	r = e.call(t, "POST", "/api/tickets", ticketBody("jane@example.com", "lc-1", "hi"))
	mustStatus(t, r, 502)
	if r.Header.Get("Retry-After") != "3" || len(e.Tickets()) != 0 {
		t.Errorf("Retry-After %q; %d tickets", r.Header.Get("Retry-After"), len(e.Tickets()))
	}

	// After apply: the ticket exists although the client saw a 503 — a
	// plugin must look it up by external_id before creating it again.
	e.AddFault(sandbox.Fault{Status: 503, Path: "/api/tickets", Method: "POST", AfterApply: true})
	mustStatus(t, e.call(t, "POST", "/api/tickets", ticketBody("jane@example.com", "lc-1", "hi")), 503)
	if got := e.TicketsByExternalID("lc-1"); len(got) != 1 {
		t.Errorf("%d tickets after an applied call answered 503", len(got))
	}
	e.InjectFault(500, 5, 0)
	if got := e.Faults(); len(got) != 1 || got[0].Status != 500 || got[0].Count != 5 {
		t.Errorf("faults left = %+v, want the 500 ×5", got)
	}
	e.ClearFaults()
	if got := e.Faults(); len(got) != 0 {
		t.Errorf("faults left after ClearFaults = %+v", got)
	}
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	mustStatus(t, e.do(t, "DELETE", "/sandbox/faults", nil, nil), 204)

	var statuses []int
	for _, rq := range e.Requests() {
		statuses = append(statuses, rq.Status)
	}
	if diff := cmp.Diff([]int{429, 429, 200, 503, 200, 502, 503, 200}, statuses); diff != "" {
		t.Errorf("request log statuses (-want +got):\n%s", diff)
	}
}

func TestSlowAndResetFaults(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	impatient := &http.Client{Timeout: 200 * time.Millisecond}
	post := func(external string) error {
		b, _ := json.Marshal(ticketBody("jane@example.com", external, "hi"))
		req, _ := http.NewRequest("POST", e.URL()+"/api/tickets", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
		resp, err := impatient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	tickets := func(external string) int { return len(e.TicketsByExternalID(external)) }
	// The request log is written before the delayed answer: wait for it.
	logged := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.WaitUntil(ctx, func() bool { return len(e.Requests()) >= n }); err != nil {
			t.Fatalf("%d requests logged, want %d", len(e.Requests()), n)
		}
	}

	// Slow before the call: the client gives up, nothing happens.
	e.AddFault(sandbox.Fault{Delay: time.Second})
	if err := post("slow-before"); err == nil {
		t.Fatal("a call slower than the client's timeout succeeded")
	}
	logged(1)
	if n := tickets("slow-before"); n != 0 {
		t.Errorf("%d tickets after a call abandoned during its delay, want 0", n)
	}
	// Slow after the call: the client gives up, the ticket exists.
	e.AddFault(sandbox.Fault{Delay: time.Second, AfterApply: true})
	if err := post("slow-after"); err == nil {
		t.Fatal("a call slower than the client's timeout succeeded")
	}
	logged(2)
	if n := tickets("slow-after"); n != 1 {
		t.Errorf("%d tickets after a slow answer, want 1", n)
	}
	// Slow but patient enough: a normal answer, late.
	e.AddFault(sandbox.Fault{Delay: 50 * time.Millisecond})
	if err := post("slow-ok"); err != nil || tickets("slow-ok") != 1 {
		t.Errorf("a call a little slow: %v, %d tickets", err, tickets("slow-ok"))
	}
	// Resets, before and after the call.
	e.AddFault(sandbox.Fault{Reset: true})
	if err := post("reset-before"); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("reset before: %v, want a connection reset", err)
	}
	e.AddFault(sandbox.Fault{Reset: true, AfterApply: true})
	if err := post("reset-after"); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("reset after: %v, want a connection reset", err)
	}
	if b, a := tickets("reset-before"), tickets("reset-after"); b != 0 || a != 1 {
		t.Errorf("tickets after resets: before %d (want 0), after %d (want 1)", b, a)
	}
	// Over HTTP: no status needed.
	mustStatus(t, e.do(t, "POST", "/sandbox/faults", map[string]any{"reset": true, "delay": 0.01}, nil), 201)
	if err := post("reset-http"); err == nil {
		t.Error("the reset fault posted over HTTP did not apply")
	}

	var statuses []int
	for _, rq := range e.Requests() {
		statuses = append(statuses, rq.Status)
	}
	if diff := cmp.Diff([]int{0, 201, 201, 0, 0, 0}, statuses); diff != "" {
		t.Errorf("request log statuses (-want +got):\n%s", diff)
	}
}

// LimitRate(false) lets a test's setup through at any rate; LimitRate(true)
// brings the configured bucket back, empty.
func TestLimitRate(t *testing.T) {
	e := newEnv(t, sandbox.Options{BucketCapacity: 2, LeakPerSecond: 1})
	for range 2 {
		mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	}
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 429)
	e.LimitRate(false)
	for range 10 {
		mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	}
	e.LimitRate(true)
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 200)
	mustStatus(t, e.call(t, "GET", "/api/tickets", nil), 429)
}
