package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

func TestIntegrationGETURL(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	in := e.integration(t, map[string]any{"name": "livechatd", "type": "http", "http": map[string]any{
		"url": rc.URL + seedURL + "&token=s3cret", "method": "GET",
		"triggers": map[string]any{"ticket-message-created": true}}})
	if in.ID == 0 || in.HTTP.Method != "GET" || !in.Active() {
		t.Fatalf("integration %+v", in)
	}
	text := "Hi & bye #1 ?x=y 100% ünï\nline 2"
	tk := e.createTicket(t, "jane@example.com", "lc-1", text)
	e.waitIdle(t)

	got := rc.Got()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1 (ticket-created is not subscribed)", len(got))
	}
	q := got[0].URL.Query()
	want := url.Values{
		"external_id": {"lc-1"}, "ticket_id": {fmt.Sprint(tk.ID)}, "event_type": {"ticket-message-created"},
		"event_id": {q.Get("event_id")}, "message_id": {fmt.Sprint(tk.Messages[0].ID)},
		"text": {text}, "from_agent": {"False"}, "token": {"s3cret"},
	}
	if got[0].Method != "GET" || got[0].Body != "" {
		t.Errorf("%s with body %q", got[0].Method, got[0].Body)
	}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	if q.Get("event_id") == "" || q.Get("event_id") == q.Get("message_id") {
		t.Errorf("event id %q", q.Get("event_id"))
	}
	ds := e.Deliveries()
	if len(ds) != 1 || !ds[0].OK() || ds[0].IntegrationID != in.ID || ds[0].EventType != "ticket-message-created" || ds[0].Attempt != 1 {
		t.Errorf("deliveries %+v", ds)
	}

	// Our own customer message through the API echoes back; so does a
	// reply, with from_agent True.
	mustStatus(t, e.call(t, "POST", fmt.Sprintf("/api/tickets/%d/messages", tk.ID), customerMessage("jane@example.com", "more", "lc-msg-2")), 201)
	reply, err := e.Reply(tk.ID, "", "Hello Jane")
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	got = rc.Got()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	var texts, fromAgent []string
	for _, g := range got {
		texts = append(texts, g.URL.Query().Get("text"))
		fromAgent = append(fromAgent, g.URL.Query().Get("from_agent"))
	}
	if diff := cmp.Diff([]string{text, "more", "Hello Jane"}, texts); diff != "" {
		t.Errorf("texts in order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"False", "False", "True"}, fromAgent); diff != "" {
		t.Errorf("from_agent (-want +got):\n%s", diff)
	}
	if got[2].URL.Query().Get("message_id") != fmt.Sprint(reply.ID) {
		t.Errorf("message_id %q, want %d", got[2].URL.Query().Get("message_id"), reply.ID)
	}
}

