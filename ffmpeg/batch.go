package ffmpeg

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// Short conversions share a run of ffmpeg: one input and one output each.
// Starting ffmpeg costs a fixed amount of CPU, mostly the dynamic linker's:
// Debian's build loads 215 shared libraries, about 150 ms of CPU, more than
// encoding a 10 s clip takes. One run pays it once for all.

// BatchBelow is the longest audio that shares a run: past it, the start is
// a small part of the conversion, and a long one would hold back the rest.
const BatchBelow = time.Minute

var _ mp3converter.BatchTranscoder = (*Transcoder)(nil)

// Batchable implements mp3converter.BatchTranscoder: audio shorter than
// BatchBelow that ToMP3 would encode or copy in one pass.
func (c *Transcoder) Batchable(info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) bool {
	if info.AudioCodec == "" || opts.Audio.CheckCut(info.Duration) != nil {
		return false // ToMP3 says why
	}
	d := expected(info, opts.Audio).Duration
	lanes := c.ParallelAbove > 0 && !copies(info, opts.Audio) && d >= c.ParallelAbove.Seconds()
	return d > 0 && d < BatchBelow.Seconds() && !lanes
}

// ToMP3s implements mp3converter.BatchTranscoder. Each output is checked
// as ToMP3 checks it, its length from its Xing frame, since ffmpeg's
// progress report gives only the longest output's time. When the run
// fails, or an output does not pass, those conversions run again alone,
// so that each error is the one ToMP3 gives: a damaged upload fails only
// its own job.
func (c *Transcoder) ToMP3s(ctx context.Context, cs []mp3converter.Conversion) ([]*mp3converter.TranscodeResult, []error) {
	results, errs := make([]*mp3converter.TranscodeResult, len(cs)), make([]error, len(cs))
	again := make([]int, 0, len(cs))
	if len(cs) == 1 || c.runBatch(ctx, cs) != nil {
		for i := range cs {
			again = append(again, i)
		}
	} else {
		for i, cv := range cs {
			results[i], errs[i] = c.checkBatched(cv)
			if errs[i] != nil {
				again = append(again, i)
			}
		}
	}
	for _, i := range again {
		if err := ctx.Err(); err != nil {
			results[i], errs[i] = nil, err
			continue
		}
		o := cs[i].Opts
		o.Cores = nil
		results[i], errs[i] = c.ToMP3(ctx, cs[i].Src, cs[i].Dst, cs[i].Info, o)
	}
	return results, errs
}

// runBatch runs ffmpeg once for all of cs, telling each its progress.
func (c *Transcoder) runBatch(ctx context.Context, cs []mp3converter.Conversion) error {
	args := append(quietArgs(), progressArgs()...)
	meters := make([]progressMeter, len(cs))
	var dir string
	for i, cv := range cs {
		in, d, err := localFile(cv.Src)
		if err != nil {
			return err
		}
		dir = cmp.Or(dir, d)
		args = append(args, inputArgs(in, cv.Opts.Audio)...)
		meters[i] = progressMeter{probed: expected(cv.Info, cv.Opts.Audio).Duration, limit: cv.Opts.MaxDuration, report: cv.Opts.Progress}
	}
	for i, cv := range cs {
		out, _, err := localFile(cv.Dst)
		if err != nil {
			return err
		}
		args = append(append(args, mapAudio(i)...), mp3Output(out, cv.Info, c.quality(), cv.Opts)...)
	}
	var stderr tailBuffer
	cmd := c.command(ctx, dir, &stderr, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	// The report's time is the longest output's: each is told at most its
	// own length, which it reaches at about that time.
	readProgress(stdout, func(t float64) {
		for _, m := range meters {
			m.tell(min(t, m.probed))
		}
	})
	if err := ctx.Err(); err != nil {
		cmd.Wait()
		return err
	}
	return exitError(cmd.Wait(), &stderr)
}

// checkBatched checks a batched conversion's output as verify does, its
// length read from its Xing frame.
func (c *Transcoder) checkBatched(cv mp3converter.Conversion) (*mp3converter.TranscodeResult, error) {
	got, err := mp3Seconds(cv.Dst)
	if err != nil {
		return nil, err
	}
	got, err = c.verify(context.Background(), cv.Dst, output{got, true}, expected(cv.Info, cv.Opts.Audio), cv.Opts.MaxDuration)
	if err != nil {
		return nil, err
	}
	return &mp3converter.TranscodeResult{Duration: got, Copied: copies(cv.Info, cv.Opts.Audio)}, nil
}

// mp3Seconds is how long the MP3 ffmpeg wrote at path plays, by its Xing
// frame: frames less the encoder's delay and padding.
func mp3Seconds(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10)) // the ID3 tag holds a title of 200 runes at most
	if err != nil {
		return 0, err
	}
	x, err := mp3frame.ParseXingHeader(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	h, err := mp3frame.ParseHeader(x.Frame)
	if err != nil {
		return 0, err
	}
	return float64(x.Samples(h.Samples)) / float64(h.Rate), nil
}
