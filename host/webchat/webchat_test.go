package webchat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
)

func open(t *testing.T) (*webchat.Channel, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return webchat.New(db, map[string]string{"shop": "secret"}, nil), db
}

func texts(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	entries, err := db.Stream(context.Background(), "shop", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		var en webchat.Entry
		if err := json.Unmarshal(e.Entry, &en); err != nil {
			t.Fatal(err)
		}
		if en.Type == "state" {
			out = append(out, "state "+en.State)
			continue
		}
		var p engine.Payload
		_ = json.Unmarshal(en.Payload, &p)
		out = append(out, en.Author.Type+" "+p.Value())
	}
	return out
}

func text(s string) json.RawMessage {
	b, _ := json.Marshal(engine.Payload{ContentType: "text", Content: map[string]any{"text": s}})
	return b
}

// A delivery caused by an event (the agent's greeting after START) waits
// until the event and the host's answer are in the stream.
func TestDeliveryWaitsForTheExchange(t *testing.T) {
	c, db := open(t)
	ctx := context.Background()
	done := c.BeginExchange("shop", "u1")
	delivered := make(chan error, 1)
	go func() {
		delivered <- c.Deliver(ctx, "shop", "agent-1", engine.Delivery{Client: engine.Client{UserID: "u1"},
			Messages: []engine.OutMessage{{Payload: text("Hello, I am Ann"), Author: &engine.Author{Type: "agent", Name: "Ann"}}}})
	}()
	select {
	case err := <-delivered:
		t.Fatalf("the delivery did not wait for the exchange in flight (%v)", err)
	case <-time.After(50 * time.Millisecond): // a bounded look for a wrong early return, not a wait for a result
	}
	start := engine.Event{Client: engine.Client{UserID: "u1"}, Payload: engine.Payload{ContentType: "payload", Content: map[string]any{"payload": engine.PayloadStart}}}
	reply := engine.Reply{Livechat: &engine.Livechat{SessionID: "s1", State: "starting"},
		Messages: []engine.OutMessage{{Payload: text("Connecting you to an agent…"), Author: &engine.Author{Type: "system"}}}}
	if err := c.RecordExchange(ctx, "shop", start, reply); err != nil {
		t.Fatal(err)
	}
	done()
	if err := <-delivered; err != nil {
		t.Fatal(err)
	}
	want := []string{"user LIVECHAT_SESSION_START", "state starting", "system Connecting you to an agent…", "agent Hello, I am Ann"}
	if got := texts(t, db); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stream = %q, want %q", got, want)
	}
	done() // a second call is harmless
}

func TestDeliveryGivesUpWithItsContext(t *testing.T) {
	c, _ := open(t)
	defer c.BeginExchange("shop", "u1")()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Deliver(ctx, "shop", "k", engine.Delivery{Client: engine.Client{UserID: "u1"}})
	if err == nil {
		t.Fatal("a delivery behind a stuck exchange must fail (and be retried), not hang")
	}
}

func TestTokens(t *testing.T) {
	c, _ := open(t)
	tok := c.Token("shop", "u1")
	if !c.Verify("shop", "u1", tok) || c.Verify("shop", "u2", tok) || c.Verify("other", "u1", tok) || c.Verify("shop", "", "") {
		t.Error("a token must open its own user's stream only")
	}
}

// Shutdown ends open streams at once, cleanly, and a stream opened after it
// ends as soon as it has sent what is stored.
func TestShutdownEndsStreams(t *testing.T) {
	c, _ := open(t)
	r := mux.NewRouter()
	c.Register(r)
	ts := httptest.NewServer(r)
	t.Cleanup(ts.Close)
	openStream := func() *bufio.Reader {
		t.Helper()
		resp, err := http.Get(ts.URL + "/v1/bots/shop/users/u1/stream?token=" + c.Token("shop", "u1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "retry: 1000\n" {
			t.Fatalf("first line = %q, %v", line, err)
		}
		return br
	}
	ended := func(br *bufio.Reader) <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, br) // nil at a clean end
			ch <- err
		}()
		return ch
	}
	waitEnd := func(ch <-chan error) {
		t.Helper()
		timeout := time.NewTimer(5 * time.Second)
		defer timeout.Stop()
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("stream ended with %v, want a clean end", err)
			}
		case <-timeout.C:
			t.Fatal("the stream is still open 5s after Shutdown")
		}
	}

	before := ended(openStream())
	c.Shutdown()
	waitEnd(before)
	c.Shutdown() // a second call is harmless
	waitEnd(ended(openStream()))
}
