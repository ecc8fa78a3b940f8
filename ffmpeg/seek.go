package ffmpeg

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Parallel encoding from the source itself. Where the container times
// every audio sample exactly (an MP4 whose audio track's time scale is a
// multiple of its rate: sampleExact), so that ffmpeg's -ss before -i starts
// on the very sample asked, each lane is a whole ffmpeg of its own: it
// seeks to its segment's pre-roll, decodes and encodes it and postRoll
// frames after it, and writes an MP3 with its Xing frame to a scratch
// file. No PCM passes through this process, and no decoder runs ahead of
// the lanes: the work is the single pass's, split, plus a process and the
// rolls a segment. The frames are joined as splitJob.join joins any
// lanes'. Matroska's timestamps are whole milliseconds, so a seek there
// lands up to a millisecond off: other containers, a new sample rate and
// loudness normalisation (see fromSource) take the decoder's path
// (parallel.go).
//
// A lane's output frame k holds its input frame k, as in any LAME encode
// started on a frame boundary, and its input starts on a frame of the
// whole output: each frame's place in the file is known by counting. Its Xing frame says how many
// samples it decoded, which gives the last lane's length, and shows a lane
// that ended before its segment did (a probe longer than the audio).
//
// Each lane but the first encodes settle frames of silence first (an
// adelay filter), as the decoder's lanes do, and its first seekWarm frames
// of audio are never used: the decoder's first frames after a seek lack
// the overlap of the frames before them.
//
// AAC's noise substitution (PNS) fills some bands with noise that the
// decoder draws from a generator it carries through the file: after a
// seek, ffmpeg draws other noise there, as any player does. The lanes'
// audio is then the source's as another decode of it, equal to it but in
// those bands; other codecs and AAC without PNS decode to the same samples
// from any seek.
const (
	defaultSeekSegment = 4 * time.Minute
	seekWarm           = 8
)

// errUneven stops an encode from the source whose lanes did not cover
// the file as planned; the decoder's path then encodes it.
var errUneven = errors.New("parallel encode: the lanes' audio does not match the plan")

// fromSource says whether the parallel encode may seek in the source at
// url: an MP4 whose audio is timed to the sample (sampleExact), at a rate
// LAME keeps. A resampler started at a seek does not fall in step with the
// single pass's (measured: 9 dB worse around a join).
func fromSource(url string, info *mp3converter.MediaInfo, o mp3converter.Options) bool {
	return info.Format == mp4Format && slices.Contains(lameRates, info.SampleRate) &&
		(o.SampleRate == 0 || o.SampleRate == info.SampleRate) && !o.Normalize &&
		sampleExact(strings.TrimPrefix(url, "file:"))
}

// seekPlan returns the first frame of each segment: at least two, as many
// as segment-long pieces of frames, rounded up to a multiple of the lanes
// so that they end together.
func seekPlan(frames, segFrames, lanes int) []int {
	n := max(2, (frames+segFrames-1)/segFrames)
	n = (n + lanes - 1) / lanes * lanes
	starts := make([]int, n)
	for i := range starts {
		starts[i] = i * frames / n
	}
	return starts
}

// toMP3Seek is ToMP3 for a long file the lanes read themselves; it returns
// errUneven if they did not cover it as planned.
func (c *Transcoder) toMP3Seek(ctx context.Context, src, dst, dir string, info *mp3converter.MediaInfo, quality int, opts mp3converter.ConvertOptions) (*mp3converter.ConvertResult, error) {
	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	want := expected(info, opts.Audio)
	f := pcmFormat{rate: info.SampleRate}
	j := c.newSplit(work, cancel, f, quality, opts, progressMeter{probed: want.Duration, limit: opts.MaxDuration, report: opts.Progress})
	seg := cmp.Or(c.segment, defaultSeekSegment)
	segFrames := max(int(seg.Seconds()*float64(f.rate))/j.spf, 4*j.preRoll)
	length := want.Duration
	if most := outputLength(opts); most > 0 { // a lane past the limit would have nothing to do
		length = min(length, most)
	}
	frames := int(length*float64(f.rate))/j.spf + 1
	s := &seekJob{splitJob: j, src: src, dir: dir, dst: dst, info: info,
		starts: seekPlan(frames, segFrames, laneCount())}
	samples, err := s.run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return c.parallelResult(ctx, dst, float64(samples)/float64(f.rate), info, opts, len(s.starts))
}

// seekJob is a splitJob whose lanes read the source.
type seekJob struct {
	*splitJob
	src, dir, dst string
	info          *mp3converter.MediaInfo
	starts        []int
	busy          int // lanes running, guarded by mu
}

// run starts the lanes in order, each on a core it holds while it runs,
// and joins their frames; it returns the samples decoded.
func (s *seekJob) run() (int64, error) {
	header := make(chan *mp3Header, 1)
	order := make(chan *piece, cap(s.tokens))
	var wg sync.WaitGroup
	wg.Go(func() { s.start(&wg, header, order) })
	return s.finish(s.dst, header, order, wg.Wait)
}

// start gives each segment a lane once a core is free for it: the
// conversion's own, or one borrowed.
func (s *seekJob) start(wg *sync.WaitGroup, header chan<- *mp3Header, order chan<- *piece) {
	defer close(order)
	own := make(chan struct{}, 1)
	own <- struct{}{}
	ended := make(chan struct{}, len(s.starts))
	for i, start := range s.starts {
		if !send(s.ctx, s.tokens, struct{}{}) {
			return
		}
		p := &piece{start: start, pre: min(start, s.preRoll), post: postRoll, last: i == len(s.starts)-1, done: make(chan struct{})}
		if !p.last {
			p.keep = s.starts[i+1] - start
		}
		if !send(s.ctx, order, p) {
			return
		}
		release, ok := s.core(own, ended)
		if !ok {
			return
		}
		s.note(+1)
		wg.Go(func() {
			defer func() { ended <- struct{}{} }()
			defer release()
			defer s.note(-1)
			if err := s.lane(p, i, header); err != nil {
				s.fail(err)
			}
		})
	}
}

