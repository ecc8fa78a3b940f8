package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// scratchEntries counts what the serve process's conversions left in its
// scratch dir.
func scratchEntries(dataDir string) int {
	entries, _ := os.ReadDir(filepath.Join(dataDir, "tmp"))
	return len(entries)
}

// startWithAnn starts serve with cfg and logs in its user ann.
func startWithAnn(t *testing.T, cfg app.Config) (*testServer, *client) {
	t.Helper()
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	return srv, login(t, srv.URL, "ann@example.com", "ann-password")
}

// TestDurationLimitAttack: a raw AAC stream with a loud start and a long
// silent tail probes far shorter than the limit but plays far longer. The
// converter does not trust the probe: ffmpeg stops at the limit, so no more
// than the limit's worth is decoded and written, and the job fails once,
// saying the audio is longer than the limit (not that the file is damaged).
func TestDurationLimitAttack(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDuration = 20 * time.Second
	srv, c := startWithAnn(t, cfg)

	src := testmedia.SilentTail(t, 5, 120)
	_, probed := testmedia.Probe(t, src)
	decoded := testmedia.Decoded(t, src)
	if probed >= cfg.MaxDuration.Seconds() || decoded < 119 {
		t.Fatalf("the trick does not work: ffprobe says %.1f s, ffmpeg decodes %.1f s; want under %v and 120 s", probed, decoded, cfg.MaxDuration)
	}
	fi, _ := os.Stat(src)

	start := time.Now()
	j := c.waitJob(c.upload(src, "talk.aac").JobID, 30*time.Second)
	took := time.Since(start)
	if j.Status != "failed" || deref(j.Error) != "the audio is longer than the 20s limit" || j.Attempts != 1 {
		t.Fatalf("job %s after %d attempts: %q; want failed after 1: the audio is longer than the 20s limit", j.Status, j.Attempts, deref(j.Error))
	}
	m := regexp.MustCompile(`stopped after ([0-9.]+) s of audio, ([0-9]+) bytes of MP3`).FindStringSubmatch(srv.logs.String())
	if m == nil {
		t.Fatal("no ConversionFailed log line with what ffmpeg decoded")
	}
	stoppedAt, _ := strconv.ParseFloat(m[1], 64)
	written, _ := strconv.ParseInt(m[2], 10, 64)
	maxBytes := int64((cfg.MaxDuration.Seconds()+1)*320_000/8) + 64<<10 // 320 kbit/s for the limit, plus headers
	if stoppedAt > cfg.MaxDuration.Seconds()+1.5 || written > maxBytes {
		t.Errorf("ffmpeg decoded %.1f s into %d bytes; want at most %v and %d bytes", stoppedAt, written, cfg.MaxDuration, maxBytes)
	}
	report(t, "duration-limit-attack.md", "| upload | probed | plays | limit | decoded | MP3 written | job took |\n|---|---|---|---|---|---|---|\n",
		[][]string{{strconv.FormatInt(fi.Size(), 10) + " B", strconv.FormatFloat(probed, 'f', 1, 64) + " s",
			strconv.FormatFloat(decoded, 'f', 1, 64) + " s", cfg.MaxDuration.String(), strconv.FormatFloat(stoppedAt, 'f', 1, 64) + " s",
			strconv.FormatInt(written, 10) + " B", took.Round(time.Millisecond).String()}})
	if n := ffmpegChildren(t); n != 0 {
		t.Errorf("%d ffmpeg processes still run", n)
	}
	if n := scratchEntries(cfg.DataDir); n != 0 {
		t.Errorf("%d scratch entries left", n)
	}
}

// deleteJob sends DELETE /jobs/{id} and expects 204.
func (c *client) deleteJob(id string) {
	c.t.Helper()
	if resp, b := do(c.t, c.request("DELETE", "/jobs/"+id, nil)); resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("DELETE /jobs/%s: %s %s", id, resp.Status, b)
	}
}

// longVideo is a video whose conversion takes several seconds.
func longVideo(t *testing.T) string { return testmedia.Make(t, testmedia.MKV, 600) }

