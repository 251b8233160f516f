// Package rules holds what the webchat's settings may be: the title, colour
// and position of a bot's chat, and the types an upload may have. config
// checks the file against them and the webchat applies them, from this one
// place: config imports no part of the running host (only leaves such as
// this one), and the webchat imports no config.
package rules

import (
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"
)

// MaxTitle bounds a chat title, in characters.
const MaxTitle = 80

// Color is what an accent colour may be: #rgb or #rrggbb.
var Color = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Positions are the sides of the screen a widget's launcher may sit on;
// the first is the default.
var Positions = []string{"right", "left"}

// CheckTitle says what is wrong with a chat title ("" when nothing is):
// the text follows the field's name, as in "title must …".
func CheckTitle(s string) string {
	if utf8.RuneCountInString(s) > MaxTitle {
		return fmt.Sprintf("must be at most %d characters, got %d", MaxTitle, utf8.RuneCountInString(s))
	}
	return ""
}

// CheckColor says what is wrong with an accent colour ("" when nothing
// is); the empty colour is the default.
func CheckColor(s string) string {
	if s != "" && !Color.MatchString(s) {
		return fmt.Sprintf("must be #rgb or #rrggbb, got %q", s)
	}
	return ""
}

// CheckPosition says what is wrong with a launcher position ("" when
// nothing is); the empty position is the default.
func CheckPosition(s string) string {
	if s != "" && !slices.Contains(Positions, s) {
		return fmt.Sprintf("must be %q or %q, got %q", Positions[0], Positions[1], s)
	}
	return ""
}

// UploadTypes are the types an upload may have, as the webchat sniffs them
// from the file's first bytes (the type the browser claims is not
// trusted), each with the extension a file of that type is given: images,
// PDF and plain text. SVG is not an image here: it can carry scripts.
var UploadTypes = map[string]string{
	"image/png":       ".png",
	"image/jpeg":      ".jpg",
	"image/gif":       ".gif",
	"image/webp":      ".webp",
	"application/pdf": ".pdf",
	"text/plain":      ".txt",
}

// UploadTypeNames are the keys of UploadTypes, sorted.
func UploadTypeNames() []string {
	names := make([]string, 0, len(UploadTypes))
	for t := range UploadTypes {
		names = append(names, t)
	}
	slices.Sort(names)
	return names
}

// CheckUploadType says what is wrong with an upload type ("" when
// nothing is): it must be one of UploadTypes.
func CheckUploadType(s string) string {
	if _, ok := UploadTypes[s]; !ok {
		return fmt.Sprintf("%q is not a type livechatd recognizes in a file's content; accepted: %s", s, joinQuoted(UploadTypeNames()))
	}
	return ""
}

func joinQuoted(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", s)
	}
	return out
}
