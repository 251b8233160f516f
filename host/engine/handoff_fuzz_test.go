package engine

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzRouting normalizes whatever metadata a channel sends. It never
// panics; an accepted routing holds only allowed, lower-cased values, tags
// without duplicates and within bounds; and normalizing it again (as
// metadata) gives it back unchanged.
func FuzzRouting(f *testing.F) {
	f.Add([]byte(`{"team": " Billing ", "priority": "HIGH", "tags": ["VIP", "vip", "refund"], "language": "pt_BR"}`))
	f.Add([]byte(`{"tags": "a, b ,,A", "priority": "urgent"}`))
	f.Add([]byte(`{"tags": {"x": 1}, "team": 3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var md map[string]any
		if json.Unmarshal(body, &md) != nil {
			return
		}
		r, err := routingOf(md)
		if err != nil {
			return
		}
		if r.Priority != "" && !slices.Contains(priorities, r.Priority) {
			t.Fatalf("priority %q", r.Priority)
		}
		for _, s := range append([]string{r.Team, r.Priority, r.Language}, r.Tags...) {
			if s != strings.ToLower(s) || s != strings.TrimSpace(s) {
				t.Fatalf("not normalized: %q in %+v", s, r)
			}
		}
		if len(r.Tags) > maxTags || hasDup(r.Tags) {
			t.Fatalf("tags %q", r.Tags)
		}
		again := map[string]any{"team": r.Team, "priority": r.Priority, "language": r.Language}
		var tags []any
		for _, tag := range r.Tags {
			tags = append(tags, tag)
		}
		again["tags"] = tags
		r2, err := routingOf(again)
		if err != nil {
			t.Fatalf("its own routing %+v refused: %v", r, err)
		}
		if !cmp.Equal(r, r2) {
			t.Fatalf("normalized twice: %+v then %+v", r, r2)
		}
	})
}

func hasDup(ss []string) bool {
	seen := map[string]bool{}
	for _, s := range ss {
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	return false
}
