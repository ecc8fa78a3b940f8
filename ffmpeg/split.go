package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/mp3converter/mp3converter"
)

// splitJob is one parallel encode (see parallel.go): a splitter cuts the
// decoded PCM into pieces, a scheduler hands them to lanes, and a joiner
// writes their frames in order. At most lanes+2 pieces exist at once (the
// joiner holds two to choose their join), from the splitter's cut to the
// joiner's write, with their PCM until a lane has it and their frames
// until they are written: memory stays bounded however long the file
// (about 12 MB of PCM a piece, 30 s of 48 kHz stereo).
type splitJob struct {
	c         *Transcoder
	ctx       context.Context
	fail      context.CancelCauseFunc // the first error stops every part
	pcm       pcmFormat
	spf       int // samples per frame: 1152, or 576 below 32 kHz
	segFrames int // frames per segment
	preRoll   int // frames encoded before each segment but the first
	quality   int
	opts      mp3converter.ConvertOptions
	meter     progressMeter

	tokens chan struct{} // one per piece in flight
	free   chan []byte   // a few PCM buffers to reuse
	idle   chan int      // lanes that have encoded their piece
	lanes  []*lane
	stats  parallelStats
	mu     sync.Mutex // guards stats

	samples int64 // decoded, once the splitter is done
}

// parallelStats describe a parallel encode, for tests.
type parallelStats struct {
	Segments  int   // pieces encoded
	Lanes     int   // encoder processes started, or at once if each encodes one segment (seek.go)
	MaxBusy   int   // the most lanes encoding at once
	Joins     []int // the source frame of each join
	Same      int   // joins where both encodes' reservoirs held the same
	Unmatched int   // joins where no frame fits the reservoir the first encode leaves
	Bumped    int   // frames given a higher bitrate to hold their data
	// FromSource: the lanes read the source (seek.go), not the decoder's
	// PCM.
	FromSource bool
}

// piece is one segment as a lane encodes it, and the frames it gave.
type piece struct {
	pcm     []byte // pre-roll frames, the segment, postRoll frames
	start   int    // the source frame its segment begins at
	pre     int    // frames of pre-roll before it
	keep    int    // frames of the segment, unless last
	post    int    // frames of post-roll after it
	last    bool   // the final segment: its frames run to the end
	release func() // gives back the core it borrowed
	first   int    // the source frame of frames[0]
	frames  []mainFrame
	reserve int // bytes the first frame packed must leave free: see splice
	done    chan struct{}
}

func (c *Transcoder) newSplit(ctx context.Context, fail context.CancelCauseFunc, f pcmFormat, quality int, opts mp3converter.ConvertOptions, meter progressMeter) *splitJob {
	spf := 1152
	if f.rate < 32000 {
		spf = 576
	}
	seg := c.segment
	if seg <= 0 {
		seg = defaultSegment
	}
	inflight := laneCount() + 2 // the joiner holds two
	pre := vbrPreRoll
	if opts.Audio.Bitrate > 0 {
		pre = cbrPreRoll
	}
	return &splitJob{
		c: c, ctx: ctx, fail: fail, pcm: f, spf: spf, quality: quality, opts: opts, meter: meter,
		preRoll: pre, segFrames: max(int(seg.Seconds()*float64(f.rate))/spf, pre),
		tokens: make(chan struct{}, inflight), free: make(chan []byte, 2), idle: make(chan int, maxLanes),
	}
}

// run encodes the PCM r yields into dst and returns the samples decoded.
// On error, it has stopped every part and their processes.
func (j *splitJob) run(r io.Reader, dst string) (int64, error) {
	header := make(chan *mp3Header, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		h, err := j.c.headerTemplate(j.ctx, j.pcm, j.spf, j.quality, j.opts, dst)
		if err != nil {
			j.fail(err)
		}
		header <- h
	})
	pieces := make(chan *piece)
	order := make(chan *piece, cap(j.tokens))
	wg.Go(func() { j.split(r, pieces, order) })
	wg.Go(func() { j.schedule(pieces) })
	return j.finish(dst, header, order, func() {
		wg.Wait()
		for _, l := range j.lanes {
			<-l.exited
		}
	})
}

// finish joins the pieces in order into dst, then waits for every part of
// the encode (wait) and returns the samples decoded, or the error that
// stopped it.
func (j *splitJob) finish(dst string, header <-chan *mp3Header, order <-chan *piece, wait func()) (int64, error) {
	if err := j.join(dst, header, order); err != nil {
		j.fail(err)
	}
	wait()
	if j.c.observe != nil {
		j.c.observe(j.stats)
	}
	if cause := context.Cause(j.ctx); j.ctx.Err() != nil {
		return 0, cause
	}
	return j.samples, nil
}

