package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// Issue 10, point 6: the provider hears that a user's identity is verified
// only when the channel says so ("metadata_verified": true) in an event the
// HTTP layer authenticated with the channel's signature (Event.Signed).

func verifiedStart(user string, claimed, signed bool) engine.Event {
	ev := payloadEvent(user, "", engine.PayloadStart)
	ev.Metadata = map[string]any{"email": "jane@example.com"}
	ev.MetadataVerified, ev.Signed = claimed, signed
	return ev
}

func TestProviderHearsVerifiedOnlyFromASignedClaim(t *testing.T) {
	for _, tc := range []struct {
		name            string
		webchat         bool
		claimed, signed bool
		want            bool
	}{
		{"unsigned, unclaimed", false, false, false, false},
		{"unsigned claim: anyone could have posted it", false, true, false, false},
		{"signed, unclaimed: the channel does not vouch", false, false, true, false},
		{"signed claim", false, true, true, true},
		{"webchat: anonymous whatever it says", true, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withBot(func(b *engine.Bot) {
				if tc.webchat {
					b.ChannelURL, b.Webchat = "", true
				}
			}))
			h.handle(verifiedStart("u1", tc.claimed, tc.signed))
			h.waitFor("the start", func() bool { return len(h.provider.startsOf("u1")) == 1 })
			if got := h.provider.startsOf("u1")[0].User.Verified; got != tc.want {
				t.Errorf("StartSession's User.Verified = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBotHearsMetadataVerifiedOnlyWhenHonoured(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		user            string
		claimed, signed bool
		want            bool
	}{
		{"forged", true, false, false},
		{"vouched", true, true, true},
	} {
		ev := textEvent(tc.user, "", "hello")
		ev.MetadataVerified, ev.Signed = tc.claimed, tc.signed
		h.handle(ev)
		var heard *engine.Event
		h.bot.mu.Lock()
		for i := range h.bot.heard {
			if h.bot.heard[i].Client.UserID == tc.user {
				heard = &h.bot.heard[i]
			}
		}
		h.bot.mu.Unlock()
		if heard == nil {
			t.Fatalf("the bot never heard %s", tc.user)
		}
		raw, _ := json.Marshal(heard)
		var wire map[string]any
		_ = json.Unmarshal(raw, &wire)
		if got := wire["metadata_verified"] == true; got != tc.want {
			t.Errorf("%s: the bot's event says metadata_verified=%v, want %v: %s", tc.user, wire["metadata_verified"], tc.want, raw)
		}
	}
}

// Signed is the HTTP layer's to set: no JSON body can.
func TestSignedIsNotInTheJSON(t *testing.T) {
	var ev engine.Event
	if err := json.Unmarshal([]byte(`{"client": {"user_id": "u1"}, "metadata_verified": true, "Signed": true, "signed": true}`), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Signed || !ev.MetadataVerified {
		t.Errorf("decoded Signed=%v MetadataVerified=%v, want false and true", ev.Signed, ev.MetadataVerified)
	}
	ev.Signed = true
	raw, _ := json.Marshal(ev)
	var wire map[string]any
	_ = json.Unmarshal(raw, &wire)
	if _, ok := wire["Signed"]; ok {
		t.Errorf("Signed is marshalled: %s", raw)
	}
}

// The start's outbox item keeps the verdict: a start retried after a
// restart, when the HTTP request that vouched is long gone, still says
// verified; so do the messages sent after it.
func TestVerifiedSurvivesARestart(t *testing.T) {
	h := newHarness(t)
	down := errors.New("platform down")
	h.provider.onStart(func(context.Context, sdk.StartRequest) (sdk.StartResult, error) {
		return sdk.StartResult{}, sdk.Retryable(down, 0)
	})
	h.handle(verifiedStart("u1", true, true))
	h.waitFor("a failed start", func() bool { return len(h.provider.startsOf("u1")) >= 1 })
	h.close()
	h.provider.onStart(nil)
	h.open()
	var s *host.Session
	h.waitFor("the session to be active", func() bool {
		s, _ = h.db.OpenSession(context.Background(), "shop", "u1")
		return s != nil && s.State == host.SessionActive
	})
	starts := h.provider.startsOf("u1")
	if last := starts[len(starts)-1]; !last.User.Verified {
		t.Errorf("the start after the restart has User.Verified = false")
	}
	msg := textEvent("u1", "", "it's me")
	msg.MetadataVerified, msg.Signed = true, true
	h.handle(msg)
	h.waitFor("the message", func() bool { return len(h.provider.sent("u1")) == 1 })
	h.provider.mu.Lock()
	defer h.provider.mu.Unlock()
	for _, c := range h.provider.sends {
		if c.req.SessionID == s.ID && !c.req.User.Verified {
			t.Errorf("SendMessage's User.Verified = false for a signed claim")
		}
	}
}
