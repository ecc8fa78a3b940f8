package parallel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// Parallel encoding from the source itself. Where the container times
// every audio sample exactly (an MP4 whose audio track's time scale is a
// multiple of its rate), so that ffmpeg's -ss before -i starts on the
// very sample asked, each lane is a whole ffmpeg of its own: it seeks to
// its segment's pre-roll, decodes and encodes it and postRoll frames after
// it, and writes an MP3 with its Xing frame to a scratch file. No PCM
// passes through this process, and no decoder runs ahead of the lanes: the
// work is the single pass's, split, plus a process and the rolls a
// segment. The frames are joined as the joiner joins any lanes'. The
// adapter decides when the source may be read so (a new sample rate or
// loudness normalisation does not fall in step); otherwise FromDecoder.
// Where a seek would not land on the sample (Matroska times blocks in
// milliseconds), Job.Excerpt gives each lane but the first the source's
// audio from a little before its pre-roll on stdin, with the count of
// samples to drop first: the lane is placed by counting, not by time.
//
// A lane's output frame k holds its input frame k, as in any LAME encode
// started on a frame boundary, and its input starts on a frame of the
// whole output: each frame's place in the file is known by counting. Its
// Xing frame says how many samples it decoded, which gives the last lane's
// length, and shows a lane that ended before its segment did (a probe
// longer than the audio).
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
	defaultSourceSegment = 4 * time.Minute
	seekWarm             = 8
)

// A file that one round of the lanes can take, a segment each at most, is
// shared evenly among them. Of a longer one, a borrowed core encodes a
// segment at most, so that a conversion that wants it back waits that
// long at most; the conversion's own core, which nobody waits for, up to
// ownSegments of them, so that fewer lanes start (each is a process, 60
// to 130 ms of CPU measured). Either takes at most its share of what is
// left among the lanes, so that the last segments shrink and the lanes
// end together whatever their cores' speed, but never less than a
// segment over tailDivisor.
const (
	ownSegments = 3
	tailDivisor = 4
)

// ErrUneven stops an encode from the source whose lanes did not cover the
// file as planned; FromDecoder then encodes it.
var ErrUneven = errors.New("parallel encode: the lanes' audio does not match the plan")

// SourceLane is one lane of FromSource, as its command line needs it.
type SourceLane struct {
	Offset float64 // seconds into the output where its audio starts
	Delay  int     // samples of silence it encodes first; 0 for the first lane
	First  bool    // the first lane: its ID3 tag and Xing frame head the output
	Length float64 // seconds of output to encode, silence included; -1 to the end
	// Piped: the lane reads Job.Excerpt's stream on stdin, not the
	// source, and drops the first Skip samples it decodes.
	Piped bool
	Skip  int64
}

// FromSource encodes job, whose source is at rate samples a second, into
// dst with lanes that read the source; it returns ErrUneven if they did
// not cover it as planned, else FromDecoder's errors. A Result with no
// samples is audio that decoded to nothing.
func FromSource(ctx context.Context, job Job, rate int, dst string) (Result, error) {
	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f := PCMFormat{Rate: rate}
	e := newEncode(work, cancel, job, f, defaultSourceSegment)
	segFrames := max(int(e.segment.Seconds()*float64(rate))/e.spf, 4*e.preRoll)
	length := job.Duration
	if job.Length > 0 { // a lane past the limit would have nothing to do
		length = min(length, job.Length)
	}
	frames := int(length*float64(rate))/e.spf + 1
	s := &sourceJob{encode: e, dst: dst, planned: frames, segFrames: segFrames, ownFrames: ownSegments * segFrames}
	if job.OwnSegment > 0 {
		s.ownFrames = max(int(job.OwnSegment.Seconds()*float64(rate))/e.spf, segFrames)
	}
	// A piece done waits on disk, not in memory, for the joiner: any
	// number may (see sourceJob.lane).
	e.tokens = make(chan struct{}, frames/s.least()+2)
	samples, err := s.run()
	for i := range s.lanes {
		os.Remove(s.scratch(i)) // those of a job that failed
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Samples: samples, Rate: rate, Segments: s.lanes}, nil
}

// sourceJob is one FromSource encode.
type sourceJob struct {
	*encode
	dst       string
	planned   int // frames of output planned
	segFrames int // frames of a segment on a borrowed core
	ownFrames int // on the conversion's own core
	lanes     int // lanes started, once run returns
	busy      int // lanes running, guarded by mu
	encoded   int // frames the lanes done have encoded, guarded by mu
}

