package ffmpeg_test

import (
	"context"
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
