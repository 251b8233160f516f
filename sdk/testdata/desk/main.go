// Command desk is a webhook-style provider for the conformance suite's own
// tests, written against the fake "desk" platform of sdktest's tests. It is
// a good provider unless its config's faults list names mistakes to make:
//
//	"stdout"          SendMessage prints on stdout
//	"double-post"     SendMessage posts without looking for the key first,
//	                  so a retry posts twice (also across a restart)
//	"retry-400"       a 400 is returned as retryable
//	"ignore-shutdown" Shutdown blocks, ignoring its deadline
//	"hash-ids"        event ids are a hash of the ticket and the text
//
// and one way of working, not a mistake:
//
//	"state-keys"      SendMessage keeps the keys it posted in plugin state
//	                  (sdk.StateOf) instead of looking for them on the desk
//
// The desk has no idempotency keys: the plugin puts the key on each
// message as external_id and, before posting, looks for it.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:         "desk",
	Version:      "0.0.1",
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "base_url", Type: sdk.String, Required: true},
		{Name: "token", Type: sdk.String, Required: true, Sensitive: true},
		{Name: "faults", Type: sdk.ListOfString},
	}},
}

type bot struct {
	Base   string   `json:"base_url"`
	Token  string   `json:"token"`
	Faults []string `json:"faults"`
}

func (b bot) has(f string) bool { return slices.Contains(b.Faults, f) }

type desk struct {
	mu     sync.Mutex
	bots   map[string]bot
	state  sdk.StateStore // nil when the host keeps none
	faults []string       // of any bot: Shutdown has no bot
}

func (d *desk) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	var b bot
	if err := cfg.Decode(&b); err != nil {
		return sdk.Permanent(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = sdk.StateOf(host)
	d.bots[name] = b
	d.faults = b.Faults
	return nil
}

func (d *desk) bot(name string) (bot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.bots[name]
	if !ok {
		return bot{}, sdk.NotFound("bot %q is not configured", name)
	}
	return b, nil
}

type message struct {
	ID         int64  `json:"id"`
	Author     string `json:"author"` // user, agent, note
	Text       string `json:"text"`
	ExternalID string `json:"external_id,omitempty"`
}

type ticket struct {
	ID       int64     `json:"id"`
	Closed   bool      `json:"closed"`
	Messages []message `json:"messages"`
}

// call makes one desk API call and classifies its failure.
func (b bot) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, _ := json.Marshal(in)
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(b.Base, "/")+path, body)
	if err != nil {
		return sdk.Permanent(err)
	}
	req.Header.Set("Authorization", "Bearer "+b.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("%s %s: %w", method, path, err), 0)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode < 300 {
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
	err = fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(raw)))
	after, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	switch {
	case res.StatusCode == 429 || res.StatusCode >= 500:
		return sdk.Retryable(err, time.Duration(after)*time.Second)
	case res.StatusCode == 404:
		return sdk.NotFound("%v", err)
	case b.has("retry-400"):
		return sdk.Retryable(err, 0)
	}
	return sdk.Permanent(err)
}

func (d *desk) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := d.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	var found []ticket
	if err := b.call(ctx, "GET", "/tickets?external_id="+req.SessionID, nil, &found); err != nil {
		return sdk.StartResult{}, err
	}
	var t ticket
	if len(found) > 0 {
		t = found[0]
	} else {
		var lines []string
		for k, v := range req.User.Metadata {
			lines = append(lines, fmt.Sprintf("%s: %v", k, v))
		}
		for _, m := range req.Transcript {
			lines = append(lines, fmt.Sprintf("%s: %s", m.Author.Type, m.PlainText()))
		}
		slices.Sort(lines)
		in := map[string]any{"external_id": req.SessionID, "context": strings.Join(lines, "\n")}
		if err := b.call(ctx, "POST", "/tickets", in, &t); err != nil {
			return sdk.StartResult{}, err
		}
	}
	ref := strconv.FormatInt(t.ID, 10)
	for _, m := range req.Messages {
		if _, err := d.SendMessage(ctx, sdk.SendRequest{Bot: req.Bot, SessionID: req.SessionID, Ref: ref, Message: m, IdempotencyKey: "waiting-" + m.ID}); err != nil {
			return sdk.StartResult{}, err
		}
	}
	return sdk.StartResult{Ref: ref}, nil
}

