package ffmpeg_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestToMP3s converts files of every kind of one pass in one run of
// ffmpeg, each with its own options, and holds each output to the one
// ToMP3 writes alone: its length, its tag, whether it was copied.
func TestToMP3s(t *testing.T) {
	ctx := context.Background()
	script, runs := testmedia.CountingFFmpeg(t, "0")
	tc := &ffmpeg.Transcoder{FFmpeg: script}
	dir := t.TempDir()
	cases := []struct {
		src  string
		opts mp3converter.TranscodeOptions
	}{
		{testmedia.Make(t, testmedia.MP4, 4), mp3converter.TranscodeOptions{Title: "first"}},
		{testmedia.Make(t, testmedia.MKV, 3), mp3converter.TranscodeOptions{Audio: mp3converter.Options{Bitrate: 128}}},
		{testmedia.Make(t, testmedia.MP3, 5), mp3converter.TranscodeOptions{Title: "copied"}},
		{testmedia.Make(t, testmedia.WebM, 6), mp3converter.TranscodeOptions{Audio: mp3converter.Options{Start: 1, End: 3, Channels: 1}}},
	}
	var cs []mp3converter.Conversion
	var progress []float64
	for i, c := range cases {
		info, err := tc.Probe(ctx, c.src)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.Batchable(info, c.opts) {
			t.Fatalf("case %d: %+v not batchable", i, info)
		}
		progress = append(progress, 0)
		c.opts.Progress = func(p float64) { progress[i] = max(progress[i], p) }
		cs = append(cs, mp3converter.Conversion{Src: c.src, Dst: filepath.Join(dir, "b"+string(rune('0'+i))+".mp3"), Info: info, Opts: c.opts})
	}
	before := runs()
	results, errs := tc.ToMP3s(ctx, cs)
	if n := runs() - before; n != 1 {
		t.Errorf("%d runs of ffmpeg for %d conversions, want 1", n, len(cs))
	}
	for i, cv := range cs {
		if errs[i] != nil {
			t.Fatalf("case %d: %v", i, errs[i])
		}
		alone := filepath.Join(dir, "alone"+string(rune('0'+i))+".mp3")
		want, err := tc.ToMP3(ctx, cv.Src, alone, cv.Info, mp3converter.TranscodeOptions{Title: cv.Opts.Title, Audio: cv.Opts.Audio})
		if err != nil {
			t.Fatal(err)
		}
		got := results[i]
		if math.Abs(got.Duration-want.Duration) > 0.03 || got.Copied != want.Copied {
			t.Errorf("case %d: batched %+v, alone %+v", i, *got, *want)
		}
		if d, w := testmedia.Decoded(t, cv.Dst), testmedia.Decoded(t, alone); math.Abs(d-w) > 0.03 {
			t.Errorf("case %d: batched MP3 decodes %.3f s, alone %.3f s", i, d, w)
		}
		if g, w := testmedia.Tags(t, cv.Dst)["title"], testmedia.Tags(t, alone)["title"]; g != w {
			t.Errorf("case %d: title %q, alone %q", i, g, w)
		}
		if progress[i] < 0.95 || progress[i] > 1 {
			t.Errorf("case %d: progress reached %v, want its end", i, progress[i])
		}
	}
}

// TestToMP3sDamaged: a damaged upload in a batch fails with the error it
// gets alone, and the others still convert.
func TestToMP3sDamaged(t *testing.T) {
	ctx := context.Background()
	tc := &ffmpeg.Transcoder{}
	dir := t.TempDir()
	var cs []mp3converter.Conversion
	for i, src := range []string{testmedia.Make(t, testmedia.MP4, 3), testmedia.Damaged(t), testmedia.Make(t, testmedia.MKV, 2)} {
		info, err := tc.Probe(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, mp3converter.Conversion{Src: src, Dst: filepath.Join(dir, string(rune('a'+i))+".mp3"), Info: info})
	}
	_, alone := tc.ToMP3(ctx, cs[1].Src, filepath.Join(dir, "alone.mp3"), cs[1].Info, mp3converter.TranscodeOptions{})
	if alone == nil || !mp3converter.IsPermanent(alone) {
		t.Fatalf("the damaged file alone: %v, want a permanent error", alone)
	}
	results, errs := tc.ToMP3s(ctx, cs)
	if errs[1] == nil || errs[1].Error() != alone.Error() {
		t.Errorf("damaged in a batch: %v, want %v", errs[1], alone)
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil || !ffmpeg.DurationsMatch(cs[i].Info.Duration, results[i].Duration) {
			t.Errorf("case %d beside a damaged file: %+v, %v", i, results[i], errs[i])
		}
	}
}

// TestToMP3sLimit: a batched conversion past MaxDuration fails as alone.
func TestToMP3sLimit(t *testing.T) {
	ctx := context.Background()
	tc := &ffmpeg.Transcoder{}
	dir := t.TempDir()
	src := testmedia.Make(t, testmedia.MP4, 4)
	info, err := tc.Probe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	info.Duration = 1 // a probe fooled, as a raw stream's can be
	limited := mp3converter.TranscodeOptions{MaxDuration: time.Second}
	cs := []mp3converter.Conversion{
		{Src: src, Dst: filepath.Join(dir, "a.mp3"), Info: info, Opts: limited},
		{Src: src, Dst: filepath.Join(dir, "b.mp3"), Info: info},
	}
	results, errs := tc.ToMP3s(ctx, cs)
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "longer than the 1s limit") {
		t.Errorf("over the limit: %v", errs[0])
	}
	if errs[1] != nil || math.Abs(results[1].Duration-4) > 0.1 {
		t.Errorf("beside it, unlimited: %+v, %v", results[1], errs[1])
	}
}

func TestBatchable(t *testing.T) {
	tc := &ffmpeg.Transcoder{ParallelAbove: 30 * time.Second}
	aac := func(d float64) *mp3converter.MediaInfo {
		return &mp3converter.MediaInfo{AudioCodec: "aac", Duration: d}
	}
	for _, tt := range []struct {
		info *mp3converter.MediaInfo
		opts mp3converter.TranscodeOptions
		want bool
	}{
		{aac(10), mp3converter.TranscodeOptions{}, true},
		{aac(30), mp3converter.TranscodeOptions{}, false},                                                 // lanes
		{&mp3converter.MediaInfo{AudioCodec: "mp3", Duration: 45}, mp3converter.TranscodeOptions{}, true}, // copied: no lanes
		{&mp3converter.MediaInfo{AudioCodec: "mp3", Duration: 60}, mp3converter.TranscodeOptions{}, false},
		{aac(300), mp3converter.TranscodeOptions{Audio: mp3converter.Options{Start: 10, End: 20}}, true}, // the cut is short
		{aac(0), mp3converter.TranscodeOptions{}, false},                                                 // length unknown
		{&mp3converter.MediaInfo{Duration: 5}, mp3converter.TranscodeOptions{}, false},                   // no audio: ToMP3 says so
		{aac(5), mp3converter.TranscodeOptions{Audio: mp3converter.Options{Start: 9}}, false},            // a cut past the end
	} {
		if got := tc.Batchable(tt.info, tt.opts); got != tt.want {
			t.Errorf("Batchable(%+v, %+v) = %v, want %v", *tt.info, tt.opts.Audio, got, tt.want)
		}
	}
}
