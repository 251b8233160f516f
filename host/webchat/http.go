package webchat

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/chat.html"))

// KeepAlive is how often an idle stream gets a comment line, so proxies
// and browsers keep the connection.
var KeepAlive = 15 * time.Second

// Register adds the webchat's routes: the page, its assets, the widget,
// identities, the streams, uploads and the uploaded files.
func (c *Channel) Register(r *mux.Router) {
	r.PathPrefix("/chat/assets/").HandlerFunc(asset).Methods(http.MethodGet)
	r.HandleFunc("/chat/{bot}", c.page).Methods(http.MethodGet)
	r.HandleFunc("/chat/files/{id}/{name}", c.file).Methods(http.MethodGet)
	r.HandleFunc("/chat/{bot}/identity", c.identity).Methods(http.MethodPost)
	r.HandleFunc("/chat/{bot}/widget.js", c.widget).Methods(http.MethodGet)
	r.HandleFunc("/v1/bots/{bot}/users/{user}/stream", c.stream).Methods(http.MethodGet)
	r.HandleFunc("/v1/bots/{bot}/users/{user}/uploads", c.upload).Methods(http.MethodPost)
}

// static is the page's scripts, styles and icon.
var static, _ = fs.Sub(assets, "assets")

// asset serves one file of static: no directory listings, and what is not
// a file is a JSON 404 like the API's.
func asset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/chat/assets/")
	if st, err := fs.Stat(static, name); err != nil || st.IsDir() || !fs.ValidPath(name) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat asset %q", name))
		return
	}
	http.ServeFileFS(w, r, static, name)
}

func (c *Channel) page(w http.ResponseWriter, r *http.Request) {
	bot := mux.Vars(r)["bot"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	a := c.look(bot)
	q := r.URL.Query()
	// The widget passes its own title and colour (its data- attributes).
	if t := strings.TrimSpace(q.Get("title")); t != "" && utf8.RuneCountInString(t) <= MaxTitle {
		a.Title = t
	}
	if col := q.Get("color"); colorRE.MatchString(col) {
		a.Color = col
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// No frame-ancestors: the page is the widget's iframe on any site.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: https: http:")
	_ = page.Execute(w, map[string]any{"Bot": bot, "Title": a.Title, "Color": a.Color, "Embed": q.Get("embed") == "1",
		"Uploads": c.uploads != nil, "UploadMax": c.limits.UploadBytes, "Accept": strings.Join(c.takenTypes(), ",")})
}

// identity gives the page a new anonymous user and its token, within the
// client address's rate (Limits.IdentitiesPerMinute).
func (c *Channel) identity(w http.ResponseWriter, r *http.Request) {
	bot := mux.Vars(r)["bot"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	if ok, wait := c.identities.allow(clientAddr(r)); !ok {
		c.metrics.refused.WithLabelValues("identities").Inc()
		tooMany(w, wait, "", "too many identities from this address: retry later")
		return
	}
	user := "web-" + host.NewID()
	writeJSON(w, http.StatusOK, map[string]string{"user_id": user, "token": c.Token(bot, user)})
}

// clientAddr is the address the request came from. Forwarding headers are
// not trusted: behind a proxy every user shares the proxy's address, and
// Limits.IdentitiesPerMinute must be raised to match.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// Admit decides whether a webchat user's event may go on, and answers it
// 429 (with Retry-After, field payload) when not: a user may send
// Limits.StartsPerMinute LIVECHAT_SESSION_START per minute, each of which
// opens a ticket on the platform. Call it once the user's token is checked.
func (c *Channel) Admit(w http.ResponseWriter, bot string, ev engine.Event) bool {
	if strings.TrimSpace(ev.Payload.Value()) != engine.PayloadStart {
		return true
	}
	ok, wait := c.starts.allow(streamKey(bot, ev.Client.UserID))
	if !ok {
		c.metrics.refused.WithLabelValues("starts").Inc()
		tooMany(w, wait, "payload", "too many requests for an agent: retry later")
	}
	return ok
}

// openStream counts a new stream of user, or says why it cannot open:
// the user has Limits.StreamsPerUser open (429), or the channel has
// Limits.Streams (503). The open ones are never cut for a newer one.
func (c *Channel) openStream(k string) (closeStream func(), status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.open[k] >= c.limits.StreamsPerUser:
		c.metrics.refused.WithLabelValues("streams_per_user").Inc()
		return nil, http.StatusTooManyRequests
	case c.openAll >= c.limits.Streams:
		c.metrics.refused.WithLabelValues("streams").Inc()
		return nil, http.StatusServiceUnavailable
	}
	c.open[k]++
	c.openAll++
	c.metrics.open.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.open[k]--; c.open[k] <= 0 {
				delete(c.open, k)
			}
			c.openAll--
			c.metrics.open.Dec()
		})
	}, 0
}

