package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host"
)

// Outcomes (host.OutcomeStore): the rows of outcomes, migration 0002.

const (
	outcomeColumns = `session_id, bot, provider, started_at, first_agent_at, ended_at, end_reason,
		csat_score, csat_scale, wait_due_at, wait_notices`
	putOutcomeQuery = `INSERT INTO outcomes (` + outcomeColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (session_id) DO UPDATE SET bot = excluded.bot, provider = excluded.provider,
			started_at = excluded.started_at, first_agent_at = excluded.first_agent_at,
			ended_at = excluded.ended_at, end_reason = excluded.end_reason,
			csat_score = excluded.csat_score, csat_scale = excluded.csat_scale,
			wait_due_at = excluded.wait_due_at, wait_notices = excluded.wait_notices`
	// A range of the partial index outcomes_wait_due.
	dueWaitsQuery = `SELECT ` + outcomeColumns + ` FROM outcomes
		WHERE wait_due_at IS NOT NULL AND wait_due_at <= $1 ORDER BY wait_due_at, session_id LIMIT $2`
)

// Outcome implements host.Tx. Like a session, the outcome read in a
// transaction is locked until the commit: replicas updating one outcome
// (a "still waiting" notice and an agent's first message, say) take turns.
func (t *tx) Outcome(sessionID string) (*host.Outcome, error) {
	o, err := scanOutcome(t.queryRow(`SELECT `+outcomeColumns+` FROM outcomes WHERE session_id = $1 FOR UPDATE`, sessionID))
	if errors.Is(err, pgx.ErrNoRows) {
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
	if _, err := t.exec(putOutcomeQuery, o.SessionID, o.Bot, o.Provider, ms(o.StartedAt),
		orNull(o.FirstAgentAt), orNull(o.EndedAt), o.EndReason, o.CSATScore, o.CSATScale, orNull(o.WaitDueAt), o.WaitNotices); err != nil {
		return dbError("put outcome", err)
	}
	return nil
}

// DueWaits implements host.Store.
func (db *DB) DueWaits(ctx context.Context, now time.Time, limit int) ([]*host.Outcome, error) {
	rows, err := db.pool.Query(ctx, dueWaitsQuery, ms(now), host.ClampLimit(limit))
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

// OutcomeStats implements host.Store: one aggregate query over a range of
// outcomes_started for the counts and both histograms (FILTER clauses for
// the buckets), and one for the ratings.
func (db *DB) OutcomeStats(ctx context.Context, f host.OutcomeFilter) (*host.OutcomeStats, error) {
	where := `started_at >= $1 AND started_at < $2`
	args := []any{ms(f.From), ms(f.To)}
	if f.Bot != "" {
		where += ` AND bot = $3`
		args = append(args, f.Bot)
	}
	st := &host.OutcomeStats{EndReasons: map[string]int{}, CSAT: map[int]int{},
		FirstAgent: host.DurationStats{Buckets: make([]int, len(f.Buckets))},
		Length:     host.DurationStats{Buckets: make([]int, len(f.Buckets))}}

	// Counts by end reason ('' is open).
	rows, err := db.pool.Query(ctx, `SELECT end_reason, COUNT(*) FROM outcomes WHERE `+where+` GROUP BY end_reason`, args...)
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
	rows, err = db.pool.Query(ctx, `SELECT csat_score, COUNT(*) FROM outcomes WHERE `+where+` AND csat_score > 0 GROUP BY csat_score`, args...)
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

	// The two histograms, durations in milliseconds.
	for _, h := range []struct {
		expr string
		into *host.DurationStats
	}{
		{"first_agent_at - started_at", &st.FirstAgent},
		{"ended_at - started_at", &st.Length},
	} {
		var q strings.Builder
		q.WriteString(`SELECT COUNT(d), COALESCE(SUM(d), 0)::bigint, COALESCE(MAX(d), 0)`)
		hargs := append([]any{}, args...)
		for _, b := range f.Buckets {
			hargs = append(hargs, b.Milliseconds())
			q.WriteString(`, COUNT(*) FILTER (WHERE d <= $` + strconv.Itoa(len(hargs)) + `)`)
		}
		q.WriteString(` FROM (SELECT (EXTRACT(EPOCH FROM ` + h.expr + `) * 1000)::bigint AS d FROM outcomes WHERE ` + where + `) x WHERE d IS NOT NULL`)
		var sum, maxMS int64
		dest := []any{&h.into.Count, &sum, &maxMS}
		for i := range h.into.Buckets {
			dest = append(dest, &h.into.Buckets[i])
		}
		if err := db.pool.QueryRow(ctx, q.String(), hargs...).Scan(dest...); err != nil {
			return nil, dbError("outcome stats", err)
		}
		h.into.Sum, h.into.Max = time.Duration(sum)*time.Millisecond, time.Duration(maxMS)*time.Millisecond
	}
	return st, nil
}

func scanOutcome(row pgx.Row) (*host.Outcome, error) {
	var o host.Outcome
	var started time.Time
	var firstAgent, ended, waitDue *time.Time
	if err := row.Scan(&o.SessionID, &o.Bot, &o.Provider, &started, &firstAgent, &ended, &o.EndReason,
		&o.CSATScore, &o.CSATScale, &waitDue, &o.WaitNotices); err != nil {
		return nil, err
	}
	o.StartedAt = started.UTC()
	o.FirstAgentAt, o.EndedAt, o.WaitDueAt = fromNull(firstAgent), fromNull(ended), fromNull(waitDue)
	return &o, nil
}
