package sqlite

import (
	"strings"
	"testing"
)

// The plugin state's retention batch is a range scan of plugin_state_ended,
// like the other tables' (TestRetentionPlans).
func TestPluginStatePlans(t *testing.T) {
	db, _ := openRetentionDB(t)
	for _, tc := range []struct {
		name, query string
		args        []any
		want        []string
	}{
		{"retention", deletePluginStateEndedQuery, []any{0, 10}, []string{"COVERING INDEX plugin_state_ended (ended_at>? AND ended_at<?)", "PRIMARY KEY (session_id=? AND provider=? AND bot=? AND key=?)"}},
		{"size", pluginStateSizeQuery, []any{"s", "p", "b", "k"}, []string{"PRIMARY KEY (session_id=? AND provider=? AND bot=?)"}},
		{"get", pluginStateQuery, []any{"s", "p", "b", "k"}, []string{"PRIMARY KEY (session_id=? AND provider=? AND bot=? AND key=?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(t, db, tc.query, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan does not say %q:\n%s", w, plan)
				}
			}
			if strings.Contains(plan, "SCAN plugin_state") || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan scans or sorts:\n%s", plan)
			}
		})
	}
}
