package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

// hostPath plays livechatd's side of events for the conformance suite:
// webhooks arrive at /v1/livechat/{provider}/receive with the bot's token,
// pushes through sdk.Host, and both go the way the host's engine takes
// them (host/engine/webhook.go): the token picks the bot and is removed
// before the plugin sees the request, an event must name a session of
// that bot by SessionID or Ref, and an id already seen in the session is
// dropped as a replay. Webhook events for unknown sessions are ignored (a
// platform fires every integration of an account); a push for one is
// refused, as the host refuses it. It keeps plugin state as livechatd
// does (sdk.StateStore, confined to the sessions of the bots it serves),
// for the whole run: a plugin that keeps what it did in state, as
// sdk/README.md advises where a platform cannot be searched, finds it
// again after a restart.
type hostPath struct {
	state    Host // the plugin state, kept by the suite's Host
	provider string
	srv      *httptest.Server
	plugin   func() *sdk.RemoteProvider

	mu       sync.Mutex
	changed  Signal
	tokens   map[string]string // token → bot
	sessions map[string]*hostSession
	hooks    []capturedWebhook
	refused  []string // pushes refused, why
	ignored  []string // webhook events ignored, why
}

type hostSession struct {
	bot, id, ref string
	seen         map[string]bool
	events       []sdk.Event
	replays      int
}

// capturedWebhook is one request a platform made, as it made it.
type capturedWebhook struct {
	method, path, query string
	header              http.Header
	body                []byte
}

var (
	_ sdk.Host       = (*hostPath)(nil)
	_ sdk.StateStore = (*hostPath)(nil)
)

// GetState implements sdk.StateStore.
func (h *hostPath) GetState(ctx context.Context, k sdk.StateKey) ([]byte, bool, error) {
	return h.state.GetState(ctx, k)
}

// SetState implements sdk.StateStore.
func (h *hostPath) SetState(ctx context.Context, k sdk.StateKey, value []byte) error {
	return h.state.SetState(ctx, k, value)
}

// DeleteState implements sdk.StateStore.
func (h *hostPath) DeleteState(ctx context.Context, k sdk.StateKey) error {
	return h.state.DeleteState(ctx, k)
}

func newHostPath(provider string, plugin func() *sdk.RemoteProvider) *hostPath {
	h := &hostPath{provider: provider, plugin: plugin, tokens: map[string]string{}, sessions: map[string]*hostSession{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serveWebhook))
	return h
}

func (h *hostPath) close() { h.srv.Close() }

// webhookURL is bot's webhook URL, its token in the query.
func (h *hostPath) webhookURL(bot string) string {
	tok := "tok-" + bot
	h.mu.Lock()
	h.tokens[tok] = bot
	h.mu.Unlock()
	return h.srv.URL + "/v1/livechat/" + h.provider + "/receive?token=" + tok
}

func (h *hostPath) addSession(bot, id, ref string) {
	h.state.AddSession(bot, id)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions[id] = &hostSession{bot: bot, id: id, ref: ref, seen: map[string]bool{}}
}

func (h *hostPath) setRef(id, ref string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sessions[id].ref = ref
}

func (h *hostPath) events(session string) []sdk.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[session]; s != nil {
		return append([]sdk.Event(nil), s.events...)
	}
	return nil
}

func (h *hostPath) replays(session string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[session]; s != nil {
		return s.replays
	}
	return 0
}

func (h *hostPath) webhooks() []capturedWebhook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedWebhook(nil), h.hooks...)
}

func (h *hostPath) allEvents() []sdk.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sdk.Event
	for _, s := range h.sessions {
		out = append(out, s.events...)
	}
	return out
}

