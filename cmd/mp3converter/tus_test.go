package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// tusRequest is a tus request as ann's client sends it.
func (c *client) tusRequest(method, url string, body io.Reader, hdr ...string) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// cutReader fails once n bytes were read: the client then closes its
// connection mid-body.
type cutReader struct {
	r io.Reader
	n int64
}

var errCut = errors.New("connection cut by the test")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	return n, err
}

// patch sends src from offset (cut after cut bytes if cut > 0) and
// returns the answer, or nil if the connection was cut.
func (c *client) patch(url, src string, offset, size, cut int64) *http.Response {
	c.t.Helper()
	f, err := os.Open(src)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	var body io.Reader = io.NewSectionReader(f, offset, size-offset)
	if cut > 0 {
		body = &cutReader{r: body, n: cut}
	}
	req := c.tusRequest("PATCH", url, body, "Upload-Offset", strconv.FormatInt(offset, 10),
		"Content-Type", "application/offset+octet-stream")
	req.ContentLength = size - offset
	resp, err := http.DefaultClient.Do(req)
	if cut > 0 {
		if err == nil {
			resp.Body.Close()
			c.t.Fatalf("PATCH cut after %d bytes: %s", cut, resp.Status)
		}
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// A 69 MB video through /files/: the connection is cut at about half
// way, the upload resumes from HEAD's Upload-Offset, and the job it
// becomes is done with an MP3 as long as the video. The server's heap
// grows no more for it than for the same file through POST /upload.
func TestTusResume(t *testing.T) {
	src := testmedia.Make(t, testmedia.RawMKV, 30)
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size()
	cfg := testConfig(t)
	cfg.MaxUpload = 128 << 20
	s := startServe(t, cfg)
	s.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, s.URL, "ann@example.com", "ann-password")

	var a accepted
	uploadPeak := testsupport.PeakHeap(func() { a = c.upload(src, "big.mkv") })
	if j := c.waitJob(a.JobID, 3*time.Minute); j.Status != "done" {
		t.Fatalf("/upload's job: %s %s", j.Status, j.Reason())
	}

	var url, jobID string
	var resumedAt int64
	tusPeak := testsupport.PeakHeap(func() {
		meta := "filename " + base64.StdEncoding.EncodeToString([]byte("big.mkv"))
		resp, b := do(t, c.tusRequest("POST", s.URL+"/files", nil, "Upload-Length", strconv.FormatInt(size, 10), "Upload-Metadata", meta))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %s %s", resp.Status, b)
		}
		url = s.URL + resp.Header.Get("Location")
		c.patch(url, src, 0, size, size/2)
		resp, _ = do(t, c.tusRequest("HEAD", url, nil))
		if resumedAt, err = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err != nil || resp.StatusCode != 200 {
			t.Fatalf("HEAD after the cut: %s, Upload-Offset %q", resp.Status, resp.Header.Get("Upload-Offset"))
		}
		resp = c.patch(url, src, resumedAt, size, 0)
		if jobID = resp.Header.Get("Mp3converter-Job"); resp.StatusCode != http.StatusNoContent || jobID == "" {
			t.Fatalf("the last PATCH: %s, job %q", resp.Status, jobID)
		}
	})
	t.Logf("cut after %d of %d bytes; the server had %d; resumed from there", size/2, size, resumedAt)
	if resumedAt <= 0 || resumedAt > size/2 {
		t.Errorf("Upload-Offset after the cut %d, want in (0, %d]", resumedAt, size/2)
	}
	j := c.waitJob(jobID, 3*time.Minute)
	if j.Status != "done" || j.Size != size || j.Filename != "big.mkv" {
		t.Fatalf("tus job: %s %s, size %d, %q", j.Status, j.Reason(), j.Size, j.Filename)
	}
	mp3, _ := c.download(*j.MP3FID, t.TempDir())
	checkMP3(t, mp3, src)
	resp, _ := do(t, c.tusRequest("HEAD", url, nil))
	if resp.Header.Get("Mp3converter-Job") != jobID || resp.Header.Get("Upload-Offset") != strconv.FormatInt(size, 10) {
		t.Errorf("HEAD of the finished upload: %s, job %q", resp.Status, resp.Header.Get("Mp3converter-Job"))
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "uploads", url[strings.LastIndex(url, "/")+1:])); !os.IsNotExist(err) {
		t.Errorf("the finished upload's parts are still on disk: %v", err)
	}
	report(t, "tus-memory.md", "| upload of 69 MB | server heap peak above the start (MiB) |\n|---|---|\n", [][]string{
		{"POST /upload", mib(uploadPeak)}, {"/files/ (tus), cut at half and resumed", mib(tusPeak)}})
	const margin = 8 << 20
	if tusPeak > uploadPeak+margin {
		t.Errorf("tus held %s MiB of heap at its peak, /upload %s MiB: more than %s MiB over", mib(tusPeak), mib(uploadPeak), mib(margin))
	}
}

func mib(n uint64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 2, 64) }

