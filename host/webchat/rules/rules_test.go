package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/webchat/rules"
)

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check func(string) string
		value string
		ok    bool
	}{
		{"title empty (the default)", rules.CheckTitle, "", true},
		{"title of 80 runes", rules.CheckTitle, strings.Repeat("é", rules.MaxTitle), true},
		{"title of 81 runes", rules.CheckTitle, strings.Repeat("é", rules.MaxTitle+1), false},
		{"color empty (the default)", rules.CheckColor, "", true},
		{"color #rgb", rules.CheckColor, "#0bA", true},
		{"color #rrggbb", rules.CheckColor, "#0b7a53", true},
		{"color name", rules.CheckColor, "red", false},
		{"color of 5 digits", rules.CheckColor, "#12345", false},
		{"color with css after it", rules.CheckColor, "#fff;background:url(x)", false},
		{"position left", rules.CheckPosition, "left", true},
		{"position right", rules.CheckPosition, "right", true},
		{"position top", rules.CheckPosition, "top", false},
		{"position in capitals", rules.CheckPosition, "Left", false},
		{"upload type png", rules.CheckUploadType, "image/png", true},
		{"upload type svg", rules.CheckUploadType, "image/svg+xml", false},
		{"upload type with parameters", rules.CheckUploadType, "text/plain; charset=utf-8", false},
	} {
		if got := tc.check(tc.value); (got == "") != tc.ok {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

func TestUploadTypeNames(t *testing.T) {
	names := rules.UploadTypeNames()
	if len(names) != len(rules.UploadTypes) || !slices.IsSorted(names) {
		t.Errorf("UploadTypeNames = %v", names)
	}
	for _, n := range names {
		if _, ok := rules.UploadTypes[n]; !ok {
			t.Errorf("%s is not an upload type", n)
		}
	}
}