func (d *desk) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := d.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	if b.has("stdout") {
		fmt.Println("sending", req.Message.PlainText())
	}
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	key := sdk.StateKey{Bot: req.Bot, SessionID: req.SessionID, Key: "sent:" + req.IdempotencyKey}
	if b.has("state-keys") {
		if st == nil {
			return sdk.SendResult{}, sdk.Permanent(fmt.Errorf("state-keys: the host keeps no plugin state"))
		}
		if id, ok, err := st.GetState(ctx, key); err != nil || ok {
			return sdk.SendResult{PlatformMessageID: string(id)}, err
		}
	} else if !b.has("double-post") {
		var t ticket
		if err := b.call(ctx, "GET", "/tickets/"+req.Ref, nil, &t); err != nil {
			return sdk.SendResult{}, err
		}
		for _, m := range t.Messages {
			if m.ExternalID == req.IdempotencyKey {
				return sdk.SendResult{PlatformMessageID: strconv.FormatInt(m.ID, 10)}, nil
			}
		}
	}
	var m message
	if err := b.call(ctx, "POST", "/tickets/"+req.Ref+"/messages", message{Author: "user", Text: req.Message.PlainText(), ExternalID: req.IdempotencyKey}, &m); err != nil {
		return sdk.SendResult{}, err
	}
	id := strconv.FormatInt(m.ID, 10)
	if b.has("state-keys") {
		if err := st.SetState(ctx, key, []byte(id)); err != nil {
			return sdk.SendResult{}, err
		}
	}
	return sdk.SendResult{PlatformMessageID: id}, nil
}

func (d *desk) EndSession(ctx context.Context, req sdk.EndRequest) error {
	b, err := d.bot(req.Bot)
	if err != nil {
		return err
	}
	return b.call(ctx, "POST", "/tickets/"+req.Ref+"/close", nil, nil)
}

// hook is the desk's webhook body.
type hook struct {
	Event    string  `json:"event"` // message, closed
	TicketID int64   `json:"ticket_id"`
	Message  message `json:"message"`
}

func (d *desk) HandleWebhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	b, err := d.bot(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	var h hook
	if err := json.Unmarshal(req.Body, &h); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("webhook body: %w", err))
	}
	ref := strconv.FormatInt(h.TicketID, 10)
	switch {
	case h.Event == "closed":
		return sdk.WebhookResult{Events: []sdk.Event{{ID: "closed-" + ref, Type: sdk.EventSessionClosed, Ref: ref}}}, nil
	case h.Event == "message" && h.Message.Author == "agent":
		return sdk.WebhookResult{Events: []sdk.Event{b.agentEvent(ref, h.Message)}}, nil
	}
	return sdk.WebhookResult{}, nil // the user's own messages, notes
}

// agentEvent is an agent's message as an event, the same from the webhook
// and from ReadSession.
func (b bot) agentEvent(ref string, m message) sdk.Event {
	id := "message-" + strconv.FormatInt(m.ID, 10)
	if b.has("hash-ids") {
		sum := sha256.Sum256([]byte(ref + "\x00" + m.Text))
		id = hex.EncodeToString(sum[:8])
	}
	msg := sdk.Text(m.Text)
	msg.Author = sdk.Author{Type: sdk.AuthorAgent}
	return sdk.Event{ID: id, Type: sdk.EventAgentMessage, Ref: ref, Message: msg}
}

// ReadSession reads the ticket back: the agent's messages after the cursor
// (a message id).
func (d *desk) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := d.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	var t ticket
	if err := b.call(ctx, "GET", "/tickets/"+req.Ref, nil, &t); err != nil {
		return sdk.ReadResult{}, err
	}
	after, _ := strconv.ParseInt(req.Cursor, 10, 64)
	res := sdk.ReadResult{Closed: t.Closed}
	for _, m := range t.Messages {
		if m.ID > after && m.Author == "agent" {
			res.Events = append(res.Events, b.agentEvent(req.Ref, m))
		}
		if m.ID > after {
			res.Cursor = strconv.FormatInt(m.ID, 10)
		}
	}
	return res, nil
}

func (d *desk) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	ignore := slices.Contains(d.faults, "ignore-shutdown")
	d.mu.Unlock()
	if ignore {
		select {} // never returns, whatever the deadline
	}
	return nil
}

func main() { sdk.Serve(info, &desk{bots: map[string]bot{}}) }
