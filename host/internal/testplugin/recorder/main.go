// Command livechat-provider-recorder is a provider plugin for livechatd's
// own tests. It writes every call it gets as a JSON line to record_file,
// acknowledges each with an agent message "ack <call>" pushed to the host
// (so tests wait on the channel, not on a clock), fails starts and sends
// when told to, and turns webhook query parameters into events, like a platform's
// HTTP integration would.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:         "recorder",
	Version:      "0.0.1",
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapPush},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "record_file", Type: sdk.String, Required: true},
		{Name: "api_key", Type: sdk.String, Sensitive: true},
		{Name: "ack", Type: sdk.Bool, Default: true},
		{Name: "fail_start", Type: sdk.String, Default: "", Description: `"", "retryable" or "permanent"`},
		{Name: "fail_send", Type: sdk.String, Default: "", Description: `"", "retryable", "permanent" or "not_found" (the ticket is gone)`},
	}},
}

type config struct {
	RecordFile string `json:"record_file"`
	Ack        bool   `json:"ack"`
	FailStart  string `json:"fail_start"`
	FailSend   string `json:"fail_send"`
}

// Record is one call, as written to record_file.
type Record struct {
	Call      string              `json:"call"`
	Bot       string              `json:"bot"`
	SessionID string              `json:"session_id,omitempty"`
	Ref       string              `json:"ref,omitempty"`
	Key       string              `json:"key,omitempty"`
	User      *sdk.User           `json:"user,omitempty"`
	Messages  []sdk.Message       `json:"messages,omitempty"`
	Reason    sdk.EndReason       `json:"reason,omitempty"`
	Query     map[string][]string `json:"query,omitempty"`
}

type bot struct {
	config
	host sdk.Host
}

type recorder struct {
	mu   sync.Mutex
	bots map[string]bot
}

func (r *recorder) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return sdk.Permanent(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bots[name] = bot{c, host}
	return nil
}

func (r *recorder) record(ctx context.Context, rec Record) (bot, error) {
	r.mu.Lock()
	b, ok := r.bots[rec.Bot]
	r.mu.Unlock()
	if !ok {
		return bot{}, sdk.NotFound("bot %q not configured", rec.Bot)
	}
	line, _ := json.Marshal(rec)
	r.mu.Lock()
	f, err := os.OpenFile(b.RecordFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.Write(append(line, '\n'))
		f.Close()
	}
	r.mu.Unlock()
	if err != nil {
		return b, sdk.Retryable(err, 0)
	}
	if b.Ack && rec.Call != "webhook" {
		msg := sdk.Text("ack " + rec.Call)
		msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: "Recorder"}
		ev := sdk.Event{ID: "ack-" + rec.Call + "-" + rec.Key, Type: sdk.EventAgentMessage, SessionID: rec.SessionID, Message: msg}
		if err := b.host.PushEvents(ctx, rec.Bot, ev); err != nil && rec.Call != "end" {
			return b, sdk.Retryable(err, 0)
		}
	}
	return b, nil
}

func (r *recorder) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	r.mu.Lock()
	b := r.bots[req.Bot]
	r.mu.Unlock()
	switch b.FailStart {
	case "retryable":
		return sdk.StartResult{}, sdk.Retryable(errors.New("the platform is down"), 0)
	case "permanent":
		return sdk.StartResult{}, sdk.Permanent(errors.New("the platform refused the ticket"))
	}
	user := req.User
	msgs := append(append([]sdk.Message{}, req.Transcript...), req.Messages...)
	if _, err := r.record(ctx, Record{Call: "start", Bot: req.Bot, SessionID: req.SessionID, Key: req.IdempotencyKey, User: &user, Messages: msgs}); err != nil {
		return sdk.StartResult{}, err
	}
	return sdk.StartResult{Ref: "T-" + req.SessionID}, nil
}

func (r *recorder) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	r.mu.Lock()
	b := r.bots[req.Bot]
	r.mu.Unlock()
	switch b.FailSend {
	case "retryable":
		return sdk.SendResult{}, sdk.Retryable(errors.New("the platform is down"), 0)
	case "permanent":
		return sdk.SendResult{}, sdk.Permanent(errors.New("the platform refused the message"))
	case "not_found":
		return sdk.SendResult{}, sdk.NotFound("ticket %s not found", req.Ref)
	}
	_, err := r.record(ctx, Record{Call: "send", Bot: req.Bot, SessionID: req.SessionID, Ref: req.Ref, Key: req.IdempotencyKey, Messages: []sdk.Message{req.Message}})
	return sdk.SendResult{}, err
}

func (r *recorder) EndSession(ctx context.Context, req sdk.EndRequest) error {
	_, err := r.record(ctx, Record{Call: "end", Bot: req.Bot, SessionID: req.SessionID, Ref: req.Ref, Key: req.IdempotencyKey, Reason: req.Reason})
	return err
}

// HandleWebhook reads ?session_id=&ref=&event_id=&type=message|closed&text=&agent=.
func (r *recorder) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if _, err := r.record(ctx, Record{Call: "webhook", Bot: req.Bot, Query: req.Query}); err != nil {
		return sdk.WebhookResult{}, err
	}
	q := req.QueryValue
	if q("event_id") == "" {
		return sdk.WebhookResult{}, sdk.Permanent(errors.New("event_id is required"))
	}
	ev := sdk.Event{ID: q("event_id"), SessionID: q("session_id"), Ref: q("ref"), Type: sdk.EventAgentMessage}
	if strings.EqualFold(q("type"), "closed") {
		ev.Type = sdk.EventSessionClosed
	} else {
		ev.Message = sdk.Text(q("text"))
		ev.Message.Author = sdk.Author{Type: sdk.AuthorAgent, Name: q("agent")}
	}
	return sdk.WebhookResult{Events: []sdk.Event{ev}}, nil
}

func main() {
	sdk.Serve(info, &recorder{bots: map[string]bot{}})
}
