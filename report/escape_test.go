package report

import (
	"bytes"
	"github.com/llmload/llmload/report/analysis"
	"strings"
	"testing"
)

func TestMarkdownEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"llama3.2:1b", "llama3.2:1b"},
		{"num_parallel=4", "num_parallel=4"}, // an underscore inside a word is plain text
		{"_x_ and *y*", `\_x\_ and \*y\*`},
		{"a|b", `a\|b`},
		{"<script>alert(1)</script>", `\<script\>alert(1)\</script\>`},
		{"[x](javascript:alert(1))", `\[x\](javascript:alert(1))`},
		{"![i](http://e/x.png)", `!\[i\](http://e/x.png)`},
		{"line1\nline2\r\n", "line1 line2  "},
		{"`code`", "\\`code\\`"},
		{"&lt;b&gt; & co", `\&lt;b\&gt; & co`},
		{"$x$ ~~s~~", `\$x\$ \~\~s\~\~`},
		{"back\\slash", `back\\slash`},
		{"red\x1b[31m bell\a", `red\[31m bell`},
		{"\u202eevil", "evil"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := mdEscape(tt.in); got != tt.want {
			t.Errorf("mdEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	starts := []struct{ in, want string }{
		{"# h", `\# h`}, {"- item", `\- item`}, {"+ x", `\+ x`}, {"=x", `\=x`}, {"1. one", `1\. one`}, {"12) x", `12\) x`}, {"4 slots", "4 slots"}, {"", ""},
	}
	for _, tt := range starts {
		if got := mdBlockStart(tt.in); got != tt.want {
			t.Errorf("mdBlockStart(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMarkdownCode(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "`plain`",
		"a`b":       "``a`b``",
		"`edge":     "`` `edge ``",
		"pipe|in":   "`pipe\\|in`",
		"new\nline": "`new line`",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// A table cell holding anything at all stays one cell on one line.
func TestMarkdownTableCellsHold(t *testing.T) {
	d := &document{}
	d.add(table{cols: []column{{name: "a|b"}, {name: "c"}}, rows: [][]string{{hostileText, "x\ny|z"}, {"only one"}}})
	var buf bytes.Buffer
	if err := d.writeMarkdown(&buf, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want 4:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		// Unescaped pipes are the cell borders: 3 per row of 2 columns.
		n := strings.Count(l, "|") - strings.Count(l, `\|`)
		if n != 3 {
			t.Errorf("row %q has %d cell borders, want 3", l, n)
		}
	}
}

func TestCleanForTerminalAndCSV(t *testing.T) {
	if got := clean("ok\x1b]8;;http://evil\x07link\x1b]8;;\x07 \u2066x\u2069\tend"); got != "ok]8;;http://evillink]8;; x end" {
		t.Errorf("clean = %q", got)
	}
	for in, want := range map[string]string{"=1+1": "'=1+1", "+x": "'+x", "-2": "'-2", "@SUM": "'@SUM", "num_parallel=4": "num_parallel=4", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMermaidText(t *testing.T) {
	if got := mermaidText(`4"]; click x call evil()%%<b>`); strings.ContainsAny(got, "\"[];%<>") {
		t.Errorf("mermaidText kept a delimiter: %q", got)
	}
	src := comparisonMermaid(&analysis.Comparison{By: "num_parallel", Settings: []*analysis.Setting{
		{Value: "1", Judged: &analysis.Level{OutputTokensPerS: 650, Concurrency: 8}},
		{Value: "4\"\n]", Judged: &analysis.Level{OutputTokensPerS: 1064, Concurrency: 8}},
	}})
	want := "xychart-beta\n    title \"Output tok/s by num_parallel at c=8\"\n    x-axis \"num_parallel\" [\"1\", \"4\"]\n    y-axis \"output tok/s\" 0 --> 2000\n    bar [650.0, 1064.0]\n"
	if src != want {
		t.Errorf("mermaid =\n%s\nwant\n%s", src, want)
	}
}

func TestHTMLEscapes(t *testing.T) {
	d := &document{}
	d.h(1, hostileText)
	d.p(plain(hostileText), strong(hostileText), code(hostileText))
	d.add(table{cols: []column{{name: hostileText}}, rows: [][]string{{hostileText}}})
	d.add(list{[][]span{{plain(hostileText)}}})
	d.add(figure{alt: hostileText, file: "a b\".svg"})
	var buf bytes.Buffer
	if err := d.writeHTML(&buf, "charts dir", hostileText); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"<script", "<img src=x", "\x1b", "\u202e", `"a b".svg`} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML holds %q", bad)
		}
	}
	if !strings.Contains(out, `src="charts%20dir/a%20b%22.svg"`) {
		t.Errorf("figure link not escaped: %s", out)
	}
}

func TestTextWrapAndTable(t *testing.T) {
	if got := wrap("aaa bbb ccc ddd", 7, "  "); got != "aaa bbb\n  ccc\n  ddd" {
		t.Errorf("wrap = %q", got)
	}
	// A word that the wrapping puts at a line's start is no workflow command there.
	if got := wrap("::a bbb ::error::x ::c", 9, "  "); got != ": :a bbb\n  : :error::x\n  : :c" {
		t.Errorf("wrap = %q", got)
	}
	d := &document{}
	d.add(table{cols: []column{{name: "name"}, {name: "n", right: true}}, rows: [][]string{{"long name", "1"}, {"x", "100"}}})
	var buf bytes.Buffer
	if err := d.writeText(&buf); err != nil {
		t.Fatal(err)
	}
	want := "name         n\nlong name    1\nx          100\n"
	if buf.String() != want {
		t.Errorf("text table =\n%s\nwant\n%s", buf.String(), want)
	}
}
