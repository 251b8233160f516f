package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The postgres DSN is a secret: neither validate nor a serve that cannot
// connect prints it, and both say what is wrong with which field.
func TestReplicasDSNNeverPrinted(t *testing.T) {
	const password = "pg-pass-7f3a9c"
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
	paths := replicaConfigs(t, e, "r1")

	// A DSN that does not parse.
	bad := "DATABASE_URL=postgres://u:" + password + "@127.0.0.1:notaport/x"
	out, errOut, code := runEnv(t, []string{bad}, "validate", "-config", paths[0])
	if code != 1 || !strings.Contains(errOut, `dsn in storage "postgres" does not parse`) || !strings.Contains(errOut, paths[0]+":") {
		t.Errorf("validate with a bad dsn: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Errorf("validate printed the dsn's password:\n%s%s", out, errOut)
	}

	// A DSN that parses, to a server that is not there.
	gone := "DATABASE_URL=postgres://u:" + password + "@127.0.0.1:1/x?sslmode=disable&connect_timeout=5"
	out, errOut, code = runEnv(t, []string{gone}, "validate", "-config", paths[0])
	if code != 0 || strings.Contains(out+errOut, password) {
		t.Errorf("validate with a good dsn: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runEnv(t, []string{gone}, "serve", "-config", paths[0])
	if code != 1 || !strings.Contains(errOut, `storage "postgres"`) || !strings.Contains(errOut, "database unavailable") {
		t.Errorf("serve without a database: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, password) {
		t.Errorf("serve printed the dsn's password:\n%s%s", out, errOut)
	}
}

// runEnv is run with more environment variables.
func runEnv(t *testing.T, environ []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, livechatd(t), args...)
	cmd.Env = append(os.Environ(), environ...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}
