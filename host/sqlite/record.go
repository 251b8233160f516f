package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/host"
)

// The bot path's write (host.Store.Record). An event the bot answers
// outside a session keeps two or three rows: the user's message, the
// bot's, and the request's answer. As a Tx of its own each cost a
// savepoint, a read and three statements, a third of livechatd's CPU on
// the bot path (BENCHMARKS.md). Records queue with the transactions of
// group commit and are written together: one multi-row INSERT … RETURNING
// for the requests of the batch, one multi-row INSERT for their messages,
// committed with the batch.

// Record implements host.Store.
func (db *DB) Record(ctx context.Context, x *host.Record) (bool, error) {
	now := db.now()
	for _, m := range x.Messages {
		if m.ID == "" {
			m.ID = host.NewID()
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = now
		}
		if err := m.Validate(); err != nil {
			return false, err
		}
		if m.SessionID != "" {
			return false, &host.Error{Code: host.EINVALID, Field: "session_id", Message: "a record keeps messages outside sessions; append a session's messages in a Tx"}
		}
	}
	if r := x.Request; r != nil {
		if r.Bot == "" || r.UserID == "" || r.ID == "" {
			return false, &host.Error{Code: host.EINVALID, Field: "request_id", Message: "bot, user and request id required"}
		}
		if !json.Valid(r.Response) {
			return false, &host.Error{Code: host.EINVALID, Field: "response", Message: "response is not valid JSON"}
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r := &txReq{ctx: ctx, rec: x}
	db.submit(r)
	return r.recorded, r.err
}

// writeRecords writes the records rs inside the batch's transaction t,
// setting each one's outcome. Statements of a few fixed sizes (rowChunks)
// keep the prepared statements few.
func (db *DB) writeRecords(ctx context.Context, t writeTx, rs []*txReq) {
	if len(rs) == 0 {
		return
	}
	fail := func(err error) {
		for _, r := range rs {
			r.err, r.recorded = err, false
		}
	}
	if _, err := t.ExecContext(ctx, "SAVEPOINT records"); err != nil {
		fail(dbError("savepoint", err))
		return
	}
	if err := db.insertRecords(ctx, t, rs); err != nil {
		fail(err)
		if _, err := t.ExecContext(ctx, "ROLLBACK TO records"); err != nil {
			// SQLite rolled the whole transaction back: the batch's
			// commit fails and says so to everyone in it.
			return
		}
	}
	if _, err := t.ExecContext(ctx, "RELEASE records"); err != nil {
		fail(dbError("release", err))
	}
}

type requestKey struct{ bot, user, id string }

func (db *DB) insertRecords(ctx context.Context, t writeTx, rs []*txReq) error {
	// Requests first: a request recorded before (or twice in the batch)
	// keeps its first answer, and its record writes nothing.
	var reqs []*host.Request
	for _, r := range rs {
		if q := r.rec.Request; q != nil {
			reqs = append(reqs, q)
		}
	}
	won := map[requestKey]bool{}
	now := db.now().UnixMilli()
	for chunk := range chunks(reqs) {
		args := make([]any, 0, len(chunk)*requestFields)
		for _, q := range chunk {
			args = append(args, q.Bot, q.UserID, q.ID, q.BodyHash, string(q.Response), now)
		}
		rows, err := t.QueryContext(ctx, insertRequests(len(chunk)), args...)
		if err != nil {
			return dbError("record requests", err)
		}
		for rows.Next() {
			var k requestKey
			if err := rows.Scan(&k.bot, &k.user, &k.id); err != nil {
				rows.Close()
				return dbError("record requests", err)
			}
			won[k] = true
		}
		if err := rows.Close(); err != nil {
			return dbError("record requests", err)
		}
		if err := rows.Err(); err != nil {
			return dbError("record requests", err)
		}
	}
	var msgs []*host.Message
	for _, r := range rs {
		if q := r.rec.Request; q != nil {
			k := requestKey{q.Bot, q.UserID, q.ID}
			r.recorded = won[k]
			delete(won, k) // a second record of the request in this batch loses
		} else {
			r.recorded = true
		}
		if r.recorded {
			msgs = append(msgs, r.rec.Messages...)
		}
	}
	for chunk := range chunks(msgs) {
		args := make([]any, 0, len(chunk)*messageFields)
		for _, m := range chunk {
			args = append(args, m.ID, m.Bot, m.UserID, nil, m.Direction, m.Author, m.AuthorName,
				string(m.Payload), m.CreatedAt.UnixMilli(), m.Late)
		}
		if _, err := t.ExecContext(ctx, insertMessages(len(chunk)), args...); err != nil {
			return dbError("record messages", err)
		}
	}
	return nil
}

// rowChunks are the row counts of the multi-row statements: a batch of n
// rows runs as the fewest statements of these sizes.
var rowChunks = []int{64, 16, 4, 1}

// chunks yields s in slices of the sizes of rowChunks, largest first.
func chunks[T any](s []T) func(yield func([]T) bool) {
	return func(yield func([]T) bool) {
		for _, size := range rowChunks {
			for len(s) >= size {
				if !yield(s[:size]) {
					return
				}
				s = s[size:]
			}
		}
	}
}

const (
	requestFields = 6
	messageFields = 10
)

var (
	insertRequests = multiRow(`INSERT INTO requests (bot, user_id, request_id, body_hash, response, created_at) VALUES `,
		requestFields, ` ON CONFLICT DO NOTHING RETURNING bot, user_id, request_id`)
	insertMessages = multiRow(`INSERT INTO messages (`+messageColumns+`) VALUES `,
		messageFields, ` ON CONFLICT DO NOTHING`)
)

// multiRow returns the statement of n rows of fields values each.
func multiRow(head string, fields int, tail string) func(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", fields), ", ") + ")"
	return bySize(func(n int) string {
		return head + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + tail
	})
}

// bySize caches the statements make makes, one per size (chunks gives only
// the sizes of rowChunks).
func bySize(make func(n int) string) func(n int) string {
	var mu sync.Mutex
	made := map[int]string{}
	return func(n int) string {
		mu.Lock()
		defer mu.Unlock()
		q, ok := made[n]
		if !ok {
			q = make(n)
			made[n] = q
		}
		return q
	}
}
