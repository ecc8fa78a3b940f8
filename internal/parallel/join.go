package parallel

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// Scores of a candidate join in splice: the lower the better.
const (
	// lessReserve is added where the second encode's reservoir held less
	// than the first's: any join where it held as much or more is better.
	lessReserve = 1 << 16
	// noRoom is added where the first encode's frames leave less room than
	// the second's frame began with: the join then costs one frame a
	// higher bitrate, and any join that fits is better.
	noRoom = 1 << 20
)

// joiner is the last stage: it writes the header, then the frames of each
// piece as they are done, in order, joined where splice says, and finally
// fills in the header. It closes no channel: it only receives.
type joiner struct {
	*encode
}

// join writes dst from header and the pieces on order, which it reads
// until its sender closes it; it gives a token back for each piece
// written.
func (j *joiner) join(dst string, header <-chan *mp3frame.XingHeader, order <-chan *piece) error {
	var h *mp3frame.XingHeader
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
	w.Write(h.ID3)
	w.Write(h.Frame)
	x := mp3frame.NewXingCounter(h)
	pk := &mp3frame.Packer{Emit: j.emitter(w, x, int64(len(h.ID3)))}
	var a *piece
	s := 0 // the next source frame to write, from a
	for b := range order {
		select {
		case <-b.done:
		case <-j.ctx.Done():
			return context.Cause(j.ctx)
		}
		if b.load != nil {
			if err := b.load(); err != nil {
				return err
			}
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
	if err := pk.Flush(true); err != nil {
		return err
	}
	j.mu.Lock()
	j.stats.Bumped = pk.Bumped
	j.mu.Unlock()
	if err := w.Flush(); err != nil {
		return err
	}
	xing, err := x.Finish(h, j.samples)
	if err != nil {
		return fmt.Errorf("parallel encode: %w", err)
	}
	if _, err := f.WriteAt(xing, int64(len(h.ID3))); err != nil {
		return err
	}
	return f.Close()
}

// emitter returns the packer's output: each frame counted for the Xing
// frame and written to w, within the size cap (the tag of before bytes
// not counted by x).
func (j *joiner) emitter(w io.Writer, x *mp3frame.XingCounter, before int64) func([]byte) error {
	capped := j.SizeCap
	return func(frame []byte) error {
		h, err := mp3frame.ParseHeader(frame)
		if err != nil || h.Size != len(frame) || h.Rate != j.pcm.Rate || h.Samples != j.spf {
			return fmt.Errorf("parallel encode: bad frame (% x)", frame[:min(4, len(frame))])
		}
		x.Add(frame, h)
		if capped > 0 && before+x.Bytes() >= capped {
			return j.TooBig
		}
		_, err = w.Write(frame)
		return err
	}
}

// pack packs a's frames from source frame from up to to, and reports the
// progress.
func (j *joiner) pack(pk *mp3frame.Packer, a *piece, from, to int) error {
	if from < a.first || to < from || to > a.first+len(a.frames) {
		return fmt.Errorf("parallel encode: frames %d to %d of a piece holding %d to %d", from, to, a.first, a.first+len(a.frames))
	}
	for i, f := range a.frames[from-a.first : to-a.first] {
		if err := pk.Add(f, a.reserve*btoi(i == 0)); err != nil {
			return fmt.Errorf("parallel encode: %w", err)
		}
	}
	a.frames = nil
	j.progress(to)
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
//   - where it had less, the least less (lessReserve);
//
// each only where a's frames leave the room b's frame began with (fits as
// LAME laid it out; the room is a's level plus what earlier joins left
// free). Failing that (noRoom), at the best of the rest, whose first frame
// then gets a higher bitrate to make the room: one frame per such join.
func (j *joiner) splice(pk *mp3frame.Packer, a, b *piece, s int) int {
	lo, hi := max(b.first, s+1), min(a.first+len(a.frames)-1, b.first+len(b.frames)-1)
	if lo > hi || s < a.first {
		return lo // no frame to join at: pack refuses it
	}
	free := mp3frame.AfterLayout(pk.Free(), a.frames[s-a.first:lo-a.first])
	best, bestScore := -1, 0
	for k := lo; k <= hi; k++ {
		x, y := a.frames[k-a.first], b.frames[k-b.first]
		room := min(free, y.Header.MaxBack())
		score := y.Begin - x.Begin // b has more: the less the better
		if score < 0 {
			score = lessReserve - score // b has less
		}
		if room < y.Begin {
			score += noRoom // a higher bitrate for one frame
		}
		if best < 0 || score <= bestScore {
			best, bestScore = k, score
		}
		if free >= 0 {
			free = mp3frame.AfterLayout(free, a.frames[k-a.first:k-a.first+1])
		}
	}
	if bestScore >= noRoom && best+1 < b.first+len(b.frames) {
		b.reserve = b.frames[best+1-b.first].Begin
	}
	j.noteJoin(best, bestScore == 0, bestScore >= noRoom)
	return best
}

// noteJoin records a join at source frame k.
func (j *joiner) noteJoin(k int, same, unmatched bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.Joins = append(j.stats.Joins, k)
	j.stats.Same += btoi(same)
	j.stats.Unmatched += btoi(unmatched)
}
