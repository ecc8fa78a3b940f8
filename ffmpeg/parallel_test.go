package ffmpeg_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// lend lends every core asked for.
func lend() (func(), bool) { return func() {}, true }

// TestParallelJoins encodes one file in one pass and in parallel, with
// short segments so that there are many joins, and compares both with the
// source decoded: the parallel file must be as long (to the sample, as a
// gapless decoder plays it), and as close to the source around every join
// and over the whole file. At the source's rate the lanes read the source
// (internal/parallel/source.go); resampled, the decoder's PCM. The source's AAC has no noise
// substitution, whose noise differs from decode to decode: see
// TestParallelNoise.
func TestParallelJoins(t *testing.T) {
	const segment = 4 * time.Second
	src := testmedia.Make(t, testmedia.MP4NoPNS, 45)
	var rows []string
	for _, tc := range []struct {
		name     string
		audio    mp3converter.Options
		rate, ch int // of the output
	}{
		{"VBR default", mp3converter.Options{}, 48000, 2},
		{"CBR 128k", mp3converter.Options{Bitrate: 128}, 48000, 2},
		{"mono", mp3converter.Options{Channels: 1}, 48000, 1},
		{"44.1 kHz V0", mp3converter.Options{SampleRate: 44100, Quality: "V0"}, 44100, 2},
		{"24 kHz (MPEG-2)", mp3converter.Options{SampleRate: 24000}, 24000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := convertTwice(t, src, mp3converter.TranscodeOptions{Audio: tc.audio, Title: "Joins"}, time.Second, segment)
			single, par, stats := w.single, w.par, w.stats()
			if stats.Segments < 10 || stats.MaxBusy < 2 || len(stats.Joins) != stats.Segments-1 {
				t.Fatalf("stats %+v: want 10 segments or more, on 2 lanes at once", stats)
			}
			if stats.FromSource != (tc.rate == 48000) {
				t.Errorf("lanes read the source: %v, want %v", stats.FromSource, tc.rate == 48000)
			}
			if tc.audio.Bitrate > 0 && stats.Bumped > 0 {
				t.Errorf("CBR: %d frames were given a higher bitrate (%d joins without a reservoir match)", stats.Bumped, stats.Unmatched)
			}
			shape := []string{"-ac", strconv.Itoa(tc.ch), "-ar", strconv.Itoa(tc.rate)}
			ref := decode(t, src, shape...)
			a, b := decode(t, single), decode(t, par)
			if len(b) != len(ref) {
				t.Errorf("parallel output decodes to %d samples, the source to %d", len(b)/tc.ch, len(ref)/tc.ch)
			}
			fa, fb := checkTag(t, single, false), checkTag(t, par, true)
			if d := fa - fb; d > 1 || d < -1 {
				t.Errorf("single pass has %d frames, parallel %d", fa, fb)
			}
			worstA, worstB, worstDiff, wa, wb := checkJoins(t, ref, a, b, tc.ch, tc.rate, stats.Joins)
			sizeA, sizeB := fileSize(t, single), fileSize(t, par)
			rows = append(rows, fmt.Sprintf("| %s | %d (%d same, %d bumped) | %.2f | %.2f | %.2f | %.2f | %.2f | %d / %d | %d / %d | %+.1f %% |",
				tc.name, len(stats.Joins), stats.Same, stats.Bumped, worstA, worstB, worstDiff, wa, wb, len(a)/tc.ch, len(b)/tc.ch, fa, fb, 100*float64(sizeB-sizeA)/float64(sizeA)))
		})
	}
	t.Logf("\n| case | joins | worst join SNR single | parallel | worst loss | whole SNR single | parallel | samples single / parallel | frames | size |\n%s",
		joinLines(rows))
}

