package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Parallel encoding of long audio. LAME is single-threaded, so a long file
// is split into segments encoded at once on the cores ConvertOptions.Cores
// lends, and joined so that nobody can hear or measure the joins:
//
//   - From an MP4 at a rate LAME keeps, each lane reads the source itself
//     (seek.go); otherwise the rest of this list.
//   - One ffmpeg decodes the source as the single pass would (the same
//     input options, cut, limit, filters, and the channel layouts and rates
//     ffmpeg itself holds LAME to) into 32-bit float PCM on a pipe.
//   - Go cuts it into segments of whole frames, and feeds each to an
//     encoder ("lane": a LAME ffmpeg reading raw PCM on its stdin) with
//     a pre-roll of the audio before it and postRoll frames after it.
//     A lane encodes segment after segment as one stream: its output frame
//     k holds its input frame k, as in any LAME encode, so each frame's
//     place in the file is known by counting.
//   - Around each join both encodes hold frames of the same audio, each
//     encoded with real audio around it. The frames' data is taken out of
//     LAME's bit reservoir and packed again (reservoir.go), unchanged: the
//     join is put where the second encode's frames fit what the first
//     leaves, best where both held the same (splice). Where none fits, one
//     frame after the join gets a higher bitrate.
//   - The frames are written in order after ffmpeg's own ID3 tag and Xing
//     frame (from a one-frame encode with the same settings), whose counts,
//     TOC, delay and padding, and CRCs are then filled in for the whole
//     file (xing.go): a gapless decoder plays exactly the samples decoded.
//
// Lane 0 runs on the conversion's own core; each other lane borrows one
// for each segment and gives it back after it, so that work waiting for a
// core waits one segment at most. Lanes are persistent processes, because
// starting ffmpeg costs as much CPU as encoding seconds of audio.
const (
	defaultSegment = 30 * time.Second
	postRoll       = 12 // frames encoded after a segment
	// warm is how many frames of a lane's pre-roll are never used, while
	// LAME's state (masking, block switching) settles; lead how many at
	// the end of its post-roll, which LAME has not written yet (it lags
	// two frames) or encoded without the audio after them. The join lies
	// between warm frames into a segment's pre-roll and postRoll-lead
	// frames after its start.
	warm     = 4
	lead     = 4
	maxLanes = 8
)

// Each segment but the first is encoded after settle frames of silence
// and a pre-roll of the audio before it. LAME adapts its hearing threshold
// to quiet passages slowly (the ATH adjustment, a state that a short
// silence leaves where it was): a long silence brings it to where a long
// encode has it, whatever the lane encoded before. Silence costs LAME half
// as much as audio. VBR quantises each frame as its masking asks, whatever
// its bit reservoir holds, so a short pre-roll does; CBR spends what its
// reservoir holds, and a longer pre-roll lets the two encodes' reservoirs
// meet, so that the join can be where both hold the same (see splice).
const (
	settle     = 64
	vbrPreRoll = 12
	cbrPreRoll = 32
)

// parallel says whether ToMP3 encodes in parallel: LAME for audio of at
// least ParallelAbove, with cores to borrow.
func (c *Transcoder) parallel(info *mp3converter.MediaInfo, opts mp3converter.ConvertOptions) bool {
	return c.ParallelAbove > 0 && opts.Cores != nil && !copies(info, opts.Audio) &&
		expected(info, opts.Audio).Duration >= c.ParallelAbove.Seconds()
}

// decodeArgs returns the decoder's arguments: as mp3Args, but to PCM in
// WAV on stdout, and with -t but not -fs, which would count PCM bytes.
func decodeArgs(src string, info *mp3converter.MediaInfo, opts mp3converter.ConvertOptions) []string {
	args := append(audioInput(src, opts.Audio), shapeArgs(info, opts.Audio, true)...)
	args = append(args, "-c:a", "pcm_f32le", "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	args = append(args, timeArgs(opts)...)
	return append(args, "-f", "wav", "pipe:1")
}

// rawInput returns the arguments that read f's PCM from stdin, at once:
// raw PCM needs no probing.
func rawInput(f pcmFormat) []string {
	return []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-probesize", "32", "-analyzeduration", "0",
		"-f", "f32le", "-ar", strconv.Itoa(f.rate), "-ac", strconv.Itoa(f.channels), "-i", "pipe:0"}
}

