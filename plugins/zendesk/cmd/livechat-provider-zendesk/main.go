// Command livechat-provider-zendesk is livechatd's Zendesk Support provider
// plugin. Drop it into livechatd's plugin_dir; see ../../README.md.
package main

import (
	"github.com/livechatd/livechatd/plugins/zendesk"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	sdk.Serve(zendesk.Info, zendesk.New(zendesk.Options{}))
}
