package freshdesk_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/plugins/freshdesk"
)

// FuzzParseWebhook: any body either parses to a positive ticket id or is
// refused with an error; never a panic, and the rule's own rendering of
// WebhookBody always parses to the id rendered into it.
func FuzzParseWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"ticket_id": 42, "status": "Open"}`,
		`{"ticket_id": "42", "status": "Closed"}`,
		`{"ticket_id": 9007199254740993}`,
		`{"ticket_id": 1e3}`,
		`{"ticket_id": null}`,
		`{"ticket_id": {{ticket.id}}, "status": "{{ticket.status}}"}`,
		`{"ticket_id": 7, "status": 5}`,
		`[]`, `""`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := freshdesk.ParseWebhook(body)
		if err == nil && h.TicketID <= 0 {
			t.Fatalf("%q parsed to ticket %d", body, h.TicketID)
		}
		if err != nil && err.Error() == "" {
			t.Fatalf("%q: an empty error", body)
		}
		// The id as Freshdesk renders it into the README's body.
		{
			n := int64(len(body)) + 1
			rendered := strings.NewReplacer("{{ticket.id}}", strconv.FormatInt(n, 10), "{{ticket.status}}", "Open").Replace(freshdesk.WebhookBody)
			h, err := freshdesk.ParseWebhook([]byte(rendered))
			if err != nil || h.TicketID != n || h.Status != "Open" {
				t.Fatalf("the rule's body %q: %+v %v", rendered, h, err)
			}
		}
	})
}
