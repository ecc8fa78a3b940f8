package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestClientConvertTerminal: convert in a terminal, through a link slow
// enough for the upload to be seen, draws a bar per file with bytes,
// speed and time left, downloads the two MP3s and exits 1 naming the poison
// file's reason.
func TestClientConvertTerminal(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	slow := slowProxy(t, srv.URL, 400_000)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "MP3CONVERTER_SERVER=", "MP3CONVERTER_TOKEN="}
	if out, err := cliCommand(t, env, "ann-password\n", "login", "--server", slow, "--email", "ann@example.com", "--password-stdin").CombinedOutput(); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	dir := t.TempDir()
	// Four minutes of audio in a small file: a second or so to upload
	// through the slow link, and seconds to convert even on an idle
	// machine, so that a progress write (one a second) is seen.
	a := copyAs(t, testmedia.Encode(t, "a.mkv", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=240",
		"-c:a", "libopus", "-b:a", "24k"), dir, "a.mkv")
	b := copyAs(t, testmedia.Make(t, testmedia.MP4, 4), dir, "b.mp4")
	x := copyAs(t, testmedia.Text(t), dir, "x.mp4")
	out := t.TempDir()

	cmd := cliCommand(t, env, "", "convert", "-o", out, a, x, b)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var screen bytes.Buffer
	io.Copy(&screen, tty) // until the command exits: EIO
	err = cmd.Wait()
	text := screen.String()
	t.Logf("terminal:\n%q", text)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("convert exited %v, want 1", err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`a\.mkv +upload +\[=*>?-*\] [0-9.]+ [KM]B / [0-9.]+ [KM]B +[0-9.]+ [KM]B/s +[0-9]+s left`), // bytes, speed, time left
		regexp.MustCompile(`\[==============================\] -> a\.mp3`),
		regexp.MustCompile(`converting +\[[=>-]+\] [0-9]+%`),
		regexp.MustCompile(`x\.mp4: failed: not a video or audio file ffmpeg can read`),
		regexp.MustCompile(`\x1b\[[0-9]*A`), // the bars are redrawn in place
	} {
		if !want.MatchString(text) {
			t.Errorf("the terminal shows no %s", want)
		}
	}
	checkMP3(t, filepath.Join(out, "a.mp3"), a)
	checkMP3(t, filepath.Join(out, "b.mp3"), b)
	if _, err := os.Stat(filepath.Join(out, "x.mp3")); err == nil {
		t.Error("the poison file left an MP3")
	}
}

// TestClientCommands: login keeps the token for the user alone; convert
// without a terminal prints plain lines and never overwrites an MP3; jobs
// lists as a table and as JSON.
func TestClientCommands(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("MP3CONVERTER_SERVER", "")
	t.Setenv("MP3CONVERTER_TOKEN", "")

	if code, _, errs := runCmd(t, "wrong-password\n", "login", "--server", srv.URL, "--email", "ann@example.com", "--password-stdin"); code != 1 || !strings.Contains(errs, "invalid credentials") {
		t.Errorf("login with a wrong password: %d %q", code, errs)
	}
	if code, _, errs := runCmd(t, "", "jobs"); code != 2 || !strings.Contains(errs, "login") {
		t.Errorf("jobs before login: %d %q", code, errs)
	}
	if code, out, errs := runCmd(t, "ann-password\n", "login", "--server", srv.URL, "--email", "ann@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errs)
	}
	checkTokenFile(t, filepath.Join(cfg, "mp3converter"), srv.URL)

	dir, out := t.TempDir(), t.TempDir()
	good := copyAs(t, testmedia.Make(t, testmedia.MP4, 2), dir, "song.mp4")
	empty := copyAs(t, testmedia.Empty(t), dir, "empty.mp4")
	code, stdout, errs := runCmd(t, "", "convert", "-o", out, good, empty)
	t.Logf("convert:\n%s%s", stdout, errs)
	if code != 1 || !strings.Contains(errs, "1 of 2 files did not convert") {
		t.Errorf("convert exited %d, %q", code, errs)
	}
	for _, want := range []string{"uploaded song.mp4 (77 KB)\n", "song.mp4: done -> song.mp3\n", "empty.mp4: failed: the file is empty\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no line %q", want)
		}
	}
	if strings.ContainsAny(stdout+errs, "\r\x1b") {
		t.Errorf("plain output has carriage returns or escapes: %q", stdout)
	}
	checkMP3(t, filepath.Join(out, "song.mp3"), good)

	// Again into the same directory, with the token given, through a proxy
	// that does not pass the event stream: a new name, found by polling.
	noEvents := proxy(t, srv.URL, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/jobs/events" {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return true
		}
		return false
	})
	token := savedToken(t, cfg)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	code, stdout, errs = runCmd(t, "", "convert", "--server", noEvents, "--token", token, "-o", out, good)
	if code != 0 || !strings.Contains(stdout, "song.mp4: done -> song (1).mp3") || !strings.Contains(stdout, "404 page not found); polling each job instead") {
		t.Errorf("second convert: %d %q %q", code, stdout, errs)
	}
	checkMP3(t, filepath.Join(out, "song (1).mp3"), good)
	t.Setenv("XDG_CONFIG_HOME", cfg)
	checkJobsCommand(t, 3)
}

