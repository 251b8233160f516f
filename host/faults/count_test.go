//go:build faults

package faults_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The table is only as good as its counting.
func TestCount(t *testing.T) {
	a := func(user string, seq int) arrival { return arrival{user: user, seq: seq} }
	tests := []struct {
		name     string
		sent     map[string]int
		arrivals []arrival
		want     tally
	}{
		{"nothing", nil, nil, tally{}},
		{"all, in order", map[string]int{"u1": 2, "u2": 1}, []arrival{a("u1", 1), a("u2", 1), a("u1", 2)},
			tally{Sent: 3, Delivered: 3}},
		{"lost", map[string]int{"u1": 3}, []arrival{a("u1", 1), a("u1", 3)},
			tally{Sent: 3, Delivered: 2, Lost: 1}},
		{"duplicated", map[string]int{"u1": 2}, []arrival{a("u1", 1), a("u1", 1), a("u1", 2), a("u1", 1)},
			tally{Sent: 2, Delivered: 2, Duplicated: 2}},
		{"out of order, each late one once", map[string]int{"u1": 4}, []arrival{a("u1", 3), a("u1", 1), a("u1", 2), a("u1", 4)},
			tally{Sent: 4, Delivered: 4, OutOfOrder: 2}},
		{"order is per user", map[string]int{"u1": 1, "u2": 1}, []arrival{a("u2", 1), a("u1", 1)},
			tally{Sent: 2, Delivered: 2}},
		{"not ours", map[string]int{"u1": 1}, []arrival{a("u1", 1), a("u1", 2), a("u9", 1)},
			tally{Sent: 1, Delivered: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, count(tt.sent, tt.arrivals)); diff != "" {
				t.Errorf("count (-want +got):\n%s", diff)
			}
		})
	}
	for _, s := range []string{userMessage("u3", 7), agentMessage("u12", 120)} {
		if _, ok := parseUserText(s); !ok {
			if _, ok := parseAgentText(s); !ok {
				t.Errorf("%q parses as neither message", s)
			}
		}
	}
}
