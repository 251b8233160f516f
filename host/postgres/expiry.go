package postgres

import (
	"time"

	"github.com/livechatd/livechatd/host"
)

// ClaimDueExpiries returns up to limit open sessions whose ExpiresAt is at
// or before now, the earliest first, locked until the transaction ends —
// skipping those another transaction holds (another replica expiring
// them, or a message that is extending one): replicas split the due
// sessions between them instead of queueing on each other's row locks,
// and a session is expired by one of them, once (engine.ExpireDue).
func (t *tx) ClaimDueExpiries(now time.Time, limit int) ([]*host.Session, error) {
	return querySessions(t.ctx, txQuerier{t}, dueExpiriesQuery+` FOR UPDATE SKIP LOCKED`, ms(now), host.ClampLimit(limit))
}

// ClaimsExpiries tells the engine that this store's transactions claim
// due expiries (ClaimDueExpiries).
func (db *DB) ClaimsExpiries() bool { return true }
