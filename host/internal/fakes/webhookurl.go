package fakes

import "strings"

// PrintedWebhook is the first webhook of `livechatd webhook-url`'s output:
// what an operator would paste into the platform.
type PrintedWebhook struct{ URL, Method, Triggers string }

// ParseWebhookURL reads the first webhook block of `livechatd webhook-url`'s
// output ("URL: ...", "Method: ...", "Triggers: ..." lines, blocks separated
// by a blank line). ok is false when one of the three is missing.
func ParseWebhookURL(out string) (h PrintedWebhook, ok bool) {
	first, _, _ := strings.Cut(out, "\n\n")
	for _, line := range strings.Split(first, "\n") {
		k, v, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch strings.TrimSpace(k) {
		case "URL":
			h.URL = strings.TrimSpace(v)
		case "Method":
			h.Method = strings.TrimSpace(v)
		case "Triggers":
			h.Triggers = strings.TrimSpace(v)
		}
	}
	return h, h.URL != "" && h.Method != "" && h.Triggers != ""
}