// stream serves a user's stream as Server-Sent Events: every entry after
// Last-Event-ID (or ?last_event_id=), then new ones as they come, until the
// client leaves or the channel shuts down.
//
// What a stream holds is bounded: entries are read in batches of about
// Limits.ReplayBytes (sized by the largest entry seen so far, at most
// maxBatch entries), each written and flushed before the next is read, and
// every write has Limits.WriteTimeout: a client that does not read loses
// its stream instead of pinning the batch.
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
	closeStream, status := c.openStream(streamKey(bot, user))
	switch status {
	case http.StatusTooManyRequests:
		tooMany(w, 5*time.Second, "", fmt.Sprintf("this user has %d streams open already", c.limits.StreamsPerUser))
		return
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "busy", "too many streams open: retry later")
		return
	}
	defer closeStream()
	rc := http.NewResponseController(w)
	// write sends what fn writes within the write timeout, and flushes it.
	write := func(fn func() error) error {
		if err := rc.SetWriteDeadline(time.Now().Add(c.limits.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
		return rc.Flush()
	}
	// Subscribe before reading, so nothing appended in between is missed.
	changed, unsubscribe := c.subscribe(bot, user)
	defer unsubscribe()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if err := write(func() error {
		w.WriteHeader(http.StatusOK)
		_, err := fmt.Fprint(w, "retry: 1000\n\n")
		return err
	}); err != nil {
		return
	}
	keepAlive := time.NewTicker(KeepAlive)
	defer keepAlive.Stop()
	ctx := r.Context()
	batch, largest := 1, 0 // the first read learns the entries' size
	sentTyping := uint64(0)
	for {
		entries, err := c.log.Stream(ctx, bot, user, after, batch)
		if err != nil {
			if ctx.Err() == nil {
				c.lg.Error("read webchat stream", "bot", bot, "error", err)
			}
			return
		}
		full := len(entries) == batch
		if err := c.send(w, write, entries, &after, &largest); err != nil {
			return // the client is gone or does not read
		}
		if largest > 0 {
			batch = max(1, min(maxBatch, c.limits.ReplayBytes/largest))
		}
		if full {
			continue
		}
		if ver, event := c.typingEvent(streamKey(bot, user)); ver != sentTyping {
			if err := write(func() error { return event(w) }); err != nil {
				return
			}
			sentTyping = ver
		}
		select {
		case <-ctx.Done():
			return
		case <-c.shutdown:
			return
		case <-changed:
		case <-keepAlive.C:
			if err := write(func() error { _, err := fmt.Fprint(w, ": keep-alive\n\n"); return err }); err != nil {
				return
			}
		}
	}
}

// send writes entries to the stream and flushes them, counting them as
// buffered until they are written.
func (c *Channel) send(w http.ResponseWriter, write func(func() error) error, entries []host.StreamEntry, after *int64, largest *int) error {
	if len(entries) == 0 {
		return nil
	}
	size := 0
	for _, e := range entries {
		size += len(e.Entry)
		*largest = max(*largest, len(e.Entry))
	}
	c.buffered.Add(int64(size))
	c.metrics.buffered.Add(float64(size))
	defer func() {
		c.buffered.Add(-int64(size))
		c.metrics.buffered.Sub(float64(size))
	}()
	return write(func() error {
		for _, e := range entries {
			if _, err := fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, e.Entry); err != nil {
				return err
			}
			*after = e.Seq
		}
		return nil
	})
}

// tooMany answers 429 with Retry-After, in whole seconds.
func tooMany(w http.ResponseWriter, wait time.Duration, field, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
	detail := map[string]string{"code": "rate_limited", "message": msg}
	if field != "" {
		detail["field"] = field
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
