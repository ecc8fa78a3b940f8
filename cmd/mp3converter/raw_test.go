package main

import (
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// rawUpload posts the file at path as the body itself, with a
// Content-Length, as curl -X POST -T does: the body is the *os.File, which the
// client sends with sendfile. query is the URL's, disposition the
// Content-Disposition header (none if empty).
func (c *client) rawUpload(path, ctype, query, disposition string) (*http.Response, []byte) {
	c.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.t.Fatal(err)
	}
	req := c.request("POST", "/upload"+query, f)
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", ctype)
	if disposition != "" {
		req.Header.Set("Content-Disposition", disposition)
	}
	return do(c.t, req)
}

// TestRawUpload: a video sent as the body itself, not in a form, becomes
// a job like any other. Its name comes from Content-Disposition (RFC 6266's
// filename*, UTF-8) or the filename parameter, its options from the query;
// a body without a Content-Length (chunked) is taken too.
func TestRawUpload(t *testing.T) {
	_, c := startWithAnn(t, testConfig(t))
	src := testmedia.Make(t, testmedia.MP4, 4)

	resp, b := c.rawUpload(src, "video/mp4", "?bitrate=128&title=Raw+Title&note=ignored",
		`attachment; filename="fallback.mp4"; filename*=UTF-8''Caf%C3%A9%20clip.mp4`)
	a := c.accepted("raw upload", resp, b)
	j := c.waitJob(a.JobID, 60*time.Second)
	if j.Status != "done" || j.Filename != "Café clip.mp4" {
		t.Fatalf("raw upload: job %s, filename %q; want done, %q", j.Status, j.Filename, "Café clip.mp4")
	}
	path, _ := c.download(*j.MP3FID, t.TempDir())
	p, _, _ := probeMP3(t, path)
	br, _ := strconv.ParseFloat(p.Streams[0].BitRate, 64)
	if math.Abs(br-128000) > 1280 || testmedia.Tags(t, path)["title"] != "Raw Title" {
		t.Errorf("options from the query: bit_rate %v, title %q; want 128000 and %q", br, testmedia.Tags(t, path)["title"], "Raw Title")
	}
	if d := testmedia.Decoded(t, path); math.Abs(d-4) > 0.05 {
		t.Errorf("the MP3 decodes to %v s, want 4", d)
	}

	// Chunked, named by the parameter.
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A reader of unknown length: the client sends it chunked.
	req := c.request("POST", "/upload?filename=chunked.mp4", struct{ io.Reader }{f})
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, b = do(t, req)
	a = c.accepted("chunked raw upload", resp, b)
	if j := c.waitJob(a.JobID, 60*time.Second); j.Status != "done" || j.Filename != "chunked.mp4" {
		t.Errorf("chunked raw upload: job %s, filename %q; want done, chunked.mp4", j.Status, j.Filename)
	}
}

// TestRawUploadTooSlow: a raw body that trickles is cut with 408 once the
// grace is over, as a form's is, and leaves no file and no job.
func TestRawUploadTooSlow(t *testing.T) {
	cfg := testConfig(t)
	cfg.MinUploadRate, cfg.UploadGrace = 64<<10, 2*time.Second
	_, c := startWithAnn(t, cfg)
	u := c.trickle(200*time.Millisecond, "video/mp4", "")
	a := u.wait(10 * time.Second)
	u.stop()
	if a.status != http.StatusRequestTimeout || !strings.Contains(a.msg, "too slow") || a.after < cfg.UploadGrace {
		t.Errorf("a trickling raw upload: %d %q after %v; want 408 too slow after the %v grace", a.status, a.msg, a.after, cfg.UploadGrace)
	}
	time.Sleep(500 * time.Millisecond) // on purpose: the server's side closes
	if left, jobs := files(t, filepath.Join(cfg.DataDir, "videos")), c.jobs(""); len(left) != 0 || len(jobs) != 0 {
		t.Errorf("the slow raw upload left %d files and %d jobs", len(left), len(jobs))
	}
}

// TestRawUploadChunkedOverLimit: a chunked raw body, whose length nothing
// announces, is cut with 413 once it passes --max-upload, and nothing of
// it is kept.
func TestRawUploadChunkedOverLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUpload = 64 << 10
	_, c := startWithAnn(t, cfg)
	req := c.request("POST", "/upload?filename=big.mp4", struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 200<<10))})
	req.Header.Set("Content-Type", "video/mp4")
	resp, b := do(t, req)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "larger than the 64 KiB limit") {
		t.Errorf("a chunked raw body over the limit: %s %q; want 413", resp.Status, b)
	}
	if left, jobs := files(t, filepath.Join(cfg.DataDir, "videos")), c.jobs(""); len(left) != 0 || len(jobs) != 0 {
		t.Errorf("it left %d files and %d jobs", len(left), len(jobs))
	}
}
