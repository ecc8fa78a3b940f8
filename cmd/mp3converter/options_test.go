package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// probed is what ffprobe says of an MP3.
type probed struct {
	Streams []struct {
		BitRate    string `json:"bit_rate"`
		Channels   int    `json:"channels"`
		SampleRate string `json:"sample_rate"`
	} `json:"streams"`
	Format struct {
		Duration string            `json:"duration"`
		Tags     map[string]string `json:"tags"`
	} `json:"format"`
}

func probeMP3(t *testing.T, path string) (p probed, duration float64, rate int) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) == 0 {
		t.Fatalf("ffprobe %s: %v %s", path, err, out)
	}
	duration, _ = strconv.ParseFloat(p.Format.Duration, 64)
	rate, _ = strconv.Atoi(p.Streams[0].SampleRate)
	return p, duration, rate
}

// xingTag is the LAME header's tag: "Info" for CBR, "Xing" for VBR.
func xingTag(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := b[:min(len(b), 4096)]
	for _, tag := range []string{"Info", "Xing"} {
		if bytes.Contains(head, []byte(tag)) {
			return tag
		}
	}
	return ""
}

// loudness measures path's integrated loudness with ffmpeg's ebur128.
func loudness(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-i", path, "-af", "ebur128", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ebur128: %v %s", err, out)
	}
	_, summary, _ := strings.Cut(string(out), "Summary:")
	_, i, _ := strings.Cut(summary, "I:")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.Fields(i + " LUFS")[0], "LUFS")), 64)
	if err != nil {
		t.Fatalf("no integrated loudness in %s", out)
	}
	return v
}

// TestUploadOptions converts real media with each upload option and probes
// what comes out.
func TestUploadOptions(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	cases := optionCases(testmedia.Make(t, testmedia.MP4, 8), testmedia.Make(t, testmedia.MP3, 8))
	ids := make([]string, len(cases))
	for i, tc := range cases {
		resp, b := c.uploadForm(tc.src, tc.fields, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %s %s", tc.name, resp.Status, b)
		}
		var a accepted
		json.Unmarshal(b, &a)
		ids[i] = a.JobID
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, base: c.base, token: c.token}
			j := c.waitJob(ids[i], 2*time.Minute)
			if j.Status != "done" {
				t.Fatalf("job %s: %s", j.Status, deref(j.Error))
			}
			path, _ := c.download(*j.MP3FID, t.TempDir())
			tc.check(t, j, path)
		})
	}
}

// optionCase is one upload with options, and the check of its MP3.
type optionCase struct {
	name   string
	src    string
	fields [][2]string
	check  func(t *testing.T, j jobView, path string)
}

// optionCases are TestUploadOptions's uploads, of an MP4 (AAC at 48 kHz)
// and an MP3.
func optionCases(mp4, mp3 string) []optionCase {
	return []optionCase{
		{"default", mp4, nil, func(t *testing.T, j jobView, path string) {
			if tag := xingTag(t, path); tag != "Xing" {
				t.Errorf("default is not VBR: tag %q", tag)
			}
		}},
		{"quality", mp4, [][2]string{{"quality", "V0"}}, func(t *testing.T, j jobView, path string) {
			if tag := xingTag(t, path); tag != "Xing" || j.Options.Quality != "V0" {
				t.Errorf("V0: tag %q, options %+v", tag, j.Options)
			}
		}},
		{"bitrate", mp4, [][2]string{{"bitrate", "128"}}, func(t *testing.T, j jobView, path string) {
			p, _, _ := probeMP3(t, path)
			br, _ := strconv.ParseFloat(p.Streams[0].BitRate, 64)
			if math.Abs(br-128000) > 1280 || xingTag(t, path) != "Info" {
				t.Errorf("CBR 128: bit_rate %v, tag %q", br, xingTag(t, path))
			}
		}},
		{"channels", mp4, [][2]string{{"channels", "mono"}}, func(t *testing.T, j jobView, path string) {
			if p, _, _ := probeMP3(t, path); p.Streams[0].Channels != 1 || j.Options.Channels != 1 {
				t.Errorf("mono: %d channels, options %+v", p.Streams[0].Channels, j.Options)
			}
		}},
		{"sample rate", mp4, [][2]string{{"sample_rate", "22050"}}, func(t *testing.T, j jobView, path string) {
			if _, _, rate := probeMP3(t, path); rate != 22050 {
				t.Errorf("sample rate %d", rate)
			}
		}},
		{"cut", mp4, [][2]string{{"start", "1.5"}, {"end", "00:00:04.250"}}, func(t *testing.T, j jobView, path string) {
			// ffprobe's duration counts the encoder's delay and padding
			// too: measure what a player decodes.
			_, _, rate := probeMP3(t, path)
			if d, frame := testmedia.Decoded(t, path), 1152/float64(rate); math.Abs(d-2.75) > frame {
				t.Errorf("cut 1.5-4.25 decodes to %v s, want 2.75 within %v", d, frame)
			}
			if j.Options.Start != 1.5 || j.Options.End != 4.25 {
				t.Errorf("options %+v", j.Options)
			}
		}},
		{"title", mp4, [][2]string{{"title", "My Chosen Title"}}, func(t *testing.T, j jobView, path string) {
			if got := testmedia.Tags(t, path)["title"]; got != "My Chosen Title" {
				t.Errorf("title %q", got)
			}
		}},
		{"normalize", mp4, [][2]string{{"normalize", "true"}}, func(t *testing.T, j jobView, path string) {
			if l := loudness(t, path); math.Abs(l+16) > 1 {
				t.Errorf("loudness %v LUFS, want -16 ± 1", l)
			}
			if _, _, rate := probeMP3(t, path); rate != 48000 {
				t.Errorf("normalised sample rate %d, want the source's 48000", rate)
			}
		}},
		{"mp3 title only is copied", mp3, [][2]string{{"title", "Copied"}}, func(t *testing.T, j jobView, path string) {
			if !j.Copied || testmedia.Tags(t, path)["title"] != "Copied" {
				t.Errorf("copied %v, tags %v", j.Copied, testmedia.Tags(t, path))
			}
		}},
		{"mp3 with an option is re-encoded", mp3, [][2]string{{"bitrate", "64"}}, func(t *testing.T, j jobView, path string) {
			if j.Copied || xingTag(t, path) != "Info" {
				t.Errorf("copied %v, tag %q", j.Copied, xingTag(t, path))
			}
		}},
	}
}

