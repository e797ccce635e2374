package report

import (
	"html"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/llmload/llmload/report/printable"
)

// A document is a report before it has a format: headings, paragraphs, tables, lists,
// figures and Mermaid charts. Markdown, text and HTML render the same document, so the
// formats cannot drift apart, and all text from results files is escaped in one place per
// format.
type document struct {
	blocks []block
}

type block interface{ isBlock() }

type heading struct {
	level int
	text  string
}

// span is a run of inline text; its text is plain (renderers escape it).
type span struct {
	text   string
	strong bool
	code   bool
}

type paragraph struct{ spans []span }

type column struct {
	name  string
	right bool // numbers align right
}

type table struct {
	cols []column
	rows [][]string
}

type list struct{ items [][]span }

// figure is a chart written to the charts folder; file is its name there. svg, when set, is
// the chart itself, for a page that holds it inline.
type figure struct {
	alt  string
	file string
	svg  []byte
}

// mermaid is a Mermaid diagram for renderers that show one (GitHub's markdown).
type mermaid struct{ src string }

// details is a part a reader opens on demand (GitHub and browsers fold it); a terminal
// shows it all.
type details struct {
	summary string
	blocks  []block
}

func (heading) isBlock()   {}
func (paragraph) isBlock() {}
func (table) isBlock()     {}
func (list) isBlock()      {}
func (figure) isBlock()    {}
func (mermaid) isBlock()   {}
func (details) isBlock()   {}

func (d *document) h(level int, text string) { d.blocks = append(d.blocks, heading{level, text}) }
func (d *document) p(spans ...span) {
	if len(spans) > 0 {
		d.blocks = append(d.blocks, paragraph{spans})
	}
}
func (d *document) add(b block) { d.blocks = append(d.blocks, b) }

func plain(s string) span  { return span{text: s} }
func strong(s string) span { return span{text: s, strong: true} }
func code(s string) span   { return span{text: s, code: true} }

// clean removes what must never reach a reader from untrusted text (see printable.Line):
// control characters, bidirectional overrides, line breaks (a value stays on its line or in
// its table cell), a workflow command at its start.
func clean(s string) string { return printable.Line(s) }

