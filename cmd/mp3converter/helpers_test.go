package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/auth"
	apiclient "github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// testServer is the real serve process, on a loopback port and a temp data dir.
type testServer struct {
	*app.Main
	URL  string
	logs *testsupport.SyncBuffer // everything the server logged
}

func testConfig(t testing.TB) app.Config {
	return app.Config{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Workers: 2, MaxUpload: 64 << 20,
		MaxDuration: time.Hour, JWTSecret: "test-secret-0123456789abcdef", TokenTTL: time.Hour,
		MailFrom: "mp3converter@example.com", VideoQueue: "video", MP3Queue: "mp3",
		MaxAttempts: 3, ShutdownGrace: 5 * time.Second, FFmpeg: "ffmpeg", FFprobe: "ffprobe", Batch: app.DefaultBatch,
		Proxies: "127.0.0.1/8,::1",
	}
}

// startServe starts serve with cfg, after setting up its Main with opts.
func startServe(t *testing.T, cfg app.Config, opts ...func(*app.Main)) *testServer {
	t.Helper()
	logs := &testsupport.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newServe(cfg, log, io.Discard)
	for _, o := range opts {
		o(s)
	}
	if err := s.Run(context.Background()); err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Main: s, URL: "http://" + s.Addr, logs: logs}
}

// newServe is the serve process with cfg.
func newServe(cfg app.Config, log *slog.Logger, stdout io.Writer) *app.Main {
	p, _ := app.LookupProcess("serve")
	return &app.Main{Process: p, Config: cfg, Logger: log, Stdout: stdout}
}

// tWriter writes to the test log, so failures show what the server did.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// addUser creates a user straight in the store.
func (s *testServer) addUser(t testing.TB, email, password string, admin bool) {
	t.Helper()
	h, err := (&auth.Service{Cost: 4}).HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Engines.Users.CreateUser(context.Background(), &mp3converter.User{Email: email, PasswordHash: h, Admin: admin}); err != nil {
		t.Fatal(err)
	}
}

// client talks to one server as one user.
type client struct {
	t     testing.TB
	base  string
	token string
}

func login(t testing.TB, base, email, password string) *client {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/login", nil)
	req.SetBasicAuth(email, password)
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %s %s", email, resp.Status, body)
	}
	return &client{t: t, base: base, token: string(body)}
}

// do sends req and checks the answer against docs/openapi.yaml.
func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, b := doUnchecked(t, req)
	checkAPI(t, req, resp, b)
	return resp, b
}

// doUnchecked is do for requests outside the API on purpose: unknown
// routes, wrong methods, oversized headers.
func doUnchecked(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (c *client) request(method, path string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req
}

// multipartBody streams files as one multipart form, as curl -F does.
func multipartBody(t testing.TB, files map[string]string) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for name, path := range files {
			f, err := os.Open(path)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			part, err := mw.CreateFormFile("file", name)
			if err == nil {
				_, err = io.Copy(part, f)
			}
			f.Close()
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	return pr, mw.FormDataContentType()
}

type accepted struct {
	JobID    string `json:"job_id"`
	VideoFID string `json:"video_fid"`
	Status   string `json:"status"`
}

// postUpload posts a multipart body of type ctype to /upload.
func (c *client) postUpload(body io.Reader, ctype string) (*http.Response, []byte) {
	c.t.Helper()
	req := c.request("POST", "/upload", body)
	req.Header.Set("Content-Type", ctype)
	return do(c.t, req)
}

// uploadStatus sends one file and returns the answer, whatever it is.
func (c *client) uploadStatus(path, name string) (*http.Response, string) {
	c.t.Helper()
	resp, b := c.postUpload(multipartBody(c.t, map[string]string{name: path}))
	return resp, strings.TrimSpace(string(b))
}

// uploadForm posts path as the file of a multipart form with fields, before
// the file part, and after it if after is set. Unlike upload, it sends the
// form from memory, with a Content-Length.
func (c *client) uploadForm(path string, fields, after [][2]string) (*http.Response, []byte) {
	c.t.Helper()
	form, ctype := formBody(c.t, path, fields, after)
	return c.postUpload(bytes.NewReader(form), ctype)
}

// formBody is a multipart form holding the file at path, with fields
// before it and after fields after it.
func formBody(t testing.TB, path string, fields, after [][2]string) (form []byte, ctype string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	part, _ := mw.CreateFormFile("file", filepath.Base(path))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(b)
	for _, f := range after {
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// upload sends one file under the given name and expects 202.
func (c *client) upload(path, name string) accepted {
	c.t.Helper()
	resp, b := c.postUpload(multipartBody(c.t, map[string]string{name: path}))
	return c.accepted(name, resp, b)
}

// accepted is the answer to the upload of name, which must be 202.
func (c *client) accepted(name string, resp *http.Response, b []byte) accepted {
	c.t.Helper()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("upload %s: %s %s", name, resp.Status, b)
	}
	var a accepted
	if err := json.Unmarshal(b, &a); err != nil {
		c.t.Fatal(err)
	}
	if loc := resp.Header.Get("Location"); loc != "/jobs/"+a.JobID {
		c.t.Errorf("Location %q, want /jobs/%s", loc, a.JobID)
	}
	return a
}

// jobView is a job as the API shows it.
type jobView = apiclient.Job

func (c *client) job(id string) (jobView, int) {
	c.t.Helper()
	resp, b := do(c.t, c.request("GET", "/jobs/"+id, nil))
	var j jobView
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &j); err != nil {
			c.t.Fatal(err)
		}
	}
	return j, resp.StatusCode
}

