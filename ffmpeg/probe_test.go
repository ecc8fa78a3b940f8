package ffmpeg_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// quickCase is a real file and whether quickProbe must answer for it
// (fast) or leave it to ffprobe.
type quickCase struct {
	name  string
	path  string
	fast  bool
	title string // the title ffprobe must see, to show the case tests one
}

// encode writes name with ffmpeg from lavfi sources, 2 s long, and
// returns its path.
func encode(t testing.TB, name string, args ...string) string {
	t.Helper()
	return testmedia.Encode(t, name, args...)
}

// picture and tone are lavfi inputs for encode.
var picture = []string{"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2"}

func tone(rate string) []string {
	return []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + rate + ":duration=2"}
}

func join(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// retitle writes a copy of path with old replaced by new, once.
func retitle(t *testing.T, path, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte(old)) != 1 || len(old) != len(new) {
		t.Fatalf("%s holds %q %d times", path, old, bytes.Count(b, []byte(old)))
	}
	p := filepath.Join(t.TempDir(), "re"+filepath.Ext(path))
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func quickCases(t *testing.T) []quickCase {
	h264, a48 := []string{"-c:v", "libx264", "-preset", "ultrafast"}, tone("48000")
	cases := []quickCase{
		{name: "testmedia mp4", path: testmedia.Make(t, testmedia.MP4, 2), fast: true},
		{name: "testmedia faststart", path: testmedia.Make(t, testmedia.FastStart, 2), fast: true},
		{name: "testmedia mkv", path: testmedia.Make(t, testmedia.MKV, 2), fast: true},
		{name: "testmedia opus mkv", path: testmedia.Make(t, testmedia.MKVOpus, 2), fast: true},
		{name: "testmedia webm", path: testmedia.Make(t, testmedia.WebM, 2), fast: true},
		{name: "testmedia mp3 in mp4", path: testmedia.Make(t, testmedia.MP4MP3, 2), fast: true},
		{name: "titled mp4", path: encode(t, "t.mp4", join(picture, a48, h264, []string{"-c:a", "aac", "-metadata", "title=Some Title"})...), fast: true, title: "Some Title"},
		{name: "titled mkv", path: encode(t, "t.mkv", join(picture, a48, h264, []string{"-c:a", "libvorbis", "-metadata", "title=Some Title"})...), fast: true, title: "Some Title"},
		{name: "titled mov (QuickTime udta)", path: encode(t, "t.mov", join(picture, a48, h264, []string{"-c:a", "aac", "-metadata", "title=Some Title", "-f", "mov"})...), fast: true, title: "Some Title"},
		{name: "mov with mp3", path: encode(t, "mp3.mov", join(picture, a48, h264, []string{"-c:a", "libmp3lame", "-f", "mov"})...), fast: true},
		{name: "m4a audio only", path: encode(t, "a.m4a", join(a48, []string{"-c:a", "aac"})...), fast: true},
		{name: "mp4 two aac tracks", path: encode(t, "two.mp4", join(picture, a48, tone("44100"), h264, []string{"-map", "0", "-map", "1", "-map", "2", "-c:a", "aac"})...), fast: true},
		{name: "mp4 flac", path: encode(t, "flac.mp4", join(picture, a48, h264, []string{"-c:a", "flac", "-strict", "-2"})...), fast: true},
		{name: "m4a alac", path: encode(t, "alac.m4a", join(a48, []string{"-c:a", "alac"})...), fast: true},
		{name: "mov alac (in wave)", path: encode(t, "alac.mov", join(picture, a48, h264, []string{"-c:a", "alac", "-f", "mov"})...), fast: true},
		{name: "mp4 aac 44.1 kHz mono", path: encode(t, "mono.mp4", join(picture, tone("44100"), h264, []string{"-c:a", "aac", "-ac", "1"})...), fast: true},
		{name: "mp4 aac 22.05 kHz (SBR signalled absent)", path: encode(t, "low.mp4", join(picture, tone("22050"), h264, []string{"-c:a", "aac"})...), fast: true},
		{name: "mp4 audio delayed (an empty edit)", path: encode(t, "late.mp4", join(picture, []string{"-itsoffset", "0.5"}, a48, h264, []string{"-map", "0", "-map", "1", "-c:a", "aac"})...), fast: true},
		{name: "mp4 b-frames, cut by stream copy", path: cut(t, encode(t, "b.mp4", join(picture, a48, []string{"-c:v", "libx264", "-c:a", "aac"})...)), fast: true},
		{name: "mkv vorbis 44.1 kHz mono", path: encode(t, "v.mkv", join(picture, tone("44100"), h264, []string{"-c:a", "libvorbis", "-ac", "1"})...), fast: true},
		{name: "mkv opus from 44.1 kHz", path: encode(t, "o.mkv", join(picture, tone("44100"), h264, []string{"-c:a", "libopus", "-ac", "1"})...), fast: true},
		{name: "mkv aac", path: encode(t, "aac.mkv", join(picture, a48, h264, []string{"-c:a", "aac"})...), fast: true},

		// Left to ffprobe.
		{name: "testmedia no audio", path: testmedia.Make(t, testmedia.NoAudio, 2)},
		{name: "testmedia mp3", path: testmedia.Make(t, testmedia.MP3, 2)},
		{name: "truncated mp4", path: testmedia.Truncated(t)},
		{name: "faststart mp4 cut in half", path: testmedia.Damaged(t)},
		{name: "fragmented mp4", path: encode(t, "frag.mp4", join(picture, a48, h264, []string{"-c:a", "aac", "-movflags", "frag_keyframe+empty_moov"})...)},
		{name: "mp4 aac and mp3 tracks", path: encode(t, "two3.mp4", join(picture, a48, a48, h264, []string{"-map", "0", "-map", "1", "-map", "2", "-c:a:0", "aac", "-c:a:1", "libmp3lame"})...)},
		// ffmpeg names MPEG audio in Matroska by its frames' layer, not
		// the CodecID: headers cannot tell.
		{name: "mkv mp3", path: encode(t, "mp3.mkv", join(picture, a48, h264, []string{"-c:a", "libmp3lame"})...)},
	}
	// A global TITLE tag (at the end, found through the SeekHead)
	// overrides Info's title: ffmpeg writes a TITLX tag, renamed here.
	tagged := encode(t, "tag.mkv", join(picture, a48, h264, []string{"-c:a", "libvorbis", "-metadata", "title=Info Title", "-metadata", "titlx=Tag Title"})...)
	cases = append(cases, quickCase{name: "mkv title tag", path: retitle(t, tagged, "TITLX", "TITLE"), fast: true, title: "Tag Title"})
	return cases
}

// cut copies the streams of path from 0.5 s: the edit lists of a cut.
func cut(t *testing.T, path string) string {
	t.Helper()
	return encode(t, "cut.mp4", "-ss", "0.5", "-i", path, "-c", "copy")
}

func quickProbeFile(t testing.TB, path string) (*mp3converter.MediaInfo, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return ffmpeg.QuickProbe(f, fi.Size())
}

// TestQuickProbe: on real files, quickProbe says what ffprobe says, or
// leaves the file to it where it must.
func TestQuickProbe(t *testing.T) {
	ffprobe := &ffmpeg.Transcoder{}
	ffmpeg.ForceFFprobe(ffprobe)
	for _, tt := range quickCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := quickProbeFile(t, tt.path)
			if ok != tt.fast {
				t.Fatalf("quickProbe answers %v (%+v), want %v", ok, got, tt.fast)
			}
			if !ok {
				return
			}
			want, err := ffprobe.Probe(context.Background(), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got.AudioCodec != want.AudioCodec || got.SampleRate != want.SampleRate || got.Title != want.Title ||
				got.Format != want.Format || math.Abs(got.Duration-want.Duration) > 0.001 {
				t.Errorf("quickProbe %+v\n            ffprobe %+v", *got, *want)
			}
			if want.Title != tt.title {
				t.Errorf("ffprobe's title is %q, want %q", want.Title, tt.title)
			}
		})
	}
}