// size returns the frames of the segment from frame next on, for a lane
// on the conversion's own core or on one borrowed (see ownSegments).
func (s *sourceJob) size(next int, own bool) int {
	left, lanes := s.planned-next, laneCount()
	if s.planned <= lanes*s.segFrames {
		// One round of the lanes takes it all: an even share each.
		return min(left, (s.planned+lanes-1)/lanes)
	}
	most := s.segFrames
	if own {
		most = s.ownFrames
	}
	n := max(min(most, (left+lanes-1)/lanes), s.least())
	if left-n < s.least() {
		return left
	}
	return n
}

// least is the fewest frames a segment but the last has.
func (s *sourceJob) least() int { return max(s.segFrames/tailDivisor, 4*s.preRoll) }

// scratch is the file lane i writes.
func (s *sourceJob) scratch(i int) string { return fmt.Sprintf("%s.%d", s.dst, i) }

// run starts the lanes in order, each on a core it holds while it runs,
// and joins their frames; it returns the samples decoded.
func (s *sourceJob) run() (int64, error) {
	header := make(chan *mp3frame.XingHeader, 1) // one value, from lane 0
	order := make(chan *piece, cap(s.tokens))    // start's: it closes it
	var wg sync.WaitGroup
	wg.Go(func() { s.start(&wg, header, order) })
	return s.finish(s.dst, header, order, wg.Wait)
}

// start gives the audio to lanes, a segment at a time, each once a core
// is free for it: the conversion's own, or one borrowed, while fewer than
// laneCount lanes run. It closes order when it stops.
func (s *sourceJob) start(wg *sync.WaitGroup, header chan<- *mp3frame.XingHeader, order chan<- *piece) {
	defer close(order)
	own := make(chan struct{}, 1)
	own <- struct{}{}
	ended := make(chan struct{}, 1) // a lane ended since core last looked; never closed
	for next := 0; next < s.planned; s.lanes++ {
		if !send(s.ctx, s.tokens, struct{}{}) {
			return
		}
		release, isOwn, ok := s.core(own, ended)
		if !ok {
			return
		}
		n := s.size(next, isOwn)
		p := &piece{start: next, pre: min(next, s.preRoll), post: postRoll, last: next+n >= s.planned, done: make(chan struct{})}
		if !p.last {
			p.keep = n
		}
		if !send(s.ctx, order, p) {
			release()
			return
		}
		s.note(+1, p.start-p.pre)
		i := s.lanes
		wg.Go(func() {
			defer func() {
				select {
				case ended <- struct{}{}:
				default: // core will look anyway
				}
			}()
			defer release()
			defer s.note(-1, 0)
			if err := s.lane(p, i, header); err != nil {
				s.fail(err)
			}
		})
		next += n
	}
}

// core waits for a core: the conversion's own if it is free, else one
// borrowed while fewer than laneCount lanes run, else it asks again when a
// lane ends (each gives its core back before it says so). isOwn tells
// which.
func (s *sourceJob) core(own chan struct{}, ended <-chan struct{}) (release func(), isOwn, ok bool) {
	for {
		select {
		case <-own:
			return func() { own <- struct{}{} }, true, true
		default:
		}
		if s.running() < laneCount() {
			if release, ok := s.Cores(); ok {
				return release, false, true
			}
		}
		select {
		case <-ended:
		case <-s.ctx.Done():
			return nil, false, false
		}
	}
}

// running is how many lanes run.
func (s *sourceJob) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy
}

// note counts a lane starting (+1) from source frame from, or ending (-1).
func (s *sourceJob) note(d, from int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy += d
	if d > 0 {
		s.stats.Segments++
		s.stats.From = append(s.stats.From, from)
		s.stats.MaxBusy = max(s.stats.MaxBusy, s.busy)
		s.stats.Lanes, s.stats.FromSource = s.stats.MaxBusy, true
	}
}

// lane encodes p from the source into a scratch file, checks what it
// decoded, and leaves the file for the joiner to load p's frames from
// (then it is removed), so that pieces done early hold no memory. Lane
// 0's ID3 tag and Xing frame head the output.
func (s *sourceJob) lane(p *piece, i int, header chan<- *mp3frame.XingHeader) error {
	path := s.scratch(i)
	url, err := s.FFmpeg.LocalFile(path)
	if err != nil {
		return err
	}
	from := p.start - p.pre
	sl := s.plan(from, p, i == 0)
	in, err := s.excerpt(&sl, from, i)
	if err != nil {
		return err
	}
	cmd := s.FFmpeg.Command(s.ctx, s.Dir, s.FFmpeg.SourceLaneArgs(sl, url)...)
	cmd.Stdin = in
	if err := s.FFmpeg.ExitError(cmd, cmd.Run()); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	h, err := mp3frame.ParseXingHeader(b)
	if err != nil { // no audio from there: ffmpeg writes no Xing frame
		return fmt.Errorf("%w: lane %d: %v", ErrUneven, i, err)
	}
	if i == 0 {
		header <- h
	}
	samples := h.Samples(s.spf)
	if i > 0 {
		samples -= int64(settle * s.spf)
	}
	if p.last {
		s.samples = int64(from*s.spf) + samples
		if !s.asProbed(s.samples) {
			return fmt.Errorf("%w: %d samples decoded, %.0f probed", ErrUneven, s.samples, s.probed())
		}
	} else if samples < int64((p.pre+p.keep+p.post)*s.spf) {
		return ErrUneven // the audio ended early
	}
	skip := len(h.ID3) + len(h.Frame)
	p.load = func() error {
		b, err := os.ReadFile(path)
		os.Remove(path)
		if err == nil && len(b) >= skip {
			err = s.frames(p, b[skip:])
		}
		if err != nil || (p.last && len(p.frames) == 0) {
			return fmt.Errorf("%w: lane %d: %v", ErrUneven, i, err)
		}
		return nil
	}
	close(p.done)
	s.done(p)
	return nil
}

