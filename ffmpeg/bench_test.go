package ffmpeg_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// BenchmarkConvert measures, side by side on the same 120 s MP4 whose audio
// is MP3: our conversion (a stream copy), the same file re-encoded, and the
// plain ffmpeg command line re-encoding it. It reports
//   - encode/copy: how much re-encoding would cost over copying;
//   - ours/cli: our encode (duration check included) over bare ffmpeg.
func BenchmarkConvert(b *testing.B) {
	ctx := context.Background()
	src := testmedia.Make(b, testmedia.MP4MP3, 120)
	c := &ffmpeg.Transcoder{}
	info, err := c.Probe(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	forced := *info
	forced.AudioCodec = "mp3-but-encode" // anything but "mp3" makes Args encode
	dir := b.TempDir()
	var copyT, encT, cliT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := c.ToMP3(ctx, src, filepath.Join(dir, "copy.mp3"), info, mp3converter.TranscodeOptions{})
		if err != nil || !res.Copied {
			b.Fatalf("copy: %v %+v", err, res)
		}
		copyT += time.Since(start)

		start = time.Now()
		if _, err := c.ToMP3(ctx, src, filepath.Join(dir, "encode.mp3"), &forced, mp3converter.TranscodeOptions{}); err != nil {
			b.Fatal(err)
		}
		encT += time.Since(start)

		start = time.Now()
		out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-vn", "-c:a", "libmp3lame", "-q:a", "2", filepath.Join(dir, "cli.mp3")).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v %s", err, out)
		}
		cliT += time.Since(start)
	}
	b.ReportMetric(float64(copyT.Milliseconds())/float64(b.N), "copy-ms/op")
	b.ReportMetric(float64(encT.Milliseconds())/float64(b.N), "encode-ms/op")
	b.ReportMetric(encT.Seconds()/copyT.Seconds(), "encode/copy")
	b.ReportMetric(encT.Seconds()/cliT.Seconds(), "ours/cli")
}

// BenchmarkParallelAbove measures where the parallel encode starts to win,
// for --parallel-above: each length of each container is converted in one
// pass and in parallel (every core lent, as to a job alone), alternately
// with the bare command line, in one run. It reports parallel/single, the
// parallel job's time over the single pass's (below 1: the lanes win),
// lanes/cli, the parallel job over the command line, and from-source, 1
// where the lanes read the source. "resampled" is the MP4 converted to
// 44.1 kHz, which takes the decoder's path. Filter lengths by name: -bench
// 'ParallelAbove/mp4/(30|60)s'.
func BenchmarkParallelAbove(b *testing.B) {
	for _, tc := range []struct {
		name string
		kind testmedia.Kind
		opts mp3converter.Options
	}{
		{"mp4", testmedia.MP4, mp3converter.Options{}},
		{"opus.mkv", testmedia.MKVOpus, mp3converter.Options{}},
		{"webm", testmedia.WebM, mp3converter.Options{}},
		{"resampled", testmedia.MP4, mp3converter.Options{SampleRate: 44100}},
	} {
		for _, seconds := range []int{30, 60, 120, 300, 1200, 3600} {
			b.Run(fmt.Sprintf("%s/%ds", tc.name, seconds), func(b *testing.B) {
				benchParallelAbove(b, testmedia.Make(b, tc.kind, float64(seconds)), tc.opts)
			})
		}
	}
}

func benchParallelAbove(b *testing.B, src string, audio mp3converter.Options) {
	ctx := context.Background()
	single, par := &ffmpeg.Transcoder{}, &ffmpeg.Transcoder{ParallelAbove: time.Second}
	info, err := single.Probe(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var singleT, parT, cliT time.Duration
	fromSource := false
	ffmpeg.SetParallel(par, 0, func(s ffmpeg.ParallelStats) { fromSource = s.FromSource })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, step := range [3]int{i % 3, (i + 1) % 3, (i + 2) % 3} { // each first in turn
			start := time.Now()
			switch step {
			case 0:
				_, err = single.ToMP3(ctx, src, filepath.Join(dir, "single.mp3"), info, mp3converter.TranscodeOptions{Audio: audio})
				singleT += time.Since(start)
			case 1:
				_, err = par.ToMP3(ctx, src, filepath.Join(dir, "parallel.mp3"), info, mp3converter.TranscodeOptions{Audio: audio, Cores: lend})
				parT += time.Since(start)
			case 2:
				var out []byte
				out, err = exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-vn", "-c:a", "libmp3lame", "-q:a", "2", filepath.Join(dir, "cli.mp3")).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("%w: %s", err, out)
				}
				cliT += time.Since(start)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(singleT.Milliseconds())/float64(b.N), "single-ms/op")
	b.ReportMetric(float64(parT.Milliseconds())/float64(b.N), "parallel-ms/op")
	b.ReportMetric(parT.Seconds()/singleT.Seconds(), "parallel/single")
	b.ReportMetric(parT.Seconds()/cliT.Seconds(), "lanes/cli")
	b.ReportMetric(float64(btoi(fromSource)), "from-source")
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
