package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host"
)

// TestQueryPlans checks that the hot queries use their indexes: expiry and
// claiming must cost the due rows, not a scan of every session or item.
func TestQueryPlans(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "livechat.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	tests := []struct {
		name  string
		query string
		args  []any
		want  []string // each must appear in the plan
	}{
		{"due expiries", dueExpiriesQuery, []any{0, 10}, []string{"USING INDEX sessions_due"}},
		{"due syncs", dueSyncsQuery, []any{"b", 0, 10}, []string{"USING INDEX sessions_sync (bot=? AND synced_at<?)"}},
		{"open session", openSessionQuery, []any{"b", "u"}, []string{"INDEX sessions_one_open"}},
		{"glance", glanceQuery, []any{"b", "u", "r"}, []string{"INDEX sessions_notice", "INDEX sessions_one_open", "PRIMARY KEY (bot=? AND user_id=? AND request_id=?)"}},
		{"pending notice", pendingNoticeQuery, []any{"b", "u"}, []string{"INDEX sessions_notice"}},
		{"by provider ref", byRefQuery, []any{"b", "r"}, []string{"INDEX sessions_ref"}},
		{"claim", claimQuery, []any{0, 10}, []string{"COVERING INDEX outbox_queues_due (due_at<?)", "INTEGER PRIMARY KEY (rowid=?)"}},
		{"next due", nextDueQuery, nil, []string{"COVERING INDEX outbox_queues_due"}},
		{"complete many", completeMany(4), []any{0, 1, "a", 2, "b", 3, "c", 4, "d"}, []string{"outbox USING INTEGER PRIMARY KEY (rowid=?)"}},
		{"advance heads", advanceHeads(4), []any{"a", "b", "c", "d"}, []string{"outbox_queues USING PRIMARY KEY (queue=?)", "INDEX outbox_queue (state=? AND queue=?)"}},
		{"drop empty queues", dropEmptyQueues(4), []any{"a", "b", "c", "d"}, []string{"outbox_queues USING PRIMARY KEY (queue=?)", "INDEX outbox_queue (state=? AND queue=?)"}},
		{"queue head", headQuery, []any{"q"}, []string{"INDEX outbox_queue (state=? AND queue=?)"}},
		{"transcript", transcriptQuery, []any{"b", "u", 20}, []string{"INDEX messages_user"}},
		{"session messages", sessionMessagesQuery, []any{"s"}, []string{"INDEX messages_session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := explain(t, db, tt.query, tt.args...)
			t.Logf("%s:\n%s", tt.name, all)
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("plan does not say %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "SCAN sessions") || strings.Contains(all, "SCAN messages") || strings.Contains(all, "SCAN outbox") ||
				strings.Contains(all, "SCAN r") || strings.Contains(all, "SCAN requests") {
				t.Errorf("plan scans a table:\n%s", all)
			}
		})
	}
}

// TestOutboxQueuesMigration: the heads 0005 builds from an existing outbox
// are the heads the code keeps as it goes.
func TestOutboxQueuesMigration(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "livechat.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, k := range []string{"a1", "a2", "b1", "c1", "c2"} {
		k := k
		if err := db.Tx(ctx, func(tx host.Tx) error {
			return tx.Enqueue(&host.OutboxItem{Key: k, Queue: "q:" + k[:1], Kind: host.KindProviderSend})
		}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := db.ClaimDue(ctx, db.now(), 10) // a1, b1, c1
	if err != nil || len(items) != 3 {
		t.Fatalf("ClaimDue = %v, %v", items, err)
	}
	if err := db.Complete(ctx, items[2]); err != nil { // c2 heads q:c now
		t.Fatal(err)
	}
	heads := func() string {
		var out string
		if err := db.r.QueryRowContext(ctx, `SELECT group_concat(queue || '=' || head_id || '@' || due_at, ' ')
			FROM (SELECT * FROM outbox_queues ORDER BY queue)`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	kept := heads()
	body, err := migrations.ReadFile("migrations/0005_outbox_queues.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, insert, ok := strings.Cut(string(body), "INSERT INTO outbox_queues")
	if !ok {
		t.Fatal("0005 has no INSERT INTO outbox_queues")
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM outbox_queues`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, "INSERT INTO outbox_queues"+insert); err != nil {
		t.Fatal(err)
	}
	if built := heads(); built != kept {
		t.Errorf("0005 builds %q, the code keeps %q", built, kept)
	}
}