// done counts p's frames as encoded and tells the progress: while the own
// core's long segment holds up the joiner, the lanes done say how far the
// job is.
func (s *sourceJob) done(p *piece) {
	n := p.keep
	if p.last {
		n = max(int(s.samples)/s.spf-p.start, 0)
	}
	s.mu.Lock()
	s.encoded += n
	n = s.encoded
	s.mu.Unlock()
	s.progress(n)
}

// asProbed says whether the lanes decoded the length the container says,
// to a frame: the last lane runs to the end, and a table that times the
// audio otherwise than the decoder counts it (a shrunk or damaged one)
// would have the lanes seek elsewhere than planned. The decoder's path,
// which counts, then encodes the file to its real length.
func (s *sourceJob) asProbed(samples int64) bool {
	return math.Abs(float64(samples)-s.probed()) <= float64(s.spf)
}

// probed is the output's length in samples as the probe and the bound say.
func (s *sourceJob) probed() float64 {
	length := s.Duration
	if s.Length > 0 {
		length = min(length, s.Length)
	}
	return length * float64(s.pcm.Rate)
}

// excerpt returns the input of lane i, which encodes sl from source frame
// from, if Job.Excerpt gives it: nil for the source itself (the first
// lane, or no Excerpt), ErrUneven if Excerpt cannot.
func (s *sourceJob) excerpt(sl *SourceLane, from, i int) (io.Reader, error) {
	if s.Excerpt == nil || sl.First {
		return nil, nil
	}
	to := int64(-1)
	if sl.Length >= 0 {
		to = int64(from*s.spf) + int64(math.Ceil(sl.Length*float64(s.pcm.Rate)))
	}
	in, skip, ok := s.Excerpt(int64(from*s.spf), to)
	if !ok {
		return nil, fmt.Errorf("%w: lane %d: no excerpt of the source there", ErrUneven, i)
	}
	sl.Piped, sl.Skip = true, skip
	return in, nil
}

// frames unpacks a lane's frames and gives p those that can be used, from
// seekWarm frames into its pre-roll (after its silence) to lead frames
// before the end of its post-roll.
func (s *sourceJob) frames(p *piece, b []byte) error {
	drop := min(seekWarm, p.pre)
	p.first = p.start - p.pre + drop
	n := p.pre + p.keep + p.post - lead
	if p.start > 0 {
		drop, n = drop+settle, n+settle
	}
	r := mp3frame.NewReader(bytes.NewReader(b))
	var u mp3frame.Unpacker
	for i := 0; p.last || i < n; i++ {
		f, h, err := r.Next()
		if err == io.EOF && p.last {
			break
		}
		if err != nil {
			return err
		}
		if h.Rate != s.pcm.Rate {
			return ErrUneven
		}
		m, err := u.Unpack(f, h)
		if err != nil {
			return err
		}
		if i >= drop {
			p.frames = append(p.frames, m)
		}
	}
	return nil
}

// plan returns the lane that encodes p from source frame from: from the
// cut's start plus from frames, for the segment and its rolls (the last to
// the end, or to the cut's end or the limit).
func (s *sourceJob) plan(from int, p *piece, first bool) SourceLane {
	offset := float64(from*s.spf) / float64(s.pcm.Rate)
	frame := float64(s.spf) / float64(s.pcm.Rate)
	silence := settle * btoi(!first)
	t := -1.0
	if whole := s.Length; whole > 0 {
		t = whole - offset + float64(silence)*frame
	}
	if span := float64(silence+p.pre+p.keep+p.post+2) * frame; !p.last && (t < 0 || span < t) {
		t = span
	}
	return SourceLane{Offset: offset, Delay: silence * s.spf, First: first, Length: t}
}
