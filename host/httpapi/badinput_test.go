package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestBadEventsAreRefused(t *testing.T) {
	s := newStack(t, stackOptions{})
	big := `{"client":{"user_id":"u1"},"payload":{"content_type":"text","content":{"text":"` + strings.Repeat("x", 300<<10) + `"}}}`
	for _, tc := range []struct {
		name   string
		path   string
		body   string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", "/v1/bots/shop/events", `{"client": {"user_id": "u1"`, 400, "invalid", ""},
		{"empty body", "/v1/bots/shop/events", ``, 400, "invalid", ""},
		{"not an object", "/v1/bots/shop/events", `[1,2]`, 400, "invalid", ""},
		{"wrong type", "/v1/bots/shop/events", `{"client": {"user_id": 7}}`, 400, "invalid", "client.user_id"},
		{"missing user_id", "/v1/bots/shop/events", `{"client": {}, "payload": {"content_type": "text", "content": {"text": "hi"}}}`, 400, "invalid", "client.user_id"},
		{"unknown content_type", "/v1/bots/shop/events", `{"client": {"user_id": "u1"}, "payload": {"content_type": "hologram", "content": {}}}`, 400, "invalid", "payload.content_type"},
		{"missing content", "/v1/bots/shop/events", `{"client": {"user_id": "u1"}, "payload": {"content_type": "image", "content": {}}}`, 400, "invalid", "payload.content.url"},
		{"unknown bot", "/v1/bots/nobody/events", `{"client": {"user_id": "u1"}, "payload": {"content_type": "text", "content": {"text": "hi"}}}`, 404, "not_found", "bot"},
		{"oversized body", "/v1/bots/shop/events", big, 413, "too_large", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(http.MethodPost, tc.path, strings.NewReader(tc.body), map[string]string{"Content-Type": "application/json"})
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("got %d %s, want %d with code %q", r.Status, r.Raw, tc.status, tc.code)
			}
			e, _ := r.Body["error"].(map[string]any)
			if tc.field != "" && e["field"] != tc.field {
				t.Errorf("field = %v, want %q", e["field"], tc.field)
			}
			if msg, _ := e["message"].(string); msg == "" {
				t.Error("no error message")
			}
		})
	}
	if vs := s.bot.Values(); len(vs) != 0 {
		t.Errorf("the bot got %v from refused events", vs)
	}
	if r := s.admin(http.MethodGet, "/v1/sessions"); len(r.Body["sessions"].([]any)) != 0 {
		t.Errorf("refused events stored sessions: %s", r.Raw)
	}
	if r := s.do(http.MethodGet, "/v1/bots/shop/events", nil, nil); r.Status != 405 {
		t.Errorf("GET events: %d %s", r.Status, r.Raw)
	}
}

// webhook calls the recorder's webhook with the query q.
func (s *stack) webhook(q url.Values) response {
	s.t.Helper()
	return s.do(http.MethodGet, "/v1/livechat/recorder/receive?"+q.Encode(), nil, nil)
}

