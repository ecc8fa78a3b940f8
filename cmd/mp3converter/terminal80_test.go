package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/mattn/go-runewidth"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestClientTerminal80: in a terminal of 80 columns, convert --bitrate 128
// --channels mono draws its progress and makes mono MP3s at 128 kbit/s;
// jobs fits the terminal: no line wider than 80 columns (a CJK character
// taking two), long names cut with an ellipsis, and an ERROR column only
// once a job failed.
func TestClientTerminal80(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir(), "MP3CONVERTER_SERVER=", "MP3CONVERTER_TOKEN=", "COLUMNS="}
	if out, err := cliCommand(t, env, "ann-password\n", "login", "--server", srv.URL, "--email", "ann@example.com", "--password-stdin").CombinedOutput(); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	dir, out := t.TempDir(), t.TempDir()
	// Long enough to convert over several of the bars' redraws (150 ms):
	// the stream tells convert of each change at once.
	long := copyAs(t, testmedia.Make(t, testmedia.MKV, 90), dir, "a holiday video with a long name, from the summer of 2025, part one.mkv")
	wide := copyAs(t, testmedia.Make(t, testmedia.MP4, 3), dir, "東京の夜景と音楽のドキュメンタリー 第一部.mp4")

	screen, code := inTerminal(t, 80, cliCommand(t, env, "", "convert", "--bitrate", "128", "--channels", "mono", "-o", out, long, wide))
	t.Logf("convert at 80 columns:\n%q", screen)
	if code != 0 {
		t.Fatalf("convert exited %d", code)
	}
	for _, want := range []*regexp.Regexp{
		// The names are cut to leave room for the bars.
		regexp.MustCompile(`(\n|\x1b\[J)a holiday video with a … +done +\[=+\] -> a holiday`),
		regexp.MustCompile(`\n東京の夜景と音楽のドキ… +done +\[=+\] -> 東京の`),
		regexp.MustCompile(`\x1b\[[0-9]*A`), // the bars are redrawn in place
	} {
		if !want.MatchString(screen) {
			t.Errorf("the terminal shows no %s", want)
		}
	}
	for _, l := range strings.Split(screen, "\r\n") {
		if w := runewidth.StringWidth(regexp.MustCompile(`\x1b\[[0-9]*[AJ]`).ReplaceAllString(l, "")); w > 80 {
			t.Errorf("a line of %d columns: %q", w, l)
		}
	}
	for _, src := range []string{long, wide} {
		mp3 := filepath.Join(out, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+".mp3")
		checkMP3(t, mp3, src)
		if channels, bitrate := audioStream(t, mp3); channels != "1" || bitrate != "128000" {
			t.Errorf("%s: %s channels at %s bit/s, want 1 at 128000", filepath.Base(mp3), channels, bitrate)
		}
	}

	checkJobs80(t, env, false)

	// A job that failed brings the ERROR column.
	text := copyAs(t, testmedia.Text(t), dir, "notes.mp4")
	if b, err := cliCommand(t, env, "", "convert", "-o", out, text).CombinedOutput(); !strings.Contains(string(b), "notes.mp4: failed: not a video or audio file") {
		t.Errorf("convert of a text file: %v\n%s", err, b)
	}
	checkJobs80(t, env, true)

	// The jobs record the options they ran with.
	b, err := cliCommand(t, env, "", "jobs", "--json").Output()
	var jobs []jobView
	if err == nil {
		err = json.Unmarshal(b, &jobs)
	}
	if err != nil || len(jobs) != 3 {
		t.Fatalf("jobs --json: %v, %d jobs\n%s", err, len(jobs), b)
	}
	if o := jobs[1].Options; o.Bitrate != 128 || o.Channels != 1 {
		t.Errorf("the job's options: %+v", o)
	}
}

// checkJobs80 runs jobs in a terminal of 80 columns: no line wider, the
// long name cut with an ellipsis, and an ERROR column as wantError says.
func checkJobs80(t *testing.T, env []string, wantError bool) {
	t.Helper()
	screen, code := inTerminal(t, 80, cliCommand(t, env, "", "jobs"))
	t.Logf("jobs at 80 columns:\n%s", screen)
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(screen, "\r\n", "\n"), "\n"), "\n")
	if code != 0 || len(lines) < 3 {
		t.Fatalf("jobs exited %d:\n%s", code, screen)
	}
	for _, l := range lines {
		if w := runewidth.StringWidth(l); w > 80 || strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("a line of %d columns: %q", w, l)
		}
	}
	if got := strings.Contains(lines[0], "ERROR"); got != wantError {
		t.Errorf("ERROR column %v, want %v: %q", got, wantError, lines[0])
	}
	if !strings.Contains(screen, "a holiday video") || !strings.Contains(screen, "…") || strings.Contains(screen, "part one.mkv") {
		t.Errorf("the long name is not cut with an ellipsis:\n%s", screen)
	}
}

// inTerminal runs cmd in a pseudo-terminal cols wide and returns what it
// wrote there and its exit code.
func inTerminal(t *testing.T, cols uint16, cmd *exec.Cmd) (string, int) {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var screen bytes.Buffer
	io.Copy(&screen, tty) // until the command exits: EIO
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return screen.String(), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return screen.String(), 0
}

// audioStream returns the channels and bit rate ffprobe reports for the
// first audio stream of path.
func audioStream(t *testing.T, path string) (channels, bitrate string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=channels,bit_rate",
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "channels="); ok {
			channels = v
		}
		if v, ok := strings.CutPrefix(line, "bit_rate="); ok {
			bitrate = v
		}
	}
	return channels, bitrate
}