// TestProbeQuick: Probe answers from quickProbe when it can, and runs
// ffprobe otherwise.
func TestProbeQuick(t *testing.T) {
	c := &ffmpeg.Transcoder{FFprobe: "/nonexistent/ffprobe"} // quickProbe's answer, or an error
	ctx := context.Background()
	info, err := c.Probe(ctx, testmedia.Make(t, testmedia.MKVOpus, 2))
	if err != nil || info.AudioCodec != "opus" {
		t.Errorf("Probe = %+v, %v; want opus without ffprobe", info, err)
	}
	if _, err := c.Probe(ctx, testmedia.Make(t, testmedia.MP3, 2)); err == nil {
		t.Error("an MP3 probed without ffprobe")
	}
}

// BenchmarkProbe compares the probe of a 10 s 720p MP4 by quickProbe and
// by ffprobe: ms/op of each, and ffprobe/quick.
func BenchmarkProbe(b *testing.B) {
	ctx := context.Background()
	src := testmedia.MakeHD(b, testmedia.MP4, 10)
	if _, ok := quickProbeFile(b, src); !ok {
		b.Fatal("quickProbe does not answer")
	}
	quick, slow := &ffmpeg.Transcoder{}, &ffmpeg.Transcoder{}
	ffmpeg.ForceFFprobe(slow)
	var quickT, slowT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := quick.Probe(ctx, src); err != nil {
			b.Fatal(err)
		}
		quickT += time.Since(start)
		start = time.Now()
		if _, err := slow.Probe(ctx, src); err != nil {
			b.Fatal(err)
		}
		slowT += time.Since(start)
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(ms(quickT), "quick-ms/op")
	b.ReportMetric(ms(slowT), "ffprobe-ms/op")
	b.ReportMetric(slowT.Seconds()/quickT.Seconds(), "ffprobe/quick")
}
