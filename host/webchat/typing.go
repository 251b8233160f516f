package webchat

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// contentTyping is the content type of typing: {"content_type": "typing",
// "content": {"duration": <ms>}}, duration 0 meaning stopped. An agent's
// typing is shown in the open chat windows and never kept in the stream; a
// user's is relayed by the engine and never shown.
const contentTyping = "typing"

// contentRead is the content type of the user's read receipts.
const contentRead = "read"

// MaxTyping bounds how long one typing message keeps the indicator on: a
// platform that never says it stopped does not leave it on for ever.
const MaxTyping = 30 * time.Second

// typingOf reads a typing payload's duration in milliseconds.
func typingOf(p json.RawMessage) (int64, bool) {
	var v struct {
		ContentType string `json:"content_type"`
		Content     struct {
			Duration float64 `json:"duration"`
		} `json:"content"`
	}
	if json.Unmarshal(p, &v) != nil || v.ContentType != contentTyping {
		return 0, false
	}
	return max(0, int64(v.Content.Duration)), true
}

// typing is who is typing to a user, until when.
type typing struct {
	author *Author
	until  time.Time
	ver    uint64
}

// setTyping records that author types to the user for ms milliseconds (0,
// or no author: stopped), and wakes the user's streams.
func (c *Channel) setTyping(bot, user string, author *Author, ms int64) {
	k := streamKey(bot, user)
	c.mu.Lock()
	_, had := c.typing[k]
	if author == nil || ms <= 0 {
		delete(c.typing, k)
	} else {
		c.typingVer++
		d := min(time.Duration(ms)*time.Millisecond, MaxTyping)
		c.typing[k] = typing{author: author, until: c.now().Add(d), ver: c.typingVer}
	}
	c.mu.Unlock()
	if had || (author != nil && ms > 0) {
		c.notify(bot, user)
	}
}

// typingEvent is the user's typing now: its version (0 when no one types)
// and the event that tells a stream, with the time left.
func (c *Channel) typingEvent(k string) (uint64, func(io.Writer) error) {
	c.mu.Lock()
	t, ok := c.typing[k]
	now := c.now()
	if ok && !now.Before(t.until) {
		delete(c.typing, k)
		ok = false
	}
	c.mu.Unlock()
	body := map[string]any{"duration": 0}
	ver := uint64(0)
	if ok {
		ver = t.ver
		body = map[string]any{"author": t.author, "duration": t.until.Sub(now).Milliseconds()}
	}
	return ver, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "event: typing\ndata: %s\n\n", mustJSON(body))
		return err
	}
}
