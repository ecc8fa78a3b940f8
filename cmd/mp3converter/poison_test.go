package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestPoisonUploads: inputs ffmpeg cannot convert fail their job after one
// attempt with a reason a person understands, are not retried, and cost no
// CPU afterwards; the server goes on converting good files.
func TestPoisonUploads(t *testing.T) {
	cfg := testConfig(t)
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	poison := []struct {
		name, path, reason string
	}{
		{"notes.txt", testmedia.Text(t), "not a video or audio file ffmpeg can read"},
		{"random.mp4", testmedia.Random(t), "not a video or audio file ffmpeg can read"},
		{"truncated.mp4", testmedia.Truncated(t), "not a video or audio file ffmpeg can read"},
		{"empty.mp4", testmedia.Empty(t), "the file is empty"},
		{"silent.mp4", testmedia.Make(t, testmedia.NoAudio, 2), "the video has no audio track"},
		{"damaged.mp4", testmedia.Damaged(t), "the file is damaged: its audio stops at 3.0 s of 6.0 s"},
	}
	ids := map[string]string{}
	for _, p := range poison {
		ids[p.name] = c.upload(p.path, p.name).JobID
	}
	for _, p := range poison {
		j := c.waitJob(ids[p.name], 30*time.Second)
		t.Logf("poison %-14s -> %s after %d attempt(s): %s", p.name, j.Status, j.Attempts, deref(j.Error))
		if j.Status != "failed" || deref(j.Error) != p.reason || j.Attempts != 1 || j.MP3FID != nil {
			t.Errorf("%s: %s after %d attempts, error %q; want failed after 1 with %q", p.name, j.Status, j.Attempts, deref(j.Error), p.reason)
		}
	}
	// Not retried, and nothing is still running for them.
	time.Sleep(3 * time.Second) // on purpose: a retry would have come by now
	for _, j := range c.jobs("") {
		if j.Attempts != 1 || j.Status != "failed" {
			t.Errorf("job %s retried: %s, %d attempts", j.Filename, j.Status, j.Attempts)
		}
	}
	if n := ffmpegChildren(t); n != 0 {
		t.Errorf("%d ffmpeg processes still run", n)
	}
	if entries, _ := os.ReadDir(filepath.Join(cfg.DataDir, "tmp")); len(entries) != 0 {
		t.Errorf("%d temp files left", len(entries))
	}
	// Operators see them as dead letters, with the reason.
	code, out, errs := runCmd(t, "", "dead-letters", "list", "--data-dir", cfg.DataDir, "--queue", "video")
	if code != 0 || strings.Count(out, "\n") != len(poison)+1 || !strings.Contains(out, "the video has no audio track") {
		t.Errorf("dead-letters list: %d %q %q", code, out, errs)
	}
	waitReady(t, srv.URL, time.Second)
	good := c.waitJob(c.upload(testmedia.Make(t, testmedia.MKV, 2), "good.mkv").JobID, 30*time.Second)
	if good.Status != "done" {
		t.Errorf("good file after poison: %s %s", good.Status, deref(good.Error))
	}
}

// ffmpegChildren counts ffmpeg and ffprobe processes started by this test
// process.
func ffmpegChildren(t *testing.T) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		s := string(status)
		if (strings.Contains(s, "Name:\tffmpeg") || strings.Contains(s, "Name:\tffprobe")) &&
			strings.Contains(s, fmt.Sprintf("PPid:\t%d\n", os.Getpid())) {
			n++
		}
	}
	return n
}

// TestEdgeCases: valid inputs at the edges convert: a 0.1 s clip, and file
// names with quotes, a newline and non-Latin letters, which come back
// sanitised and correctly escaped wherever they are echoed.
func TestEdgeCases(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	dir := t.TempDir()
	for _, tt := range []struct {
		src         string
		sent        string // the file name as the client sends it
		stored      string
		disposition string
	}{
		{testmedia.Make(t, testmedia.MP4, 0.1), "short.mp4", "short.mp4", `attachment; filename="short.mp3"; filename*=UTF-8''short.mp3`},
		{testmedia.Make(t, testmedia.MKV, 2), `He said "hi" & left.mkv`, `He said "hi" & left.mkv`,
			`attachment; filename="He said _hi_ & left.mp3"; filename*=UTF-8''He%20said%20%22hi%22%20&%20left.mp3`},
		{testmedia.Make(t, testmedia.WebM, 2), "line one\nline two.webm", "line oneline two.webm",
			`attachment; filename="line oneline two.mp3"; filename*=UTF-8''line%20oneline%20two.mp3`},
		{testmedia.Make(t, testmedia.MP4MP3, 2), "Видео 夏天 ☀.mp4", "Видео 夏天 ☀.mp4",
			`attachment; filename="_____ __ _.mp3"; filename*=UTF-8''%D0%92%D0%B8%D0%B4%D0%B5%D0%BE%20%E5%A4%8F%E5%A4%A9%20%E2%98%80.mp3`},
	} {
		a := uploadNamed(t, c, tt.src, tt.sent)
		j := c.waitJob(a, 30*time.Second)
		if j.Status != "done" {
			t.Errorf("%q: %s %s", tt.sent, j.Status, deref(j.Error))
			continue
		}
		if j.Filename != tt.stored {
			t.Errorf("%q stored as %q, want %q", tt.sent, j.Filename, tt.stored)
		}
		path, resp := c.download(*j.MP3FID, dir)
		if cd := resp.Header.Get("Content-Disposition"); cd != tt.disposition {
			t.Errorf("%q: Content-Disposition\n  %s\nwant\n  %s", tt.sent, cd, tt.disposition)
		}
		if format, d := testmedia.Probe(t, path); format != "mp3" || d <= 0 {
			t.Errorf("%q: downloaded %s of %.2f s", tt.sent, format, d)
		}
	}
	// The notice never carries a raw newline from a file name.
	for _, line := range strings.Split(srv.logs.String(), "\n") {
		if strings.Contains(line, "MailNotSent") && strings.Contains(line, `line one\nline two`) {
			t.Errorf("a newline from the file name reached the mail: %s", line)
		}
	}
}

// uploadNamed sends a file whose name is given in RFC 2231 form, which can
// carry any character, as a hostile or unusual client may.
func uploadNamed(t *testing.T, c *client, path, name string) string {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''`+url.PathEscape(name))
	h.Set("Content-Type", "application/octet-stream")
	w, _ := mw.CreatePart(h)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(w, f)
	f.Close()
	mw.Close()
	resp, body := c.postUpload(&b, mw.FormDataContentType())
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload %q: %s %s", name, resp.Status, body)
	}
	var a accepted
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	return a.JobID
}
