package host

import "encoding/json"

// StreamEntry is one entry of a user's stream in the built-in webchat
// channel: everything their chat window shows, numbered in order so that a
// reconnecting page asks for what came after the last number it saw.
type StreamEntry struct {
	Seq   int64
	Entry json.RawMessage
}