// TestUploadOptionCutBeyondMedia fails the job once the media is probed.
func TestUploadOptionCutBeyondMedia(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	resp, b := c.uploadForm(testmedia.Make(t, testmedia.MP4, 3), [][2]string{{"start", "1"}, {"end", "100"}}, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s %s", resp.Status, b)
	}
	var a accepted
	json.Unmarshal(b, &a)
	j := c.waitJob(a.JobID, time.Minute)
	if j.Status != "failed" || !strings.Contains(deref(j.Error), "the cut ends at 100 s") || j.Attempts != 1 {
		t.Errorf("job %s after %d attempts: %q", j.Status, j.Attempts, deref(j.Error))
	}
}

// TestUploadOptionsInvalid refuses a bad option with 400 naming it, and
// keeps nothing.
func TestUploadOptionsInvalid(t *testing.T) {
	cfg := testConfig(t)
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	src := testmedia.Make(t, testmedia.MP4, 2)
	for _, tc := range []struct {
		fields, after [][2]string
		want          string
	}{
		{[][2]string{{"quality", "V10"}}, nil, "invalid option quality"},
		{[][2]string{{"bitrate", "100"}}, nil, "invalid option bitrate"},
		{[][2]string{{"quality", "V2"}, {"bitrate", "128"}}, nil, "quality and bitrate"},
		{[][2]string{{"channels", "5.1"}}, nil, "invalid option channels"},
		{[][2]string{{"sample_rate", "44000"}}, nil, "invalid option sample_rate"},
		{[][2]string{{"start", "soon"}}, nil, "invalid option start"},
		{[][2]string{{"start", "5"}, {"end", "2"}}, nil, "invalid option end"},
		{[][2]string{{"normalize", "loud"}}, nil, "invalid option normalize"},
		{[][2]string{{"title", strings.Repeat("x", 201)}}, nil, "invalid option title"},
		{nil, [][2]string{{"bitrate", "128"}}, "option bitrate must come before the file"},
	} {
		resp, b := c.uploadForm(src, tc.fields, tc.after)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("%v %v: %s %q, want 400 %q", tc.fields, tc.after, resp.Status, b, tc.want)
		}
	}
	time.Sleep(200 * time.Millisecond) // on purpose: whatever a refusal left behind shows by now
	if jobs := c.jobs(""); len(jobs) != 0 {
		t.Errorf("%d jobs kept", len(jobs))
	}
	for _, store := range []string{"videos", "mp3s"} {
		if n := countFiles(t, cfg.DataDir, store); n != 0 {
			t.Errorf("%d files kept in %s", n, store)
		}
	}
	// Unknown fields are still ignored.
	resp, b := c.uploadForm(src, [][2]string{{"comment", "hi"}}, [][2]string{{"other", "x"}})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("unknown fields: %s %s", resp.Status, b)
	}
}
