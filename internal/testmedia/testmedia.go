// Package testmedia generates real media files for tests with ffmpeg's lavfi
// sources: a testsrc2 picture and stereo sine tones mixed with pink noise (a
// pure tone would make VBR sizes meaningless). Files are cached by kind and
// length under the system temp dir, so a test run generates each once.
package testmedia

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Kind is a container and codec combination.
type Kind string

const (
	MP4        Kind = "mp4"         // H.264 + AAC, index at the end as ffmpeg writes it
	MP4NoPNS   Kind = "nopns.mp4"   // MP4 whose AAC has no noise substitution: it decodes alike from any seek
	MKV        Kind = "mkv"         // H.264 + Vorbis in Matroska
	MKVOpus    Kind = "opus.mkv"    // H.264 + Opus in Matroska
	WebM       Kind = "webm"        // VP9 + Opus
	WebMVorbis Kind = "vorbis.webm" // VP9 + Vorbis
	MP4MP3     Kind = "mp3.mp4"     // H.264 + MP3: converts by copying
	NoAudio    Kind = "noaudio.mp4" // H.264 only
	MP3        Kind = "mp3"         // audio only
	// FastStart is MP4 with its index at the front, so that a truncated
	// copy still probes as whole.
	FastStart Kind = "faststart.mp4"
	// Audio alone in Matroska or WebM, one kind a codec: the parallel
	// encode's lanes read these by counting blocks (internal/probe/mkv).
	OpusMKV    Kind = "audio.opus.mkv"
	OpusWebM   Kind = "audio.opus.webm"
	VorbisMKV  Kind = "audio.vorbis.mkv"
	VorbisWebM Kind = "audio.vorbis.webm"
	AACMKV     Kind = "audio.aac.mkv" // without noise substitution, as MP4NoPNS
	MP3MKV     Kind = "audio.mp3.mkv"
	// RawMKV is uncompressed 320x240 video at 20 fps (2.3 MB a second)
	// and Vorbis in Matroska: a large upload made at once, for the tests
	// of big bodies (30 s is 69 MB).
	RawMKV Kind = "raw.mkv"
)

// version changes whenever the generation changes, so stale cache entries
// are not reused.
const version = "v1"

var mu sync.Mutex

// Make returns the path of a kind file lasting seconds, generating it if
// needed. The file is shared: callers must not modify it.
func Make(tb testing.TB, kind Kind, seconds float64) string {
	tb.Helper()
	return generate(tb, kind, seconds, "")
}

// MakeHD is Make with a 1280x720 picture at 25 fps, the size of a common
// upload, instead of a thumbnail: for benchmarks, where the demuxer's work
// on the video's bytes counts.
func MakeHD(tb testing.TB, kind Kind, seconds float64) string {
	tb.Helper()
	return generate(tb, kind, seconds, "720p")
}