// TestParallelNoise: where AAC substitutes noise, a decode after a seek
// draws other noise than a decode from the start, as any player's does, so
// that a lane's audio there is another decode of the source than the single
// pass's. Against the decode from the start that costs the parallel file
// what the noise drawn makes it (0.05 to 0.5 dB over this file, by the seed
// of its pink noise), which is not the lanes' doing: the parallel file is
// held to the decode its lanes made, each from its own seek, and to the
// length.
func TestParallelNoise(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 45) // noise substituted in its first seconds
	from := decode(t, src, "-ac", "1")
	after := decodeFrom(t, []string{"-ss", "3.6", "-i", src}, "-t", "1", "-ac", "1")
	at := 36 * 4800 // 3.6 s
	if s := snr(from[at:at+len(after)], after, 1, 0, len(after)); s > 40 {
		t.Fatalf("decoded after a seek, the audio is the decode from the start (SNR %.1f dB): no noise substituted", s)
	}
	w := convertTwice(t, src, mp3converter.TranscodeOptions{}, time.Second, 4*time.Second)
	single, par, stats := w.single, w.par, w.stats()
	if !stats.FromSource || stats.Segments < 10 {
		t.Fatalf("stats %+v: want the lanes to read the source", stats)
	}
	ref, a, b := decode(t, src), decode(t, single), decode(t, par)
	if len(b) != len(ref) {
		t.Errorf("parallel output decodes to %d samples, the source to %d", len(b)/2, len(ref)/2)
	}
	lanes := lanesDecode(t, src, ref, stats, 48000)
	wa, wb := snr(ref, a, 2, 0, len(ref)/2), snr(lanes, b, 2, 0, len(ref)/2)
	if wb < wa-0.5 {
		t.Errorf("whole file: SNR %.2f dB in parallel against its lanes' decode, %.2f dB in one pass", wb, wa)
	}
	t.Logf("whole file: SNR %.2f dB in parallel against its lanes' decode (%.2f dB against the decode from the start), %.2f dB in one pass",
		wb, snr(ref, b, 2, 0, len(ref)/2), wa)
}

// lanesDecode returns the stereo source at rate as a parallel encode's
// lanes decoded it: ref, the decode from the start, up to the first join,
// and after each join the decode from where the next lane began (stats).
func lanesDecode(t *testing.T, src string, ref []float32, stats ffmpeg.ParallelStats, rate int) []float32 {
	t.Helper()
	const spf, ch = 1152, 2
	if len(stats.From) != len(stats.Joins)+1 {
		t.Fatalf("%d lanes for %d joins", len(stats.From), len(stats.Joins))
	}
	seconds := func(samples int) string { return strconv.FormatFloat(float64(samples)/float64(rate), 'f', -1, 64) }
	out := slices.Clone(ref)
	for k, join := range stats.Joins {
		from := stats.From[k+1] * spf
		end := len(out)
		if k+1 < len(stats.Joins) {
			end = stats.Joins[k+1] * spf * ch
		}
		// Decoded from the lane's seek as far as its part of the file.
		lane := decodeFrom(t, []string{"-ss", seconds(from), "-i", src}, "-t", seconds(end/ch-from+spf))
		for i := join * spf * ch; i < end && i-from*ch < len(lane); i++ {
			out[i] = lane[i-from*ch]
		}
	}
	return out
}

