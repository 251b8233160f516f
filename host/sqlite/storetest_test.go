package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/storetest"
)

// TestStore runs the store conformance suite against SQLite: each case on
// a fresh file, with the suite's clock and lease.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store {
		db, err := sqlite.Open(filepath.Join(t.TempDir(), "livechat.db"), sqlite.Options{Lease: o.Lease})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		db.Now = o.Now
		return db
	})
}
