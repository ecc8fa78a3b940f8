// Package ffmpeg implements mp3converter.Transcoder with the ffmpeg and
// ffprobe command-line tools.
//
// It always works on files: an MP4 whose index (moov atom) is at its end
// cannot be read from a pipe, and ffmpeg then exits 0 with an empty MP3. Every
// output's duration, as ffmpeg's final progress report gives it, is
// compared with the source's, so a truncated result is an error, never a
// job marked done. A duration limit
// is enforced on what ffmpeg decodes (-t, -fs), never on ffprobe's estimate,
// which a raw stream can fool; and the MP3 gets a title and no other tag.
// What it knows of the media itself lives in internal/: an MP4's or
// Matroska file's headers are read by internal/probe, and long audio is
// encoded on several cores by internal/parallel, to which parallel.go
// gives the command lines.
package ffmpeg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/parallel"
)

// Transcoder runs ffmpeg and ffprobe. The zero value uses the tools on PATH.
type Transcoder struct {
	FFmpeg  string // path of ffmpeg; "ffmpeg" if empty
	FFprobe string // path of ffprobe; "ffprobe" if empty
	// Quality is LAME's VBR quality, 0 (best) to 9; 2 (about 190 kbit/s) if 0.
	Quality int
	// ParallelAbove is the length from which audio that is encoded (not
	// copied) is split into segments encoded at once, on the cores
	// TranscodeOptions.Cores lends; 0 for never. See parallel.go.
	ParallelAbove time.Duration

	segment      time.Duration        // audio per parallel segment on any core, for tests; the path's default if 0
	observe      func(parallel.Stats) // called after each parallel encode, for tests
	noQuickProbe bool                 // Probe always runs ffprobe, for tests
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

// Probe reads an MP4 or Matroska file's headers itself (internal/probe) and
// runs ffprobe on path if it is anything else, or anything unusual.
func (c *Transcoder) Probe(ctx context.Context, path string) (*mp3converter.MediaInfo, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	} else if fi.Size() == 0 {
		return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID, "the file is empty"))
	} else if !c.noQuickProbe {
		if info, ok := quickProbeFile(path); ok {
			return info, nil
		}
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
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		SampleRate string `json:"sample_rate"`
		Duration   string `json:"duration"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		Duration   string            `json:"duration"`
		Tags       map[string]string `json:"tags"`
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
	for k, v := range p.Format.Tags {
		if strings.EqualFold(k, "title") && (info.Title == "" || k == "title") {
			info.Title = CleanTitle(v)
		}
	}
	info.Duration = parseSeconds(p.Format.Duration)
	for _, s := range p.Streams {
		if s.CodecType != "audio" {
			continue
		}
		info.AudioCodec = s.CodecName
		info.SampleRate, _ = strconv.Atoi(s.SampleRate)
		if d := parseSeconds(s.Duration); d > 0 {
			info.Duration = d
		}
		break
	}
	return info, nil
}

// maxTitle is the most runes of a title kept.
const maxTitle = 200

// CleanTitle makes a tag value fit for a title: control characters
// dropped, runs of space made one, at most maxTitle runes.
func CleanTitle(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)), " ")
	if r := []rune(s); len(r) > maxTitle {
		s = strings.TrimSpace(string(r[:maxTitle]))
	}
	return s
}

func parseSeconds(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

// Bounds of a conversion with a duration limit.
const (
	// limitSlack is how much longer than the limit ffmpeg is let decode,
	// so that a source of exactly the limit is not refused for rounding,
	// and the margin by which the output must pass the limit to fail.
	limitSlack = time.Second
	// maxMP3Rate is the highest MP3 bitrate, 320 kbit/s, in bytes per
	// second: the output cannot exceed it times the seconds decoded.
	maxMP3Rate = 320_000 / 8
	// mp3Overhead is room for the ID3 tag and the Xing/LAME header.
	mp3Overhead = 64 << 10
)

// sizeCap is the largest MP3 a conversion bounded to limit may write
// (ffmpeg's -fs), so that no source can fill the scratch disk; 0 for none.
func sizeCap(limit time.Duration) int64 {
	if limit <= 0 {
		return 0
	}
	return int64((limit+limitSlack).Seconds()*maxMP3Rate) + mp3Overhead
}

// mp3Args returns ffmpeg's arguments for writing src's first audio stream to
// dst as MP3: a stream copy when the audio is MP3 already and no option of
// opts.Audio changes it, else LAME (see encodeArgs), from the cut's start.
// No tag of the source is copied: the MP3 gets title, if any, and nothing
// else (-fflags +bitexact drops the encoder tag). ffmpeg stops at the cut's
// end and, with a limit, after the limit plus limitSlack of audio and at
// sizeCap bytes (see lengthArgs). Progress goes to stdout as key=value
// lines.
func mp3Args(src, dst string, info *mp3converter.MediaInfo, quality int, opts mp3converter.TranscodeOptions) []string {
	args := append(progressArgs(), audioInput(src, opts.Audio)...)
	return append(args, mp3Output(dst, info, quality, opts)...)
}

// progressArgs send progress to stdout as key=value lines, and nothing
// else there.
func progressArgs() []string { return []string{"-progress", "pipe:1", "-nostats"} }

// mp3Output returns the output's arguments after its -map, dst last: see
// mp3Args.
func mp3Output(dst string, info *mp3converter.MediaInfo, quality int, opts mp3converter.TranscodeOptions) []string {
	var args []string
	if copies(info, opts.Audio) {
		args = []string{"-c:a", "copy"}
	} else {
		args = encodeArgs(info, quality, opts.Audio)
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	if opts.Title != "" {
		args = append(args, "-metadata", "title="+opts.Title)
	}
	args = append(args, lengthArgs(opts)...)
	return append(args, "-f", "mp3", dst)
}

// audioInput returns ffmpeg's arguments up to the output options: read
// src's first audio stream only, from the cut's start.
func audioInput(src string, o mp3converter.Options) []string {
	return append(append(quietArgs(), inputArgs(src, o)...), mapAudio(0)...)
}

// quietArgs are every run's first: no prompt, errors only, overwrite.
func quietArgs() []string { return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"} }

// inputArgs read src as an upload (inputOptions), from the cut's start.
func inputArgs(src string, o mp3converter.Options) []string {
	return append(append(inputOptions(), inputSeek(o)...), "-i", src)
}

// mapAudio takes input i's first audio stream only, to the next output.
func mapAudio(i int) []string {
	return []string{"-map", strconv.Itoa(i) + ":a:0", "-vn", "-sn", "-dn"}
}

// errNoSound is the error of a source whose audio decodes to nothing.
var errNoSound = mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
	"the file is damaged: its audio track holds no sound ffmpeg can decode"))

// tooBig is the error of an MP3 that reached the size cap.
func tooBig(capped int64) error {
	return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
		"the audio's bitrate is too high: its MP3 would pass %d bytes", capped))
}

// tooLong is the error of a source that plays longer than limit.
func tooLong(limit time.Duration) error {
	return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID, "the audio is longer than the %s limit", limit))
}

// ToMP3 converts src to dst; see mp3converter.Transcoder. The limit is
// enforced on what ffmpeg decodes, not on the probe: ffmpeg stops just past
// it, and a source whose output time passes it fails with tooLong.
//
// Progress is the output time over the probed duration while the probe
// holds. Once the output passes the probe, the probe was an estimate that
// proved short (see mp3converter.MediaInfo.Duration) and the length is
// unknown: progress is then the output time over the limit, the most that
// will be decoded, or without a limit t/(t+probed), which rises towards 1
// without reaching it.
func (c *Transcoder) ToMP3(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	if info.AudioCodec == "" {
		return nil, mp3converter.Permanent(ErrNoAudio)
	}
	if err := opts.Audio.CheckCut(info.Duration); err != nil {
		return nil, err
	}
	q := c.quality()
	in, dir, err := localFile(src)
	if err != nil {
		return nil, err
	}
	out, _, err := localFile(dst)
	if err != nil {
		return nil, err
	}
	if c.parallel(info, opts) {
		return c.toMP3Parallel(ctx, in, dst, dir, info, q, opts)
	}
	var stderr tailBuffer
	cmd := c.command(ctx, dir, &stderr, mp3Args(in, out, info, q, opts)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	want := expected(info, opts.Audio)
	decoded, ended := readProgress(stdout, progressMeter{probed: want.Duration, limit: opts.MaxDuration, report: opts.Progress}.tell)
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := exitError(err, &stderr); err != nil {
		return nil, err
	}
	if Exceeds(decoded, opts.MaxDuration) {
		var size int64
		if fi, err := os.Stat(dst); err == nil {
			size = fi.Size()
		}
		return nil, fmt.Errorf("ffmpeg stopped after %.1f s of audio, %d bytes of MP3 (probed %.1f s): %w",
			decoded, size, info.Duration, tooLong(opts.MaxDuration))
	}
	got, err := c.verify(ctx, dst, output{decoded, ended}, want, opts.MaxDuration)
	if err != nil {
		return nil, err
	}
	return &mp3converter.TranscodeResult{Duration: got, Copied: copies(info, opts.Audio)}, nil
}

// quality is Quality, or 2 if it is out of LAME's range.
func (c *Transcoder) quality() int {
	if c.Quality <= 0 || c.Quality > 9 {
		return 2
	}
	return c.Quality
}

// command returns ffmpeg with args, run in dir, keeping the tail of its
// stderr in stderr; its pipes get 5 s to close once ctx ends.
func (c *Transcoder) command(ctx context.Context, dir string, stderr *tailBuffer, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.ffmpeg(), args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	cmd.Stderr = stderr
	return cmd
}

// Exceeds reports whether decoded seconds of output pass limit (0: none)
// by more than rounding: with -t at limit plus limitSlack, a longer source
// stops at about limit plus limitSlack.
func Exceeds(decoded float64, limit time.Duration) bool {
	return limit > 0 && decoded >= (limit+limitSlack/2).Seconds()
}

// exitError classifies ffmpeg's exit: nil for success, a Permanent error
// for a source it could not decode, and a transient one otherwise.
func exitError(err error, stderr *tailBuffer) error {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Exited() && looksCorrupt(stderr.String()) {
		return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the file is damaged: ffmpeg could not decode its audio"))
	}
	// Killed by a signal, out of disk, ...: worth another try.
	return fmt.Errorf("ffmpeg: %w: %s", err, stderr.String())
}

// output is what ffmpeg's progress report says of the MP3 it wrote.
type output struct {
	seconds float64 // the last output time: the MP3's length
	ended   bool    // the report ended with progress=end: the time is final
}

// verify checks the MP3 and compares its duration with the source's, and
// returns the MP3's duration in seconds. An output shorter than the source
// is a damaged source; a longer one is a probe that estimated short, which
// is no fault if it is within the limit.
// The duration is ffmpeg's own final output time; only if its report did
// not end is the MP3 probed for it.
func (c *Transcoder) verify(ctx context.Context, dst string, out output, src *mp3converter.MediaInfo, limit time.Duration) (float64, error) {
	fi, err := os.Stat(dst)
	if err != nil {
		return 0, fmt.Errorf("ffmpeg wrote no output: %w", err)
	}
	if fi.Size() == 0 {
		return 0, errNoSound
	}
	if capped := sizeCap(limit); capped > 0 && fi.Size() >= capped {
		// -fs cut it: a bitrate above any MP3's, from a copied stream.
		return 0, tooBig(capped)
	}
	got := out.seconds
	if !out.ended {
		probed, err := c.Probe(ctx, dst)
		if err != nil {
			return 0, fmt.Errorf("probe output: %w", err)
		}
		if probed.AudioCodec != "mp3" {
			return 0, fmt.Errorf("output is %q, not mp3", probed.AudioCodec)
		}
		got = probed.Duration
	}
	if Exceeds(got, limit) {
		return 0, tooLong(limit)
	}
	if got < src.Duration && !DurationsMatch(src.Duration, got) {
		return 0, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the file is damaged: its audio stops at %.1f s of %.1f s", got, src.Duration))
	}
	return got, nil
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