func TestIntegrationPOSTJSON(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": rc.URL + "/hook/{{ticket.id}}", "method": "POST", "request_content_type": "application/json",
		"headers":  map[string]any{"X-Bridge-Token": "tok", "X-Event": "{{event.type}} {{message.body_text}}"},
		"form":     recommendedBody,
		"triggers": map[string]any{"ticket_message_created": true}}}) // the old spelling
	tk := e.createTicket(t, "jane@example.com", "lc-\"1\"", "hi")
	text := "He said \"hi\"\nthen left \\ </script> \t\u2028 ok"
	if _, err := e.Reply(tk.ID, "Sam Support", text); err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	got := rc.Got()
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[1]
	if r.Method != "POST" || r.URL.Path != fmt.Sprintf("/hook/%d", tk.ID) || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s %s", r.Method, r.URL, r.Header.Get("Content-Type"))
	}
	if r.Header.Get("X-Bridge-Token") != "tok" || r.Header.Get("X-Event") != `ticket-message-created He said "hi" then left \ </script> 	`+"\u2028 ok" {
		t.Errorf("headers %q", r.Header)
	}
	var body struct {
		Event   map[string]string `json:"event"`
		Ticket  map[string]string `json:"ticket"`
		Message map[string]string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	want := map[string]string{"id": body.Message["id"], "from_agent": "True", "public": "True", "channel": "api",
		"body_text": text, "sender_email": strings.ToLower("Sam.Support@acme.com")}
	if diff := cmp.Diff(want, body.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if body.Ticket["external_id"] != `lc-"1"` || body.Ticket["status"] != "open" || body.Event["type"] != "ticket-message-created" {
		t.Errorf("body %+v", body)
	}
}

func TestIntegrationForm(t *testing.T) {
	tests := []struct {
		ctype string
		check func(t *testing.T, r received)
	}{
		{"application/json", func(t *testing.T, r received) {
			var m map[string]string
			if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
				t.Fatal(err)
			}
			if m["text"] != "a \"b\"\nc" || m["from_agent"] != "False" {
				t.Errorf("form %+v", m)
			}
		}},
		{"application/x-www-form-urlencoded", func(t *testing.T, r received) {
			v, err := url.ParseQuery(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if v.Get("text") != "a \"b\"\nc" || v.Get("from_agent") != "False" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Errorf("form %+v", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			e := newEnv(t, sandbox.Options{})
			rc := newReceiver(t)
			e.integration(t, map[string]any{"type": "http", "http": map[string]any{
				"url": rc.URL, "method": "POST", "request_content_type": tt.ctype,
				"form":     map[string]any{"text": "{{ message.body_text }}", "from_agent": "{{message.from_agent}}"},
				"triggers": map[string]any{"ticket-message-created": true}}})
			e.createTicket(t, "jane@example.com", "lc-1", "a \"b\"\nc")
			e.waitIdle(t)
			got := rc.Got()
			if len(got) != 1 {
				t.Fatalf("%d requests", len(got))
			}
			tt.check(t, got[0])
		})
	}
}

func TestIntegrationNoteAndMacro(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url":      rc.URL + "/?type={{event.type}}&public={{message.public}}&channel={{message.channel}}&from_agent={{message.from_agent}}&status={{ticket.status}}&text={{message.body_text}}",
		"triggers": map[string]any{"ticket-message-created": true, "ticket-status-updated": true}}})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	if _, err := e.Note(tk.ID, "", "VIP, be nice"); err != nil {
		t.Fatal(err)
	}
	after, err := e.ApplyMacro(tk.ID, "", sandbox.MacroSignOffAndClose)
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	var got []string
	for _, r := range rc.Got() {
		q := r.URL.Query()
		got = append(got, strings.Join([]string{q.Get("type"), q.Get("public"), q.Get("channel"), q.Get("from_agent"), q.Get("status"), q.Get("text")}, "|"))
	}
	want := []string{
		"ticket-message-created|True|api|False|open|hi",
		"ticket-message-created|False|internal-note|True|open|VIP, be nice",
		"ticket-message-created|True|api|True|open|" + sandbox.SignOffText,
		"ticket-status-updated||||closed|", // message.* is undefined on ticket events
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	last := after.Messages[len(after.Messages)-1]
	if after.Status != "closed" || last.BodyText != sandbox.SignOffText || !last.FromAgent || last.Via != "helpdesk" ||
		last.Sender == nil || last.Sender.Name != sandbox.DefaultAgentName {
		t.Errorf("after the macro: %s, last message %+v", after.Status, last)
	}
	note := after.Messages[1]
	if note.Public || note.Channel != "internal-note" || !note.FromAgent || note.Receiver != nil {
		t.Errorf("note %+v", note)
	}
}

