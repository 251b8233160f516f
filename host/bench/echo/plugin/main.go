// Command plugin is the echo provider under the name its file gives:
// installed as livechat-provider-<name>, it says it is <name>. The load
// harness installs it under ten names to time livechatd's start-up with ten
// plugins (the host refuses a plugin whose file name and given name differ).
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/livechatd/livechatd/host/bench/echo"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "livechat-provider-")
	sdk.Serve(echo.Info(name), echo.New())
}
