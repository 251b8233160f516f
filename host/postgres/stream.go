package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

// AppendStream adds entries to the webchat stream of user with bot, in
// order, and returns their sequence numbers. An entry whose key was stored
// before is not stored again; its old number is returned. The user's
// stream is locked (a transaction-scoped advisory lock) while its entries
// are numbered, so numbers are in commit order: a page that resumes after
// the last number it saw misses nothing committed later.
func (db *DB) AppendStream(ctx context.Context, bot, user, key string, entries ...json.RawMessage) ([]int64, error) {
	for _, e := range entries {
		if !json.Valid(e) {
			return nil, &host.Error{Code: host.EINVALID, Field: "entry", Message: "stream entry is not JSON"}
		}
	}
	var seqs []int64
	err := db.write(ctx, "append stream", func(tx pgx.Tx) error {
		seqs = seqs[:0]
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "webchat_stream\x1f"+bot+"\x1f"+user); err != nil {
			return err
		}
		now := db.now()
		for i, e := range entries {
			var k *string
			if key != "" {
				s := key + "#" + strconv.Itoa(i)
				k = &s
			}
			var seq int64
			err := tx.QueryRow(ctx, `INSERT INTO webchat_stream (bot, user_id, key, entry, created_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (key) DO NOTHING RETURNING seq`, bot, user, k, string(e), now).Scan(&seq)
			if errors.Is(err, pgx.ErrNoRows) {
				err = tx.QueryRow(ctx, `SELECT seq FROM webchat_stream WHERE key = $1`, k).Scan(&seq)
			}
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.streamGrew(bot, user)
	return seqs, nil
}

// Stream returns up to limit entries of user's webchat stream with bot that
// come after seq, oldest first.
func (db *DB) Stream(ctx context.Context, bot, user string, after int64, limit int) ([]host.StreamEntry, error) {
	rows, err := db.pool.Query(ctx, `SELECT seq, entry FROM webchat_stream
		WHERE bot = $1 AND user_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`, bot, user, after, host.ClampLimit(limit))
	if err != nil {
		return nil, dbError("read stream", err)
	}
	defer rows.Close()
	var out []host.StreamEntry
	for rows.Next() {
		var e host.StreamEntry
		var entry string
		if err := rows.Scan(&e.Seq, &entry); err != nil {
			return nil, dbError("read stream", err)
		}
		e.Entry = json.RawMessage(entry)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("read stream", err)
	}
	return out, nil
}
