package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/mp3converter/mp3converter/client"
)

func testJobs(failed bool) []client.Job {
	at := time.Date(2026, 12, 6, 17, 58, 0, 0, time.UTC)
	reason := "not a video or audio file ffmpeg can read"
	mp3 := "6b08de244648dd0d773a1f70"
	jobs := []client.Job{
		{ID: "6b08de244648dd0d773a1f61", Status: "processing", Progress: 0.42, Filename: "a long holiday film from the summer of 2025, part one.mkv", Duration: 5400, Size: 1_234_567_890, CreatedAt: at},
		{ID: "6b08de244648dd0d773a1f62", Status: "done", Progress: 1, Filename: "東京の夜景と音楽のドキュメンタリー.mp4", Duration: 4, Size: 154_000, MP3Size: 87_400, MP3FID: &mp3, CreatedAt: at},
		{ID: "6b08de244648dd0d773a1f63", Status: "queued", Filename: "talk.mp4", Size: 999_999, CreatedAt: at},
	}
	if failed {
		jobs = append(jobs, client.Job{ID: "6b08de244648dd0d773a1f64", Status: "failed", Filename: "notes.txt", Size: 48, Error: &reason, CreatedAt: at})
	}
	return jobs
}

// TestPrintJobs: at 80 cells no line is wider, long names are cut with
// an ellipsis by display width, sizes are the page's, and the ERROR
// column is there only when a job failed; without a width, lines are
// whole.
func TestPrintJobs(t *testing.T) {
	for _, failed := range []bool{false, true} {
		var b strings.Builder
		if err := printJobs(&b, 80, testJobs(failed), false); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		t.Logf("80 cells, failed %v:\n%s", failed, out)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for _, l := range lines {
			if runewidth.StringWidth(l) > 80 {
				t.Errorf("a line of %d cells: %q", runewidth.StringWidth(l), l)
			}
		}
		if got := strings.Contains(lines[0], "ERROR"); got != failed {
			t.Errorf("ERROR column %v with failed %v", got, failed)
		}
		for _, want := range []string{"a long holiday", "…", "processing 42%", "1.2 GB", "154 KB", "87 KB", "1000 KB", "1:30:00", "0:04"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q", want)
			}
		}
		if failed && !strings.Contains(out, "not a video") {
			t.Error("no reason")
		}
	}
	var b strings.Builder
	printJobs(&b, 0, testJobs(true), true)
	t.Logf("no width:\n%s", b.String())
	for _, want := range []string{"a long holiday film from the summer of 2025, part one.mkv", "東京の夜景と音楽のドキュメンタリー.mp4", "6b08de244648dd0d773a1f64", "not a video or audio file ffmpeg can read", "OWNER"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("whole lines lack %q", want)
		}
	}
}
