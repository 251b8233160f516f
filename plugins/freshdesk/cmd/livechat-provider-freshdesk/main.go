// Command livechat-provider-freshdesk is livechatd's Freshdesk provider
// plugin. Drop it into livechatd's plugin_dir; see ../../README.md.
package main

import (
	"github.com/livechatd/livechatd/plugins/freshdesk"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	sdk.Serve(freshdesk.Info, freshdesk.New(freshdesk.Options{}))
}