// send passes p on, unless the job has stopped.
func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// split cuts r into pieces of segFrames frames, each with the rolls around
// it; the last takes the rest, up to segFrames+postRoll frames.
func (j *splitJob) split(r io.Reader, pieces, order chan<- *piece) {
	defer close(order)
	defer close(pieces)
	fb := j.spf * j.pcm.sampleBytes()
	var tail, head []byte // the previous segment's last frames, and the frames after it
	for start := 0; ; start += j.segFrames {
		if !send(j.ctx, j.tokens, struct{}{}) {
			return
		}
		p := &piece{start: start, pre: len(tail) / fb, keep: j.segFrames, post: postRoll, release: func() {}, done: make(chan struct{})}
		size := (p.pre + j.segFrames + postRoll) * fb
		p.pcm = j.buffer(size)
		n := copy(p.pcm, tail)
		n += copy(p.pcm[n:], head)
		read, err := io.ReadFull(r, p.pcm[n:])
		j.samples += int64(read / j.pcm.sampleBytes())
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			p.pcm, p.last, p.post = p.pcm[:n+read], true, 0
		case err != nil:
			j.fail(fmt.Errorf("read decoded audio: %w", err))
			return
		}
		if j.samples == 0 {
			j.fail(errNoSound)
			return
		}
		if !p.last {
			// Copied now: once sent, the buffer is the lane's.
			end := (p.pre + j.segFrames) * fb
			tail = append(tail[:0], p.pcm[end-j.preRoll*fb:end]...)
			head = append(head[:0], p.pcm[end:]...)
		}
		if !send(j.ctx, order, p) || !send(j.ctx, pieces, p) || p.last {
			return
		}
	}
}

// buffer returns a PCM buffer of size bytes, reusing one if it can.
func (j *splitJob) buffer(size int) []byte {
	select {
	case b := <-j.free:
		if cap(b) >= size {
			return b[:size]
		}
	default:
	}
	return make([]byte, size)
}

// schedule hands each piece to lane 0 if it is idle, else to another lane
// on a borrowed core, else waits for a lane to finish its piece. At the
// end it closes the lanes' input: LAME flushes the last piece's frames.
func (j *splitJob) schedule(pieces <-chan *piece) {
	defer j.closeLanes()
	var busy []bool
	for {
		var p *piece
		select {
		case p = <-pieces:
		case <-j.ctx.Done():
			return
		}
		if p == nil {
			return
		}
		for !j.assign(p, &busy) {
			select {
			case k := <-j.idle:
				busy[k] = false
			case <-j.ctx.Done():
				return
			}
		}
	}
}

// assign gives p to a lane that may take it now, starting one if need be;
// false if none can.
func (j *splitJob) assign(p *piece, busy *[]bool) bool {
	for drained := false; !drained; {
		select {
		case k := <-j.idle:
			(*busy)[k] = false
		default:
			drained = true
		}
	}
	k := 0
	if len(*busy) > 0 && (*busy)[0] {
		for k = 1; k < len(*busy) && (*busy)[k]; k++ {
		}
		if k == laneCount() {
			return false
		}
		release, ok := j.opts.Cores()
		if !ok {
			return false
		}
		p.release = release
	}
	if k == len(*busy) {
		if err := j.startLane(); err != nil {
			p.release()
			j.fail(err)
			return true
		}
		*busy = append(*busy, false)
	}
	(*busy)[k] = true
	j.noteBusy(*busy)
	if !send(j.ctx, j.lanes[k].todo, p) {
		p.release()
	}
	return true
}

