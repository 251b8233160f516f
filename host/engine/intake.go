package engine

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sync"

	"github.com/livechatd/livechatd/host"
)

// intake is one channel event on its way in. With a request_id it makes the
// event exactly-once: the id is claimed in the same transaction as the
// state change the event causes (recall, then remember), the ids of what
// it creates derive from (bot, user, request_id) so that a repeat would
// create the same rows, and a concurrent duplicate waits for the first
// (Engine.requests). Without a request_id, events are at-least-once.
type intake struct {
	bot      *Bot
	ev       Event
	bodyHash string
	// prefix is what the bot answered to a pending expiry notice: it comes
	// before the event's own answer, and is remembered with it.
	prefix []OutMessage
	// suffix comes after the event's own answer (the session_ended event
	// of an END), remembered with it too.
	suffix []OutMessage
}

func newIntake(b *Bot, ev Event) *intake {
	in := &intake{bot: b, ev: ev}
	if ev.RequestID != "" {
		body, _ := json.Marshal(ev) // the decoded event: key order and spacing do not matter
		sum := sha256.Sum256(body)
		in.bodyHash = hex.EncodeToString(sum[:])
	}
	return in
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// id is the id of the thing called what that the event creates: derived
// from the request when there is one, random otherwise.
func (in *intake) id(what string) string {
	if in.ev.RequestID == "" {
		return host.NewID()
	}
	h := sha256.New()
	for _, part := range []string{in.bot.Name, in.ev.Client.UserID, in.ev.RequestID, what} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "r" + idEncoding.EncodeToString(h.Sum(nil))[:25]
}

// errReplayed stops a transaction that found its request already answered.
var errReplayed = errors.New("request answered already")

// recall looks the request up with find (the store's, or a transaction's).
// It returns the answer given to it before, ECONFLICT when the id was used
// with another body, or nil.
func (in *intake) recall(find func(bot, userID, id string) (*host.Request, error)) (*Reply, error) {
	if in.ev.RequestID == "" {
		return nil, nil
	}
	r, err := find(in.bot.Name, in.ev.Client.UserID, in.ev.RequestID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.BodyHash != in.bodyHash {
		return nil, &host.Error{Code: host.ECONFLICT, Field: "request_id",
			Message: "request_id " + quoteJSON(in.ev.RequestID) + " was used before with another body; use a new id for a new event"}
	}
	var reply Reply
	if err := json.Unmarshal(r.Response, &reply); err != nil {
		return nil, &host.Error{Code: host.EINTERNAL, Message: "stored answer unreadable", Err: err}
	}
	return &reply, nil
}

// claim is the first step of a state change's transaction: it returns
// errReplayed (with the earlier answer in *replay) when the request was
// answered already, so the transaction changes nothing.
func (in *intake) claim(tx host.Tx, replay **Reply) error {
	r, err := in.recall(tx.RecalledRequest)
	if err != nil {
		return err
	}
	if r != nil {
		*replay = r
		return errReplayed
	}
	return nil
}

// full is the whole answer: the notice's answer, then the event's, then
// the suffix.
func (in *intake) full(r Reply) Reply {
	if len(in.prefix) > 0 || len(in.suffix) > 0 {
		r.Messages = append(append(append([]OutMessage{}, in.prefix...), r.Messages...), in.suffix...)
	}
	return r
}

// remember is the last step of a state change's transaction: it records the
// whole answer for retries of the request.
func (in *intake) remember(tx host.Tx, r Reply) error {
	req, err := in.request(r)
	if req == nil || err != nil {
		return err
	}
	return tx.RememberRequest(req)
}

// request is the record of the request answered with r, or nil for an
// event without a request_id.
func (in *intake) request(r Reply) (*host.Request, error) {
	if in.ev.RequestID == "" {
		return nil, nil
	}
	raw, err := json.Marshal(in.full(r))
	if err != nil {
		return nil, err
	}
	return &host.Request{Bot: in.bot.Name, UserID: in.ev.Client.UserID, ID: in.ev.RequestID,
		BodyHash: in.bodyHash, Response: raw}, nil
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// flightKey identifies a request, whatever its body: a concurrent request
// with the same id waits for the one running (see flights.do).
func (in *intake) flightKey() string {
	return in.bot.Name + "\x00" + in.ev.Client.UserID + "\x00" + in.ev.RequestID
}

// flights lets concurrent duplicates of one request wait for the first:
// they get its answer (or its error) instead of running it again. A request
// with the same id and another body waits too, then runs on its own, and
// meets ECONFLICT if the first one was recorded.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done     chan struct{}
	bodyHash string
	reply    Reply
	err      error
}

// do runs fn once for all callers with key and bodyHash that overlap in
// time; shared is true for the callers that got another's answer.
func (f *flights) do(key, bodyHash string, fn func() (Reply, error)) (reply Reply, err error, shared bool) {
	for {
		f.mu.Lock()
		if f.m == nil {
			f.m = map[string]*flight{}
		}
		c, running := f.m[key]
		if !running {
			c = &flight{done: make(chan struct{}), bodyHash: bodyHash}
			f.m[key] = c
		}
		f.mu.Unlock()
		if !running {
			defer func() {
				f.mu.Lock()
				delete(f.m, key)
				f.mu.Unlock()
				close(c.done)
			}()
			c.reply, c.err = fn()
			return c.reply, c.err, false
		}
		<-c.done
		if c.bodyHash == bodyHash {
			return c.reply, c.err, true
		}
		// Another body under the same id: try again, now that it is over.
	}
}

// userLocks serialise the few steps that must run one at a time per user
// in this process (telling the bot of a pending expiry), without a map
// that grows with users: a user hashes to one of a fixed set of mutexes.
type userLocks [256]sync.Mutex

func (l *userLocks) lock(bot, user string) func() {
	h := fnv.New32a()
	h.Write([]byte(bot))
	h.Write([]byte{0})
	h.Write([]byte(user))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}
