// Command livechat-provider-gorgias is the livechatd provider plugin for
// Gorgias. livechatd launches it from its plugin_dir; run by hand with
// --describe it prints its config schema. See plugins/gorgias/README.md.
package main

import (
	"github.com/livechatd/livechatd/plugins/gorgias"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	sdk.Serve(gorgias.Info, gorgias.New())
}
