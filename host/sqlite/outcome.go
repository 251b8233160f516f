package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
)

// Outcomes (host.OutcomeStore): the rows of outcomes, migration 0008.

const (
	outcomeColumns = `session_id, bot, provider, started_at, first_agent_at, ended_at, end_reason,
		csat_score, csat_scale, wait_due_at, wait_notices`
	outcomeQuery    = `SELECT ` + outcomeColumns + ` FROM outcomes WHERE session_id = ?`
	putOutcomeQuery = `INSERT INTO outcomes (` + outcomeColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET bot = excluded.bot, provider = excluded.provider,
			started_at = excluded.started_at, first_agent_at = excluded.first_agent_at,
			ended_at = excluded.ended_at, end_reason = excluded.end_reason,
			csat_score = excluded.csat_score, csat_scale = excluded.csat_scale,
			wait_due_at = excluded.wait_due_at, wait_notices = excluded.wait_notices`
	// A range of the partial index outcomes_wait_due.
	dueWaitsQuery = `SELECT ` + outcomeColumns + ` FROM outcomes INDEXED BY outcomes_wait_due
		WHERE wait_due_at IS NOT NULL AND wait_due_at <= ? ORDER BY wait_due_at, session_id LIMIT ?`
)

// Outcome implements host.Tx.
func (t *tx) Outcome(sessionID string) (*host.Outcome, error) {
	o, err := scanOutcome(t.tx.QueryRowContext(t.ctx, outcomeQuery, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &host.Error{Code: host.ENOTFOUND, Field: "session_id", Message: fmt.Sprintf("no outcome for session %s", sessionID)}
	}
	if err != nil {
		return nil, dbError("outcome", err)
	}
	return o, nil
}

// PutOutcome implements host.Tx.
func (t *tx) PutOutcome(o *host.Outcome) error {
	if err := o.Validate(); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(t.ctx, putOutcomeQuery, o.SessionID, o.Bot, o.Provider, o.StartedAt.UnixMilli(),
		msOrNull(o.FirstAgentAt), msOrNull(o.EndedAt), o.EndReason, o.CSATScore, o.CSATScale, msOrNull(o.WaitDueAt), o.WaitNotices)
	if err != nil {
		return dbError("put outcome", err)
	}
	return nil
}

// DueWaits implements host.Store.
func (db *DB) DueWaits(ctx context.Context, now time.Time, limit int) ([]*host.Outcome, error) {
	rows, err := db.rq.QueryContext(ctx, dueWaitsQuery, now.UnixMilli(), host.ClampLimit(limit))
	if err != nil {
		return nil, dbError("due waits", err)
	}
	defer rows.Close()
	var out []*host.Outcome
	for rows.Next() {
		o, err := scanOutcome(rows)
		if err != nil {
			return nil, dbError("due waits", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("due waits", err)
	}
	return out, nil
}

// OutcomeStats implements host.Store: three aggregate queries over a range
// of outcomes_started, the histogram buckets summed in SQL.
func (db *DB) OutcomeStats(ctx context.Context, f host.OutcomeFilter) (*host.OutcomeStats, error) {
	where := `started_at >= ? AND started_at < ?`
	args := []any{f.From.UnixMilli(), f.To.UnixMilli()}
	if f.Bot != "" {
		where += ` AND bot = ?`
		args = append(args, f.Bot)
	}
	st := &host.OutcomeStats{EndReasons: map[string]int{}, CSAT: map[int]int{},
		FirstAgent: host.DurationStats{Buckets: make([]int, len(f.Buckets))},
		Length:     host.DurationStats{Buckets: make([]int, len(f.Buckets))}}

	// Counts by end reason ('' is open).
	rows, err := db.rq.QueryContext(ctx, `SELECT end_reason, COUNT(*) FROM outcomes WHERE `+where+` GROUP BY end_reason`, args...)
	if err != nil {
		return nil, dbError("outcome stats", err)
	}
	for rows.Next() {
		var reason string
		var n int
		if err := rows.Scan(&reason, &n); err != nil {
			rows.Close()
			return nil, dbError("outcome stats", err)
		}
		st.Sessions += n
		if reason == "" {
			st.Open += n
		} else {
			st.EndReasons[reason] = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError("outcome stats", err)
	}

	// Ratings by score.
	rows, err = db.rq.QueryContext(ctx, `SELECT csat_score, COUNT(*) FROM outcomes WHERE `+where+` AND csat_score > 0 GROUP BY csat_score`, args...)
	if err != nil {
		return nil, dbError("outcome stats", err)
	}
	for rows.Next() {
		var score, n int
		if err := rows.Scan(&score, &n); err != nil {
			rows.Close()
			return nil, dbError("outcome stats", err)
		}
		st.CSAT[score] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError("outcome stats", err)
	}

	// The two histograms.
	for _, h := range []struct {
		expr string
		into *host.DurationStats
	}{
		{"first_agent_at - started_at", &st.FirstAgent},
		{"ended_at - started_at", &st.Length},
	} {
		var q strings.Builder
		q.WriteString(`SELECT COUNT(d), COALESCE(SUM(d), 0), COALESCE(MAX(d), 0)`)
		bargs := []any{}
		for _, b := range f.Buckets {
			q.WriteString(`, COALESCE(SUM(d <= ?), 0)`)
			bargs = append(bargs, b.Milliseconds())
		}
		q.WriteString(` FROM (SELECT ` + h.expr + ` AS d FROM outcomes WHERE ` + where + `) WHERE d IS NOT NULL`)
		var sum, maxMS int64
		dest := []any{&h.into.Count, &sum, &maxMS}
		for i := range h.into.Buckets {
			dest = append(dest, &h.into.Buckets[i])
		}
		if err := db.rq.QueryRowContext(ctx, q.String(), append(bargs, args...)...).Scan(dest...); err != nil {
			return nil, dbError("outcome stats", err)
		}
		h.into.Sum, h.into.Max = time.Duration(sum)*time.Millisecond, time.Duration(maxMS)*time.Millisecond
	}
	return st, nil
}

func scanOutcome(row scanner) (*host.Outcome, error) {
	var o host.Outcome
	var started int64
	var firstAgent, ended, waitDue sql.NullInt64
	if err := row.Scan(&o.SessionID, &o.Bot, &o.Provider, &started, &firstAgent, &ended, &o.EndReason,
		&o.CSATScore, &o.CSATScale, &waitDue, &o.WaitNotices); err != nil {
		return nil, err
	}
	o.StartedAt = time.UnixMilli(started).UTC()
	o.FirstAgentAt, o.EndedAt, o.WaitDueAt = fromMS(firstAgent), fromMS(ended), fromMS(waitDue)
	return &o, nil
}
