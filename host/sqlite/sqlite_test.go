package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/sqlite"
)

// rawDB opens the file without the store. Paths are URIs here: t.TempDir
// may hold a '#'.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// rawQuery opens the file with a plain connection to look at what the store
// wrote.
func rawQuery(t *testing.T, path, query string) string {
	t.Helper()
	raw := rawDB(t, path)
	defer raw.Close()
	var out string
	if err := raw.QueryRow(query).Scan(&out); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

func TestOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "livechat.db") // Open creates directories
	for i := range 3 {
		db, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	var want []string
	for _, f := range files {
		v, _, _ := strings.Cut(filepath.Base(f), "_")
		n, _ := strconv.Atoi(v)
		want = append(want, fmt.Sprintf("%d:%s", n, filepath.Base(f)))
	}
	got := rawQuery(t, path, `SELECT group_concat(version || ':' || name, ',') FROM (SELECT * FROM schema_migrations ORDER BY version)`)
	if got != strings.Join(want, ",") {
		t.Errorf("schema_migrations = %q, want each migration recorded once: %q", got, strings.Join(want, ","))
	}
	tables := rawQuery(t, path, `SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name)`)
	if want := "messages,outbox,outbox_queues,outcomes,plugin_state,processed_events,requests,schema_migrations,sessions,webchat_stream"; tables != want {
		t.Errorf("tables = %q, want %q", tables, want)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawDB(t, path)
	if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := sqlite.Open(path, sqlite.Options{}); err == nil {
		db.Close()
		t.Fatal("Open of a database migrated by a newer livechatd succeeded")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open: %v, want a schema version error", err)
	}
}

func TestOpenPragmas(t *testing.T) {
	tests := []struct {
		synchronous string
		want        string // PRAGMA synchronous: 1 NORMAL, 2 FULL
		wantErr     bool
	}{
		{"", "1", false}, // subtest #00: its directory has a '#' the DSN must escape
		{"normal", "1", false},
		{"FULL", "2", false},
		{"extra", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.synchronous, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "livechat.db")
			db, err := sqlite.Open(path, sqlite.Options{Synchronous: tt.synchronous})
			if tt.wantErr {
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded")
				}
				wantCode(t, err, host.EINVALID)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			pragmas := sqlite.WriterPragmas(db)
			journal, sync, fk := pragmas["journal_mode"], pragmas["synchronous"], pragmas["foreign_keys"]
			if journal != "wal" || sync != tt.want || fk != "1" {
				t.Errorf("journal_mode=%s synchronous=%s foreign_keys=%s, want wal %s 1", journal, sync, fk, tt.want)
			}
			// WAL is a property of the file: any connection sees it.
			if got := rawQuery(t, path, "PRAGMA journal_mode"); got != "wal" {
				t.Errorf("file journal_mode = %q, want wal", got)
			}
		})
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	ctx := context.Background()

	db, err := sqlite.Open(path, sqlite.Options{Synchronous: "full"})
	if err != nil {
		t.Fatal(err)
	}
	db.Now = (&clock{now: t0}).Now
	s := newSession("u1")
	msg := &host.Message{Bot: "shop", UserID: "u1", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: payload("hello")}
	item := &host.OutboxItem{Key: "k1", Queue: "q", Kind: host.KindProviderStart, Payload: json.RawMessage(`{}`)}
	err = db.Tx(ctx, func(tx host.Tx) error {
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		msg.SessionID = s.ID
		if err := tx.AppendMessage(msg); err != nil {
			return err
		}
		if _, err := tx.MarkProcessed("webhook:gorgias", "e1"); err != nil {
			return err
		}
		return tx.Enqueue(item)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, _ = openAt(t, path, sqlite.Options{})
	got, err := db.Session(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("session after reopen (-want +got):\n%s", diff)
	}
	msgs, err := db.Messages(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*host.Message{msg}, msgs); diff != "" {
		t.Errorf("messages after reopen (-want +got):\n%s", diff)
	}
	if keys := claimKeys(t, db, t0); !cmp.Equal(keys, []string{"k1"}) {
		t.Errorf("claimed %v after reopen, want [k1]", keys)
	}
	mustTx(t, db, func(tx host.Tx) error {
		first, err := tx.MarkProcessed("webhook:gorgias", "e1")
		if first {
			t.Error("event processed before the reopen is new again")
		}
		return err
	})
}

func TestPing(t *testing.T) {
	db, _ := openDB(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
