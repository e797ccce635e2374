package printable

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	for in, want := range map[string]string{
		"llama3.2:1b":                      "llama3.2:1b",
		"http://[::1]:11434":               "http://[::1]:11434",
		"0.17.4\x1b]0;pwned title\x07":     "0.17.4]0;pwned title",
		"red\x1b[31m\x1b[2J\x1b[H clear":   "red[31m[2J[H clear",
		"bell\a nul\x00 del\x7f c1\u009b":  "bell nul del c1",
		"ok\nforged line\r\nnext\ttab":     "ok forged line  next tab",
		"\u202eevil \u2066x\u2069 \u200fy": "evil x y",
		"bad \xff utf8":                    "bad \uFFFD utf8",
		"::error::forged":                  ": :error::forged",
		"  ::warning file=x::y":            "  : :warning file=x::y",
		"\n::set-output name=x::1":         " : :set-output name=x::1",
		"a ::b":                            "a ::b",
		"":                                 "",
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLines(t *testing.T) {
	in := "first\n::error::forged\r\n\x1b[2Jthird\u202e"
	if got, want := Lines(in), "first\n: :error::forged\n[2Jthird"; got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := Lines("plain\ntext"); got != "plain\ntext" {
		t.Errorf("Lines changed plain text: %q", got)
	}
}

// Whatever goes in, what comes out is one valid line with nothing a terminal obeys and no
// workflow command, and cleaning it again changes nothing.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"x", "::error::x", "\x1b]8;;http://e\x07l", " \u2028::x", "\u202e", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\x1b\x07\x00\u202e") || workflowCommand(got) {
			t.Errorf("Line(%q) = %q", s, got)
		}
		if again := Line(got); again != got {
			t.Errorf("Line is not idempotent: %q → %q → %q", s, got, again)
		}
	})
}
