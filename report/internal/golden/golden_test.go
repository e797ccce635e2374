package golden

import (
	"strings"
	"testing"
)

func TestFirstDiff(t *testing.T) {
	cases := []struct{ want, got, has string }{
		{"a\nb\nc", "a\nx\nc", "line 2:\n  want: b\n  got:  x"},
		{"a\nb", "a\nb\nc", "line 3:\n  want: \n  got:  c"},
		{"a", "a", "(same lines"},
	}
	for _, c := range cases {
		if d := FirstDiff(c.want, c.got); !strings.Contains(d, c.has) {
			t.Errorf("FirstDiff(%q, %q) = %q, want it to contain %q", c.want, c.got, d, c.has)
		}
	}
}
