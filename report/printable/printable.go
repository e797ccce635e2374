// Package printable makes untrusted text (what a server said, what a results file holds) safe
// to show: on a terminal, in a CI log, in a table cell. It depends on nothing of llmload.
package printable

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s as one line that shows what it says. Control characters are dropped (a
// terminal would obey an escape sequence, an OSC title change, a BEL; a NUL cuts text short),
// and so are bidirectional overrides (which make text read differently from what it is); line
// breaks and tabs become spaces, so that a value cannot forge a line of its own or leave its
// table cell; invalid UTF-8 becomes U+FFFD. Text that starts with "::" (after blanks), which
// GitHub Actions would read as a workflow command at the start of a log line, gets a space
// between the colons.
func Line(s string) string {
	if !strings.ContainsFunc(s, needsCleaning) && utf8.ValidString(s) && !workflowCommand(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case needsCleaning(r):
		default:
			b.WriteRune(r)
		}
	}
	return neutralize(b.String())
}

// Lines is Line for text of several lines (an error message): each line is cleaned as Line
// cleans it, and the line breaks stay.
func Lines(s string) string {
	if !strings.ContainsFunc(s, needsCleaning) && utf8.ValidString(s) && !strings.Contains(s, "::") {
		return s
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = Line(l)
	}
	return strings.Join(lines, "\n")
}

func needsCleaning(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	}
	return false
}

// workflowCommand reports whether s starts, after blanks, with "::": GitHub Actions trims a
// log line's leading white space before it looks for a command.
func workflowCommand(s string) bool {
	return strings.HasPrefix(strings.TrimLeftFunc(s, unicode.IsSpace), "::")
}

func neutralize(s string) string {
	if !workflowCommand(s) {
		return s
	}
	i := strings.Index(s, "::")
	return s[:i] + ": :" + s[i+2:]
}
