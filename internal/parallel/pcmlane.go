package parallel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// pcmLane is one encoder process of FromDecoder: it encodes the pieces it
// is given as one stream. A writer half feeds it their PCM, a reader half
// takes its frames.
type pcmLane struct {
	*decoderJob
	k      int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	todo   <-chan *piece // from the scheduler, which closes it
	idle   chan<- int    // to the scheduler: k, once a piece is encoded
	// fed is the lane's own, from its writer half to its reader half: the
	// pieces written, in order. The writer closes it. It has room for
	// every piece in flight, so the writer never blocks on it.
	fed chan fedPiece
	// exited is closed by the reader half once the process is waited for.
	exited chan struct{}
}

// fedPiece is a piece written to a lane, after frames that are not its own.
type fedPiece struct {
	*piece
	filler int
}

// newPCMLane returns lane k, which takes its pieces from todo and says on
// idle when it has encoded each, with the channels it owns.
func newPCMLane(j *decoderJob, k int, todo <-chan *piece, idle chan<- int) *pcmLane {
	return &pcmLane{decoderJob: j, k: k, todo: todo, idle: idle,
		fed: make(chan fedPiece, cap(j.tokens)), exited: make(chan struct{})}
}

// startPCMLane starts lane k (see newPCMLane): its process and its halves.
func startPCMLane(j *decoderJob, k int, todo <-chan *piece, idle chan<- int) (*pcmLane, error) {
	l := newPCMLane(j, k, todo, idle)
	l.cmd = j.FFmpeg.Command(j.ctx, "", j.FFmpeg.PCMLaneArgs(j.pcm)...)
	in, stdin, err := os.Pipe() // not StdinPipe's: growPipe needs the file
	if err != nil {
		return nil, err
	}
	growPipe(stdin)
	l.cmd.Stdin, l.stdin = in, stdin
	if l.stdout, err = l.cmd.StdoutPipe(); err != nil {
		in.Close()
		stdin.Close()
		return nil, err
	}
	err = l.cmd.Start()
	in.Close() // the child's now
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("start ffmpeg encoder: %w", err)
	}
	go l.write()
	go l.read()
	return l, nil
}

// write feeds the lane its pieces' PCM, each but the first segment's after
// settle frames of silence, then closes its input. LAME holds back its
// last frames (two, and as many more as its bit reservoir spans) until
// more audio comes: while a piece's frames are not all out and no other
// piece is there to follow it, frames of silence push them out. The reader
// skips them all. The last piece's frames are pushed out by the end of the
// input instead, since the reader takes all that follows it.
func (l *pcmLane) write() {
	defer l.stdin.Close()
	defer close(l.fed)
	silence := make([]byte, l.spf*l.pcm.sampleBytes())
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
			if !l.writeLane(silence) {
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
				if !l.writeLane(silence) {
					return
				}
			}
			filler += settle
		}
		if !offer(l.encode, l.fed, fedPiece{p, filler}, "a lane's fed") { // fewer pieces exist than it holds
			return
		}
		filler, waiting = 0, p.done
		ok = l.writeLane(p.pcm)
		select {
		case l.free <- p.pcm:
		default:
		}
		p.pcm = nil
		if !ok || p.last {
			return
		}
	}
}

// writeLane writes b to the lane's input.
func (l *pcmLane) writeLane(b []byte) bool {
	_, err := l.stdin.Write(b)
	if err != nil {
		l.fail(fmt.Errorf("ffmpeg encoder: %w", err))
	}
	return err == nil
}

// read unpacks the lane's output frames and gives each piece those that
// can be used, from warm frames into its pre-roll to lead frames before the
// end of its post-roll; then it gives the core back.
func (l *pcmLane) read() {
	defer close(l.exited)
	frames := mp3frame.NewReader(l.stdout)
	var u mp3frame.Unpacker
	skip := 0
	for p := range l.fed {
		drop := min(warm, p.pre)
		skip += p.filler + drop
		p.first = p.start - p.pre + drop
		n := p.pre - drop + p.keep + p.post - lead
		for i := 0; p.last || i < skip+n; i++ {
			f, h, err := frames.Next()
			if err == io.EOF && p.last {
				break
			}
			var m mp3frame.Frame
			if err == nil {
				m, err = u.Unpack(f, h)
			}
			if err != nil {
				l.failed(err)
				return
			}
			if i >= skip {
				p.frames = append(p.frames, m)
			}
		}
		skip = lead
		p.release()
		close(p.done)
		if !offer(l.encode, l.idle, l.k, "a lane's idle") { // one piece a lane at a time
			break
		}
	}
	io.Copy(io.Discard, l.stdout) // the last post-roll, and LAME's flush
	if err := l.cmd.Wait(); err != nil && l.ctx.Err() == nil {
		l.fail(fmt.Errorf("ffmpeg encoder: %w: %s", err, stderrOf(l.cmd)))
	}
}

// failed stops the job after the lane's output went wrong: with the
// process's own error if its output ended, which it does as it exits.
func (l *pcmLane) failed(err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		l.fail(fmt.Errorf("ffmpeg encoder: %w", err))
		l.cmd.Wait()
		return
	}
	if werr := l.cmd.Wait(); werr != nil {
		err = fmt.Errorf("%w: %s", werr, stderrOf(l.cmd))
	}
	l.fail(fmt.Errorf("ffmpeg encoder: %w", err))
}

// stderrOf is the tail of what cmd, made by FFmpeg.Command, said.
func stderrOf(cmd *exec.Cmd) string {
	if s, ok := cmd.Stderr.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}
