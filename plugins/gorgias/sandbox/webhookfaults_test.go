package sandbox_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// Issue 11: the sandbox takes webhooks away on demand, so that tests show
// livechatd catching up by reading tickets back.

func messagesIntegration(t *testing.T, e *env, rc *receiver, name string) sandbox.Integration {
	t.Helper()
	return e.integration(t, map[string]any{"name": name, "type": "http", "http": map[string]any{
		"url": rc.URL + seedURL, "method": "GET", "triggers": map[string]any{"ticket-message-created": true}}})
}

// repliedIDs are the message ids a receiver got, in order.
func repliedIDs(rc *receiver) []string {
	var out []string
	for _, g := range rc.Got() {
		out = append(out, g.URL.Query().Get("message_id"))
	}
	return out
}

func TestDropWebhooks(t *testing.T) {
	tests := []struct {
		name string
		// fault is applied after the ticket exists; a and b are the two
		// integrations.
		fault func(e *env, a, b sandbox.Integration)
		// wantA and wantB are which of the four replies each integration
		// receives (indexes).
		wantA, wantB []int
	}{
		{"all", func(e *env, _, _ sandbox.Integration) { e.DropWebhooks() }, nil, nil},
		// Each reply goes to both integrations, whose workers race: the
		// next two are the first reply's.
		{"the next two", func(e *env, _, _ sandbox.Integration) { e.DropNextWebhooks(2) }, []int{1, 2, 3}, []int{1, 2, 3}},
		{"one integration", func(e *env, a, _ sandbox.Integration) {
			e.AddWebhookFault(sandbox.WebhookFault{IntegrationID: a.ID, Drop: true})
		}, nil, []int{0, 1, 2, 3}},
		{"one integration, twice", func(e *env, _, b sandbox.Integration) {
			e.AddWebhookFault(sandbox.WebhookFault{IntegrationID: b.ID, Drop: true, Count: 2})
		}, []int{0, 1, 2, 3}, []int{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sandbox.Options{})
			ra, rb := newReceiver(t), newReceiver(t)
			tk := e.createTicket(t, "jane@example.com", "lc-1", "hello")
			a, b := messagesIntegration(t, e, ra, "a"), messagesIntegration(t, e, rb, "b")
			tc.fault(e, a, b)
			var ids []string
			for i := range 4 {
				m, err := e.Reply(tk.ID, "", fmt.Sprintf("reply %d", i))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, fmt.Sprint(m.ID))
				e.waitIdle(t) // one reply at a time, so "the next two" is exact
			}
			pick := func(idx []int) []string {
				var out []string
				for _, i := range idx {
					out = append(out, ids[i])
				}
				return out
			}
			if diff := cmp.Diff(pick(tc.wantA), repliedIDs(ra)); diff != "" {
				t.Errorf("integration a (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(pick(tc.wantB), repliedIDs(rb)); diff != "" {
				t.Errorf("integration b (-want +got):\n%s", diff)
			}
			dropped := e.DroppedWebhooks()
			if want := 8 - len(tc.wantA) - len(tc.wantB); len(dropped) != want {
				t.Errorf("%d dropped listed, want %d: %+v", len(dropped), want, dropped)
			}
			for _, d := range e.Deliveries() {
				for _, x := range dropped {
					if d.EventID == x.EventID && d.IntegrationID == x.IntegrationID {
						t.Errorf("dropped event %d was delivered to #%d", x.EventID, x.IntegrationID)
					}
				}
			}
			// Cleared, the webhooks flow again; a dropped one is not sent late.
			e.ClearWebhookFaults()
			before := len(ra.Got())
			m, _ := e.Reply(tk.ID, "", "after")
			e.waitIdle(t)
			if got := repliedIDs(ra)[before:]; !cmp.Equal(got, []string{fmt.Sprint(m.ID)}) {
				t.Errorf("after clearing, a got %v, want only %d", got, m.ID)
			}
		})
	}
}

// A delay holds the delivery (in real time: it is about the receiver's
// view of time), then makes it.
func TestDelayWebhooks(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hello")
	messagesIntegration(t, e, rc, "a")
	const delay = 150 * time.Millisecond
	e.AddWebhookFault(sandbox.WebhookFault{Delay: delay, Count: 1})
	began := time.Now()
	m, err := e.Reply(tk.ID, "", "late")
	if err != nil {
		t.Fatal(err)
	}
	e.waitIdle(t)
	if took := time.Since(began); took < delay {
		t.Errorf("delivered after %s, want at least %s", took, delay)
	}
	if got := repliedIDs(rc); !cmp.Equal(got, []string{fmt.Sprint(m.ID)}) {
		t.Errorf("got %v, want the reply once", got)
	}
	if len(e.WebhookFaults()) != 0 || len(e.DroppedWebhooks()) != 0 {
		t.Errorf("faults left %+v, dropped %+v", e.WebhookFaults(), e.DroppedWebhooks())
	}
}

