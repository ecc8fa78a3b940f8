package parallel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// defaultSegment is FromDecoder's audio per piece.
const defaultSegment = 30 * time.Second

// FromDecoder encodes job into dst from one decoder's PCM: a splitter cuts
// it into pieces, a scheduler hands them to lanes, and the joiner writes
// their frames in order. Each stage is a type, and closes the channels it
// made: the splitter its pieces and order, the scheduler each lane's todo,
// a lane its fed (its writer half) and exited (its reader half). At most
// lanes+2 pieces exist at once (the joiner holds two to choose their
// join), from the splitter's cut to the joiner's write, with their PCM
// until a lane has it and their frames until they are written: memory
// stays bounded however long the file (about 12 MB of PCM a piece, 30 s
// of 48 kHz stereo).
//
// Its error is ctx's, the decoder's if it failed alone or for good (a
// Permanent one: a damaged source), or else the first that stopped the
// encode. A Result with no samples is audio that decoded to nothing.
func FromDecoder(ctx context.Context, job Job, dst string) (Result, error) {
	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dec := job.FFmpeg.Command(work, job.Dir, job.FFmpeg.DecoderArgs()...)
	stdout, err := dec.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	growPipe(stdout)
	if err := dec.Start(); err != nil {
		return Result{}, fmt.Errorf("start ffmpeg: %w", err)
	}
	pcm := bufio.NewReaderSize(stdout, 1<<20)
	var res Result
	var runErr error
	if f, err := readWAVHeader(pcm); err == nil {
		j := &decoderJob{encode: newEncode(work, cancel, job, f, defaultSegment), free: make(chan []byte, 2)}
		res.Samples, runErr = j.run(pcm, dst)
		res.Rate, res.Segments = f.Rate, j.stats.Segments
	} else if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		runErr = err
	}
	if runErr != nil {
		cancel(runErr)
	}
	io.Copy(io.Discard, pcm)
	decErr := job.FFmpeg.ExitError(dec, dec.Wait())
	switch {
	case ctx.Err() != nil:
		return Result{}, ctx.Err()
	case decErr != nil && (runErr == nil || mp3converter.IsPermanent(decErr)):
		return Result{}, decErr
	case runErr != nil:
		return Result{}, runErr
	}
	return res, nil
}

// decoderJob is one FromDecoder encode.
type decoderJob struct {
	*encode
	// free holds a few PCM buffers to reuse: the splitter takes them, the
	// lanes give them back without waiting. Never closed.
	free chan []byte
}

// run encodes the PCM r yields into dst and returns the samples decoded.
// On error, it has stopped every stage and their processes.
func (j *decoderJob) run(r io.Reader, dst string) (int64, error) {
	header := make(chan *mp3frame.XingHeader, 1) // one value, from the header encode
	var wg sync.WaitGroup
	wg.Go(func() {
		h, err := j.headerTemplate(dst)
		if err != nil {
			j.fail(err)
		}
		header <- h
	})
	sp := newSplitter(j)
	sc := newScheduler(j)
	wg.Go(func() { sp.run(r) })
	wg.Go(func() { sc.run(sp.pieces) })
	return j.finish(dst, header, sp.order, func() {
		wg.Wait()
		sc.wait()
	})
}

// headerTemplate encodes one frame of silence with the job's settings into
// a scratch file and returns its ID3 tag and Xing frame.
func (j *decoderJob) headerTemplate(dst string) (*mp3frame.XingHeader, error) {
	path := dst + ".head"
	url, err := j.FFmpeg.LocalFile(path)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	cmd := j.FFmpeg.Command(j.ctx, "", j.FFmpeg.HeaderArgs(j.pcm, url)...)
	cmd.Stdin = bytes.NewReader(make([]byte, j.spf*j.pcm.sampleBytes()))
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ffmpeg header encode: %w: %s", err, stderrOf(cmd))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := mp3frame.ParseXingHeader(b)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg header encode: %w", err)
	}
	return h, nil
}

// splitter is the first stage: it cuts the decoded PCM into pieces.
type splitter struct {
	*decoderJob
	pieces chan *piece // to the scheduler
	order  chan *piece // to the joiner, in order; room for every piece in flight
}

func newSplitter(j *decoderJob) *splitter {
	return &splitter{decoderJob: j, pieces: make(chan *piece), order: make(chan *piece, cap(j.tokens))}
}