// core waits for a core: the conversion's own if it is free, else one
// borrowed, else it asks again when a lane ends (each gives its core back
// before it says so).
func (s *seekJob) core(own chan struct{}, ended <-chan struct{}) (func(), bool) {
	for {
		select {
		case <-own:
			return func() { own <- struct{}{} }, true
		default:
		}
		if release, ok := s.opts.Cores(); ok {
			return release, true
		}
		select {
		case <-ended:
		case <-s.ctx.Done():
			return nil, false
		}
	}
}

// note counts a lane starting (+1) or ending (-1).
func (s *seekJob) note(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy += d
	if d > 0 {
		s.stats.Segments++
		s.stats.MaxBusy = max(s.stats.MaxBusy, s.busy)
		s.stats.Lanes, s.stats.FromSource = s.stats.MaxBusy, true
	}
}

// lane encodes p from the source into a scratch file, and gives p its
// frames. Lane 0's ID3 tag and Xing frame head the output.
func (s *seekJob) lane(p *piece, i int, header chan<- *mp3Header) error {
	path := fmt.Sprintf("%s.%d", s.dst, i)
	defer os.Remove(path)
	url, _, err := localFile(path)
	if err != nil {
		return err
	}
	var stderr tailBuffer
	from := p.start - p.pre
	if err := exitError(s.c.command(s.ctx, s.dir, &stderr, s.laneArgs(from, p, i == 0, url)...).Run(), &stderr); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	h, err := parseMP3Header(b)
	if err != nil { // no audio from there: ffmpeg writes no Xing frame
		return fmt.Errorf("%w: lane %d: %v", errUneven, i, err)
	}
	if i == 0 {
		header <- h
	}
	samples := h.samples(s.spf)
	if i > 0 {
		samples -= int64(settle * s.spf)
	}
	if p.last {
		s.samples = int64(from*s.spf) + samples
	} else if samples < int64((p.pre+p.keep+p.post)*s.spf) {
		return errUneven // the audio ended early
	}
	if err := s.frames(p, b[len(h.id3)+len(h.frame):]); err != nil {
		return fmt.Errorf("%w: lane %d: %v", errUneven, i, err)
	}
	if p.last && len(p.frames) == 0 {
		return errUneven
	}
	close(p.done)
	return nil
}

// frames unpacks a lane's frames and gives p those that can be used, from
// seekWarm frames into its pre-roll (after its silence) to lead frames
// before the end of its post-roll.
func (s *seekJob) frames(p *piece, b []byte) error {
	drop := min(seekWarm, p.pre)
	p.first = p.start - p.pre + drop
	n := p.pre + p.keep + p.post - lead
	if p.start > 0 {
		drop, n = drop+settle, n+settle
	}
	r := newFrameReader(bytes.NewReader(b))
	var u unpacker
	for i := 0; p.last || i < n; i++ {
		f, h, err := r.next()
		if err == io.EOF && p.last {
			break
		}
		if err != nil {
			return err
		}
		if h.rate != s.pcm.rate {
			return errUneven
		}
		m, err := u.unpack(f, h)
		if err != nil {
			return err
		}
		if i >= drop {
			p.frames = append(p.frames, m)
		}
	}
	return nil
}

// laneArgs returns the arguments of the lane that encodes p from source
// frame from into url: the single pass's, from the cut's start plus from
// frames, for the segment and its rolls (the last to the end, or to the
// cut's end or the limit). Lane 0 writes the title.
func (s *seekJob) laneArgs(from int, p *piece, first bool, url string) []string {
	o := s.opts.Audio
	offset := float64(from*s.spf) / float64(s.pcm.rate)
	o.Start += offset
	args := append(audioInput(s.src, o), encodeArgs(s.info, s.quality, o)...)
	if !first {
		args = append(args, "-af", fmt.Sprintf("adelay=delays=%dS:all=1", settle*s.spf))
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact")
	if first && s.opts.Title != "" {
		args = append(args, "-metadata", "title="+s.opts.Title)
	}
	if !first {
		args = append(args, "-id3v2_version", "0")
	}
	frame := float64(s.spf) / float64(s.pcm.rate)
	silence := settle * btoi(!first)
	t := -1.0
	if whole := outputLength(s.opts); whole > 0 {
		t = whole - offset + float64(silence)*frame
	}
	if span := float64(silence+p.pre+p.keep+p.post+2) * frame; !p.last && (t < 0 || span < t) {
		t = span
	}
	if t >= 0 {
		args = append(args, "-t", strconv.FormatFloat(t, 'f', -1, 64))
	}
	return append(args, "-f", "mp3", url)
}

// samples is how many samples the MP3 under h plays, as a gapless decoder
// counts them: frames*samples - delay - padding.
func (h *mp3Header) samples(spf int) int64 {
	t := h.frame[h.at:]
	frames := int64(binary.BigEndian.Uint32(t[xingFrames:]))
	padding := int64(t[xingDelay+1]&0x0f)<<8 | int64(t[xingDelay+2])
	return frames*int64(spf) - int64(h.delay) - padding
}
