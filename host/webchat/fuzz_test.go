package webchat_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
)

// FuzzVerify: a user's token opens that user's identity with that bot and
// nothing else. Whatever the bot, user and token, Verify never panics; it
// accepts the token Token made for exactly that (bot, user), and no other:
// not another user's, not another bot's, not a prefix, not an empty one.
func FuzzVerify(f *testing.F) {
	f.Add("shop", "web-0a1b2c", "u1", "")
	c := webchat.New(nil, map[string]string{"shop": "shop-secret", "help": "help-secret", "nokey": ""}, nil)
	f.Fuzz(func(t *testing.T, bot, user, other, token string) {
		served := c.Serves(bot)
		if got := c.Verify(bot, user, token); got && (!served || user == "" || token != c.Token(bot, user)) {
			t.Fatalf("Verify(%q, %q, %q) accepted a token that is not the user's own", bot, user, token)
		}
		if !served || user == "" {
			return
		}
		own := c.Token(bot, user)
		if len(own) != 40 || strings.Trim(own, "0123456789abcdef") != "" {
			t.Fatalf("Token(%q, %q) = %q, want 40 hex digits", bot, user, own)
		}
		if !c.Verify(bot, user, own) {
			t.Fatalf("Verify(%q, %q) refused the user's own token", bot, user)
		}
		if other != user && c.Verify(bot, other, own) {
			t.Fatalf("the token of %q opens %q", user, other)
		}
		for _, b := range []string{"shop", "help", "nokey"} {
			if b != bot && c.Verify(b, user, own) {
				t.Fatalf("the token of %q with %q opens %q", user, bot, b)
			}
		}
		if c.Verify(bot, user, own[:39]) || c.Verify(bot, user, strings.ToUpper(own)) || c.Verify(bot, user, own+"0") {
			t.Fatalf("Verify(%q, %q) accepted a near miss of the token", bot, user)
		}
	})
}

// FuzzStreamLastEventID reads a user's stream with the user's own token and
// any Last-Event-ID (header, or ?last_event_id=): a non-negative number is
// a replay of exactly the entries after it, in order; anything else is a
// 400 "invalid", never another user's entries, a 500 or
// a replay from the start.
func FuzzStreamLastEventID(f *testing.F) {
	f.Add("u1", "2", false)
	db, err := sqlite.Open(filepath.Join(f.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for i, u := range []string{"u1", "u2", "u1", "web-7f3a", "u1"} {
		entry := json.RawMessage(`{"type": "message", "author": {"type": "user"}, "payload": {"content_type": "text", "content": {"text": "m` + strconv.Itoa(i) + `"}}}`)
		if _, err := db.AppendStream(ctx, "shop", u, "", entry); err != nil {
			f.Fatal(err)
		}
	}
	c := webchat.New(db, map[string]string{"shop": "shop-secret"}, nil)
	c.Shutdown() // each stream ends once it has sent what is stored
	r := mux.NewRouter()
	c.Register(r)
	f.Fuzz(func(t *testing.T, user, last string, inQuery bool) {
		if user == "" || user == "." || user == ".." || strings.ContainsAny(user, "/") {
			return // not a {user} path segment
		}
		target := "/v1/bots/shop/users/" + url.PathEscape(user) + "/stream"
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("X-Livechat-User-Token", c.Token("shop", user))
		if inQuery {
			req.URL.RawQuery = url.Values{"last_event_id": {last}}.Encode()
		} else if last != "" {
			req.Header["Last-Event-Id"] = []string{last}
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		after, perr := strconv.ParseInt(last, 10, 64)
		valid := last == "" || (perr == nil && after >= 0)
		switch {
		case !valid:
			var body struct {
				Error struct{ Code, Message string }
			}
			if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code != "invalid" {
				t.Fatalf("Last-Event-ID %q: %d %s, want a 400 invalid", last, w.Code, w.Body)
			}
			return
		case w.Code != http.StatusOK:
			t.Fatalf("Last-Event-ID %q for %q: %d %s, want 200", last, user, w.Code, w.Body)
		}
		want, err := db.Stream(ctx, "shop", user, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		sc := bufio.NewScanner(w.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				n, err := strconv.ParseInt(id, 10, 64)
				if err != nil {
					t.Fatalf("event id %q", id)
				}
				got = append(got, n)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("after %q, %q got ids %v, want %d entries", last, user, got, len(want))
		}
		for i, e := range want {
			if got[i] != e.Seq {
				t.Fatalf("after %q, %q got ids %v, want %v", last, user, got, want)
			}
		}
	})
}
