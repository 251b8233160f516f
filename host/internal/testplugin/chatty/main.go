// Command chatty is a provider plugin for livechatd's own tests of what a
// plugin prints on stdout, which carries go-plugin's handshake. It is named
// for its file (livechat-provider-NAME). Installed as "early", it prints a
// line on stdout before its handshake, as a plugin that prints a banner
// does. Otherwise SendMessage prints what its text asks, then answers:
//
//	"print N"  N lines through os.Stdout (go-plugin's stdio stream)
//	"raw N"    N lines straight to file descriptor 1 (the process's pipe),
//	           as a child process or a non-Go plugin would
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

// banner is what "early" prints before its handshake: a secret-looking
// value (it is the plugin's own output, shown as printed) and more than
// the host quotes.
var banner = "chatty starting with api_key=sk-test-123 " + strings.Repeat("x", 1000)

type provider struct{}

func (provider) Configure(context.Context, string, sdk.Config, sdk.Host) error { return nil }

func (provider) StartSession(_ context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	return sdk.StartResult{Ref: "t-" + req.SessionID}, nil
}

func (provider) SendMessage(_ context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	f := strings.Fields(req.Message.PlainText())
	if len(f) != 2 {
		return sdk.SendResult{}, sdk.Permanent(fmt.Errorf("want \"print N\" or \"raw N\""))
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return sdk.SendResult{}, sdk.Permanent(err)
	}
	out := os.Stdout
	if f[0] == "raw" {
		out = os.NewFile(1, "fd1")
	}
	for i := 1; i <= n; i++ {
		if _, err := fmt.Fprintf(out, "%s line %d\n", f[0], i); err != nil {
			return sdk.SendResult{}, sdk.Retryable(err, 0)
		}
	}
	return sdk.SendResult{PlatformMessageID: "printed"}, nil
}

func (provider) EndSession(context.Context, sdk.EndRequest) error { return nil }

func (provider) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{}, nil
}

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "livechat-provider-")
	if name == "early" {
		fmt.Println(banner)
	}
	sdk.Serve(sdk.Info{Name: name, Version: "0.0.1"}, provider{})
}
