package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host/internal/pgtest"
)

// TestQueryPlans checks that the queries run on every event, claim and
// expiry pass read their index: with sequential scans priced out, each
// plan names the index it was written for, so a query whose WHERE no
// longer matches a partial index's predicate fails here, not under load.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	db, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{"open session", openSessionQuery, "sessions_one_open", []any{"shop", "u"}},
		{"pending notice", pendingNoticeQuery, "sessions_notice", []any{"shop", "u"}},
		{"by ref", byRefQuery, "sessions_ref", []any{"shop", "T-1"}},
		{"due expiries", dueExpiriesQuery, "sessions_due", []any{now, 100}},
		{"due syncs", dueSyncsQuery, "sessions_sync", []any{"shop", now, 100}},
		{"session messages", sessionMessagesQuery, "messages_session", []any{"s"}},
		{"transcript", transcriptQuery, "messages_user", []any{"shop", "u", 20}},
		{"claim", claimQuery, "outbox_queues_due", []any{now, 10, now, "r"}},
		{"due waits", dueWaitsQuery, "outcomes_wait_due", []any{now, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := conn.Query(ctx, "EXPLAIN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, " "+tc.index+" ") && !strings.Contains(text, " "+tc.index+"\n") && !strings.HasSuffix(text, " "+tc.index) {
				t.Errorf("the plan does not use %s:\n%s", tc.index, text)
			}
			if strings.Contains(text, "Seq Scan") {
				t.Errorf("the plan scans a table:\n%s", text)
			}
		})
	}
}
