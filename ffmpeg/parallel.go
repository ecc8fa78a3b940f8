package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/parallel"
	"github.com/mp3converter/mp3converter/internal/probe"
	"github.com/mp3converter/mp3converter/internal/probe/mkv"
	"github.com/mp3converter/mp3converter/internal/probe/mp4"
)

// Long audio is encoded on several cores by internal/parallel: from an MP4
// or Matroska file at a rate LAME keeps, with lanes that read the source
// themselves (parallel.FromSource); otherwise from one decoder's PCM
// (parallel.FromDecoder), which runs as the single pass would (the same
// input options, cut, limit, filters, and the channel layouts and rates
// ffmpeg itself holds LAME to). This file gives it the command lines.

// parallel says whether ToMP3 encodes in parallel: LAME for audio of at
// least ParallelAbove, with cores to borrow.
func (c *Transcoder) parallel(info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) bool {
	return c.ParallelAbove > 0 && opts.Cores != nil && !copies(info, opts.Audio) &&
		expected(info, opts.Audio).Duration >= c.ParallelAbove.Seconds()
}

// fromSource says whether the parallel encode may read the source at url
// with lanes of its own, at a rate LAME keeps: an MP4 whose audio is timed
// to the sample (probe.SampleExact), where a lane seeks; or a Matroska
// file whose audio blocks probe.MatroskaIndex counts, where a lane is fed
// the blocks from its start (ix; done closes it). A resampler started at a
// seek does not fall in step with the single pass's (measured: 9 dB worse
// around a join); nor does a Matroska cut, which the single pass seeks to
// the millisecond.
func fromSource(url string, info *mp3converter.MediaInfo, o mp3converter.Options) (ok bool, ix *mkv.Index, done func() error) {
	if !slices.Contains(lameRates, info.SampleRate) || (o.SampleRate != 0 && o.SampleRate != info.SampleRate) || o.Normalize {
		return false, nil, nil
	}
	path := strings.TrimPrefix(url, "file:")
	switch info.Format {
	case mp4.Format:
		return probe.SampleExact(path), nil, nil
	case mkv.Format:
		if o.Start > 0 {
			return false, nil, nil
		}
		ix, done, ok := probe.MatroskaIndex(path)
		if ok && ix.Rate() != info.SampleRate {
			done()
			return false, nil, nil
		}
		return ok, ix, done
	}
	return false, nil, nil
}

// toMP3Parallel is ToMP3 for a long file: from the source if it can, else
// from one decoder.
func (c *Transcoder) toMP3Parallel(ctx context.Context, src, dst, dir string, info *mp3converter.MediaInfo, quality int, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	job := c.parallelJob(src, dir, info, quality, opts)
	if ok, ix, done := fromSource(src, info, opts.Audio); ok {
		if ix != nil {
			defer done()
			job.Excerpt = ix.Excerpt
		}
		res, err := parallel.FromSource(ctx, job, info.SampleRate, dst)
		switch {
		case err == nil:
			return c.parallelResult(ctx, dst, res, info, opts)
		case !errors.Is(err, parallel.ErrUneven):
			return nil, err
		}
	}
	res, err := parallel.FromDecoder(ctx, job, dst)
	if err != nil {
		return nil, err
	}
	if res.Samples == 0 {
		return nil, errNoSound
	}
	return c.parallelResult(ctx, dst, res, info, opts)
}

// parallelJob describes a parallel encode of src to internal/parallel.
func (c *Transcoder) parallelJob(src, dir string, info *mp3converter.MediaInfo, quality int, opts mp3converter.TranscodeOptions) parallel.Job {
	want := expected(info, opts.Audio)
	job := parallel.Job{
		FFmpeg: lanes{c: c, src: src, info: info, quality: quality, opts: opts},
		Dir:    dir, Segment: c.segment, OwnSegment: c.segment, CBR: opts.Audio.Bitrate > 0,
		Duration: want.Duration, Length: outputLength(opts), Cores: opts.Cores,
		SizeCap: sizeCap(opts.MaxDuration), NoSound: errNoSound, Observe: c.observe,
	}
	if job.SizeCap > 0 {
		job.TooBig = tooBig(job.SizeCap)
	}
	if opts.Progress != nil {
		meter := progressMeter{probed: want.Duration, limit: opts.MaxDuration, report: opts.Progress}
		job.Progress = func(t float64) { opts.Progress(meter.Fraction(t)) }
	}
	return job
}

