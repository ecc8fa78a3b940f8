package cmdio_test

import (
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	"github.com/mp3converter/mp3converter/internal/cmdio"
)

var tableCols = []cmdio.Column{
	{Header: "ID", Drop: 1},
	{Header: "STATUS"},
	{Header: "FILE", Min: 8},
	{Header: "SIZE", Right: true, Drop: 2},
	{Header: "ERROR", Min: 6},
}

var tableRows = [][]string{
	{"6b08de244648dd0d773a1f61", "done", "holiday in Kyōto.mp4", "154 KB", ""},
	{"6b08de244648dd0d773a1f62", "failed", "東京の夜景と音楽.mkv", "48 B", "not a video or\naudio file ffmpeg can read"},
}

func fit(t *testing.T, width int) []string {
	t.Helper()
	var b strings.Builder
	if err := cmdio.FitTable(&b, width, tableCols, tableRows); err != nil {
		t.Fatal(err)
	}
	t.Logf("width %d:\n%s", width, b.String())
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// TestFitTableWhole: without a width every cell is whole, columns line up
// by display width (a CJK character is two cells) and a cell is one line.
func TestFitTableWhole(t *testing.T) {
	lines := fit(t, 0)
	want := []string{
		"ID                        STATUS  FILE                    SIZE  ERROR",
		"6b08de244648dd0d773a1f61  done    holiday in Kyōto.mp4  154 KB",
		"6b08de244648dd0d773a1f62  failed  東京の夜景と音楽.mkv    48 B  not a video or audio file ffmpeg can read",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestFitTableNarrow: at each width no line is wider; the cuttable
// columns are cut with an ellipsis on a character's edge, and the ID,
// then SIZE, go when even that does not fit.
func TestFitTableNarrow(t *testing.T) {
	for _, tt := range []struct {
		width        int
		id, size     bool // shown
		fileEllipsis bool
	}{
		{120, true, true, false},
		{80, true, true, true},
		{50, false, true, true},
		{30, false, false, true},
		{20, false, false, true}, // even so too wide: lines cut
	} {
		lines := fit(t, tt.width)
		for _, l := range lines {
			if w := runewidth.StringWidth(l); w > tt.width {
				t.Errorf("width %d: a line of %d cells: %q", tt.width, w, l)
			}
		}
		if got := strings.HasPrefix(lines[0], "ID"); got != tt.id {
			t.Errorf("width %d: ID shown %v, want %v", tt.width, got, tt.id)
		}
		if got := strings.Contains(lines[0], "SIZE"); got != tt.size {
			t.Errorf("width %d: SIZE shown %v, want %v", tt.width, got, tt.size)
		}
		if got := strings.Contains(lines[2], "…"); got != tt.fileEllipsis {
			t.Errorf("width %d: a cut cell %v, want %v: %q", tt.width, got, tt.fileEllipsis, lines[2])
		}
		for _, l := range lines {
			if strings.ContainsRune(l, '\uFFFD') {
				t.Errorf("width %d: a character cut in two: %q", tt.width, l)
			}
		}
	}
}

func TestOneLineUTF8(t *testing.T) {
	got := cmdio.OneLine(strings.Repeat("é", 100))
	if !strings.HasSuffix(got, "...") || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') || len(got) > 120 {
		t.Errorf("OneLine of 100 é = %q", got)
	}
}