func TestIntegrationStatus(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	status := newReceiver(t)
	messages := newReceiver(t)
	e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url":      status.URL + "/?ticket_id={{ticket.id}}&external_id={{ticket.external_id}}&status={{ticket.status}}&type={{event.type}}&object={{event.object_id}}&user={{event.user_id}}",
		"triggers": map[string]any{"ticket-status-updated": true, "ticket-updated": false}}})
	e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": messages.URL, "triggers": map[string]any{"ticket-message-created": true}}})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	if _, err := e.CloseTicket(tk.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CloseTicket(tk.ID, ""); err != nil { // no change, no event
		t.Fatal(err)
	}
	mustStatus(t, e.call(t, "PUT", fmt.Sprintf("/api/tickets/%d", tk.ID), map[string]any{"status": "open"}), 200)
	e.waitIdle(t)
	agent := e.Users()[0]
	var got []string
	for _, r := range status.Got() {
		q := r.URL.Query()
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s", q.Get("ticket_id"), q.Get("external_id"), q.Get("status"), q.Get("type"), q.Get("object"), q.Get("user")))
	}
	want := []string{
		fmt.Sprintf("%d lc-1 closed ticket-status-updated %d %d", tk.ID, tk.ID, agent.ID),
		fmt.Sprintf("%d lc-1 open ticket-status-updated %d None", tk.ID, tk.ID),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status deliveries (-want +got):\n%s", diff)
	}
	if n := len(messages.Got()); n != 1 {
		t.Errorf("the message integration got %d requests, want 1", n)
	}
}

func TestIntegrationRetriesAndDeactivation(t *testing.T) {
	e := newEnv(t, sandbox.Options{MaxConsecutiveFailures: 5, Retries: 2})
	rc := newReceiver(t, 500, 503, 200) // fails twice, then recovers
	in := e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": rc.URL + "/?m={{message.id}}", "triggers": map[string]any{"ticket-message-created": true}}})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "one")
	e.waitIdle(t)
	attempts := func() []string {
		var out []string
		for _, d := range e.Deliveries() {
			out = append(out, fmt.Sprintf("%d/%d", d.Attempt, d.Status))
		}
		return out
	}
	if diff := cmp.Diff([]string{"1/500", "2/503", "3/200"}, attempts()); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}

	// The success reset the count: now 5 failures in a row deactivate it,
	// across events (3 tries of the first, 2 of the second), and the third
	// event is never sent.
	rc.mu.Lock()
	rc.always = 500
	rc.mu.Unlock()
	for _, text := range []string{"two", "three", "four"} {
		mustStatus(t, e.call(t, "POST", fmt.Sprintf("/api/tickets/%d/messages", tk.ID), customerMessage("jane@example.com", text, "")), 201)
	}
	e.waitIdle(t)
	if diff := cmp.Diff([]string{"1/500", "2/503", "3/200", "1/500", "2/500", "3/500", "1/500", "2/500"}, attempts()); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	ds := e.Deliveries()
	if !ds[len(ds)-1].Deactivated {
		t.Error("the 5th failure is not marked as deactivating")
	}
	got, err := e.Integration(in.ID)
	if err != nil || got.Active() || got.DeactivatedDatetime == nil {
		t.Errorf("integration %+v, %v", got, err)
	}
	r := e.call(t, "GET", fmt.Sprintf("/api/integrations/%d", in.ID), nil)
	mustStatus(t, r, 200)
	if r.JSON(t).(map[string]any)["deactivated_datetime"] == nil {
		t.Error("deactivated_datetime is null over the API")
	}

	// Reactivated over the API, it delivers new events again.
	rc.mu.Lock()
	rc.always = 200
	rc.mu.Unlock()
	mustStatus(t, e.call(t, "PUT", fmt.Sprintf("/api/integrations/%d", in.ID), map[string]any{"deactivated_datetime": nil}), 200)
	if _, err := e.Reply(tk.ID, "", "back"); err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	if n := len(e.Deliveries()); n != 9 || !e.Deliveries()[8].OK() {
		t.Errorf("%d deliveries after reactivation", n)
	}
}

