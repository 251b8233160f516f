// Package pgtest runs a throwaway PostgreSQL server for tests: one cluster
// per test binary, made with initdb in a temporary directory and started
// with pg_ctl on a free port of 127.0.0.1, started when a test first asks
// for a database and stopped (its directory removed) when the binary's
// tests end.
//
// A test that needs it never skips: when the server's programs are
// missing it fails, saying how to install them (make test installs them
// first). As root, initdb and the server run as the postgres user that
// Debian's package creates, since PostgreSQL refuses to run as root.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and in a test:
//
//	dsn := pgtest.Database(t) // an empty database of its own
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallHint is the command that installs the server's programs on
// Debian, as the failure of a test that needs them says.
const InstallHint = "apt-get install -y --no-install-recommends postgresql"

var (
	mu      sync.Mutex
	current *Server
	failed  error
)

// Main runs the tests of m and stops the server if one was started. Its
// result is the exit code for os.Exit.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		if err := current.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		current = nil
	}
	return code
}

// Shared returns the binary's server, starting it on first use. It fails
// t when the server cannot start.
func Shared(t testing.TB) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if current == nil && failed == nil {
		current, failed = Start()
	}
	if failed != nil {
		t.Fatalf("pgtest: %v", failed)
	}
	return current
}

// Database creates an empty database on the shared server for t, dropped
// when t ends, and returns its connection string.
func Database(t testing.TB) string {
	t.Helper()
	return Shared(t).create(t, "template1")
}

// create creates a database for t as a copy of template, dropped when t
// ends, and returns its connection string.
func (srv *Server) create(t testing.TB, template string) string {
	t.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A template must have no other connection: the server waits a few
	// seconds for closing ones to go.
	if err := srv.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return srv.DSN(name)
}

// templates are the databases that Clone copies, by name.
var (
	tmplMu    sync.Mutex
	templates = map[string]*template{}
)

type template struct {
	once sync.Once
	db   string
	err  error
}

// Clone creates a database for t as a copy of the template called name,
// dropped when t ends, and returns its connection string. The template is
// made on first use, once per test binary: an empty database that setup
// is given to fill (say, by applying a store's migrations) and must leave
// with no connection open. Copying a migrated database is cheaper than
// migrating each test's.
func Clone(t testing.TB, name string, setup func(dsn string) error) string {
	t.Helper()
	srv := Shared(t)
	tmplMu.Lock()
	tp, ok := templates[name]
	if !ok {
		tp = &template{}
		templates[name] = tp
	}
	tmplMu.Unlock()
	tp.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tp.db = "tpl_" + randomHex(8)
		if tp.err = srv.exec(ctx, "CREATE DATABASE "+tp.db); tp.err != nil {
			return
		}
		tp.err = setup(srv.DSN(tp.db))
	})
	if tp.err != nil {
		t.Fatalf("pgtest: template %s: %v", name, tp.err)
	}
	return srv.create(t, tp.db)
}

// Server is one running cluster.
type Server struct {
	Port int
	dir  string // the cluster's directory: data/, the log, the socket
	bin  string // the directory of pg_ctl, initdb and postgres
	as   *user.User
}

// DSN returns the connection string of database on the server.
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// Start makes and starts a new cluster.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		s.as, err = user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: the postgres user is missing (%v); install the server with: %s", err, InstallHint)
		}
	}
	s.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if err := s.own(s.dir); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	data := filepath.Join(s.dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between the probe and the start: try a few.
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
		// Durability is not what these tests check: no fsync makes a
		// database per test cheap.
		opts := strings.Join([]string{
			"-p", strconv.Itoa(s.Port),
			"-c", "listen_addresses=127.0.0.1",
			"-k", s.dir,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=300",
		}, " ")
		out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			break
		}
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		if attempt == 2 || !strings.Contains(string(log), "could not bind") {
			os.RemoveAll(s.dir)
			return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	}
	return s, nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	out, err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	rmErr := os.RemoveAll(s.dir)
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return rmErr
}

// exec runs one statement as the superuser on the postgres database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// run runs one of the server's programs, as the postgres user when root.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.as != nil {
		uid, _ := strconv.ParseUint(s.as.Uid, 10, 32)
		gid, _ := strconv.ParseUint(s.as.Gid, 10, 32)
		runAs(cmd, uint32(uid), uint32(gid))
		cmd.Env = append(os.Environ(), "HOME="+s.dir, "USER=postgres", "LOGNAME=postgres")
	}
	return cmd.CombinedOutput()
}

// own gives dir to the postgres user when running as root.
func (s *Server) own(dir string) error {
	if s.as == nil {
		return nil
	}
	uid, _ := strconv.Atoi(s.as.Uid)
	gid, _ := strconv.Atoi(s.as.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", dir, err)
	}
	return nil
}

// findBin finds the directory of initdb, pg_ctl and postgres: where pg_ctl
// on PATH leads, else the newest /usr/lib/postgresql/<version>/bin
// (Debian's package keeps them off PATH).
func findBin() (string, error) {
	return findBinIn("/usr/lib/postgresql/*/bin")
}

// findBinIn is findBin with the versioned directories' pattern.
func findBinIn(pattern string) (string, error) {
	var dirs []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	versions, _ := filepath.Glob(pattern)
	sort.Slice(versions, func(i, j int) bool { return version(versions[i]) > version(versions[j]) })
	dirs = append(dirs, versions...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("the PostgreSQL server's programs (initdb, pg_ctl, postgres) are not installed: " +
		"looked on PATH and in /usr/lib/postgresql/*/bin. Install them with:  " + InstallHint +
		"  (make test does this itself)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