// TestSampleExact: the lanes seek only in an MP4 whose audio track is
// timed to the sample; the same file with its audio timed in milliseconds,
// a Matroska file or garbage is not.
func TestSampleExact(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 6)
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	ms := slices.Clone(b)
	patched := false
	for i := bytes.Index(ms, []byte("mdhd")); i >= 0 && i+20 <= len(ms); {
		// version 0: version and flags, creation, modification, timescale
		if at := i + 16; binary.BigEndian.Uint32(ms[at:]) == 48000 {
			binary.BigEndian.PutUint32(ms[at:], 1000)
			patched = true
		}
		next := bytes.Index(ms[i+4:], []byte("mdhd"))
		if next < 0 {
			break
		}
		i += 4 + next
	}
	if !patched {
		t.Fatal("no audio mdhd at 48000 in the test file")
	}
	dir := t.TempDir()
	msPath, junk := filepath.Join(dir, "ms.mp4"), filepath.Join(dir, "junk.mp4")
	os.WriteFile(msPath, ms, 0o600)
	os.WriteFile(junk, append([]byte("\x00\x00\x00\x18ftypisom"), make([]byte, 100)...), 0o600)
	for path, want := range map[string]bool{src: true, msPath: false, testmedia.Make(t, testmedia.MKV, 6): false, junk: false, filepath.Join(dir, "none"): false} {
		if got := ffmpeg.SampleExact(path); got != want {
			t.Errorf("%s: %v, want %v", filepath.Base(path), got, want)
		}
	}
}

// twice is one source converted in one pass and in parallel.
type twice struct {
	single, par string // the MP3s
	one, lanes  *mp3converter.TranscodeResult
	runs        []ffmpeg.ParallelStats // each parallel encode's figures, in order
}

// stats are the last parallel encode's figures.
func (w twice) stats() ffmpeg.ParallelStats {
	if len(w.runs) == 0 {
		return ffmpeg.ParallelStats{}
	}
	return w.runs[len(w.runs)-1]
}

// convertTwice converts src with opts in one pass, and in parallel from
// above seconds on, in segments of segment, every core lent.
func convertTwice(t *testing.T, src string, opts mp3converter.TranscodeOptions, above, segment time.Duration) twice {
	t.Helper()
	dir := t.TempDir()
	w := twice{single: filepath.Join(dir, "single.mp3"), par: filepath.Join(dir, "parallel.mp3")}
	w.one = convert(t, &ffmpeg.Transcoder{}, src, w.single, opts)
	c := &ffmpeg.Transcoder{ParallelAbove: above}
	ffmpeg.SetParallel(c, segment, func(s ffmpeg.ParallelStats) { w.runs = append(w.runs, s) })
	opts.Cores = lend
	w.lanes = convert(t, c, src, w.par, opts)
	return w
}

// checkJoins compares one pass (a) and a parallel encode (b) with the
// source decoded (ref), of ch channels at rate, around each join (source
// frames) and over the whole file: the parallel file may lose 1 dB at a
// join and 0.5 dB over the file. It returns the worst SNR at a join of
// each, the worst loss, and the SNR of each over the file.
func checkJoins(t *testing.T, ref, a, b []float32, ch, rate int, joins []int) (worstA, worstB, worstDiff, wa, wb float64) {
	t.Helper()
	spf := 1152
	if rate < 32000 {
		spf = 576
	}
	worstA, worstB, worstDiff = math.Inf(1), math.Inf(1), math.Inf(-1)
	for _, join := range joins {
		at := join * spf
		from, to := at-rate/20, at+rate/20
		sa, sb := snr(ref, a, ch, from, to), snr(ref, b, ch, from, to)
		worstA, worstB, worstDiff = min(worstA, sa), min(worstB, sb), max(worstDiff, sa-sb)
		if sb < sa-1 {
			t.Errorf("join at %.3f s: SNR %.2f dB in parallel, %.2f dB in one pass", float64(at)/float64(rate), sb, sa)
		}
	}
	wa, wb = snr(ref, a, ch, 0, len(ref)/ch), snr(ref, b, ch, 0, len(ref)/ch)
	if wb < wa-0.5 {
		t.Errorf("whole file: SNR %.2f dB in parallel, %.2f dB in one pass", wb, wa)
	}
	return worstA, worstB, worstDiff, wa, wb
}

func joinLines(rows []string) string {
	var b bytes.Buffer
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	return b.String()
}

// convert runs c on src with opts, and fails the test on error.
func convert(t *testing.T, c *ffmpeg.Transcoder, src, dst string, opts mp3converter.TranscodeOptions) *mp3converter.TranscodeResult {
	t.Helper()
	ctx := context.Background()
	info, err := c.Probe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.ToMP3(ctx, src, dst, info, opts)
	if err != nil {
		t.Fatalf("ToMP3: %v", err)
	}
	return res
}

