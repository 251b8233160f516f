package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Error is what Load returns for a bad file: every problem found, each with
// its position. Error() is Format of the diagnostics.
type Error struct {
	Diagnostics hcl.Diagnostics
}

func (e *Error) Error() string { return Format(e.Diagnostics) }

// Format writes diagnostics one a line as `file:line:col: message`, where the
// message is the summary followed by "; " and the detail when there is one.
// Warnings say so after the position. There is no trailing newline.
func Format(diags hcl.Diagnostics) string {
	var b strings.Builder
	for i, d := range diags {
		if i > 0 {
			b.WriteByte('\n')
		}
		r := d.Subject
		if r == nil {
			r = d.Context
		}
		if r != nil {
			fmt.Fprintf(&b, "%s:%d:%d: ", r.Filename, r.Start.Line, r.Start.Column)
		}
		if d.Severity == hcl.DiagWarning {
			b.WriteString("warning: ")
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		b.WriteString(oneLine.Replace(msg))
	}
	return b.String()
}

var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// errorAt returns an error diagnostic at r.
func errorAt(r hcl.Range, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf(format, args...), Subject: subject(r)}
}

// subject is r as a diagnostic's subject: nil for the zero range of a
// Bot built by hand rather than loaded.
func subject(r hcl.Range) *hcl.Range {
	if r == (hcl.Range{}) {
		return nil
	}
	return r.Ptr()
}

// position is r's start as file:line:col, for "first defined at" notes.
func position(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// unknownNameDiag reports a name that is not one of accepted, suggesting the
// closest one or listing them all.
func unknownNameDiag(r hcl.Range, kind, name, in string, accepted []string) *hcl.Diagnostic {
	d := errorAt(r, "unknown %s %q%s", kind, name, in)
	switch {
	case len(accepted) == 0:
		d.Detail = fmt.Sprintf("no %ss are accepted here", kind)
	case suggest(name, accepted) != "":
		d.Detail = fmt.Sprintf("did you mean %q?", suggest(name, accepted))
	default:
		sorted := slices.Sorted(slices.Values(accepted))
		d.Detail = "accepted: " + strings.Join(sorted, ", ")
	}
	return d
}

// suggest returns the candidate closest to name when it is close enough to
// be a typo, or "".
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3 // as hcl's own "did you mean": fewer than 3 edits
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// finish makes diagnostics ready to leave the package: in source order, and
// without the expression and evaluation context hcl attaches, so that no
// diagnostic printer can show values (secrets) from them.
func finish(diags hcl.Diagnostics) hcl.Diagnostics {
	for _, d := range diags {
		d.Expression = nil
		d.EvalContext = nil
	}
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		ra, rb := a.Subject, b.Subject
		switch {
		case ra == nil && rb == nil:
			return 0
		case ra == nil:
			return -1
		case rb == nil:
			return 1
		}
		if c := strings.Compare(ra.Filename, rb.Filename); c != 0 {
			return c
		}
		return ra.Start.Byte - rb.Start.Byte
	})
	return diags
}