// TestDeleteStopsConversion: DELETE of a job that is converting stops its
// ffmpeg and frees its scratch files within about 2 s.
func TestDeleteStopsConversion(t *testing.T) {
	cfg := testConfig(t)
	_, c := startWithAnn(t, cfg)
	id := c.upload(longVideo(t), "long.mkv").JobID
	testsupport.Eventually(t, 30*time.Second, "conversion under way", func() bool {
		j, _ := c.job(id)
		return j.Status == "processing" && j.Progress > 0 && ffmpegChildren(t) > 0
	})
	deleted := time.Now()
	c.deleteJob(id)
	testsupport.Eventually(t, 2*time.Second, "ffmpeg stopped and scratch freed", func() bool {
		return ffmpegChildren(t) == 0 && scratchEntries(cfg.DataDir) == 0
	})
	t.Logf("ffmpeg gone and scratch empty %v after the DELETE", time.Since(deleted).Round(time.Millisecond))
	if _, code := c.job(id); code != http.StatusNotFound {
		t.Errorf("GET deleted job: %d", code)
	}
}

// TestFairShare: with 2 workers (and so one job per user at a time when
// others wait), a user alone takes both workers; a user who queues a short
// clip behind that user's 4 long conversions waits for one of them to end,
// not for the queue: the clip is done before a third of ann's jobs, queued
// before it, and none of ann's deferred jobs spends an attempt.
func TestFairShare(t *testing.T) {
	srv, ann := startWithAnn(t, testConfig(t))
	srv.addUser(t, "bob@example.com", "bob-password", false)
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	long := longVideo(t)
	var anns []string
	for i := range 4 {
		anns = append(anns, ann.upload(long, "long-"+strconv.Itoa(i+1)+".mkv").JobID)
	}
	testsupport.Eventually(t, 30*time.Second, "ann alone on both workers", func() bool { return annStates(ann, anns)["processing"] == 2 })
	start := time.Now()
	// The order is the claim, not the time: on a loaded machine ann's
	// conversions, which bob's clip waits for, have taken over a minute.
	b := bob.waitJob(bob.upload(testmedia.Make(t, testmedia.MP4, 1), "clip.mp4").JobID, 3*time.Minute)
	bobTook := time.Since(start)
	if b.Status != "done" {
		t.Fatalf("bob's clip: %s %q", b.Status, deref(b.Error))
	}
	states := annStates(ann, anns)
	t.Logf("bob's clip done %v after upload; ann's jobs then: %v", bobTook.Round(time.Millisecond), states)
	// In the queue's order, bob's clip would follow all four: 3 done.
	if states["done"] > 2 {
		t.Errorf("when bob's clip was done, ann's jobs were %v; want at most the 2 that held the workers done", states)
	}
	for _, id := range anns {
		if j, _ := ann.job(id); j.Status == "queued" && j.Attempts != 0 {
			t.Errorf("ann's waiting job %s spent %d attempts", j.Filename, j.Attempts)
		}
	}
	for _, id := range anns { // the queued ones first, so that none starts
		ann.deleteJob(id)
	}
	testsupport.Eventually(t, 3*time.Second, "ffmpeg stopped", func() bool { return ffmpegChildren(t) == 0 })
}

// annStates counts the jobs ids of c by status.
func annStates(c *client, ids []string) map[string]int {
	states := map[string]int{}
	for _, id := range ids {
		j, _ := c.job(id)
		states[j.Status]++
	}
	return states
}

// TestMP3Tags: the MP3 carries one tag, its title: the source's title tag,
// or else the upload's file name without its extension. Nothing else of
// the container's tags (major_brand, artist, comment, encoder) is kept.
func TestMP3Tags(t *testing.T) {
	_, c := startWithAnn(t, testConfig(t))
	dir := t.TempDir()
	for _, tt := range []struct{ src, name, title string }{
		{testmedia.Tagged(t, "Source Title", 2), "upload.mp4", "Source Title"},
		{testmedia.Tagged(t, "", 2), "My Holiday.mp4", "My Holiday"},
		{testmedia.Make(t, testmedia.MP4MP3, 2), "copied.mp4", "copied"}, // stream copy
	} {
		if tags := testmedia.Tags(t, tt.src); len(tags) < 3 {
			t.Fatalf("source %s has too few tags to test with: %v", tt.name, tags)
		}
		j := c.waitJob(c.upload(tt.src, tt.name).JobID, 30*time.Second)
		if j.Status != "done" {
			t.Fatalf("%s: %s %q", tt.name, j.Status, deref(j.Error))
		}
		path, _ := c.download(*j.MP3FID, dir)
		if tags := testmedia.Tags(t, path); len(tags) != 1 || tags["title"] != tt.title {
			t.Errorf("%s: MP3 tags %v, want only title=%q", tt.name, tags, tt.title)
		}
		if strings.Contains(tt.name, "copied") && !j.Copied {
			t.Errorf("%s was not stream-copied", tt.name)
		}
	}
}
