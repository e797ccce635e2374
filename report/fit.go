package report

import (
	"github.com/llmload/llmload/report/printable"
	"strings"
	"unicode/utf8"
)

// TextWidth is how wide the terminal output is kept: the run summary, the sweep's comparison
// and `report --format text` fit a classic 80-column terminal.
const TextWidth = 80

// fitTable lays a table out for a terminal of width columns: a column is as wide as its widest
// cell, its name wrapped onto more lines when that alone would make the table too wide, and a
// table still too wide is split into several, each repeating the first column (the row's
// name), as kubectl and go test's consumers wrap. Cells are taken as they are (clean them
// first); indent starts every line.
func fitTable(cols []column, rows [][]string, width int, indent string) []string {
	if len(cols) == 0 {
		return nil
	}
	cell := func(row []string, j int) string {
		if j < len(row) {
			return row[j]
		}
		return ""
	}
	data := make([]int, len(cols)) // the widest cell
	full := make([]int, len(cols)) // with the name on one line
	narrow := make([]int, len(cols))
	for j, c := range cols {
		for _, row := range rows {
			data[j] = max(data[j], runes(cell(row, j)))
		}
		full[j] = max(data[j], runes(c.name))
		narrow[j] = data[j]
		for _, w := range strings.Fields(c.name) {
			narrow[j] = max(narrow[j], runes(w))
		}
	}
	avail := width - runes(indent)
	widths := full
	if total(full) > avail {
		widths = narrow
		// A text column (a note, an error) wraps its cells rather than push the table past
		// the width: it gets at most what is left beside the first column.
		for j := 1; j < len(cols); j++ {
			if !cols[j].right {
				widths[j] = min(widths[j], max(avail-widths[0]-2, 20))
			}
		}
	}
	var out []string
	for i, group := range groups(widths, avail) {
		if i > 0 {
			out = append(out, "")
		}
		out = append(out, renderGroup(cols, rows, widths, group, indent, cell)...)
	}
	// A cell's words that a line starts with, once wrapped, cannot start a CI workflow
	// command there (see printable.Line).
	for i, l := range out {
		out[i] = printable.Line(l)
	}
	return out
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// total is the width of columns of these widths side by side, two spaces apart.
func total(widths []int) int {
	t := 0
	for j, w := range widths {
		if j > 0 {
			t += 2
		}
		t += w
	}
	return t
}

// groups splits the columns into tables that fit avail, each starting with column 0.
func groups(widths []int, avail int) [][]int {
	var out [][]int
	cur := []int{0}
	used := widths[0]
	for j := 1; j < len(widths); j++ {
		if len(cur) > 1 && used+2+widths[j] > avail {
			out = append(out, cur)
			cur, used = []int{0}, widths[0]
		}
		cur = append(cur, j)
		used += 2 + widths[j]
	}
	return append(out, cur)
}

// renderGroup writes the columns of group: the names wrapped to their widths and aligned to
// the bottom (next to the numbers), then the rows.
func renderGroup(cols []column, rows [][]string, widths, group []int, indent string, cell func([]string, int) string) []string {
	heads := make([][]string, len(group))
	lines := 1
	for k, j := range group {
		heads[k] = wrapWords(cols[j].name, widths[j])
		lines = max(lines, len(heads[k]))
	}
	line := func(text func(k int) string) string {
		var b strings.Builder
		b.WriteString(indent)
		for k, j := range group {
			s := text(k)
			pad := strings.Repeat(" ", max(0, widths[j]-runes(s)))
			if k > 0 {
				b.WriteString("  ")
			}
			switch {
			case cols[j].right:
				b.WriteString(pad + s)
			case k < len(group)-1:
				b.WriteString(s + pad)
			default:
				b.WriteString(s)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	var out []string
	for l := 0; l < lines; l++ {
		out = append(out, line(func(k int) string {
			h := heads[k]
			if i := l - (lines - len(h)); i >= 0 {
				return h[i]
			}
			return ""
		}))
	}
	for _, row := range rows {
		// A cell wider than its column goes on as many lines as it needs.
		parts := make([][]string, len(group))
		n := 1
		for k, j := range group {
			parts[k] = []string{cell(row, j)}
			if runes(parts[k][0]) > widths[j] {
				parts[k] = wrapWords(parts[k][0], widths[j])
			}
			n = max(n, len(parts[k]))
		}
		for l := 0; l < n; l++ {
			out = append(out, line(func(k int) string {
				if l < len(parts[k]) {
					return parts[k][l]
				}
				return ""
			}))
		}
	}
	return out
}

// wrapWords breaks s at spaces into lines of at most width runes (a longer word stays whole).
func wrapWords(s string, width int) []string {
	var out []string
	cur := ""
	for _, w := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = w
		case runes(cur)+1+runes(w) <= width:
			cur += " " + w
		default:
			out = append(out, cur)
			cur = w
		}
	}
	return append(out, cur)
}
