package cmdio

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"
)

// Column is a column of a table that FitTable lays out.
type Column struct {
	Header string
	// Min, if not 0, lets the column be cut to fit, with an ellipsis, but
	// not below Min cells (file names, reasons).
	Min int
	// Drop, if not 0, lets the column be left out when the table does not
	// fit even with every cuttable column at its Min: the lowest Drop
	// goes first.
	Drop int
	// Right aligns the cells to the right (numbers).
	Right bool
}

// gap is the cells between two columns.
const gap = 2

// FitTable writes rows under the columns' headers, each column as wide as
// its widest cell, counted in terminal cells: a CJK character takes two,
// a combining accent none. Each cell is made one line, its control
// characters spaces.
//
// A width above 0 is the most cells a line may take (a terminal's): the
// cuttable columns are cut, with "…", down to their Min, then columns are
// left out in their Drop order until the lines fit; the room left is
// shared among the cut columns. Should the table still not fit (a very
// narrow terminal), each line is cut at width. A width of 0 or less
// writes every cell whole and every column.
func FitTable(w io.Writer, width int, cols []Column, rows [][]string) error {
	clean := make([][]string, len(rows))
	for r, row := range rows {
		clean[r] = make([]string, len(cols))
		for c := range cols {
			if c < len(row) {
				clean[r][c] = cell(row[c])
			}
		}
	}
	natural := make([]int, len(cols))
	for c, col := range cols {
		natural[c] = runewidth.StringWidth(col.Header)
		for _, row := range clean {
			natural[c] = max(natural[c], runewidth.StringWidth(row[c]))
		}
	}
	widths, shown := layout(cols, natural, width)
	bw := bufio.NewWriter(w)
	line := func(cells func(c int) string) {
		var b strings.Builder
		last := shown[len(shown)-1]
		for k, c := range shown {
			if k > 0 {
				b.WriteString(strings.Repeat(" ", gap))
			}
			s := runewidth.Truncate(cells(c), widths[c], "…")
			pad := strings.Repeat(" ", widths[c]-runewidth.StringWidth(s))
			switch {
			case cols[c].Right:
				b.WriteString(pad + s)
			case c == last:
				b.WriteString(s)
			default:
				b.WriteString(s + pad)
			}
		}
		out := strings.TrimRight(b.String(), " ")
		if width > 0 {
			out = runewidth.Truncate(out, width, "…")
		}
		bw.WriteString(out + "\n")
	}
	line(func(c int) string { return cols[c].Header })
	for _, row := range clean {
		line(func(c int) string { return row[c] })
	}
	return bw.Flush()
}

// layout returns each column's width and the columns shown, in order.
func layout(cols []Column, natural []int, width int) (widths []int, shown []int) {
	widths = append([]int(nil), natural...)
	drop := make([]bool, len(cols))
	if width <= 0 {
		return widths, visible(drop)
	}
	least := func(c int) int {
		if cols[c].Min > 0 {
			return min(natural[c], cols[c].Min)
		}
		return natural[c]
	}
	need := func() int {
		n := 0
		for _, c := range visible(drop) {
			n += least(c) + gap
		}
		return n - gap
	}
	for need() > width && len(visible(drop)) > 1 {
		next := -1
		for _, c := range visible(drop) {
			if cols[c].Drop > 0 && (next < 0 || cols[c].Drop < cols[next].Drop) {
				next = c
			}
		}
		if next < 0 {
			break
		}
		drop[next] = true
	}
	shown = visible(drop)
	total := 0
	for _, c := range shown {
		total += natural[c] + gap
	}
	if total-gap <= width {
		return widths, shown
	}
	// Cut: each cuttable column starts at its least and takes a cell in
	// turn until the room is used or it is whole.
	room := width - need()
	for _, c := range shown {
		widths[c] = least(c)
	}
	for grew := true; room > 0 && grew; {
		grew = false
		for _, c := range shown {
			if room > 0 && widths[c] < natural[c] {
				widths[c]++
				room--
				grew = true
			}
		}
	}
	return widths, shown
}

func visible(drop []bool) []int {
	var out []int
	for c, d := range drop {
		if !d {
			out = append(out, c)
		}
	}
	return out
}

// cell is s on one line: runs of white space and control characters made
// one space.
func cell(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// Width is the cells a line written to w may take: the terminal's width
// when w is one (80 if the terminal does not say), else $COLUMNS if set,
// else 0, no limit: a pipe or a file gets whole lines, as grep, less -S and
// a script want them.
func Width(w io.Writer) int {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
		return columnsEnv(80)
	}
	return columnsEnv(0)
}

func columnsEnv(def int) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return def
}
