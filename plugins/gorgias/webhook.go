package gorgias

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// HandleWebhook turns one request of a Gorgias HTTP integration into events.
// It accepts:
//
//   - the CSML Studio GET URL (WebhookQuery): ticket and message ids in the
//     query, and the text and from_agent as Gorgias rendered them, unencoded;
//   - a POST of the JSON template MessageTemplate (values quoted or not), or
//     of the full ticket/message objects, or form fields named like the
//     query;
//   - a POST of StatusTemplate, from an integration on ticket-status-updated:
//     a closed ticket ends the session.
//
// Our own customer messages come back with from_agent false and are
// dropped. An agent message is fetched from the API unless the request
// already says, parseably, whether it is public: the GET URL has no public
// flag, and its text may be cut short by an unencoded & or # in it. The
// fetched message decides: internal notes never reach the user, and its text
// and sender name are the ones delivered. A ticket without external_id is
// not a livechat's: no event. Malformed requests are sdk.Permanent errors.
func (p *Provider) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	h, err := parseWebhook(req)
	if err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(err)
	}
	var events []sdk.Event
	var fetch bool
	if h.isAssignment() && h.externalID != "" && !strings.Contains(h.ticketID+h.externalID, "{{") {
		events, err = p.assignment(ctx, req.Bot, h)
	} else {
		events, fetch, err = h.plan()
		if err != nil {
			err = sdk.Permanent(err)
		}
	}
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if fetch {
		b, err := p.bot(req.Bot)
		if err != nil {
			return sdk.WebhookResult{}, err
		}
		ticketID, messageID := parseDigits(h.ticketID), parseDigits(h.messageID)
		m, err := b.client.message(ctx, ticketID, messageID)
		switch {
		case sdk.KindOf(err) == sdk.KindNotFound:
			// Deleted since: nothing to deliver.
		case err != nil:
			return sdk.WebhookResult{}, errorf("webhook: fetch message %d of ticket %d: %w", messageID, ticketID, err)
		default:
			events = h.withMessage(m)
		}
	}
	return sdk.WebhookResult{
		Events: events,
		Status: http.StatusOK,
		Header: map[string][]string{"Content-Type": {"application/json"}},
		Body:   []byte(`{"ok":true}`),
	}, nil
}

// hook is one webhook request, whatever its format.
type hook struct {
	format     string // "query", "form", "json", or "salvaged": JSON cut short at body_text
	eventID    string
	eventType  string
	ticketID   string
	externalID string
	status     string
	messageID  string
	// objectID is event.object_id: the message's id for message events.
	objectID    string
	hasMessage  bool // message fields or a message object are present
	fromAgent   tri
	public      tri
	channel     string
	text        string
	hasText     bool
	senderName  string
	senderID    string
	created     string
	attachments []attachment
}

