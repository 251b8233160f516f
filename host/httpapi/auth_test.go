package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/engine"
)

// eventBody is the JSON of an event from user with payload.
func eventBody(t *testing.T, user string, payload map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"client": map[string]any{"user_id": user, "channel_id": "web"}, "payload": payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postSigned posts body to the shop bot's events with signature as
// X-Livechat-Signature ("" sends none).
func (s *stack) postSigned(body []byte, signature string) response {
	s.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if signature != "" {
		h["X-Livechat-Signature"] = signature
	}
	return s.raw(http.MethodPost, "/v1/bots/shop/events", strings.NewReader(string(body)), h)
}

// wantUnauthorized checks r is 401 unauthorized on X-Livechat-Signature,
// with a message holding want and neither the secret nor the signature
// the body expects.
func wantUnauthorized(t *testing.T, r response, want string, body []byte, now time.Time) {
	t.Helper()
	e, _ := r.Body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" || e["field"] != "X-Livechat-Signature" {
		t.Errorf("got %d %s, want 401 unauthorized on X-Livechat-Signature", r.Status, r.Raw)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}
	expected := engine.Sign(channelSecret, strconv.FormatInt(now.Unix(), 10), body)
	if strings.Contains(r.Raw, channelSecret) || strings.Contains(r.Raw, expected) {
		t.Errorf("the answer shows the secret or the expected signature: %s", r.Raw)
	}
}

// Point 1 of issue 10: with no credentials, anyone could write into another
// user's ticket, end their session, and read the bot's replies for any
// user. Unsigned events are refused, and nothing of them reaches the bot,
// the agent or the session.
func TestUnsignedEventsAreRefused(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	id := s.startSession("u1", 0)

	now := s.clock.Now()
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"a message into u1's ticket", eventBody(t, "u1", text("please change my delivery address to 1 Evil Street"))},
		{"ending u1's session", eventBody(t, "u1", map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_END"}})},
		{"reading the bot's replies for u2", eventBody(t, "u2", text("help"))},
		{"starting a session for u3", eventBody(t, "u3", map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}})},
		{"malformed JSON: the signature is checked first", []byte(`{"client": `)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.postSigned(tc.body, "")
			wantUnauthorized(t, r, "missing X-Livechat-Signature", tc.body, now)
			if len(r.messages()) != 0 {
				t.Errorf("a refused event was answered with messages: %s", r.Raw)
			}
		})
	}

	// A signed message after them: it reaches the agent alone, in order
	// behind anything the refused ones could have queued.
	if r := s.say("u1", "the real u1"); r.Status != 200 {
		t.Fatalf("signed event: %d %s", r.Status, r.Raw)
	}
	s.waitUntil("the signed message reaches the agent", func() bool { return slices.Contains(s.sentTexts(), "the real u1") })
	if got := s.sentTexts(); !slices.Equal(got, []string{"the real u1"}) {
		t.Errorf("the agent got %q; refused events must not reach it", got)
	}
	if ends := s.recordsOf("end"); len(ends) != 0 {
		t.Errorf("the plugin was asked to end a session: %v", ends)
	}
	if starts := s.recordsOf("start"); len(starts) != 1 {
		t.Errorf("%d sessions started, want u1's only", len(starts))
	}
	if st := s.session(id)["state"]; st != "active" {
		t.Errorf("u1's session is %v, want active", st)
	}
	if vs := s.bot.Values(); len(vs) != 0 {
		t.Errorf("the bot got %q from refused events", vs)
	}
}

func TestEventSignatures(t *testing.T) {
	s := newStack(t, stackOptions{})
	body := eventBody(t, "u1", text("hello"))
	sig := func(secret string, at time.Time) string { return engine.Signature(secret, body, at) }
	ts := func(at time.Time) string { return strconv.FormatInt(at.Unix(), 10) }
	for _, tc := range []struct {
		name      string
		signature func(now time.Time) string
		body      []byte // nil: body
		want      string // "" accepted; else what the 401's message says
	}{
		{"signed", func(now time.Time) string { return sig(channelSecret, now) }, nil, ""},
		{"4 minutes old", func(now time.Time) string { return sig(channelSecret, now.Add(-4*time.Minute)) }, nil, ""},
		{"4 minutes ahead", func(now time.Time) string { return sig(channelSecret, now.Add(4*time.Minute)) }, nil, ""},
		{"one of two v1 matches (a secret being rotated)", func(now time.Time) string {
			return "t=" + ts(now) + ",v1=" + engine.Sign("old-secret", ts(now), body) + ",v1=" + engine.Sign(channelSecret, ts(now), body)
		}, nil, ""},
		{"wrong secret", func(now time.Time) string { return sig("guessed-secret", now) }, nil, "does not match"},
		{"empty secret", func(now time.Time) string { return sig("", now) }, nil, "does not match"},
		{"body changed after signing", func(now time.Time) string { return sig(channelSecret, now) },
			eventBody(t, "u2", text("hello")), "does not match"},
		{"a byte added after signing", func(now time.Time) string { return sig(channelSecret, now) },
			append(append([]byte(nil), body...), '\n'), "does not match"},
		{"6 minutes old", func(now time.Time) string { return sig(channelSecret, now.Add(-6*time.Minute)) }, nil, "too old"},
		{"6 minutes ahead", func(now time.Time) string { return sig(channelSecret, now.Add(6*time.Minute)) }, nil, "in the future"},
		{"milliseconds", func(now time.Time) string {
			ms := strconv.FormatInt(now.UnixMilli(), 10)
			return "t=" + ms + ",v1=" + engine.Sign(channelSecret, ms, body)
		}, nil, "seconds"},
		{"no t", func(now time.Time) string { return "v1=" + engine.Sign(channelSecret, ts(now), body) }, nil, "no t="},
		{"no v1", func(now time.Time) string { return "t=" + ts(now) }, nil, "no v1="},
		{"t not a number", func(now time.Time) string { return "t=yesterday,v1=" + engine.Sign(channelSecret, ts(now), body) }, nil, "t="},
		{"v1 not hex", func(now time.Time) string { return "t=" + ts(now) + ",v1=zz" }, nil, "v1="},
		{"a bearer token", func(time.Time) string { return "Bearer " + channelSecret }, nil, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.body
			if b == nil {
				b = body
			}
			now := s.clock.Now()
			r := s.postSigned(b, tc.signature(now))
			if tc.want == "" {
				if r.Status != 200 {
					t.Fatalf("got %d %s, want 200", r.Status, r.Raw)
				}
				return
			}
			wantUnauthorized(t, r, tc.want, b, now)
		})
	}
	if n := len(s.bot.Values()); n != 4 {
		t.Errorf("the bot got %d events (%q), want the 4 accepted", n, s.bot.Values())
	}
}

