package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

type nopProvider struct{}

func (nopProvider) Configure(context.Context, string, Config, Host) error { return nil }
func (nopProvider) StartSession(context.Context, StartRequest) (StartResult, error) {
	return StartResult{}, nil
}
func (nopProvider) SendMessage(context.Context, SendRequest) (SendResult, error) {
	return SendResult{}, nil
}
func (nopProvider) EndSession(context.Context, EndRequest) error { return nil }
func (nopProvider) HandleWebhook(context.Context, WebhookRequest) (WebhookResult, error) {
	return WebhookResult{}, nil
}

var nopInfo = Info{Name: "nop", Version: "0.1.0", Schema: Schema{Attributes: []Attribute{{Name: "token", Type: String, Required: true, Sensitive: true}}}}

func noEnv(string) string { return "" }

func TestServeByHandExplains(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := serve(nopInfo, nopProvider{}, []string{"/x/livechat-provider-nop"}, noEnv, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q; it carries the handshake and must stay empty", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "livechat-provider-nop is a livechatd provider plugin") || !strings.Contains(lines[0], "--describe") {
		t.Errorf("stderr = %q, want one line explaining", stderr.String())
	}
}

func TestServeDescribe(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := serve(nopInfo, nopProvider{}, []string{"livechat-provider-nop", "--describe"}, noEnv, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr.String())
	}
	var got Info
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("describe output is not JSON: %v\n%s", err, stdout.String())
	}
	if got.Name != "nop" || got.Version != "0.1.0" || len(got.ProtocolVersions) != 1 || got.ProtocolVersions[0] != ProtocolVersion {
		t.Errorf("described %+v", got)
	}
	if a, ok := got.Schema.Attribute("token"); !ok || !a.Required || !a.Sensitive {
		t.Errorf("token attribute = %+v", a)
	}
}

func TestServeRefusesInvalidInfo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := serve(Info{}, nopProvider{}, []string{"p"}, noEnv, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "name is empty") {
		t.Errorf("code %d, stderr %q", code, stderr.String())
	}
}

type readerProvider struct{ nopProvider }

func (readerProvider) ReadSession(context.Context, ReadRequest) (ReadResult, error) {
	return ReadResult{}, nil
}

// A provider that implements SessionReader is described with
// CapReadSession, listed by its author or not; one that does not never is.
func TestServeImpliesReadSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Provider
		caps []Capability
		want bool
	}{
		{"reader", readerProvider{}, nil, true},
		{"reader listing it", readerProvider{}, []Capability{CapReadSession}, true},
		{"no reader", nopProvider{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := nopInfo
			info.Capabilities = tc.caps
			var stdout, stderr bytes.Buffer
			if code := serve(info, tc.p, []string{"p", "--describe"}, noEnv, &stdout, &stderr); code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr.String())
			}
			var got Info
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range got.Capabilities {
				if c == CapReadSession {
					n++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.want]; n != want {
				t.Errorf("capabilities %v list read_session %d times, want %d", got.Capabilities, n, want)
			}
		})
	}
}
