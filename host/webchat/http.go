package webchat

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/chat.html"))

// KeepAlive is how often an idle stream gets a comment line, so proxies
// and browsers keep the connection.
var KeepAlive = 15 * time.Second

// Register adds the webchat's routes: the page, its assets, identities and
// the streams.
func (c *Channel) Register(r *mux.Router) {
	static, _ := fs.Sub(assets, "assets")
	r.PathPrefix("/chat/assets/").Handler(http.StripPrefix("/chat/assets/", http.FileServer(http.FS(static)))).Methods(http.MethodGet)
	r.HandleFunc("/chat/{bot}", c.page).Methods(http.MethodGet)
	r.HandleFunc("/chat/{bot}/identity", c.identity).Methods(http.MethodPost)
	r.HandleFunc("/v1/bots/{bot}/users/{user}/stream", c.stream).Methods(http.MethodGet)
}

func (c *Channel) page(w http.ResponseWriter, r *http.Request) {
	bot := mux.Vars(r)["bot"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https: http:")
	_ = page.Execute(w, map[string]string{"Bot": bot})
}

// identity gives the page a new anonymous user and its token.
func (c *Channel) identity(w http.ResponseWriter, r *http.Request) {
	bot := mux.Vars(r)["bot"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	user := "web-" + host.NewID()
	writeJSON(w, http.StatusOK, map[string]string{"user_id": user, "token": c.Token(bot, user)})
}

// stream serves a user's stream as Server-Sent Events: every entry after
// Last-Event-ID (or ?last_event_id=), then new ones as they come, until the
// client leaves or the channel shuts down.
func (c *Channel) stream(w http.ResponseWriter, r *http.Request) {
	bot, user := mux.Vars(r)["bot"], mux.Vars(r)["user"]
	token := r.URL.Query().Get("token")
	if t := r.Header.Get("X-Livechat-User-Token"); t != "" {
		token = t
	}
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	if !c.Verify(bot, user, token) {
		writeError(w, http.StatusUnauthorized, host.EUNAUTHORIZED, "a stream is readable with its own user's token only")
		return
	}
	after := int64(0)
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, host.EINVALID, "Last-Event-ID must be a number")
			return
		}
		after = n
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, host.EINTERNAL, "streaming unsupported")
		return
	}
	// Subscribe before reading, so nothing appended in between is missed.
	changed, unsubscribe := c.subscribe(bot, user)
	defer unsubscribe()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	flusher.Flush()
	keepAlive := time.NewTicker(KeepAlive)
	defer keepAlive.Stop()
	ctx := r.Context()
	for {
		entries, err := c.log.Stream(ctx, bot, user, after, 500)
		if err != nil {
			if ctx.Err() == nil {
				c.lg.Error("read webchat stream", "bot", bot, "error", err)
			}
			return
		}
		for _, e := range entries {
			fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, e.Entry)
			after = e.Seq
		}
		if len(entries) > 0 {
			flusher.Flush()
		}
		if len(entries) == 500 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-c.shutdown:
			return
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
