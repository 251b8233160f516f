package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/livechatd/livechatd/host"
)

// AppendStream adds entries to the webchat stream of user with bot, in
// order, and returns their sequence numbers. An entry whose key was stored
// before is not stored again; its old number is returned.
func (db *DB) AppendStream(ctx context.Context, bot, user, key string, entries ...json.RawMessage) ([]int64, error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError("append stream", err)
	}
	defer sqlTx.Rollback()
	seqs := make([]int64, 0, len(entries))
	now := db.now().UnixMilli()
	for i, e := range entries {
		var k any
		if key != "" {
			k = key + "#" + itoa(i)
			var seq int64
			err := sqlTx.QueryRowContext(ctx, `SELECT seq FROM webchat_stream WHERE key = ?`, k).Scan(&seq)
			if err == nil {
				seqs = append(seqs, seq)
				continue
			}
			if err != sql.ErrNoRows {
				return nil, dbError("append stream", err)
			}
		}
		if !json.Valid(e) {
			return nil, &host.Error{Code: host.EINVALID, Field: "entry", Message: "stream entry is not JSON"}
		}
		res, err := sqlTx.ExecContext(ctx, `INSERT INTO webchat_stream (bot, user_id, key, entry, created_at) VALUES (?, ?, ?, ?, ?)`,
			bot, user, k, string(e), now)
		if err != nil {
			return nil, dbError("append stream", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return nil, dbError("append stream", err)
		}
		seqs = append(seqs, seq)
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, dbError("append stream", err)
	}
	return seqs, nil
}

// Stream returns up to limit entries of user's webchat stream with bot that
// come after seq, oldest first.
func (db *DB) Stream(ctx context.Context, bot, user string, after int64, limit int) ([]host.StreamEntry, error) {
	rows, err := db.rq.QueryContext(ctx, `SELECT seq, entry FROM webchat_stream
		WHERE bot = ? AND user_id = ? AND seq > ? ORDER BY seq LIMIT ?`, bot, user, after, host.ClampLimit(limit))
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

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
