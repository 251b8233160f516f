package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

func (s *Server) registerAdmin(r *mux.Router) {
	admin := func(path string, h http.HandlerFunc, method string) {
		r.Handle(path, s.requireAdmin(h)).Methods(method)
	}
	admin("/v1/sessions", s.listSessions, http.MethodGet)
	admin("/v1/sessions/{id}", s.getSession, http.MethodGet)
	admin("/v1/sessions/{id}/end", s.endSession, http.MethodPost)
	admin("/v1/plugins", s.listPlugins, http.MethodGet)
	admin("/v1/deadletters", s.listDeadLetters, http.MethodGet)
	admin("/v1/stats", s.stats, http.MethodGet)
	// Go's profiler, behind the admin token like the rest (how-to in
	// BENCHMARKS.md), e.g.
	//   curl -H "Authorization: Bearer $TOKEN" -o cpu.out \
	//     'http://127.0.0.1:8080/debug/pprof/profile?seconds=10'
	r.PathPrefix("/debug/pprof/").Handler(s.requireAdmin(http.HandlerFunc(profiler))).Methods(http.MethodGet)
}

// requireAdmin checks Authorization: Bearer <admin_token>.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if s.AdminToken == "" {
			s.error(w, req, &host.Error{Code: host.EFORBIDDEN, Message: "the admin API is off: set admin_token in the config"})
			return
		}
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			s.error(w, req, &host.Error{Code: host.EUNAUTHORIZED, Field: "Authorization", Message: "admin token required: Authorization: Bearer <admin_token>"})
			return
		}
		if !equalSecret(got, s.AdminToken) {
			s.error(w, req, &host.Error{Code: host.EUNAUTHORIZED, Field: "Authorization", Message: "wrong admin token"})
			return
		}
		next.ServeHTTP(w, req)
	})
}

// sessionJSON is a session in the admin API.
type sessionJSON struct {
	ID          string         `json:"id"`
	Bot         string         `json:"bot"`
	UserID      string         `json:"user_id"`
	ChannelID   string         `json:"channel_id,omitempty"`
	Provider    string         `json:"provider"`
	ProviderRef string         `json:"provider_ref"`
	State       string         `json:"state"`
	EndReason   string         `json:"end_reason,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	ExpiresAt   time.Time      `json:"expires_at"`
	EndedAt     *time.Time     `json:"ended_at,omitempty"`
	Messages    []messageJSON  `json:"messages,omitempty"`
}

type messageJSON struct {
	ID         string          `json:"id"`
	Direction  string          `json:"direction"`
	Author     string          `json:"author"`
	AuthorName string          `json:"author_name,omitempty"`
	Payload    json.RawMessage `json:"payload"`
	// Late marks an agent message that arrived after the session closed:
	// kept, never delivered.
	Late      bool      `json:"late,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func toSessionJSON(s *host.Session) sessionJSON {
	out := sessionJSON{
		ID: s.ID, Bot: s.Bot, UserID: s.UserID, ChannelID: s.ChannelID, Provider: s.Provider,
		ProviderRef: s.ProviderRef, State: string(s.State), EndReason: string(s.EndReason), Metadata: s.Metadata,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ExpiresAt: s.ExpiresAt,
	}
	if !s.EndedAt.IsZero() {
		t := s.EndedAt
		out.EndedAt = &t
	}
	return out
}

