package freshdesk_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// binary builds the plugin and installs it, named as livechatd wants it.
func binary(t *testing.T) string {
	return sdktest.Install(t, builds.Binary(t, "./cmd/livechat-provider-freshdesk"), t.TempDir(), "freshdesk")
}

// fdHost is a host that keeps plugin state in memory, as livechatd keeps
// it in its store.
type fdHost struct {
	mu    sync.Mutex
	state map[sdk.StateKey][]byte
}

func newFDHost() *fdHost { return &fdHost{state: map[sdk.StateKey][]byte{}} }

func (h *fdHost) PushEvents(context.Context, string, ...sdk.Event) error { return nil }

func (h *fdHost) GetState(_ context.Context, k sdk.StateKey) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.state[k]
	return v, ok, nil
}

func (h *fdHost) SetState(_ context.Context, k sdk.StateKey, v []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state[k] = append([]byte{}, v...)
	return nil
}

func (h *fdHost) DeleteState(_ context.Context, k sdk.StateKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.state, k)
	return nil
}

// fdStatelessHost keeps no state, like a livechatd older than plugin state.
type fdStatelessHost struct{}

func (fdStatelessHost) PushEvents(context.Context, string, ...sdk.Event) error { return nil }