// mdEscape makes untrusted text inert inside a line of GitHub-flavoured markdown, in
// paragraphs and table cells alike: no emphasis, code, links, images, HTML, entities, math
// or cell breaks. It leaves ordinary text readable in a pager: an underscore inside a word
// (num_parallel) cannot start emphasis and is left alone. mdBlockStart handles what only
// matters at the start of a line.
func mdEscape(s string) string {
	rs := []rune(clean(s))
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case '\\', '`', '*', '[', ']', '<', '>', '|', '~', '$':
			b.WriteByte('\\')
		case '_':
			inWord := i > 0 && i+1 < len(rs) && isWordRune(rs[i-1]) && isWordRune(rs[i+1])
			if !inWord {
				b.WriteByte('\\')
			}
		case '&':
			// Only an entity-like "&name;" or "&#…" would be decoded.
			if i+1 < len(rs) && (rs[i+1] == '#' || unicode.IsLetter(rs[i+1])) {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdBlockStart escapes what would turn a rendered line into another block: a heading, a
// list item, a thematic break.
func mdBlockStart(line string) string {
	if line == "" {
		return line
	}
	switch line[0] {
	case '#', '+', '-', '=':
		return "\\" + line
	}
	j := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsDigit(r) })
	if j > 0 && (line[j] == '.' || line[j] == ')') {
		return line[:j] + "\\" + line[j:]
	}
	return line
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// mdCode writes a code span that holds any text literally.
func mdCode(s string) string {
	s = clean(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || s == "" {
		pad = " "
	}
	// In a table a pipe ends the cell even inside a code span; GFM takes \| there.
	return fence + pad + strings.ReplaceAll(s, "|", "\\|") + pad + fence
}

// chartURL is how a report links to a chart: the charts link plus the file, each path
// segment escaped.
func chartURL(link, file string) string {
	var parts []string
	for _, seg := range strings.Split(strings.TrimSuffix(link, "/"), "/") {
		parts = append(parts, url.PathEscape(seg))
	}
	parts = append(parts, url.PathEscape(file))
	return strings.TrimPrefix(strings.Join(parts, "/"), "/")
}

// writeMarkdown renders d as GitHub-flavoured markdown; figures link to chartsLink/file.
func (d *document) writeMarkdown(w io.Writer, chartsLink string) error {
	ew := &errWriter{w: w}
	writeMarkdownBlocks(ew, d.blocks, chartsLink)
	return ew.err
}

func writeMarkdownBlocks(ew *errWriter, blocks []block, chartsLink string) {
	for i, b := range blocks {
		if i > 0 {
			ew.printf("\n")
		}
		switch b := b.(type) {
		case heading:
			ew.printf("%s %s\n", strings.Repeat("#", b.level), mdBlockStart(mdEscape(b.text)))
		case paragraph:
			ew.printf("%s\n", mdBlockStart(mdSpans(b.spans)))
		case table:
			var head, sep []string
			for _, c := range b.cols {
				head = append(head, mdEscape(c.name))
				if c.right {
					sep = append(sep, "---:")
				} else {
					sep = append(sep, "---")
				}
			}
			ew.printf("| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(sep, "|"))
			for _, row := range b.rows {
				cells := make([]string, len(b.cols))
				for j := range cells {
					if j < len(row) {
						cells[j] = mdEscape(row[j])
					}
				}
				ew.printf("| %s |\n", strings.Join(cells, " | "))
			}
		case list:
			for _, item := range b.items {
				ew.printf("- %s\n", mdBlockStart(mdSpans(item)))
			}
		case figure:
			ew.printf("![%s](%s)\n", mdEscape(b.alt), chartURL(chartsLink, b.file))
		case mermaid:
			ew.printf("```mermaid\n%s```\n", b.src)
		case details:
			// GitHub renders markdown inside <details> when blank lines surround it; the
			// summary is HTML text.
			ew.printf("<details>\n<summary>%s</summary>\n\n", html.EscapeString(clean(b.summary)))
			writeMarkdownBlocks(ew, b.blocks, chartsLink)
			ew.printf("\n</details>\n")
		}
	}
}

func mdSpans(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		switch {
		case s.code:
			b.WriteString(mdCode(s.text))
		case s.strong:
			b.WriteString("**" + mdEscape(s.text) + "**")
		default:
			b.WriteString(mdEscape(s.text))
		}
	}
	return b.String()
}

// writeText renders d for a terminal: the same headings, paragraphs and tables, without
// figures or diagrams. Columns line up by characters.
func (d *document) writeText(w io.Writer) error {
	ew := &errWriter{w: w}
	writeTextBlocks(ew, flatten(d.blocks))
	return ew.err
}

// flatten opens every details block: a terminal has nothing to fold.
func flatten(blocks []block) []block {
	var out []block
	for _, b := range blocks {
		if d, ok := b.(details); ok {
			out = append(out, flatten(d.blocks)...)
			continue
		}
		out = append(out, b)
	}
	return out
}

func writeTextBlocks(ew *errWriter, blocks []block) {
	first := true
	for _, b := range blocks {
		switch b.(type) {
		case figure, mermaid:
			continue
		}
		if !first {
			ew.printf("\n")
		}
		first = false
		switch b := b.(type) {
		case heading:
			t := clean(b.text)
			switch b.level {
			case 1:
				ew.printf("%s\n%s\n", t, strings.Repeat("=", utf8.RuneCountInString(t)))
			case 2:
				ew.printf("%s\n%s\n", t, strings.Repeat("-", utf8.RuneCountInString(t)))
			default:
				ew.printf("%s:\n", t)
			}
		case paragraph:
			ew.printf("%s\n", wrap(textSpans(b.spans), TextWidth, ""))
		case table:
			writeTextTable(ew, b)
		case list:
			for _, item := range b.items {
				ew.printf("  - %s\n", wrap(textSpans(item), TextWidth-4, "    "))
			}
		}
	}
}

func textSpans(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(clean(s.text))
	}
	return b.String()
}

// wrap breaks text into lines of at most width characters at spaces; later lines start
// with indent. A word that starts a line cannot start a CI workflow command there (see
// printable.Line).
func wrap(s string, width int, indent string) string {
	words := strings.Fields(s)
	var b strings.Builder
	line := 0
	for i, word := range words {
		n := utf8.RuneCountInString(word)
		starts := i == 0
		if i > 0 {
			if line+1+n > width {
				b.WriteString("\n" + indent)
				line = utf8.RuneCountInString(indent)
				starts = true
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		if starts {
			word = printable.Line(word)
		}
		b.WriteString(word)
		line += n
	}
	return b.String()
}

// writeTextTable prints t within TextWidth columns (see fitTable).
func writeTextTable(ew *errWriter, t table) {
	cols := make([]column, len(t.cols))
	for j, c := range t.cols {
		cols[j] = column{name: clean(c.name), right: c.right}
	}
	rows := make([][]string, len(t.rows))
	for i, row := range t.rows {
		rows[i] = make([]string, len(row))
		for j, v := range row {
			rows[i][j] = clean(v)
		}
	}
	for _, l := range fitTable(cols, rows, TextWidth, "") {
		ew.printf("%s\n", l)
	}
}

// writeHTML renders d as one standalone page: figures drawn inline are SVG elements in it (a
// page that can be mailed or attached to a CI job as it is), others <img> tags pointing into
// the charts folder. Mermaid blocks are left out: the SVG charts show the same figures.
func (d *document) writeHTML(w io.Writer, chartsLink, title string) error {
	ew := &errWriter{w: w}
	ew.printf("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>\n%s</style>\n</head>\n<body>\n", html.EscapeString(clean(title)), htmlStyle)
	writeHTMLBlocks(ew, d.blocks, chartsLink)
	ew.printf("</body>\n</html>\n")
	return ew.err
}

func writeHTMLBlocks(ew *errWriter, blocks []block, chartsLink string) {
	for _, b := range blocks {
		switch b := b.(type) {
		case heading:
			ew.printf("<h%d>%s</h%d>\n", b.level, html.EscapeString(clean(b.text)), b.level)
		case paragraph:
			ew.printf("<p>%s</p>\n", htmlSpans(b.spans))
		case table:
			ew.printf("<table>\n<thead><tr>")
			for _, c := range b.cols {
				ew.printf("<th%s>%s</th>", alignAttr(c), html.EscapeString(clean(c.name)))
			}
			ew.printf("</tr></thead>\n<tbody>\n")
			for _, row := range b.rows {
				ew.printf("<tr>")
				for j, c := range b.cols {
					v := ""
					if j < len(row) {
						v = row[j]
					}
					ew.printf("<td%s>%s</td>", alignAttr(c), html.EscapeString(clean(v)))
				}
				ew.printf("</tr>\n")
			}
			ew.printf("</tbody>\n</table>\n")
		case list:
			ew.printf("<ul>\n")
			for _, item := range b.items {
				ew.printf("<li>%s</li>\n", htmlSpans(item))
			}
			ew.printf("</ul>\n")
		case figure:
			if len(b.svg) > 0 {
				// The plotting library escapes every text it draws; the alt text is ours.
				ew.printf("<figure role=\"img\" aria-label=\"%s\">\n%s</figure>\n", html.EscapeString(clean(b.alt)), b.svg)
				continue
			}
			ew.printf("<p><img src=\"%s\" alt=\"%s\"></p>\n", html.EscapeString(chartURL(chartsLink, b.file)), html.EscapeString(clean(b.alt)))
		case details:
			ew.printf("<details>\n<summary>%s</summary>\n", html.EscapeString(clean(b.summary)))
			writeHTMLBlocks(ew, b.blocks, chartsLink)
			ew.printf("</details>\n")
		}
	}
}

const htmlStyle = `body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #1f2328; line-height: 1.5; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; }
th { background: #f6f8fa; }
.r { text-align: right; font-variant-numeric: tabular-nums; }
img, figure svg { max-width: 100%; height: auto; }
figure { margin: 1em 0; }
code { background: #eff1f3; padding: 0 4px; border-radius: 4px; }
h1, h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
summary { cursor: pointer; font-weight: 600; margin: .5em 0; }
`

func alignAttr(c column) string {
	if c.right {
		return ` class="r"`
	}
	return ""
}

func htmlSpans(spans []span) string {
	var b strings.Builder
	for _, s := range spans {
		t := html.EscapeString(clean(s.text))
		switch {
		case s.code:
			b.WriteString("<code>" + t + "</code>")
		case s.strong:
			b.WriteString("<strong>" + t + "</strong>")
		default:
			b.WriteString(t)
		}
	}
	return b.String()
}