// decode returns the first audio stream of path as interleaved float
// samples, as ffmpeg decodes it (an MP3's gapless header honoured), with
// shape's output options.
func decode(t *testing.T, path string, shape ...string) []float32 {
	t.Helper()
	return decodeFrom(t, []string{"-i", path}, shape...)
}

// decodeFrom is decode with the input given as ffmpeg's arguments, such as
// a seek before -i.
func decodeFrom(t *testing.T, input []string, shape ...string) []float32 {
	t.Helper()
	args := append(append([]string{"-nostdin", "-v", "error"}, input...), "-map", "0:a:0")
	args = append(args, shape...)
	out, err := exec.Command("ffmpeg", append(args, "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1")...).Output()
	if err != nil {
		t.Fatalf("decode %v: %v", input, err)
	}
	s := make([]float32, len(out)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return s
}

// snr is the signal-to-noise ratio of out against ref, in dB, over the
// samples from and to (per channel) of ch interleaved channels.
func snr(ref, out []float32, ch, from, to int) float64 {
	from, to = max(from, 0)*ch, min(to*ch, len(ref), len(out))
	var sig, noise float64
	for i := from; i < to; i++ {
		d := float64(ref[i]) - float64(out[i])
		sig += float64(ref[i]) * float64(ref[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// checkTag checks the Xing/LAME frame of an MP3 against its audio frames:
// frame and byte counts, music length and CRC, and the tag's CRC as LAME
// defines it, or unless strict as ffmpeg writes it (see internal/mp3frame/xing.go). It
// returns the frame count.
func checkTag(t *testing.T, path string, strict bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := ffmpeg.ReadTag(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if tag.Frames != tag.AudioFrames || tag.Bytes != tag.AudioBytes || tag.MusicLength != tag.AudioBytes {
		t.Errorf("%s: tag says %d frames, %d bytes, music length %d; the file has %d frames, %d bytes",
			path, tag.Frames, tag.Bytes, tag.MusicLength, tag.AudioFrames, tag.AudioBytes)
	}
	if tag.MusicCRC != tag.AudioCRC {
		t.Errorf("%s: music CRC %04x, the audio's is %04x", path, tag.MusicCRC, tag.AudioCRC)
	}
	if tag.TagCRC != tag.LAMECRC && (strict || tag.TagCRC != tag.FFmpegCRC) {
		t.Errorf("%s: tag CRC %04x, want %04x", path, tag.TagCRC, tag.LAMECRC)
	}
	return tag.Frames
}

// TestParallelCores: with no core to borrow, a long file is encoded on one
// lane, the conversion's own, and comes out whole; with cores, on more.
// Either way its progress rises to the end and never goes back.
func TestParallelCores(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 20)
	for _, tc := range []struct {
		name  string
		cores func() (func(), bool)
		lanes int // at once: exactly, or at least if more than 1
	}{
		{"pool full", func() (func(), bool) { return nil, false }, 1},
		{"cores free", lend, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ffmpeg.Transcoder{ParallelAbove: 10 * time.Second}
			var stats ffmpeg.ParallelStats
			ffmpeg.SetParallel(c, 2*time.Second, func(s ffmpeg.ParallelStats) { stats = s })
			dst := filepath.Join(t.TempDir(), "o.mp3")
			var mu sync.Mutex // lanes give cores back from their own goroutines
			asked, given := 0, 0
			cores := func() (func(), bool) {
				mu.Lock()
				defer mu.Unlock()
				asked++
				release, ok := tc.cores()
				if ok {
					given++
					return func() { mu.Lock(); given--; mu.Unlock(); release() }, true
				}
				return release, false
			}
			var told []float64 // the progress, which the joiner and the lanes tell
			progress := func(f float64) { mu.Lock(); told = append(told, f); mu.Unlock() }
			convert(t, c, src, dst, mp3converter.TranscodeOptions{Cores: cores, Progress: progress})
			if len(told) < 2 || !slices.IsSorted(told) || told[len(told)-1] < 0.99 {
				t.Errorf("progress %v: want it to rise, never back, to the end", told)
			}
			switch {
			case stats.Segments < 9:
				t.Fatalf("stats %+v: not encoded in parallel", stats)
			case tc.lanes == 1 && (stats.MaxBusy != 1 || stats.Lanes != 1 || asked == 0):
				t.Errorf("stats %+v, asked %d times: want one lane", stats, asked)
			case tc.lanes > 1 && stats.MaxBusy < tc.lanes:
				t.Errorf("stats %+v: want %d lanes at once", stats, tc.lanes)
			case given != 0:
				t.Errorf("%d borrowed cores not given back", given)
			}
			if got, want := len(decode(t, dst)), len(decode(t, src)); got != want {
				t.Errorf("decodes to %d samples, the source to %d", got, want)
			}
		})
	}
}

// TestParallelOptions: the upload options work in parallel mode as in one
// pass: the cut, normalisation and title give the same length, tag and
// sound, whether the lanes read the decoder's PCM or the source.
func TestParallelOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		normalize bool
		minSNR    float64 // between one pass and parallel
	}{
		{"Matroska, normalised: the decoder's PCM", testmedia.Make(t, testmedia.MKV, 40), true, 25},
		{"MP4: from the source", testmedia.Make(t, testmedia.MP4NoPNS, 40), false, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := mp3converter.TranscodeOptions{Title: "Cut and loud", MaxDuration: time.Minute,
				Audio: mp3converter.Options{Start: 3.5, End: 37.25, Normalize: tc.normalize, Quality: "V4", Channels: 1}}
			single, par := filepath.Join(dir, "single.mp3"), filepath.Join(dir, "parallel.mp3")
			rs := convert(t, &ffmpeg.Transcoder{}, tc.src, single, opts)
			c := &ffmpeg.Transcoder{ParallelAbove: 30 * time.Second}
			var stats ffmpeg.ParallelStats
			ffmpeg.SetParallel(c, 3*time.Second, func(s ffmpeg.ParallelStats) { stats = s })
			opts.Cores = lend
			var reports []float64
			opts.Progress = func(f float64) { reports = append(reports, f) }
			rp := convert(t, c, tc.src, par, opts)
			if stats.Segments < 10 || stats.FromSource == tc.normalize {
				t.Fatalf("stats %+v: not encoded in parallel, or not on the right path", stats)
			}
			if abs(rs.Duration-rp.Duration) > 0.03 || abs(rp.Duration-33.75) > 0.05 {
				t.Errorf("durations %.3f s in one pass, %.3f s in parallel; want 33.75", rs.Duration, rp.Duration)
			}
			a, b := decode(t, single), decode(t, par)
			if len(a) != len(b) {
				t.Errorf("one pass decodes to %d samples, parallel to %d", len(a), len(b))
			}
			if tags := testmedia.Tags(t, par); tags["title"] != "Cut and loud" || len(tags) != 1 {
				t.Errorf("tags %v", tags)
			}
			if s := snr(a, b, 1, 0, len(a)); s < tc.minSNR {
				t.Errorf("one pass and parallel differ: SNR %.1f dB between them", s)
			}
			if len(reports) < 5 || reports[len(reports)-1] < 0.99 {
				t.Errorf("progress %v does not reach the end", reports)
			}
			for i := 1; i < len(reports); i++ {
				if reports[i] < reports[i-1] || reports[i] > 1 {
					t.Fatalf("progress not monotonic in [0,1]: %v", reports)
				}
			}
		})
	}
}

// TestParallelUneven: when the lanes reading the source do not cover it as
// planned, the decoder's path encodes it, as long as the source. A probe
// that says 1.9 % more than the audio (within what a probe may be off):
// the last segments start past the end. A probe that says half: the lanes
// decode more than it says, which they check, to a frame.
func TestParallelUneven(t *testing.T) {
	for _, tc := range []struct {
		name            string
		seconds, probed float64 // the source's, and the probe's share of it
		segment         time.Duration
	}{
		{"probed 1.9 % long", 60, 1.019, time.Second},
		{"probed half", 30, 0.5, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testmedia.Make(t, testmedia.MP4NoPNS, tc.seconds)
			c := &ffmpeg.Transcoder{ParallelAbove: time.Second}
			var runs []ffmpeg.ParallelStats
			ffmpeg.SetParallel(c, tc.segment, func(s ffmpeg.ParallelStats) { runs = append(runs, s) })
			info, err := c.Probe(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			info.Duration *= tc.probed
			dst := filepath.Join(t.TempDir(), "o.mp3")
			if _, err := c.ToMP3(context.Background(), src, dst, info, mp3converter.TranscodeOptions{Cores: lend}); err != nil {
				t.Fatal(err)
			}
			if len(runs) != 2 || !runs[0].FromSource || runs[1].FromSource {
				t.Errorf("runs %+v: want one from the source, then one from the decoder", runs)
			}
			if got, want := len(decode(t, dst)), len(decode(t, src)); got != want {
				t.Errorf("decodes to %d samples, the source to %d", got, want)
			}
			if files, _ := filepath.Glob(dst + ".*"); len(files) > 0 {
				t.Errorf("scratch files left: %v", files)
			}
		})
	}
}

// TestParallelFailures: a damaged source fails for good, a source longer
// than the limit says so, and a cancelled conversion returns the
// context's error and leaves no ffmpeg behind.
func TestParallelFailures(t *testing.T) {
	c := &ffmpeg.Transcoder{ParallelAbove: time.Second}
	segments, fromSource := 0, false
	ffmpeg.SetParallel(c, 2*time.Second, func(s ffmpeg.ParallelStats) { segments, fromSource = s.Segments, s.FromSource })
	ctx := context.Background()
	for _, tc := range []struct {
		name, src, msg string
		limit          time.Duration
		fromSource     bool // the lanes read the source to the end
	}{
		{"damaged", testmedia.Damaged(t), "the file is damaged", 0, false},
		{"over the limit", testmedia.SilentTail(t, 4, 30), "longer than the 20s limit", 20 * time.Second, false},
		{"over the limit, lanes reading the source", testmedia.Make(t, testmedia.MP4NoPNS, 30), "longer than the 20s limit", 20 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := c.Probe(ctx, tc.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ToMP3(ctx, tc.src, filepath.Join(t.TempDir(), "o.mp3"), info, mp3converter.TranscodeOptions{MaxDuration: tc.limit, Cores: lend})
			if !mp3converter.IsPermanent(err) || !strings.Contains(mp3converter.ErrorMessage(err), tc.msg) {
				t.Errorf("err = %v, want a permanent error saying %q", err, tc.msg)
			}
			if segments < 2 {
				t.Errorf("%d segments: not encoded in parallel", segments)
			}
			if tc.fromSource && !fromSource {
				t.Errorf("the lanes did not read the source to the end")
			}
			segments = 0
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		src := testmedia.Make(t, testmedia.MP4, 45)
		info, err := c.Probe(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		opts := mp3converter.TranscodeOptions{Cores: lend, Progress: func(f float64) {
			if f > 0.2 {
				cancel()
			}
		}}
		if _, err := c.ToMP3(ctx, src, filepath.Join(t.TempDir(), "o.mp3"), info, opts); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if segments < 2 {
			t.Errorf("%d segments: not encoded in parallel", segments)
		}
		if out, _ := exec.Command("pgrep", "-P", strconv.Itoa(os.Getpid())).Output(); len(out) > 0 {
			t.Errorf("processes left running: %s", out)
		}
	})
}

// TestParallelFormats: a source LAME cannot take as it is (96 kHz, six
// channels) comes out in parallel as in one pass: the same rate, channels
// and length.
func TestParallelFormats(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "surround.flac")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=523:sample_rate=96000:duration=14",
		"-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:sample_rate=96000:duration=14",
		"-filter_complex", "[0:a][1:a]amix=inputs=2,aformat=channel_layouts=5.1", src).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	single, par := filepath.Join(dir, "single.mp3"), filepath.Join(dir, "parallel.mp3")
	convert(t, &ffmpeg.Transcoder{}, src, single, mp3converter.TranscodeOptions{})
	c := &ffmpeg.Transcoder{ParallelAbove: 10 * time.Second}
	segments := 0
	ffmpeg.SetParallel(c, 2*time.Second, func(s ffmpeg.ParallelStats) { segments = s.Segments })
	convert(t, c, src, par, mp3converter.TranscodeOptions{Cores: lend})
	if segments < 5 {
		t.Fatalf("%d segments: not encoded in parallel", segments)
	}
	for _, f := range []string{"sample_rate", "channels"} {
		a, b := probeStream(t, single, f), probeStream(t, par, f)
		if a != b {
			t.Errorf("%s: %s in one pass, %s in parallel", f, a, b)
		}
	}
	if a, b := len(decode(t, single)), len(decode(t, par)); a != b {
		t.Errorf("one pass decodes to %d samples, parallel to %d", a, b)
	}
}

// probeStream returns field of path's first audio stream, as ffprobe says.
func probeStream(t *testing.T, path, field string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream="+field, "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestDecodeArgs: the parallel decoder reads as the single pass does, and
// holds its output to what LAME takes where the options do not set it;
// its limit is a length, never a size.
func TestDecodeArgs(t *testing.T) {
	info := &mp3converter.MediaInfo{AudioCodec: "aac", SampleRate: 48000, Duration: 600}
	lameRates := "sample_rates=44100|48000|32000|22050|24000|16000|11025|12000|8000"
	for _, tc := range []struct {
		name     string
		opts     mp3converter.TranscodeOptions
		want     []string
		wantNot  []string
		beforeIn []string
	}{
		{"default", mp3converter.TranscodeOptions{MaxDuration: time.Hour},
			[]string{"-af aformat=channel_layouts=mono|stereo:" + lameRates, "-c:a pcm_f32le", "-t 3601", "-f wav pipe:1"}, []string{"-fs", "-ar", "-ac"}, nil},
		{"mono at 22.05 kHz", mp3converter.TranscodeOptions{Audio: mp3converter.Options{Channels: 1, SampleRate: 22050}},
			[]string{"-ac 1", "-ar 22050"}, []string{"-af", "-t"}, nil},
		{"normalised and cut", mp3converter.TranscodeOptions{Audio: mp3converter.Options{Normalize: true, Start: 2, End: 10}},
			[]string{"-af loudnorm=I=-16:TP=-1.5:LRA=11,aformat=channel_layouts=mono|stereo", "-ar 48000", "-t 8"}, []string{lameRates}, []string{"-ss 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := ffmpeg.DecodeArgs("file:/in", info, tc.opts)
			in := slices.Index(args, "-i")
			after, before := " "+strings.Join(args[in:], " ")+" ", " "+strings.Join(args[:in], " ")+" "
			for _, w := range tc.want {
				if !strings.Contains(after, " "+w+" ") {
					t.Errorf("missing %q: %v", w, args)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(after, " "+w) {
					t.Errorf("unexpected %q: %v", w, args)
				}
			}
			for _, w := range append(tc.beforeIn, "-protocol_whitelist file") {
				if !strings.Contains(before, " "+w+" ") {
					t.Errorf("%q must come before -i: %v", w, args)
				}
			}
		})
	}
}
