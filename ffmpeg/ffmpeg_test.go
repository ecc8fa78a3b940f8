package ffmpeg_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

func TestParseProgress(t *testing.T) {
	tests := []struct {
		line string
		want float64
		ok   bool
	}{
		{"out_time_us=1500000", 1.5, true},
		{"out_time_ms=2000000", 2, true}, // ffmpeg's out_time_ms is in microseconds too
		{"out_time=00:01:02.500000", 62.5, true},
		{"out_time=01:00:00.000000", 3600, true},
		{" out_time_us=10 ", 0.00001, true},
		{"out_time_us=N/A", 0, false},
		{"out_time=N/A", 0, false},
		{"out_time_us=-5", 0, false},
		{"out_time=-00:00:01.0", 0, false},
		{"progress=continue", 0, false},
		{"bitrate=128.0kbits/s", 0, false},
		{"", 0, false},
		{"garbage", 0, false},
	}
	for _, tt := range tests {
		got, ok := ffmpeg.ParseProgress(tt.line)
		if ok != tt.ok || (ok && abs(got-tt.want) > 1e-9) {
			t.Errorf("ParseProgress(%q) = %v, %v; want %v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseProbe(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    *mp3converter.MediaInfo
		wantErr error
	}{
		{"mp4 with aac", `{"streams":[{"codec_type":"video","codec_name":"h264","duration":"5.0"},{"codec_type":"audio","codec_name":"aac","duration":"4.98"}],"format":{"format_name":"mov,mp4","duration":"5.02"}}`,
			&mp3converter.MediaInfo{Format: "mov,mp4", AudioCodec: "aac", Duration: 4.98}, nil},
		{"mkv: no stream duration, format duration used", `{"streams":[{"codec_type":"video","codec_name":"h264"},{"codec_type":"audio","codec_name":"vorbis"}],"format":{"format_name":"matroska,webm","duration":"3.000000"}}`,
			&mp3converter.MediaInfo{Format: "matroska,webm", AudioCodec: "vorbis", Duration: 3}, nil},
		{"first audio stream wins", `{"streams":[{"codec_type":"audio","codec_name":"mp3","duration":"2"},{"codec_type":"audio","codec_name":"aac","duration":"9"}],"format":{"format_name":"mp3","duration":"2"}}`,
			&mp3converter.MediaInfo{Format: "mp3", AudioCodec: "mp3", Duration: 2}, nil},
		{"no audio", `{"streams":[{"codec_type":"video","codec_name":"h264","duration":"1"}],"format":{"format_name":"mov,mp4","duration":"1"}}`,
			&mp3converter.MediaInfo{Format: "mov,mp4", Duration: 1}, nil},
		{"bad durations ignored", `{"streams":[{"codec_type":"audio","codec_name":"aac","duration":"N/A"}],"format":{"format_name":"aac","duration":"-3"}}`,
			&mp3converter.MediaInfo{Format: "aac", AudioCodec: "aac"}, nil},
		{"text file probes as tty", `{"streams":[{"codec_type":"video","codec_name":"ansi"}],"format":{"format_name":"tty"}}`, nil, ffmpeg.ErrNotMedia},
		{"empty object", `{}`, nil, ffmpeg.ErrNotMedia},
		{"not json", `Invalid data found`, nil, ffmpeg.ErrNotMedia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ffmpeg.ParseProbe([]byte(tt.json))
			if tt.wantErr != nil {
				if !errorsIs(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != *tt.want {
				t.Errorf("got %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	copyArgs := ffmpeg.Args("in", "out.mp3", &mp3converter.MediaInfo{AudioCodec: "mp3"}, 2, mp3converter.TranscodeOptions{})
	if i := slices.Index(copyArgs, "-c:a"); i < 0 || copyArgs[i+1] != "copy" {
		t.Errorf("MP3 source is not copied: %v", copyArgs)
	}
	enc := ffmpeg.Args("in", "out.mp3", &mp3converter.MediaInfo{AudioCodec: "aac"}, 4, mp3converter.TranscodeOptions{})
	if i := slices.Index(enc, "-c:a"); i < 0 || enc[i+1] != "libmp3lame" {
		t.Errorf("AAC source is not encoded with LAME: %v", enc)
	}
	if i := slices.Index(enc, "-q:a"); i < 0 || enc[i+1] != "4" {
		t.Errorf("quality not passed: %v", enc)
	}
	for _, args := range [][]string{copyArgs, enc} {
		if i := slices.Index(args, "-i"); i < 0 || args[i+1] != "in" {
			t.Errorf("input must be a file argument, never a pipe: %v", args)
		}
		if args[len(args)-1] != "out.mp3" || !slices.Contains(args, "0:a:0") || !slices.Contains(args, "-nostdin") {
			t.Errorf("bad args %v", args)
		}
	}
}

func TestDurationsMatch(t *testing.T) {
	tests := []struct {
		want, got float64
		ok        bool
	}{
		{10, 10.02, true}, {10, 9.6, true}, {10, 9.4, false}, {100, 98.5, true}, {100, 97, false},
		{0.1, 0.13, true}, {0, 5, true}, {0, 0, false}, {5, 0, false},
	}
	for _, tt := range tests {
		if got := ffmpeg.DurationsMatch(tt.want, tt.got); got != tt.ok {
			t.Errorf("DurationsMatch(%v, %v) = %v", tt.want, tt.got, got)
		}
	}
}

// TestConvert converts real files made by ffmpeg and checks the output.
func TestConvert(t *testing.T) {
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	for _, tt := range []struct {
		kind   testmedia.Kind
		codec  string
		copied bool
	}{
		{testmedia.MP4, "aac", false},
		{testmedia.MKV, "vorbis", false},
		{testmedia.WebM, "opus", false},
		{testmedia.MP4MP3, "mp3", true},
		{testmedia.MP3, "mp3", true},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			src := testmedia.Make(t, tt.kind, 3)
			info, err := c.Probe(ctx, src)
			if err != nil {
				t.Fatal(err)
			}
			if info.AudioCodec != tt.codec || abs(info.Duration-3) > 0.1 {
				t.Fatalf("probe = %+v, want codec %s and about 3 s", info, tt.codec)
			}
			dst := filepath.Join(t.TempDir(), "out.mp3")
			var reports []float64
			res, err := c.ToMP3(ctx, src, dst, info, mp3converter.TranscodeOptions{Progress: func(f float64) { reports = append(reports, f) }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Copied != tt.copied {
				t.Errorf("Copied = %v, want %v", res.Copied, tt.copied)
			}
			format, d := testmedia.Probe(t, dst)
			if format != "mp3" || abs(d-3) > 0.5 {
				t.Errorf("output is %s of %.2f s, want mp3 of 3 s", format, d)
			}
			if len(reports) == 0 || reports[len(reports)-1] < 0.9 {
				t.Errorf("progress reports %v do not reach the end", reports)
			}
			for i := 1; i < len(reports); i++ {
				if reports[i] < reports[i-1] || reports[i] > 1 {
					t.Errorf("progress not monotonic in [0,1]: %v", reports)
					break
				}
			}
		})
	}
}

func TestPoison(t *testing.T) {
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		path string
		msg  string
	}{
		{"text", testmedia.Text(t), "not a video or audio file"},
		{"random", testmedia.Random(t), "not a video or audio file"},
		{"empty", testmedia.Empty(t), "empty"},
		{"truncated", testmedia.Truncated(t), "not a video or audio file"},
		{"no audio", testmedia.Make(t, testmedia.NoAudio, 2), "no audio track"},
		{"audio cut short", testmedia.Damaged(t), "the file is damaged: its audio stops at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := c.Probe(ctx, tt.path)
			if err == nil {
				_, err = c.ToMP3(ctx, tt.path, filepath.Join(t.TempDir(), "o.mp3"), info, mp3converter.TranscodeOptions{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !mp3converter.IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			if msg := mp3converter.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q does not say %q", msg, tt.msg)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	c := &ffmpeg.Transcoder{}
	src := testmedia.Make(t, testmedia.MP4, 3)
	info, err := c.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.ToMP3(ctx, src, filepath.Join(t.TempDir(), "o.mp3"), info, mp3converter.TranscodeOptions{})
	if err == nil || mp3converter.IsPermanent(err) {
		t.Fatalf("cancelled conversion: err = %v, want a transient error", err)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func errorsIs(err, target error) bool {
	for e := err; e != nil; {
		if e == target {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// FuzzParseProbe: whatever ffprobe prints, parsing does not panic, and a
// result has a sane duration.
func FuzzParseProbe(f *testing.F) {
	f.Add([]byte(`{"streams":[{"codec_type":"audio","codec_name":"aac","duration":"4.98"}],"format":{"format_name":"mov,mp4","duration":"5.02"}}`))
	f.Add([]byte(`{"streams":[{"codec_type":"video","codec_name":"ansi"}],"format":{"format_name":"tty"}}`))
	f.Add([]byte(`{"streams":[{"codec_type":"audio","duration":"NaN"}],"format":{"format_name":"x","duration":"-Inf"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		info, err := ffmpeg.ParseProbe(out)
		if err != nil {
			if !errorsIs(err, ffmpeg.ErrNotMedia) {
				t.Fatalf("error %v is not ErrNotMedia", err)
			}
			return
		}
		if info.Duration < 0 || math.IsNaN(info.Duration) || math.IsInf(info.Duration, 0) || info.Format == "" {
			t.Fatalf("ParseProbe(%q) = %+v", out, info)
		}
	})
}

// FuzzParseProgress: progress lines never parse to a negative or non-finite
// time.
func FuzzParseProgress(f *testing.F) {
	for _, s := range []string{"out_time_us=1500000", "out_time=00:01:02.500000", "out_time=-00:00:01", "progress=end", "out_time=1:2:3:4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sec, ok := ffmpeg.ParseProgress(line)
		if ok && (sec < 0 || math.IsNaN(sec) || math.IsInf(sec, 0)) {
			t.Fatalf("ParseProgress(%q) = %v", line, sec)
		}
	})
}
