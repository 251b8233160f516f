// Package host holds livechatd's domain: sessions, the transcript, the
// transactional outbox, the error type and the storage interface the session
// engine depends on. It imports no adapter (SQLite, HTTP, go-plugin); those
// live in sub-packages that implement or consume these types.
package host

import "crypto/rand"

// NewID returns a new random identifier (26 characters of base32, 130 bits),
// used for sessions and messages when the caller did not choose one.
func NewID() string {
	return rand.Text()
}