// listSessions: GET /v1/sessions?bot=&state=&user_id=&limit=&before=
func (s *Server) listSessions(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	f := host.SessionFilter{Bot: q.Get("bot"), UserID: q.Get("user_id"), State: host.SessionState(q.Get("state")), Before: q.Get("before")}
	if f.State != "" && !f.State.Valid() {
		s.error(w, req, &host.Error{Code: host.EINVALID, Field: "state", Message: "state must be starting, active, ended, expired or failed"})
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			s.error(w, req, &host.Error{Code: host.EINVALID, Field: "limit", Message: "limit must be a positive number"})
			return
		}
		f.Limit = n
	}
	sessions, err := s.Store.ListSessions(req.Context(), f)
	if err != nil {
		s.error(w, req, err)
		return
	}
	out := make([]sessionJSON, 0, len(sessions))
	for _, sess := range sessions {
		out = append(out, toSessionJSON(sess))
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// getSession: GET /v1/sessions/{id}, with its messages.
func (s *Server) getSession(w http.ResponseWriter, req *http.Request) {
	sess, err := s.Store.Session(req.Context(), mux.Vars(req)["id"])
	if err != nil {
		s.error(w, req, err)
		return
	}
	msgs, err := s.Store.Messages(req.Context(), sess.ID)
	if err != nil {
		s.error(w, req, err)
		return
	}
	out := toSessionJSON(sess)
	out.Messages = []messageJSON{}
	for _, m := range msgs {
		out.Messages = append(out.Messages, messageJSON{ID: m.ID, Direction: string(m.Direction), Author: string(m.Author),
			AuthorName: m.AuthorName, Payload: m.Payload, Late: m.Late, CreatedAt: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// endSession: POST /v1/sessions/{id}/end.
func (s *Server) endSession(w http.ResponseWriter, req *http.Request) {
	sess, err := s.Engine.EndSession(req.Context(), mux.Vars(req)["id"])
	if err != nil {
		s.error(w, req, err)
		return
	}
	writeJSON(w, http.StatusOK, toSessionJSON(sess))
}

// listPlugins: GET /v1/plugins.
func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request) {
	var out any = []any{}
	if s.Plugins != nil {
		out = s.Plugins.Statuses()
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugins": out})
}

type deadLetterJSON struct {
	ID        int64           `json:"id"`
	Key       string          `json:"key"`
	Kind      string          `json:"kind"`
	SessionID string          `json:"session_id,omitempty"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// listDeadLetters: GET /v1/deadletters?limit=
func (s *Server) listDeadLetters(w http.ResponseWriter, req *http.Request) {
	limit, _ := strconv.Atoi(req.URL.Query().Get("limit"))
	items, err := s.Store.DeadLetters(req.Context(), limit)
	if err != nil {
		s.error(w, req, err)
		return
	}
	out := make([]deadLetterJSON, 0, len(items))
	for _, it := range items {
		out = append(out, deadLetterJSON{ID: it.ID, Key: it.Key, Kind: string(it.Kind), SessionID: it.SessionID,
			Attempts: it.Attempts, LastError: it.LastError, Payload: it.Payload, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": out})
}

// profiler serves net/http/pprof under /debug/pprof/: the CPU profile,
// the execution trace, symbols, the command line, and every named profile
// (heap, goroutine, allocs, mutex, block…) with the index.
func profiler(w http.ResponseWriter, req *http.Request) {
	switch strings.TrimPrefix(req.URL.Path, "/debug/pprof/") {
	case "profile":
		pprof.Profile(w, req)
	case "trace":
		pprof.Trace(w, req)
	case "symbol":
		pprof.Symbol(w, req)
	case "cmdline":
		pprof.Cmdline(w, req)
	default:
		pprof.Index(w, req)
	}
}

// statsJSON is GET /v1/stats's answer: the outcome metrics of the sessions
// started in [from, to), as livechatd's Prometheus metrics count them
// (docs/handoff.md).
type statsJSON struct {
	Bot        string         `json:"bot,omitempty"`
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Sessions   int            `json:"sessions"`
	Open       int            `json:"open"`
	EndReasons map[string]int `json:"end_reasons"`
	FirstAgent histogramJSON  `json:"first_agent_seconds"`
	Length     histogramJSON  `json:"session_seconds"`
	CSAT       csatJSON       `json:"csat"`
}

type histogramJSON struct {
	Count   int          `json:"count"`
	Sum     float64      `json:"sum"`
	Mean    float64      `json:"mean"`
	Max     float64      `json:"max"`
	Buckets []bucketJSON `json:"buckets"`
}

type bucketJSON struct {
	LE    float64 `json:"le"`
	Count int     `json:"count"`
}

type csatJSON struct {
	Count  int            `json:"count"`
	Mean   float64        `json:"mean"`
	Scores map[string]int `json:"scores"`
}

// defaultStatsRange is the range of GET /v1/stats without from.
const defaultStatsRange = 24 * time.Hour

// stats: GET /v1/stats?from=&to=&bot=
func (s *Server) stats(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	to := time.Now().UTC()
	from := to.Add(-defaultStatsRange)
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"to", &to}, {"from", &from}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.error(w, req, &host.Error{Code: host.EINVALID, Field: p.name, Message: fmt.Sprintf("%s must be an RFC 3339 time such as 2026-11-29T00:00:00Z, got %q", p.name, v)})
			return
		}
		*p.into = t
	}
	if q.Get("from") == "" && q.Get("to") != "" {
		from = to.Add(-defaultStatsRange)
	}
	if !from.Before(to) {
		s.error(w, req, &host.Error{Code: host.EINVALID, Field: "from", Message: "from must be before to"})
		return
	}
	bot := q.Get("bot")
	if bot != "" && s.Engine != nil {
		if _, err := s.Engine.Bot(bot); err != nil {
			s.error(w, req, err)
			return
		}
	}
	buckets := slices.Concat(engine.FirstAgentBuckets, engine.SessionLengthBuckets)
	slices.Sort(buckets)
	buckets = slices.Compact(buckets)
	st, err := s.Store.OutcomeStats(req.Context(), host.OutcomeFilter{Bot: bot, From: from, To: to, Buckets: buckets})
	if err != nil {
		s.error(w, req, err)
		return
	}
	out := statsJSON{Bot: bot, From: from, To: to, Sessions: st.Sessions, Open: st.Open, EndReasons: st.EndReasons,
		FirstAgent: histogram(st.FirstAgent, buckets, engine.FirstAgentBuckets),
		Length:     histogram(st.Length, buckets, engine.SessionLengthBuckets),
		CSAT:       csatJSON{Scores: map[string]int{}}}
	if out.EndReasons == nil {
		out.EndReasons = map[string]int{}
	}
	total := 0
	for score, n := range st.CSAT {
		out.CSAT.Scores[strconv.Itoa(score)] = n
		out.CSAT.Count += n
		total += score * n
	}
	if out.CSAT.Count > 0 {
		out.CSAT.Mean = float64(total) / float64(out.CSAT.Count)
	}
	writeJSON(w, http.StatusOK, out)
}

// histogram picks the bounds of want out of the counts the store gave for
// all (cumulative counts, so any subset of bounds is exact).
func histogram(d host.DurationStats, all, want []time.Duration) histogramJSON {
	h := histogramJSON{Count: d.Count, Sum: d.Sum.Seconds(), Max: d.Max.Seconds(), Buckets: []bucketJSON{}}
	if d.Count > 0 {
		h.Mean = h.Sum / float64(d.Count)
	}
	for _, b := range want {
		if i := slices.Index(all, b); i >= 0 && i < len(d.Buckets) {
			h.Buckets = append(h.Buckets, bucketJSON{LE: b.Seconds(), Count: d.Buckets[i]})
		}
	}
	return h
}
