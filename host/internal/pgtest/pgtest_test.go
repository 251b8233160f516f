package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Each test gets a database of its own on the one server, reachable on
// 127.0.0.1 only.
func TestDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := Database(t), Database(t)
	if a == b {
		t.Fatalf("two databases share %s", a)
	}
	if !strings.Contains(a, "@127.0.0.1:") {
		t.Errorf("DSN %s is not on 127.0.0.1", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	var n int
	if err := other.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the other database sees %d tables t (%v)", n, err)
	}
	var listen string
	if err := conn.QueryRow(ctx, `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, %v", listen, err)
	}
}

// Where the server's programs are missing, the error says how to install
// them; the newest version's directory is preferred.
func TestFindBin(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	empty := filepath.Join(t.TempDir(), "*", "bin")
	if _, err := findBinIn(empty); err == nil || !strings.Contains(err.Error(), InstallHint) {
		t.Errorf("findBin without the programs: %v, want the install command %q", err, InstallHint)
	}
	root := t.TempDir()
	for _, v := range []string{"9", "15", "16"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if v == "16" && name == "postgres" {
				continue // an incomplete install is passed over
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findBinIn(filepath.Join(root, "*", "bin"))
	if err != nil || got != filepath.Join(root, "15", "bin") {
		t.Errorf("findBin = %q, %v; want version 15's", got, err)
	}
}

// A clone starts with what the template's setup left, made once.
func TestClone(t *testing.T) {
	ctx := context.Background()
	setups := 0
	setup := func(dsn string) error {
		setups++
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE made (x int); INSERT INTO made VALUES (42)`)
		return err
	}
	name := "made-" + randomHex(4) // templates live as long as the binary: -count=n runs this n times
	for range 2 {
		conn, err := pgx.Connect(ctx, Clone(t, name, setup))
		if err != nil {
			t.Fatal(err)
		}
		var x int
		if err := conn.QueryRow(ctx, `SELECT x FROM made`).Scan(&x); err != nil || x != 42 {
			t.Errorf("clone holds %d, %v; want the template's 42", x, err)
		}
		if _, err := conn.Exec(ctx, `UPDATE made SET x = 0`); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	if setups != 1 {
		t.Errorf("setup ran %d times, want once", setups)
	}
}
