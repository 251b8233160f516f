package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

// The bot path's write (host.Store.Record). Records that arrive while a
// batch is being written wait together and are written as the next batch:
// one transaction with one multi-row INSERT … ON CONFLICT DO NOTHING
// RETURNING for the requests (a request recorded before, or twice in the
// batch, returns nothing and its record writes nothing) and one multi-row
// INSERT for the messages of the records that won, in the order the
// records were queued. The rows travel as arrays (unnest), so each
// statement is one prepared statement whatever the batch's size.

// maxRecordBatch bounds the records written together.
const maxRecordBatch = 512

// recordTimeout bounds one batch's transaction: the callers' own contexts
// cannot, as the batch is theirs together.
const recordTimeout = time.Minute

type recReq struct {
	ctx  context.Context
	rec  *host.Record
	lead chan struct{} // closed when this caller is to lead the next batch
	done chan struct{} // closed when the outcome is known

	recorded bool
	err      error
}

// recorder queues records for the next batch.
type recorder struct {
	mu      sync.Mutex
	pending []*recReq
	running bool // a leader is writing a batch
}

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
		if err := validRequest(r); err != nil {
			return false, err
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r := &recReq{ctx: ctx, rec: x, lead: make(chan struct{}), done: make(chan struct{})}
	c := &db.records
	c.mu.Lock()
	c.pending = append(c.pending, r)
	leader := !c.running
	c.running = true
	c.mu.Unlock()
	if leader {
		db.leadRecords()
	} else {
		select {
		case <-r.done:
		case <-r.lead:
			db.leadRecords()
		}
	}
	<-r.done
	return r.recorded, r.err
}

// leadRecords writes the queued records as one batch, then hands the lead
// to the first caller queued meanwhile, or ends the run.
func (db *DB) leadRecords() {
	c := &db.records
	c.mu.Lock()
	n := min(len(c.pending), maxRecordBatch)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.mu.Unlock()

	db.writeRecords(batch)
	for _, r := range batch {
		close(r.done)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		c.running = false
		return
	}
	close(c.pending[0].lead)
}

// writeRecords writes a batch in one transaction, run again when
// PostgreSQL picks it as a deadlock victim (two replicas recording the
// same requests), and sets each record's outcome.
func (db *DB) writeRecords(batch []*recReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // gave up before its turn: nothing written
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return db.insertRecords(ctx, tx, live) })
		if !retryable(err) {
			break
		}
	}
	if err != nil {
		err = dbError("record", err)
		for _, r := range live {
			r.recorded, r.err = false, err
		}
	}
}

type requestKey struct{ bot, user, id string }

const (
	insertRequestsQuery = `INSERT INTO requests (bot, user_id, request_id, body_hash, response, created_at)
		SELECT b, u, i, h, r, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x (b, u, i, h, r)
		ON CONFLICT DO NOTHING
		RETURNING bot, user_id, request_id`
	insertRecordMessagesQuery = `INSERT INTO messages (` + messageColumns + `)
		SELECT id, b, u, NULL, d, a, n, p, c, l
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::boolean[])
			WITH ORDINALITY AS x (id, b, u, d, a, n, p, c, l, ord)
		ORDER BY ord
		ON CONFLICT (id) DO NOTHING`
)

func (db *DB) insertRecords(ctx context.Context, tx pgx.Tx, rs []*recReq) error {
	// Requests first: a request recorded before (or twice in the batch)
	// keeps its first answer, and its record writes nothing.
	var bots, users, ids, hashes, responses []string
	for _, r := range rs {
		if q := r.rec.Request; q != nil {
			bots, users, ids = append(bots, q.Bot), append(users, q.UserID), append(ids, q.ID)
			hashes, responses = append(hashes, q.BodyHash), append(responses, string(q.Response))
		}
	}
	won := map[requestKey]bool{}
	if len(ids) > 0 {
		rows, err := tx.Query(ctx, insertRequestsQuery, bots, users, ids, hashes, responses, db.now())
		if err != nil {
			return err
		}
		for rows.Next() {
			var k requestKey
			if err := rows.Scan(&k.bot, &k.user, &k.id); err != nil {
				rows.Close()
				return err
			}
			won[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var (
		mIDs, mBots, mUsers, dirs, authors, names, payloads []string
		created                                             []time.Time
		late                                                []bool
	)
	for _, r := range rs {
		if q := r.rec.Request; q != nil {
			k := requestKey{q.Bot, q.UserID, q.ID}
			r.recorded = won[k]
			delete(won, k) // a second record of the request in this batch loses
		} else {
			r.recorded = true
		}
		if !r.recorded {
			continue
		}
		for _, m := range r.rec.Messages {
			mIDs, mBots, mUsers = append(mIDs, m.ID), append(mBots, m.Bot), append(mUsers, m.UserID)
			dirs, authors, names = append(dirs, string(m.Direction)), append(authors, string(m.Author)), append(names, m.AuthorName)
			payloads, created, late = append(payloads, string(m.Payload)), append(created, ms(m.CreatedAt)), append(late, m.Late)
		}
	}
	if len(mIDs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertRecordMessagesQuery, mIDs, mBots, mUsers, dirs, authors, names, payloads, created, late)
	return err
}
