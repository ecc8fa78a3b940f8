package ffmpeg_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
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
	c := &ffmpeg.Transcoder{FFmpeg: testmedia.BenchFFmpeg()}
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
		if err := testmedia.RunCLI(src, filepath.Join(dir, "cli.mp3"), false); err != nil {
			b.Fatal(err)
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
// with the bare command line, and two command lines at once on its
// halves, in one run. It reports
//   - parallel/single: the parallel job's time over the single pass's
//     (below 1: the lanes win);
//   - lanes/cli: the parallel job over the command line;
//   - lanes-cpu/cli-cpu: the CPU time they used, which the machine's other
//     work changes less than their wall-clock times;
//   - halves/cli and halves-cpu/cli-cpu: the halves over the command line,
//     the floor of any split in two here, where two busy cores each run
//     slower than one;
//   - from-source: 1 where the lanes read the source.
//
// "resampled" is the MP4 converted to 44.1 kHz, which takes the decoder's
// path. Filter lengths by name: -bench 'ParallelAbove/mp4/(30|60)s'. Every
// ffmpeg is testmedia.BenchFFmpeg's, or BenchCLI's for the command lines.
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
	bin := testmedia.BenchFFmpeg()
	single, par := &ffmpeg.Transcoder{FFmpeg: bin}, &ffmpeg.Transcoder{FFmpeg: bin, ParallelAbove: time.Second}
	info, err := single.Probe(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	steps := [4]func() error{
		func() error {
			_, err := single.ToMP3(ctx, src, filepath.Join(dir, "single.mp3"), info, mp3converter.TranscodeOptions{Audio: audio})
			return err
		},
		func() error {
			_, err := par.ToMP3(ctx, src, filepath.Join(dir, "parallel.mp3"), info, mp3converter.TranscodeOptions{Audio: audio, Cores: lend})
			return err
		},
		func() error { return testmedia.RunCLI(src, filepath.Join(dir, "cli.mp3"), false) },
		func() error { return runHalves(src, dir, info.Duration) },
	}
	var wall, cpu [4]time.Duration // single, parallel, command line, halves
	fromSource := false
	ffmpeg.SetParallel(par, 0, func(s ffmpeg.ParallelStats) { fromSource = s.FromSource })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range steps { // each first in turn
			step := (i + k) % len(steps)
			start, used := time.Now(), cpuUsed()
			if err := steps[step](); err != nil {
				b.Fatal(err)
			}
			wall[step] += time.Since(start)
			cpu[step] += cpuUsed() - used
		}
	}
	b.ReportMetric(float64(wall[0].Milliseconds())/float64(b.N), "single-ms/op")
	b.ReportMetric(float64(wall[1].Milliseconds())/float64(b.N), "parallel-ms/op")
	b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), "parallel/single")
	b.ReportMetric(wall[1].Seconds()/wall[2].Seconds(), "lanes/cli")
	b.ReportMetric(cpu[1].Seconds()/cpu[2].Seconds(), "lanes-cpu/cli-cpu")
	b.ReportMetric(wall[3].Seconds()/wall[2].Seconds(), "halves/cli")
	b.ReportMetric(cpu[3].Seconds()/cpu[2].Seconds(), "halves-cpu/cli-cpu")
	b.ReportMetric(float64(btoi(fromSource)), "from-source")
}

// runHalves runs two bare command lines at once, each on half of src's
// seconds: the floor of any split in two on this machine, where the cores
// slow each other down.
func runHalves(src, dir string, seconds float64) error {
	half := strconv.FormatFloat(seconds/2, 'f', 3, 64)
	errs := make(chan error, 2)
	for i, args := range [2][]string{{"-t", half}, {"-ss", half}} {
		go func() {
			errs <- testmedia.RunCLI(src, filepath.Join(dir, fmt.Sprintf("half%d.mp3", i)), false, args...)
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// cpuUsed is testmedia.CPUUsed, this process's and its children's.
func cpuUsed() time.Duration {
	self, children := testmedia.CPUUsed()
	return self + children
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
