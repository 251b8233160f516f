package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

// FuzzDecodeEvent reads a body the way POST /v1/bots/{bot}/events does
// (decodeJSON into an engine.Event, then Validate). It never panics; a
// refusal is a *host.Error with a client-side code and a message, naming
// the field when the JSON itself was fine; no body makes an event Signed
// (only the signature check does); an accepted event is within the
// bounds (engine.MaxDepth, MaxKeys, MaxTextBytes); and it survives
// a round trip: written out and read back, it is accepted again and reads
// the same. The seeds are in testdata/fuzz/FuzzDecodeEvent.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"client": {"user_id": "u1", "channel_id": "web"}, "payload": {"content_type": "text", "content": {"text": "hello"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > MaxEventBytes {
			return // readBody answers 413 before decoding
		}
		ev, err := decodeEvent(body)
		if ev.Signed {
			t.Fatalf("%q decoded as Signed: only a valid X-Livechat-Signature may say so", body)
		}
		if err != nil {
			checkRefusal(t, body, err)
			return
		}
		for name, v := range map[string]any{"payload.content": ev.Payload.Content, "metadata": ev.Metadata} {
			depth, keys, longest := measure(v, 0)
			if depth > engine.MaxDepth || keys > engine.MaxKeys || longest > engine.MaxTextBytes {
				t.Fatalf("accepted %s nested %d deep with %d keys and items and a %d-byte string, past the bounds", name, depth, keys, longest)
			}
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted %q, but it does not marshal: %v", body, err)
		}
		ev2, err := decodeEvent(again)
		if err != nil {
			t.Fatalf("accepted %q, but not its round trip %q: %v", body, again, err)
		}
		third, err := json.Marshal(ev2)
		if err != nil {
			t.Fatalf("round trip %q does not marshal: %v", again, err)
		}
		if !bytes.Equal(again, third) {
			t.Fatalf("the event changed in a round trip:\n%s\n%s", again, third)
		}
	})
}

// measure returns how deeply v nests (an object or array is one level),
// how many keys and items it holds in all, and its longest string or key.
func measure(v any, level int) (depth, keys, longest int) {
	depth = level
	visit := func(child any) {
		d, k, l := measure(child, level+1)
		depth, keys, longest = max(depth, d), keys+1+k, max(longest, l)
	}
	switch v := v.(type) {
	case map[string]any:
		depth = level + 1
		for k, child := range v {
			longest = max(longest, len(k))
			visit(child)
		}
	case []any:
		depth = level + 1
		for _, child := range v {
			visit(child)
		}
	case string:
		longest = len(v)
	}
	return depth, keys, longest
}

// decodeEvent is postEvent's reading of a body.
func decodeEvent(body []byte) (engine.Event, error) {
	var ev engine.Event
	if err := decodeJSON(body, &ev); err != nil {
		return engine.Event{}, err
	}
	return ev, ev.Validate()
}

// checkRefusal: a refused body is the client's fault, said so with a code
// and a message, and a refused value names its field.
func checkRefusal(t *testing.T, body []byte, err error) {
	t.Helper()
	var he *host.Error
	if !errors.As(err, &he) {
		t.Fatalf("%q refused with %T (%v), want a *host.Error", body, err, err)
	}
	switch he.Code {
	case host.EINVALID, host.ETOOLARGE:
	default:
		t.Fatalf("%q refused with code %q (%v), want invalid or too_large", body, he.Code, err)
	}
	if he.Message == "" {
		t.Fatalf("%q refused without a message: %#v", body, he)
	}
	if !json.Valid(body) || he.Field != "" {
		return
	}
	// Valid JSON refused without a field: only when the body is not an
	// object at all.
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil && obj != nil {
		t.Fatalf("%q refused (%v) without naming the field", body, err)
	}
}