// laneArgs returns a lane's arguments: LAME as configured, each frame
// written as soon as it is encoded, no tag, no Xing frame.
func laneArgs(f pcmFormat, quality int, o mp3converter.Options) []string {
	args := append(rawInput(f), codecArgs(quality, o)...)
	return append(args, "-map_metadata", "-1", "-fflags", "+bitexact", "-flush_packets", "1",
		"-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", "pipe:1")
}

// headerArgs returns the arguments of the one-frame encode whose ID3 tag
// and Xing frame head the output: mp3Args' tags, to a file, which ffmpeg
// needs to write the Xing frame.
func headerArgs(f pcmFormat, quality int, opts mp3converter.ConvertOptions, dst string) []string {
	args := append(rawInput(f), codecArgs(quality, opts.Audio)...)
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	if opts.Title != "" {
		args = append(args, "-metadata", "title="+opts.Title)
	}
	return append(args, "-y", "-f", "mp3", dst)
}

// toMP3Parallel is ToMP3 for a long file: from the source if it can
// (seek.go), else from one decoder.
func (c *Transcoder) toMP3Parallel(ctx context.Context, src, dst, dir string, info *mp3converter.MediaInfo, quality int, opts mp3converter.ConvertOptions) (*mp3converter.ConvertResult, error) {
	if fromSource(src, info, opts.Audio) {
		res, err := c.toMP3Seek(ctx, src, dst, dir, info, quality, opts)
		if !errors.Is(err, errUneven) {
			return res, err
		}
	}
	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var stderr tailBuffer
	dec := c.command(work, dir, &stderr, decodeArgs(src, info, opts)...)
	stdout, err := dec.StdoutPipe()
	if err != nil {
		return nil, err
	}
	growPipe(stdout)
	if err := dec.Start(); err != nil {
		return nil, fmt.Errorf("start ffmpeg: %w", err)
	}
	want := expected(info, opts.Audio)
	pcm := bufio.NewReaderSize(stdout, 1<<20)
	samples, rate, segments, runErr := int64(0), 0, 0, error(nil)
	if f, err := readWAVHeader(pcm); err == nil {
		j := c.newSplit(work, cancel, f, quality, opts, progressMeter{probed: want.Duration, limit: opts.MaxDuration, report: opts.Progress})
		samples, runErr = j.run(pcm, dst)
		rate, segments = f.rate, j.stats.Segments
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		runErr = err
	}
	if runErr != nil {
		cancel(runErr)
	}
	io.Copy(io.Discard, pcm)
	decErr := exitError(dec.Wait(), &stderr)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case decErr != nil && (runErr == nil || mp3converter.IsPermanent(decErr)):
		return nil, decErr
	case runErr != nil:
		return nil, runErr
	case samples == 0:
		return nil, errNoSound
	}
	return c.parallelResult(ctx, dst, float64(samples)/float64(rate), info, opts, segments)
}

// parallelResult checks the MP3 a parallel encode wrote, decoded seconds
// long, against the limit and the source, as ToMP3 does one pass's.
func (c *Transcoder) parallelResult(ctx context.Context, dst string, decoded float64, info *mp3converter.MediaInfo, opts mp3converter.ConvertOptions, segments int) (*mp3converter.ConvertResult, error) {
	if Exceeds(decoded, opts.MaxDuration) {
		return nil, fmt.Errorf("ffmpeg stopped after %.1f s of audio (probed %.1f s): %w", decoded, info.Duration, tooLong(opts.MaxDuration))
	}
	got, err := c.verify(ctx, dst, output{decoded, true}, expected(info, opts.Audio), opts.MaxDuration)
	if err != nil {
		return nil, err
	}
	return &mp3converter.ConvertResult{Duration: got, Segments: segments}, nil
}

// headerTemplate encodes one frame of silence with the job's settings into
// a scratch file and returns its ID3 tag and Xing frame.
func (c *Transcoder) headerTemplate(ctx context.Context, f pcmFormat, spf, quality int, opts mp3converter.ConvertOptions, dst string) (*mp3Header, error) {
	path := dst + ".head"
	url, _, err := localFile(path)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	var stderr tailBuffer
	cmd := c.command(ctx, "", &stderr, headerArgs(f, quality, opts, url)...)
	cmd.Stdin = bytes.NewReader(make([]byte, spf*f.sampleBytes()))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg header encode: %w: %s", err, stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := parseMP3Header(b)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg header encode: %w", err)
	}
	return h, nil
}

// laneCount is how many lanes a conversion may run: one per core.
func laneCount() int { return min(max(runtime.NumCPU(), 1), maxLanes) }