func TestIntegrationDefaultLimit(t *testing.T) {
	// Gorgias deactivates after 100 failed requests in a row.
	e := newEnv(t, sandbox.Options{Retries: -1})
	rc := newReceiver(t)
	rc.always = 500
	in := e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": rc.URL, "triggers": map[string]any{"ticket-message-created": true}}})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "0")
	for i := 1; i < 105; i++ {
		if _, err := e.Note(tk.ID, "", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitIdle(t)
	got, _ := e.Integration(in.ID)
	if n := len(rc.Got()); n != 100 || got.Active() {
		t.Errorf("%d requests, active %v; want 100 and deactivated", n, got.Active())
	}
}

func TestRedeliver(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": rc.URL + "/?event_id={{event.id}}&text={{message.body_text}}&status={{ticket.status}}", "triggers": map[string]any{"ticket-message-created": true}}})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	if _, err := e.Reply(tk.ID, "", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CloseTicket(tk.ID, ""); err != nil { // not subscribed: not the last dispatched
		t.Fatal(err)
	}
	e.waitIdle(t)
	ev, err := e.RedeliverLast()
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	got := rc.Got()
	if len(got) != 3 {
		t.Fatalf("%d requests", len(got))
	}
	// The duplicate is the same event, rendered as it was (status open).
	if got[2].URL.RawQuery != got[1].URL.RawQuery || got[2].URL.Query().Get("event_id") != fmt.Sprint(ev.ID) ||
		got[2].URL.Query().Get("status") != "open" {
		t.Errorf("redelivery %q, original %q", got[2].URL.RawQuery, got[1].URL.RawQuery)
	}
	if ds := e.Deliveries(); !ds[2].Redelivery || ds[1].Redelivery {
		t.Errorf("redelivery flags %+v", ds)
	}
	if _, err := e.Redeliver(1); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("unknown event: %v", err)
	}
	// Over HTTP, by type.
	r := e.do(t, "POST", "/sandbox/redeliver", map[string]any{"type": "ticket_message_created"}, nil)
	mustStatus(t, r, 200)
	e.waitIdle(t)
	if n := len(rc.Got()); n != 4 {
		t.Errorf("%d requests after the HTTP redelivery", n)
	}
}

func TestIntegrationLifecycle(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	in := e.integration(t, map[string]any{"type": "http", "http": map[string]any{
		"url": rc.URL, "triggers": map[string]any{"ticket-message-created": true}}})
	r := e.call(t, "GET", "/api/integrations", nil)
	mustStatus(t, r, 200)
	var list struct {
		Data []sandbox.Integration `json:"data"`
	}
	r.Decode(t, &list)
	if len(list.Data) != 1 || list.Data[0].ID != in.ID {
		t.Errorf("list %+v", list)
	}
	mustStatus(t, e.call(t, "DELETE", fmt.Sprintf("/api/integrations/%d", in.ID), nil), 204)
	mustStatus(t, e.call(t, "DELETE", fmt.Sprintf("/api/integrations/%d", in.ID), nil), 404)
	e.createTicket(t, "jane@example.com", "lc-1", "hi")
	e.waitIdle(t)
	if n := len(rc.Got()); n != 0 {
		t.Errorf("a deleted integration got %d requests", n)
	}
	for _, bad := range []map[string]any{
		{"type": "email", "http": map[string]any{"url": rc.URL}},
		{"type": "http", "http": map[string]any{}},
		{"type": "http", "http": map[string]any{"url": "ftp://x"}},
		{"type": "http", "http": map[string]any{"url": rc.URL, "method": "FETCH"}},
	} {
		mustStatus(t, e.call(t, "POST", "/api/integrations", bad), 400)
	}
}

func TestWaitUntil(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.WaitUntil(ctx, func() bool { return len(e.TicketsByExternalID("lc-9")) == 1 })
	}()
	e.createTicket(t, "jane@example.com", "lc-9", "hi")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
