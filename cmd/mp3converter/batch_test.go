package main

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestBatchedUploads: short uploads that wait for a worker are converted
// together, fewer runs of ffmpeg than jobs, and each ends as it would
// alone, seen through the API: done with its own length, options and
// title, or, for a damaged upload among them, failed with its own reason.
// While it waits for a worker a job shows queued.
func TestBatchedUploads(t *testing.T) {
	cfg := testConfig(t)
	cfg.Workers = runtime.NumCPU() // as many as cores: the uploads past them wait
	script, runs := testmedia.CountingFFmpeg(t, "1")
	cfg.FFmpeg = script
	_, c := startWithAnn(t, cfg)
	type upload struct {
		src, query string
		seconds    float64 // the MP3's; 0: the damaged one
		title      string
	}
	var ups []upload
	for i := range 3 * cfg.Workers {
		kinds := []testmedia.Kind{testmedia.MP4, testmedia.MKV, testmedia.WebM}
		ups = append(ups, upload{testmedia.Make(t, kinds[i%3], float64(2+i%3)), "?filename=clip.mp4", float64(2 + i%3), "clip"})
	}
	ups[cfg.Workers+1] = upload{testmedia.Make(t, testmedia.MP4, 6), "?filename=cut.mp4&start=1&end=4&title=Cut", 3, "Cut"}
	ups[cfg.Workers+2] = upload{testmedia.Damaged(t), "?filename=damaged.mp4", 0, ""}
	var ids []string
	for _, u := range ups {
		resp, b := c.rawUpload(u.src, "video/mp4", u.query, "")
		ids = append(ids, c.accepted(u.query, resp, b).JobID)
	}
	if j, _ := c.job(ids[len(ids)-1]); j.Status != "queued" {
		t.Errorf("the last upload, behind %d others on %d workers: %s, want queued", len(ids)-1, cfg.Workers, j.Status)
	}
	for i, u := range ups {
		j := c.waitJob(ids[i], 2*time.Minute)
		if u.seconds == 0 {
			if j.Status != "failed" || !strings.Contains(deref(j.Error), "damaged") || j.Attempts != 1 {
				t.Errorf("the damaged upload: %s %q after %d attempts", j.Status, deref(j.Error), j.Attempts)
			}
			continue
		}
		if j.Status != "done" {
			t.Fatalf("upload %d: %s %q", i, j.Status, deref(j.Error))
		}
		path, _ := c.download(*j.MP3FID, t.TempDir())
		if d := testmedia.Decoded(t, path); math.Abs(d-u.seconds) > 0.1 || testmedia.Tags(t, path)["title"] != u.title {
			t.Errorf("upload %d: the MP3 plays %.2f s, titled %q; want %v s, %q", i, d, testmedia.Tags(t, path)["title"], u.seconds, u.title)
		}
	}
	if got := runs(); got >= len(ups) {
		t.Errorf("%d runs of ffmpeg for %d uploads: none shared", got, len(ups))
	}
	t.Logf("%d runs of ffmpeg for %d uploads on %d workers", runs(), len(ups), cfg.Workers)
}
