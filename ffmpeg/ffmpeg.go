// Package ffmpeg implements mp3converter.Transcoder with the ffmpeg and
// ffprobe command-line tools.
//
// It always works on files: an MP4 whose index (moov atom) is at its end
// cannot be read from a pipe, and ffmpeg then exits 0 with an empty MP3. Every
// output is probed again and its duration compared with the source's, so a
// truncated result is an error, never a job marked done.
package ffmpeg

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Transcoder runs ffmpeg and ffprobe. The zero value uses the tools on PATH.
type Transcoder struct {
	FFmpeg  string // path of ffmpeg; "ffmpeg" if empty
	FFprobe string // path of ffprobe; "ffprobe" if empty
	// Quality is LAME's VBR quality, 0 (best) to 9; 2 (about 190 kbit/s) if 0.
	Quality int
}

var _ mp3converter.Transcoder = (*Transcoder)(nil)

// Errors a user is shown. They are Permanent: the same file fails the same way.
var (
	ErrNotMedia = mp3converter.Errorf(mp3converter.EINVALID, "not a video or audio file ffmpeg can read")
	ErrNoAudio  = mp3converter.Errorf(mp3converter.EINVALID, "the video has no audio track")
)

// uploadFormats are the demuxers an upload may be read with: containers
// holding their media themselves. Playlists and scripts that name other files
// or URLs (hls, concat, image2, ...) are not on it, so ffprobe and ffmpeg
// refuse an upload that is one, whatever its name.
const uploadFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,ogg,wav,mp3,aac,flac,asf"

// inputOptions restrict how the input that follows is read: from a local
// file only (no http, data, concat, subfile, crypto, ...), with one of
// uploadFormats.
func inputOptions() []string {
	return []string{"-protocol_whitelist", "file", "-format_whitelist", uploadFormats}
}

// localFile returns path as an ffmpeg URL that can only mean a local file,
// and the directory the tools are run in: the file's own, so that a relative
// reference cannot leave it.
func localFile(path string) (url, dir string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	return "file:" + abs, filepath.Dir(abs), nil
}

func (c *Transcoder) ffmpeg() string  { return cmp.Or(c.FFmpeg, "ffmpeg") }
func (c *Transcoder) ffprobe() string { return cmp.Or(c.FFprobe, "ffprobe") }

// Check verifies that both tools run, for start-up.
func (c *Transcoder) Check(ctx context.Context) error {
	for _, tool := range []string{c.ffmpeg(), c.ffprobe()} {
		if err := exec.CommandContext(ctx, tool, "-version").Run(); err != nil {
			return fmt.Errorf("%s -version: %w (install ffmpeg, e.g. apt-get install -y ffmpeg)", tool, err)
		}
	}
	return nil
}

// Probe runs ffprobe on path.
func (c *Transcoder) Probe(ctx context.Context, path string) (*mp3converter.MediaInfo, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	} else if fi.Size() == 0 {
		return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID, "the file is empty"))
	}
	url, dir, err := localFile(path)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var stderr tailBuffer
	args := append([]string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams"},
		inputOptions()...)
	cmd := exec.CommandContext(ctx, c.ffprobe(), append(args, "-i", url)...)
	cmd.Dir = dir
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Exited() {
			// ffprobe ran and could not read the file.
			return nil, mp3converter.Permanent(fmt.Errorf("%w (%s)", ErrNotMedia, stderr.String()))
		}
		return nil, fmt.Errorf("ffprobe %s: %w: %s", path, err, stderr.String())
	}
	info, err := parseProbe(out)
	if err != nil {
		return nil, mp3converter.Permanent(err)
	}
	return info, nil
}