// parseWebhook reads a request in any of the accepted formats. It calls
// nothing and never panics (FuzzParseWebhook).
func parseWebhook(req sdk.WebhookRequest) (*hook, error) {
	body := bytes.TrimSpace(req.Body)
	if len(body) == 0 || req.Method == http.MethodGet || req.Method == http.MethodHead {
		return parseFlat(req.Query, "query"), nil
	}
	if body[0] == '{' || body[0] == '[' {
		return parseJSON(body)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil || len(vals) == 0 {
		return nil, errorf("webhook: the body is neither JSON nor form fields")
	}
	return parseFlat(vals, "form"), nil
}

func parseFlat(vals map[string][]string, format string) *hook {
	get := func(k string) string {
		if vs := vals[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	_, hasText := vals["text"]
	h := &hook{
		format:     format,
		eventID:    clean(get("event_id")),
		eventType:  clean(get("event_type")),
		ticketID:   clean(get("ticket_id")),
		externalID: clean(get("external_id")),
		status:     clean(first(get("status"), get("ticket_status"))),
		messageID:  clean(get("message_id")),
		fromAgent:  triOf(vals["from_agent"]),
		public:     triOf(vals["public"]),
		channel:    clean(get("channel")),
		text:       strings.TrimSpace(get("text")),
		hasText:    hasText,
		senderName: strings.TrimSpace(get("sender_name")),
	}
	_, hasFrom := vals["from_agent"]
	h.hasMessage = h.messageID != "" || hasText || hasFrom
	return h
}

// triOf reads a flag given once, or several times alike; anything else,
// such as from_agent=True&from_agent=False from a text that smuggled a
// parameter in, is unknown.
func triOf(vs []string) tri {
	out := unknown
	for i, v := range vs {
		t := parseTri(v)
		if i > 0 && t != out {
			return unknown
		}
		out = t
	}
	return out
}

func parseJSON(body []byte) (*hook, error) {
	format := "json"
	top, err := decodeObject(body)
	if err != nil {
		// Gorgias may not JSON-escape what it puts in a template: a quote or a
		// line break in body_text breaks the document. Everything before
		// body_text is ids and flags: keep those and fetch the message.
		salvaged, ok := salvage(body)
		if !ok {
			return nil, errorf("webhook: the body is not a JSON object: %v", err)
		}
		top, format = salvaged, "salvaged"
	}
	ev, tk, msg := objectAt(top, "event"), objectAt(top, "ticket"), objectAt(top, "message")
	h := &hook{
		format:     format,
		eventID:    clean(first(pick(ev, "id"), pick(top, "event_id"))),
		eventType:  clean(first(pick(ev, "type"), pick(top, "event_type"))),
		ticketID:   clean(first(pick(tk, "id"), pick(top, "ticket_id"), pick(msg, "ticket_id"))),
		externalID: clean(first(pick(tk, "external_id"), pick(top, "external_id"))),
		status:     clean(first(pick(tk, "status"), pick(top, "status"), pick(top, "ticket_status"))),
		messageID:  clean(first(pick(msg, "id"), pick(top, "message_id"))),
		objectID:   clean(pick(ev, "object_id")),
		fromAgent:  parseTri(first(pick(msg, "from_agent"), pick(top, "from_agent"))),
		public:     parseTri(first(pick(msg, "public"), pick(top, "public"))),
		channel:    clean(first(pick(msg, "channel"), pick(top, "channel"))),
		senderName: strings.TrimSpace(first(pick(msg, "sender_name"), pick(top, "sender_name"))),
		created:    pick(msg, "created_datetime"),
	}
	for _, src := range []map[string]any{msg, top} {
		for _, k := range []string{"body_text", "text"} {
			if v, ok := src[k]; ok && format == "json" {
				h.text, h.hasText = strings.TrimSpace(scalar(v)), true
				break
			}
		}
		if h.hasText {
			break
		}
	}
	if s := objectAt(msg, "sender"); s != nil {
		h.senderID = clean(pick(s, "id"))
		if h.senderName == "" {
			h.senderName = strings.TrimSpace(first(pick(s, "name"), strings.TrimSpace(pick(s, "firstname")+" "+pick(s, "lastname"))))
		}
	}
	if as, ok := msg["attachments"].([]any); ok {
		for _, a := range as {
			if am, ok := a.(map[string]any); ok {
				at := attachment{URL: text(pick(am, "url")), Name: text(pick(am, "name")), ContentType: text(pick(am, "content_type"))}
				if n, err := strconv.ParseInt(pick(am, "size"), 10, 64); err == nil {
					at.Size = id(n)
				}
				h.attachments = append(h.attachments, at)
			}
		}
	}
	_, flatText := top["text"]
	_, flatFrom := top["from_agent"]
	h.hasMessage = msg != nil || pick(top, "message_id") != "" || flatText || flatFrom
	return h, nil
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON document")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	return obj, nil
}

// salvage parses the part of a broken JSON body before "body_text".
func salvage(body []byte) (map[string]any, bool) {
	i := bytes.Index(body, []byte(`"body_text"`))
	if i < 0 {
		return nil, false
	}
	prefix := bytes.TrimRight(body[:i], " \t\r\n,")
	for _, closing := range []string{"}}", "}", "}}}"} {
		if obj, err := decodeObject(append(append([]byte{}, prefix...), closing...)); err == nil {
			return obj, true
		}
	}
	return nil, false
}

func objectAt(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// pick is m[key] as a string: strings as they are, numbers and booleans
// written out, anything else "".
func pick(m map[string]any, key string) string {
	return scalar(m[key])
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// clean trims an id or a flag and reads what a template renders for a null
// (Python's None) as empty.
func clean(s string) string {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "none", "null", "nil", "undefined":
		return ""
	}
	return s
}

var digits = regexp.MustCompile(`^[0-9]{1,18}$`)

func parseDigits(s string) int64 {
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return n
}

// isMessage tells a message event from a ticket-status event.
func (h *hook) isMessage() bool {
	t := strings.ToLower(h.eventType)
	switch {
	case strings.Contains(t, "message"):
		return true
	case strings.Contains(t, "status"), t == "ticket-updated", t == "ticket_updated":
		return false
	}
	return h.hasMessage
}

// plan decides what the request means without calling anything: the events,
// or that the message must be fetched first.
func (h *hook) plan() (events []sdk.Event, fetch bool, err error) {
	for _, v := range []string{h.ticketID, h.externalID, h.messageID, h.eventID, h.objectID} {
		if strings.Contains(v, "{{") {
			return nil, false, errorf("webhook: the template was not rendered (%.60q): Gorgias fills it in, test the integration from Gorgias", v)
		}
	}
	if h.ticketID == "" && h.externalID == "" && h.messageID == "" && h.eventID == "" && h.objectID == "" {
		return nil, false, errorf("webhook: not a Gorgias integration request: no ticket_id, external_id, message_id or event_id")
	}
	if h.ticketID != "" && !digits.MatchString(h.ticketID) {
		return nil, false, errorf("webhook: ticket_id %.40q is not a Gorgias id", h.ticketID)
	}
	if h.externalID == "" {
		return nil, false, nil // a ticket that is not a livechat's
	}
	if !h.isMessage() {
		if strings.EqualFold(h.status, "closed") {
			id := ""
			switch {
			case h.eventID != "":
				id = "gorgias-" + h.eventID
			case h.ticketID != "":
				id = "gorgias-closed-" + h.ticketID
			}
			return []sdk.Event{{ID: id, Type: sdk.EventSessionClosed, SessionID: h.externalID, Ref: h.ticketID}}, false, nil
		}
		return nil, false, nil
	}
	if h.messageID == "" {
		h.messageID = h.objectID
	}
	if h.fromAgent == no {
		return nil, false, nil // our own customer message, echoed
	}
	if h.public == no || strings.EqualFold(h.channel, "internal-note") {
		return nil, false, nil
	}
	// Trusted only with an id to deduplicate by; without one, the message is
	// looked up, which needs its message id.
	trusted := h.format == "json" && h.fromAgent == yes && (h.public == yes || h.channel != "") && h.hasText &&
		(h.messageID != "" || h.eventID != "")
	if trusted {
		return h.events(), false, nil
	}
	if !digits.MatchString(h.ticketID) || !digits.MatchString(h.messageID) {
		return nil, false, errorf("webhook: a message whose sender or visibility is unclear needs ticket_id and message_id to be looked up")
	}
	return nil, true, nil
}

// withMessage builds the events from the fetched message, which has the
// last word on who wrote it, whether it is public, and what it says.
func (h *hook) withMessage(m message) []sdk.Event {
	if m.FromAgent != yes || m.Public == no || strings.EqualFold(string(m.Channel), "internal-note") {
		return nil
	}
	h.text = agentText(m)
	h.senderName = m.Sender.displayName()
	h.senderID = ""
	if m.Sender != nil && m.Sender.ID != 0 {
		h.senderID = m.Sender.ID.String()
	}
	h.attachments = m.Attachments
	h.created = string(m.CreatedDatetime)
	return h.events()
}

// agentText is the text of an agent's message: without the quoted history
// and signature (stripped_text) unless that lost the sign-off token.
func agentText(m message) string {
	body := strings.TrimSpace(string(m.BodyText))
	stripped := strings.TrimSpace(string(m.StrippedText))
	const token = "LIVECHAT_SESSION_END"
	switch {
	case stripped != "" && (strings.Contains(stripped, token) || !strings.Contains(body, token)):
		return stripped
	case body != "":
		return body
	}
	return htmlToText(string(m.BodyHTML))
}

// events are the message's events. Their ids come from the message id when
// there is one: Gorgias can send one message again under a new event id
// (another integration, a retried delivery), and the host deduplicates by
// event id, so the message's id is what makes it delivered once.
func (h *hook) events() []sdk.Event {
	base := ""
	switch {
	case h.messageID != "":
		base = "gorgias-message-" + h.messageID
	case h.eventID != "":
		base = "gorgias-" + h.eventID
	}
	author := sdk.Author{Type: sdk.AuthorAgent, Name: h.senderName, ID: h.senderID}
	at := parseTime(h.created)
	var out []sdk.Event
	if t := strings.TrimSpace(h.text); t != "" {
		msg := sdk.Text(t)
		msg.ID, msg.Author, msg.Time = h.messageID, author, at
		out = append(out, sdk.Event{ID: base, Type: sdk.EventAgentMessage, SessionID: h.externalID, Ref: h.ticketID, Message: msg})
	}
	for i, a := range h.attachments {
		msg, ok := sdk.FileMessage(sdk.Attachment{URL: strings.TrimSpace(string(a.URL)), Name: strings.TrimSpace(string(a.Name)),
			MIME: strings.TrimSpace(string(a.ContentType)), Size: int64(a.Size)})
		if !ok {
			continue
		}
		msg.ID, msg.Author, msg.Time = h.messageID, author, at
		id := ""
		if base != "" {
			id = base + "-attachment-" + strconv.Itoa(i)
		}
		out = append(out, sdk.Event{ID: id, Type: sdk.EventAgentMessage, SessionID: h.externalID, Ref: h.ticketID, Message: msg})
	}
	return out
}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

var (
	breaks = regexp.MustCompile(`(?i)<br\s*/?>|</p>|</div>|</li>`)
	tags   = regexp.MustCompile(`<[^>]*>`)
	blank  = regexp.MustCompile(`\n{3,}`)
)

// htmlToText is a rough plain text of an HTML body, for messages with no
// body_text.
func htmlToText(s string) string {
	s = breaks.ReplaceAllString(s, "\n")
	s = tags.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	return strings.TrimSpace(blank.ReplaceAllString(s, "\n\n"))
}