func TestWebhooks(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	id := s.click("u1", "LIVECHAT_SESSION_START")
	sid, _ := id.livechat()
	s.waitDone("start:" + sid)
	otherStart := s.postJSON("/v1/bots/other/events", map[string]any{"client": map[string]any{"user_id": "u9"},
		"payload": map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}}})
	otherID, _ := otherStart.livechat()
	s.waitDone("start:" + otherID)

	msg := func(event, text string) url.Values {
		return url.Values{"token": {webhookToken}, "session_id": {sid}, "ref": {"T-" + sid}, "event_id": {event}, "text": {text}, "agent": {"Ann"}}
	}
	for _, tc := range []struct {
		name   string
		q      url.Values
		header map[string]string
		status int
		code   string
	}{
		{"missing token", url.Values{"session_id": {sid}, "event_id": {"e0"}, "text": {"x"}}, nil, 401, "unauthorized"},
		{"wrong token", func() url.Values { q := msg("e0", "x"); q.Set("token", "guess"); return q }(), nil, 401, "unauthorized"},
		// Authenticated, but not this bot's: answered 200 and ignored, so
		// that a platform firing every integration for every ticket never
		// disables this one (TestWebhooksForOtherBotsAreIgnored).
		{"unknown session", func() url.Values { q := msg("e0", "x"); q.Set("session_id", "nope"); q.Del("ref"); return q }(), nil, 200, ""},
		{"another bot's session", func() url.Values { q := msg("e0", "x"); q.Set("session_id", otherID); q.Del("ref"); return q }(), nil, 200, ""},
		{"another session's ticket", func() url.Values { q := msg("e0", "x"); q.Set("ref", "T-"+otherID); return q }(), nil, 200, ""},
		{"plugin refuses", url.Values{"token": {webhookToken}, "session_id": {sid}}, nil, 400, "invalid"},
		{"no livechat ticket", url.Values{"token": {webhookToken}, "event_id": {"e-other"}, "text": {"an email ticket"}}, nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.webhook(tc.q)
			if r.Status != tc.status || r.errorCode() != tc.code {
				t.Errorf("got %d %s, want %d %q", r.Status, r.Raw, tc.status, tc.code)
			}
		})
	}
	if texts := s.channel.Texts(); len(texts) != 0 {
		t.Fatalf("refused or ignored webhooks delivered %q", texts)
	}

	// A good one, by header token, then its replay: delivered once.
	q := msg("e1", "Hi, Ann here.")
	q.Del("token")
	for range 3 {
		r := s.do(http.MethodPost, "/v1/livechat/recorder/receive?"+q.Encode(), nil, map[string]string{"X-Livechat-Token": webhookToken})
		if r.Status != 200 {
			t.Fatalf("webhook: %d %s", r.Status, r.Raw)
		}
	}
	s.say("u1", "thanks") // a later delivery, to know the earlier ones are through
	r := s.webhook(msg("e2", "You are welcome."))
	if r.Status != 200 {
		t.Fatalf("webhook: %d %s", r.Status, r.Raw)
	}
	got := s.channel.WaitTexts(t, 2)
	if len(got) != 2 || got[0] != "Hi, Ann here." || got[1] != "You are welcome." {
		t.Errorf("channel = %q; a replayed webhook must be delivered once", got)
	}
	if d := s.channel.Deliveries()[0]; d.Messages[0].Author.Name != "Ann" || d.Messages[0].Author.Type != "agent" {
		t.Errorf("author = %+v", d.Messages[0].Author)
	}
	// The plugin never sees the token.
	for _, rec := range s.recordsOf("webhook") {
		if q, _ := rec["query"].(map[string]any); q["token"] != nil {
			t.Errorf("the plugin got the token: %v", q)
		}
	}

	// The agent closes the ticket: the session ends, the bot hears END.
	r = s.webhook(url.Values{"token": {webhookToken}, "ref": {"T-" + sid}, "event_id": {"e3"}, "type": {"closed"}})
	if r.Status != 200 {
		t.Fatalf("close: %d %s", r.Status, r.Raw)
	}
	s.bot.WaitValue(t, "LIVECHAT_SESSION_END")
	if sess := s.session(sid); sess["state"] != "ended" || sess["end_reason"] != "agent" {
		t.Errorf("session = %v", sess)
	}
	if got := s.channel.WaitTexts(t, 3); got[2] != "Thanks for chatting with us today!" {
		t.Errorf("channel = %q", got)
	}
	// Messages for a closed session are ignored, not errors.
	if r := s.webhook(msg("e4", "hello?")); r.Status != 200 {
		t.Errorf("late message: %d %s", r.Status, r.Raw)
	}
}

func TestAdminAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	id := s.startSession("u1", 1)
	s.say("u1", "hello")
	s.channel.WaitTexts(t, 2)
	for _, tc := range []struct {
		name, path, token string
		status            int
	}{
		{"no token", "/v1/sessions", "", 401},
		{"wrong token", "/v1/sessions", "nope", 401},
		{"bad state", "/v1/sessions?state=sleeping", adminToken, 400},
		{"unknown session", "/v1/sessions/nope", adminToken, 404},
	} {
		h := map[string]string{}
		if tc.token != "" {
			h["Authorization"] = "Bearer " + tc.token
		}
		if r := s.do(http.MethodGet, tc.path, nil, h); r.Status != tc.status {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	r := s.admin(http.MethodGet, "/v1/sessions?bot=shop&state=active")
	list := r.Body["sessions"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Fatalf("active sessions: %s", r.Raw)
	}
	sess := s.session(id)
	var authors []string
	for _, m := range sess["messages"].([]any) {
		authors = append(authors, m.(map[string]any)["author"].(string))
	}
	if strings.Join(authors, ",") != "user,agent,user,agent" {
		t.Errorf("session messages by author = %v", authors)
	}
	r = s.admin(http.MethodGet, "/v1/plugins")
	if !strings.Contains(r.Raw, `"name":"echo"`) || !strings.Contains(r.Raw, `"status":"ready"`) {
		t.Errorf("plugins: %s", r.Raw)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := s.do(http.MethodGet, path, nil, nil); r.Status != 200 {
			t.Errorf("%s: %d %s", path, r.Status, r.Raw)
		}
	}
	r = s.do(http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{`livechat_sessions_started_total{bot="shop"} 1`, `livechat_outbox_items{state="dead"} 0`, "livechat_events_total"} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	s := newStack(t, stackOptions{})
	id := s.startSession("u1", 1)
	s.bot.FailWith(http.StatusBadRequest) // the bot refuses: no retry can help
	if r := s.admin(http.MethodPost, "/v1/sessions/"+id+"/end"); r.Status != 200 {
		t.Fatalf("end: %d %s", r.Status, r.Raw)
	}
	s.waitAttempt("notice-end:" + id) // reported once its outcome is stored
	dead := s.admin(http.MethodGet, "/v1/deadletters").Body["dead_letters"].([]any)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %v", dead)
	}
	d := dead[0].(map[string]any)
	if d["key"] != "notice-end:"+id || d["kind"] != "bot_notice" || !strings.Contains(d["last_error"].(string), "400") {
		t.Errorf("dead letter = %v", d)
	}
	m := s.do(http.MethodGet, "/metrics", nil, nil).Raw
	for _, want := range []string{`livechat_outbox_items{state="dead"} 1`, `livechat_outbox_dead_letters_total{kind="bot_notice"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
