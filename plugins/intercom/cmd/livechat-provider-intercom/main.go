// Command livechat-provider-intercom is livechatd's Intercom provider
// plugin. Drop it into livechatd's plugin_dir; see ../../README.md.
package main

import (
	"github.com/livechatd/livechatd/plugins/intercom"
	"github.com/livechatd/livechatd/sdk"
)

func main() {
	sdk.Serve(intercom.Info, intercom.New(intercom.Options{}))
}
