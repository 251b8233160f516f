package webchat

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCleanName: whatever name a browser claims for an upload, the name
// kept and put in its URL and Content-Disposition has no directory, no
// control character, no quote, is valid UTF-8, at most maxUploadName
// bytes, and never empty, "." or "..".
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"receipt.png", "../../etc/passwd", `C:\Users\jane\a.pdf`, "", ".", "..", "a\x00b", "\"q\".txt", "é" + strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := cleanName(name, ".txt")
		switch {
		case got == "" || got == "." || got == "..":
			t.Fatalf("cleanName(%q) = %q", name, got)
		case len(got) > maxUploadName:
			t.Fatalf("cleanName(%q) is %d bytes", name, len(got))
		case !utf8.ValidString(got):
			t.Fatalf("cleanName(%q) = %q is not UTF-8", name, got)
		case strings.ContainsAny(got, "/\\\""):
			t.Fatalf("cleanName(%q) = %q keeps a separator or a quote", name, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("cleanName(%q) = %q keeps a control character", name, got)
			}
		}
	})
}