// parallelResult checks the MP3 a parallel encode wrote against the limit
// and the source, as ToMP3 does one pass's.
func (c *Transcoder) parallelResult(ctx context.Context, dst string, res parallel.Result, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	decoded := res.Seconds()
	if Exceeds(decoded, opts.MaxDuration) {
		return nil, fmt.Errorf("ffmpeg stopped after %.1f s of audio (probed %.1f s): %w", decoded, info.Duration, tooLong(opts.MaxDuration))
	}
	got, err := c.verify(ctx, dst, output{decoded, true}, expected(info, opts.Audio), opts.MaxDuration)
	if err != nil {
		return nil, err
	}
	return &mp3converter.TranscodeResult{Duration: got, Segments: res.Segments}, nil
}

// lanes is a parallel encode's ffmpeg: its command lines.
type lanes struct {
	c       *Transcoder
	src     string // the source's URL
	info    *mp3converter.MediaInfo
	quality int
	opts    mp3converter.TranscodeOptions
}

var _ parallel.FFmpeg = lanes{}

func (l lanes) Command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	return l.c.command(ctx, dir, &tailBuffer{}, args...)
}

func (l lanes) ExitError(cmd *exec.Cmd, err error) error {
	stderr, ok := cmd.Stderr.(*tailBuffer)
	if !ok {
		stderr = &tailBuffer{}
	}
	return exitError(err, stderr)
}

func (l lanes) LocalFile(path string) (string, error) {
	url, _, err := localFile(path)
	return url, err
}

func (l lanes) DecoderArgs() []string { return decodeArgs(l.src, l.info, l.opts) }

// decodeArgs returns the decoder's arguments: as mp3Args, but to PCM in
// WAV on stdout, and with -t but not -fs, which would count PCM bytes.
func decodeArgs(src string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) []string {
	args := append(audioInput(src, opts.Audio), shapeArgs(info, opts.Audio, true)...)
	args = append(args, "-c:a", "pcm_f32le", "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	args = append(args, timeArgs(opts)...)
	return append(args, "-f", "wav", "pipe:1")
}

// rawInput returns the arguments that read f's PCM from stdin, at once:
// raw PCM needs no probing.
func rawInput(f parallel.PCMFormat) []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-probesize", "32", "-analyzeduration", "0",
		"-f", "f32le", "-ar", strconv.Itoa(f.Rate), "-ac", strconv.Itoa(f.Channels), "-i", "pipe:0"}
}

// PCMLaneArgs returns a lane's arguments: LAME as configured, each frame
// written as soon as it is encoded, no tag, no Xing frame.
func (l lanes) PCMLaneArgs(f parallel.PCMFormat) []string {
	args := append(rawInput(f), codecArgs(l.quality, l.opts.Audio)...)
	return append(args, "-map_metadata", "-1", "-fflags", "+bitexact", "-flush_packets", "1",
		"-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", "pipe:1")
}

// HeaderArgs returns the arguments of the one-frame encode whose ID3 tag
// and Xing frame head the output: mp3Args' tags, to a file, which ffmpeg
// needs to write the Xing frame.
func (l lanes) HeaderArgs(f parallel.PCMFormat, dst string) []string {
	args := append(rawInput(f), codecArgs(l.quality, l.opts.Audio)...)
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	if l.opts.Title != "" {
		args = append(args, "-metadata", "title="+l.opts.Title)
	}
	return append(args, "-y", "-f", "mp3", dst)
}

// excerptInput returns the arguments that read a lane's excerpt of a
// Matroska source (mkv.Index.Excerpt) on stdin.
func excerptInput() []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist", "pipe",
		"-f", "matroska", "-i", "pipe:0", "-map", "0:a:0", "-vn", "-sn", "-dn"}
}

// SourceLaneArgs returns the arguments of the lane that encodes sl from
// the source into url: the single pass's, from the cut's start plus
// sl.Offset, after sl.Delay samples of silence, for sl.Length seconds;
// or, piped, from its excerpt less sl.Skip samples, counted, not timed.
// Lane 0 writes the title.
func (l lanes) SourceLaneArgs(sl parallel.SourceLane, url string) []string {
	o := l.opts.Audio
	o.Start += sl.Offset
	input, filters := audioInput(l.src, o), []string(nil)
	if sl.Piped {
		input = excerptInput()
		filters = append(filters, fmt.Sprintf("atrim=start_sample=%d,asetpts=N/SR/TB", sl.Skip))
	}
	args := append(input, encodeArgs(l.info, l.quality, o)...)
	if !sl.First {
		filters = append(filters, fmt.Sprintf("adelay=delays=%dS:all=1", sl.Delay))
	}
	if len(filters) > 0 {
		args = append(args, "-af", strings.Join(filters, ","))
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	if sl.First && l.opts.Title != "" {
		args = append(args, "-metadata", "title="+l.opts.Title)
	}
	if !sl.First {
		args = append(args, "-id3v2_version", "0")
	}
	if sl.Length >= 0 {
		args = append(args, "-t", strconv.FormatFloat(sl.Length, 'f', -1, 64))
	}
	return append(args, "-f", "mp3", url)
}