// checkJobsCommand checks jobs --json and the table against n jobs.
func checkJobsCommand(t *testing.T, n int) {
	t.Helper()
	code, stdout, errs := runCmd(t, "", "jobs", "--json")
	var jobs []jobView
	if err := json.Unmarshal([]byte(stdout), &jobs); code != 0 || err != nil {
		t.Fatalf("jobs --json: %d %v %q %q", code, err, stdout, errs)
	}
	if len(jobs) != n || jobs[0].Filename != "song.mp4" || jobs[0].Status != "done" || jobs[1].Status != "failed" || deref(jobs[1].Error) != "the file is empty" {
		t.Errorf("jobs --json: %+v", jobs)
	}
	// Not a terminal: whole lines, every column, ERROR as a job failed.
	code, stdout, _ = runCmd(t, "", "jobs")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != n+1 || !regexp.MustCompile(`^ID +STATUS +FILE +LENGTH +SIZE +MP3 +CREATED +ERROR$`).MatchString(lines[0]) {
		t.Fatalf("jobs table: %d\n%s", code, stdout)
	}
	if !regexp.MustCompile(`^`+jobs[1].ID+` +failed +empty\.mp4 +- +0 B +- +[0-9: -]+ +the file is empty$`).MatchString(lines[2]) ||
		!regexp.MustCompile(`^`+jobs[0].ID+` +done +song\.mp4 +0:02 +77 KB +[0-9.]+ KB +[0-9: -]+$`).MatchString(lines[1]) {
		t.Errorf("jobs rows:\n%s", stdout)
	}
}

// TestClientWebhookCommands: webhook add, list and delete against the API.
func TestClientWebhookCommands(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	token := login(t, srv.URL, "ann@example.com", "ann-password").token
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("MP3CONVERTER_SERVER", srv.URL)
	t.Setenv("MP3CONVERTER_TOKEN", token)

	code, out, errs := runCmd(t, "", "webhook", "add", "https://93.184.215.14/hooks/mp3")
	m := regexp.MustCompile(`added webhook (\S+) for https://93\.184\.215\.14/hooks/mp3\nsecret: whsec_\S+\n`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("webhook add: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCmd(t, "", "webhook", "add", "http://127.0.0.1:9/hook"); code != 1 || !strings.Contains(errs, "mp3converter: ") {
		t.Errorf("a loopback webhook: %d %q", code, errs)
	}
	code, out, _ = runCmd(t, "", "webhook", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], m[1]+" ") || !strings.Contains(lines[1], " -") {
		t.Errorf("webhook list: %d\n%s", code, out)
	}
	if code, out, _ := runCmd(t, "", "webhook", "deliveries", m[1]); code != 0 || strings.TrimSpace(out) != "AT  EVENT  JOB  STATUS  ATTEMPTS  HTTP  ERROR" {
		t.Errorf("webhook deliveries: %d %q", code, out)
	}
	if code, out, errs := runCmd(t, "", "webhook", "delete", m[1]); code != 0 || !strings.Contains(out, "deleted webhook "+m[1]) {
		t.Errorf("webhook delete: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, "", "webhook", "list"); code != 0 || strings.Contains(out, m[1]) {
		t.Errorf("webhook list after delete: %d\n%s", code, out)
	}
	if code, _, errs := runCmd(t, "", "webhook", "delete", m[1]); code != 1 || errs == "" {
		t.Errorf("deleting twice: %d %q", code, errs)
	}
}

// cliCommand is the built binary with args, env added and stdin.
func cliCommand(t *testing.T, env []string, stdin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" { // else pty.Start gives the command the terminal
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

// slowProxy forwards to target, reading uploads at bytesPerSecond, so that
// an upload lasts long enough to watch.
func slowProxy(t *testing.T, target string, bytesPerSecond int) string {
	return proxy(t, target, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/upload" {
			r.Body = io.NopCloser(&throttled{r: r.Body, rate: bytesPerSecond, start: time.Now()})
		}
		return false
	})
}

// proxy forwards to target the requests that intercept does not answer.
func proxy(t *testing.T, target string, intercept func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p.URL
}

type throttled struct {
	r     io.Reader
	rate  int
	n     int
	start time.Time
}

func (s *throttled) Read(p []byte) (int, error) {
	p = p[:min(len(p), s.rate/20)]
	n, err := s.r.Read(p)
	s.n += n
	time.Sleep(time.Until(s.start.Add(time.Duration(float64(s.n) / float64(s.rate) * float64(time.Second)))))
	return n, err
}

// copyAs copies src to dir/name.
func copyAs(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkMP3 checks that path is an MP3 as long as src.
func checkMP3(t *testing.T, path, src string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
		return
	}
	_, want := testmedia.Probe(t, src)
	if format, got := testmedia.Probe(t, path); format != "mp3" || math.Abs(got-want) > 0.5 {
		t.Errorf("%s: %s of %.2f s, want mp3 of %.2f s", path, format, got, want)
	}
}

// checkTokenFile checks the saved login: the user's alone, for server.
func checkTokenFile(t *testing.T, dir, server string) {
	t.Helper()
	for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "token.json"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	var saved struct{ Server, Email, Token string }
	b, _ := os.ReadFile(filepath.Join(dir, "token.json"))
	if err := json.Unmarshal(b, &saved); err != nil || saved.Server != server || saved.Email != "ann@example.com" || strings.Count(saved.Token, ".") != 2 {
		t.Errorf("token.json: %v %s", err, b)
	}
}

func savedToken(t *testing.T, cfg string) string {
	t.Helper()
	var saved struct{ Token string }
	b, _ := os.ReadFile(filepath.Join(cfg, "mp3converter", "token.json"))
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	return saved.Token
}
