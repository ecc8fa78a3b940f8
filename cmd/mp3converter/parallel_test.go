package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestParallelEncode converts a file longer than --parallel-above through
// the API, with default options and with a bitrate and title: each job is
// done, was encoded in segments, and its MP3 plays as long as the source,
// with the header and tag it should have. A CBR file's frames have its
// bitrate but at most one at the join, where no frame of the second
// encode fits the reservoir the first leaves (internal/parallel, splice);
// its header says "Info" only if every frame has the same.
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
		cbr    int // kbit/s; 0 for VBR
		title  string
	}{
		{"default", nil, 0, "v1-65s"},
		{"bitrate and title", [][2]string{{"bitrate", "128"}, {"title", "Long Lecture"}}, 128, "Long Lecture"},
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
			rates, want := frameBitrates(t, path), "Xing"
			if len(rates) == 1 {
				want = "Info"
			}
			if tag := xingTag(t, path); tag != want {
				t.Errorf("header %q, want %q for frames of %v kbit/s", tag, want, rates)
			}
			if others := len(rates) - rates[tc.cbr]; tc.cbr > 0 && others > 1 {
				t.Errorf("%d frames not at %d kbit/s (%v), want at most 1, at the join", others, tc.cbr, rates)
			}
			if got := testmedia.Tags(t, path)["title"]; got != tc.title {
				t.Errorf("title %q, want %q", got, tc.title)
			}
		})
	}
}

// TestParallelUnevenTables uploads, through the API, files whose sample
// tables time their audio otherwise than the decoder counts it: an MP4
// whose table times an eighth of its packets (the probe says 7.5 s of 60),
// and three tracks of speech joined without re-encoding, whose packets at
// the joins last longer or shorter than their samples. Each job is done
// with an MP3 as long as the source decodes to, to a frame: never part of
// the audio, nor a lane started off the sample.
func TestParallelUnevenTables(t *testing.T) {
	cfg := testConfig(t)
	cfg.ParallelAbove = 3 * time.Second
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	for _, tc := range []struct{ name, src string }{
		{"shrunk table", testmedia.ShrunkTable(t, 60)},
		{"joined tracks", testmedia.Joined(t, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, base: c.base, token: c.token}
			a := c.upload(tc.src, "upload.mp4")
			j := c.waitJob(a.JobID, 2*time.Minute)
			if j.Status != "done" {
				t.Fatalf("job %s: %s", j.Status, deref(j.Error))
			}
			if !strings.Contains(srv.logs.String(), "job_id="+a.JobID+" attempt=1 segments=") {
				t.Errorf("job %s was not encoded in segments", a.JobID)
			}
			path, _ := c.download(*j.MP3FID, t.TempDir())
			// Counted, not timed: these files' timestamps are not their samples'.
			want, got := testmedia.Samples(t, tc.src), testmedia.Samples(t, path)
			if got < want-1152 || got > want+1152 {
				t.Errorf("MP3 decodes to %d samples, the source to %d", got, want)
			}
		})
	}
}

// frameBitrates counts the audio frames of the MP3 at path by bitrate, in
// kbit/s; its Xing frame is not one.
func frameBitrates(t *testing.T, path string) map[int]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mp3frame.ParseXingHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	r, rates := mp3frame.NewReader(bytes.NewReader(b[len(h.ID3)+len(h.Frame):])), map[int]int{}
	for {
		_, fh, err := r.Next()
		if err == io.EOF {
			return rates
		}
		if err != nil {
			t.Fatal(err)
		}
		rates[fh.Bitrate/1000]++
	}
}
