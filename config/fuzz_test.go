package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/sdk"
)

// FuzzLoad feeds arbitrary files to the loader and, when they load, their
// config blocks to DecodeConfig: neither may panic, and failures must be
// *config.Error.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/full.hcl", "testdata/minimal.hcl", "testdata/errors.hcl"} {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(botWith("  config {", `    tags = [env("X", "y"), 1]`, `    fields = { a = null }`, `    retries = 1e400`, "  }")))
	f.Add([]byte("bot \"a\" \"b\" {\n  messages \"x\" { start {} }\n}\nstorage {}\nx = ${"))
	opt := env(map[string]string{"ADMIN_TOKEN": "a", "SHOP_CHANNEL_SECRET": "b", "SHOP_WEBHOOK_TOKEN": "c"})
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := config.Parse("fuzz.hcl", src, opt)
		if err != nil {
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error is %T, want *config.Error", err)
			}
			_ = err.Error()
			return
		}
		for i := range file.Bots {
			b := &file.Bots[i]
			for _, schema := range []sdk.Schema{allTypes, gorgiasSchema} {
				_, diags := b.DecodeConfig(schema)
				_ = config.Format(diags)
			}
			_ = config.Format(b.ConfigDiagnostics(sdk.Diagnostics{sdk.Errorf("name", "bad")}))
		}
	})
}
