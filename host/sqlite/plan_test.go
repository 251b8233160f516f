package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
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
		{"open session", openSessionQuery, []any{"b", "u"}, []string{"INDEX sessions_one_open"}},
		{"pending notice", pendingNoticeQuery, []any{"b", "u"}, []string{"INDEX sessions_notice"}},
		{"by provider ref", byRefQuery, []any{"b", "r"}, []string{"INDEX sessions_ref"}},
		{"claim", claimQuery, []any{0, 0, 10}, []string{"INTEGER PRIMARY KEY", "COVERING INDEX outbox_queue"}},
		{"next due", nextDueQuery, nil, []string{"INTEGER PRIMARY KEY", "COVERING INDEX outbox_queue"}},
		{"transcript", transcriptQuery, []any{"b", "u", 20}, []string{"INDEX messages_user"}},
		{"session messages", sessionMessagesQuery, []any{"s"}, []string{"INDEX messages_session"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "\n")
			t.Logf("%s:\n%s", tt.name, all)
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("plan does not say %q:\n%s", w, all)
				}
			}
			if strings.Contains(all, "SCAN sessions") || strings.Contains(all, "SCAN messages") || strings.Contains(all, "SCAN outbox") {
				t.Errorf("plan scans a table:\n%s", all)
			}
		})
	}
}