// run cuts r into pieces of segFrames frames, each with the rolls around
// it; the last takes the rest, up to segFrames+postRoll frames. It closes
// pieces and order when it stops.
func (s *splitter) run(r io.Reader) {
	defer close(s.order)
	defer close(s.pieces)
	fb := s.spf * s.pcm.sampleBytes()
	var tail, head []byte // the previous segment's last frames, and the frames after it
	for start := 0; ; start += s.segFrames {
		if !send(s.ctx, s.tokens, struct{}{}) {
			return
		}
		p := &piece{start: start, pre: len(tail) / fb, keep: s.segFrames, post: postRoll, release: func() {}, done: make(chan struct{})}
		size := (p.pre + s.segFrames + postRoll) * fb
		p.pcm = s.buffer(size)
		n := copy(p.pcm, tail)
		n += copy(p.pcm[n:], head)
		read, err := io.ReadFull(r, p.pcm[n:])
		s.samples += int64(read / s.pcm.sampleBytes())
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			p.pcm, p.last, p.post = p.pcm[:n+read], true, 0
		case err != nil:
			s.fail(fmt.Errorf("read decoded audio: %w", err))
			return
		}
		if s.samples == 0 {
			s.fail(s.NoSound)
			return
		}
		if !p.last {
			// Copied now: once sent, the buffer is the lane's.
			end := (p.pre + s.segFrames) * fb
			tail = append(tail[:0], p.pcm[end-s.preRoll*fb:end]...)
			head = append(head[:0], p.pcm[end:]...)
		}
		if !send(s.ctx, s.order, p) || !send(s.ctx, s.pieces, p) || p.last {
			return
		}
	}
}

// buffer returns a PCM buffer of size bytes, reusing one if it can.
func (s *splitter) buffer(size int) []byte {
	select {
	case b := <-s.free:
		if cap(b) >= size {
			return b[:size]
		}
	default:
	}
	return make([]byte, size)
}

// scheduler is the second stage: it hands each piece to a lane, starting
// lanes as it needs them.
type scheduler struct {
	*decoderJob
	// idle takes the number of each lane that has encoded its piece. The
	// lanes send without blocking: a lane has one piece at a time, and
	// there is room for every lane. Never closed.
	idle  chan int
	lanes []*pcmLane
	todo  []chan *piece // each lane's input: the scheduler closes them when it stops
	busy  []bool
}

func newScheduler(j *decoderJob) *scheduler {
	return &scheduler{decoderJob: j, idle: make(chan int, maxLanes)}
}

// run hands each piece to lane 0 if it is idle, else to another lane on a
// borrowed core, else waits for a lane to finish its piece. At the end it
// closes the lanes' input: LAME flushes the last piece's frames.
func (s *scheduler) run(pieces <-chan *piece) {
	defer s.closeLanes()
	for {
		var p *piece
		select {
		case p = <-pieces:
		case <-s.ctx.Done():
			return
		}
		if p == nil {
			return
		}
		for !s.assign(p) {
			select {
			case k := <-s.idle:
				s.busy[k] = false
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// assign gives p to a lane that may take it now, starting one if need be;
// false if none can.
func (s *scheduler) assign(p *piece) bool {
	for drained := false; !drained; {
		select {
		case k := <-s.idle:
			s.busy[k] = false
		default:
			drained = true
		}
	}
	k := 0
	if len(s.busy) > 0 && s.busy[0] {
		for k = 1; k < len(s.busy) && s.busy[k]; k++ {
		}
		if k == laneCount() {
			return false
		}
		release, ok := s.Cores()
		if !ok {
			return false
		}
		p.release = release
	}
	if k == len(s.busy) {
		if err := s.startLane(); err != nil {
			p.release()
			s.fail(err)
			return true
		}
		s.busy = append(s.busy, false)
	}
	s.busy[k] = true
	s.noteBusy()
	if !send(s.ctx, s.todo[k], p) {
		p.release()
	}
	return true
}

// startLane starts lane len(s.lanes), with an input of its own.
func (s *scheduler) startLane() error {
	todo := make(chan *piece, 1)
	l, err := startPCMLane(s.decoderJob, len(s.lanes), todo, s.idle)
	if err != nil {
		return err
	}
	s.lanes, s.todo = append(s.lanes, l), append(s.todo, todo)
	return nil
}

// noteBusy records how many lanes encode at once.
func (s *scheduler) noteBusy() {
	n := 0
	for _, b := range s.busy {
		if b {
			n++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Segments++
	s.stats.Lanes = len(s.busy)
	s.stats.MaxBusy = max(s.stats.MaxBusy, n)
}

func (s *scheduler) closeLanes() {
	for _, todo := range s.todo {
		close(todo)
	}
}

// wait waits for every lane's process, once run has returned.
func (s *scheduler) wait() {
	for _, l := range s.lanes {
		<-l.exited
	}
}