// noteBusy records how many lanes encode at once.
func (j *splitJob) noteBusy(busy []bool) {
	n := 0
	for _, b := range busy {
		if b {
			n++
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Segments++
	j.stats.Lanes = len(busy)
	j.stats.MaxBusy = max(j.stats.MaxBusy, n)
}

func (j *splitJob) closeLanes() {
	for _, l := range j.lanes {
		close(l.todo)
	}
}

// join writes the header, then the frames of each piece as they are done,
// in order, joined where splice says, and finally fills in the header.
func (j *splitJob) join(dst string, header <-chan *mp3Header, order <-chan *piece) error {
	var h *mp3Header
	select {
	case h = <-header:
	case <-j.ctx.Done():
	}
	if h == nil {
		return context.Cause(j.ctx)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 256<<10)
	w.Write(h.id3)
	w.Write(h.frame)
	x := newXingCounter(h)
	pk := &packer{emit: j.emitter(w, x, int64(len(h.id3)))}
	var a *piece
	s := 0 // the next source frame to write, from a
	for b := range order {
		select {
		case <-b.done:
		case <-j.ctx.Done():
			return context.Cause(j.ctx)
		}
		if a != nil {
			next := j.splice(pk, a, b, s)
			if err := j.pack(pk, a, s, next); err != nil {
				return err
			}
			s = next
			<-j.tokens
		}
		a = b
	}
	if j.ctx.Err() != nil {
		return context.Cause(j.ctx)
	}
	if err := j.pack(pk, a, s, a.first+len(a.frames)); err != nil {
		return err
	}
	if err := pk.flush(true); err != nil {
		return err
	}
	j.mu.Lock()
	j.stats.Bumped = pk.bumped
	j.mu.Unlock()
	if err := w.Flush(); err != nil {
		return err
	}
	xing, err := x.finish(h, j.samples)
	if err != nil {
		return fmt.Errorf("parallel encode: %w", err)
	}
	if _, err := f.WriteAt(xing, int64(len(h.id3))); err != nil {
		return err
	}
	return f.Close()
}

// emitter returns the packer's output: each frame counted for the Xing
// frame and written to w, within the size cap (the tag of before bytes
// not counted by x).
func (j *splitJob) emitter(w io.Writer, x *xingCounter, before int64) func([]byte) error {
	capped := sizeCap(j.opts.MaxDuration)
	return func(frame []byte) error {
		h, err := parseFrameHeader(frame)
		if err != nil || h.size != len(frame) || h.rate != j.pcm.rate || h.samples != j.spf {
			return fmt.Errorf("parallel encode: bad frame (% x)", frame[:min(4, len(frame))])
		}
		x.add(frame, h)
		if capped > 0 && before+int64(x.size) >= capped {
			return tooBig(capped)
		}
		_, err = w.Write(frame)
		return err
	}
}

// pack packs a's frames from source frame from up to to, and reports the
// progress.
func (j *splitJob) pack(pk *packer, a *piece, from, to int) error {
	if from < a.first || to < from || to > a.first+len(a.frames) {
		return fmt.Errorf("parallel encode: frames %d to %d of a piece holding %d to %d", from, to, a.first, a.first+len(a.frames))
	}
	for i, f := range a.frames[from-a.first : to-a.first] {
		if err := pk.add(f, a.reserve*btoi(i == 0)); err != nil {
			return fmt.Errorf("parallel encode: %w", err)
		}
	}
	a.frames = nil
	if j.meter.report != nil {
		j.meter.report(j.meter.Fraction(float64(to*j.spf) / float64(j.pcm.rate)))
	}
	return nil
}

// splice returns the source frame at which b takes over from a, whose
// frames from s on are still to be packed. Any frame where both encodes
// hold frames of the same audio will do for the sound (see warm and lead);
// LAME's bit reservoir chooses, in this order:
//   - where b's encode had as much in its reservoir as a's: from there on
//     the file is b's encode, and b's encode is a's;
//   - where it had more, the least more: b spends as a would have, or more
//     (a CBR encode with less to spend spends less: a measurable dip);
//   - where it had less, the least less;
//
// each only where a's frames leave the room b's frame began with (fits as
// LAME laid it out; the room is a's level plus what earlier joins left
// free). Failing that, at the best of the rest, whose first frame then
// gets a higher bitrate to make the room: one frame per such join.
func (j *splitJob) splice(pk *packer, a, b *piece, s int) int {
	lo, hi := max(b.first, s+1), min(a.first+len(a.frames)-1, b.first+len(b.frames)-1)
	if lo > hi || s < a.first {
		return lo // no frame to join at: pack refuses it
	}
	free := afterLayout(pk.free(), a.frames[s-a.first:lo-a.first])
	best, bestScore := -1, 0
	for k := lo; k <= hi; k++ {
		x, y := a.frames[k-a.first], b.frames[k-b.first]
		room := min(free, y.h.maxBack())
		score := y.begin - x.begin // b has more: the less the better
		if score < 0 {
			score = 1<<16 - score // b has less
		}
		if room < y.begin {
			score += 1 << 20 // a higher bitrate for one frame
		}
		if best < 0 || score <= bestScore {
			best, bestScore = k, score
		}
		if free >= 0 {
			free = afterLayout(free, a.frames[k-a.first:k-a.first+1])
		}
	}
	if bestScore >= 1<<20 && best+1 < b.first+len(b.frames) {
		b.reserve = b.frames[best+1-b.first].begin
	}
	j.noteJoin(best, bestScore == 0, bestScore >= 1<<20)
	return best
}

// noteJoin records a join at source frame k.
func (j *splitJob) noteJoin(k int, same, unmatched bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Joins = append(j.stats.Joins, k)
	j.stats.Same += btoi(same)
	j.stats.Unmatched += btoi(unmatched)
}

// lane is one encoder process: it encodes the pieces it is given as one
// stream.
type lane struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	stderr tailBuffer
	todo   chan *piece   // to write, from the scheduler
	fed    chan fedPiece // written, for the reader
	exited chan struct{} // closed once the process is waited for
}

// startLane starts lane len(j.lanes).
func (j *splitJob) startLane() error {
	k := len(j.lanes)
	l := &lane{todo: make(chan *piece, 1), fed: make(chan fedPiece, cap(j.tokens)), exited: make(chan struct{})}
	l.cmd = j.c.command(j.ctx, "", &l.stderr, laneArgs(j.pcm, j.quality, j.opts.Audio)...)
	in, stdin, err := os.Pipe() // not StdinPipe's: growPipe needs the file
	if err != nil {
		return err
	}
	growPipe(stdin)
	l.cmd.Stdin, l.stdin = in, stdin
	if l.stdout, err = l.cmd.StdoutPipe(); err != nil {
		in.Close()
		stdin.Close()
		return err
	}
	err = l.cmd.Start()
	in.Close() // the child's now
	if err != nil {
		stdin.Close()
		return fmt.Errorf("start ffmpeg encoder: %w", err)
	}
	j.lanes = append(j.lanes, l)
	go j.write(l)
	go j.read(l, k)
	return nil
}

// fedPiece is a piece written to a lane, after frames that are not its own.
type fedPiece struct {
	*piece
	filler int
}

// write feeds the lane its pieces' PCM, each but the first segment's after
// settle frames of silence, then closes its input. LAME holds back its
// last frames (two, and as many more as its bit reservoir spans) until
// more audio comes: while a piece's frames are not all out and no other
// piece is there to follow it, frames of silence push them out. The reader
// skips them all. The last piece's frames are pushed out by the end of the
// input instead, since the reader takes all that follows it.
func (j *splitJob) write(l *lane) {
	defer l.stdin.Close()
	defer close(l.fed)
	silence := make([]byte, j.spf*j.pcm.sampleBytes())
	var waiting <-chan struct{} // the done of the piece whose frames are not all out
	filler := 0
	for {
		var p *piece
		ok := true
		select {
		case p, ok = <-l.todo:
		case <-waiting:
			waiting = nil
			continue
		default:
			if waiting == nil {
				p, ok = <-l.todo
				break
			}
			if !j.writeLane(l, silence) {
				return
			}
			filler++
			continue
		}
		if !ok {
			return
		}
		if p.start > 0 {
			for range settle {
				if !j.writeLane(l, silence) {
					return
				}
			}
			filler += settle
		}
		l.fed <- fedPiece{p, filler} // never blocks: fewer pieces exist than it holds
		filler, waiting = 0, p.done
		ok = j.writeLane(l, p.pcm)
		select {
		case j.free <- p.pcm:
		default:
		}
		p.pcm = nil
		if !ok || p.last {
			return
		}
	}
}

// writeLane writes b to the lane's input.
func (j *splitJob) writeLane(l *lane, b []byte) bool {
	_, err := l.stdin.Write(b)
	if err != nil {
		j.fail(fmt.Errorf("ffmpeg encoder: %w", err))
	}
	return err == nil
}

// read unpacks the lane's output frames and gives each piece those that
// can be used, from warm frames into its pre-roll to lead frames before the
// end of its post-roll; then it gives the core back.
func (j *splitJob) read(l *lane, k int) {
	defer close(l.exited)
	frames := newFrameReader(l.stdout)
	var u unpacker
	skip := 0
	for p := range l.fed {
		drop := min(warm, p.pre)
		skip += p.filler + drop
		p.first = p.start - p.pre + drop
		n := p.pre - drop + p.keep + p.post - lead
		for i := 0; p.last || i < skip+n; i++ {
			f, h, err := frames.next()
			if err == io.EOF && p.last {
				break
			}
			var m mainFrame
			if err == nil {
				m, err = u.unpack(f, h)
			}
			if err != nil {
				j.laneFailed(l, err)
				return
			}
			if i >= skip {
				p.frames = append(p.frames, m)
			}
		}
		skip = lead
		p.release()
		close(p.done)
		j.idle <- k // never blocks: one piece a lane at a time
	}
	io.Copy(io.Discard, l.stdout) // the last post-roll, and LAME's flush
	if err := l.cmd.Wait(); err != nil && j.ctx.Err() == nil {
		j.fail(fmt.Errorf("ffmpeg encoder: %w: %s", err, l.stderr.String()))
	}
}

// laneFailed stops the job after a lane's output went wrong: with the
// process's own error if its output ended, which it does as it exits.
func (j *splitJob) laneFailed(l *lane, err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		j.fail(fmt.Errorf("ffmpeg encoder: %w", err))
		l.cmd.Wait()
		return
	}
	if werr := l.cmd.Wait(); werr != nil {
		err = fmt.Errorf("%w: %s", werr, l.stderr.String())
	}
	j.fail(fmt.Errorf("ffmpeg encoder: %w", err))
}
