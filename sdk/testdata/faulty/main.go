// Command faulty is a provider that misbehaves on demand, for the tests of
// the SDK and of the host's supervision. The user's text picks the fault:
//
//	"panic"     SendMessage panics
//	"hang"      SendMessage blocks until its context ends
//	"push-noid" SendMessage pushes an event without an ID and returns the
//	            push's error
//	"push-as BOT SESSION"
//	            SendMessage pushes an agent message for bot BOT and session
//	            SESSION, whatever bot it was called for (a plugin reaching
//	            into another bot), and returns the push's error
//	anything    SendMessage pushes "faulty: <text>" with an ID
//
// A webhook body of "panic" makes HandleWebhook panic; "noid" makes it return
// an event without an ID. Marker files beside the binary (the plugin gets no
// environment) make faults that outlive a process: with faulty-down the
// plugin exits before the handshake, with faulty-hang-configure Configure
// blocks until its context ends.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:    "faulty",
	Version: "0.0.1",
	Schema:  sdk.Schema{Attributes: []sdk.Attribute{{Name: "label", Type: sdk.String}}},
}

type faulty struct {
	dir   string
	mu    sync.Mutex
	hosts map[string]sdk.Host
}

func (f *faulty) marker(name string) bool {
	_, err := os.Stat(filepath.Join(f.dir, name))
	return err == nil
}

func (f *faulty) Configure(ctx context.Context, bot string, _ sdk.Config, host sdk.Host) error {
	if f.marker("faulty-hang-configure") {
		<-ctx.Done()
		return sdk.Retryable(ctx.Err(), 0)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[bot] = host
	return nil
}

func (f *faulty) host(bot string) (sdk.Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[bot]
	if !ok {
		return nil, sdk.NotFound("bot %q is not configured", bot)
	}
	return h, nil
}

func (f *faulty) StartSession(_ context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	return sdk.StartResult{Ref: "faulty-" + req.SessionID}, nil
}

func (f *faulty) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	h, err := f.host(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	text := req.Message.PlainText()
	switch text {
	case "panic":
		panic("boom")
	case "hang":
		<-ctx.Done()
		return sdk.SendResult{}, sdk.Retryable(ctx.Err(), 0)
	case "push-noid":
		err := h.PushEvents(ctx, req.Bot, sdk.Event{Type: sdk.EventAgentMessage, SessionID: req.SessionID, Message: sdk.Text("no id")})
		return sdk.SendResult{}, err
	}
	if f := strings.Fields(text); len(f) == 3 && f[0] == "push-as" {
		ev := sdk.Event{ID: "faulty-as-" + req.IdempotencyKey, Type: sdk.EventAgentMessage, SessionID: f[2], Message: sdk.Text("faulty: injected")}
		return sdk.SendResult{}, h.PushEvents(ctx, f[1], ev)
	}
	ev := sdk.Event{ID: "faulty-" + req.IdempotencyKey, Type: sdk.EventAgentMessage, SessionID: req.SessionID, Message: sdk.Text("faulty: " + text)}
	return sdk.SendResult{PlatformMessageID: req.IdempotencyKey}, h.PushEvents(ctx, req.Bot, ev)
}

func (f *faulty) EndSession(context.Context, sdk.EndRequest) error { return nil }

func (f *faulty) HandleWebhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	switch string(req.Body) {
	case "panic":
		panic(fmt.Sprintf("webhook %s", req.Path))
	case "noid":
		return sdk.WebhookResult{Events: []sdk.Event{{Type: sdk.EventAgentMessage, SessionID: "s1", Message: sdk.Text("no id")}}}, nil
	}
	return sdk.WebhookResult{}, nil
}

func main() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulty:", err)
		os.Exit(1)
	}
	f := &faulty{dir: filepath.Dir(exe), hosts: map[string]sdk.Host{}}
	if f.marker("faulty-down") {
		fmt.Fprintln(os.Stderr, "faulty: down on purpose (faulty-down exists)")
		os.Exit(1)
	}
	sdk.Serve(info, f)
}
