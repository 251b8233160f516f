package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/pgtest"
	"github.com/livechatd/livechatd/host/postgres"
	"github.com/livechatd/livechatd/host/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open opens a store on a fresh database of the test server, a copy of
// one the store has migrated.
func open(t *testing.T, o postgres.Options) *postgres.DB {
	t.Helper()
	return openDSN(t, migrated(t), o)
}

// migrated returns a fresh database with the store's migrations applied.
func migrated(t testing.TB) string {
	t.Helper()
	return pgtest.Clone(t, "migrated", func(dsn string) error {
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			return err
		}
		return db.Close()
	})
}

func openDSN(t *testing.T, dsn string, o postgres.Options) *postgres.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := postgres.Open(ctx, dsn, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// TestStore runs the store conformance suite against PostgreSQL: each
// case on a database of its own, with the suite's clock and lease. The
// safety poll of Wake is made long: the suite checks the signals of
// commits, which a poll finding due work would blur.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store {
		db := open(t, postgres.Options{Lease: o.Lease, WakePoll: time.Hour})
		db.Now = o.Now
		return db
	})
}
