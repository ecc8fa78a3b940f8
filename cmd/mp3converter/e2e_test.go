package main

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestEndToEnd is the seed's curl flow on real media through the real
// server: login, upload, the job reaches done, download, and ffprobe finds
// an MP3 as long as the source.
func TestEndToEnd(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")

	for _, tt := range []struct {
		kind   testmedia.Kind
		copied bool
	}{
		{testmedia.MP4, false},
		{testmedia.MKV, false},
		{testmedia.WebM, false},
		{testmedia.MP4MP3, true}, // MP3 audio is copied, not re-encoded
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			c.t = t
			src := testmedia.Make(t, tt.kind, 4)
			_, srcSeconds := testmedia.Probe(t, src)
			a := c.upload(src, "holiday"+filepath.Ext(src))
			if a.Status != "queued" || a.JobID == "" || a.VideoFID == "" {
				t.Fatalf("accepted %+v", a)
			}
			j := c.waitJob(a.JobID, 60*time.Second)
			if j.Status != "done" || j.MP3FID == nil {
				t.Fatalf("job ended %s: %v", j.Status, deref(j.Error))
			}
			if j.Attempts != 1 || j.Progress != 1 || j.Copied != tt.copied || j.Owner != "ann@example.com" {
				t.Errorf("job %+v", j)
			}
			path, resp := c.download(*j.MP3FID, t.TempDir())
			if ct := resp.Header.Get("Content-Type"); ct != "audio/mpeg" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="holiday.mp3"; filename*=UTF-8''holiday.mp3` {
				t.Errorf("Content-Disposition %q", cd)
			}
			format, seconds := testmedia.Probe(t, path)
			if format != "mp3" || math.Abs(seconds-srcSeconds) > 0.5 {
				t.Errorf("downloaded %s of %.2f s; source %.2f s", format, seconds, srcSeconds)
			}
		})
	}
	c.t = t
	if js := c.jobs(""); len(js) != 4 || js[0].Filename != "holiday.mp4" || js[1].Filename != "holiday.webm" {
		t.Errorf("GET /jobs: %d jobs, newest first expected", len(js))
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