// convert sends a file above --resumable-above through /files/; cut off
// half way (the command interrupted), a second convert of the same file
// resumes the same upload, from the server's offset, and gets the MP3.
func TestConvertResumes(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("MP3CONVERTER_SERVER", "")
	t.Setenv("MP3CONVERTER_TOKEN", "")
	t.Setenv("MP3CONVERTER_RESUMABLE_ABOVE", "1MiB")
	// The first run's PATCH is slowed, so that it is surely cut half way:
	// at full speed it may end between two looks at the server's parts.
	var slow atomic.Bool
	slow.Store(true)
	via := proxy(t, srv.URL, func(w http.ResponseWriter, r *http.Request) bool {
		if slow.Load() && r.Method == http.MethodPatch {
			r.Body = io.NopCloser(&throttled{r: r.Body, rate: 10 << 20, start: time.Now()})
		}
		return false
	})
	if code, out, errs := runCmd(t, "ann-password\n", "login", "--server", via, "--email", "ann@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errs)
	}
	src := copyAs(t, testmedia.Make(t, testmedia.RawMKV, 10), t.TempDir(), "clip.mkv")
	st, _ := os.Stat(src)
	out := t.TempDir()

	// The first run is interrupted once the server has half of the file.
	parts := filepath.Join(srv.Config.DataDir, "uploads")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		testsupport.Eventually(t, time.Minute, "half the file on the server", func() bool {
			return partBytes(parts) >= st.Size()/2
		})
	}()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"convert", "-o", out, src}, strings.NewReader(""), &stdout, &stderr); code == 0 {
		t.Fatalf("the interrupted convert succeeded: %s %s", stdout.String(), stderr.String())
	}
	had := partBytes(parts)
	slow.Store(false)
	state, err := os.ReadFile(filepath.Join(cfg, "mp3converter", "uploads.json"))
	if err != nil || !strings.Contains(string(state), "/files/") {
		t.Fatalf("no upload URL kept beside the token: %v %s", err, state)
	}

	code, so, se := runCmd(t, "", "convert", "-o", out, src)
	if code != 0 {
		t.Fatalf("the second convert: %d %s %s", code, so, se)
	}
	checkMP3(t, filepath.Join(out, "clip.mp3"), src)
	infos, _ := filepath.Glob(filepath.Join(parts, "*.info"))
	if len(infos) != 1 {
		t.Errorf("%d uploads were created, want 1: the second run resumes the first's", len(infos))
	}
	t.Logf("interrupted with %d of %d bytes on the server", had, st.Size())
	if state, _ := os.ReadFile(filepath.Join(cfg, "mp3converter", "uploads.json")); strings.Contains(string(state), "/files/") {
		t.Errorf("the finished upload is still kept: %s", state)
	}
}

// partBytes is the bytes of uploads' parts in dir.
func partBytes(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if strings.Contains(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// tusNode is what testdata/tus-node.cjs saw.
type tusNode struct {
	Creation, CreationWithUpload, Termination tusNodeCase
	Options                                   struct {
		Status     int
		Extensions string
		MaxSize    string
	}
}

type tusNodeCase struct {
	Requests  []string
	Expires   []string
	Job, URL  string
	HeadAfter int
	Error     string
}

// tus-js-client, a client no one here wrote, under node, against serve:
// creation (POST, then PATCH), creation-with-upload (the file in the POST),
// termination (DELETE after a first part: the upload is then not found)
// and expiration (Upload-Expires on the answers; OPTIONS lists the four).
// Both finished uploads become jobs that are done.
func TestTusJSClient(t *testing.T) {
	nodePath := tusJSClient(t)
	s := startServe(t, testConfig(t))
	s.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, s.URL, "ann@example.com", "ann-password")
	cmd := exec.Command("node", "testdata/tus-node.cjs", s.URL, c.token, testmedia.Make(t, testmedia.MP4, 2))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got tusNode
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("tus-js-client saw %+v", got)
	for name, cs := range map[string]struct {
		c    tusNodeCase
		want []string
	}{
		"creation":             {got.Creation, []string{"POST 201", "PATCH 204"}},
		"creation-with-upload": {got.CreationWithUpload, []string{"POST 201"}},
	} {
		if !slices.Equal(cs.c.Requests, cs.want) || len(cs.c.Expires) != len(cs.want) || cs.c.Job == "" {
			t.Errorf("%s: requests %v, Upload-Expires %v, job %q; want %v, each with Upload-Expires, and a job", name, cs.c.Requests, cs.c.Expires, cs.c.Job, cs.want)
			continue
		}
		if exp, err := http.ParseTime(cs.c.Expires[0]); err != nil || time.Until(exp) < 23*time.Hour {
			t.Errorf("%s: Upload-Expires %q, want about 24 h from now", name, cs.c.Expires[0])
		}
		if j := c.waitJob(cs.c.Job, time.Minute); j.Status != "done" || j.Options.Bitrate != 128 {
			t.Errorf("%s: job %s, bitrate %d", name, j.Status, j.Options.Bitrate)
		}
	}
	term := got.Termination
	if term.Error != "" || !slices.Contains(term.Requests, "DELETE 204") || term.HeadAfter != http.StatusNotFound || term.Job != "" {
		t.Errorf("termination: %+v; want DELETE 204, then HEAD 404, and no job", term)
	}
	if o := got.Options; o.Status != 200 || o.Extensions != "creation,creation-with-upload,termination,expiration" || o.MaxSize != strconv.Itoa(64<<20) {
		t.Errorf("OPTIONS: %+v", o)
	}
}

// tusJSClient installs tus-js-client (scripts/tus-js-client.sh) and
// returns its node_modules dir.
func tusJSClient(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/tus-js-client.sh").Output()
	if err != nil {
		t.Fatalf("scripts/tus-js-client.sh (node and npm are needed): %v", err)
	}
	return strings.TrimSpace(string(out))
}
