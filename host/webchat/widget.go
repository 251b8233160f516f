package webchat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/webchat/rules"
)

// The embeddable widget: one tag on any site,
//
//	<script src="https://chat.example.com/chat/shop/widget.js" async
//	        data-title="Help" data-color="#0b7a53" data-position="left"></script>
//
// adds a launcher bubble that opens the chat page of the bot in an iframe
// (the page's own origin, so neither the site's styles nor its scripts
// reach the chat), and the launcher lives in a closed shadow root whose
// host resets every inherited style. The data- attributes override the
// bot's Appearance (WithAppearance); a value that is not valid is ignored.

// Appearance is how a bot's chat looks: the page's title and accent colour,
// and the side of the screen the widget's launcher sits on.
type Appearance struct {
	// Title is the chat's title (default "Chat with <bot>"), at most
	// MaxTitle characters.
	Title string `json:"title,omitempty"`
	// Color is the accent colour, #rgb or #rrggbb (default DefaultColor).
	Color string `json:"color,omitempty"`
	// Position is "right" (the default) or "left".
	Position string `json:"position,omitempty"`
}

// DefaultColor is the chat's accent colour when the bot sets none.
const DefaultColor = "#2f6fed"

// MaxTitle bounds a chat title, in characters.
const MaxTitle = rules.MaxTitle

// colorRE is what an accent colour may be (rules.Color).
var colorRE = rules.Color

// Check names the first field of a that is not valid, with what is wrong
// with it ("" when all are valid). The rules are package rules', which
// config checks the file's webchat blocks against.
func (a Appearance) Check() (field, problem string) {
	for _, f := range []struct{ name, problem string }{
		{"title", rules.CheckTitle(a.Title)},
		{"color", rules.CheckColor(a.Color)},
		{"position", rules.CheckPosition(a.Position)},
	} {
		if f.problem != "" {
			return f.name, f.name + " " + f.problem
		}
	}
	return "", ""
}

// WithAppearance sets how bot's chat and widget look; fields that are not
// valid (Appearance.Check) keep their defaults, with a warning.
func WithAppearance(bot string, a Appearance) Option {
	return func(c *Channel) { c.appearance[bot] = a }
}

// look is the bot's appearance with its defaults filled in.
func (c *Channel) look(bot string) Appearance {
	a := c.appearance[bot]
	if utf8.RuneCountInString(a.Title) > MaxTitle || strings.TrimSpace(a.Title) == "" {
		a.Title = "Chat with " + bot
	}
	if !colorRE.MatchString(a.Color) {
		a.Color = DefaultColor
	}
	if a.Position != "left" {
		a.Position = "right"
	}
	return a
}

// checkAppearance warns of the fields WithAppearance was given that are
// not valid.
func (c *Channel) checkAppearance() {
	for bot, a := range c.appearance {
		if field, problem := a.Check(); field != "" {
			c.lg.Warn("webchat appearance: "+problem+"; the default is used", "bot", bot, "field", field)
		}
	}
}

// WidgetCacheControl is how long browsers and proxies may keep widget.js.
const WidgetCacheControl = "public, max-age=300"

// widget: GET /chat/{bot}/widget.js.
func (c *Channel) widget(w http.ResponseWriter, r *http.Request) {
	bot := mux.Vars(r)["bot"]
	if !c.Serves(bot) {
		writeError(w, http.StatusNotFound, host.ENOTFOUND, fmt.Sprintf("no webchat for bot %q", bot))
		return
	}
	src, err := assets.ReadFile("assets/widget.js")
	if err != nil {
		writeError(w, http.StatusInternalServerError, host.EINTERNAL, "the widget is missing from this build")
		return
	}
	a := c.look(bot)
	defaults, _ := json.Marshal(struct {
		Bot string `json:"bot"`
		Appearance
		MaxTitle int `json:"max_title"`
	}{bot, a, MaxTitle}) // json escapes <, > and &: safe in a script
	body := bytes.Replace(src, []byte("/*DEFAULTS*/{}"), defaults, 1)
	sum := sha256.Sum256(body)
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", WidgetCacheControl)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	// Sites that isolate themselves (Cross-Origin-Embedder-Policy) may load it.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}
