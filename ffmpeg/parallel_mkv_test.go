package ffmpeg_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestParallelMatroskaJoins is TestParallelJoins for Matroska and WebM,
// whose lanes are fed the source's blocks from before their pre-roll
// (mkv.Index.Excerpt) and placed by counting samples: each codec must
// take that path, come out exactly as long as the source, and be as close
// to it around every join and over the whole file as one pass.
func TestParallelMatroskaJoins(t *testing.T) {
	const segment = 4 * time.Second
	var rows []string
	for _, tc := range []struct {
		name  string
		kind  testmedia.Kind
		audio mp3converter.Options
	}{
		{"Opus in MKV", testmedia.OpusMKV, mp3converter.Options{}},
		{"Opus in MKV, CBR 128k", testmedia.OpusMKV, mp3converter.Options{Bitrate: 128}},
		{"Opus in WebM", testmedia.OpusWebM, mp3converter.Options{}},
		{"Vorbis in WebM", testmedia.VorbisWebM, mp3converter.Options{}},
		{"Vorbis in MKV", testmedia.VorbisMKV, mp3converter.Options{}},
		{"AAC in MKV", testmedia.AACMKV, mp3converter.Options{}},
		{"MP3 in MKV, re-encoded V2", testmedia.MP3MKV, mp3converter.Options{Quality: "V2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := testmedia.Make(t, tc.kind, 45)
			w := convertTwice(t, src, mp3converter.TranscodeOptions{Audio: tc.audio, Title: "Joins"}, time.Second, segment)
			stats := w.stats()
			if !stats.FromSource || stats.Segments < 10 || stats.MaxBusy < 2 || len(stats.Joins) != stats.Segments-1 {
				t.Fatalf("stats %+v: want the lanes reading the source, 10 segments or more, on 2 lanes at once", stats)
			}
			const ch = 2
			ref := decode(t, src, "-ac", "2", "-ar", "48000")
			a, b := decode(t, w.single), decode(t, w.par)
			if len(b) != len(ref) {
				t.Errorf("parallel output decodes to %d samples, the source to %d", len(b)/ch, len(ref)/ch)
			}
			fa, fb := checkTag(t, w.single, false), checkTag(t, w.par, true)
			if d := fa - fb; d > 1 || d < -1 {
				t.Errorf("single pass has %d frames, parallel %d", fa, fb)
			}
			worstA, worstB, worstDiff, wa, wb := checkJoins(t, ref, a, b, ch, 48000, stats.Joins)
			rows = append(rows, fmt.Sprintf("| %s | %d (%d same, %d bumped) | %.2f | %.2f | %.2f | %.2f | %.2f | %d / %d / %d |",
				tc.name, len(stats.Joins), stats.Same, stats.Bumped, worstA, worstB, worstDiff, wa, wb, len(ref)/ch, len(a)/ch, len(b)/ch))
		})
	}
	t.Logf("\n| case | joins | worst join SNR single | parallel | worst loss | whole SNR single | parallel | samples source / single / parallel |\n%s",
		joinLines(rows))
}

// TestParallelMatroskaCut: a cut's end and a limit bound Matroska's
// source lanes as they bound one pass, but to the sample: one pass's -t
// ends on Matroska's millisecond timestamps (here 96 samples short). A
// cut's start, which one pass seeks to the millisecond too, sends the file
// to the decoder's path, which reads it as one pass does.
func TestParallelMatroskaCut(t *testing.T) {
	src := testmedia.Make(t, testmedia.OpusMKV, 40)
	for _, tc := range []struct {
		name       string
		audio      mp3converter.Options
		fromSource bool
	}{
		{"cut's end, mono V4", mp3converter.Options{End: 37.25, Quality: "V4", Channels: 1}, true},
		{"cut's start", mp3converter.Options{Start: 3.5, End: 37.25}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := convertTwice(t, src, mp3converter.TranscodeOptions{Audio: tc.audio, MaxDuration: time.Minute}, 30*time.Second, 3*time.Second)
			single, par, stats, rs, rp := w.single, w.par, w.stats(), w.one, w.lanes
			if stats.Segments < 10 || stats.FromSource != tc.fromSource {
				t.Fatalf("stats %+v: want 10 segments or more, from the source %v", stats, tc.fromSource)
			}
			if math.Abs(rs.Duration-rp.Duration) > 0.03 {
				t.Errorf("durations %.3f s in one pass, %.3f s in parallel", rs.Duration, rp.Duration)
			}
			a, b := decode(t, single), decode(t, par)
			switch {
			case tc.fromSource && len(b) != int(tc.audio.End*48000):
				t.Errorf("parallel decodes to %d samples, want %d", len(b), int(tc.audio.End*48000))
			case tc.fromSource && abs(float64(len(a)-len(b))) > 240:
				t.Errorf("one pass decodes to %d samples, parallel to %d", len(a), len(b))
			case !tc.fromSource && len(a) != len(b):
				t.Errorf("one pass decodes to %d samples, parallel to %d", len(a), len(b))
			}
			if s := snr(a, b, 1, 0, len(a)); s < 25 {
				t.Errorf("one pass and parallel differ: SNR %.1f dB between them", s)
			}
		})
	}
}
