package config_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/config"
)

func TestPostgresStorageBlock(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": "postgres://u:pg-s3cret@db/livechat"}
	f, err := config.Parse("livechatd.hcl", []byte(`
listen = "127.0.0.1:8080"
storage "postgres" {
  dsn       = env("DATABASE_URL")
  replica   = "web-1"
  max_conns = 32
}`), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if f.Storage.Driver != config.Postgres || f.Storage.DSN.Value() != vars["DATABASE_URL"] || f.Storage.Replica != "web-1" || f.Storage.MaxConns != 32 || f.ReplicaName() != "web-1" {
		t.Errorf("storage = %+v, replica %q", f.Storage, f.ReplicaName())
	}

	f, err = config.Parse("livechatd.hcl", []byte("listen = \"127.0.0.1:8081\"\nstorage \"postgres\" { dsn = env(\"DATABASE_URL\") }\n"), env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.ReplicaName(); got != config.DefaultReplica("127.0.0.1:8081") || !strings.HasSuffix(got, ":8081") {
		t.Errorf("default replica = %q, want the host name and :8081", got)
	}

	for _, tt := range []struct{ src, want string }{
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  replica = ""
}`, `livechatd.hcl:3:13: replica in storage "postgres" must not be empty`},
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  replica = "web 1"
}`, `livechatd.hcl:3:13: replica in storage "postgres" must be printable characters without spaces, got "web 1"`},
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  replica = "` + strings.Repeat("r", 129) + `"
}`, `livechatd.hcl:3:13: replica in storage "postgres" must be at most 128 bytes, got 129`},
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  max_conns = 0
}`, `livechatd.hcl:3:15: max_conns in storage "postgres" must be a whole number from 1 to 1000`},
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  max_conns = 2.5
}`, `livechatd.hcl:3:15: max_conns in storage "postgres" must be a whole number from 1 to 1000`},
		{`storage "postgres" {
  dsn = env("DATABASE_URL")
  replicas = "x"
}`, `livechatd.hcl:3:3: unknown attribute "replicas" in storage "postgres"`},
	} {
		_, err := config.Parse("livechatd.hcl", []byte(tt.src), env(vars))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %s", tt.src, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "pg-s3cret") {
			t.Errorf("the error shows the dsn's password: %v", err)
		}
	}
}
