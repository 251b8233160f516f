package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

// TestConformanceThroughLivechatd runs the suite with a built livechatd:
// the webhook checks go through the real host — this plugin in its
// plugin_dir, the fake Helpdesk's webhooks at livechatd's receive URL, the
// session opened through livechatd's signed events API — and each passes.
func TestConformanceThroughLivechatd(t *testing.T) {
	bin := sdktest.Install(t, builds.Binary(t, "."), t.TempDir(), "helpdesk")
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: bin, Livechatd: livechatd, Platform: helpdesk{newFakeHelpdesk(t)}})
	var out strings.Builder
	rep.Write(&out)
	for _, name := range []string{sdktest.CheckRealStart, sdktest.CheckRealAgentReply, sdktest.CheckRealReplay, sdktest.CheckRealToken,
		sdktest.CheckRealNotesIgnored, sdktest.CheckRealEchoes, sdktest.CheckRealAgentClose} {
		i := slices.IndexFunc(rep, func(r sdktest.Result) bool { return r.Name == name })
		if i < 0 {
			t.Errorf("the report has no check %s:\n%s", name, out.String())
			continue
		}
		if rep[i].Status != sdktest.Pass {
			t.Errorf("check %s: %s %v", name, rep[i].Status, rep[i].Problems)
		}
	}
	if failed := rep.Failed(); len(failed) > 0 {
		t.Errorf("failed checks: %v\n%s", failed, out.String())
	}
}
