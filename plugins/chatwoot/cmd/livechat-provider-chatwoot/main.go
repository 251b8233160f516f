// Command livechat-provider-chatwoot is livechatd's Chatwoot provider
// plugin. Drop it into livechatd's plugin_dir; see ../../README.md.
package main

import (
	"github.com/livechatd/livechatd/plugins/chatwoot"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	sdk.Serve(chatwoot.Info, chatwoot.New(chatwoot.Options{}))
}
