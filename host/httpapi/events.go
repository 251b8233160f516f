package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

func (s *Server) registerEvents(r *mux.Router) {
	r.HandleFunc("/v1/bots/{bot}/events", s.postEvent).Methods(http.MethodPost)
}

func (s *Server) registerWebhooks(r *mux.Router) {
	r.HandleFunc("/v1/livechat/{provider}/receive", s.webhook).Methods(http.MethodGet, http.MethodPost)
}

// postEvent: POST /v1/bots/{bot}/events, from the channel. A channel_url
// bot's events are signed with its channel_secret (engine.VerifyEvent); a
// webchat bot's carry the user's token.
func (s *Server) postEvent(w http.ResponseWriter, req *http.Request) {
	bot := mux.Vars(req)["bot"]
	b, err := s.Engine.Bot(bot)
	if err != nil {
		s.error(w, req, err)
		return
	}
	body, err := readBody(w, req, MaxEventBytes)
	if err != nil {
		s.error(w, req, err)
		return
	}
	// The signature covers the exact bytes received: it is checked before
	// anything reads them.
	if err := s.Engine.VerifyEvent(b, req.Header.Get(engine.SignatureHeader), body); err != nil {
		s.error(w, req, err)
		return
	}
	var ev engine.Event
	if err := decodeJSON(body, &ev); err != nil {
		s.error(w, req, err)
		return
	}
	webchat := s.Webchat != nil && s.Webchat.Serves(bot)
	// Only a signed event can vouch for its user's identity
	// (metadata_verified); webchat users are anonymous.
	ev.Signed = !b.Webchat && !b.InsecureEvents
	if webchat && !s.Webchat.Verify(bot, ev.Client.UserID, req.Header.Get("X-Livechat-User-Token")) {
		s.error(w, req, &host.Error{Code: host.EUNAUTHORIZED, Field: "X-Livechat-User-Token",
			Message: "this bot's channel is the webchat: events need the user's token (X-Livechat-User-Token)"})
		return
	}
	if webchat && !s.Webchat.Admit(w, bot, ev) {
		return // over the user's rate of STARTs: answered 429
	}
	if webchat {
		// Deliveries to the user wait until this exchange is in their stream.
		done := s.Webchat.BeginExchange(bot, ev.Client.UserID)
		defer done()
	}
	reply, err := s.Engine.HandleEvent(req.Context(), bot, ev)
	if err != nil {
		s.error(w, req, err)
		return
	}
	if webchat {
		if err := s.Webchat.RecordExchange(req.Context(), bot, ev, reply); err != nil {
			s.Logger.Error("webchat: record exchange", "bot", bot, "error", err)
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// webhook: GET|POST /v1/livechat/{provider}/receive, from the platform.
func (s *Server) webhook(w http.ResponseWriter, req *http.Request) {
	body, err := readBody(w, req, MaxWebhookBytes)
	if err != nil {
		s.error(w, req, err)
		return
	}
	token := req.URL.Query().Get("token")
	if h := req.Header.Get("X-Livechat-Token"); h != "" {
		token = h
	}
	res, err := s.Engine.HandleWebhook(req.Context(), engine.WebhookRequest{
		Provider: mux.Vars(req)["provider"],
		Token:    token,
		Method:   req.Method,
		Path:     req.URL.Path,
		Query:    req.URL.Query(),
		Header:   req.Header,
		Body:     body,
	})
	if err != nil {
		s.error(w, req, err)
		return
	}
	for k, vs := range res.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
}