func (c *client) jobs(query string) []jobView {
	c.t.Helper()
	resp, b := do(c.t, c.request("GET", "/jobs"+query, nil))
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET /jobs%s: %s %s", query, resp.Status, b)
	}
	var js []jobView
	if err := json.Unmarshal(b, &js); err != nil {
		c.t.Fatal(err)
	}
	return js
}

// waitJob polls a job until it is done or failed.
func (c *client) waitJob(id string, timeout time.Duration) jobView {
	c.t.Helper()
	var j jobView
	testsupport.Eventually(c.t, timeout, "job "+id+" done or failed", func() bool {
		var code int
		if j, code = c.job(id); code != 200 {
			c.t.Fatalf("GET /jobs/%s: %d", id, code)
		}
		return j.Status == "done" || j.Status == "failed"
	})
	return j
}

// download fetches an MP3 into dir and returns its path and the response.
func (c *client) download(fid, dir string) (string, *http.Response) {
	c.t.Helper()
	resp, b := do(c.t, c.request("GET", "/download?fid="+fid, nil))
	if resp.StatusCode != 200 {
		c.t.Fatalf("download %s: %s %s", fid, resp.Status, b)
	}
	p := filepath.Join(dir, fid+".mp3")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p, resp
}

// binary builds the command once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mp3converter-bin-")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "mp3converter")
	out, err := exec.Command("go", "build", "-o", p, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return p, nil
})

func buildBinary(t testing.TB) string {
	t.Helper()
	p, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// process is the built binary running as a child.
type process struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	mu     *sync.Mutex
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func startProcess(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, env, buildBinary(t), args...)
}

// startCommand runs name with args as a child, as startProcess runs the
// binary: to run it under prlimit, say.
func startCommand(t testing.TB, env []string, name string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd.Stdout = lockedWriter{p.mu, p.stderr}
	cmd.Stderr = lockedWriter{p.mu, p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

// waitReady polls url/readyz until it answers 200.
func waitReady(t testing.TB, base string, timeout time.Duration) {
	t.Helper()
	testsupport.Eventually(t, timeout, base+" ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkAPI(t, resp.Request, resp, b)
		return resp.StatusCode == 200
	})
}

// report writes a markdown table of a test's figures to
// $MP3CONVERTER_REPORT_DIR/name, for RELIABILITY.md, and to the test log.
func report(t *testing.T, name, header string, rows [][]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(header)
	for _, r := range rows {
		for i := range r {
			r[i] = strings.ReplaceAll(strings.ReplaceAll(r[i], "|", `\|`), "\n", " ")
			if len(r[i]) > 90 {
				r[i] = r[i][:87] + "..."
			}
		}
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	t.Logf("%s:\n%s", name, b.String())
	if dir := os.Getenv("MP3CONVERTER_REPORT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