// find is the session an event of bot names, or why none.
func (h *hostPath) find(bot string, e sdk.Event) (*hostSession, string) {
	if e.SessionID != "" {
		s := h.sessions[e.SessionID]
		switch {
		case s == nil:
			return nil, fmt.Sprintf("event %q names session %q, which the host does not know", e.ID, e.SessionID)
		case s.bot != bot:
			return nil, fmt.Sprintf("event %q for bot %q names session %q of bot %q", e.ID, bot, e.SessionID, s.bot)
		case e.Ref != "" && e.Ref != s.ref:
			return nil, fmt.Sprintf("event %q names session %q and ticket %q, but the session's ticket is %q", e.ID, e.SessionID, e.Ref, s.ref)
		}
		return s, ""
	}
	if e.Ref == "" {
		return nil, fmt.Sprintf("event %q names no session (no SessionID, no Ref)", e.ID)
	}
	for _, s := range h.sessions {
		if s.bot == bot && s.ref != "" && s.ref == e.Ref {
			return s, ""
		}
	}
	return nil, fmt.Sprintf("event %q names ticket %q, which is no session of bot %q", e.ID, e.Ref, bot)
}

// apply applies events for bot; a push is checked whole first.
func (h *hostPath) apply(bot string, events []sdk.Event, push bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.changed.Notify()
	targets := make([]*hostSession, len(events))
	for i, e := range events {
		s, why := h.find(bot, e)
		if s == nil && push {
			h.refused = append(h.refused, why)
			return sdk.NotFound("%s", why)
		}
		if s == nil {
			h.ignored = append(h.ignored, why)
		}
		targets[i] = s
	}
	for i, e := range events {
		s := targets[i]
		if s == nil {
			continue
		}
		if s.seen[e.ID] {
			s.replays++
			continue
		}
		s.seen[e.ID] = true
		s.events = append(s.events, e)
	}
	return nil
}

// PushEvents takes a plugin's pushes.
func (h *hostPath) PushEvents(_ context.Context, bot string, events ...sdk.Event) error {
	return h.apply(bot, events, true)
}

func (h *hostPath) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, sdk.MaxMessageSize))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.hooks = append(h.hooks, capturedWebhook{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	h.mu.Unlock()
	status, out := h.webhook(r.Context(), r.Method, r.URL.Path, r.URL.Query(), r.Header, body)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// webhook is the host's webhook path; it returns the HTTP answer.
func (h *hostPath) webhook(ctx context.Context, method, path string, query url.Values, header http.Header, body []byte) (int, []byte) {
	if path != "/v1/livechat/"+h.provider+"/receive" {
		return http.StatusNotFound, []byte("no such provider\n")
	}
	tok := query.Get("token")
	if tok == "" {
		tok = header.Get("X-Livechat-Token")
	}
	h.mu.Lock()
	bot, ok := h.tokens[tok]
	h.mu.Unlock()
	if !ok || tok == "" {
		return http.StatusUnauthorized, []byte("wrong webhook token\n")
	}
	q := url.Values{}
	for k, v := range query {
		if k != "token" {
			q[k] = v
		}
	}
	hd := header.Clone()
	hd.Del("X-Livechat-Token")
	res, err := h.plugin().HandleWebhook(ctx, sdk.WebhookRequest{Bot: bot, Method: method, Path: path, Query: q, Header: hd, Body: body})
	if err != nil {
		if ok, _ := sdk.IsRetryable(err); ok {
			return http.StatusAccepted, []byte(`{"queued":true}`)
		}
		return http.StatusBadRequest, []byte(err.Error())
	}
	if err := h.apply(bot, res.Events, false); err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	status := res.Status
	if status == 0 {
		status = http.StatusOK
	}
	if len(res.Body) == 0 {
		res.Body, _ = json.Marshal(map[string]int{"events": len(res.Events)})
	}
	return status, res.Body
}

// resend sends a captured webhook again, with its token replaced by tok
// when tok is not nil ("" removes it).
func (h *hostPath) resend(c capturedWebhook, tok *string) (int, error) {
	u := h.srv.URL + c.path
	q, _ := url.ParseQuery(c.query)
	if tok != nil {
		q.Del("token")
		if *tok != "" {
			q.Set("token", *tok)
		}
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(c.method, u, bytes.NewReader(c.body))
	if err != nil {
		return 0, err
	}
	req.Header = c.header.Clone()
	if tok != nil {
		req.Header.Del("X-Livechat-Token")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// summary of what was ignored or refused, for failure messages.
func (h *hostPath) troubles() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.refused {
		fmt.Fprintf(&b, "\n  push refused: %s", r)
	}
	for _, r := range h.ignored {
		fmt.Fprintf(&b, "\n  webhook event ignored: %s", r)
	}
	return b.String()
}
