package testmedia

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SilentTail writes a raw ADTS AAC stream that plays for total seconds: loud
// seconds of full-scale white noise, then silence. ffprobe estimates a raw
// stream's duration from its size and its first frames' bitrate, and silence
// costs almost no bits, so the file probes far shorter than it plays: the
// attack on a duration limit that trusts the probe.
func SilentTail(tb testing.TB, loud, total float64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "silent-tail.aac")
	run(tb, "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "anoisesrc=amplitude=1:sample_rate=44100:duration="+seconds(loud),
		"-f", "lavfi", "-i", "anullsrc=sample_rate=44100:channel_layout=mono",
		"-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1,atrim=0:"+seconds(total),
		"-c:a", "aac", "-b:a", "256k", "-f", "adts", p)
	return p
}

// Tagged writes a seconds long MP4 (H.264 + AAC) carrying container tags
// (major_brand and the like, artist, comment, encoder) and, unless title is
// empty, a title tag.
func Tagged(tb testing.TB, title string, seconds float64) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "tagged.mp4")
	args := []string{"-nostdin", "-loglevel", "error", "-y", "-i", Make(tb, MP4, seconds), "-c", "copy",
		"-metadata", "artist=Someone Else", "-metadata", "comment=not for the MP3", "-metadata", "album=Private"}
	if title != "" {
		args = append(args, "-metadata", "title="+title)
	}
	run(tb, "ffmpeg", append(args, p)...)
	return p
}

// Tags returns the container tags ffprobe reports for path.
func Tags(tb testing.TB, path string) map[string]string {
	tb.Helper()
	tags := map[string]string{}
	out := run(tb, "ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "default=noprint_wrappers=1", path)
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "TAG:"), "="); ok {
			tags[k] = v
		}
	}
	return tags
}

// Decoded returns the seconds of audio ffmpeg really decodes from path,
// whatever its probe says.
func Decoded(tb testing.TB, path string) float64 {
	tb.Helper()
	out := run(tb, "ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-map", "0:a:0", "-f", "null", "-progress", "pipe:1", "-")
	var last float64
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "out_time_us="); ok {
			if us, err := strconv.ParseInt(v, 10, 64); err == nil {
				last = float64(us) / 1e6
			}
		}
	}
	return last
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }

// run runs a tool and returns its standard output.
func run(tb testing.TB, tool string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(tool, args...).Output()
	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			tb.Fatalf("testmedia: %s %v: %v\n%s", tool, args, err, exit.Stderr)
		}
		tb.Fatalf("testmedia: %s %v: %v", tool, args, err)
	}
	return string(out)
}

// Samples returns how many samples (per channel) ffmpeg decodes from
// path's first audio stream, counted, not timed: where a file's
// timestamps disagree with its samples, Decoded gives the timestamps'.
func Samples(tb testing.TB, path string) int {
	tb.Helper()
	out := run(tb, "ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1")
	return len(out) / 2
}
