package sandbox_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

func TestAgentEndpoints(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	base := fmt.Sprintf("/sandbox/tickets/%d/", tk.ID)
	post := func(action string, body any, status int) response {
		t.Helper()
		r := e.do(t, "POST", base+action, body, nil)
		mustStatus(t, r, status)
		return r
	}
	var m sandbox.Message
	post("reply", map[string]any{"text": "Hello, I'm Kim", "agent": "Kim Lee"}, 201).Decode(t, &m)
	if !m.FromAgent || !m.Public || m.Via != "helpdesk" || m.Channel != "api" || m.Sender == nil || m.Sender.Name != "Kim Lee" ||
		m.Receiver == nil || m.Receiver.Email != "jane@example.com" || m.SentDatetime == nil {
		t.Errorf("reply %+v", m)
	}
	post("note", map[string]any{"text": "internal"}, 201).Decode(t, &m)
	if m.Public || m.Channel != "internal-note" || !m.FromAgent || m.Sender.Name != sandbox.DefaultAgentName {
		t.Errorf("note %+v", m)
	}
	post("reply", map[string]any{"text": "  "}, 400)
	var got sandbox.Ticket
	post("macro", map[string]any{"name": "Sign off"}, 200).Decode(t, &got)
	if got.Status != "open" || got.Messages[len(got.Messages)-1].BodyText != sandbox.SignOffText {
		t.Errorf("after Sign off: %s %q", got.Status, got.Messages[len(got.Messages)-1].BodyText)
	}
	post("macro", map[string]any{"name": "no such macro"}, 404)
	post("close", nil, 200).Decode(t, &got)
	if got.Status != "closed" {
		t.Errorf("status %q", got.Status)
	}
	post("open", map[string]any{"agent": "Kim Lee"}, 200).Decode(t, &got)
	if got.Status != "open" {
		t.Errorf("status %q", got.Status)
	}
	mustStatus(t, e.do(t, "POST", "/sandbox/tickets/1/reply", map[string]any{"text": "x"}, nil), 404)

	var tickets []sandbox.Ticket
	r := e.do(t, "GET", "/sandbox/tickets", nil, nil)
	mustStatus(t, r, 200)
	r.Decode(t, &tickets)
	if len(tickets) != 1 || len(tickets[0].Messages) != 4 {
		t.Errorf("tickets %+v", tickets)
	}
	var st struct {
		Version int64            `json:"version"`
		Tickets []sandbox.Ticket `json:"tickets"`
		Macros  []sandbox.Macro  `json:"macros"`
	}
	e.do(t, "GET", "/sandbox/state", nil, nil).Decode(t, &st)
	if st.Version == 0 || len(st.Tickets) != 1 || len(st.Macros) != 2 {
		t.Errorf("state %+v", st)
	}
	r = e.do(t, "GET", fmt.Sprintf("/sandbox/state?since=%d", st.Version), nil, nil)
	wantJSON(t, r, fmt.Sprintf(`{"version": %d}`, st.Version))

	for _, path := range []string{"/sandbox/customers", "/sandbox/macros", "/sandbox/integrations", "/sandbox/events", "/sandbox/deliveries", "/sandbox/requests"} {
		mustStatus(t, e.do(t, "GET", path, nil, nil), 200)
	}
	mustStatus(t, e.do(t, "POST", "/sandbox/wait-idle", nil, nil), 200)

	// Events in order, each with its own id.
	var types []string
	seen := map[int64]bool{}
	for _, ev := range e.Events() {
		types = append(types, ev.Type)
		if seen[ev.ID] {
			t.Errorf("event id %d twice", ev.ID)
		}
		seen[ev.ID] = true
	}
	want := []string{"ticket-created", "ticket-message-created", "ticket-message-created", "ticket-message-created",
		"ticket-message-created", "ticket-status-updated", "ticket-updated", "ticket-status-updated", "ticket-updated"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestAgentAPIErrors(t *testing.T) {
	e := newEnv(t, sandbox.Options{Macros: []sandbox.Macro{{Name: "Tag it", Actions: []sandbox.MacroAction{
		{Name: "addTags", Arguments: map[string]any{"tags": "vip, followup"}}}}}})
	if _, err := e.Reply(42, "", "x"); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("Reply to an unknown ticket: %v", err)
	}
	if _, err := e.SetStatus(42, "", "pending"); err == nil {
		t.Error("SetStatus accepted pending")
	}
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hi")
	got, err := e.ApplyMacro(tk.ID, "", "tag it")
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, tag := range got.Tags {
		tags = append(tags, tag.Name)
	}
	if diff := cmp.Diff([]string{"livechat", "vip", "followup"}, tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if _, err := e.ApplyMacro(tk.ID, "", sandbox.MacroSignOff); !errors.Is(err, sandbox.ErrNotFound) {
		t.Errorf("a macro that is not configured: %v", err)
	}
}

func TestDesk(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	for _, path := range []string{"/", "/desk", "/desk/"} {
		r := e.do(t, "GET", path, nil, nil)
		mustStatus(t, r, 200)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", path, r.Header.Get("Content-Type"))
		}
		page := string(r.Body)
		for _, id := range []string{"ticket-list", "customer-name", "customer-email", "customer-data", "reply-text", "reply-send",
			"macro-signoff", "note-text", "note-send", "close-ticket", "reopen-ticket", "messages"} {
			if !strings.Contains(page, `data-testid="`+id+`"`) || !strings.Contains(page, `id="`+id+`"`) {
				t.Errorf("%s: no element %q", path, id)
			}
		}
		if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
			t.Errorf("%s loads something from outside", path)
		}
	}
	js := e.do(t, "GET", "/desk/app.js", nil, nil)
	mustStatus(t, js, 200)
	for _, s := range []string{`"ticket-" + t.id`, `"data-testid": "message"`, "/sandbox/state", "setInterval(refresh, 1000)"} {
		if !strings.Contains(string(js.Body), s) {
			t.Errorf("app.js lacks %q", s)
		}
	}
	css := e.do(t, "GET", "/desk/desk.css", nil, nil)
	mustStatus(t, css, 200)
	if !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
		t.Errorf("desk.css Content-Type %q", css.Header.Get("Content-Type"))
	}
	mustStatus(t, e.do(t, "GET", "/desk/nope.js", nil, nil), http.StatusNotFound)
}