func TestWebhookFaultsEndpoint(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rc := newReceiver(t)
	tk := e.createTicket(t, "jane@example.com", "lc-1", "hello")
	in := messagesIntegration(t, e, rc, "a")

	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{}`, "drop"},
		{`{"drop": true, "count": -1}`, "count"},
		{`{"delay": 7200}`, "delay"},
		{`{"drop": true, "integration_id": 999999}`, "integration_id"},
		{`{"drop": "yes"}`, "body"},
		{`{"drop": true, "typo": 1}`, "body"},
	} {
		r := e.do(t, "POST", "/sandbox/webhook-faults", tc.body, nil)
		mustStatus(t, r, http.StatusBadRequest)
		var got struct {
			Error struct {
				Data map[string][]string `json:"data"`
			} `json:"error"`
		}
		r.Decode(t, &got)
		if len(got.Error.Data[tc.field]) == 0 {
			t.Errorf("%s: error %s does not name %q", tc.body, r.Body, tc.field)
		}
	}

	r := e.do(t, "POST", "/sandbox/webhook-faults", fmt.Sprintf(`{"drop": true, "count": 1, "integration_id": %d}`, in.ID), nil)
	mustStatus(t, r, http.StatusCreated)
	m, _ := e.Reply(tk.ID, "", "lost")
	e.waitIdle(t)
	r = e.do(t, "GET", "/sandbox/webhook-faults", nil, nil)
	mustStatus(t, r, http.StatusOK)
	var listed struct {
		Faults  []map[string]any         `json:"faults"`
		Dropped []sandbox.DroppedWebhook `json:"dropped"`
	}
	r.Decode(t, &listed)
	if len(listed.Faults) != 0 || len(listed.Dropped) != 1 || listed.Dropped[0].IntegrationID != in.ID {
		t.Errorf("listed %+v", listed)
	}
	if n := len(rc.Got()); n != 0 {
		t.Errorf("%d requests, want the reply %d dropped", n, m.ID)
	}

	mustStatus(t, e.do(t, "POST", "/sandbox/webhook-faults", `{"drop": true}`, nil), http.StatusCreated)
	mustStatus(t, e.do(t, "POST", "/sandbox/webhook-faults", `{"delay": 0.5}`, nil), http.StatusCreated)
	if n := len(e.WebhookFaults()); n != 2 {
		t.Fatalf("%d faults, want 2", n)
	}
	mustStatus(t, e.do(t, "DELETE", "/sandbox/webhook-faults", nil, nil), http.StatusNoContent)
	if n := len(e.WebhookFaults()); n != 0 {
		t.Errorf("%d faults after DELETE", n)
	}
}

// The call counter: the most calls admitted in any 20 s, sliding, per
// account; refused calls do not count.
func TestCallCounter(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	get := func(n int) {
		for range n {
			e.call(t, "GET", "/api/account", nil)
		}
	}
	get(10) // t=0: 10
	e.clock.Advance(15 * time.Second)
	get(10) // t=15: 20 in (−5, 15]
	e.clock.Advance(6 * time.Second)
	get(5) // t=21: the first 10 left the window: 15
	if got := e.MaxCallsInWindow(sandbox.DefaultEmail); got != 20 {
		t.Errorf("max %d, want 20", got)
	}
	e.clock.Advance(time.Second)
	get(45) // t=22: the bucket (40, leaking 2/s) refuses some; admitted ones count
	st := e.CallStats(sandbox.DefaultEmail)
	admitted := 0
	for _, r := range e.Requests() {
		if r.Status != http.StatusTooManyRequests {
			admitted++
		}
	}
	if st.Calls != admitted || admitted == 70 {
		t.Errorf("calls %d, admitted %d (of 70, some refused)", st.Calls, admitted)
	}
	if want := admitted - 10; st.MaxInWindow != want {
		t.Errorf("max %d, want %d (everything since t=15)", st.MaxInWindow, want)
	}

	r := e.do(t, "GET", "/sandbox/calls", nil, nil)
	mustStatus(t, r, http.StatusOK)
	var got struct {
		WindowSeconds float64                      `json:"window_seconds"`
		Accounts      map[string]sandbox.CallStats `json:"accounts"`
	}
	r.Decode(t, &got)
	if got.WindowSeconds != 20 || got.Accounts[sandbox.DefaultEmail].MaxInWindow != st.MaxInWindow {
		t.Errorf("GET /sandbox/calls: %s", r.Body)
	}
	mustStatus(t, e.do(t, "DELETE", "/sandbox/calls", nil, nil), http.StatusNoContent)
	if got := e.CallStats(sandbox.DefaultEmail); got != (sandbox.CallStats{}) {
		t.Errorf("after reset %+v", got)
	}
}