// probeOutput is the part of ffprobe's JSON that matters here.
type probeOutput struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string `json:"duration"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// parseProbe reads ffprobe's -print_format json output. It returns
// ErrNotMedia for output describing no media (a text file probes as "tty").
func parseProbe(out []byte) (*mp3converter.MediaInfo, error) {
	var p probeOutput
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("%w (unreadable ffprobe output)", ErrNotMedia)
	}
	if len(p.Streams) == 0 || p.Format.FormatName == "" || p.Format.FormatName == "tty" {
		return nil, ErrNotMedia
	}
	info := &mp3converter.MediaInfo{Format: p.Format.FormatName}
	info.Duration = parseSeconds(p.Format.Duration)
	for _, s := range p.Streams {
		if s.CodecType != "audio" {
			continue
		}
		info.AudioCodec = s.CodecName
		if d := parseSeconds(s.Duration); d > 0 {
			info.Duration = d
		}
		break
	}
	return info, nil
}

func parseSeconds(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// mp3Args returns ffmpeg's arguments for writing src's first audio stream to
// dst as MP3: a stream copy when the audio is MP3 already, else LAME VBR at
// the given quality. Progress goes to stdout as key=value lines.
func mp3Args(src, dst string, info *mp3converter.MediaInfo, quality int) []string {
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, inputOptions()...)
	args = append(args, "-i", src, "-map", "0:a:0", "-vn", "-sn", "-dn")
	if info.AudioCodec == "mp3" {
		args = append(args, "-c:a", "copy")
	} else {
		args = append(args, "-c:a", "libmp3lame", "-q:a", strconv.Itoa(quality))
	}
	return append(args, "-f", "mp3", "-progress", "pipe:1", "-nostats", dst)
}

// ToMP3 converts src to dst; see mp3converter.Transcoder.
func (c *Transcoder) ToMP3(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, progress func(float64)) (*mp3converter.ConvertResult, error) {
	if info.AudioCodec == "" {
		return nil, mp3converter.Permanent(ErrNoAudio)
	}
	q := c.Quality
	if q <= 0 || q > 9 {
		q = 2
	}
	in, dir, err := localFile(src)
	if err != nil {
		return nil, err
	}
	out, _, err := localFile(dst)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, c.ffmpeg(), mp3Args(in, out, info, q)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	readProgress(stdout, info.Duration, progress)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.Exited() && looksCorrupt(stderr.String()) {
			return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
				"the file is damaged: ffmpeg could not decode its audio"))
		}
		// Killed by a signal, out of disk, ...: worth another try.
		return nil, fmt.Errorf("ffmpeg: %w: %s", err, stderr.String())
	}
	return c.verify(ctx, dst, info)
}

// verify probes the MP3 and compares its duration with the source's.
func (c *Transcoder) verify(ctx context.Context, dst string, src *mp3converter.MediaInfo) (*mp3converter.ConvertResult, error) {
	fi, err := os.Stat(dst)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg wrote no output: %w", err)
	}
	if fi.Size() == 0 {
		return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the file is damaged: its audio track holds no sound ffmpeg can decode"))
	}
	out, err := c.Probe(ctx, dst)
	if err != nil {
		return nil, fmt.Errorf("probe output: %w", err)
	}
	if out.AudioCodec != "mp3" {
		return nil, fmt.Errorf("output is %q, not mp3", out.AudioCodec)
	}
	if !DurationsMatch(src.Duration, out.Duration) {
		return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the file is damaged: its audio stops at %.1f s of %.1f s", out.Duration, src.Duration))
	}
	return &mp3converter.ConvertResult{Duration: out.Duration, Copied: src.AudioCodec == "mp3"}, nil
}

// DurationsMatch reports whether an output of got seconds is a whole
// conversion of a source of want seconds: within 0.5 s or 2 %. A source
// that does not state its duration (want 0) matches anything.
func DurationsMatch(want, got float64) bool {
	if want <= 0 {
		return got > 0
	}
	return math.Abs(want-got) <= max(0.5, want*0.02)
}

func looksCorrupt(stderr string) bool {
	s := strings.ToLower(stderr)
	for _, sign := range []string{"invalid data", "moov atom", "corrupt", "error while decoding", "truncat", "invalid nal"} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

// readProgress reads ffmpeg's -progress output until EOF, reporting the
// fraction done of a total of total seconds.
func readProgress(r io.Reader, total float64, progress func(float64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		t, ok := ParseProgress(sc.Text())
		if !ok || progress == nil {
			continue
		}
		if total > 0 {
			progress(min(max(t/total, 0), 1))
		}
	}
	io.Copy(io.Discard, r)
}

// ParseProgress reads one line of ffmpeg's -progress output and returns the
// output time in seconds when the line carries it.
func ParseProgress(line string) (float64, bool) {
	key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
	if !ok {
		return 0, false
	}
	switch key {
	case "out_time_us", "out_time_ms": // both are microseconds
		us, err := strconv.ParseInt(val, 10, 64)
		if err != nil || us < 0 {
			return 0, false
		}
		return float64(us) / 1e6, true
	case "out_time":
		return parseClock(val)
	}
	return 0, false
}

// parseClock parses HH:MM:SS.ffffff.
func parseClock(s string) (float64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || strings.HasPrefix(s, "-") {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return 0, false
	}
	return float64(h)*3600 + float64(m)*60 + sec, true
}

// tailBuffer keeps the last 2 KiB written to it: enough for ffmpeg's error.
type tailBuffer struct{ b []byte }

const tailSize = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailSize {
		t.b = append(t.b[:0], t.b[len(t.b)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.b)) }
