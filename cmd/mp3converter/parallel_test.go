package main

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestParallelEncode converts a file longer than --parallel-above through
// the API, with default options and with a bitrate and title: each job is
// done, was encoded in segments, and its MP3 plays as long as the source,
// with the header and tag it should have.
func TestParallelEncode(t *testing.T) {
	cfg := testConfig(t)
	cfg.ParallelAbove = 10 * time.Second
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	src := testmedia.Make(t, testmedia.MP4, 65) // lanes read the MP4: two segments, the fewest
	want := testmedia.Decoded(t, src)
	for _, tc := range []struct {
		name   string
		fields [][2]string
		tag    string // Xing for VBR, Info for CBR
		title  string
	}{
		{"default", nil, "Xing", "v1-65s"},
		{"bitrate and title", [][2]string{{"bitrate", "128"}, {"title", "Long Lecture"}}, "Info", "Long Lecture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, base: c.base, token: c.token}
			resp, b := c.uploadForm(src, tc.fields, nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%s %s", resp.Status, b)
			}
			var a accepted
			json.Unmarshal(b, &a)
			j := c.waitJob(a.JobID, 2*time.Minute)
			if j.Status != "done" || j.Copied {
				t.Fatalf("job %s (copied %v): %s", j.Status, j.Copied, deref(j.Error))
			}
			if !strings.Contains(srv.logs.String(), "job_id="+a.JobID+" attempt=1 segments=2") {
				t.Errorf("job %s was not encoded in 2 segments", a.JobID)
			}
			path, _ := c.download(*j.MP3FID, t.TempDir())
			p, _, rate := probeMP3(t, path)
			if rate != 48000 || p.Streams[0].Channels != 2 {
				t.Errorf("%d Hz, %d channels; want the source's 48000 Hz stereo", rate, p.Streams[0].Channels)
			}
			if got := testmedia.Decoded(t, path); math.Abs(got-want) > 1152.0/48000 {
				t.Errorf("MP3 plays %.4f s, the source %.4f s", got, want)
			}
			if tag := xingTag(t, path); tag != tc.tag {
				t.Errorf("header %q, want %q", tag, tc.tag)
			}
			if got := testmedia.Tags(t, path)["title"]; got != tc.title {
				t.Errorf("title %q, want %q", got, tc.title)
			}
		})
	}
}
