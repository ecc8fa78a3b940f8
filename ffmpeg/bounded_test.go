package ffmpeg_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// option returns the value following flag in args, and whether flag is there.
func option(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

func TestArgsBoundsAndTags(t *testing.T) {
	for _, codec := range []string{"aac", "mp3"} { // encoded and copied alike
		limit := 20 * time.Second
		args := ffmpeg.Args("in", "out.mp3", &mp3converter.MediaInfo{AudioCodec: codec}, 2,
			mp3converter.TranscodeOptions{MaxDuration: limit, Title: `My "song" = 1`})
		for flag, want := range map[string]string{
			"-t":            "21",
			"-fs":           "905536", // 21 s at 320 kbit/s, plus 64 KiB for headers
			"-map_metadata": "-1",
			"-map_chapters": "-1",
			"-metadata":     `title=My "song" = 1`,
			"-fflags":       "+bitexact",
		} {
			if got, ok := option(args, flag); !ok || got != want {
				t.Errorf("%s: %s %q, want %q in %v", codec, flag, got, want, args)
			}
		}
		if i, o := slices.Index(args, "-i"), slices.Index(args, "-t"); o < i {
			t.Errorf("%s: -t must be an output option, after -i: %v", codec, args)
		}
		if args[len(args)-1] != "out.mp3" {
			t.Errorf("%s: output not last: %v", codec, args)
		}
	}
	args := ffmpeg.Args("in", "out.mp3", &mp3converter.MediaInfo{AudioCodec: "aac"}, 2, mp3converter.TranscodeOptions{})
	for _, flag := range []string{"-t", "-fs", "-metadata"} {
		if _, ok := option(args, flag); ok {
			t.Errorf("no limit and no title, yet %s in %v", flag, args)
		}
	}
	if v, _ := option(args, "-map_metadata"); v != "-1" {
		t.Errorf("source tags copied without a title: %v", args)
	}
	if ffmpeg.SizeCap(0) != 0 || ffmpeg.SizeCap(4*time.Hour) != (4*3600+1)*40_000+64<<10 {
		t.Errorf("SizeCap(0) = %d, SizeCap(4h) = %d", ffmpeg.SizeCap(0), ffmpeg.SizeCap(4*time.Hour))
	}
}

func TestExceeds(t *testing.T) {
	limit := 20 * time.Second
	for _, tt := range []struct {
		decoded float64
		limit   time.Duration
		want    bool
	}{
		{0, limit, false}, {19.9, limit, false}, {20.03, limit, false}, // exactly the limit, LAME's rounding
		{20.6, limit, true}, {21.003, limit, true}, {3600, limit, true},
		{43200, 0, false}, // no limit
	} {
		if got := ffmpeg.Exceeds(tt.decoded, tt.limit); got != tt.want {
			t.Errorf("Exceeds(%v, %v) = %v, want %v", tt.decoded, tt.limit, got, tt.want)
		}
	}
}

// TestProgressPastProbe: progress follows the probe while it holds, and
// does not stick at 1 once the output proves it short.
func TestProgressPastProbe(t *testing.T) {
	for _, tt := range []struct {
		name   string
		probed float64
		limit  time.Duration
		t      float64
		want   float64
	}{
		{"start", 100, time.Hour, 0, 0},
		{"half the probe", 100, time.Hour, 50, 0.5},
		{"the probe", 100, time.Hour, 100, 1},
		{"within rounding of the probe", 100, time.Hour, 101.5, 1},
		{"past the probe: of the limit", 7, 20 * time.Second, 10, 0.5},
		{"at the limit", 7, 20 * time.Second, 21, 1},
		{"past the probe, no limit", 10, 0, 30, 0.75},
		{"no probe, a limit", 0, 100 * time.Second, 25, 0.25},
		{"no probe, no limit", 0, 0, 25, 0},
	} {
		if got := ffmpeg.Fraction(tt.probed, tt.limit, tt.t); abs(got-tt.want) > 1e-9 {
			t.Errorf("%s: Fraction(%v, %v, %v) = %v, want %v", tt.name, tt.probed, tt.limit, tt.t, got, tt.want)
		}
	}
}

func TestCleanTitle(t *testing.T) {
	for in, want := range map[string]string{
		"  Song\tTitle \n":          "Song Title",
		"a\x00b\x1bc":               "a b c",
		"Видео 夏天 ☀":                "Видео 夏天 ☀",
		"bad \xff utf8":             "bad utf8",
		strings.Repeat("é", 300):    strings.Repeat("é", 200),
		"":                          "",
		"\u202eevil\u202c override": "\u202eevil\u202c override", // format, not control, characters: ID3 holds them
	} {
		if got := ffmpeg.CleanTitle(in); got != want {
			t.Errorf("CleanTitle(%q) = %q, want %q", in, got, want)
		}
	}
	info, err := ffmpeg.ParseProbe([]byte(`{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"format_name":"mov,mp4","tags":{"major_brand":"isom","TITLE":"A\nB"}}}`))
	if err != nil || info.Title != "A B" {
		t.Errorf("ParseProbe title = %+v, %v; want \"A B\"", info, err)
	}
}

// TestDurationLimitAttack: a raw AAC stream that probes at a few seconds
// but plays for 120 is stopped at the limit, not decoded whole, and fails
// as too long rather than as damaged.
func TestDurationLimitAttack(t *testing.T) {
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	src := testmedia.SilentTail(t, 5, 120)
	info, err := c.Probe(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	limit := 20 * time.Second
	real := testmedia.Decoded(t, src)
	if info.Duration >= limit.Seconds() || real < 119 {
		t.Fatalf("the trick does not work: probed %.1f s, decodes %.1f s; want under %v and 120 s", info.Duration, real, limit)
	}
	dst := filepath.Join(t.TempDir(), "o.mp3")
	var reports []float64
	_, err = c.ToMP3(ctx, src, dst, info, mp3converter.TranscodeOptions{MaxDuration: limit,
		Progress: func(f float64) { reports = append(reports, f) }})
	if !mp3converter.IsPermanent(err) || mp3converter.ErrorMessage(err) != "the audio is longer than the 20s limit" {
		t.Fatalf("err = %v, want permanent \"the audio is longer than the 20s limit\"", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, d := testmedia.Probe(t, dst); d > limit.Seconds()+1.5 || fi.Size() > ffmpeg.SizeCap(limit) {
		t.Errorf("decoded %.1f s into %d bytes; want at most the limit's worth", d, fi.Size())
	}
	t.Logf("probed %.1f s, plays %.1f s; stopped at %d bytes of MP3; progress %v", info.Duration, real, fi.Size(), reports)
	if len(reports) > 0 && reports[len(reports)-1] < 0.99 && slices.Contains(reports[:len(reports)-1], 1) {
		t.Errorf("progress stuck at 1 past the probe: %v", reports)
	}

	// Under the limit, the same kind of file converts, longer than probed.
	short := testmedia.SilentTail(t, 5, 15)
	info, err = c.Probe(ctx, short)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.ToMP3(ctx, short, dst, info, mp3converter.TranscodeOptions{MaxDuration: limit})
	if err != nil || abs(res.Duration-15) > 0.5 {
		t.Errorf("15 s under a 20 s limit, probed %.1f s: %+v, %v", info.Duration, res, err)
	}
}

// TestTags: the MP3 carries the title and no other tag, copied or encoded.
func TestTags(t *testing.T) {
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	for _, src := range []string{testmedia.Tagged(t, "Source Title", 2), testmedia.Make(t, testmedia.MP4MP3, 2)} {
		info, err := c.Probe(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "o.mp3")
		if _, err := c.ToMP3(ctx, src, dst, info, mp3converter.TranscodeOptions{Title: "The Title", MaxDuration: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if tags := testmedia.Tags(t, dst); len(tags) != 1 || tags["title"] != "The Title" {
			t.Errorf("%s: MP3 tags %v, want only title=The Title", filepath.Base(src), tags)
		}
	}
}