// The tolerance is measured on livechatd's clock: an event signed when it
// was fresh is refused once the clock has moved past the tolerance.
func TestStaleSignatureOnInjectedClock(t *testing.T) {
	s := newStack(t, stackOptions{})
	body := eventBody(t, "u1", text("hello"))
	signed := engine.Signature(channelSecret, body, s.clock.Now())
	s.clock.Add(5*time.Minute + time.Second)
	wantUnauthorized(t, s.postSigned(body, signed), "too old", body, s.clock.Now())
	if vs := s.bot.Values(); len(vs) != 0 {
		t.Errorf("the bot got %q", vs)
	}
}

func TestEventToleranceIsPerBot(t *testing.T) {
	s := newStack(t, stackOptions{bots: func(b *engine.Bot) { b.EventTolerance = time.Minute }})
	body := eventBody(t, "u1", text("hello"))
	now := s.clock.Now()
	wantUnauthorized(t, s.postSigned(body, engine.Signature(channelSecret, body, now.Add(-90*time.Second))), "at most 1m0s", body, now)
	if r := s.postSigned(body, engine.Signature(channelSecret, body, now.Add(-50*time.Second))); r.Status != 200 {
		t.Errorf("50s old with a 1m tolerance: %d %s", r.Status, r.Raw)
	}
}

func TestInsecureEventsAreAccepted(t *testing.T) {
	s := newStack(t, stackOptions{bots: func(b *engine.Bot) { b.InsecureEvents, b.ChannelSecret = true, "" }})
	r := s.postSigned(eventBody(t, "u1", text("hello")), "")
	if r.Status != 200 || !slices.Equal(r.texts(), []string{"bot: hello"}) {
		t.Fatalf("insecure_events: %d %s", r.Status, r.Raw)
	}
}

// A bot with a channel_url and no secret (the config refuses it without
// insecure_events) refuses every event rather than checking an empty key.
func TestChannelURLBotWithoutSecretRefusesEvents(t *testing.T) {
	s := newStack(t, stackOptions{bots: func(b *engine.Bot) { b.ChannelSecret = "" }})
	body := eventBody(t, "u1", text("hello"))
	now := s.clock.Now()
	wantUnauthorized(t, s.postSigned(body, engine.Signature("", body, now)), "channel_secret", body, now)
}

// Webchat bots keep their per-user tokens: no signature needed.
func TestWebchatEventsNeedNoSignature(t *testing.T) {
	s := newStack(t, stackOptions{webchat: true})
	user, token := s.identity()
	h := map[string]string{"Content-Type": "application/json", "X-Livechat-User-Token": token}
	r := s.raw(http.MethodPost, "/v1/bots/shop/events", strings.NewReader(string(eventBody(t, user, text("hello")))), h)
	if r.Status != 200 {
		t.Fatalf("webchat event with its token: %d %s", r.Status, r.Raw)
	}
	delete(h, "X-Livechat-User-Token")
	r = s.raw(http.MethodPost, "/v1/bots/shop/events", strings.NewReader(string(eventBody(t, user, text("hello")))), h)
	if r.Status != 401 || r.errorCode() != "unauthorized" {
		t.Errorf("webchat event without its token: %d %s", r.Status, r.Raw)
	}
}

// Point 8 of issue 10: a channel_url bot without a channel_secret signed its
// deliveries with an empty key, which anyone can. With insecure_events and
// no secret, deliveries carry no signature at all.
func TestDeliveriesWithoutSecretAreNotSigned(t *testing.T) {
	headers := make(chan http.Header, 10)
	ch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
	}))
	t.Cleanup(ch.Close)
	s := newStack(t, stackOptions{bots: func(b *engine.Bot) {
		b.InsecureEvents, b.ChannelSecret, b.ChannelURL = true, "", ch.URL+"/deliver"
	}})
	s.startSession("u1", 0)
	select {
	case h := <-headers:
		if h.Get("X-Livechat-Delivery") == "" {
			t.Errorf("delivery without X-Livechat-Delivery: %v", h)
		}
		if sig, ok := h["X-Livechat-Signature"]; ok {
			t.Errorf("delivery signed with an empty key: %q", sig)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery within 30s")
	}
}
