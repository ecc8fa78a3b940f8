package ffmpeg_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
)

// TestArgsOptions checks the arguments each upload option gives ffmpeg.
func TestArgsOptions(t *testing.T) {
	aac := &mp3converter.MediaInfo{AudioCodec: "aac", SampleRate: 44100, Duration: 60}
	mp3 := &mp3converter.MediaInfo{AudioCodec: "mp3", SampleRate: 48000, Duration: 60}
	for _, tc := range []struct {
		name      string
		info      *mp3converter.MediaInfo
		opts      mp3converter.TranscodeOptions
		want      []string // in this order, each pair adjacent
		wantNot   []string
		beforeInp []string // arguments before -i
	}{
		{"default VBR", aac, mp3converter.TranscodeOptions{}, []string{"-c:a libmp3lame", "-q:a 2"}, []string{"-b:a", "-ac", "-ar", "-af", "-ss", "-t"}, nil},
		{"quality", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Quality: "V0"}}, []string{"-q:a 0"}, []string{"-b:a"}, nil},
		{"bitrate", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Bitrate: 128}}, []string{"-b:a 128k"}, []string{"-q:a"}, nil},
		{"mono", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Channels: 1}}, []string{"-ac 1"}, nil, nil},
		{"sample rate", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{SampleRate: 22050}}, []string{"-ar 22050"}, nil, nil},
		{"normalize keeps the rate", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Normalize: true}},
			[]string{"-af loudnorm=I=-16:TP=-1.5:LRA=11", "-ar 44100"}, nil, nil},
		{"normalize with a rate", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Normalize: true, SampleRate: 16000}},
			[]string{"-af loudnorm=I=-16:TP=-1.5:LRA=11", "-ar 16000"}, []string{"-ar 44100"}, nil},
		{"cut", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Start: 1.5, End: 4.25}}, []string{"-t 2.75"}, nil, []string{"-ss 1.5"}},
		{"cut from start only", aac, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Start: 2}}, nil, []string{"-t"}, []string{"-ss 2"}},
		{"cut within a limit", aac, mp3converter.TranscodeOptions{MaxDuration: time.Minute, Audio: mp3converter.Options{End: 10}},
			[]string{"-t 10", "-fs"}, []string{"-t 61"}, nil},
		{"limit shorter than the cut", aac, mp3converter.TranscodeOptions{MaxDuration: 5 * time.Second, Audio: mp3converter.Options{End: 10}},
			[]string{"-t 6"}, []string{"-t 10"}, nil},
		{"MP3 copied with a title", mp3, mp3converter.TranscodeOptions{Title: "x", Audio: mp3converter.Options{Title: "x"}},
			[]string{"-c:a copy", "-metadata title=x"}, []string{"libmp3lame"}, nil},
		{"MP3 re-encoded for an option", mp3, mp3converter.TranscodeOptions{Audio: mp3converter.Options{Channels: 2}},
			[]string{"-c:a libmp3lame", "-q:a 2", "-ac 2"}, []string{"-c:a copy"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := ffmpeg.Args("in", "out.mp3", tc.info, 2, tc.opts)
			in := slices.Index(args, "-i")
			joined := " " + strings.Join(args[in:], " ") + " "
			pos := 0
			for _, w := range tc.want {
				i := strings.Index(joined[pos:], " "+w+" ")
				if i < 0 {
					t.Fatalf("missing %q in order: %v", w, args)
				}
				pos += i
			}
			for _, w := range tc.wantNot {
				if strings.Contains(joined, " "+w+" ") {
					t.Errorf("unexpected %q: %v", w, args)
				}
			}
			before := " " + strings.Join(args[:in], " ") + " "
			for _, w := range tc.beforeInp {
				if !strings.Contains(before, " "+w+" ") {
					t.Errorf("%q must come before -i: %v", w, args)
				}
			}
			if tc.beforeInp == nil && strings.Contains(before, " -ss ") {
				t.Errorf("seek without a cut: %v", args)
			}
		})
	}
}
