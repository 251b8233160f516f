package sdktest_test

import (
	"fmt"
	"testing"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

// An adapter for a platform with one webhook per account gives each bot an
// account of its own: Of makes it the first time the suite names the bot,
// and All is each account made, for WaitDelivered, Fail, Heal and
// DropWebhooks to loop over.
func ExampleFakes() {
	type fakeAccount struct {
		bot     string
		webhook string
		failing int
	}
	accounts := sdktest.NewFakes(func(bot string) *fakeAccount {
		// In a test: start the fake's httptest server, with t.Cleanup.
		return &fakeAccount{bot: bot}
	})

	// PointWebhooks("support", url) and PointWebhooks("sales", url):
	accounts.Of("support").webhook = "/v1/livechat/acme/receive?token=s"
	accounts.Of("sales").webhook = "/v1/livechat/acme/receive?token=t"
	// Fail(503, 0):
	for _, a := range accounts.All() {
		a.failing = 503
	}
	for _, a := range accounts.All() {
		fmt.Println(a.bot, a.webhook, a.failing)
	}
	// Output:
	// support /v1/livechat/acme/receive?token=s 503
	// sales /v1/livechat/acme/receive?token=t 503
}

// printingT stands in for a test's *testing.T and prints its errors.
type printingT struct{ testing.TB }

func (printingT) Helper()                           {}
func (printingT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// A plugin's conformance test ends with Require, or with RequireAll when
// every check must apply to its plugin and adapter.
func ExampleReport_Require() {
	// rep := sdktest.Conformance(t, sdktest.Suite{…}) in a real test.
	rep := sdktest.Report{
		{Name: sdktest.CheckStart, Status: sdktest.Pass},
		{Name: sdktest.CheckNotesIgnored, Status: sdktest.NotApplicable, Problems: []string{"implement sdktest.NotePlatform"}},
		{Name: sdktest.CheckError503, Status: sdktest.Fail, Problems: []string{"return sdk.Unavailable"}},
	}
	var t printingT
	rep.Require(t)
	fmt.Println("--")
	rep.RequireAll(t)
	// Output:
	// failed checks: [error-503]
	// --
	// check notes-ignored not applicable: [implement sdktest.NotePlatform]
	// failed checks: [error-503]
}