// generate is Make; hd "720p" makes the picture 1280x720 at 25 fps.
func generate(tb testing.TB, kind Kind, seconds float64, hd string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	dir := filepath.Join(os.TempDir(), "mp3converter-testmedia")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	d := strconv.FormatFloat(seconds, 'f', -1, 64)
	name := fmt.Sprintf("%s-%ss.%s", version, d, kind)
	picture := "testsrc2=size=160x120:rate=10:duration=" + d
	if hd != "" {
		name = fmt.Sprintf("%s-%ss-%s.%s", version, d, hd, kind)
		picture = "testsrc2=size=1280x720:rate=25:duration=" + d
	}
	if kind == RawMKV {
		picture = "testsrc2=size=320x240:rate=20:duration=" + d
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := filepath.Join(dir, fmt.Sprintf("tmp-%s-%s", rand.Text()[:8], filepath.Base(path)))
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", picture}
	if kind != NoAudio {
		args = append(args,
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+d,
			"-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000:duration="+d,
			"-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:sample_rate=48000:duration="+d,
			"-filter_complex", "[1:a][2:a]join=inputs=2:channel_layout=stereo[tones];"+
				"[3:a]aformat=channel_layouts=stereo[noise];"+
				"[tones][noise]amix=inputs=2:duration=shortest[a]")
	}
	switch kind {
	case MP4, MP4NoPNS:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k")
		if kind == MP4NoPNS {
			args = append(args, "-aac_pns", "0")
		}
	case FastStart:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart")
	case MKV:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis")
	case RawMKV:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "libvorbis")
	case MKVOpus:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libopus", "-b:a", "128k")
	case WebM, WebMVorbis:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-c:a", "libopus")
		if kind == WebMVorbis {
			args[len(args)-1] = "libvorbis"
		}
	case MP4MP3:
		args = append(args, "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libmp3lame", "-b:a", "128k")
	case NoAudio:
		args = append(args, "-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast")
	case MP3:
		args = append(args, "-map", "[a]", "-c:a", "libmp3lame", "-b:a", "128k")
	default:
		c, ok := audioOnly[kind]
		if !ok {
			tb.Fatalf("testmedia: unknown kind %q", kind)
		}
		args = append(append(args, "-map", "[a]"), c...)
	}
	args = append(args, "-f", format(kind), tmp)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		tb.Fatalf("testmedia: ffmpeg %v: %v\n%s", args, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// audioOnly are the encoders of the audio-only kinds.
var audioOnly = map[Kind][]string{
	OpusMKV: {"-c:a", "libopus", "-b:a", "128k"}, OpusWebM: {"-c:a", "libopus", "-b:a", "128k"},
	VorbisMKV: {"-c:a", "libvorbis"}, VorbisWebM: {"-c:a", "libvorbis"},
	AACMKV: {"-c:a", "aac", "-b:a", "128k", "-aac_pns", "0"}, MP3MKV: {"-c:a", "libmp3lame", "-b:a", "128k"},
}

func format(k Kind) string {
	switch k {
	case MKV, MKVOpus, RawMKV, OpusMKV, VorbisMKV, AACMKV, MP3MKV:
		return "matroska"
	case WebM, WebMVorbis, OpusWebM, VorbisWebM:
		return "webm"
	case MP3:
		return "mp3"
	}
	return "mp4"
}

// Poison files: inputs that are not convertible media.

// Text writes a small text file.
func Text(tb testing.TB) string {
	return write(tb, "notes.txt", []byte("This is a shopping list, not a video.\nmilk\neggs\n"))
}

// Random writes 64 KiB of random bytes.
func Random(tb testing.TB) string {
	b := make([]byte, 64<<10)
	rand.Read(b)
	return write(tb, "random.bin", b)
}

// Empty writes a zero-byte file.
func Empty(tb testing.TB) string { return write(tb, "empty.mp4", nil) }

// Truncated writes the first third of an MP4 (the index, at the end, is lost).
func Truncated(tb testing.TB) string {
	tb.Helper()
	return cut(tb, Make(tb, MP4, 3), "truncated.mp4", 3)
}

// Damaged writes the first half of a 6 s MP4 whose index is at the front:
// ffprobe reads it as whole, but its audio stops half way.
func Damaged(tb testing.TB) string {
	tb.Helper()
	return cut(tb, Make(tb, FastStart, 6), "damaged.mp4", 2)
}

// cut writes the first 1/part of the file at path as name.
func cut(tb testing.TB, path, name string, part int) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return write(tb, name, b[:len(b)/part])
}

func write(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Probe returns the format name and duration ffprobe reports for path.
func Probe(tb testing.TB, path string) (format string, seconds float64) {
	tb.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=format_name,duration",
		"-of", "default=noprint_wrappers=1", path).Output()
	if err != nil {
		tb.Fatalf("ffprobe %s: %v", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "format_name="); ok {
			format = v
		}
		if v, ok := strings.CutPrefix(line, "duration="); ok {
			seconds, _ = strconv.ParseFloat(v, 64)
		}
	}
	return format, seconds
}

// Encode writes name in a new temporary directory with ffmpeg, whose
// arguments (inputs, usually lavfi sources, and output options) are args,
// and returns its path.
func Encode(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	args = append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	if out, err := exec.Command("ffmpeg", append(args, p)...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
	return p
}
